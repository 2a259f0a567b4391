"""Stored notifications in the store (chatd.store.events), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from chatd.store import NoSuchUser
from chatd.store.migrations import MIGRATIONS, _v10_events
from chatd.store.schema import MODELS, StoredEvent
from tests.stores import new_user, opened

DAY_MS = 86_400_000


async def test_each_users_events_are_numbered_from_one_without_gaps(any_store):
    alice, bob = await new_user(any_store, "alice"), await new_user(any_store, "bob")
    rows = [await any_store.events.save(uid, "order.shipped", f'{{"n":{i}}}', DAY_MS)
            for i, uid in enumerate([alice, bob, alice, alice, bob])]
    assert [(r.user_id, r.id) for r in rows] == [(alice, 1), (bob, 1), (alice, 2), (alice, 3), (bob, 2)]
    assert rows[0].expires == rows[0].ts + DAY_MS


async def test_events_saved_together_commit_in_number_order(any_store):
    alice = await new_user(any_store, "alice")
    rows = await asyncio.gather(*(any_store.events.save(alice, "tick", str(i), DAY_MS) for i in range(50)))
    assert [r.id for r in rows] == list(range(1, 51))
    assert [r.data for r in rows] == [str(i) for i in range(50)]


async def test_an_event_for_no_user_is_refused(any_store):
    with pytest.raises(NoSuchUser):
        await any_store.events.save(424242, "x", "1", DAY_MS)


async def test_a_page_is_the_oldest_above_after_or_with_newest_the_newest_oldest_first(any_store):
    alice = await new_user(any_store, "alice")
    for i in range(10):
        await any_store.events.save(alice, "n", str(i), DAY_MS)
    forward = await any_store.events.page(alice, after=3, limit=4, max_bytes=1000)
    assert [r.id for r in forward.rows] == [4, 5, 6, 7] and forward.more
    newest = await any_store.events.page(alice, after=3, limit=4, max_bytes=1000, newest=True)
    assert [r.id for r in newest.rows] == [7, 8, 9, 10] and newest.more
    everything = await any_store.events.page(alice, after=0, limit=100, max_bytes=1000, newest=True)
    assert [r.id for r in everything.rows] == list(range(1, 11)) and not everything.more


async def test_a_page_stops_after_the_row_that_passes_max_bytes(any_store):
    alice = await new_user(any_store, "alice")
    for _ in range(5):
        await any_store.events.save(alice, "big", '"' + "x" * 98 + '"', DAY_MS)  # 100 bytes each
    page = await any_store.events.page(alice, after=0, limit=100, max_bytes=250)
    assert [r.id for r in page.rows] == [1, 2, 3] and page.more


async def test_expired_events_are_not_read_and_are_purged_but_numbering_goes_on(any_store):
    alice = await new_user(any_store, "alice")
    for _ in range(3):
        await any_store.events.save(alice, "gone", "0", 0)  # expires as it is stored
    kept = await any_store.events.save(alice, "kept", "1", DAY_MS)
    page = await any_store.events.page(alice, after=0, limit=100, max_bytes=1000)
    assert [r.id for r in page.rows] == [kept.id] == [4]

    for _ in range(2):
        await any_store.events.save(alice, "gone", "0", 0)  # 5 and 6: 6 is alice's newest
    assert await any_store.events.purge(limit=1000) == 4  # 1, 2, 3 and 5; never the newest (6)
    assert await any_store.events.purge(limit=1000) == 0
    assert (await any_store.events.save(alice, "after", "2", DAY_MS)).id == 7  # never a number twice


async def test_purge_deletes_at_most_limit_per_call(any_store):
    alice = await new_user(any_store, "alice")
    for _ in range(6):
        await any_store.events.save(alice, "gone", "0", 0)
    assert await any_store.events.purge(limit=2) == 2
    assert await any_store.events.purge(limit=10) == 3  # the newest stays


async def test_the_migration_step_gives_an_older_database_the_event_table(tmp_path):
    store = opened(str(tmp_path / "old.db"))
    store.close()
    with store.db.connection_context(), store.db.bind_ctx(MODELS):
        store.db.execute_sql('DROP TABLE "event"')  # as a database of the version before has it
        assert _v10_events in MIGRATIONS
        _v10_events(store.db)
        assert StoredEvent.table_exists()
        indexes = {(tuple(i.columns), i.unique) for i in store.db.get_indexes("event")}
        assert {(("user_id", "seq"), True), (("expires",), False)} <= indexes
