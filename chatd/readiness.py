"""Whether this process can serve now: ``/readyz``, for load balancers and supervisors.

``/healthz`` says the process is alive; ready says more: the store takes a
write (a real one, through the writer, within READY_SECONDS), the writer
thread runs, and on a cluster the bus is connected. A node that is not
ready answers 503 naming what is not, and a load balancer sends its clients
elsewhere meanwhile. The write is an UPDATE of one meta row to its own value:
it takes the write lock (SQLite) and needs a writable primary (PostgreSQL),
and changes nothing. Probes that come while one is under way wait for it
rather than queue more writes: a flood of probes costs one write at a time.

    readiness = Readiness(chat)
    problems = await readiness.check()     # {} when ready, else {"store": "why", "bus": "why", ...}
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chatd.store import DatabaseUnreachable, WriterClosed

if TYPE_CHECKING:
    from chatd.chat import Chat

READY_SECONDS = 2.0  # for the store's write round trip: slower than this is not ready to serve


class Readiness:
    def __init__(self, chat: Chat):
        self.chat = chat
        self._probe: asyncio.Future | None = None  # the write under way, shared by the checks that wait for it

    async def check(self) -> dict[str, str]:
        """{} when ready, else what is not ready → why: "writer", "store", "bus"."""
        problems: dict[str, str] = {}
        writer = self.chat.store.writer
        if writer is None or not writer.alive:
            problems["writer"] = "the writer thread is not running"
        else:
            store = await self._store_problem()
            if store:
                problems["store"] = store
        if not self.chat.bus.connected:
            problems["bus"] = "not connected to the bus (Redis)"
        return problems

    async def _store_problem(self) -> str | None:
        if self._probe is None or self._probe.done():
            self._probe = self.chat.store.writer.run(self._write)
        try:
            async with asyncio.timeout(READY_SECONDS):
                await asyncio.shield(self._probe)
        except TimeoutError:
            return f"a write did not complete within {READY_SECONDS:g} s"
        except DatabaseUnreachable as e:
            return f"database unreachable: {e}"
        except WriterClosed:
            return "the server is stopping"
        return None

    def _write(self) -> None:
        store = self.chat.store
        store.db.execute_sql(store._q("UPDATE meta SET value = value WHERE key = ?"), ("schema_version",))
