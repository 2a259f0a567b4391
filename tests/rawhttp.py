"""One HTTP/1.1 connection spoken to in bytes, for what a client library hides:
pipelined requests, ``Connection: close``, the connection's end.

    http = await RawHTTP.open(server.port)
    http.send(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" * 2)   # pipelined
    answer = await http.answer()                                  # .status, .headers (lower-case names), .body
    assert await http.ended()                                     # the server closed the connection
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

GENEROUS = 30.0  # seconds: far more than any answer here takes; a bound, not a synchronisation


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


class RawHTTP:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawHTTP:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def answer(self, to_head: bool = False) -> Answer:
        """The next answer; its body by its Content-Length (chatd's answers here have one),
        none when it answers a HEAD request (``to_head``)."""
        async with asyncio.timeout(GENEROUS):
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status_line, *lines = head[:-4].split("\r\n")
            headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
            body = b"" if to_head else await self.reader.readexactly(int(headers["content-length"]))
        return Answer(int(status_line.split(" ")[1]), headers, body)

    async def ended(self) -> bool:
        """Whether the server ends the connection with nothing more sent."""
        async with asyncio.timeout(GENEROUS):
            return await self.reader.read() == b""

    def close(self) -> None:
        self.writer.close()


NOT_VALID = "the request is not valid HTTP/1.1: "  # how a 400 for malformed HTTP starts (chatd.web.headlimit)


async def refused_as_malformed(port: int, data: bytes, within: float = GENEROUS) -> Answer:
    """Send ``data`` on a connection of its own; → the answer, once checked to be a plain-text
    400 for malformed HTTP, given within ``within`` seconds, that ends the connection saying so."""
    http = await RawHTTP.open(port)
    try:
        http.send(data)
        async with asyncio.timeout(within):
            answer = await http.answer()
            assert (answer.status, answer.headers["connection"]) == (400, "close")
            assert answer.body.decode().startswith(NOT_VALID), answer.body
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert await http.ended()
        return answer
    finally:
        http.close()


def request(method: str, path: str, body: bytes | None = None, version: str = "HTTP/1.1", **headers: str) -> bytes:
    """A request's bytes; a Content-Length when ``body`` is given (b"" too)."""
    lines = [f"{method} {path} {version}", "Host: chatd"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def unframed(method: str, path: str, version: str, body: bytes, **headers: str) -> bytes:
    """A request with ``body`` behind its head but neither Content-Length nor Transfer-Encoding:
    by RFC 9112 §6.3 it has no body, whatever follows."""
    return request(method, path, version=version, **headers) + body
