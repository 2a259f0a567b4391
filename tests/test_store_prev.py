"""A store shared with other processes (SQLite with a bus; PostgreSQL always) tells, per
channel, which message came before (chatd.bus ``prev``)."""

import asyncio

import pytest

from chatd.store import Draft
from chatd.store.sqlite import SqliteStore
from tests.stores import opened, save


@pytest.fixture
async def shared(store_url):
    store = opened(store_url, shared=True)
    yield store
    store.close()


async def test_prev_chains_each_room_and_each_inbox(shared):
    alice = (await shared.sign_ins.sign_up("alice")).user_id
    bob = (await shared.sign_ins.sign_up("bob")).user_id
    shared.ensure_rooms(["lobby", "other"])
    (lobby, _, _), (other, _, _) = shared.rooms()
    first = await save(shared, Draft(alice, "alice", "1", room_id=lobby, room_name="lobby"))
    await save(shared, Draft(alice, "alice", "elsewhere", room_id=other, room_name="other"))
    to_bob = await save(shared, Draft(alice, "alice", "psst", recipient_id=bob))
    second = await save(shared, Draft(alice, "alice", "2", room_id=lobby, room_name="lobby"))
    reply = await save(shared, Draft(bob, "bob", "hi", recipient_id=alice))
    to_self = await save(shared, Draft(alice, "alice", "note", recipient_id=alice))
    assert (first.channels, first.prev) == ((f"room:{lobby}",), (0,))
    assert (second.channels, second.prev) == ((f"room:{lobby}",), (first.row.id,))
    assert (to_bob.channels, to_bob.prev) == ((f"user:{alice}", f"user:{bob}"), (0, 0))
    assert (reply.channels, reply.prev) == ((f"user:{bob}", f"user:{alice}"), (to_bob.row.id, to_bob.row.id))
    assert (to_self.channels, to_self.prev) == ((f"user:{alice}",), (reply.row.id,))


async def test_a_store_of_one_process_tracks_no_prev(tmp_path):
    store = SqliteStore(str(tmp_path / "chatd.db"))
    store.open(asyncio.get_running_loop())
    try:
        uid = (await store.sign_ins.sign_up("alice")).user_id
        store.ensure_rooms(["lobby"])
        stored = await save(store, Draft(uid, "alice", "hi", room_id=store.rooms()[0][0], room_name="lobby"))
        assert stored.prev is None and not stored.duplicate
    finally:
        store.close()
