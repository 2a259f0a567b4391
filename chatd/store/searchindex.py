"""The search index of messages: how it is made, and how it follows the rows by itself.

What a query means is ``chatd.fulltext``'s; the reads are ``chatd.store.search``'s.

- **SQLite**: an FTS5 table ``message_search`` (unicode61 tokenizer; its rowid is
  the message id) holding each message's text as ``chatd.fulltext.prepare`` makes
  it. Triggers on ``message`` remove a row's entry when it is deleted and index
  the new text when it is updated (a tombstone, text '', leaves none), whatever
  code does it; a DELETE needs nothing else (FTS5 keeps its own copy of what it
  indexed, so it works from the sqlite3 shell too), an UPDATE calls the SQL
  function ``chatd_search_text`` that ``register`` gives chatd's connections.
  New messages are indexed off the hot path: FTS5 costs most per transaction,
  so indexing each say's own commit would halve the acknowledged writes per
  second (bench/RESULTS.md). The ``Indexer`` indexes them in writer jobs of up
  to INDEX_CHUNK messages, a moment after they are stored, taking at most
  1/INDEX_SHARE of the writer's time while messages keep coming; a search first
  lets it catch up (``caught_up``), so an acknowledged message is found.
  ``meta['search_indexed']``: every message up to this id is indexed (the update
  trigger indexes only those; the indexer the ones after).
- **PostgreSQL**: a ``tsvector`` column ``message.search`` (the 'simple'
  configuration over the same preparation, an IMMUTABLE SQL function
  ``chatd_search_text``, ``chatd.fulltext.pg_prepare``) set by a BEFORE INSERT OR UPDATE OF text trigger, NULL
  for a tombstone, with a GIN index: per row, in the insert (cheap there, next to
  a round trip). A deleted row takes its entry along.

    create_index(db, fill=True)          # a migration: the index of the messages stored so far
    indexer = Indexer(store); indexer.start(loop); await indexer.caught_up(); indexer.stop()
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import TYPE_CHECKING

from peewee import Database

from chatd.fulltext import pg_prepare, prepare
from chatd.store.schema import is_postgres

if TYPE_CHECKING:
    from chatd.store import Store

FILL_BATCH = 5000  # messages indexed per batch when a migration builds the index: bounded memory
INDEX_CHUNK = 500  # messages the indexer indexes in one writer job
INDEX_IDLE_S = 0.2  # how soon after a message is stored the indexer looks for it
INDEX_SHARE = 8  # under load, the indexer takes at most 1/INDEX_SHARE of the writer's time
CATCH_UP_MAX = 5000  # a search waits for the indexer when at most this many messages wait for it
WATERMARK = "search_indexed"

SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2', "
    "columnsize = 0)",
    # Indexed already (at or below the watermark): its new text replaces the old; later, the indexer's.
    "CREATE TRIGGER IF NOT EXISTS message_search_update AFTER UPDATE OF text ON message BEGIN "
    "DELETE FROM message_search WHERE rowid = old.id; "
    "INSERT INTO message_search (rowid, body) SELECT new.id, chatd_search_text(new.text) WHERE new.text <> '' "
    f"AND new.id <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{WATERMARK}'); END",
    "CREATE TRIGGER IF NOT EXISTS message_search_delete AFTER DELETE ON message BEGIN "
    "DELETE FROM message_search WHERE rowid = old.id; END",
)
PG_DDL = (
    "CREATE OR REPLACE FUNCTION chatd_search_text(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    "AS $$ SELECT {prepare} $$",
    "CREATE OR REPLACE FUNCTION chatd_message_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "NEW.search := CASE WHEN NEW.text = '' THEN NULL ELSE to_tsvector('simple', chatd_search_text(NEW.text)) END; "
    "RETURN NEW; END $$",
    'ALTER TABLE message ADD COLUMN IF NOT EXISTS search tsvector',
    "CREATE OR REPLACE TRIGGER message_search BEFORE INSERT OR UPDATE OF text ON message FOR EACH ROW "
    "EXECUTE FUNCTION chatd_message_search()",
)
PG_INDEX = "CREATE INDEX IF NOT EXISTS message_search ON message USING gin (search)"


def register(db: Database) -> None:
    """Give every connection of an SQLite ``db`` the function the index's update trigger calls."""
    if not is_postgres(db):
        db.register_function(prepare, "chatd_search_text", 1, deterministic=True)


