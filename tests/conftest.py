"""Shared fixtures: a real chatd server on a free loopback port with a real
SQLite file, and real WebSocket clients for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatd.config import build_config
from chatd.server import Server
from chatd.store import Draft
from tests.webapp import WebApp
from tests.wsclient import ChatClient

pytest_plugins = [
    "tests.ops_fixtures",  # chatd processes for the operations tests
    "tests.services",  # real Redis and PostgreSQL servers
    "tests.stores",  # a store of each kind
    "tests.cluster_fixtures",  # several chatd nodes in one process
    "tests.hookserver",  # a webhook receiver
    "tests.browser",  # Chromium for the page tests, one per worker
    "pytester",  # pytest's own: a pytest run inside a test (tests/test_browser.py)
]


async def until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` until true, within ``timeout`` seconds: for server state
    that no event announces (a socket let go, a count gone down)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Clock:
    """A clock the test moves by hand (seconds), in place of time.monotonic."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_config(tmp_path: Path, **sections: Any):
    """A config for tests: port 0 (free), files in tmp_path, generous limits
    (per connection, user and address) unless a test asks otherwise."""
    data: dict[str, Any] = {
        "listen": "127.0.0.1:0",
        "database": str(tmp_path / "chatd.db"),
        "pidfile": str(tmp_path / "chatd.pid"),
        "logfile": "",
        "limits": {"rate_per_second": 1000, "rate_burst": 1000, "user_rate_per_second": 1000,
                   "user_rate_burst": 1000},
        # Every test client comes from 127.0.0.1: one address for all (tests/test_abuse.py sets these).
        "address": {"max_connections": 100_000, "connect_burst": 100_000, "rate_burst": 100_000,
                    "guest_burst": 100_000, "room_burst": 100_000},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return build_config(data)


@pytest.fixture
def web_app() -> WebApp:
    """A web app with its own signing secret, minting app tokens (tests/webapp.py)."""
    return WebApp()


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module (or with indirect parametrisation) to change the server's config."""
    return {}


@pytest.fixture
async def server(tmp_path: Path, config_overrides: dict[str, Any]) -> AsyncIterator[Server]:
    srv = Server(make_config(tmp_path, **config_overrides))
    await srv.start()
    yield srv
    await srv.stop(timeout=5)


@pytest.fixture
def ws_url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


@pytest.fixture
async def connect(ws_url: str) -> AsyncIterator[Callable[..., Any]]:
    """``client = await connect()``: a new connected client; all closed at the end."""
    clients: list[ChatClient] = []

    async def open_client(**kwargs: Any) -> ChatClient:
        client = await ChatClient.connect(ws_url, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
async def user(connect: Callable[..., Any]) -> Callable[..., Any]:
    """``alice = await user("alice", "lobby")``: connected, identified, joined."""

    async def make(name: str, *rooms: str) -> ChatClient:
        return await (await connect()).enter(*rooms, name=name)

    return make


@pytest.fixture
def seed(server: Server) -> Callable[..., Any]:
    """``ids = await seed(600, text, room="lobby")`` or ``seed(n, text, to=user_id)``:
    messages from a new user "seeder-N", stored through the server's store as `say`
    stores them (grouped commits, so hundreds take well under a second)."""
    senders = iter(range(1, 1_000_000))

    async def store(count: int, text: str, room: str | None = None, to: int | None = None) -> list[int]:
        name = f"seeder-{next(senders)}"
        sender = (await server.store.sign_ins.sign_up(name)).user_id
        draft = Draft(sender, name, text, recipient_id=to)
        if room is not None:
            found = server.hub.room(room)
            draft.room_id, draft.room_name = found.id, found.name
        loop = asyncio.get_running_loop()
        stored = []
        for _ in range(count):
            future = loop.create_future()
            server.store.save_message(draft, lambda result, error, f=future: (
                f.set_exception(error) if error else f.set_result(result)))
            stored.append(future)
        return [result.row.id for result in await asyncio.gather(*stored)]

    return store
