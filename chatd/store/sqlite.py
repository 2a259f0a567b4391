"""The store in one SQLite file: the default, for one process (or several on one machine).

WAL lets the reader threads read while the writer writes; the writer thread
checkpoints the WAL between its transactions (``chatd.store.checkpoints``). A store
``shared`` with other processes (a bus is configured) begins each write
transaction with BEGIN IMMEDIATE, which takes the file's write lock at
once: ids then grow in commit order across the processes, and the
``prev`` it reads per channel is still that channel's last message when
it commits.

    store = SqliteStore("chatd.db")            # or chatd.store.open_store(...)
    store.open(loop)
"""

from __future__ import annotations

import asyncio
import sqlite3

from peewee import SqliteDatabase

from chatd.store import sqlitefile
from chatd.store.base import Store
from chatd.store.checkpoints import WAL_FILE_LIMIT, Checkpoints
from chatd.store.living import DELETED, RecipientDeleted, living
from chatd.store.migrations import SCHEMA_VERSION, SchemaError, schema_version
from chatd.store.rows import SELECT, Draft, MessageRow, Stored, new_row, newly_stored
from chatd.store.schema import now_ms, pair_key
from chatd.store.writer import Done, Writer

BUSY_TIMEOUT_MS = 5000  # how long a statement waits for another process's lock on the file


# A say goes in only if its author exists and is not deleted, checked in the same statement (and so
# the same transaction: a deletion is wholly before or after it, chatd.store.living). A say that did
# not go in is told apart afterwards, off the hot path: its author deleted, or its cid stored already.
# (The SELECT has its WHERE, which SQLite's upsert needs to be parsed: sqlite.org/lang_upsert.html.)
_INSERT = ("INSERT INTO message (room_id, sender_id, sender_name, recipient_id, recipient_name, pair, text, ts, cid,"
           " reply_to, mentions) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
           ' WHERE EXISTS (SELECT 1 FROM "user" WHERE id = ? AND kind IS NOT ?)'
           " ON CONFLICT (sender_id, cid) DO NOTHING")


def _prev_in_room(sql: sqlite3.Connection, room_id: int, before: int) -> int:
    """The id of the room's last message below ``before`` (0: none): one probe of index (room_id, id)."""
    return sql.execute("SELECT coalesce(max(id), 0) FROM message WHERE room_id = ? AND id < ?",
                       (room_id, before)).fetchone()[0]


def _prev_in_inbox(sql: sqlite3.Connection, user_id: int, before: int) -> int:
    """The id of the last private message to or from the user below ``before`` (0: none):
    one probe each of index (recipient_id, id) and the partial index of private senders."""
    return sql.execute(
        "SELECT max(coalesce((SELECT max(id) FROM message WHERE recipient_id = ?1 AND id < ?2), 0), "
        "coalesce((SELECT max(id) FROM message WHERE sender_id = ?1 AND recipient_id IS NOT NULL AND id < ?2), 0))",
        (user_id, before)).fetchone()[0]


class _ReadingDatabase(SqliteDatabase):
    """peewee's database whose every connection only reads and changes no file (``sqlitefile.connect_reading``)."""

    def _connect(self) -> sqlite3.Connection:
        conn = sqlitefile.connect_reading(self.database, timeout=self._timeout, isolation_level=None,
                                          **self.connect_params)
        try:
            self._add_conn_hooks(conn)
        except Exception:
            conn.close()
            raise
        return conn


