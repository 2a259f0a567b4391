"""The /ws handshake (chatd.web.upgrade): the origin check docs/protocol.md promises."""

from __future__ import annotations

import asyncio

import pytest

HANDSHAKE = ("GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")


async def handshake_status(port: int, extra: str = "") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HANDSHAKE.format(host=f"127.0.0.1:{port}", extra=extra).encode())
        async with asyncio.timeout(10):
            status = await reader.readline()
        return int(status.split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize(("origin", "status"), [
    (None, 101),  # no Origin: not a browser, accepted
    ("http://127.0.0.1:{port}", 101),  # the page's own origin
    ("https://127.0.0.1:{port}", 101),  # the scheme is not compared (TLS ends at the proxy)
    ("http://evil.example", 403),
    ("http://127.0.0.1:1", 403),  # another port is another origin
    ("null", 403),  # sandboxed frames and file: pages
])
async def test_foreign_origins_are_refused_with_403(server, origin, status):
    extra = "" if origin is None else f"Origin: {origin.format(port=server.port)}\r\n"
    assert await handshake_status(server.port, extra) == status
