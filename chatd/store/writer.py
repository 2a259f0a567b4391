"""The one thread that writes to the database, committing jobs in groups.

Jobs are plain functions run in the writer thread inside a transaction.
A job makes at most one change, as its last statement, so a job that fails
has changed nothing and the others of its batch still commit (SQLite undoes
a failed statement alone; a PostgreSQL transaction is aborted by one, so
the batch then runs again with a savepoint per job);
whatever is queued when the thread wakes up (up to ``batch_max``) commits
together, so a burst of messages costs one fsync-free WAL commit rather
than one each. Results come back on the event loop, all of a batch in one
callback and in submission order, and only after the commit: nothing is
acknowledged that a crash could forget.

A job may name lock keys (PostgreSQL: the channels a message goes to). A
writer given ``lock`` calls it first in each transaction with every key of
the batch, sorted, so that writers of several processes always take them in
the same order and never deadlock (``chatd.store.postgres``).

    writer = Writer(db, loop, batch_max=512)
    writer.start()
    writer.submit(lambda: insert(row), on_done)   # on_done(result, error) on the loop
    writer.close()                                 # drains the queue, then stops
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from peewee import Database

log = logging.getLogger("chatd.store")

Job = Callable[[], Any]
Done = Callable[[Any, BaseException | None], None]
Outcome = tuple[Done, Any, BaseException | None]
Lock = Callable[[list[int]], None]
_STOP = object()


class WriterClosed(Exception):
    """The writer is stopping; the job was not run."""


class _Aborted(Exception):
    """A job's failure aborted the whole transaction (PostgreSQL): run the batch again, isolated."""


class Writer:
    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop, batch_max: int = 512,
                 begin: str | None = None, lock: Lock | None = None):
        self._db = db
        # How each transaction begins (SQLite: "IMMEDIATE" takes the write lock at
        # once, when other processes write the same file); None: the default.
        self._begin = () if begin is None else (begin,)
        self._lock = lock  # takes the sorted lock keys of a batch, first thing in its transaction
        self._loop = loop
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="chatd-writer", daemon=True)
        self._closed = False
        self._committed: collections.deque[list[Outcome]] = collections.deque()  # batches awaiting _deliver
        self.batches = 0  # transactions committed since start

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, done: Done, keys: tuple[int, ...] = ()) -> None:
        """Run ``job`` in the writer; call ``done(result, error)`` on the loop after commit.
        ``keys``: what the job must hold locked (see ``lock``) while it runs and until commit."""
        if self._closed:
            done(None, WriterClosed("the server is shutting down"))
            return
        self._queue.put((job, done, keys))

    def run(self, job: Job) -> asyncio.Future:
        """Like submit, as an awaitable."""
        future = self._loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if not future.done():
                future.set_exception(error) if error else future.set_result(result)

        self.submit(job, done)
        return future

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting jobs, commit what is queued, stop the thread. → True
        once the thread has ended (nothing more will be written), False if it
        still runs after ``timeout`` seconds."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        self._db.connect(reuse_if_open=True)
        try:
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                while len(batch) < self._batch_max:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1] is _STOP:
                    batch.pop()
                    stopping = True
                if batch:
                    # This thread keeps no reference to a batch once it is in _committed
                    # (_commit empties it): an idle writer must not keep jobs, and the
                    # connections their callbacks name, alive while it waits in get().
                    self._committed.append(self._commit(batch))
                    with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is left to tell
                        self._loop.call_soon_threadsafe(self._deliver)
        finally:
            self._db.close()

    def _deliver(self) -> None:
        """On the loop: every committed batch's callbacks, oldest batch first."""
        while self._committed:
            for done, result, error in self._committed.popleft():
                try:
                    done(result, error)
                except Exception:
                    log.exception("error while delivering a stored result")

    def _commit(self, batch: list[tuple[Job, Done, tuple[int, ...]]]) -> list[Outcome]:
        """Run a batch in one transaction and empty it; → (done, result, error) per job, in order."""
        try:
            try:
                outcomes = self._transaction(batch, isolated=False)
            except _Aborted:
                outcomes = self._transaction(batch, isolated=True)
        except Exception as e:  # the commit itself failed (disk full, I/O error, connection lost)
            log.error("commit of %d jobs failed: %s", len(batch), e)
            outcomes = [(done, None, e) for _, done, _ in batch]
        self.batches += 1
        batch.clear()
        return outcomes

    def _transaction(self, batch: list[tuple[Job, Done, tuple[int, ...]]], isolated: bool) -> list[Outcome]:
        """The batch in one transaction; ``isolated``: each job in a savepoint of its own."""
        if not self._db.is_connection_usable():  # PostgreSQL went away: this batch gets a new connection
            self._db.close()
            self._db.connect()
        outcomes: list[Outcome] = []
        with self._db.atomic(*self._begin):
            if self._lock is not None:
                keys = sorted({key for _, _, job_keys in batch for key in job_keys})
                if keys:
                    self._lock(keys)
            for job, done, _ in batch:
                # No savepoint per job unless isolated: a job makes at most one change, in
                # its last statement, and SQLite undoes a failed statement alone.
                try:
                    if isolated:
                        with self._db.atomic():
                            result = job()
                    else:
                        result = job()
                    outcomes.append((done, result, None))
                except Exception as e:  # noqa: BLE001 - reported to the job's owner
                    if not isolated and not self._db.is_connection_usable():
                        raise _Aborted from e  # PostgreSQL refuses every statement after a failed one
                    outcomes.append((done, None, e))
        return outcomes
