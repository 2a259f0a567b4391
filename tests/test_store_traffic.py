"""The traffic minutes (chatd.store.traffic) on both stores: every process's rows of a
minute summed on read, a minute written again replaced, rows older than a day dropped."""

from __future__ import annotations

import asyncio

from chatd.store.traffic import KEEP_MS, MINUTE_MS, Minute

T0 = 1_780_000_000_000 // MINUTE_MS * MINUTE_MS


async def add(store, row: Minute) -> None:
    future = asyncio.get_running_loop().create_future()
    store.traffic.add(row, lambda _, error: future.set_exception(error) if error else future.set_result(None))
    await future


async def test_the_minutes_of_every_node_add_up(any_store):
    await add(any_store, Minute(T0, "node-a", 10, 100))
    await add(any_store, Minute(T0, "node-b", 5, 7))
    await add(any_store, Minute(T0 + MINUTE_MS, "node-a", 11, 3))
    assert await any_store.traffic.series(T0) == [(T0, 15, 107), (T0 + MINUTE_MS, 11, 3)]
    assert await any_store.traffic.series(T0 + MINUTE_MS) == [(T0 + MINUTE_MS, 11, 3)]


async def test_a_minute_written_again_is_replaced_and_old_minutes_go(any_store):
    await add(any_store, Minute(T0, "node-a", 1, 1))
    await add(any_store, Minute(T0, "node-a", 2, 9))
    assert await any_store.traffic.series(T0) == [(T0, 2, 9)]
    later = T0 + KEEP_MS + MINUTE_MS
    await add(any_store, Minute(later, "node-a", 3, 4))
    assert await any_store.traffic.series(0) == [(later, 3, 4)]
