"""The admin page's sessions: made at login, found from the cookie on every request, ended at logout.

A session lives in the store (``chatd.store.admins``), so every node and worker
knows it; the cookie holds a random token of which only the sha256 is stored.
A session holds while (``problem``):
- it is younger than ``admin.session_hours`` and was used within ``admin.idle_minutes``;
- an admin account's: the account exists (``chatd admin remove`` and ``passwd``
  delete its sessions);
- a chat user's: the user still has the role admin or moderator (as their last
  app token said), is not banned, the chat sign-in it came from was not signed
  out and the user did not sign out everywhere since. A ban or a kick of the user
  also removes their sessions (``chatd.moderation``), so they stay ended after it.
Each session has its own CSRF token, which every state change must carry
(``chatd.admin.base``).

    sessions = Sessions(store, settings)
    token, csrf, actor = await sessions.open_account(account_id, name, address)
    token, csrf, actor = await sessions.open_user(user_id, name, roles, sign_in, generation, address)
    found = await sessions.find(cookie_value)     # a Found, or None (no session, or one that ended)
    await sessions.end(found)
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Any, NamedTuple

from chatd.audit import ADMIN, Actor, user_roles
from chatd.store import Store, now_ms
from chatd.store.admins import SessionRow

COOKIE = "chatd_admin"
TOKEN_BYTES = 32  # of randomness in a session token and in a CSRF token
TOKEN_MAX = 100  # characters of a cookie value worth looking up (a token is 43)
TOUCH_EVERY_MS = 60_000  # a session's last use is written at most once a minute: not a write per request
HOUR_MS, MINUTE_MS = 3_600_000, 60_000


class Found(NamedTuple):
    actor: Actor
    row: SessionRow


def token_hash(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _ends(row: SessionRow, settings: Any) -> tuple[int, int]:
    """(absolute end, idle end) of the session, ms since the epoch."""
    return (row.created + round(settings.session_hours * HOUR_MS),
            row.seen + round(settings.idle_minutes * MINUTE_MS))


def problem(row: SessionRow, settings: Any, now: int) -> str | None:
    """Why the session no longer holds, or None when it does (see the module)."""
    absolute, idle = _ends(row, settings)
    if now >= absolute:
        return "the session is older than admin.session_hours"
    if now >= idle:
        return "the session was unused for admin.idle_minutes"
    if row.account_id is not None:
        return None if row.account_name is not None else "the admin account was removed"
    if row.user_name is None:
        return "the user is gone"
    if not user_roles(row.user_roles):
        return "the user no longer has the role admin or moderator"
    if row.banned:
        return "the user is banned"
    if row.sign_in_revoked is not None:
        return "the user signed out of the chat"
    if row.user_generation != row.generation:
        return "the user signed out everywhere"
    return None


def actor_of(row: SessionRow) -> Actor:
    """Who the session is of (``problem`` said it holds)."""
    if row.account_id is not None:
        return Actor("admin", row.account_id, row.account_name or "", frozenset({ADMIN}))
    return Actor("user", row.user_id or 0, row.user_name or "", user_roles(row.user_roles))


class Sessions:
    def __init__(self, store: Store, settings: Callable[[], Any]):
        """``settings``: the ``admin`` section of the config in force (read per call: a reload applies)."""
        self._store = store
        self._settings = settings
        self.clock: Callable[[], int] = now_ms  # ms since the epoch

    async def open_account(self, account_id: int, name: str, address: str) -> tuple[str, str, Actor]:
        """A new session of the admin account → (cookie token, CSRF token, actor)."""
        token, csrf = await self._open({"account": account_id, "address": address})
        return token, csrf, Actor("admin", account_id, name, frozenset({ADMIN}))

    async def open_user(self, user_id: int, name: str, roles: frozenset[str], sign_in: int, generation: int,
                        address: str) -> tuple[str, str, Actor]:
        """A new session of a chat user with a role, bound to their chat sign-in → (cookie token, CSRF, actor)."""
        token, csrf = await self._open({"user": user_id, "sign_in": sign_in, "generation": generation,
                                        "address": address})
        return token, csrf, Actor("user", user_id, name, user_roles(roles))

    async def _open(self, values: dict[str, Any]) -> tuple[str, str]:
        token, csrf = secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES)
        now, s = self.clock(), self._settings()
        await self._store.admins.open_session(
            {**values, "token_hash": token_hash(token), "csrf": csrf, "created": now, "seen": now},
            oldest=now - round(s.session_hours * HOUR_MS), idle_oldest=now - round(s.idle_minutes * MINUTE_MS))
        return token, csrf

    async def find(self, token: str | None) -> Found | None:
        """The session whose cookie value is ``token``, if it holds (noting its use); else None
        (a session found ended is removed)."""
        if not token or len(token) > TOKEN_MAX:
            return None
        now = self.clock()
        row = await self._store.admins.session(token_hash(token), now)
        if row is None:
            return None
        if problem(row, self._settings(), now) is not None:
            await self._store.admins.end(row.id)
            return None
        if now - row.seen >= TOUCH_EVERY_MS:
            await self._store.admins.touch(row.id, now)
            row = row._replace(seen=now)
        return Found(actor_of(row), row)

    async def end(self, found: Found) -> None:
        """End the session (logout)."""
        await self._store.admins.end(found.row.id)

    def new_expiry(self) -> int:
        """When a session opened now ends unless used (ms since the epoch)."""
        s = self._settings()
        return self.clock() + min(round(s.session_hours * HOUR_MS), round(s.idle_minutes * MINUTE_MS))

    def expires(self, found: Found) -> int:
        """When ``found`` ends unless used again (ms since the epoch)."""
        return min(_ends(found.row, self._settings()))
