"""The store on a real SQLite file and a real PostgreSQL database (``any_store``):
schema, migrations, the writer thread, pages."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import psycopg
import pytest

from chatd.epoch import PRE_EPOCH
from chatd.store import DatabaseRefused, DatabaseUnreachable, Draft, NoSuchUser, RoomExists, StoreUnavailable
from chatd.store.base import INBOX_WHERE
from chatd.store.migrations import SCHEMA_VERSION
from chatd.store.postgres import PostgresStore
from chatd.store.rows import MessageRow, Quote, Stored, new_row, newly_stored
from chatd.store.sqlite import SqliteStore
from tests.stores import new_user, opened, save


async def test_schema_version_is_recorded_and_reopening_keeps_data(store_url, any_store):
    uid = await new_user(any_store, "alice")
    any_store.ensure_rooms(["lobby"])
    any_store.close()
    again = opened(store_url)
    try:
        with again.db.connection_context():
            version = again.db.execute_sql("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
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
    with pytest.raises(DatabaseRefused, match="newer"):
        store.open(asyncio.get_running_loop())
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM sqlite_master").fetchall() == before


async def test_ids_only_grow_and_a_burst_commits_in_groups(any_store):
    uid = await new_user(any_store, "alice")
    any_store.ensure_rooms(["lobby"])
    room_id = any_store.rooms()[0][0]
    before = any_store.writer.batches
    results = await asyncio.gather(*[save(any_store, Draft(uid, "alice", f"m{i}", room_id=room_id, room_name="lobby"))
                                     for i in range(300)])
    ids = [result.row.id for result in results]
    assert ids == sorted(ids) and len(set(ids)) == 300
    assert any_store.writer.batches - before < 300  # grouped, not one commit each


async def test_same_sender_and_cid_is_stored_once(any_store):
    uid = await new_user(any_store, "alice")
    any_store.ensure_rooms(["lobby"])
    room_id = any_store.rooms()[0][0]
    draft = Draft(uid, "alice", "hi", cid="c1", room_id=room_id, room_name="lobby")
    (first, dup1, *_), (second, dup2, *_) = await asyncio.gather(save(any_store, draft), save(any_store, draft))
    assert (dup1, dup2) == (False, True) and first == second
    page = await any_store.room_history(room_id, before=None, after=None, limit=10)
    assert len(page.rows) == 1


async def test_any_string_is_a_cid_and_no_two_meet(any_store):
    """A cid is any string the client chose: NUL too (which PostgreSQL text cannot hold)."""
    uid = await new_user(any_store, "alice")
    any_store.ensure_rooms(["lobby"])
    room_id = any_store.rooms()[0][0]
    cids = ["\x00", "\\0", "\\\x00", "\\\\0", "a\x00b"]
    first = [await save(any_store, Draft(uid, "alice", repr(c), cid=c, room_id=room_id)) for c in cids]
    again = [await save(any_store, Draft(uid, "alice", repr(c), cid=c, room_id=room_id)) for c in cids]
    assert [s.duplicate for s in first] == [False] * len(cids) and len({s.row.id for s in first}) == len(cids)
    assert [s.row.id for s in again] == [s.row.id for s in first] and all(s.duplicate for s in again)


async def hold_writer(store) -> threading.Event:
    """Keep the writer busy until the event is set: what is submitted meanwhile commits as one batch."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    store.writer.submit(hold, lambda result, error: None)
    await asyncio.to_thread(started.wait, 10)
    return release


async def test_a_failing_job_does_not_sink_its_batch(any_store):
    uid = await new_user(any_store, "alice")
    any_store.ensure_rooms(["lobby"])
    room_id = any_store.rooms()[0][0]
    release = await hold_writer(any_store)
    good = save(any_store, Draft(uid, "alice", "ok", room_id=room_id, room_name="lobby"))
    bad = save(any_store, Draft(uid, "alice", "to nobody", recipient_id=12345))
    # Refused by the database itself (a foreign key): on PostgreSQL that aborts the transaction.
    gone = save(any_store, Draft(uid, "alice", "to no room", room_id=room_id + 1000, room_name="gone"))
    also = save(any_store, Draft(uid, "alice", "ok too", room_id=room_id, room_name="lobby"))
    batches = any_store.writer.batches
    release.set()
    assert (await good)[0].text == "ok" and (await also)[0].text == "ok too"
    with pytest.raises(NoSuchUser):
        await bad
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):  # each driver's own
        await gone
    assert any_store.writer.batches == batches + 2  # the held one, then the four together
    page = await any_store.room_history(room_id, before=None, after=None, limit=10)
    assert [row.text for row in page.rows] == ["ok", "ok too"]


