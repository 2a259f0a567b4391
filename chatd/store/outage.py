"""The outage of a store's database as the event loop sees it: a probe while it
lasts, and a way to wait for its end.

``chatd.store.health`` notes an outage when an operation fails and its end when
one succeeds; left at that, a node nobody uses would learn that the database is
back only at its next use (docs/operations.md, "When the database is
unreachable"). So, while the database is down, a store that has a server to ask
(PostgreSQL) asks it something trivial every ``PROBE_INTERVAL`` seconds: the
"database back" line, ``chatd status`` and ``/healthz`` follow within that, and
whatever waits for the database (``back``: ``chatd.feed``'s fills) goes on.
An SQLite file has no server to come back: its outages (a full disk, a lock held
by another process) end at the next operation that succeeds, and a probe that
only reads would call a full disk "back" each time.

    outage = Outage(store.health, probe=lambda: store.read(ask))   # probe None: no probe
    store.health.watch = lambda down: loop.call_soon_threadsafe(outage.changed, down)
    if await outage.back(timeout=5.0): ...    # True: the database answers (now or within 5 s)
    outage.close()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chatd.store.health import Health
from chatd.store.rows import DatabaseUnreachable

log = logging.getLogger("chatd.store")

# Seconds between two probes while the database is down: how late "database back" may be noticed.
PROBE_INTERVAL = 1.0


class Outage:
    """On the event loop: ``changed`` hears ``Health``'s transitions (from any thread, through
    ``call_soon_threadsafe``), ``back`` waits for the end of an outage."""

    def __init__(self, health: Health, probe: Callable[[], Awaitable[object]] | None):
        self._health = health
        self._probe = probe  # → an awaitable that fails with DatabaseUnreachable while the database is down
        self._task: asyncio.Task | None = None
        self._back: asyncio.Future[None] | None = None  # resolved when the outage ends; None: nobody waits

    def changed(self, down: bool) -> None:
        """The health noted the start (``down``) or the end of an outage."""
        if down:
            if self._probe is not None and self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._probing())
        elif self._health.down() is None and self._back is not None:
            if not self._back.done():
                self._back.set_result(None)
            self._back = None

    async def back(self, timeout: float) -> bool:
        """→ True once the database answers (at once if no outage is under way), False
        if it has not within ``timeout`` seconds."""
        if self._health.down() is None:
            return True
        if self._back is None:
            self._back = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._back)
        except TimeoutError:
            return False
        return True

    async def _probing(self) -> None:
        try:
            while self._health.down() is not None:
                await asyncio.sleep(PROBE_INTERVAL)  # a period, not a wait for an event
                try:
                    await self._probe()  # its success is noted by the health: "database back"
                except DatabaseUnreachable:
                    continue
        except Exception:  # a bug in the probe: the next use of the database still notes its return
            log.exception("probing the database failed")
        finally:
            self._task = None

    def close(self) -> None:
        """Stop probing (the store is closing)."""
        if self._task is not None:
            self._task.cancel()
