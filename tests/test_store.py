"""The store on a real SQLite file: schema, migrations, the writer thread."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from chatd.epoch import PRE_EPOCH
from chatd.store import Draft, NoSuchUser, RoomExists, Store
from chatd.store.schema import SCHEMA_VERSION, SchemaError
from chatd.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path):
    store = SqliteStore(str(tmp_path / "chatd.db"))
    store.open(asyncio.get_running_loop())
    yield store
    store.close()


async def new_user(store: Store, name: str) -> int:
    """A new user (with its first sign-in, as identify makes one); → its id."""
    return (await store.sign_ins.sign_up(name)).user_id


def save(store: Store, draft: Draft) -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    store.save_message(draft, lambda result, error: future.set_exception(error) if error else future.set_result(result))
    return future


async def test_schema_version_is_recorded_and_reopening_keeps_data(tmp_path, store):
    uid = await new_user(store, "alice")
    store.ensure_rooms(["lobby"])
    store.close()
    with sqlite3.connect(tmp_path / "chatd.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    again = SqliteStore(str(tmp_path / "chatd.db"))
    again.open(asyncio.get_running_loop())
    try:
        assert await again.user_name(uid) == "alice"
        assert [name for _, name, _ in again.rooms()] == ["lobby"]
    finally:
        again.close()


async def test_newer_schema_is_refused_without_touching_the_file(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '999')")
        before = db.execute("SELECT * FROM sqlite_master").fetchall()
    store = SqliteStore(str(path))
    with pytest.raises(SchemaError, match="newer"):
        store.open(asyncio.get_running_loop())
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM sqlite_master").fetchall() == before


async def test_ids_only_grow_and_a_burst_commits_in_groups(store):
    uid = await new_user(store, "alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    before = store.writer.batches
    results = await asyncio.gather(*[save(store, Draft(uid, "alice", f"m{i}", room_id=room_id, room_name="lobby"))
                                     for i in range(300)])
    ids = [result.row.id for result in results]
    assert ids == sorted(ids) and len(set(ids)) == 300
    assert store.writer.batches - before < 300  # grouped, not one commit each


async def test_same_sender_and_cid_is_stored_once(store):
    uid = await new_user(store, "alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    draft = Draft(uid, "alice", "hi", cid="c1", room_id=room_id, room_name="lobby")
    (first, dup1, *_), (second, dup2, *_) = await asyncio.gather(save(store, draft), save(store, draft))
    assert (dup1, dup2) == (False, True) and first == second
    page = await store.room_history(room_id, before=None, after=None, limit=10)
    assert len(page.rows) == 1


async def test_a_failing_job_does_not_sink_its_batch(store):
    uid = await new_user(store, "alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    good = save(store, Draft(uid, "alice", "ok", room_id=room_id, room_name="lobby"))
    bad = save(store, Draft(uid, "alice", "to nobody", recipient_id=12345))
    assert (await good)[0].text == "ok"
    with pytest.raises(NoSuchUser):
        await bad


async def test_room_names_are_unique_ignoring_case(store):
    await store.create_room("Games", "")
    with pytest.raises(RoomExists):
        await store.create_room("games", "")


async def test_private_history_and_conversations(store):
    a, b, c = [await new_user(store, n) for n in "abc"]
    for sender, to in [(a, b), (b, a), (a, c)]:
        await save(store, Draft(sender, "x", f"{sender}->{to}", recipient_id=to))
    convo = await store.conversation_history(a, b, before=None, after=None, limit=10)
    assert [m.text for m in convo.rows] == [f"{a}->{b}", f"{b}->{a}"]
    inbox_b = await store.private_history(b, before=None, after=None, limit=10)
    assert len(inbox_b.rows) == 2
    inbox_c = await store.private_history(c, before=None, after=None, limit=10)
    assert [m.recipient_id for m in inbox_c.rows] == [c]


async def test_backup_is_a_consistent_copy(tmp_path, store):
    await new_user(store, "alice")
    await store.backup(str(tmp_path / "copy.db"))
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("SELECT name FROM user").fetchall() == [("alice",)]


async def test_a_later_migration_adds_a_column_to_an_existing_database(tmp_path, monkeypatch):
    """The path later releases take: append a step; old files upgrade in place."""
    from peewee import TextField
    from playhouse.migrate import SqliteMigrator, migrate

    from chatd.store import schema

    path = str(tmp_path / "old.db")
    old = SqliteStore(path)
    old.open(asyncio.get_running_loop())
    uid = await new_user(old, "alice")
    old.close()

    def add_status(db):
        migrate(SqliteMigrator(db).add_column("user", "status", TextField(default="")))

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_status])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    new = SqliteStore(path)
    new.open(asyncio.get_running_loop())
    new.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name, status FROM user WHERE id = ?", (uid,)).fetchone() == ("alice", "")
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION + 1),)


async def test_a_page_stops_reading_once_its_texts_pass_max_chars(store):
    """The caller cuts a page to a byte size; the store reads just enough rows for it."""
    uid = await new_user(store, "alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    ids = [stored.row.id for stored in await asyncio.gather(
        *[save(store, Draft(uid, "alice", "x" * 100, room_id=room_id, room_name="lobby")) for _ in range(10)])]
    forward = await store.room_history(room_id, before=None, after=0, limit=100, max_chars=250)
    assert [r.id for r in forward.rows] == ids[:3] and forward.more and forward.forward
    back = await store.room_history(room_id, before=None, after=None, limit=100, max_chars=250)
    assert [r.id for r in back.rows] == ids[-3:] and back.more and not back.forward
    one = await store.room_history(room_id, before=ids[1], after=None, limit=100, max_chars=50)
    assert [r.id for r in one.rows] == ids[:1] and not one.more  # the row that passes it is read, then no more
    whole = await store.room_history(room_id, before=None, after=0, limit=100, max_chars=1000)
    assert [r.id for r in whole.rows] == ids and not whole.more


# What chatd of schema version 1 created (its peewee models, as SQL), for the migration tests.
V1_SCHEMA = """
CREATE TABLE "meta" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE "user" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "created" INTEGER NOT NULL);
CREATE TABLE "room" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL COLLATE NOCASE, "topic" TEXT NOT NULL,
    "created" INTEGER NOT NULL);
