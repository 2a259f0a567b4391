"""The secret that signs tokens: what is strong enough, and reading it from a file.

Anyone who knows the secret can sign a token for any user, so a configured
secret must be at least ``SECRET_MIN_BYTES`` bytes (256 bits, the size of the
HMAC-SHA256 key it becomes: RFC 2104 §3 advises a key no shorter than the
hash's output) and must not be one of the values people type when they do
not mean to choose one. These rules catch the obvious; they cannot measure
randomness. ``openssl rand -hex 32`` gives a good secret.

    >>> secret_problem(b"changeme" * 4)
    'repeats a string of 8 characters; use a random one, e.g. the output of `openssl rand -hex 32`'
"""

from __future__ import annotations

import re
import zlib

SECRET_MIN_BYTES = 32
ADVICE = "use a random one, e.g. the output of `openssl rand -hex 32`"
# Words of placeholders and defaults, as they appear lower-cased with everything but letters and digits dropped.
PLACEHOLDERS = ("changeme", "replace", "example", "secret", "password", "placeholder", "default", "insecure")
# Rows whose neighbours people type as a "random" string: the alphabet, digits, keyboard rows.
SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")
SEQUENCE_SHARE = 0.75  # above this share of neighbouring pairs a secret is a run, not random (hex: about 0.2)
# Bytes DEFLATE needs beyond an empty input: repetition compresses away ("chatd" * 7 + "!": 9), while 32
# random hex digits need about 32 (never under 27 in 20,000 draws) and random bytes more.
COMPRESSED_MIN = 24
_EMPTY_COMPRESSED = len(zlib.compress(b"", 9))
_NEIGHBOURS = {(row[i], row[i + 1]) for row in SEQUENCES for i in range(len(row) - 1)}
_NEIGHBOURS |= {(b, a) for a, b in _NEIGHBOURS}


def secret_problem(secret: bytes) -> str | None:
    """Why ``secret`` is too weak to sign tokens, or None when it will do."""
    if len(secret) < SECRET_MIN_BYTES:
        return f"is {len(secret)} bytes long; at least {SECRET_MIN_BYTES} are needed: {ADVICE}"
    text = secret.decode("latin-1")  # byte for byte: a secret file may hold random bytes, not text
    period = _period(text)
    if period:  # the secret itself is never quoted: a refusal lands in logs
        return f"repeats a string of {period} characters; {ADVICE}"
    letters = re.sub(r"[\W_]", "", text.lower())
    word = next((w for w in PLACEHOLDERS if w in letters), None)
    if word:
        return f"looks like a placeholder (it holds {word!r}); {ADVICE}"
    if _run_share(text.lower()) > SEQUENCE_SHARE:
        return f"is mostly runs of repeated or neighbouring characters (like 'aaaa', 'abcd' or 'qwer'); {ADVICE}"
    if len(zlib.compress(secret, 9)) - _EMPTY_COMPRESSED < COMPRESSED_MIN:
        return f"is mostly repetition (it compresses to a few bytes); {ADVICE}"
    return None


def _period(text: str) -> int:
    """The length of the shortest string that ``text`` repeats (the last repeat may be cut short), or 0."""
    for period in range(1, len(text) // 2 + 1):
        if all(text[i] == text[i - period] for i in range(period, len(text))):
            return period
    return 0


def _run_share(text: str) -> float:
    """The share of neighbouring character pairs that are equal or neighbours in a row of ``SEQUENCES``."""
    pairs = list(zip(text, text[1:], strict=False))
    return sum(a == b or (a, b) in _NEIGHBOURS for a, b in pairs) / len(pairs)


def configured_secret(secret: str, secret_file: str, section: str = "identity") -> bytes | None:
    """The secret a config names: ``<section>.secret``, else what the file
    ``<section>.secret_file`` holds, without a trailing line break (what ``echo``
    and editors add); None when neither is set (for ``identity``, the server then
    keeps a generated one in its database). Reads the file. ValueError naming the
    key if both are set, the file cannot be read or is empty, or the secret is weak."""
    if secret and secret_file:
        raise ValueError(f"keys '{section}.secret' and '{section}.secret_file' are both set: keep one")
    if secret:
        value, key, where = secret.encode(), f"{section}.secret", ""
    elif secret_file:
        try:
            with open(secret_file, "rb") as f:
                value = f.read().rstrip(b"\r\n")
        except OSError as e:
            raise ValueError(f"key '{section}.secret_file': cannot read {secret_file}: {e.strerror or e}") from None
        key, where = f"{section}.secret_file", f"the secret in {secret_file} "
    else:
        return None
    problem = secret_problem(value)
    if problem:
        raise ValueError(f"key '{key}': {where}{problem}")
    return value
