"""Nodes that write this node's database but are not on its bus: a cluster split in two
(docs/operations.md, "What must match").

Nodes on one database but on different buses (``redis://…/2`` and ``…/3``, or two Redis servers)
each serve, store and acknowledge, but never hear each other: a message stored on one reaches the
other's clients only when they reconnect, and presence, names and limits hold per half. Nothing
fails, so nothing says so. What shows it:

- every process writes a row a minute to the database (``chatd.store.traffic``) under its bus
  node id, once the minute is over: a row for minute M means the process lived to M's end;
- every node on a Redis bus publishes a ``sync`` when it starts and a probe every
  ``chatd.bus.redis.PROBE_SECONDS``; the bus notes every node it hears (``RedisBus.heard``).

So a node whose bus has been connected without a break since before minute M has heard every
node on that bus that lived through M. A row for M by a node it never heard is a node on another
bus (or one cut off from Redis all that minute). Judged only for minutes from one after the bus
(re)connected on: the rows are stamped by each process's own clock, and clocks may be some seconds
apart. It is said once per node, at error level, and never acted on: a rolling move of Redis splits
a cluster for as long as it lasts, and stopping nodes would make that worse. A node's first check
comes ``CHECK_SECONDS`` after it starts, once a minute has been judged.

    split = Split(bus, store.traffic, "redis://10.0.0.5:6379/0")
    await split.check()       # → the node ids newly found writing the database off this bus
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from chatd.store import DatabaseUnreachable
from chatd.store.traffic import MINUTE_MS

log = logging.getLogger("chatd.cluster")

CHECK_SECONDS = 60  # between checks: the rows come a minute at a time


def _now_ms() -> int:
    return int(time.time() * 1000)


class Split:
    def __init__(self, bus: Any, traffic: Any, where: str, wall: Callable[[], int] = _now_ms):
        """``bus``: a RedisBus (``node``, ``connected``, ``connected_since``, ``heard``);
        ``traffic``: chatd.store.traffic.TrafficStore; ``where``: the bus, without its password;
        ``wall``: → ms since the epoch (tests move it)."""
        self._bus = bus
        self._traffic = traffic
        self._where = where
        self.wall = wall
        self._told: set[str] = set()

    async def check(self) -> list[str]:
        """Log each node newly found writing this database without being heard on this bus → their ids."""
        since = self._bus.connected_since
        if since is None or not self._bus.connected:
            return []  # a break: what was missed meanwhile proves nothing
        first = -(-int(since * 1000) // MINUTE_MS) * MINUTE_MS + MINUTE_MS  # the minute after the next one
        last = self.wall() - MINUTE_MS  # minutes over
        if last < first:
            return []
        try:
            writers = await self._traffic.nodes(first, last)
        except DatabaseUnreachable:  # the store logs the outage; the next check judges these minutes
            return []
        found = sorted(writers - self._bus.heard - self._told - {self._bus.node})
        for node in found:
            log.error("node %s writes this database but is not on this bus (%s), or was cut off from it for a "
                      "whole minute: nodes on one database must share one bus, or they do not hear each other's "
                      "messages and presence (docs/operations.md, \"What must match\")", node, self._where)
        self._told.update(found)
        return found
