"""Reserved and blocked names in the store, SQLite or PostgreSQL (``chatd.reserved`` has the rules).

Each change commits with its audit row (``chatd.store.audit``). Writes go through
the writer thread, reads through the reader pool.

    names = store.reserved
    entries = await names.load()                                          # [Reserved], by id
    entry_id = await names.add("admin", "any", "staff only", audit_row)   # NameExists if written already
    removed = await names.remove(entry_id, lambda entry: audit_row)       # → the entry, or None
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from peewee import IntegrityError

from chatd.reserved import Reserved, entry, pattern_key
from chatd.store.schema import ReservedName, now_ms

if TYPE_CHECKING:
    from chatd.store import Store


class NameExists(Exception):
    """The pattern is in the list already (``args[0]``: the entry's pattern, as it was written)."""


class ReservedStore:
    def __init__(self, store: Store):
        self._store = store

    def rows(self) -> list[Reserved]:
        """Every entry, by id; blocking: for ``load`` and for commands working on the database."""
        query = ReservedName.select(ReservedName.id, ReservedName.pattern, ReservedName.scope, ReservedName.reason)
        return [entry(*row) for row in query.order_by(ReservedName.id).tuples().execute(self._store.db)]

    def load(self) -> asyncio.Future:
        """→ every entry, by id (the reader pool)."""
        return self._store.read(self.rows)

    def add(self, pattern: str, scope: str, reason: str, audit: dict) -> asyncio.Future:
        """Add an entry with its audit row; → its id. NameExists (with the entry listed) if the
        pattern is listed, whatever its scope (remove it first to change it): written the same
        but perhaps for case (``chatd.reserved.pattern_key``: ``*ADMIN*`` beside ``*admin*``).
        Checked in the writer, so one node's two admins cannot both add one."""
        def job() -> int:
            db = self._store.db
            key = pattern_key(pattern)
            listed = ReservedName.select(ReservedName.pattern).tuples().execute(db)
            same = next((row[0] for row in listed if pattern_key(row[0]) == key), None)
            if same is not None:
                raise NameExists(same)
            try:
                with db.atomic():
                    entry_id = ReservedName.insert(pattern=pattern, scope=scope, reason=reason,
                                                   created=now_ms()).execute(db)
                    self._store.audit.insert(audit)
            except IntegrityError:
                raise NameExists(pattern) from None
            return entry_id

        return self._store.writer.run(job)

    def remove(self, entry_id: int, audit: Callable[[Reserved], dict]) -> asyncio.Future:
        """Remove an entry with its audit row (``audit(the entry)``); → the entry removed, or None
        if there was none."""
        def job() -> Reserved | None:
            db = self._store.db
            with db.atomic():
                row = (ReservedName.select(ReservedName.id, ReservedName.pattern, ReservedName.scope,
                                           ReservedName.reason).where(ReservedName.id == entry_id)
                       .tuples().execute(db))
                found = next(iter(row), None)
                if found is None:
                    return None
                removed = entry(*found)
                ReservedName.delete().where(ReservedName.id == entry_id).execute(db)
                self._store.audit.insert(audit(removed))
            return removed

        return self._store.writer.run(job)
