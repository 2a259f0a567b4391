"""App tokens: JWTs a web app signs to log its users into chatd (docs/protocol.md, "App tokens").

Verification is PyJWT's (RFC 7519 JWTs, RFC 7515 signatures); what this
module adds is which key and algorithm may verify a token, and which claims
chatd takes and in what shape. Pure but for ``load_app_tokens``, which reads
the key files once, when the config is loaded.

**Keys and algorithms.** Only the algorithms configured in
``app_tokens.algorithms`` are accepted — never ``none``. The key is chosen
by the algorithm's family, never by the token: HS256/384/512 verify with the
shared secret, every other algorithm with the public key. So a token signed
with HS256 using the *public* key as its secret (the algorithm-confusion
attack, RFC 8725 §2.1) meets the secret, and fails.

**Claims** (RFC 7519 §4.1): ``sub`` (the app's user id, a non-empty string of
at most ``SUB_MAX`` characters) and ``exp`` are required; ``nbf`` and ``iat``
are honoured; ``aud`` and ``iss`` must match when configured; all with
``app_tokens.leeway_seconds`` of clock skew. chatd's own: ``name`` (chatd's
name rules, ``chatd.names.clean_name``), ``avatar`` (an http(s) URL of at most
``AVATAR_MAX`` characters), ``rooms`` (at most ``ROOMS_MAX`` valid room names)
and ``roles`` (at most ``ROLES_MAX`` short words). Any other claim is ignored.

Every refusal is an ``AppTokenError`` with a stable code (``chatd.protocol.codes.Code``)
and a message naming the problem:

- ``bad_app_token``: not a JWT, too long, an algorithm not allowed, app tokens not configured;
- ``bad_signature``: the signature does not verify with the configured key;
- ``token_expired``: ``exp`` has passed (the message says how long ago);
- ``missing_claim``: ``sub`` or ``exp`` (or a configured ``aud``/``iss``) is absent;
- ``bad_claim``: a claim of the wrong type or size, a wrong audience or issuer, not valid yet.

    app_tokens = load_app_tokens(config.app_tokens)      # None: not configured
    claims = app_tokens.verify(token)                    # AppClaims, or AppTokenError
"""

from __future__ import annotations

import base64
import hashlib
import time
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from chatd import strictjson
from chatd.auth.secret import configured_secret
from chatd.names import BadName, clean_name
from chatd.protocol.codes import Code
from chatd.protocol.roomnames import room_name_problem
from chatd.strictjson import ill_formed
from chatd.yamltext import yaml_text

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
ALGORITHMS = HMAC_ALGORITHMS + KEY_ALGORITHMS
TOKEN_MAX = 8192  # characters; a JWT with every claim at its largest is about 6,000
SUB_MAX = 255  # characters of `sub`: an app's user id (a number, a UUID, an email address)
AVATAR_MAX = 2048  # characters of an avatar URL (what browsers and CDNs reliably handle)
ROOMS_MAX = 100  # names in `rooms`
ROLES_MAX = 16  # words in `roles`
ROLE_MAX = 32  # characters of one role
MS_PER_SECOND = 1000
ROLE_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.:")
REQUIRED = ("sub", "exp")  # RFC 7519 §4.1.2, §4.1.4: whose user, and until when
# Seconds since 1970 a time claim may be: the year 33658, far beyond any token, and exact as a float.
TIME_MAX = 10**12
TIME_CLAIMS = ("exp", "nbf", "iat")  # NumericDate values, RFC 7519 §2
FALLBACK_DIGITS = 10  # hex digits of a sub's SHA-256 in the name of an app user who has none: 40 bits


# Why a token is bad_app_token (``details["cause"]``; docs/protocol.md, "error"), for a client to word:
# not a JWT at all; signed with an algorithm not accepted (then ``algorithm``, ``accepted``); a key the
# server cannot use; app tokens not configured (chatd.identity).
MALFORMED = {"cause": "malformed"}


