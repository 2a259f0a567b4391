"""The WAL of an SQLite store is checkpointed by its writer thread between transactions
(chatd.store.checkpoints): never at a commit while jobs wait, once nothing is queued,
and at a bound under a steady stream of writes; readers meanwhile see whole commits."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from chatd.store.checkpoints import IDLE_PAGES, LIMIT_PAGES, WAL_FILE_LIMIT, Checkpoints
from chatd.store.sqlite import SqliteStore
from tests.conftest import until

WAIT_S = 10  # far longer than a commit takes; only reached when the behaviour is wrong
ROWS = 500  # rows of one page each that a job writes (~500 pages of WAL)
FILL = (f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS}) "
        "INSERT INTO filler SELECT randomblob(4000) FROM n")


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(str(tmp_path / "chatd.db"))
    store.open(asyncio.get_running_loop())
    await store.writer.run(lambda: store.db.execute_sql("CREATE TABLE filler (b BLOB)"))
    yield store
    store.close(WAIT_S)


async def chain(store: SqliteStore, jobs: int) -> list[int]:
    """``jobs`` writes of ROWS pages, each committing while the next one is queued
    (it waits for the next one's hand-over before it ends); → the WAL pages not yet
    copied into the database file as each one began."""
    loop = asyncio.get_running_loop()
    writer = store.writer
    await writer.run(lambda: None)  # light load: the first job goes alone
    await until(lambda: writer._idle, what="the writer thread waiting for work")
    next_queued = [threading.Event() for _ in range(jobs)]
    seen: list[int] = []

    def job(i: int, running: asyncio.Future) -> Callable[[], None]:
        def run() -> None:
            loop.call_soon_threadsafe(running.set_result, None)
            seen.append(store.checkpoints.uncopied())
            store.db.execute_sql(FILL)
            assert next_queued[i].wait(WAIT_S), "the next job was never queued"
        return run

    done = []
    for i in range(jobs):
        running = loop.create_future()
        done.append(writer.run(job(i, running)))
        if i:  # after the hand-over of job i, which submit scheduled first
            loop.call_soon(next_queued[i - 1].set)
        async with asyncio.timeout(WAIT_S):
            await running
    next_queued[-1].set()
    await asyncio.gather(*done)
    return seen


async def test_no_checkpoint_while_jobs_wait_then_one_once_idle(store: SqliteStore) -> None:
    seen = await chain(store, 3)  # ~1,000 pages, each commit with a job queued behind it
    assert seen[2] >= IDLE_PAGES - ROWS, f"the WAL was checkpointed at a commit with jobs queued: {seen}"
    # Nothing more is submitted: the chain's last batch is followed by a checkpoint.
    await until(lambda: store.checkpoints.checkpoints == 1, what="a checkpoint once nothing was queued")
    assert store.checkpoints.uncopied() == 0, "the writer did not checkpoint once nothing was queued"


async def test_the_wal_stays_bounded_under_steady_writes(store: SqliteStore) -> None:
    seen = await chain(store, 12)  # ~6,000 pages, and never a moment with nothing queued
    assert max(seen) < LIMIT_PAGES, f"the WAL grew past its bound: {seen}"
    assert store.checkpoints.forced >= 2
    # SQLite's own checkpoints are off on the writer's connection: it is the writer's doing.
    assert await store.writer.run(lambda: store.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]) == 0


async def test_readers_see_whole_commits_while_the_writer_checkpoints(store: SqliteStore) -> None:
    writes = asyncio.ensure_future(chain(store, 12))
    counts = []
    while not writes.done():
        counts.append(await store.read(lambda: store.db.execute_sql("SELECT count(*) FROM filler").fetchone()[0]))
    await writes
    assert store.checkpoints.forced >= 2
    assert all(count % ROWS == 0 for count in counts), f"a reader saw part of a commit: {counts}"
    assert counts == sorted(counts), "a reader saw the table go back"


def test_a_new_connection_measures_the_wal_anew(tmp_path):
    """SQLite deletes the -shm when its last connection closes: a writer's connection
    made after that (a reconnection) must be measured from the new file, not the old one."""
    path = str(tmp_path / "chatd.db")
    checkpoints = Checkpoints(path)
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("PRAGMA journal_mode = WAL")
    first.execute("CREATE TABLE filler (b BLOB)")
    checkpoints.after_batch(first, False)
    first.close()  # the last connection: the WAL and the -shm go

    second = sqlite3.connect(path, isolation_level=None)
    second.execute(FILL)
    checkpoints.after_batch(second, False)  # a new connection: ROWS pages, below IDLE_PAGES
    assert ROWS <= checkpoints.uncopied() < IDLE_PAGES
    second.execute(FILL)
    second.execute(FILL)  # now past IDLE_PAGES, nothing queued: checkpointed
    checkpoints.after_batch(second, False)
    assert checkpoints.checkpoints == 1
    second.close()
    checkpoints.close()


async def test_a_wal_file_grown_past_its_limit_is_cut_back(store):
    """One batch far past the checkpoint marks (big messages) grows the -wal file; once
    it is checkpointed and the WAL starts over, the file is cut back to WAL_FILE_LIMIT."""
    wal = store.path + "-wal"
    pages = WAL_FILE_LIMIT // 4096 + ROWS  # one job: more pages than the limit holds
    await store.writer.run(lambda: store.db.execute_sql(
        f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {pages}) "
        "INSERT INTO filler SELECT randomblob(4000) FROM n"))
    assert os.path.getsize(wal) > WAL_FILE_LIMIT
    await until(lambda: store.checkpoints.uncopied() == 0, what="the writer's checkpoint once idle")
    await store.writer.run(lambda: store.db.execute_sql("INSERT INTO filler VALUES (x'00')"))
    assert os.path.getsize(wal) <= WAL_FILE_LIMIT