async def test_room_names_are_unique_ignoring_case(any_store):
    await any_store.create_room("Games", "")
    with pytest.raises(RoomExists):
        await any_store.create_room("games", "")


async def test_private_history_and_conversations(any_store):
    a, b, c = [await new_user(any_store, n) for n in "abc"]
    for sender, to in [(a, b), (b, a), (a, c)]:
        await save(any_store, Draft(sender, "x", f"{sender}->{to}", recipient_id=to))
    convo = await any_store.conversation_history(a, b, before=None, after=None, limit=10)
    assert [m.text for m in convo.rows] == [f"{a}->{b}", f"{b}->{a}"]
    inbox_b = await any_store.private_history(b, before=None, after=None, limit=10)
    assert len(inbox_b.rows) == 2
    inbox_c = await any_store.private_history(c, before=None, after=None, limit=10)
    assert [m.recipient_id for m in inbox_c.rows] == [c]


async def test_backup_is_a_consistent_copy(tmp_path, any_store):
    await new_user(any_store, "alice")
    if isinstance(any_store, PostgresStore):
        with pytest.raises(StoreUnavailable, match="pg_dump.*meta table"):
            await any_store.backup(str(tmp_path / "copy.db"))
        return
    await any_store.backup(str(tmp_path / "copy.db"))
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("SELECT name FROM user").fetchall() == [("alice",)]


async def test_a_backup_that_cannot_be_written_is_the_targets_failure_not_the_databases(tmp_path):
    """A backup to a place SQLite cannot open made the server report its own database unreachable."""
    sqlite_store = opened(str(tmp_path / "chatd.db"))
    await new_user(sqlite_store, "alice")
    for target in (tmp_path / "no" / "such" / "dir" / "copy.db", tmp_path):  # cannot be opened; a directory
        with pytest.raises(OSError) as e:
            await sqlite_store.backup(str(target))
        assert not isinstance(e.value, DatabaseUnreachable) and sqlite_store.health.down() is None, e.value
    assert (await sqlite_store.stats())["messages"] == 0  # and the database answers
    sqlite_store.close()


async def test_a_later_migration_adds_a_column_to_an_existing_database(store_url, monkeypatch):
    """The path later releases take: append a step (playhouse.migrate, either dialect);
    databases upgrade in place."""
    from peewee import TextField
    from playhouse.migrate import migrate

    from chatd.store import migrations

    old = opened(store_url)
    uid = await new_user(old, "alice")
    old.close()

    def add_status(db):
        migrate(migrations.migrator(db).add_column("user", "status", TextField(default="")))

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, add_status])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    new = opened(store_url)
    try:
        with new.db.connection_context():
            row = new.db.execute_sql(new._q('SELECT name, status FROM "user" WHERE id = ?'), (uid,)).fetchone()
            version = new.db.execute_sql("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert tuple(row) == ("alice", "") and version == (str(SCHEMA_VERSION + 1),)
    finally:
        new.close()


def private_index_definitions(store) -> list[str]:
    """How the database defines the (pair, id) and (recipient, id) indexes of messages."""
    sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = ?" if isinstance(store, PostgresStore)
           else "SELECT sql FROM sqlite_master WHERE name = ?")
    with store.db.connection_context():
        return [store.db.execute_sql(store._q(sql), (name,)).fetchone()[0]
                for name in ("message_pair_id", "message_recipient_id_id")]


