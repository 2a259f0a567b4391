"""The outage of a store's database as the loop sees it (chatd.store.outage):
``back`` waits for its end, a probe runs only while it lasts. The database
itself is a stand-in here; tests/test_store_health.py and
tests/test_feed_outage.py stop and start a real PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

from chatd.store import outage
from chatd.store.health import Health
from chatd.store.outage import Outage

FAILURE = sqlite3.OperationalError("connection refused")


def watched(probe: Callable[[], Awaitable[object]] | None = None) -> tuple[Health, Outage]:
    """A health and the outage it tells, on the running loop, as ``Store.open`` joins them."""
    health = Health((sqlite3.OperationalError,))
    seen = Outage(health, probe)
    loop = asyncio.get_running_loop()
    health.watch = lambda down: loop.call_soon_threadsafe(seen.changed, down)
    return health, seen


async def test_back_is_at_once_with_no_outage_and_false_when_it_lasts_past_the_timeout():
    health, seen = watched()
    assert await seen.back(timeout=0)
    health.failed(FAILURE)
    assert not await seen.back(timeout=0)


async def test_whoever_waits_goes_on_when_an_operation_succeeds():
    health, seen = watched()
    health.failed(FAILURE)
    waiting = [asyncio.ensure_future(seen.back(timeout=30)) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiting)
    await asyncio.to_thread(health.answered)  # noted by another thread, as the store's threads do
    assert await asyncio.gather(*waiting) == [True, True]


async def test_the_probe_runs_while_the_database_is_down_and_its_answer_ends_the_outage(monkeypatch):
    monkeypatch.setattr(outage, "PROBE_INTERVAL", 0)
    asked: list[int] = []

    async def probe() -> None:
        asked.append(len(asked))
        if len(asked) < 3:
            raise health.failed(FAILURE)
        health.answered()

    health, seen = watched(probe)
    health.failed(FAILURE)
    assert await seen.back(timeout=30)
    assert asked == [0, 1, 2] and health.down() is None
    await asyncio.sleep(0)
    assert seen._task is None, "no probe once the database answers"
