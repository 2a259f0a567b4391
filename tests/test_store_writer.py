"""When the writer thread (chatd.store.writer) commits: a lone message under light
load is not held back until the end of the loop pass that sent it (its latency),
while under load a pass's messages commit together (one commit for many)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator

import pytest
from peewee import SqliteDatabase

from chatd.store.health import Health
from chatd.store.writer import Writer
from tests.conftest import until

WAIT_S = 10  # far longer than a commit takes; only reached when the behaviour is wrong


@pytest.fixture
async def writer(tmp_path) -> AsyncIterator[Writer]:
    db = SqliteDatabase(str(tmp_path / "w.db"), check_same_thread=False)
    writer = Writer(db, asyncio.get_running_loop(), Health((sqlite3.OperationalError,)))
    writer.start()
    yield writer
    writer.close(WAIT_S)


async def test_a_lone_write_under_light_load_commits_before_the_pass_ends(writer: Writer) -> None:
    await writer.run(lambda: None)  # light load: the last transaction held one job
    await until(lambda: writer._idle, what="the writer thread waiting for work")
    ran = threading.Event()
    # This callback holds the loop, as a fan-out of the previous message would:
    # the job must run in the meantime, not after.
    writer.submit(ran.set, lambda result, error: None)
    assert ran.wait(WAIT_S), "a lone write waited for the end of the loop pass"


async def test_under_load_one_pass_commits_together(writer: Writer) -> None:
    loop = asyncio.get_running_loop()
    many = [loop.create_future() for _ in range(3)]
    for future in many:  # one pass: the first may go alone, the rest wait for the hand-over together
        writer.submit(lambda: None, lambda result, error, f=future: f.set_result(None))
    await asyncio.gather(*many)  # now the last transaction held more than one job: load
    before = writer.batches
    burst = [writer.run(lambda: None) for _ in range(20)]
    await asyncio.gather(*burst)
    assert writer.batches == before + 1, "one loop pass's 20 writes did not commit in one transaction"


async def test_an_upkeep_that_fails_is_logged_and_the_writer_goes_on(tmp_path, caplog) -> None:
    calls = []

    def after_batch(conn: object, queued: bool) -> None:
        calls.append(queued)
        raise RuntimeError("upkeep broke")

    db = SqliteDatabase(str(tmp_path / "w.db"), check_same_thread=False)
    writer = Writer(db, asyncio.get_running_loop(), Health((sqlite3.OperationalError,)), after_batch=after_batch)
    writer.start()
    try:
        assert await writer.run(lambda: 1) == 1
        async with asyncio.timeout(WAIT_S):
            assert await writer.run(lambda: 2) == 2, "the writer stopped after its upkeep failed"
        await until(lambda: len(calls) == 2, what="the upkeep after the second batch")
        assert writer.alive
        assert "error in the writer's upkeep after a commit" in caplog.text
    finally:
        writer.close(WAIT_S)
