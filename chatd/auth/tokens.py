"""Signed tokens: proof, for one purpose, that a client is a user it was before.

A token is a URL-safe, signed JSON payload made with itsdangerous (Pallets):
HMAC-SHA256 under a key derived from the server's secret and the token's
**purpose** (itsdangerous calls it the salt). A token made for one purpose
never verifies as another, though one secret signs every kind: a resume
token cannot be used later as an upload, admin or API token. Key
derivation, constant-time comparison and the encoding are itsdangerous'
job, well reviewed and kept; what a token says and how long it holds are
chatd's, checked here.

A resume token (``RESUME``) says
- ``u`` the user id and ``e`` the database epoch that issued it (``chatd.epoch``:
  a user id means a user only in its database);
- ``d`` the sign-in it belongs to — one per browser or device, kept by every
  token renewed from it — so that signing out ends that one alone;
- ``g`` the user's token generation when it was issued: signing out
  everywhere raises the generation;
- ``t`` when it was issued, unix seconds: it expires ``ttl_seconds`` later and
  is refused if it claims to come from the future.

Whether the sign-in and the generation still hold is the store's to say
(``chatd.auth.revocation``); this module is pure.

Tokens of chatd before purposes, ``<user>.<issued>.<epoch>.<hmac>`` and (before
epochs) ``<user>.<issued>.<hmac>``, HMAC-SHA256 with the secret itself, were all
resume tokens and stay readable as such: they carry no sign-in, so their
``legacy`` key (a digest of the token) stands for one, and their generation
is 0.

    >>> tokens = TokenSigner(b"k" * 32, ttl_seconds=86400)
    >>> tokens.verify(tokens.issue(42, "9f3a", sign_in=7, generation=0, now=1000), now=1000)
    Claim(user_id=42, epoch='9f3a', sign_in=7, generation=0, issued=1000, legacy=None)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import zlib
from typing import Any, NamedTuple

from itsdangerous import BadData, BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_encode, want_bytes
from itsdangerous.url_safe import URLSafeSerializerMixin

from chatd.epoch import PRE_EPOCH
from chatd.worded import Worded

RESUME = "chatd.resume"  # the purpose of resume tokens (docs/protocol.md, "Identities")
# Seconds a token's issue time may lie ahead of this server's clock: clocks step back
# (NTP corrections) and, once several nodes sign, theirs differ by that much at most.
CLOCK_SKEW = 60
TOKEN_MAX = 512  # characters; a resume token is about 150, anything longer is not one of ours
EPOCH_MAX = 64
# zlib.compress's level and window, with zlib's smallest memory level (1 of 9; it uses 8): _KeptSerializer.
ZLIB_LEVEL, ZLIB_WBITS, ZLIB_MEMLEVEL = 6, 15, 1
# A resume token's claim as compact JSON, for an epoch of ASCII letters and digits (JSON escapes none).
_CLAIM_JSON = b'{"u":%d,"e":"%s","d":%d,"g":%d,"t":%d}'
_PLAIN_EPOCH = re.compile(r"[A-Za-z0-9]*")


# Why a token is refused, as a ``bad_token`` error's ``cause`` says it (docs/protocol.md, "error").
DAMAGED, SIGNATURE, FUTURE, EXPIRED = "damaged", "signature", "future", "expired"


class BadToken(Exception):
    """The token is forged, damaged, of another purpose, expired or from the future; str() says
    which, ``why`` the same with its ``cause`` (``chatd.worded``)."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.why = Worded(message, cause=cause)


class Claim(NamedTuple):
    """What a valid resume token says (see the module's docstring)."""

    user_id: int
    epoch: str
    sign_in: int | None  # the sign-in it belongs to; None for a token from before sign-ins
    generation: int
    issued: int  # unix seconds
    legacy: str | None = None  # a token from before sign-ins: the key that stands for its sign-in


class _KeptSigner(Signer):
    """itsdangerous' Signer, keeping the keys it derives: it derives one (an HMAC) for
    every token it signs or checks, from the same secret and salt each time. It signs with
    a copy of an HMAC keyed once (``hmac.new`` pads and hashes the key for every token)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | str | None, bytes] = {}
        self._keyed: Any = None  # hmac keyed with derive_key(), made at the first signature

    def get_signature(self, value: str | bytes) -> bytes:
        # As Signer.get_signature with HMACAlgorithm (serializer() makes no other signer).
        keyed = self._keyed
        if keyed is None:
            keyed = self._keyed = hmac.new(self.derive_key(), digestmod=self.digest_method)
        mac = keyed.copy()
        mac.update(want_bytes(value))
        return base64_encode(mac.digest())

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self._derived.get(secret_key)
        if key is None:
            key = self._derived[secret_key] = super().derive_key(secret_key)
        return key


class _KeptSerializer(URLSafeSerializer):
    """URLSafeSerializer building its signer once per salt, not once per token, and
    compressing with a small zlib state. Same tokens, byte for byte."""

    default_signer = _KeptSigner

    def dump_payload(self, obj: Any) -> bytes:
        return self.pack(super(URLSafeSerializerMixin, self).dump_payload(obj))

    def pack(self, json: bytes) -> bytes:
        """A payload's JSON as URLSafeSerializerMixin.dump_payload packs it."""
        # zlib.compress's default state (memLevel 8: ~256 KiB allocated and touched per call) is
        # ~26 µs for a ~70-byte payload, memLevel 1 ~2.6 µs; the output of a resume token's
        # payload is the same (20,000 random claims compared). A longer payload could compress
        # differently, never wrongly: loads reads both.
        packer = zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, ZLIB_WBITS, ZLIB_MEMLEVEL)
        compressed = packer.compress(json) + packer.flush()
        if len(compressed) < len(json) - 1:
            return b"." + base64_encode(compressed)
        return base64_encode(json)

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        signers = self.__dict__.setdefault("_signers", {})
        signer = signers.get(salt)
        if signer is None:
            signer = signers[salt] = super().make_signer(salt)
        return signer