class AppTokenError(Exception):
    """An app token refused; ``code`` is a ``chatd.protocol.codes.Code``, str() the message, ``details``
    its detail as fields (the claim, how long ago it expired: docs/protocol.md, "error")."""

    def __init__(self, code: Code, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass(frozen=True, slots=True)
class AppClaims:
    """What a verified app token says of its user."""

    sub: str  # the app's user id: one chatd user per sub
    expires: float  # `exp`, unix seconds
    name: str | None = None  # cleaned by chatd.names.clean_name; None: not given
    avatar: str | None = None  # an http(s) URL; None: not given
    rooms: tuple[str, ...] = ()  # members-only rooms the user may join (NFC names)
    roles: frozenset[str] = frozenset()  # e.g. {"moderator"}


@dataclass(frozen=True)
class AppTokens:
    """The configured keys and rules; ``verify`` checks one token with them."""

    algorithms: tuple[str, ...]
    secret: bytes | None = None  # for HS*
    public_key: Any = None  # a cryptography public key, for every other algorithm
    audience: str = ""  # "" = not checked
    issuer: str = ""  # "" = not checked
    leeway_seconds: float = 30.0

    def verify(self, token: str) -> AppClaims:
        """The claims of ``token`` if it is valid now; AppTokenError saying why not."""
        if not token.isascii() or len(token) > TOKEN_MAX:
            raise AppTokenError(Code.BAD_APP_TOKEN, f"app token is not a JWT of at most {TOKEN_MAX} ASCII characters",
                                MALFORMED)
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise AppTokenError(Code.BAD_APP_TOKEN, "app token is not a JWT (header.payload.signature)",
                                MALFORMED) from None
        if algorithm not in self.algorithms:
            shown = algorithm if isinstance(algorithm, str) and len(algorithm) <= 16 else "?"
            raise AppTokenError(Code.BAD_APP_TOKEN, f"app token is signed with algorithm {shown!r}; this server "
                                                    f"accepts {', '.join(self.algorithms)}",
                                {"cause": "algorithm", "algorithm": shown, "accepted": list(self.algorithms)})
        key = self.secret if algorithm in HMAC_ALGORITHMS else self.public_key  # by family, never the token's word
        payload = _signed_payload(token, key, algorithm)
        _check_json(token)
        problem = ill_formed({k: payload.get(k) for k in ("sub", "name", "avatar", "rooms", "roles")})
        if problem:
            raise AppTokenError(Code.BAD_CLAIM, f"app token: claim {problem}")
        for claim in TIME_CLAIMS:  # PyJWT takes "123" or true for a time; RFC 7519 §2 says a JSON number
            value = payload.get(claim)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _bad(claim, "must be a number (seconds since 1970)")
            if value is not None and not -TIME_MAX <= value <= TIME_MAX:  # a float could not hold it (PyJWT's checks)
                raise _bad(claim, f"must be a time between -{TIME_MAX} and {TIME_MAX} (seconds since 1970)")
        self._check_claims(token, payload)
        return _claims(payload)

    def _check_claims(self, token: str, payload: dict[str, Any]) -> None:
        """PyJWT's checks of the registered claims (RFC 7519 §4.1) of a token whose signature
        holds (``payload``), with this config; AppTokenError naming the claim that fails."""
        now = time.time()
        options: dict[str, Any] = {
            "verify_signature": False, "verify_exp": True, "verify_nbf": True, "verify_iat": True,
            "verify_aud": bool(self.audience), "verify_iss": bool(self.issuer), "verify_sub": True, "verify_jti": True,
            "require": [*REQUIRED, *(["aud"] if self.audience else []), *(["iss"] if self.issuer else [])]}
        try:
            jwt.decode(token, options=options, leeway=self.leeway_seconds, audience=self.audience or None,
                       issuer=self.issuer or None)
        except jwt.MissingRequiredClaimError as e:
            raise AppTokenError(Code.MISSING_CLAIM, f"app token has no '{e.claim}' claim, which this server "
                                                    "requires", {"claim": e.claim}) from None
        except jwt.ExpiredSignatureError:
            raise AppTokenError(Code.TOKEN_EXPIRED, f"app token expired {now - payload['exp']:.0f} s ago (its exp, "
                                                    f"with {self.leeway_seconds:g} s of leeway)",
                                {"expired_ms": round((now - payload["exp"]) * MS_PER_SECOND)}) from None
        except jwt.ImmatureSignatureError:
            claim = "nbf" if payload.get("nbf", 0) > now + self.leeway_seconds else "iat"
            raise AppTokenError(Code.BAD_CLAIM, f"app token is not valid yet: its {claim} is "
                                                f"{payload[claim] - now:.0f} s ahead of this server's clock",
                                {"claim": claim,
                                 "valid_in_ms": round((payload[claim] - now) * MS_PER_SECOND)}) from None
        except jwt.InvalidAudienceError:
            raise AppTokenError(Code.BAD_CLAIM, f"app token's audience (aud) is not {self.audience!r}",
                                {"claim": "aud"}) from None
        except jwt.InvalidIssuerError:
            raise AppTokenError(Code.BAD_CLAIM, f"app token's issuer (iss) is not {self.issuer!r}",
                                {"claim": "iss"}) from None
        except jwt.PyJWTError as e:  # sub not a string, a jti not a string...
            raise AppTokenError(Code.BAD_CLAIM, f"app token: {e}") from None


def _signed_payload(token: str, key: Any, algorithm: str) -> dict[str, Any]:
    """The payload of ``token`` if its signature verifies with ``key`` under ``algorithm``
    (PyJWT: RFC 7515), no claim checked yet; AppTokenError if not."""
    unchecked = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                 "verify_iss": False, "verify_sub": False, "verify_jti": False}
    try:
        return jwt.decode(token, key, algorithms=[algorithm], options=unchecked)
    except jwt.InvalidSignatureError:
        raise AppTokenError(Code.BAD_SIGNATURE, "app token signature does not verify: it was signed with "
                                                "another key, or changed") from None
    except jwt.DecodeError:
        raise AppTokenError(Code.BAD_APP_TOKEN, "app token is not a JWT: its parts are not the base64url "
                                                "encoding of JSON objects", MALFORMED) from None
    except jwt.PyJWTError as e:  # a key the algorithm cannot use (check-config refuses those)
        raise AppTokenError(Code.BAD_APP_TOKEN, f"app token cannot be verified: {e}", {"cause": "key"}) from None


