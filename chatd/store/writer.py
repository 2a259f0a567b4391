"""The one thread that writes to the database, committing jobs in groups.

Jobs are plain functions run in the writer thread inside a transaction.
A job makes at most one change, as its last statement, so a job that fails
has changed nothing and the others of its batch still commit (SQLite undoes
a failed statement alone; a PostgreSQL transaction is aborted by one, so
the batch then runs again with a savepoint per job);
the jobs submitted during one pass of the event loop reach the thread together
at its end, and whatever is queued when the thread wakes up (up to
``batch_max``) commits together, so a burst of messages costs one thread
wake-up and one fsync-free WAL commit rather than one each (profiled: with
a wake-up per job, small rooms' messages committed ~7 at a time). Under light
load (the last transaction held one job) a job submitted while the thread
waits idle, first of its pass, goes at once instead: the end of the pass may
be a fan-out of the previous message, and waiting for it cost ~2 ms of p99
latency at 1,000 members × 20 msg/s, while going at once under heavy load
cost 10–15 % more CPU per message in 500 rooms × 10 (bench/RESULTS.md). Results
come back on the event loop, all of a batch in one callback and in
submission order, and only after the commit: nothing is acknowledged that a
crash could forget.

A job may name lock keys (PostgreSQL: the channels a message goes to). A
writer given ``lock`` calls it first in each transaction with every key of
the batch, sorted, so that writers of several processes always take them in
the same order and never deadlock (``chatd.store.postgres``). Should taking
them fail (a key the database refuses), each job of the batch runs in a
transaction of its own: one job's bad key fails that job alone.

A writer given ``after_batch`` calls it in its thread after each batch that
committed, once the results are on their way to the loop, with the connection and
whether more jobs are queued: upkeep that must not hold a message (SQLite: its WAL
checkpoints, ``chatd.store.checkpoints``).

When the database fails, the jobs' owners get ``DatabaseUnreachable``
(``chatd.store.health`` logs the outage once). A batch whose connection is
found dead before COMMIT runs once more on a new connection; a failure at
COMMIT is not retried, as the batch may have committed.

    writer = Writer(db, loop, Health((sqlite3.OperationalError,)), batch_max=512)
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
import time
from collections.abc import Callable
from typing import Any

from peewee import Database

from chatd import metrics
from chatd.store.health import Health
from chatd.store.rows import DatabaseUnreachable

log = logging.getLogger("chatd.store")

Job = Callable[[], Any]
Done = Callable[[Any, BaseException | None], None]
Outcome = tuple[Done, Any, BaseException | None]
Lock = Callable[[list[int]], None]
AfterBatch = Callable[[Any, bool], None]
Item = tuple[Job, Done, tuple[int, ...]]
_STOP = object()


class WriterClosed(Exception):
    """The writer is stopping; the job was not run."""


class _Aborted(Exception):
    """A job's failure aborted the whole transaction (PostgreSQL): run the batch again, isolated."""


class _Lost(Exception):
    """The connection failed before COMMIT (its cause says how): nothing of the batch is stored."""


class _LockRefused(Exception):
    """Taking the batch's lock keys failed, the connection being fine (its cause says why)."""


