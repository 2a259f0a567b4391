"""The filtered reads of messages: search, and the admins' chat log.

What a query means is ``chatd.fulltext``'s; the index, and how it follows the
rows by itself, ``chatd.store.searchindex``'s.

Reads (``find``) are keyset pages by id, newest first, for one ``Scope``: a
user's (rooms they can read, their own private messages), a moderator's on the
admin page (the rooms they can read, no private message) or an admin's (every
room, private messages only if ``admin.read_private``).

    rows, more = await store.search.find(Scope(viewer=7), Filters(text="会议"), before=None, limit=20)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chatd.fulltext import Phrase, fts5_match, parse_query, tsquery
from chatd.protocol.codes import MAX_ID
from chatd.store.rows import COLUMNS, MessageRow
from chatd.store.schema import is_postgres, pair_key
from chatd.store.searchindex import Indexer

if TYPE_CHECKING:
    from chatd.store import Store

# ts is set when a message is inserted, so it grows with the id up to the clocks of the nodes and the
# time a batch takes to commit: a time range becomes an id range widened by this much (ms) each way.
TS_SKEW_MS = 60_000
RECENT_WINDOW = 10_000  # PostgreSQL: the newest messages a text search tests one by one (_postgres_text)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose search: a user's (``viewer``: the rooms they can read, their own private
    messages), a moderator's on the admin page (``reader``: the rooms that user can read
    (open rooms, members-only rooms they are a member of), no private message), or an
    admin's (neither: every room, and private messages when ``private``)."""

    viewer: int | None = None
    private: bool = False
    reader: int | None = None

    @property
    def every_room(self) -> bool:
        """Whether every room's messages are in scope."""
        return self.viewer is None and self.reader is None


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
        self.indexer = Indexer(store)  # indexes new messages (SQLite), started and stopped with the store

    async def find(self, scope: Scope, filters: Filters, before: int | None,
                   limit: int) -> tuple[list[MessageRow], bool]:
        """→ (rows, more): the newest ``limit`` messages below id ``before`` (None: the newest
        of all) that ``scope`` may see and ``filters`` pass, newest first; tombstones never
        when searching text. ``more``: others follow. A query with no letter or digit finds nothing.
        A text search first lets the index catch up with what is stored (``Indexer.caught_up``)."""
        if filters.text is not None:
            await self.indexer.caught_up()
        return await self._store.read(lambda: self._find(scope, filters, before, limit))

    def _find(self, scope: Scope, filters: Filters, before: int | None, limit: int) -> tuple[list[MessageRow], bool]:
        phrases = filters.phrases()
        if phrases == [] or filters.senders == ():
            return [], False
        if phrases and is_postgres(self._store.db):
            rows = self._postgres_text(scope, filters, phrases, before, limit + 1)
        else:
            rows = self._rows(*self._query(scope, filters, phrases, before, limit + 1))
        return rows[:limit], len(rows) > limit

    def _rows(self, sql: str, args: list) -> list[MessageRow]:
        return [MessageRow(*r) for r in self._store.db.execute_sql(self._store._q(sql), args).fetchall()]

    def _postgres_text(self, scope: Scope, f: Filters, phrases: list[Phrase], before: int | None,
                       rows: int) -> list[MessageRow]:
        """A text search on PostgreSQL, in two parts. Its planner cannot tell a rare phrase from a
        common one (its estimate for ``<->`` is a guess): walking the ids down testing each row takes
        seconds for a phrase found nowhere, gathering every match from the GIN index as long for one
        found everywhere. So the newest RECENT_WINDOW messages below ``before`` are tested in id order
        (a common phrase fills the page there), and what is missing comes from the GIN index below
        them (a phrase that did not fill it there is rare)."""
        floor = self._store.db.execute_sql(self._store._q(
            "SELECT id FROM message WHERE id < ? ORDER BY id DESC OFFSET ? LIMIT 1"),
            (MAX_ID if before is None else before, RECENT_WINDOW)).fetchone()
        found = self._rows(*self._query(scope, f, phrases, before, rows, part=("recent", floor and floor[0])))
        if floor is not None and len(found) < rows:
            found += self._rows(*self._query(scope, f, phrases, floor[0] + 1, rows - len(found), part=("gin", None)))
        return found

    def _query(self, scope: Scope, f: Filters, phrases: list[Phrase] | None, before: int | None,
               rows: int, part: tuple[str, int | None] | None = None) -> tuple[str, list]:
        """The SQL of a page and its parameters. ``part`` (PostgreSQL text searches, ``_postgres_text``):
        ("recent", lowest id excluded or None): the rows above it, read in id order, the index unused
        (OFFSET 0 keeps the match out of the subquery); ("gin", None): matches gathered from the index."""
        pg = is_postgres(self._store.db)
        where: list[str] = []
        args: list = []
        source, key, order = "message m", "m.id", "m.id"
        if phrases is None:
            pass
        elif pg:
            if part and part[0] == "recent":
                source = "(SELECT * FROM message WHERE id > ? AND id < ? ORDER BY id DESC OFFSET 0) m"
                args += [-1 if part[1] is None else part[1], MAX_ID if before is None else before]
            else:
                order = "m.id + 0"  # not the primary key's order: the GIN index finds the rows
            where.append("m.search @@ to_tsquery('simple', ?)")
            args.append(tsquery(phrases))
        else:
            source, key, order = "message_search s JOIN message m ON m.id = s.rowid", "s.rowid", "s.rowid"
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
        if not (f.room_id is not None and scope.every_room):  # a room's messages are never private
            clause, scope_args = _scope_clause(scope)
            where.append(clause)
            args += scope_args
        sql = (f"SELECT {COLUMNS} FROM {source} LEFT JOIN room r ON r.id = m.room_id WHERE {' AND '.join(where)} "
               f"ORDER BY {order} DESC LIMIT ?")
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
        # Two queries: SQLite reads min() or max() from the index only when a query has one of them.
        lo = db.execute_sql("SELECT min(id) FROM message").fetchone()[0]
        if lo is None:
            return None
        hi = db.execute_sql("SELECT max(id) FROM message").fetchone()[0]
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
    # "+": not a reason to walk index (recipient_id, id), whose NULLs are nearly every row.
    if scope.reader is not None:
        return f"(+m.recipient_id IS NULL AND {_READABLE_ROOM})", [scope.reader]
    if scope.viewer is None:
        return ("TRUE", []) if scope.private else ("+m.recipient_id IS NULL", [])
    me = scope.viewer
    return (f"((m.recipient_id IS NULL AND {_READABLE_ROOM}) OR m.recipient_id = ? "
            "OR (m.recipient_id IS NOT NULL AND m.sender_id = ?))", [me, me, me])


# A room message's room is one the user (the parameter) can read: open, or members-only with them a member.
_READABLE_ROOM = ("(NOT r.members_only OR EXISTS (SELECT 1 FROM room_member rm WHERE rm.room_id = m.room_id "
                  "AND rm.user_id = ?))")