def create_index(db: Database, fill: bool = False) -> None:
    """Make the index and what keeps it (what exists already is kept: a step run again does no
    harm): empty (a new database), or with ``fill`` holding
    the messages already stored (a migration), read FILL_BATCH at a time by id so that
    memory stays bounded. On PostgreSQL the GIN index is built once the column is
    filled: one pass, within PostgreSQL's maintenance_work_mem."""
    register(db)
    if is_postgres(db):
        for statement in PG_DDL:
            db.execute_sql(statement.replace("{prepare}", pg_prepare()))
        if fill:
            _fill_postgres(db)
        db.execute_sql(PG_INDEX)
        return
    for statement in SQLITE_DDL:
        db.execute_sql(statement)
    db.execute_sql("INSERT OR IGNORE INTO meta (key, value) VALUES (?, '0')", (WATERMARK,))
    while fill and index_pending(db, FILL_BATCH)[1]:
        pass


def index_pending(db: Database, most: int) -> tuple[int, bool]:
    """Index up to ``most`` of the SQLite messages above the watermark, and raise it (in a
    savepoint: all or nothing); → (the new watermark, whether more messages wait)."""
    conn = db.connection()
    with db.atomic():
        (mark,) = conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?", (WATERMARK,)).fetchone()
        rows = conn.execute("SELECT id, text FROM message WHERE id > ? ORDER BY id LIMIT ?", (mark, most)).fetchall()
        if not rows:
            return mark, False
        entries = [(mid, prepare(text)) for mid, text in rows if text]
        try:  # a plain INSERT: FTS5's OR REPLACE looks for each rowid first (1.9 → 1.3 µs per message)
            with db.atomic():
                conn.executemany("INSERT INTO message_search (rowid, body) VALUES (?, ?)", entries)
        except sqlite3.IntegrityError:  # some are there already (an index kept from before its watermark)
            conn.executemany("INSERT OR REPLACE INTO message_search (rowid, body) VALUES (?, ?)", entries)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(rows[-1][0]), WATERMARK))
    return rows[-1][0], len(rows) == most


def _fill_postgres(db: Database) -> None:
    last = 0
    while (upto := db.execute_sql("SELECT max(id) FROM (SELECT id FROM message WHERE id > %s ORDER BY id "
                                  "LIMIT %s) batch", (last, FILL_BATCH)).fetchone()[0]) is not None:
        db.execute_sql("UPDATE message SET search = to_tsvector('simple', chatd_search_text(text)) "
                       "WHERE id > %s AND id <= %s AND text <> ''", (last, upto))
        last = upto


class Indexer:
    """Indexes new SQLite messages in writer jobs (module doc); nothing to do on PostgreSQL."""

    def __init__(self, store: Store):
        self._store = store
        self._indexed = 0  # the watermark as last seen
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Future | None = None
        self._stopped = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if not is_postgres(self._store.db):
            self._timer = loop.call_later(0, self._tick)

    def stop(self) -> None:
        """No more jobs (before the writer closes); what is not indexed yet is, at the next start."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        if self._running is None and self._store.newest_id > self._indexed:
            self._running = asyncio.ensure_future(self._run())
        else:
            self._timer = asyncio.get_running_loop().call_later(INDEX_IDLE_S, self._tick)

    async def _run(self) -> None:
        """One job; then the next at once if the writer is idle, else after INDEX_SHARE - 1 times as long."""
        started = time.monotonic()
        more = False
        try:
            self._indexed, more = await self._store.writer.run(lambda: index_pending(self._store.db, INDEX_CHUNK))
        except Exception:  # the database failed, or the writer is closing: the next tick tries again
            pass
        finally:
            self._running = None
        took = time.monotonic() - started
        if not self._stopped:
            delay = took * (INDEX_SHARE - 1) if more else INDEX_IDLE_S
            self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    async def caught_up(self) -> None:
        """Index what is stored now (on SQLite), unless more than CATCH_UP_MAX messages wait:
        then searches see what is indexed so far, and the indexer catches up at its pace. Nothing
        once stopped."""
        if self._stopped or is_postgres(self._store.db) or self._store.newest_id - self._indexed > CATCH_UP_MAX:
            return
        target = self._store.newest_id
        while self._indexed < target:
            mark, more = await self._store.writer.run(lambda: index_pending(self._store.db, INDEX_CHUNK))
            self._indexed = max(self._indexed, mark)
            if not more:
                return