CREATE UNIQUE INDEX "room_name" ON "room" ("name");
CREATE TABLE "message" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "room_id" INTEGER,
    "sender_id" INTEGER NOT NULL, "sender_name" TEXT NOT NULL, "recipient_id" INTEGER, "recipient_name" TEXT,
    "pair" TEXT, "text" TEXT NOT NULL, "ts" INTEGER NOT NULL, "cid" TEXT,
    FOREIGN KEY ("room_id") REFERENCES "room" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("sender_id") REFERENCES "user" ("id"), FOREIGN KEY ("recipient_id") REFERENCES "user" ("id"));
CREATE INDEX "message_room_id" ON "message" ("room_id");
CREATE INDEX "message_sender_id" ON "message" ("sender_id");
CREATE INDEX "message_recipient_id" ON "message" ("recipient_id");
CREATE INDEX "message_room_id_id" ON "message" ("room_id", "id");
CREATE INDEX "message_pair_id" ON "message" ("pair", "id");
CREATE INDEX "message_recipient_id_id" ON "message" ("recipient_id", "id");
CREATE INDEX "message_sender_id_id" ON "message" ("sender_id", "id");
CREATE UNIQUE INDEX "message_sender_id_cid" ON "message" ("sender_id", "cid");
INSERT INTO meta VALUES ('schema_version', '1'), ('token_secret', '{secret}');
INSERT INTO user VALUES (1, 'alice', 0), (2, 'bob', 0), (3, 'carol', 0);
INSERT INTO room VALUES (1, 'lobby', '', 0);
INSERT INTO message (room_id, sender_id, sender_name, text, ts) VALUES (1, 1, 'alice', 'hello', 0);
INSERT INTO message (sender_id, sender_name, recipient_id, recipient_name, pair, text, ts)
    VALUES (3, 'carol', 2, 'bob', '2:3', 'psst', 0);
"""


def make_v1_database(path, secret: str = "ab" * 32) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA.replace("{secret}", secret))
    db.close()


async def test_a_version_1_database_opens_with_its_data_and_never_reuses_user_ids(tmp_path):
    """Version 2 made user ids AUTOINCREMENT (a table rebuild) and gave the database its epoch."""
    path = tmp_path / "v1.db"
    make_v1_database(path)
    store = SqliteStore(str(path))
    store.open(asyncio.get_running_loop())
    try:
        assert [await store.user_name(i) for i in (1, 2, 3)] == ["alice", "bob", "carol"]
        assert store.secret() == bytes.fromhex("ab" * 32), "tokens signed before the upgrade stay valid"
        assert store.epoch.same_database(PRE_EPOCH) and store.epoch.token_problem(PRE_EPOCH, 3) is None
        inbox = await store.private_history(2, before=None, after=None, limit=10)
        assert [r.text for r in inbox.rows] == ["psst"]
        assert await new_user(store, "dave") == 4
        assert store.newest_id == 2 and await store.newest(at_least=3) == 2
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert "AUTOINCREMENT" in db.execute("SELECT sql FROM sqlite_master WHERE name = 'user'").fetchone()[0]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA foreign_keys").fetchone() == (0,)  # a fresh connection: off unless asked
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        # The highest user gone (not something chatd does, but a plain rowid would hand its id out again):
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("DELETE FROM user WHERE id = 4")
        db.execute("INSERT INTO user (name, created) VALUES ('erin', 0)")
        assert db.execute("SELECT id FROM user WHERE name = 'erin'").fetchone() == (5,)
    db.close()


async def test_every_new_database_gets_its_own_epoch(tmp_path):
    epochs = []
    for name in ("a.db", "b.db"):
        store = SqliteStore(str(tmp_path / name))
        store.open(asyncio.get_running_loop())
        epochs.append(store.epoch)
        store.close()
    assert epochs[0].id != epochs[1].id and not epochs[0].trusted
