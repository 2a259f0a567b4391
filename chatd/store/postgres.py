"""The store in a PostgreSQL database that several chatd nodes share.

Schema and migrations are ``chatd.store.schema``'s and
``chatd.store.migrations``', as on SQLite (peewee's ``PostgresqlDatabase`` on
psycopg 3); the hot path speaks psycopg directly.
Writes go through the same writer thread and group commit as SQLite: one
transaction per batch.

Order (DESIGN.md, "Guarantees"; docs/protocol.md, "Order and gaps"): within
a channel (a room, or a user's inbox of private messages) ids must grow in
commit order, although several nodes insert at once. Each transaction first
takes a transaction-scoped advisory lock on every channel its messages go
to, all of them in ascending key order (so two nodes never wait on each
other in a circle), and only then draws ids from the sequence. Whoever
wrote a channel before has committed by the time the lock is granted, so
its ids are lower; ``prev`` (the channel's message before, per channel) is
read under the lock in the statement that inserts. A PostgreSQL store is
always shared: every message carries ``prev``.

Driver: psycopg 3, measured against asyncpg on the same server by
``bench/pg_driver.py`` (bench/RESULTS.md, "PostgreSQL driver"): one writer
committing 64 inserts per transaction, 5,268-5,721 acknowledged inserts/s
with psycopg, 5,490-6,775 with asyncpg; 2,819-3,871 and 3,047-3,787 pages/s
read. Equal within the noise between runs: the round trip per statement is
the limit. psycopg is synchronous, so it runs in the writer and reader
threads the SQLite store has (the event loop never waits on the database,
and one writer, ordering and failure handling serve both stores), and
peewee's schema and migrations run on it: one driver, not two.

    store = PostgresStore("postgresql://chat@db.internal/chatd")   # or chatd.store.open_store(...)
    store.open(loop)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from chatd.dsn import redacted
from chatd.store.base import Store
from chatd.store.living import RecipientDeleted, living
from chatd.store.rows import (
    COLUMNS,
    SELECT,
    Draft,
    MessageRow,
    Stored,
    StoreUnavailable,
    new_row,
    newly_stored,
)
from chatd.store.schema import PostgresDatabase, now_ms, pair_key
from chatd.store.writer import Done, Writer

# Advisory lock keys (one bigint space, shared with anything else that locks in the
# same database): channels are positive, the schema's and users' events' are not.
SCHEMA_LOCK = -1
EVENTS_PURGE_LOCK = -2  # nodes purge expired events one at a time: two DELETEs never lock rows in a circle
NAMES_LOCK = 0  # the bots' names, checked and written by one node at a time (no room or user has id 0)


def room_lock(room_id: int) -> int:
    return 2 * room_id


def inbox_lock(user_id: int) -> int:
    return 2 * user_id + 1


def events_lock(user_id: int) -> int:
    """A user's stored events (``chatd.store.events``: numbers drawn in commit order), and its
    uploads (``chatd.store.uploads``: the quota checked and passed by one node at a time)."""
    return EVENTS_PURGE_LOCK - user_id


# Locks in the order of the keys (sorted by the writer): a volatile function in
# the select list runs after ORDER BY.
_LOCK = "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k"

_INSERT = ("WITH new AS (INSERT INTO message (room_id, sender_id, sender_name, recipient_id, recipient_name, pair, "
           "text, ts, cid, reply_to, mentions) VALUES (%(room)s, %(sender)s, %(sender_name)s, %(recipient)s, "
           "%(recipient_name)s, %(pair)s, %(text)s, %(ts)s, %(cid)s, %(reply_to)s, %(mentions)s) "
           "ON CONFLICT (sender_id, cid) DO NOTHING RETURNING id) ")
# The previous message of a channel, in the same statement (its snapshot is taken under the lock).
_PREV_IN_ROOM = "(SELECT coalesce(max(m.id), 0) FROM message m WHERE m.room_id = %(room)s AND m.id < new.id)"
_PREV_IN_INBOX = ("greatest((SELECT coalesce(max(m.id), 0) FROM message m WHERE m.recipient_id = %({0})s "
                  "AND m.id < new.id), (SELECT coalesce(max(m.id), 0) FROM message m WHERE m.sender_id = %({0})s "
                  "AND m.recipient_id IS NOT NULL AND m.id < new.id))")
_SENDER_PREV, _RECIPIENT_PREV = _PREV_IN_INBOX.format("sender"), _PREV_IN_INBOX.format("recipient")
INSERT_INTO_ROOM = f"{_INSERT} SELECT id, {_PREV_IN_ROOM} FROM new"
INSERT_PRIVATE = f"{_INSERT} SELECT id, {_SENDER_PREV}, {_RECIPIENT_PREV} FROM new"
INSERT_TO_SELF = f"{_INSERT} SELECT id, {_SENDER_PREV} FROM new"

BACKUP_ADVICE = ("chatd backup copies SQLite databases; back up a PostgreSQL store with pg_dump "
                 "(pg_dump -Fc -f chatd.dump URL). Keep the whole database: its meta table holds the "
                 "token secret and the epoch that users' tokens and clients' positions belong to")
RESTORE_ADVICE = ("chatd restore replaces SQLite databases; restore a PostgreSQL store with pg_restore "
                  "into a new, empty database (createdb, then pg_restore -d URL chatd.dump) with chatd stopped, "
                  "and point `database` at it. Restore the meta table with the rest: it holds the token "
                  "secret and the epoch")


def stored_cid(cid: str | None) -> str | None:
    """A client's cid as kept in PostgreSQL, whose text cannot hold NUL and a cid may
    (the protocol allows any string): escaped, one way (backslash first, so two cids
    never meet). A cid is only ever compared, never read back."""
    return None if cid is None else cid.replace("\\", "\\\\").replace("\x00", "\\0")


class PostgresStore(Store):
    shared = True  # other nodes write the same database
    probed = True  # a server, asked while down whether it is back (chatd.store.outage)
    # A write on a user's behalf and the user's erasure wait for each other (chatd.store.living).
    share_user = " FOR KEY SHARE"
    update_user = " FOR UPDATE"

    def __init__(self, url: str, batch_max: int = 512):
        # Unreachable, a lost or terminated connection, disk full, out of resources: OperationalError.
        super().__init__(PostgresDatabase(url), batch_max, (psycopg.OperationalError, psycopg.InterfaceError))
        self.url = redacted(url)
        self._reader_connections: list[psycopg.Connection] = []  # closed by close(), as the threads end unasked

    def close(self, timeout: float | None = None) -> None:
        super().close(timeout)
        for conn in self._reader_connections:
            conn.close()

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        # Nodes starting together: one migrates, the others then find it done.
        with self.db.atomic():
            self.db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            yield

    def _make_writer(self, loop: asyncio.AbstractEventLoop) -> Writer:
        return Writer(self.db, loop, self.health, self._batch_max, lock=self._lock_channels)

    def _lock_channels(self, keys: list[int]) -> None:
        self.db.connection().execute(_LOCK, (keys,))

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _reader_connection(self) -> None:
        if not self.db.is_closed() and not self.db.is_connection_usable():  # lost (a server restart)
            self.db.close()
        if self.db.connect(reuse_if_open=True):
            self._reader_connections.append(self.db.connection())

    def event_keys(self, user_id: int | None) -> tuple[int, ...]:
        return (EVENTS_PURGE_LOCK,) if user_id is None else (events_lock(user_id),)

    def names_keys(self) -> tuple[int, ...]:
        return (NAMES_LOCK,)

    def quota_keys(self, user_id: int) -> tuple[int, ...]:
        return (events_lock(user_id),)

    def save_message(self, draft: Draft, done: Done) -> None:
        assert self.writer
        if draft.recipient_id is None:
            keys: tuple[int, ...] = (room_lock(draft.room_id),)
        else:
            keys = (inbox_lock(draft.sender_id), inbox_lock(draft.recipient_id))
        self.writer.submit(self._job(draft), done, keys)

    def _insert(self, d: Draft) -> Stored:
        conn: psycopg.Connection = self.db.connection()  # psycopg itself: this is the hottest write
        living(self, d.sender_id)  # in this transaction: a deletion is wholly before or after (chatd.store.living)
        recipient_name = pair = None
        if d.recipient_id is not None:
            recipient_name = living(self, d.recipient_id, RecipientDeleted)
            pair = pair_key(d.sender_id, d.recipient_id)
            sql = INSERT_TO_SELF if d.sender_id == d.recipient_id else INSERT_PRIVATE
        else:
            sql = INSERT_INTO_ROOM
        channels = d.channels()
        ts, cid = now_ms(), stored_cid(d.cid)
        mentions = None if pair else self.read_state.mentions_of(conn, d.room_id, d.sender_id, d.text)
        new = conn.execute(sql, {"room": d.room_id, "sender": d.sender_id, "sender_name": d.sender_name,
                                 "recipient": d.recipient_id, "recipient_name": recipient_name, "pair": pair,
                                 "text": d.text, "ts": ts, "cid": cid,
                                 "reply_to": d.quote.id if d.quote else None,
                                 "mentions": mentions}).fetchone()
        if new is None:  # this (sender, cid) is stored already: a retry
            row = conn.execute(SELECT + " WHERE m.sender_id = %s AND m.cid = %s", (d.sender_id, cid)).fetchone()
            return Stored(MessageRow(*row), True, channels, None)
        new_id, *prev = new
        self.newest_id = new_id  # this writer's ids arrive in order; other nodes' are read by newest()
        row = new_row(new_id, d, recipient_name, ts, mentions)
        if pair is not None:
            self.read_state.noted_private(conn, d.sender_id, d.recipient_id, new_id)
        return newly_stored(row, channels, tuple(prev))

    def _read_newest_id(self) -> int:
        # The sequence, not the rows: an id drawn by a transaction that rolled back is handed out too.
        return self.db.execute_sql("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
                                   "FROM message_id_seq").fetchone()[0]

    def _page_query(self, where: str, order: str, rows: int, max_chars: int | None) -> tuple[str, tuple]:
        if max_chars is None:
            return super()._page_query(where, order, rows, max_chars)
        # psycopg receives a whole result: only the rows _page may read leave the server.
        # It reads a row once the one before is taken, i.e. while the texts before that
        # one (all up to two rows back) stay within max_chars.
        names = ", ".join(column.split(".")[1] for column in COLUMNS.split(", "))
        return (f"SELECT {names} FROM (SELECT {COLUMNS}, coalesce(sum(length(m.text)) OVER (ORDER BY m.id {order} "
                f"ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0) AS read_before FROM message m "
                f"LEFT JOIN room r ON r.id = m.room_id WHERE {where} ORDER BY m.id {order} LIMIT ?) page "
                f"WHERE read_before <= ? ORDER BY id {order}", (rows, max_chars))

    def stats(self) -> asyncio.Future:
        """→ {"messages": count, "database_bytes": pg_database_size of the database}."""

        def query() -> dict[str, int]:
            count, size = self.db.execute_sql("SELECT (SELECT count(*) FROM message), "
                                              "pg_database_size(current_database())").fetchone()
            return {"messages": count, "database_bytes": size}

        return self.read(query)

    def backup(self, target: str) -> asyncio.Future:
        raise StoreUnavailable(BACKUP_ADVICE)