def serializer(secret: bytes, purpose: str) -> URLSafeSerializer:
    """The signer of one kind of token: HMAC-SHA256 under a key derived from
    ``secret`` and ``purpose`` (itsdangerous' "hmac" key derivation)."""
    return _KeptSerializer(secret, salt=purpose,
                           signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256})


class TokenSigner:
    """Issues and verifies resume tokens. ``ttl_seconds`` may be changed live (reload)."""

    def __init__(self, secret: bytes, ttl_seconds: float, purpose: str = RESUME):
        self._secret = secret
        self._serializer = serializer(secret, purpose)
        self._reads_legacy = purpose == RESUME  # the old formats had no purpose: all were resume tokens
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: int, epoch: str, sign_in: int, generation: int, now: float | None = None) -> str:
        """A token for ``user_id`` of the database epoch ``epoch`` (letters and digits),
        of the sign-in ``sign_in``, in the user's token ``generation``."""
        issued = int(time.time() if now is None else now)
        if _PLAIN_EPOCH.fullmatch(epoch) and type(user_id) is type(sign_in) is type(generation) is int:
            # The JSON itsdangerous' dumps writes for this dict (compact separators, keys in
            # order, nothing to escape), written here: json.dumps with its keywords builds an
            # encoder per call (~3 µs of the ~15 µs a token took).
            json = _CLAIM_JSON % (user_id, epoch.encode(), sign_in, generation, issued)
            return self._serializer.make_signer().sign(self._serializer.pack(json)).decode()
        return self._serializer.dumps({"u": user_id, "e": epoch, "d": sign_in, "g": generation, "t": issued})

    def verify(self, token: str, now: float | None = None) -> Claim:
        """What the token says; BadToken if it is not a valid resume token now."""
        # All ASCII: hmac.compare_digest raises TypeError on other strings.
        if not token.isascii() or len(token) > TOKEN_MAX:
            raise BadToken("token is damaged", DAMAGED)
        if token[:1].isdigit() and self._reads_legacy:  # a JSON payload never encodes to a leading digit
            claim = self._legacy(token)
        else:
            try:
                claim = _claim(self._serializer.loads(token))
            except BadSignature:
                raise BadToken("token signature does not match: it is damaged or forged, made for another "
                               "purpose, or signed with another secret", SIGNATURE) from None
            except BadData:
                raise BadToken("token is damaged", DAMAGED) from None
        check_time(claim.issued, time.time() if now is None else now, self.ttl_seconds)
        return claim

    def _legacy(self, token: str) -> Claim:
        parts = token.split(".")
        if len(parts) == 3:  # issued before epochs
            (user_id, issued, signature), epoch = parts, PRE_EPOCH
        elif len(parts) == 4 and parts[2].isalnum():
            user_id, issued, epoch, signature = parts
        else:
            raise BadToken("token is damaged", DAMAGED)
        if not all(p.isdigit() for p in (user_id, issued)):
            raise BadToken("token is damaged", DAMAGED)
        digest = hmac.new(self._secret, token.rpartition(".")[0].encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), signature):
            raise BadToken("token signature does not match", SIGNATURE)
        return Claim(int(user_id), epoch, None, 0, int(issued), legacy=hashlib.sha256(token.encode()).hexdigest())


def check_time(issued: float, now: float, ttl_seconds: float, skew: float = CLOCK_SKEW) -> None:
    """BadToken if a token issued at ``issued`` (unix seconds) is expired at ``now``, or was
    issued more than ``skew`` seconds ahead of it: a token from the future was not made
    by a server with a sane clock, and would outlive its ttl."""
    if issued > now + skew:
        raise BadToken(f"token was issued {int(issued - now)} s in the future by this server's clock", FUTURE)
    if now - issued > ttl_seconds:
        raise BadToken("token has expired", EXPIRED)


def _count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and least <= value < 2**63


def _claim(payload: Any) -> Claim:
    """The claim of a verified payload; BadToken if it is not the shape this chatd signs."""
    if not (isinstance(payload, dict) and _count(payload.get("u"), 1) and _count(payload.get("d"), 1)
            and _count(payload.get("g"), 0) and _count(payload.get("t"), 0)):
        raise BadToken("token is damaged", DAMAGED)
    epoch = payload.get("e")
    if not (isinstance(epoch, str) and len(epoch) <= EPOCH_MAX and epoch.isascii() and epoch.isalnum()):
        raise BadToken("token is damaged", DAMAGED)
    return Claim(payload["u"], epoch, payload["d"], payload["g"], payload["t"])
