"""The audit log in the store (``chatd.audit`` makes its entries), SQLite or PostgreSQL.

Rows are only ever inserted. An action and its row commit together when the
action's writer job calls ``insert``; ``add`` is a write of its own, for an
action that has nothing else to write (a login).

    audit = AuditStore(store)                       # store.audit
    await audit.add(entry(actor, "admin.login", "admin:root"))
    def job():                                      # a writer job (store.writer.run(job))
        with store.db.atomic():                     # a savepoint: a job makes one change (chatd.store.writer)
            ...                                     # the action's own writes
            audit.insert(entry(actor, "message.delete", "message:12", reason="spam"))
    page = await audit.page(before=None, limit=50, action="user.ban", actor="root")   # an AuditPage
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, NamedTuple

from peewee import Database

from chatd.store.schema import AuditLog, now_ms

if TYPE_CHECKING:
    from chatd.store import Store

_COLUMNS = "id, ts, actor_kind, actor_id, actor_name, action, target, reason, detail"


class AuditPage(NamedTuple):
    rows: list[dict[str, Any]]  # newest first: id, ts, actor {kind, id, name}, action, target, reason, detail
    more: bool  # older rows match too: ask again with before = the last row's id


def insert(db: Database, row: dict[str, Any]) -> int:
    """Insert ``row`` (``chatd.audit.entry``'s) through ``db``, inside the caller's transaction
    (a writer job: with the action's own writes in one ``db.atomic()`` savepoint, so that they and
    the row commit or fail together); → its id. A row without ``ts`` is stamped now."""
    return AuditLog.insert(**{**row, "ts": row["ts"] if row.get("ts") is not None else now_ms()}).execute(db)


def _shown(values: tuple) -> dict[str, Any]:
    row_id, ts, kind, actor_id, name, action, target, reason, detail = values
    return {"id": row_id, "ts": ts, "actor": {"kind": kind, "id": actor_id, "name": name}, "action": action,
            "target": target, "reason": reason, "detail": json.loads(detail or "{}")}


class AuditStore:
    def __init__(self, store: Store):
        self._store = store
        self._db = store.db

    def insert(self, row: dict[str, Any]) -> int:
        """``insert`` on this store's database: call it only in a writer job (the writer's thread)."""
        return insert(self._db, row)

    def add(self, row: dict[str, Any]) -> asyncio.Future:
        """Store ``row`` (its own write, through the writer) → its id."""
        assert self._store.writer
        return self._store.writer.run(lambda: insert(self._db, row))

    def add_now(self, row: dict[str, Any]) -> int:
        """Store ``row`` at once, blocking: for a command working on the database itself (``chatd admin``)."""
        with self._db.connection_context(), self._db.atomic():
            return insert(self._db, row)

    def page(self, before: int | None, limit: int, action: str | None = None, actor: str | None = None,
             target: str | None = None) -> asyncio.Future:
        """→ an AuditPage: at most ``limit`` rows with ids below ``before`` (None: the newest), newest
        first, of the ``action``, by the actor named ``actor``, on the ``target`` (each exact; None: any)."""
        clauses, args = [], []
        for column, value in (("id < ?", before), ("action = ?", action), ("actor_name = ?", actor),
                              ("target = ?", target)):
            if value is not None:
                clauses.append(column)
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = self._store._q(f"SELECT {_COLUMNS} FROM audit_log {where} ORDER BY id DESC LIMIT ?")

        def query() -> AuditPage:
            rows = self._db.execute_sql(sql, (*args, limit + 1)).fetchall()
            return AuditPage([_shown(r) for r in rows[:limit]], len(rows) > limit)

        return self._store.read(query)
