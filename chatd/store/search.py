"""The search index of messages and the filtered reads of them (search, the admins' chat log).

What a query means is ``chatd.fulltext``'s. The index follows the rows by
itself, whatever code changes them (a tombstone, an edit, a purge, a room's
or a user's removal, or SQL typed by an operator for a delete):

- SQLite: an FTS5 table ``message_search`` (unicode61 tokenizer; its rowid
  is the message id) holding each message's text as ``chatd.fulltext.prepare``
  makes it, kept by triggers on ``message``. Insert and update call the SQL
  function ``chatd_search_text`` that ``register`` gives every connection of a
  chatd store (a connection without it, e.g. the sqlite3 shell, cannot insert
  or edit messages: it gets "no such function"); delete needs nothing (the
  FTS5 table keeps its own copy of what it indexed), so a DELETE works from
  anywhere. A tombstone (text '') leaves no row there.
- PostgreSQL: a ``tsvector`` column ``message.search`` (the 'simple'
  configuration over the same preparation, an IMMUTABLE SQL function
  ``chatd_search_text``), set by a BEFORE INSERT OR UPDATE OF text trigger,
  NULL for a tombstone, with a GIN index. A deleted row takes its entry along.

Reads (``find``) are keyset pages by id, newest first, for one ``Scope``: a
user's (rooms they can read, their own private messages) or an operator's
(every room, private messages only if ``admin.read_private``).

    rows, more = await store.search.find(Scope(viewer=7), Filters(text="会议"), before=None, limit=20)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peewee import Database

from chatd.fulltext import PG_PREPARE, Phrase, fts5_match, parse_query, prepare, tsquery
from chatd.store.rows import MessageRow
from chatd.store.schema import is_postgres, pair_key

if TYPE_CHECKING:
    from chatd.store import Store

FILL_BATCH = 5000  # messages indexed per batch when a migration builds the index: bounded memory
# ts is set when a message is inserted, so it grows with the id up to the clocks of the nodes and the
# time a batch takes to commit: a time range becomes an id range widened by this much (ms) each way.
TS_SKEW_MS = 60_000
COLUMNS = "m.id, r.name, m.sender_id, m.sender_name, m.recipient_id, m.recipient_name, m.text, m.ts"

SQLITE_DDL = (
    "CREATE VIRTUAL TABLE message_search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2', "
    "columnsize = 0)",
    "CREATE TRIGGER message_search_insert AFTER INSERT ON message WHEN new.text <> '' BEGIN "
    "INSERT INTO message_search (rowid, body) VALUES (new.id, chatd_search_text(new.text)); END",
    "CREATE TRIGGER message_search_update AFTER UPDATE OF text ON message BEGIN "
    "DELETE FROM message_search WHERE rowid = old.id; "
    "INSERT INTO message_search (rowid, body) SELECT new.id, chatd_search_text(new.text) WHERE new.text <> ''; END",
    "CREATE TRIGGER message_search_delete AFTER DELETE ON message BEGIN "
    "DELETE FROM message_search WHERE rowid = old.id; END",
)
PG_DDL = (
    f"CREATE FUNCTION chatd_search_text(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    f"AS $$ SELECT {PG_PREPARE} $$",
    "CREATE FUNCTION chatd_message_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "NEW.search := CASE WHEN NEW.text = '' THEN NULL ELSE to_tsvector('simple', chatd_search_text(NEW.text)) END; "
    "RETURN NEW; END $$",
    'ALTER TABLE message ADD COLUMN search tsvector',
    "CREATE TRIGGER message_search BEFORE INSERT OR UPDATE OF text ON message FOR EACH ROW "
    "EXECUTE FUNCTION chatd_message_search()",
)
PG_INDEX = "CREATE INDEX message_search ON message USING gin (search)"


def register(db: Database) -> None:
    """Give every connection of an SQLite ``db`` the function the index's triggers call."""
    if not is_postgres(db):
        db.register_function(prepare, "chatd_search_text", 1, deterministic=True)


def create_index(db: Database, fill: bool = False) -> None:
    """Make the index and what keeps it: empty (a new database), or with ``fill`` holding
    the messages already stored (a migration), read FILL_BATCH at a time by id so that
    memory stays bounded. On PostgreSQL the GIN index is built once the column is
    filled: one pass, within PostgreSQL's maintenance_work_mem."""
    register(db)
    pg = is_postgres(db)
    for statement in PG_DDL if pg else SQLITE_DDL:
        db.execute_sql(statement)
    if fill:
        (_fill_postgres if pg else _fill_sqlite)(db)
    if pg:
        db.execute_sql(PG_INDEX)


def _fill_sqlite(db: Database) -> None:
    conn, last = db.connection(), 0
    while rows := conn.execute("SELECT id, text FROM message WHERE id > ? ORDER BY id LIMIT ?",
                               (last, FILL_BATCH)).fetchall():
        conn.executemany("INSERT INTO message_search (rowid, body) VALUES (?, ?)",
                         [(mid, prepare(text)) for mid, text in rows if text])
        last = rows[-1][0]


