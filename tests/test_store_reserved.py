"""Rooms care in the store, SQLite and PostgreSQL: reserved names kept, a room's flags
and retention stored with their audit rows, and a database from before them upgraded."""

from __future__ import annotations

import pytest

from chatd.audit import SYSTEM, entry
from chatd.store.members import RETENTION_GLOBAL
from chatd.store.reserved import NameExists
from tests.stores import migrations_until, opened, set_back


def row(action: str = "name.reserve") -> dict:
    return entry(SYSTEM, action, "name:x")


async def test_reserved_names_are_kept_once_each_with_their_audit_rows(any_store):
    first = await any_store.reserved.add("Admin", "any", "staff", row())
    await any_store.reserved.add("*mod*", "user", "", row())
    with pytest.raises(NameExists):
        await any_store.reserved.add("Admin", "room", "", row())
    assert [(e.id, e.pattern, e.scope, e.reason) for e in await any_store.reserved.load()] == [
        (first, "Admin", "any", "staff"), (first + 1, "*mod*", "user", "")]
    gone = await any_store.reserved.remove(first, lambda held: row("name.release"))
    assert gone.pattern == "Admin" and await any_store.reserved.remove(first, lambda held: row()) is None
    audit = (await any_store.audit.page(None, 10)).rows
    assert [r["action"] for r in audit] == ["name.release", "name.reserve", "name.reserve"]


async def test_a_rooms_flags_and_retention_are_stored_and_read_back(any_store):
    room = await any_store.create_room("news", "")
    assert await any_store.members.update_room(room, None, None, row("room.archive"), archived=True,
                                               announcement=True, retention_days=7)
    uses = await any_store.read(any_store.room_uses)
    assert (uses[room].archived, uses[room].announcement) == (True, True)
    assert (await any_store.read(any_store.room_rows))[-1][-2:] == (True, True)
    assert await any_store.members.update_room(room, None, None, None, retention_days=RETENTION_GLOBAL)
    days = await any_store.read(lambda: any_store.db.execute_sql(
        any_store._q("SELECT retention_days FROM room WHERE id = ?"), (room,)).fetchone()[0])
    assert days is None
    assert not await any_store.members.update_room(room + 100, None, None, row(), archived=True)
    assert len((await any_store.audit.page(None, 10)).rows) == 1, "no row for a room that is not there"


async def test_a_database_from_before_opens_with_every_room_open(tmp_path, monkeypatch):
    before = migrations_until(monkeypatch, "_v16_rooms_care")
    path = str(tmp_path / "chatd.db")
    store = opened(path)
    await store.create_room("games", "")
    store.close()
    set_back(path, before, "DROP TABLE reserved_name", *(f"ALTER TABLE room DROP COLUMN {column}"
                                                         for column in ("archived", "announcement", "retention_days")))
    store = opened(path)
    try:
        uses = await store.read(store.room_uses)
        assert [(u.archived, u.announcement) for u in uses.values()] == [(False, False)]
        assert await store.reserved.load() == []
    finally:
        store.close()
