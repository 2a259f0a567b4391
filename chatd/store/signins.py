"""Users' sign-ins and token generations in the store, SQLite or PostgreSQL (``chatd.auth.revocation`` has the rules).

Nothing here is on the path of a message: a resume costs one read (the one
that found the user's name before), and only signing up, signing out and
the first resume with a token from before sign-ins write.

    sign_ins = store.sign_ins
    user_id, sign_in = await sign_ins.sign_up("alice")
    up = await sign_ins.app_sign_in("u-42", "Alice", avatar, roles)    # an AppSignUp: the user of sub "u-42"
    state = await sign_ins.state(user_id, claim.sign_in, claim.legacy)   # a ResumeState
    await sign_ins.revoke(user_id, sign_in)                              # "sign out"
    await sign_ins.raise_generation(user_id)                             # "sign out everywhere"
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from chatd.auth.revocation import StoredSignIn
from chatd.store.living import living
from chatd.store.savepoint import OneChange
from chatd.store.schema import APP, GUEST, SignIn, User, now_ms

if TYPE_CHECKING:
    from chatd.store import Store


class SignUp(NamedTuple):
    """A new user and its first sign-in."""

    user_id: int
    sign_in: int


class AppSignUp(NamedTuple):
    """The user of an app's ``sub`` (new or found), as the app token says it, and a new sign-in of it."""

    user_id: int
    sign_in: int
    generation: int  # the user's token generation


class ResumeState(NamedTuple):
    """What the store holds about a token's user and sign-in."""

    name: str | None  # the user's name; None: there is no such user
    generation: int  # the user's token generation
    sign_in: StoredSignIn | None  # the token's sign-in; None: not stored here
    kind: str = GUEST  # chatd.store.schema: GUEST, APP, BOT
    roles: frozenset[str] = frozenset()
    avatar: str | None = None


_STATE = ('SELECT u.name, u.token_generation, u.kind, u.roles, u.avatar, s.id, s.user_id, s.revoked FROM "user" u '
          'LEFT JOIN sign_in s ON s.id = ? OR s.legacy = ? WHERE u.id = ?')
# One statement, atomic on SQLite and PostgreSQL alike: two devices of a new sub signing in
# at once on two nodes make one user (the unique index on external_id decides, and the
# loser updates the winner's row instead of failing).
_APP_USER = ('INSERT INTO "user" (name, created, kind, external_id, roles, avatar) VALUES (?, ?, ?, ?, ?, ?) '
             'ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, roles = excluded.roles, '
             'avatar = excluded.avatar RETURNING id, token_generation')
# A guest's user and a new sign-in, written as SQL rather than built by peewee per call
# (profiled: peewee's query building was a visible share of a connection storm's writer thread).
_GUEST_USER = 'INSERT INTO "user" (name, created, kind) VALUES (?, ?, ?) RETURNING id'
_SIGN_IN = "INSERT INTO sign_in (user_id, created) VALUES (?, ?) RETURNING id"


class SignInStore:
    def __init__(self, store: Store):
        self._store = store

    def sign_up(self, name: str) -> asyncio.Future:
        """→ SignUp: a new user called ``name`` and its first sign-in, both or neither."""
        def job() -> SignUp:
            now, db, q = now_ms(), self._store.db, self._store._q
            with OneChange(db):  # the user and its sign-in, or neither
                user_id = db.execute_sql(q(_GUEST_USER), (name, now, GUEST)).fetchone()[0]
                return SignUp(user_id, db.execute_sql(q(_SIGN_IN), (user_id, now)).fetchone()[0])

        return self._store.writer.run(job)

    def app_sign_in(self, sub: str, name: str, avatar: str | None, roles: Iterable[str]) -> asyncio.Future:
        """→ AppSignUp: the user of the app's ``sub`` — made if new, else its name, avatar
        and roles replaced by these — and a new sign-in of it, both or neither."""
        def job() -> AppSignUp:
            now, db = now_ms(), self._store.db
            with OneChange(db):  # the user and its sign-in, or neither
                user_id, generation = db.execute_sql(self._store._q(_APP_USER), (
                    name, now, APP, sub, json.dumps(sorted(roles)), avatar)).fetchone()
                sign_in = db.execute_sql(self._store._q(_SIGN_IN), (user_id, now)).fetchone()[0]
                return AppSignUp(user_id, sign_in, generation)

        return self._store.writer.run(job)

    def state(self, user_id: int, sign_in: int | None, legacy: str | None) -> asyncio.Future:
        """→ ResumeState of user ``user_id`` and the sign-in with id ``sign_in`` or key ``legacy``."""
        def query() -> ResumeState:
            row = self._store.db.execute_sql(self._store._q(_STATE), (sign_in, legacy, user_id)).fetchone()
            if row is None:
                return ResumeState(None, 0, None)
            name, generation, kind, roles, avatar, *stored = row
            return ResumeState(name, generation, None if stored[0] is None else StoredSignIn(*stored), kind,
                               frozenset(json.loads(roles)), avatar)

        return self._store.read(query)

    def ensure(self, user_id: int, sign_in: int | None, legacy: str | None) -> asyncio.Future:
        """→ the StoredSignIn with id ``sign_in`` or key ``legacy``, made for ``user_id`` if
        missing: the sign-in of a token from before sign-ins (``legacy``), or of a token of a
        database a restore replaced (``sign_in``, kept under its id, which this database
        never handed out: chatd.store.restore raises the sequence past it). UserDeleted: the
        user was deleted (``chatd.store.living``): its erasure took its sign-ins, none comes back."""
        def job() -> StoredSignIn:
            db = self._store.db
            living(self._store, user_id)
            row = db.execute_sql(self._store._q("SELECT id, user_id, revoked FROM sign_in WHERE id = ? OR legacy = ?"),
                                 (sign_in, legacy)).fetchone()
            if row is not None:
                return StoredSignIn(*row)
            fields = {"user": user_id, "created": now_ms(), "legacy": legacy, **({"id": sign_in} if sign_in else {})}
            return StoredSignIn(SignIn.insert(**fields).execute(db), user_id, None)

        return self._store.writer.run(job)

    def revoke(self, user_id: int, sign_in: int) -> asyncio.Future:
        """Sign ``sign_in`` of ``user_id`` out; → 1, or 0 if it was signed out already."""
        return self._store.writer.run(lambda: SignIn.update(revoked=now_ms()).where(
            (SignIn.id == sign_in) & (SignIn.user == user_id) & SignIn.revoked.is_null()).execute(self._store.db))

    def raise_generation(self, user_id: int) -> asyncio.Future:
        """Sign the user out everywhere: its token generation goes up by one; → 1 (0: no such user)."""
        return self._store.writer.run(lambda: User.update(token_generation=User.token_generation + 1).where(
            User.id == user_id).execute(self._store.db))
