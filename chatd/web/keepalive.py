"""Pings for every connection from one timer.

A connection that has been silent for ``interval`` seconds gets a ping; one
still silent ``timeout`` seconds after that is dropped. Any frame from the
client counts as a sign of life, a pong included. One timer walks all
connections, instead of a timer per connection.

    keepalive = Keepalive(connections, interval=25, timeout=20)
    keepalive.start()
    keepalive.stop()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Protocol

from tornado.ioloop import PeriodicCallback

log = logging.getLogger("chatd.keepalive")


class Pingable(Protocol):
    last_heard: float  # time.monotonic() of the last frame from the client
    pinged: bool  # a ping is out and unanswered
    closing: bool

    def ping(self) -> None: ...
    def abort(self) -> None: ...


def sweep(connections: Iterable[Pingable], interval: float, timeout: float, now: float) -> int:
    """Ping the quiet, drop the unresponsive; returns how many were dropped."""
    dropped = 0
    for conn in list(connections):
        quiet = now - conn.last_heard
        if conn.pinged and quiet >= interval + timeout:
            conn.abort()
            dropped += 1
        elif not conn.pinged and not conn.closing and quiet >= interval:
            conn.ping()
    return dropped


class Keepalive:
    def __init__(self, connections: Iterable[Pingable], interval: float, timeout: float):
        self.connections = connections
        self.interval = interval
        self.timeout = timeout
        # Sweeping twice per the shorter period keeps both deadlines within half a period.
        self._timer = PeriodicCallback(self._sweep, 1000 * min(interval, timeout) / 2)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _sweep(self) -> None:
        dropped = sweep(self.connections, self.interval, self.timeout, time.monotonic())
        if dropped:
            log.info("dropped %d connections that did not answer pings", dropped)
