"""The HTTP API's keys in the store, SQLite or PostgreSQL (``chatd.auth.apikeys`` has the rules).

Two kinds of caller: the ``chatd apikey`` command, which works on the database
itself whether a server runs or not (blocking calls, each in a connection of
its own), and a running server, which reads a key per request (``find``, in the
reader pool) and notes when it was last used (through the writer).

    keys = ApiKeyStore(store)
    keys.ensure_schema()                                    # the command: create or migrate the database
    key_id = keys.create("shop", "a1b2c3", digest, ["publish"], user_id=None)
    rows = keys.list()                                      # [KeyRow], oldest first
    keys.revoke("shop")                                     # by name or public id: → the KeyRow, or None
    row = await keys.find("a1b2c3")                         # a KeyRow or None (server)
    await keys.any_exist()                                  # whether a key was ever created (server)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from peewee import IntegrityError

from chatd.store.living import living
from chatd.store.schema import ApiKey, now_ms

if TYPE_CHECKING:
    from chatd.store import Store


class KeyRow(NamedTuple):
    id: int
    name: str
    public_id: str
    secret_hash: str
    scopes: tuple[str, ...]
    user_id: int | None
    created: int  # ms since the epoch
    last_used: int | None
    revoked: int | None


class NameTaken(Exception):
    """A key with this name exists (revoked ones keep theirs)."""


_COLUMNS = "id, name, public_id, secret_hash, scopes, user_id, created, last_used, revoked"


def _row(values: tuple) -> KeyRow:
    row = KeyRow(*values)
    return row._replace(scopes=tuple(row.scopes.split()))


class ApiKeyStore:
    def __init__(self, store: Store):
        self._store = store
        self._db = store.db

    # The command's (blocking)

    def ensure_schema(self) -> None:
        """The database at this chatd's schema, as a start would leave it (created if new)."""
        self._store.ensure_schema()

    def create(self, name: str, public_id: str, secret_hash: str, scopes: list[str], user_id: int | None,
               shown: Callable[[], None] = lambda: None) -> int:
        """→ the new key's row id. NameTaken, NoSuchUser (``user_id`` names nobody), UserDeleted.
        ``shown()`` runs once the key is written, before the commit: whatever it raises
        undoes the key (a secret nobody saw must not leave a key, nor take its name)."""
        with self._db.connection_context(), self._db.atomic():
            if user_id is not None:
                living(self._store, user_id)
            try:
                row_id = ApiKey.insert(name=name, public_id=public_id, secret_hash=secret_hash,
                                       scopes=" ".join(scopes), user=user_id, created=now_ms()).execute(self._db)
            except IntegrityError:
                raise NameTaken(name) from None
            shown()
            return row_id

    def list(self) -> list[KeyRow]:
        with self._db.connection_context():
            return [_row(r) for r in self._db.execute_sql(f"SELECT {_COLUMNS} FROM api_key ORDER BY id").fetchall()]

    def revoke(self, which: str) -> KeyRow | None:
        """Revoke the key named ``which`` or whose public id it is; → its row as it is now
        (revoked already: unchanged), or None when no key is called so."""
        q = self._store._q
        with self._db.connection_context(), self._db.atomic():
            self._db.execute_sql(q("UPDATE api_key SET revoked = ? WHERE (name = ? OR public_id = ?) "
                                   "AND revoked IS NULL"), (now_ms(), which, which))
            found = self._db.execute_sql(q(f"SELECT {_COLUMNS} FROM api_key WHERE name = ? OR public_id = ? "
                                           "ORDER BY name = ? DESC"), (which, which, which)).fetchone()
        return _row(found) if found else None

    # The server's

    def find(self, public_id: str) -> asyncio.Future:
        """→ the KeyRow of this public id, or None."""
        sql = self._store._q(f"SELECT {_COLUMNS} FROM api_key WHERE public_id = ?")

        def query() -> KeyRow | None:
            found = self._db.execute_sql(sql, (public_id,)).fetchone()
            return _row(found) if found else None

        return self._store.read(query)

    def any_exist(self) -> asyncio.Future:
        """→ whether any key was ever created (revoked ones count)."""
        return self._store.read(lambda: self._db.execute_sql("SELECT 1 FROM api_key LIMIT 1").fetchone() is not None)

    def note_used(self, key_id: int, at: int) -> asyncio.Future:
        """Set the key's ``last_used`` to ``at`` (ms since the epoch)."""
        assert self._store.writer
        sql = self._store._q("UPDATE api_key SET last_used = ? WHERE id = ?")
        return self._store.writer.run(lambda: self._db.execute_sql(sql, (at, key_id)))