def _check_json(token: str) -> None:
    """AppTokenError(bad_app_token) if the payload of ``token`` (its signature verified) names a claim
    twice: JSON parsers disagree on which one counts (RFC 7519 §4 says reject or take the last; chatd
    rejects, as it does in every frame: chatd.strictjson)."""
    segment = token.split(".")[1]
    try:
        strictjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode())
    except strictjson.Refused as e:
        raise AppTokenError(Code.BAD_APP_TOKEN, f"app token payload is refused: {e}", MALFORMED) from None


def app_user_name(claims: AppClaims) -> str:
    """The chatd name of an app token's user: its ``name`` claim; without one, "user <sub>"
    when that is a valid name (``chatd.names.clean_name``: 32 characters at most), else
    "user " and the first hex digits of the sub's SHA-256 (docs/protocol.md, "App tokens")."""
    if claims.name is not None:
        return claims.name
    try:
        return clean_name(f"user {claims.sub}")
    except BadName:
        return f"user {hashlib.sha256(claims.sub.encode()).hexdigest()[:FALLBACK_DIGITS]}"


def _claims(payload: dict[str, Any]) -> AppClaims:
    """chatd's view of a verified payload; AppTokenError(bad_claim) naming a claim of the wrong shape."""
    sub = payload["sub"]
    if not isinstance(sub, str) or not 1 <= len(sub) <= SUB_MAX:
        raise _bad("sub", f"must be a string of 1 to {SUB_MAX} characters")
    if any(unicodedata.category(c)[0] == "C" for c in sub):
        raise _bad("sub", "holds a control, format or unassigned character")
    return AppClaims(sub=sub, expires=float(payload["exp"]), name=_name(payload.get("name")),
                     avatar=_avatar(payload.get("avatar")), rooms=_rooms(payload.get("rooms")),
                     roles=_roles(payload.get("roles")))


def _bad(claim: str, problem: str) -> AppTokenError:
    return AppTokenError(Code.BAD_CLAIM, f"app token claim '{claim}' {problem}", {"claim": claim})


def _name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("name", "must be a string")
    try:
        return clean_name(value)
    except BadName as e:
        raise _bad("name", f"breaks chatd's name rules: {e}") from None


def avatar_host(url: str) -> str | None:
    """The host an avatar ``url`` is loaded from (lower case), or None when it is no http(s)
    URL with a host, or one a browser could read another host in than Python does.

    Browsers parse by the WHATWG URL Standard, ``urlsplit`` by RFC 3986; they differ on a
    backslash (a browser reads ``https://evil.net\\@cdn.example.com/`` as host evil.net, Python
    as cdn.example.com) and the user info before an ``@``; a port out of range is no URL to a
    browser. Refusing those, the host checked against ``identity.avatar_hosts`` is the one loaded."""
    if "\\" in url or any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port: ValueError out of 0-65535
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    return host or None


