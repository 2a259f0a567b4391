"""Writes coalesced per connection and per pass of the event loop.

A writer-thread batch can carry a hundred messages for the same room; sent
one by one that is a hundred ``send()`` calls per member. Connections
instead queue frames and register here once; at the end of the loop pass
each writes everything it has in one call.

    outbox = Outbox()
    outbox.queue(connection)     # the connection has frames waiting
    # ...later in the same pass, once: connection.send_queued() for each
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Flushable(Protocol):
    def send_queued(self) -> None: ...


class Outbox:
    def __init__(self) -> None:
        self._waiting: list[Flushable] = []

    def queue(self, connection: Flushable) -> None:
        """Flush ``connection`` at the end of this loop pass (call once per pass)."""
        if not self._waiting:
            asyncio.get_running_loop().call_soon(self.flush)
        self._waiting.append(connection)

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        for connection in waiting:
            connection.send_queued()