class SqliteStore(Store):
    def __init__(self, path: str, synchronous: str = "normal", batch_max: int = 512, shared: bool = False,
                 create: bool = True, read_only: bool = False):
        """``create``: make a database where there is none (``chatd.store.sqlitefile``); ``read_only``:
        only read it, changing no file (a command that lists: ``sqlitefile.connect_reading``)."""
        writing = {} if read_only else {"journal_mode": "wal", "journal_size_limit": WAL_FILE_LIMIT}  # (they write)
        pragmas = {**writing, "synchronous": synchronous, "foreign_keys": 1, "busy_timeout": BUSY_TIMEOUT_MS}
        database = _ReadingDatabase if read_only else SqliteDatabase
        # Failures: locked past the busy timeout, disk full, I/O error.
        super().__init__(database(path, pragmas=pragmas), batch_max, (sqlite3.OperationalError,))
        self.path = path
        # Other processes write this database too: see the module's docstring.
        self.shared = shared
        self.create = create
        self.read_only = read_only
        self.checkpoints: Checkpoints | None = None  # the writer's WAL checkpoints, while it runs

    def _check_file(self) -> None:
        sqlitefile.check(self.path, self.create)

    def _migrate(self) -> None:
        if not self.read_only:
            super()._migrate()
            return
        version = schema_version(self.db)  # (a newer one is refused by _check_file)
        if version != SCHEMA_VERSION:
            raise SchemaError(f"its schema (version {version}) is older than this chatd's ({SCHEMA_VERSION}), and "
                              f"this command only reads: `chatd start` upgrades it")

    def _make_writer(self, loop: asyncio.AbstractEventLoop) -> Writer:
        self.checkpoints = Checkpoints(self.path)
        return Writer(self.db, loop, self.health, self._batch_max, begin="IMMEDIATE" if self.shared else None,
                      after_batch=self.checkpoints.after_batch)

    def close(self, timeout: float | None = None) -> None:
        super().close(timeout)
        if self.checkpoints is not None and not (self.writer and self.writer.alive):
            self.checkpoints.close()

    def save_message(self, draft: Draft, done: Done) -> None:
        assert self.writer
        self.writer.submit(self._job(draft), done)

    def _insert(self, d: Draft) -> Stored:
        sql = self.db.connection()  # sqlite3 itself: this is the hottest write
        recipient_name = pair = None
        if d.recipient_id is not None:
            recipient_name = living(self, d.recipient_id, RecipientDeleted)
            pair = pair_key(d.sender_id, d.recipient_id)
        channels = d.channels()
        ts = now_ms()
        mentions = None if pair else self.read_state.mentions_of(sql, d.room_id, d.sender_id, d.text)
        cursor = sql.execute(_INSERT, (d.room_id, d.sender_id, d.sender_name, d.recipient_id, recipient_name, pair,
                                       d.text, ts, d.cid, d.quote.id if d.quote else None, mentions,
                                       d.sender_id, DELETED))
        if cursor.rowcount == 0:
            living(self, d.sender_id)  # the author deleted, or gone: refused; else this (sender, cid) is a retry
            row = sql.execute(SELECT + " WHERE m.sender_id = ? AND m.cid = ?", (d.sender_id, d.cid)).fetchone()
            return Stored(MessageRow(*row), True, channels, None)
        new_id = cursor.lastrowid
        self.newest_id = new_id  # one writer thread: ids arrive in order
        row = new_row(new_id, d, recipient_name, ts, mentions)
        if pair is not None:
            self.read_state.noted_private(sql, d.sender_id, d.recipient_id, new_id)
        prev = None
        if self.shared:  # under the write lock: nothing can come between these and the insert
            prev = (_prev_in_room(sql, d.room_id, new_id),) if pair is None else tuple(
                _prev_in_inbox(sql, uid, new_id) for uid in d.inbox_users())
        return newly_stored(row, channels, prev)

    def _read_newest_id(self) -> int:
        row = self.db.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = 'message'").fetchone()
        return row[0] if row else 0

    def stats(self) -> asyncio.Future:
        """→ {"messages": count, "database_bytes": size of the file and its WAL}."""

        def query() -> dict[str, int]:
            count = self.db.execute_sql("SELECT count(*) FROM message").fetchone()[0]
            pages = self.db.execute_sql("PRAGMA page_count").fetchone()[0]
            page_size = self.db.execute_sql("PRAGMA page_size").fetchone()[0]
            return {"messages": count, "database_bytes": pages * page_size}

        return self.read(query)

    def backup(self, target: str) -> asyncio.Future:
        """Copy the live database to ``target`` with SQLite's online backup API, the copy read
        whole (``sqlitefile.copy_whole``). DatabaseRefused if the copy is damaged; OSError when
        ``target`` cannot be written (SQLite's error says why): the target's failure, not the
        database's, which stays reachable (``chatd.store.health`` is not told)."""

        def copy() -> None:
            source = self.db.connection()
            try:
                sqlitefile.copy_whole(source, target)
            except sqlite3.Error as e:
                source.execute("SELECT 1").fetchone()  # raises if the database failed: then it is its error
                raise OSError(str(e)) from None

        return self.read(copy)
