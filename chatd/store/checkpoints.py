"""WAL checkpoints of an SQLite store, run by its writer thread between its transactions.

SQLite checkpoints by itself at the commit that takes the WAL past
``wal_autocheckpoint`` pages (1,000): that commit then also copies the WAL into
the database file and fsyncs both, ~5-6 ms here however few the pages, and the
message it carried waits for it (the latency case, 1,000 members x 20 msgs/s:
~15 % of the deliveries above p99, bench/RESULTS.md). So the writer's connection
never checkpoints by itself (wal_autocheckpoint = 0, set by ``after_batch`` on
each new connection), and the writer calls ``after_batch`` once a batch's results
are on their way to the loop:

- from ``IDLE_PAGES`` pages not yet in the database file, when no job is queued,
  it runs ``PRAGMA wal_checkpoint(PASSIVE)`` there and then: off every message's
  path (the next message finds the writer checkpointing only if it comes within
  those few ms), and as often as SQLite's own;
- with jobs queued it waits for such a moment, up to ``LIMIT_PAGES``: then it
  checkpoints anyway, so under a steady stream of writes the WAL stays bounded.

A PASSIVE checkpoint waits for no reader: it copies what no reader still needs,
and once all is copied the next write transaction starts the WAL over. How much
is not copied yet is mxFrame - nBackfill, read from the wal-index at the start of
the ``-shm`` file (https://sqlite.org/walformat.html: both are native-endian
32-bit integers) with one ``pread`` per batch: python's sqlite3 has no WAL hook.

    checkpoints = Checkpoints("chatd.db")
    writer = Writer(db, loop, health, after_batch=checkpoints.after_batch)
    ...
    checkpoints.close()                      # after the writer has stopped
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct

log = logging.getLogger("chatd.store")

IDLE_PAGES = 1000  # checkpoint when idle from this many pages not yet copied: SQLite's own threshold
LIMIT_PAGES = 2 * IDLE_PAGES  # checkpoint even with jobs queued from this many: the WAL's bound
# The -wal file keeps its largest size (SQLite writes over it from the start once all is copied):
# past this, it is cut back when the WAL starts over (PRAGMA journal_size_limit). The check runs
# after a batch, so the WAL passes LIMIT_PAGES by up to a batch (and more while a reader holds an
# older snapshot); a black-box run of big messages saw 13-42 MB files before this limit.
WAL_FILE_LIMIT = 16 * 1024 * 1024  # bytes
# The wal-index: its header's mxFrame (the WAL's last valid page) at byte 16, and the
# checkpoint information's nBackfill (pages of it copied into the database) at byte 96.
_WAL_INDEX = struct.Struct("=16xI76xI")


class Checkpoints:
    def __init__(self, path: str):
        self._shm_path = path + "-shm"
        self._shm: int | None = None  # the -shm file, opened at the first batch (it exists by then)
        self._conn: sqlite3.Connection | None = None  # the connection whose autocheckpoint is off
        self.checkpoints = 0  # checkpoints run with nothing queued
        self.forced = 0  # checkpoints run with jobs queued, the WAL at LIMIT_PAGES

    def after_batch(self, conn: sqlite3.Connection, queued: bool) -> None:
        """In the writer thread, after a batch's commit, its results handed to the loop:
        checkpoint if the WAL holds enough pages not yet copied (see the module's docstring).
        ``queued``: jobs wait for the writer. A checkpoint's failure is logged, not raised:
        the WAL just grows until the next one succeeds."""
        if conn is not self._conn:  # a new connection (the first, or after a reconnection)
            # The -shm may have been removed and made anew meanwhile (SQLite deletes it when
            # its last connection closes): a descriptor kept from before would read a stale WAL.
            self.close()
            # Unless the WAL can be measured (no -shm: a locking_mode=EXCLUSIVE connection),
            # SQLite's own checkpoints stay: without them it would grow for ever.
            conn.execute(f"PRAGMA wal_autocheckpoint = {IDLE_PAGES if self.uncopied() is None else 0}")
            self._conn = conn
        waiting = self.uncopied()
        if waiting is None or waiting < IDLE_PAGES or (queued and waiting < LIMIT_PAGES):
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as e:  # disk full, I/O error
            log.warning("WAL checkpoint failed: %s", e)
            return
        if queued:
            self.forced += 1
        else:
            self.checkpoints += 1

    def uncopied(self) -> int | None:
        """Pages in the WAL not yet copied into the database file; None if the -shm cannot be read."""
        try:
            if self._shm is None:
                self._shm = os.open(self._shm_path, os.O_RDONLY)
            frames, backfilled = _WAL_INDEX.unpack(os.pread(self._shm, _WAL_INDEX.size, 0))
        except (OSError, struct.error):  # no -shm, or shorter than its header
            return None
        return max(frames - backfilled, 0)

    def close(self) -> None:
        """Let go of the -shm file (after the writer has stopped)."""
        if self._shm is not None:
            os.close(self._shm)
            self._shm = None
