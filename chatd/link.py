"""The line between the supervisor of ``workers: N`` and each of its worker
processes: JSON objects, one per line, both ways, over a socketpair the
supervisor made (``chatd.workers`` at one end, ``chatd.worker`` at the other).

    link = await Link.open(sock)          # either end
    link.send({"id": 1, "command": "status"})
    message = await link.receive()        # the next object; None once the other end is gone
    await link.close()                    # after what was sent has been written

Both ends are the same program run by the same user, so the link trusts
what it reads; the limit on a line is only there so that a runaway answer
fails loudly instead of eating the memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

# One line holds one answer; the largest is `connections` of a worker: some
# 300 bytes per connection, so this is room for about a million of them.
MAX_LINE = 256 * 1024 * 1024


class Link:
    """One end of the line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, sock: socket.socket) -> Link:
        """Take over ``sock`` (one end of a socketpair) in the running loop."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_LINE)
        return cls(reader, writer)

    def send(self, message: dict[str, Any]) -> None:
        """Queue one object for the other end; dropped if the link is closed."""
        if not self._writer.is_closing():
            self._writer.write(json.dumps(message).encode() + b"\n")

    async def receive(self) -> dict[str, Any] | None:
        """The next object from the other end; None at its end (it closed or died)."""
        try:
            line = await self._reader.readline()
        except ConnectionError:
            return None
        if not line.endswith(b"\n"):
            return None  # the end, maybe in the middle of a line: the other end died writing it
        return json.loads(line)

    async def close(self) -> None:
        """Write what is queued, then close."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
