"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records each
request and answers as the test tells it (a status, a body, or never)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived


@dataclass
class HookServer:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # What to answer, in order, one per request (the last one repeats): (status, body), or None: never answer.
    answers: list[tuple[int, bytes, dict[str, str]] | None] = field(default_factory=lambda: [(200, b"", {})])
    hanging: list[asyncio.Future] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *answers: tuple[int, bytes] | tuple[int, bytes, dict[str, str]] | None) -> None:
        self.answers = [a if a is None or len(a) == 3 else (*a, {}) for a in answers]

    async def next_request(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until ``count`` requests have arrived in all; → them."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received[:count]


class _Hook(RequestHandler):
    def initialize(self, hook: HookServer) -> None:
        self.hook = hook

    async def post(self, *_: str) -> None:
        hook = self.hook
        index = len(hook.received)
        hook.received.append(Received(self.request.path, dict(self.request.headers), self.request.body,
                                      time.monotonic()))
        hook.arrived.set()
        answer = hook.answers[min(index, len(hook.answers) - 1)]
        if answer is None:
            never = asyncio.get_running_loop().create_future()
            hook.hanging.append(never)
            await never  # cancelled when the server closes
            return
        status, body, headers = answer
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        if body:
            self.set_header("Content-Type", "application/json")
            self.write(body)


@pytest.fixture
async def hook() -> AsyncIterator[HookServer]:
    """A webhook receiver on 127.0.0.1 (a test's chatd must list 127.0.0.1 in webhooks.allowed_hosts)."""
    server = HookServer()
    sockets = bind_sockets(0, "127.0.0.1")
    server.port = sockets[0].getsockname()[1]
    http = HTTPServer(Application([(r"/(.*)", _Hook, {"hook": server})]))
    http.add_sockets(sockets)
    yield server
    http.stop()
    for never in server.hanging:
        never.cancel()
    await http.close_all_connections()
