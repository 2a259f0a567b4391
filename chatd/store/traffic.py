"""Connections and messages per minute, per process, for the admin dashboard's charts.

Each process (a node of a cluster, a worker) writes one row a minute
(``chatd.monitor``) through the writer; a read sums the rows of every process
per minute, so the charts show the whole server and survive a reload of the
page or a restart. Rows older than ``KEEP_MS`` go as new ones are written.

Why a table rather than counting messages by their timestamps: messages per
minute over 6 hours from ``message.ts`` needs an index on it (a cost on every
insert, the hot path) and reads every message of those hours (millions at a
busy site) per look at the dashboard; connections leave no rows at all. Here
a look reads 360 rows per process, and a write is one row per process a minute.

    traffic = TrafficStore(store)
    traffic.add(Minute(minute_ms, node, connections=12, messages=40), done)   # done(None, error) after commit
    rows = await traffic.series(since_ms)        # [(minute_ms, connections, messages)], oldest first
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NamedTuple

from chatd.store.writer import Done

if TYPE_CHECKING:
    from chatd.store import Store

MINUTE_MS = 60_000
KEEP_MS = 24 * 3600 * 1000  # a day: the dashboard shows hours


class Minute(NamedTuple):
    minute: int  # ms since the epoch of the minute's start (a multiple of MINUTE_MS)
    node: str
    connections: int  # the most open at once in the minute
    messages: int  # stored by the process in the minute


class TrafficStore:
    def __init__(self, store: Store):
        self._store = store

    def add(self, row: Minute, done: Done) -> None:
        """Write ``row`` (a later write of the same minute and node replaces it) and drop rows
        older than KEEP_MS before it; ``done(None, error)`` on the loop after the commit."""
        store = self._store
        q = store._q

        def job() -> None:
            # Two changes, against the writer's rule of one: the delete alone, were the insert to fail, only
            # drops rows that are due to go anyway.
            store.db.execute_sql(q("DELETE FROM traffic WHERE minute < ?"), (row.minute - KEEP_MS,))
            # ON CONFLICT ... DO UPDATE: SQLite (3.24+) and PostgreSQL alike.
            store.db.execute_sql(q("INSERT INTO traffic (minute, node, connections, messages) VALUES (?, ?, ?, ?) "
                                   "ON CONFLICT (minute, node) DO UPDATE SET connections = excluded.connections, "
                                   "messages = excluded.messages"), tuple(row))

        store.writer.submit(job, done)

    def nodes(self, first: int, last: int) -> asyncio.Future:
        """→ the set of processes (bus node ids) that wrote a row for a minute from ``first`` to
        ``last`` (ms, both included): each lived through that minute's end (chatd.cluster.split)."""
        def query() -> set[str]:
            rows = self._store.db.execute_sql(self._store._q(
                "SELECT DISTINCT node FROM traffic WHERE minute >= ? AND minute <= ?"), (first, last))
            return {str(node) for (node,) in rows.fetchall()}

        return self._store.read(query)

    def series(self, since: int) -> asyncio.Future:
        """→ [(minute ms, connections, messages)] of the minutes from ``since`` (ms) on, every
        process's figures added up, oldest first; minutes no process wrote are missing."""
        def query() -> list[tuple[int, int, int]]:
            rows = self._store.db.execute_sql(self._store._q(
                "SELECT minute, SUM(connections), SUM(messages) FROM traffic WHERE minute >= ? "
                "GROUP BY minute ORDER BY minute"), (since,))
            return [(int(m), int(c), int(n)) for m, c, n in rows.fetchall()]

        return self._store.read(query)
