"""Admin accounts' names and passwords. Pure: no I/O (``chatd.store.admins`` keeps them).

Passwords are hashed with scrypt (``hashlib.scrypt``, the standard library's
OpenSSL binding: no package to add) at OWASP's Password Storage Cheat Sheet
setting N=2**14, r=8, p=5 — as strong as its first choice N=2**17, p=1, for
16 MiB of memory per check instead of 128 MiB, which matters on a small VPS
when several logins arrive at once. Each hash carries its own random salt and
its parameters, ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64), so stronger
settings later still verify older hashes. Comparison is constant-time
(``hmac.compare_digest``). A check takes about 50-100 ms of CPU: callers on the
event loop run it in a thread (``chatd.admin.auth``).

Why not argon2: argon2id is the first choice of OWASP, but needs the
argon2-cffi package (a compiled extension); scrypt at these settings is an
accepted equal, and in every Python.

    >>> stored = hash_password("correct horse battery")
    >>> verify_password("correct horse battery", stored), verify_password("wrong", stored)
    (True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata

SCHEME = "scrypt"
N, R, P = 2**14, 8, 5  # OWASP Password Storage Cheat Sheet, scrypt: N=2^14 (16 MiB), r=8, p=5
SALT_BYTES = 16
HASH_BYTES = 32
MAX_MEMORY = 64 * 1024 * 1024  # bytes scrypt may use: above 128 * N * r (16 MiB), which OpenSSL refuses at 32 MiB

PASSWORD_MIN = 10  # characters
PASSWORD_MAX = 1024  # characters: a check costs the same whatever the length, but a body must stay bounded
NAME_MAX = 64
# A hash that matches no password, checked against when the account does not exist: a login
# for a missing name takes as long as one for a real one (no enumeration of names by timing).
_DUMMY = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """The stored form of ``password``: a new random salt, the scrypt parameters and the hash."""
    salt = os.urandom(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, maxmem=MAX_MEMORY, dklen=HASH_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (``hash_password``'s form) was made from.
    A stored value of another form verifies nothing."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=base64.b64decode(salt, validate=True),
                             n=int(n), r=int(r), p=int(p), maxmem=MAX_MEMORY, dklen=len(expected))
    except (ValueError, TypeError):  # not our form, or parameters OpenSSL refuses
        return False
    return hmac.compare_digest(got, expected)


def waste_time(password: str) -> None:
    """Check ``password`` against a hash no password matches, as long as a real check takes."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password(os.urandom(16).hex())
    verify_password(password, _DUMMY)


def account_key(name: str) -> str:
    """The key an account is found by: its name case-folded (NFKC), so "Root" and "root" are one."""
    return unicodedata.normalize("NFKC", name).casefold()


def name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as an account name, or None: 1 to NAME_MAX letters, digits, '.', '_', '-'."""
    if not 1 <= len(name) <= NAME_MAX:
        return f"must be 1 to {NAME_MAX} characters"
    if not all(c.isalnum() or c in "._-" for c in name):
        return "may hold only letters, digits, '.', '_' and '-'"
    return None


def password_problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, or None."""
    if len(password) < PASSWORD_MIN:
        return f"must be at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"must be at most {PASSWORD_MAX} characters"
    if not password.isprintable():
        return "may not hold control characters"
    return None