async def test_a_database_from_before_version_21_gets_private_indexes_that_private_reads_use(store_url):
    """v21: the (pair, id) and (recipient, id) indexes hold private messages only (WHERE ... IS NOT
    NULL), and the reads by conversation and by inbox go through them as they did the whole ones."""
    store = opened(store_url)
    alice, bob = await new_user(store, "alice"), await new_user(store, "bob")
    lobby = await store.create_room("lobby", "")
    await save(store, Draft(alice, "alice", "hi all", room_id=lobby, room_name="lobby"))
    psst = (await save(store, Draft(alice, "alice", "psst", recipient_id=bob))).row.id
    assert all("IS NOT NULL" in d for d in private_index_definitions(store)), "a new database has them partial"
    with store.db.connection_context():  # as the chatd of version 20 left it: whole indexes
        for sql in ('DROP INDEX "message_pair_id"', 'DROP INDEX "message_recipient_id_id"',
                    'CREATE INDEX "message_pair_id" ON "message" ("pair", "id")',
                    'CREATE INDEX "message_recipient_id_id" ON "message" ("recipient_id", "id")'):
            store.db.execute_sql(sql)
        store.db.execute_sql(store._q("UPDATE meta SET value = ? WHERE key = 'schema_version'"), ("20",))
    store.close()
    store = opened(store_url)
    try:
        assert [r.id for r in (await store.conversation_history(alice, bob, before=None, after=None,
                                                                limit=10)).rows] == [psst]
        assert [r.id for r in (await store.private_history(bob, before=None, after=None, limit=10)).rows] == [psst]
        definitions = private_index_definitions(store)
        postgres = isinstance(store, PostgresStore)
        with store.db.connection_context():
            if postgres:
                store.db.execute_sql("SET enable_seqscan = off")  # a test's table is small enough for a scan
            reads = {"message_pair_id": (store._page_query("m.pair = ? AND m.id < ?", "DESC", 11, None)[0],
                                         ("1:2", psst + 1, 11)),
                     "message_recipient_id_id": (store._page_query(INBOX_WHERE, "DESC", 11, None)[0], (bob, bob, 11))}
            plans = {index: " ".join(str(row) for row in store.db.execute_sql(
                         store._q(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + sql), args).fetchall())
                     for index, (sql, args) in reads.items()}
        assert all("IS NOT NULL" in d for d in definitions), definitions
        for index, plan in plans.items():
            assert index in plan, plan
    finally:
        store.close()


def test_a_new_row_and_its_result_are_what_their_fields_make_by_name():
    """new_row and newly_stored build the tuples whole (the writer's hot path): a field added to
    MessageRow or Stored must be added there too, or this fails."""
    quote = Quote(3, 1, "ann", "hi", False)
    draft = Draft(7, "bob", "hey @ann", "c1", room_id=2, room_name="lobby", quote=quote)
    row = new_row(9, draft, None, 1234, ",1,")
    assert row == MessageRow(9, "lobby", 7, "bob", None, None, "hey @ann", 1234, reply_to=3, mentions=",1,",
                             quote=quote)
    assert type(row) is MessageRow and len(row) == len(MessageRow._fields) and row.reactions == ()
    stored = newly_stored(row, ("room:2",), None)
    assert stored == Stored(row, False, ("room:2",), None) and type(stored) is Stored
    assert len(stored) == len(Stored._fields)


async def test_a_page_stops_reading_once_its_texts_pass_max_chars(any_store):
    """The caller cuts a page to a byte size; the store reads just enough rows for it."""
    uid = await new_user(any_store, "alice")
    any_store.ensure_rooms(["lobby"])
    room_id = any_store.rooms()[0][0]
    ids = [stored.row.id for stored in await asyncio.gather(
        *[save(any_store, Draft(uid, "alice", "x" * 100, room_id=room_id, room_name="lobby")) for _ in range(10)])]
    forward = await any_store.room_history(room_id, before=None, after=0, limit=100, max_chars=250)
    assert [r.id for r in forward.rows] == ids[:3] and forward.more and forward.forward
    back = await any_store.room_history(room_id, before=None, after=None, limit=100, max_chars=250)
    assert [r.id for r in back.rows] == ids[-3:] and back.more and not back.forward
    one = await any_store.room_history(room_id, before=ids[1], after=None, limit=100, max_chars=50)
    assert [r.id for r in one.rows] == ids[:1] and not one.more  # the row that passes it is read, then no more
    whole = await any_store.room_history(room_id, before=None, after=0, limit=100, max_chars=1000)
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


async def test_every_new_database_gets_its_own_epoch(tmp_path, any_store):
    other = opened(str(tmp_path / "other.db"))
    other.close()
    assert any_store.epoch.id != other.epoch.id and not any_store.epoch.trusted
