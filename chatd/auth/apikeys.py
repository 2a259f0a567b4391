"""API keys of the HTTP API: their format, how they are kept, how a request's key is checked.

A key is ``chatd_<id>_<secret>``: ``<id>`` is public (it finds the key's row and
``chatd apikey list`` shows it), ``<secret>`` is 256 random bits, base64url. Only
the sha256 of the secret is stored: the secret is random, not a password, so a
slow hash would buy nothing (common10.md); it is compared with
``hmac.compare_digest``, in constant time. The key itself is printed once, by
``chatd apikey create``, and never again.

A running server reads the key's row on every request (one indexed read in the
reader pool): a key revoked by ``chatd apikey revoke`` — on this machine or
another, server running or not — is refused by every node and every worker from
the next request on, with no cache to invalidate. Only "a key was ever created"
is remembered once seen (keys are revoked, never deleted): until then the API
is off (``ApiOff``; the HTTP API answers 404, docs/api.md).

    key, public_id, digest = new_key()                 # for `chatd apikey create`
    keys = ApiKeys(store.api_keys)
    key = await keys.authenticate(request.headers.get("Authorization"))   # a Key, or ApiOff / KeyRefused
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import NamedTuple

from chatd.auth.bearer import credentials
from chatd.store.apikeys import ApiKeyStore
from chatd.store.schema import now_ms

PREFIX = "chatd"
SCOPES = ("publish", "read", "manage")  # post messages and events; read history and presence; kick, manage
PUBLIC_ID_BYTES = 6  # 12 hex digits: unique enough to find a row, not a secret
SECRET_BYTES = 32  # 256 bits
NAME_MAX = 64
LAST_USED_EVERY = 60.0  # seconds: a key's last_used is written at most this often per process
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{{2 * PUBLIC_ID_BYTES}}})_([A-Za-z0-9_-]{{43}})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Key(NamedTuple):
    """The key a request was made with."""

    id: int  # its row
    name: str
    scopes: frozenset[str]
    user_id: int | None  # the user it is bound to (a bot's key): it acts as that user only


API_OFF = "the HTTP API is off until an API key exists (chatd apikey create)"


class ApiOff(Exception):
    """No API key was ever created: the HTTP API is off."""


class KeyRefused(Exception):
    """No key, a malformed, unknown or wrong one, or a revoked one; str() says which."""


def new_key() -> tuple[str, str, str]:
    """A new key: → (the key to hand out once, its public id, the digest to store)."""
    public_id = secrets.token_hex(PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"{PREFIX}_{public_id}_{secret}", public_id, digest(secret)


def digest(secret: str) -> str:
    """The stored form of a key's secret: hex sha256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a key, or None: 1 to NAME_MAX letters, digits, '_', '.', '-'."""
    if not (1 <= len(name) <= NAME_MAX and name.isascii() and _NAME.match(name)):
        return (f"must be 1 to {NAME_MAX} ASCII letters, digits, '_', '.' and '-', starting with a letter "
                "or digit")
    return None


def scope_problem(scopes: list[str]) -> str | None:
    """Why ``scopes`` cannot be a key's, or None."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        return f"unknown scope {unknown[0]!r}: the scopes are {', '.join(SCOPES)}"
    if not scopes:
        return f"a key needs at least one scope ({', '.join(SCOPES)})"
    return None


def parse_bearer(authorization: str | None) -> tuple[str, str]:
    """(public id, secret) of an ``Authorization: Bearer chatd_<id>_<secret>`` header; KeyRefused if
    there is none or it is not one."""
    if not authorization:
        raise KeyRefused("no API key: send the header 'Authorization: Bearer chatd_…'")
    bearer = credentials(authorization)
    if bearer is None:
        raise KeyRefused("the Authorization header must be 'Bearer <API key>'")
    key = _KEY.match(bearer)
    if key is None:
        raise KeyRefused("that is not a chatd API key (chatd_<id>_<secret>)")
    return key.group(1), key.group(2)


class ApiKeys:
    """The running server's side: checks the key of each request."""

    def __init__(self, store: ApiKeyStore, clock: Callable[[], float] = time.monotonic):
        self._store = store
        self._clock = clock  # seconds: when last_used was last written, per key
        self._exist = False  # a key was created: stays true (keys are never deleted)
        self._noted: dict[int, float] = {}

    @property
    def known_on(self) -> bool:
        """Whether a key was seen to exist (once on, the API stays on: keys are never deleted)."""
        return self._exist

    async def check_on(self) -> None:
        """ApiOff while no key was ever created. DatabaseUnreachable if the store cannot say."""
        if not self._exist:
            self._exist = await self._store.any_exist()
            if not self._exist:
                raise ApiOff(API_OFF)

    async def authenticate(self, authorization: str | None) -> Key:
        """The key of an ``Authorization`` header value. ApiOff while no key was ever created;
        KeyRefused when it is missing, malformed, unknown, wrong or revoked.
        DatabaseUnreachable if the store cannot say."""
        await self.check_on()
        public_id, secret = parse_bearer(authorization)
        row = await self._store.find(public_id)
        # Constant time in the secret (hmac.compare_digest); an unknown public id is no secret.
        if row is None or not hmac.compare_digest(digest(secret), row.secret_hash):
            raise KeyRefused("unknown API key")
        if row.revoked is not None:
            raise KeyRefused("this API key was revoked")
        self._note_used(row.id)
        return Key(row.id, row.name, frozenset(row.scopes), row.user_id)

    def _note_used(self, key_id: int) -> None:
        now = self._clock()
        if now - self._noted.get(key_id, -LAST_USED_EVERY) >= LAST_USED_EVERY:
            self._noted[key_id] = now
            # A figure for `chatd apikey list`: nobody waits for it, and a failure only leaves it older.
            self._store.note_used(key_id, now_ms()).add_done_callback(lambda f: f.cancelled() or f.exception())
