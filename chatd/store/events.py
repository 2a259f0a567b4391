"""Users' stored notifications, SQLite or PostgreSQL (``chatd.events`` has the rules).

Each user's events are numbered 1, 2, 3... (``seq``, the frame's ``id``) with
no gap, in commit order: the insert takes the user's newest number plus one
in the statement that inserts, under the store's one writer (SQLite) or a
lock on the user's events taken first in the transaction (PostgreSQL,
``Store.event_keys``), so two nodes never draw the same number or commit
them out of order. Expired events are purged, but never a user's newest
one: it carries the number the next one follows (it is not delivered).

    events = store.events
    row = await events.save(user_id, "order.shipped", '{"order":7}', ttl_ms=86_400_000)   # an EventRow
    page = await events.page(user_id, after=0, limit=100, max_bytes=262_144, newest=True)
    await events.purge(limit=1000)       # → rows deleted (at most limit)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NamedTuple

from chatd.store.living import RecipientDeleted, living
from chatd.store.rows import Page
from chatd.store.schema import now_ms

if TYPE_CHECKING:
    from chatd.store import Store


class EventRow(NamedTuple):
    """One stored notification as the store hands it out; ``chatd.events`` makes frames of it."""

    id: int  # the user's event number (``seq``): 1, 2, 3...
    user_id: int
    name: str
    data: str  # the payload as compact JSON
    ts: int  # when it was stored: ms since the Unix epoch, UTC
    expires: int  # ms since the Unix epoch


DATA = EventRow._fields.index("data")

_INSERT = ("INSERT INTO event (user_id, seq, name, data, ts, expires) "
           "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ? FROM event WHERE user_id = ? RETURNING seq")
_COLUMNS = "seq, user_id, name, data, ts, expires"
# Expired rows, but each user's newest (see the module's docstring); at most ? of them per statement.
_PURGE = ("DELETE FROM event WHERE id IN (SELECT e.id FROM event e WHERE e.expires <= ? AND e.seq < "
          "(SELECT max(x.seq) FROM event x WHERE x.user_id = e.user_id) LIMIT ?)")


class EventStore:
    def __init__(self, store: Store):
        self._store = store

    def save(self, user_id: int, name: str, data: str, ttl_ms: int) -> asyncio.Future:
        """→ the EventRow stored for user ``user_id``, kept ``ttl_ms`` milliseconds
        from now; NoSuchUser if there is no such user, RecipientDeleted if it was deleted (``chatd.store.living``:
        checked with the write, so none is stored once the deletion erased the user's)."""
        store = self._store

        def job() -> EventRow:
            sql = store.db.connection()
            living(store, user_id, RecipientDeleted)
            ts = now_ms()
            seq = sql.execute(store._q(_INSERT), (user_id, name, data, ts, ts + ttl_ms, user_id)).fetchone()[0]
            return EventRow(seq, user_id, name, data, ts, ts + ttl_ms)

        return store.writer.run(job, store.event_keys(user_id))

    def page(self, user_id: int, after: int, limit: int, max_bytes: int, newest: bool = False) -> asyncio.Future:
        """→ a Page of the user's unexpired events numbered above ``after``, oldest
        first: the oldest of them (a gap being filled), or with ``newest`` the newest
        (a replay). At most ``limit`` rows, and reading stops after the row whose data
        takes the rows read past ``max_bytes`` characters of JSON."""
        order = "DESC" if newest else "ASC"
        sql = (f"SELECT {_COLUMNS} FROM event WHERE user_id = ? AND seq > ? AND expires > ? "
               f"ORDER BY seq {order} LIMIT ?")

        def query() -> Page:
            cursor = self._store.db.execute_sql(self._store._q(sql), (user_id, after, now_ms(), limit + 1))
            rows: list[EventRow] = []
            size, more = 0, False
            for row in cursor:
                if len(rows) == limit or size > max_bytes:
                    more = True
                    break
                rows.append(EventRow._make(row))
                size += len(row[DATA])
            cursor.close()
            if newest:
                rows.reverse()
            return Page(rows, more, not newest)

        return self._store.read(query)

    def purge(self, limit: int) -> asyncio.Future:
        """Delete up to ``limit`` expired events (never a user's newest); → how many went."""
        store = self._store
        return store.writer.run(lambda: store.db.execute_sql(store._q(_PURGE), (now_ms(), limit)).rowcount,
                                store.event_keys(None))
