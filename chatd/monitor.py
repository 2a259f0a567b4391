"""The periodic look at this process: event-loop lag, the gauges, and the traffic minutes.

A timer asks to run every TICK_SECONDS; how late it runs is the time the
event loop was busy with other work (``chatd_event_loop_lag_seconds``). Each
tick sets the gauges of ``chatd.metrics`` from what the process holds
(cheap: lengths, and on a cluster one set union of the users online), and at
each new minute hands the last one to the store (``chatd.store.traffic``):
the most connections open at once in it, and the messages stored in it.

    monitor = Monitor(chat, lambda: len(server.sockets))
    monitor.start()
    monitor.figures()     # the live figures, for the admin dashboard
    monitor.stop()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from chatd import metrics
from chatd.chat import Chat
from chatd.store import DatabaseUnreachable, WriterClosed
from chatd.store.schema import now_ms
from chatd.store.traffic import MINUTE_MS, Minute

log = logging.getLogger("chatd")
TICK_SECONDS = 1.0


class Monitor:
    def __init__(self, chat: Chat, connections: Callable[[], int], wall: Callable[[], int] = now_ms):
        """``connections``: → WebSocket connections open in this process; ``wall``: → ms since the epoch."""
        self.chat = chat
        self._connections = connections
        self.wall = wall  # tests move it by a minute
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.minute: int | None = None  # the minute being counted (ms), once started
        self.peak = 0  # the most connections open at once in it
        self._stored_at = 0  # chat.stored when it began

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time()
        self._tick()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def current(self) -> Minute | None:
        """The minute under way in this process, as counted so far (None before the first tick)."""
        if self.minute is None:
            return None
        return Minute(self.minute, self.chat.bus.node, self.peak, self.chat.stored - self._stored_at)

    def _tick(self) -> None:
        now = self._loop.time()
        metrics.loop_lag(max(0.0, now - self._due))
        self._due = now + TICK_SECONDS
        self._timer = self._loop.call_at(self._due, self._tick)
        chat = self.chat
        connections = self._connections()
        metrics.sample(connections, chat.cluster.online_count(), len(chat.hub.rooms), chat.bus.connected,
                       chat.webhooks.stats()["queued"])
        minute = self.wall() // MINUTE_MS * MINUTE_MS
        if minute != self.minute:
            ended = self.current()
            if ended is not None:
                chat.store.traffic.add(ended, _written)
            self.minute, self.peak, self._stored_at = minute, connections, chat.stored
        else:
            self.peak = max(self.peak, connections)


def _written(_: Any, error: BaseException | None) -> None:
    """A minute's row is committed, or not: an outage is logged by the store, once; a lost minute is a gap."""
    if error is not None and not isinstance(error, (DatabaseUnreachable, WriterClosed)):
        log.error("writing the traffic of a minute failed: %r", error)
