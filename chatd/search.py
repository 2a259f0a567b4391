"""The ``search`` request (docs/protocol.md, "search"): what a user may find, and how often.

A user finds messages of the rooms they can read (open rooms, and
members-only rooms they are a member of) and of their own private
conversations, never a tombstone; the store decides it in the query
(``chatd.store.search.Scope``), so nothing they may not see is ever read
into this process. A search costs the database more than a message: each
connection has a bucket of its own (``limits.search_per_minute``,
``limits.search_burst``) on top of the message limits every request counts
against. The answer is bounded like a history page (``chatd.paging``).

    search = Search(hub, store, rooms, lambda: config, clock)
    await search.search(conn, req)   # answers `results`, or raises ProtocolError
    search.forget(session)           # its connection closed
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatd.client_refusals import no_such_user
from chatd.fulltext import parse_query, snippet
from chatd.hub import Hub
from chatd.paging import fit
from chatd.protocol.codes import LIMIT_SEARCHES, Code, ProtocolError
from chatd.protocol.frames import message_frame
from chatd.protocol.requests import Request
from chatd.ratelimit import TokenBucket
from chatd.replies import Connection, answer_list
from chatd.rooms import Rooms
from chatd.session import Session
from chatd.store import Store
from chatd.store.search import Filters, Scope

RESULTS_DEFAULT = 20  # results per answer when the request names no limit
RESULTS_MAX = 50  # most results per answer: a larger limit is taken as this
SECONDS_PER_MINUTE = 60


class Search:
    def __init__(self, hub: Hub, store: Store, rooms: Rooms, config: Callable[[], Any], clock: Callable[[], float]):
        self._hub = hub
        self._store = store
        self._rooms = rooms
        self._config = config
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}  # session id → its searches' bucket

    def forget(self, session: Session) -> None:
        """The session's connection closed: its bucket goes."""
        self._buckets.pop(session.id, None)

    def _take(self, session: Session, cid: str | None) -> None:
        """Charge one search to the session's bucket; ProtocolError ``rate_limited`` with the wait if empty."""
        limits = self._config().limits
        rate, burst = limits.search_per_minute / SECONDS_PER_MINUTE, limits.search_burst
        bucket = self._buckets.setdefault(session.id, TokenBucket(rate, burst))
        bucket.rate, bucket.burst = rate, burst  # a reload applies at once
        now = self._clock()
        if not bucket.take(now):
            raise ProtocolError(Code.RATE_LIMITED, "too many searches on this connection; wait a moment", cid,
                                bucket.wait(now), {"limit": LIMIT_SEARCHES})

    async def search(self, conn: Connection, req: Request) -> None:
        """Answer ``results``: the newest matches below ``before`` that the user may read,
        newest first, each a ``message`` frame with its ``snippet``; ``more``: others follow."""
        session, f = conn.session, req.fields
        self._take(session, req.cid)
        me = session.user.id
        room_id = other = None
        if "room" in f:
            room_id = self._rooms.get(f["room"], me).id  # no_such_room also for a room they may not see
        elif "with" in f:
            other = f["with"]
            if other not in self._hub.users and await self._store.user_name(other) is None:
                raise no_such_user(other, req.cid)
        limit = min(f.get("limit", RESULTS_DEFAULT), RESULTS_MAX)
        rows, more = await self._store.search.find(Scope(viewer=me), Filters(text=f["q"], room_id=room_id,
                                                                             with_user=other), f.get("before"), limit)
        if conn.closed:
            return
        phrases = parse_query(f["q"])
        items, cut = fit(({**message_frame(row), "snippet": snippet(row.text, phrases)} for row in rows),
                         self._config().history.page_bytes)
        answer_list(conn, req, {"type": "results", "q": f["q"], "more": more or cut}, "results", items)
