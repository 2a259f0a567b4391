"""Admin accounts and the admin page's sessions in the store, SQLite or PostgreSQL.

Accounts are the ``chatd admin`` command's (``chatd.admin_commands``): it works on
the database itself whether a server runs or not, with blocking calls, each in a
connection of its own. A running server reads an account at login and a session
on every request (``chatd.admin.sessions``): a session is in the store, so it
holds on every node and worker, and a password changed or an account removed
by the command ends its sessions at once everywhere.

    admins = AdminStore(store)                              # store.admins
    admins.create("root", "root", hash)                     # the command's (blocking)
    admins.list(); admins.remove("root"); admins.set_password("root", hash)
    row = await admins.account("root")                      # (id, name, password hash) or None
    await admins.open_session(values, oldest, idle_oldest)  # the session's id; expired ones go
    row = await admins.session(token_hash, now)             # a SessionRow or None
    await admins.touch(session_id, now); await admins.end(token_hash)
    end_user_sessions(store, user_id)                       # inside a writer job: a ban's or a kick's
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, NamedTuple

from peewee import IntegrityError

from chatd.names import name_keys
from chatd.store.living import living
from chatd.store.schema import AdminAccount, AdminAccountKey, AdminSession, now_ms

if TYPE_CHECKING:
    from chatd.store import Store


class AccountRow(NamedTuple):
    id: int
    name: str
    created: int  # ms since the epoch
    changed: int  # ms since the epoch the password was set
    sessions: int  # sessions open now (not expired by time yet: those go at the next login)


class SessionRow(NamedTuple):
    """A session with what decides whether it still holds."""

    id: int
    csrf: str
    created: int  # ms since the epoch
    seen: int  # ms since the epoch
    account_id: int | None
    account_name: str | None
    user_id: int | None
    user_name: str | None  # None: the user is gone (the row goes with it: a race at most)
    user_roles: frozenset[str]  # as the user's last app token said
    user_generation: int | None  # the user's token generation now
    generation: int | None  # ... when the session was made
    sign_in_revoked: int | None  # when the chat sign-in it came from was signed out
    banned: bool  # a ban of the user is in force (chatd.moderation)


class NameTaken(Exception):
    """An admin account of this name, or of one that looks like it, exists: ``str()`` is its name."""


_ACCOUNT = "SELECT a.id, a.name, a.created, a.changed, (SELECT COUNT(*) FROM admin_session s " \
           "WHERE s.account_id = a.id) FROM admin_account a"
_SESSION = ('SELECT s.id, s.csrf, s.created, s.seen, s.account_id, a.name, s.user_id, u.name, u.roles, '
            'u.token_generation, s.generation, si.revoked, EXISTS (SELECT 1 FROM ban b WHERE b.user_id = s.user_id '
            'AND (b.until IS NULL OR b.until > ?)) FROM admin_session s '
            'LEFT JOIN admin_account a ON a.id = s.account_id LEFT JOIN "user" u ON u.id = s.user_id '
            'LEFT JOIN sign_in si ON si.id = s.sign_in WHERE s.token_hash = ?')


class AdminStore:
    def __init__(self, store: Store):
        self._store = store
        self._db = store.db

    # The command's (blocking)

    def ensure_schema(self) -> None:
        """The database at this chatd's schema, as a start would leave it (created if new)."""
        self._store.ensure_schema()

    def create(self, name: str, key: str, password_hash: str) -> int:
        """→ the new account's id. NameTaken (naming the account) if ``key`` (the case-folded name)
        is an account's, or the name looks like an account's (``chatd.names.name_keys``: each key
        is unique in ``admin_account_key``, so two commands at once cannot both make one)."""
        now, keys = now_ms(), sorted(name_keys(name))
        with self._db.connection_context():
            try:
                with self._db.atomic():
                    account_id = AdminAccount.insert(name=name, key=key, password_hash=password_hash, created=now,
                                                     changed=now).execute(self._db)
                    AdminAccountKey.insert_many([(k, account_id) for k in keys], fields=[
                        AdminAccountKey.key, AdminAccountKey.account]).execute(self._db)
                    return account_id
            except IntegrityError:
                existing = (AdminAccount.select(AdminAccount.name).join(AdminAccountKey).where(
                    AdminAccountKey.key.in_(keys)).scalar(self._db)
                    or AdminAccount.select(AdminAccount.name).where(AdminAccount.key == key).scalar(self._db))
                raise NameTaken(existing or name) from None

    def list(self) -> list[AccountRow]:
        with self._db.connection_context():
            return [AccountRow(*r) for r in self._db.execute_sql(f"{_ACCOUNT} ORDER BY a.id").fetchall()]

    def remove(self, key: str) -> AccountRow | None:
        """Remove the account and end its sessions; → its row as it was, or None if there is none."""
        with self._db.connection_context(), self._db.atomic():
            row = self._find(key)
            if row is not None:
                AdminSession.delete().where(AdminSession.account == row.id).execute(self._db)
                AdminAccount.delete().where(AdminAccount.id == row.id).execute(self._db)
        return row

    def set_password(self, key: str, password_hash: str) -> AccountRow | None:
        """Replace the account's password and end its sessions; → its row (as before), or None if none."""
        with self._db.connection_context(), self._db.atomic():
            row = self._find(key)
            if row is not None:
                AdminAccount.update(password_hash=password_hash, changed=now_ms()).where(
                    AdminAccount.id == row.id).execute(self._db)
                AdminSession.delete().where(AdminSession.account == row.id).execute(self._db)
        return row

    def _find(self, key: str) -> AccountRow | None:
        found = self._db.execute_sql(self._store._q(f"{_ACCOUNT} WHERE a.key = ?"), (key,)).fetchone()
        return AccountRow(*found) if found else None

    # The server's

    def account(self, key: str) -> asyncio.Future:
        """→ (id, name, password hash) of the account whose case-folded name is ``key``, or None."""
        sql = self._store._q("SELECT id, name, password_hash FROM admin_account WHERE key = ?")
        return self._store.read(lambda: self._db.execute_sql(sql, (key,)).fetchone())

    def open_session(self, values: dict[str, Any], oldest: int, idle_oldest: int) -> asyncio.Future:
        """Store a new session (AdminSession's columns) → its id; first every session made
        before ``oldest`` or unused since ``idle_oldest`` (ms since the epoch) goes: expired
        sessions are refused anyway, and removed here so that the table stays small. UserDeleted:
        the session's chat user was deleted (``chatd.store.living``), nothing stored."""
        assert self._store.writer

        def job() -> int:
            with self._db.atomic():  # a savepoint: a writer job makes one change (chatd.store.writer)
                if values.get("user") is not None:  # its erasure ended its sessions: none begins after
                    living(self._store, values["user"])
                return self._open(values, oldest, idle_oldest)

        return self._store.writer.run(job)

    def _open(self, values: dict[str, Any], oldest: int, idle_oldest: int) -> int:
        AdminSession.delete().where((AdminSession.created < oldest) | (AdminSession.seen < idle_oldest)).execute(
            self._db)
        return AdminSession.insert(**values).execute(self._db)

    def session(self, token_hash: str, now: int) -> asyncio.Future:
        """→ the SessionRow of the cookie whose sha256 is ``token_hash``, or None; ``now`` (ms since
        the epoch) decides which bans are in force."""
        sql = self._store._q(_SESSION)

        def query() -> SessionRow | None:
            found = self._db.execute_sql(sql, (now, token_hash)).fetchone()
            if found is None:
                return None
            values = list(found)
            values[8] = frozenset(json.loads(values[8])) if values[8] else frozenset()
            values[12] = bool(values[12])
            return SessionRow(*values)

        return self._store.read(query)

    def touch(self, session_id: int, now: int) -> asyncio.Future:
        """Note the session used at ``now`` (ms since the epoch)."""
        assert self._store.writer
        return self._store.writer.run(lambda: AdminSession.update(seen=now).where(
            AdminSession.id == session_id).execute(self._db))

    def end(self, session_id: int) -> asyncio.Future:
        """Remove the session (logout, or found expired)."""
        assert self._store.writer
        return self._store.writer.run(lambda: AdminSession.delete().where(AdminSession.id == session_id).execute(
            self._db))


def end_user_sessions(store: Store, user_id: int) -> int:
    """Inside a writer job: end every admin-page session of chat user ``user_id`` (a ban or a kick
    of the user: in the store, so at once on every node); → how many there were."""
    return AdminSession.delete().where(AdminSession.user == user_id).execute(store.db)
