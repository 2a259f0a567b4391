"""The names written for the next process (``chatd.store.nameholds``), on SQLite and PostgreSQL:
written through the writer, read at start, pruned; a database from before them gets the table."""

from __future__ import annotations

import asyncio

from chatd.store.schema import now_ms
from chatd.store.userdata import erase_identity
from tests.stores import new_user, opened


async def written(store) -> None:
    """Until the writer has committed what was submitted before (it commits in order)."""
    await store.writer.run(lambda: None)


async def test_names_online_and_let_go_lately_are_read_back_and_older_ones_pruned(any_store):
    ann, bob, cy = [await new_user(any_store, name) for name in ("Ann", "Bob", "Cy")]
    holds, now = any_store.name_holds, now_ms()
    holds.online(ann, "Ann")
    holds.online(bob, "Bob")
    holds.let_go(bob, "Bob", now - 10_000)  # the same row: let go now
    holds.online(bob, "Bobby")  # and online under another name
    holds.let_go(cy, "Cy", now - 400_000)  # longer ago than a hold
    await written(any_store)
    assert sorted(holds.held(now - 300_000)) == [(ann, "Ann", None), (bob, "Bob", now - 10_000),
                                                 (bob, "Bobby", None)]
    holds.prune(now - 300_000)
    await written(any_store)
    assert sorted(holds.held(0)) == [(ann, "Ann", None), (bob, "Bob", now - 10_000), (bob, "Bobby", None)]


async def test_a_user_erased_goes_with_its_names_and_a_late_write_of_them_fails_alone(any_store):
    ann, bob = await new_user(any_store, "Ann"), await new_user(any_store, "Bob")
    any_store.name_holds.online(ann, "Ann")
    any_store.name_holds.online(bob, "Bob")
    await written(any_store)
    with any_store.db.connection_context():
        any_store.db.execute_sql(any_store._q('DELETE FROM "user" WHERE id = ?'), (ann,))
    any_store.name_holds.let_go(ann, "Ann", now_ms())  # its session closing after the erasure
    any_store.name_holds.let_go(bob, "Bob", now_ms() - 5)
    await written(any_store)
    assert [(u, n) for u, n, _ in any_store.name_holds.held(0)] == [(bob, "Bob")]


async def test_names_online_at_the_end_are_let_go_at_the_start_and_pruned_after_their_hold(any_store):
    ann, bob = await new_user(any_store, "Ann"), await new_user(any_store, "Bob")
    holds, start = any_store.name_holds, now_ms()
    holds.online(ann, "Ann")  # online when the process ended: never let go
    holds.let_go(bob, "Bob", start - 1_000)
    holds.all_let_go(start)
    await written(any_store)
    assert sorted(holds.held(0)) == [(ann, "Ann", start), (bob, "Bob", start - 1_000)]
    holds.prune(start + 1)  # a hold later
    await written(any_store)
    assert holds.held(0) == []


async def test_an_erased_user_leaves_no_name_held(any_store):
    ann, bob = await new_user(any_store, "Ann"), await new_user(any_store, "Bob")
    any_store.name_holds.online(ann, "Ann")
    any_store.name_holds.let_go(ann, "Annie", now_ms())
    any_store.name_holds.online(bob, "Bob")
    await written(any_store)
    await any_store.writer.run(lambda: erase_identity(any_store, ann))
    assert [(u, n) for u, n, _ in any_store.name_holds.held(0)] == [(bob, "Bob")]
    any_store.name_holds.forget(bob)
    await written(any_store)
    assert any_store.name_holds.held(0) == []


async def test_a_database_from_before_version_22_gets_the_table_empty(store_url):
    store = opened(store_url)
    ann = await new_user(store, "Ann")
    with store.db.connection_context():  # as the chatd of version 21 left it
        store.db.execute_sql("DROP TABLE name_hold")
        store.db.execute_sql(store._q("UPDATE meta SET value = ? WHERE key = 'schema_version'"), ("21",))
    store.close()
    store = opened(store_url)
    try:
        assert store.name_holds.held(0) == []
        store.name_holds.online(ann, "Ann")
        async with asyncio.timeout(10):
            await written(store)
        assert store.name_holds.held(0) == [(ann, "Ann", None)]
    finally:
        store.close()


async def test_no_name_is_held_for_a_deleted_user_by_a_write_after_its_erasure(any_store):
    ann = await new_user(any_store, "Ann")
    await any_store.writer.run(lambda: erase_identity(any_store, ann))
    any_store.name_holds.online(ann, "Ann")  # a resume that read the user before its erasure
    any_store.name_holds.let_go(ann, "Annie", now_ms())  # its last session ending
    await written(any_store)
    assert any_store.name_holds.held(0) == []