def _avatar(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad("avatar", "must be a string: an http:// or https:// URL")
    if len(value) > AVATAR_MAX:
        raise _bad("avatar", f"must be a URL of at most {AVATAR_MAX} characters")
    if avatar_host(value) is None:
        raise _bad("avatar", "must be an http:// or https:// URL with a host and a valid port, and no spaces, "
                             "backslash or user info (user@host)")
    return value


def _rooms(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > ROOMS_MAX:
        raise _bad("rooms", f"must be a list of at most {ROOMS_MAX} room names")
    rooms = []
    for item in value:
        name = unicodedata.normalize("NFC", item) if isinstance(item, str) else None
        problem = "is not a string" if name is None else room_name_problem(name)
        if problem:
            raise _bad("rooms", f"holds {str(item)[:40]!r}, which {problem}")
        rooms.append(name)
    return tuple(dict.fromkeys(rooms))


def _roles(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > ROLES_MAX:
        raise _bad("roles", f"must be a list of at most {ROLES_MAX} roles")
    for role in value:
        if not (isinstance(role, str) and 1 <= len(role) <= ROLE_MAX and set(role) <= ROLE_CHARACTERS):
            raise _bad("roles", f"holds {str(role)[:40]!r}; a role is 1 to {ROLE_MAX} lower-case letters, digits "
                                "and '_-.:'")
    return frozenset(value)


def algorithm_problem(name: Any) -> str | None:
    """Why ``name`` cannot be in ``app_tokens.algorithms``, or None (a ``chatd.settings`` check)."""
    if name in ALGORITHMS:
        return None
    if isinstance(name, str) and name.lower() == "none":
        return 'holds "none": unsigned tokens would let anyone sign in as anyone'
    return f"holds {yaml_text(name)}; the algorithms are {', '.join(ALGORITHMS)}"


def load_app_tokens(section: Any) -> AppTokens | None:
    """The ``AppTokens`` of a config's ``app_tokens`` section (attributes ``secret``,
    ``secret_file``, ``public_key_file``, ``algorithms``, ``audience``, ``issuer``,
    ``leeway_seconds``); None when neither a secret nor a key is set (app tokens off).
    Reads the files. ValueError naming the key and the problem: a weak or unreadable
    secret, both a secret and a secret file, a key file that is unreadable or no PEM
    public key, a key the algorithms cannot use, an algorithm without its key or a key
    without an algorithm that uses it."""
    secret = configured_secret(section.secret, section.secret_file, "app_tokens.secret")
    key_file = section.public_key_file
    if secret is None and not key_file:
        return None
    algorithms = tuple(section.algorithms)
    hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
    keyed = [a for a in algorithms if a in KEY_ALGORITHMS]
    if hmac and secret is None:
        raise ValueError(f"key 'app_tokens.algorithms' holds {', '.join(hmac)}, which need a shared secret: set "
                         "'app_tokens.secret' or 'app_tokens.secret_file'")
    if secret is not None and not hmac:
        raise ValueError("key 'app_tokens.secret' (or secret_file) is set, but 'app_tokens.algorithms' holds no "
                         f"HS algorithm that would use it ({', '.join(HMAC_ALGORITHMS)})")
    if keyed and not key_file:
        raise ValueError(f"key 'app_tokens.algorithms' holds {', '.join(keyed)}, which need a public key: set "
                         "'app_tokens.public_key_file'")
    if key_file and not keyed:
        raise ValueError("key 'app_tokens.public_key_file' is set, but 'app_tokens.algorithms' holds no algorithm "
                         f"that would use it ({', '.join(KEY_ALGORITHMS)})")
    for algorithm in hmac:
        _check_key(algorithm, secret, "key 'app_tokens.secret'")
    public_key = _public_key(key_file, keyed) if key_file else None
    return AppTokens(algorithms, secret, public_key, section.audience, section.issuer, float(section.leeway_seconds))


def _public_key(path: str, algorithms: list[str]) -> Any:
    """The PEM public key in ``path``, checked against each algorithm that will use it."""
    where = f"key 'app_tokens.public_key_file': {path}"
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise ValueError(f"{where}: cannot read it: {e.strerror or e}") from None
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ValueError(f"{where}: is not a PEM public key ('-----BEGIN PUBLIC KEY-----', as "
                         "`openssl pkey -pubout` writes it); a private key does not belong on this server") from None
    for algorithm in algorithms:
        _check_key(algorithm, pem, where)
    return key


def _check_key(algorithm: str, key: bytes, where: str) -> None:
    """ValueError unless ``key`` (a secret, or PEM) suits ``algorithm``: the key's type, an EC
    key's curve, and the least size RFC 7518 asks (§3.2: an HMAC key as long as the hash;
    §3.3: RSA keys of 2048 bits), which PyJWT would otherwise only warn about at each token."""
    try:
        used = jwt.get_algorithm_by_name(algorithm)
        too_short = used.check_key_length(used.prepare_key(key))
    except (jwt.InvalidKeyError, ValueError, TypeError) as e:
        raise ValueError(f"{where}: cannot verify {algorithm}: {e}") from None
    if too_short:
        raise ValueError(f"{where}: too short for {algorithm}: {too_short}")