def _fill_postgres(db: Database) -> None:
    last = 0
    while (upto := db.execute_sql("SELECT max(id) FROM (SELECT id FROM message WHERE id > %s ORDER BY id "
                                  "LIMIT %s) batch", (last, FILL_BATCH)).fetchone()[0]) is not None:
        db.execute_sql("UPDATE message SET search = to_tsvector('simple', chatd_search_text(text)) "
                       "WHERE id > %s AND id <= %s AND text <> ''", (last, upto))
        last = upto


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose search: a user's (``viewer``: the rooms they can read, their own private
    messages), or an operator's (``viewer`` None: every room, and private messages
    when ``private``)."""

    viewer: int | None = None
    private: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    """What to find; None: any. ``text``: a query (``chatd.fulltext``); ``room_id``: one room;
    ``with_user``: the viewer's private conversation with this user; ``senders``: the authors
    (an empty tuple: nobody, so nothing is found);
    ``since``/``until``: ms since the epoch, until exclusive. ``ValueError`` from ``phrases``
    for a query too long."""

    text: str | None = None
    room_id: int | None = None
    with_user: int | None = None
    senders: tuple[int, ...] | None = None
    since: int | None = None
    until: int | None = None

    def phrases(self) -> list[Phrase] | None:
        return None if self.text is None else parse_query(self.text)


class SearchStore:
    def __init__(self, store: Store):
        self._store = store

    def find(self, scope: Scope, filters: Filters, before: int | None, limit: int) -> asyncio.Future:
        """→ (rows, more): the newest ``limit`` messages below id ``before`` (None: the newest
        of all) that ``scope`` may see and ``filters`` pass, newest first; tombstones never
        when searching text. ``more``: others follow. A query with no letter or digit finds nothing."""
        return self._store.read(lambda: self._find(scope, filters, before, limit))

    def _find(self, scope: Scope, filters: Filters, before: int | None, limit: int) -> tuple[list[MessageRow], bool]:
        phrases = filters.phrases()
        if phrases == [] or filters.senders == ():
            return [], False
        sql, args = self._query(scope, filters, phrases, before, limit + 1)
        rows = [MessageRow._make(r) for r in self._store.db.execute_sql(self._store._q(sql), args).fetchall()]
        return rows[:limit], len(rows) > limit

    def _query(self, scope: Scope, f: Filters, phrases: list[Phrase] | None, before: int | None,
               rows: int) -> tuple[str, list]:
        pg = is_postgres(self._store.db)
        where: list[str] = []
        args: list = []
        if phrases is None:
            source, key = "message m", "m.id"
        elif pg:
            source, key = "message m", "m.id"
            where.append("m.search @@ to_tsquery('simple', ?)")
            args.append(tsquery(phrases))
        else:
            source, key = "message_search s JOIN message m ON m.id = s.rowid", "s.rowid"
            where.append("message_search MATCH ?")
            args.append(fts5_match(phrases))
        low, high = self._id_range(f)
        if before is not None:
            high = before if high is None else min(high, before)
        if high is not None:
            where.append(f"{key} < ?")
            args.append(high)
        if low is not None:
            where.append(f"{key} > ?")
            args.append(low)
        for clause, value in (("m.room_id = ?", f.room_id), ("m.ts >= ?", f.since), ("m.ts < ?", f.until)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if f.senders:
            where.append(f"m.sender_id IN ({', '.join('?' * len(f.senders))})")
            args += f.senders
        if f.with_user is not None and scope.viewer is not None:
            where.append("m.pair = ?")
            args.append(pair_key(scope.viewer, f.with_user))
        if not (f.room_id is not None and scope.viewer is None):  # a room's messages are never private
            clause, scope_args = _scope_clause(scope)
            where.append(clause)
            args += scope_args
        sql = (f"SELECT {COLUMNS} FROM {source} LEFT JOIN room r ON r.id = m.room_id WHERE {' AND '.join(where)} "
               f"ORDER BY {key} DESC LIMIT ?")
        return sql, [*args, rows]

    def _id_range(self, f: Filters) -> tuple[int | None, int | None]:
        """Ids (exclusive) outside of which no message of ``f``'s time range lies, so that
        a time range reads by the primary key (no index on ts costs every write)."""
        low = None if f.since is None else self._last_id_before(f.since - TS_SKEW_MS)
        high = None if f.until is None else self._first_id_from(f.until + TS_SKEW_MS)
        return low, high

    def _first_id_from(self, ts: int) -> int | None:
        """The lowest id whose message has a ts ≥ ``ts`` (by bisection over the ids: ts grows
        with them, TS_SKEW_MS aside), or None if none has."""
        return self._bisect(ts, first=True)

    def _last_id_before(self, ts: int) -> int | None:
        return self._bisect(ts, first=False)

    def _bisect(self, ts: int, first: bool) -> int | None:
        db, q = self._store.db, self._store._q
        lo_hi = db.execute_sql("SELECT min(id), max(id) FROM message").fetchone()
        if lo_hi[0] is None:
            return None
        lo, hi = lo_hi
        probe = q("SELECT id, ts FROM message WHERE id >= ? ORDER BY id LIMIT 1")
        while lo < hi:  # the first id whose ts is >= ts, in [lo, hi] (hi if none before)
            mid = (lo + hi) // 2
            found_id, found_ts = db.execute_sql(probe, (mid,)).fetchone()
            if found_ts >= ts:
                hi = mid
            else:
                lo = found_id + 1
        found = db.execute_sql(probe, (lo,)).fetchone()
        if first:
            return found[0] if found and found[1] >= ts else None
        return None if found is None else found[0] - 1 if found[1] >= ts else found[0]


def _scope_clause(scope: Scope) -> tuple[str, list]:
    """The SQL condition of what ``scope`` may see, and its parameters."""
    if scope.viewer is None:
        # "+": not a reason to walk index (recipient_id, id), whose NULLs are nearly every row.
        return ("TRUE", []) if scope.private else ("+m.recipient_id IS NULL", [])
    me = scope.viewer
    return ("((m.recipient_id IS NULL AND (NOT r.members_only OR EXISTS (SELECT 1 FROM room_member rm "
            "WHERE rm.room_id = m.room_id AND rm.user_id = ?))) OR m.recipient_id = ? "
            "OR (m.recipient_id IS NOT NULL AND m.sender_id = ?))", [me, me, me])
