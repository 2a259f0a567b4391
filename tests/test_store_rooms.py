"""What the store keeps for the limits on rooms (real SQLite): who created a
room (schema version 4), whether it was ever written in, and a removal that
never takes a message with it."""

from __future__ import annotations

import asyncio
import sqlite3

from chatd.store import RoomUse, Store
from chatd.store.sqlite import SqliteStore
from tests.test_store_room_keys import V1_SCHEMA


def open_v1(path) -> Store:
    """A store opened on a database chatd of schema version 1 wrote (migrated on open)."""
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
    db.close()
    store = SqliteStore(str(path))
    store.open(asyncio.get_running_loop())
    return store


async def test_rooms_from_before_creators_were_kept_have_none_and_their_messages_count(tmp_path):
    path = tmp_path / "old.db"
    store = open_v1(path)
    try:
        assert store.room_uses() == {1: RoomUse(None, False), 2: RoomUse(None, False), 3: RoomUse(None, True)}
        alice, _ = await store.sign_ins.sign_up("alice2")
        games = await store.create_room("chess", "", alice)
        assert store.room_uses()[games] == RoomUse(alice, False)
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {row[1] for row in db.execute("PRAGMA index_list('room')")}
    db.close()
    assert "room_creator_id" in indexes  # as a database made new has it


async def test_a_removed_room_goes_with_its_name_keys_and_one_with_a_message_stays(tmp_path):
    path = tmp_path / "old.db"
    store = open_v1(path)
    try:
        assert await store.delete_room(2) is True
        assert await store.create_room("GAMES", "") > 3  # its name (and look-alikes) free again
        assert await store.delete_room(3) is False  # holds a message: kept, message and all
        inbox = await store.room_history(3, before=None, after=None, limit=10)
        assert [row.text for row in inbox.rows] == ["in the look-alike room"]
    finally:
        store.close()
