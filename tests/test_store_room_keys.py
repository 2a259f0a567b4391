"""Room names that look alike, refused by the store itself (real SQLite): the
room_key table, the migration that adds it, and its refill when the key
function changes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from chatd.names import keys_version
from chatd.store import RoomExists
from chatd.store.admins import NameTaken
from chatd.store.migrations import SCHEMA_VERSION
from chatd.store.sqlite import SqliteStore

# A database as chatd wrote it at schema version 1, before room keys.
V1_SCHEMA = """
CREATE TABLE "room" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL COLLATE NOCASE, "topic" TEXT NOT NULL,
  "created" INTEGER NOT NULL);
CREATE UNIQUE INDEX "room_name" ON "room" ("name");
CREATE TABLE "user" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "created" INTEGER NOT NULL);
CREATE TABLE "message" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "room_id" INTEGER,
  "sender_id" INTEGER NOT NULL, "sender_name" TEXT NOT NULL, "recipient_id" INTEGER, "recipient_name" TEXT,
  "pair" TEXT, "text" TEXT NOT NULL,
  "ts" INTEGER NOT NULL, "cid" TEXT, FOREIGN KEY ("room_id") REFERENCES "room" ("id") ON DELETE CASCADE,
  FOREIGN KEY ("sender_id") REFERENCES "user" ("id"), FOREIGN KEY ("recipient_id") REFERENCES "user" ("id"));
CREATE INDEX "message_room_id_id" ON "message" ("room_id", "id");
CREATE INDEX "message_pair_id" ON "message" ("pair", "id");
CREATE INDEX "message_recipient_id_id" ON "message" ("recipient_id", "id");
CREATE INDEX "message_sender_id_id" ON "message" ("sender_id", "id");
CREATE UNIQUE INDEX "message_sender_id_cid" ON "message" ("sender_id", "cid");
CREATE TABLE "meta" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO user VALUES (1, 'alice', 0);
INSERT INTO room VALUES (1, 'lobby', '', 0), (2, 'Games', 'board games', 0);
INSERT INTO room VALUES (3, 'l\u043ebby', '', 0);
INSERT INTO message VALUES (1, 3, 1, 'alice', NULL, NULL, NULL, 'in the look-alike room', 0, 'c1');
"""


@pytest.fixture
async def store(tmp_path):
    store = SqliteStore(str(tmp_path / "chatd.db"))
    store.open(asyncio.get_running_loop())
    yield store
    store.close()


async def test_look_alike_room_names_are_refused_naming_the_room(store):
    await store.create_room("lobby", "")
    for name in ["LOBBY", "l\u043ebby", "ｌｏｂｂｙ", "𝐥𝐨𝐛𝐛𝐲", "l0bby", "Iobby"]:
        with pytest.raises(RoomExists) as e:
            await store.create_room(name, "")
        assert e.value.existing == "lobby"
    assert await store.create_room("lobbyist", "")  # its own name, its own keys
    assert [name for _, name, _ in store.rooms()] == ["lobby", "lobbyist"]


async def test_default_rooms_that_look_alike_are_not_created(store):
    assert store.ensure_rooms(["lobby", "LOBBY", "l\u043ebby", "news"]) == [("l\u043ebby", "lobby")]
    assert store.ensure_rooms(["lobby"]) == []  # already there: nothing to say
    assert [name for _, name, _ in store.rooms()] == ["lobby", "news"]


async def test_a_version_1_database_gets_room_keys_and_loses_nothing(tmp_path, caplog):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA.replace("\\u043e", "\u043e"))
    store = SqliteStore(str(path))
    with caplog.at_level(logging.WARNING, logger="chatd.store"):
        store.open(asyncio.get_running_loop())
    try:
        # Both look-alikes an older chatd let in stay, with their messages; the older owns the keys.
        assert [name for _, name, _ in store.rooms()] == ["lobby", "Games", "l\u043ebby"]
        page = await store.room_history(3, before=None, after=None, limit=10)
        assert [r.text for r in page.rows] == ["in the look-alike room"]
        assert "'l\u043ebby' looks like the older room 'lobby'" in caplog.text
        for name, existing in [("LOBBY", "lobby"), ("g\u0430mes", "Games"), ("l\u043eBBY", "lobby")]:
            with pytest.raises(RoomExists) as e:
                await store.create_room(name, "")
            assert e.value.existing == existing
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert db.execute("SELECT value FROM meta WHERE key = 'room_keys'").fetchone() == (keys_version(),)


async def test_room_keys_are_made_again_when_the_key_version_changes(tmp_path):
    path = tmp_path / "chatd.db"
    store = SqliteStore(str(path))
    store.open(asyncio.get_running_loop())
    await store.create_room("games", "")
    store.close()
    with sqlite3.connect(path) as db:  # as if written by a chatd with older confusables data
        db.execute("DELETE FROM room_key")
        db.execute("UPDATE meta SET value = 'uts39-0.0.0.1' WHERE key = 'room_keys'")
    again = SqliteStore(str(path))
    again.open(asyncio.get_running_loop())
    try:
        with pytest.raises(RoomExists):
            await again.create_room("g\u0430mes", "")
    finally:
        again.close()


async def test_admin_account_keys_are_made_again_when_the_key_version_changes(tmp_path):
    path = tmp_path / "chatd.db"
    store = SqliteStore(str(path))
    store.ensure_schema()
    store.admins.create("games", "games", "h")
    with sqlite3.connect(path) as db:  # as if written by a chatd with older confusables data
        db.execute("DELETE FROM admin_account_key")
        db.execute("UPDATE meta SET value = 'uts39-0.0.0.1' WHERE key = 'admin_keys'")
    again = SqliteStore(str(path))
    again.ensure_schema()
    with pytest.raises(NameTaken):
        again.admins.create("g\u0430mes", "g\u0430mes", "h")