class Writer:
    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop, health: Health, batch_max: int = 512,
                 begin: str | None = None, lock: Lock | None = None, after_batch: AfterBatch | None = None):
        self._db = db
        self._health = health  # which errors are the database's, and the outage they belong to
        # How each transaction begins (SQLite: "IMMEDIATE" takes the write lock at
        # once, when other processes write the same file); None: the default.
        self._begin = () if begin is None else (begin,)
        self._lock = lock  # takes the sorted lock keys of a batch, first thing in its transaction
        self._after_batch = after_batch  # (connection, jobs queued) after a batch committed and was handed over
        self._last_committed = False  # whether the last batch committed (the database answered)
        self._loop = loop
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue = queue.SimpleQueue()  # lists of jobs, one per loop pass; _STOP last
        self._pending: list[Item] = []  # submitted during this loop pass, handed over at its end
        self._idle = False  # the thread waits in get() with nothing queued
        self._light = True  # the last transaction held one job: a lone job need not wait for company
        self._thread = threading.Thread(target=self._run, name="chatd-writer", daemon=True)
        self._closed = False
        self._committed: collections.deque[list[Outcome]] = collections.deque()  # batches awaiting _deliver
        # While _deliver runs: whether it hands the loop more than one result. Their fan-outs
        # then coalesce per connection at the end of the pass (chatd.web.outbox asks).
        self.delivering_many = False
        self.batches = 0  # transactions committed since start

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, done: Done, keys: tuple[int, ...] = ()) -> None:
        """Run ``job`` in the writer; call ``done(result, error)`` on the loop after commit.
        ``keys``: what the job must hold locked (see ``lock``) while it runs and until commit."""
        if self._closed:
            done(None, WriterClosed("the server is shutting down"))
            return
        if self._idle and self._light and not self._pending:
            self._idle = False  # the pass's next jobs wait for the hand-over, together
            self._queue.put([(job, done, keys)])
            return
        self._pending.append((job, done, keys))
        if len(self._pending) == 1:
            self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        """On the loop, at the end of the pass that submitted them: the pass's jobs to the thread."""
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []

    def run(self, job: Job, keys: tuple[int, ...] = ()) -> asyncio.Future:
        """Like submit, as an awaitable."""
        future = self._loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if not future.done():
                future.set_exception(error) if error else future.set_result(result)

        self.submit(job, done, keys)
        return future

    @property
    def alive(self) -> bool:
        """Whether the thread runs (started, not ended): False once it stopped or died."""
        return self._thread.is_alive()

    def close(self, timeout: float | None = None) -> bool:
        """Stop accepting jobs, commit what is queued, stop the thread. → True
        once the thread has ended (nothing more will be written), False if it
        still runs after ``timeout`` seconds."""
        if not self._closed:
            self._closed = True
            self._hand_over()
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:  # connected by the first batch (_transaction): the database may be down at this moment
            stopping = False
            while not stopping:
                items: list[Item] = []
                self._idle = self._queue.empty()
                handed = self._queue.get()
                self._idle = False
                while True:
                    if handed is _STOP:
                        stopping = True
                        break
                    items += handed
                    handed.clear()
                    if len(items) >= self._batch_max:
                        break
                    try:
                        handed = self._queue.get_nowait()
                    except queue.Empty:
                        break
                while items:
                    # This thread keeps no reference to a batch once it is in _committed
                    # (_commit empties it): an idle writer must not keep jobs, and the
                    # connections their callbacks name, alive while it waits in get().
                    batch, items = items[:self._batch_max], items[self._batch_max:]
                    self._light = len(batch) == 1
                    self._committed.append(self._commit(batch))
                    with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is left to tell
                        self._loop.call_soon_threadsafe(self._deliver)
                    if self._after_batch is not None and self._last_committed:
                        self._upkeep(bool(items) or not self._queue.empty())
        finally:
            self._db.close()

    def _upkeep(self, queued: bool) -> None:
        try:
            self._after_batch(self._db.connection(), queued)
        except Exception:  # its failure must not end the thread that stores every message
            log.exception("error in the writer's upkeep after a commit")

    def _deliver(self) -> None:
        """On the loop: every committed batch's callbacks, oldest batch first."""
        committed = self._committed
        self.delivering_many = len(committed) > 1 or (bool(committed) and len(committed[0]) > 1)
        while self._committed:
            for done, result, error in self._committed.popleft():
                try:
                    done(result, error)
                except Exception:
                    log.exception("error while delivering a stored result")
        self.delivering_many = False

    def _commit(self, batch: list[Item]) -> list[Outcome]:
        """Run a batch and empty it; → (done, result, error) per job, in order."""
        began = time.perf_counter()
        self._last_committed = False
        try:
            outcomes = self._stored(batch)
        except Exception as e:  # the database failed: at COMMIT, or before it on a new connection too
            error = self._failure(e)
            if not isinstance(error, DatabaseUnreachable):
                log.error("commit of %d jobs failed: %s", len(batch), e)  # not the database's doing: a bug
            outcomes = [(done, None, error) for _, done, _ in batch]
        else:
            self._health.answered()
            self._last_committed = True
            metrics.committed(len(batch), time.perf_counter() - began)
        self.batches += 1
        batch.clear()
        return outcomes

    def _stored(self, batch: list[Item]) -> list[Outcome]:
        """The batch committed. If the connection was found dead before COMMIT (a
        server restart, a terminated backend), nothing of the batch is stored: it
        runs once more on a new connection. A failure AT commit is not retried:
        the transaction may have committed, and its jobs' owners are told the
        database failed (a say is then sent again with its cid: stored once)."""
        try:
            return self._in_one(batch)
        except _Lost:
            self._reconnect()
        try:
            return self._in_one(batch)
        except _Lost as e:
            raise e.__cause__ from None

    def _in_one(self, batch: list[Item]) -> list[Outcome]:
        """The batch in one transaction; if a job's failure aborted it, again with a
        savepoint per job; if taking its locks failed, each job in a transaction of
        its own (a bad key, which one job brought, must not fail the others)."""
        try:
            return self._transaction(batch, isolated=False)
        except _Aborted:
            return self._transaction(batch, isolated=True)
        except _LockRefused:
            return [self._alone(item) for item in batch]

    def _alone(self, item: Item) -> Outcome:
        """One job in a transaction of its own; its failure, whatever it is, is its own."""
        try:
            return self._transaction([item], isolated=True)[0]
        except (_LockRefused, _Lost) as e:
            error: BaseException = e.__cause__
        except Exception as e:  # noqa: BLE001 - reported to the job's owner
            error = e
        return item[1], None, self._failure(error)

    def _transaction(self, batch: list[Item], isolated: bool) -> list[Outcome]:
        """The batch in one transaction; ``isolated``: each job in a savepoint of its own.
        _Lost if the connection failed before COMMIT; _LockRefused if taking the locks did."""
        if not self._db.is_connection_usable():  # lost at the last batch: this one gets a new connection
            self._reconnect()
        outcomes: list[Outcome] = []
        committing = False
        try:
            with self._db.atomic(*self._begin):
                self._take_locks(batch)
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
                        outcomes.append((done, None, self._failure(e)))
                committing = True  # from here on it may have committed
        except Exception as e:
            # Before COMMIT a transaction that cannot even roll back has lost its connection.
            if not committing and not self._db.is_connection_usable():
                raise _Lost from e
            raise
        return outcomes

    def _take_locks(self, batch: list[Item]) -> None:
        if self._lock is None:
            return
        keys = sorted({key for _, _, job_keys in batch for key in job_keys})
        if keys:
            try:
                self._lock(keys)
            except Exception as e:
                raise _LockRefused from e

    def _reconnect(self) -> None:
        self._db.close()
        self._db.connect()

    def _failure(self, error: BaseException) -> BaseException:
        """What a job's owner is told of ``error``: DatabaseUnreachable if it is a
        failure of the database (noted once per outage: chatd.store.health), else itself."""
        return self._health.failed(error) if self._health.is_failure(error) else error
