"""The store on a real SQLite file: schema, migrations, the writer thread."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from chatd.store import Draft, NoSuchUser, RoomExists, Store
from chatd.store.schema import SCHEMA_VERSION, SchemaError


@pytest.fixture
async def store(tmp_path):
    store = Store(str(tmp_path / "chatd.db"))
    store.open(asyncio.get_running_loop())
    yield store
    store.close()


def save(store: Store, draft: Draft) -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    store.save_message(draft, lambda result, error: future.set_exception(error) if error else future.set_result(result))
    return future


async def test_schema_version_is_recorded_and_reopening_keeps_data(tmp_path, store):
    uid = await store.create_user("alice")
    store.ensure_rooms(["lobby"])
    store.close()
    with sqlite3.connect(tmp_path / "chatd.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    again = Store(str(tmp_path / "chatd.db"))
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
    store = Store(str(path))
    with pytest.raises(SchemaError, match="newer"):
        store.open(asyncio.get_running_loop())
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT * FROM sqlite_master").fetchall() == before


async def test_ids_only_grow_and_a_burst_commits_in_groups(store):
    uid = await store.create_user("alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    before = store.writer.batches
    results = await asyncio.gather(*[save(store, Draft(uid, "alice", f"m{i}", room_id=room_id, room_name="lobby"))
                                     for i in range(300)])
    ids = [row.id for row, _ in results]
    assert ids == sorted(ids) and len(set(ids)) == 300
    assert store.writer.batches - before < 300  # grouped, not one commit each


async def test_same_sender_and_cid_is_stored_once(store):
    uid = await store.create_user("alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    draft = Draft(uid, "alice", "hi", cid="c1", room_id=room_id, room_name="lobby")
    (first, dup1), (second, dup2) = await asyncio.gather(save(store, draft), save(store, draft))
    assert (dup1, dup2) == (False, True) and first == second
    page = await store.room_history(room_id, before=None, after=None, limit=10)
    assert len(page.rows) == 1


async def test_a_failing_job_does_not_sink_its_batch(store):
    uid = await store.create_user("alice")
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
    a, b, c = [await store.create_user(n) for n in "abc"]
    for sender, to in [(a, b), (b, a), (a, c)]:
        await save(store, Draft(sender, "x", f"{sender}->{to}", recipient_id=to))
    convo = await store.conversation_history(a, b, before=None, after=None, limit=10)
    assert [m.text for m in convo.rows] == [f"{a}->{b}", f"{b}->{a}"]
    inbox_b = await store.private_history(b, before=None, after=None, limit=10)
    assert len(inbox_b.rows) == 2
    inbox_c = await store.private_history(c, before=None, after=None, limit=10)
    assert [m.recipient_id for m in inbox_c.rows] == [c]


async def test_backup_is_a_consistent_copy(tmp_path, store):
    await store.create_user("alice")
    await store.backup(str(tmp_path / "copy.db"))
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("SELECT name FROM user").fetchall() == [("alice",)]


async def test_a_later_migration_adds_a_column_to_an_existing_database(tmp_path, monkeypatch):
    """The path later releases take: append a step; old files upgrade in place."""
    from peewee import TextField
    from playhouse.migrate import SqliteMigrator, migrate

    from chatd.store import schema

    path = str(tmp_path / "old.db")
    old = Store(path)
    old.open(asyncio.get_running_loop())
    uid = await old.create_user("alice")
    old.close()

    def add_status(db):
        migrate(SqliteMigrator(db).add_column("user", "status", TextField(default="")))

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_status])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    new = Store(path)
    new.open(asyncio.get_running_loop())
    new.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name, status FROM user WHERE id = ?", (uid,)).fetchone() == ("alice", "")
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION + 1),)


async def test_a_page_stops_reading_once_its_texts_pass_max_chars(store):
    """The caller cuts a page to a byte size; the store reads just enough rows for it."""
    uid = await store.create_user("alice")
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    ids = [row.id for row, _ in await asyncio.gather(
        *[save(store, Draft(uid, "alice", "x" * 100, room_id=room_id, room_name="lobby")) for _ in range(10)])]
    forward = await store.room_history(room_id, before=None, after=0, limit=100, max_chars=250)
    assert [r.id for r in forward.rows] == ids[:3] and forward.more and forward.forward
    back = await store.room_history(room_id, before=None, after=None, limit=100, max_chars=250)
    assert [r.id for r in back.rows] == ids[-3:] and back.more and not back.forward
    one = await store.room_history(room_id, before=ids[1], after=None, limit=100, max_chars=50)
    assert [r.id for r in one.rows] == ids[:1] and not one.more  # the row that passes it is read, then no more
    whole = await store.room_history(room_id, before=None, after=0, limit=100, max_chars=1000)
    assert [r.id for r in whole.rows] == ids and not whole.more
