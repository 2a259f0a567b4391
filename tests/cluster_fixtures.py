"""Several real chatd servers in one process, one SQLite file, joined by a
BusNet (tests/busnet.py), on one hand-moved clock; real WebSocket clients."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatd.server import Server
from tests.busnet import BusNet
from tests.conftest import Clock, make_config, until
from tests.stores import KINDS
from tests.wsclient import ChatClient

# Heartbeats by the real timer would come every minute: the tests beat by hand (Cluster.beat).
BEATS = {"heartbeat_interval": 60, "node_timeout": 120}


class Cluster:
    """The nodes of a test, their clients and the clock they share."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.net = BusNet()
        # From the real reading on: the rooms loaded at start were tracked on the real clock.
        self.clock = Clock(float(math.ceil(time.monotonic())))
        self.nodes: list[Server] = []
        self.clients: list[ChatClient] = []

    async def start(self, count: int, **sections: Any) -> list[Server]:
        for _ in range(count):
            node = Server(make_config(self.tmp_path, **{"cluster": BEATS} | sections), bus=self.net.bus())
            await node.start()
            node.chat.clock = self.clock
            self.nodes.append(node)
        await self.settle()
        return self.nodes

    async def client(self, node: Server) -> ChatClient:
        client = await ChatClient.connect(f"ws://127.0.0.1:{node.port}/ws")
        self.clients.append(client)
        return client

    async def client_from(self, node: Server, address: str) -> ChatClient:
        """A client of ``node`` that comes from ``address``, as the proxy the nodes trust (127.0.0.1,
        trusted_proxies' default) forwards it."""
        client = await ChatClient.connect(f"ws://127.0.0.1:{node.port}/ws",
                                          additional_headers={"X-Forwarded-For": address})
        self.clients.append(client)
        return client

    async def user(self, node: Server, name: str, *rooms: str, **identify: Any) -> ChatClient:
        """A client of ``node``, identified as ``name`` (or with ``token=``), in ``rooms``."""
        return await (await self.client(node)).enter(*rooms, **({"name": name} | identify))

    async def alice_and_bob(self, room: str = "lobby") -> tuple[ChatClient, ChatClient]:
        """alice on the first node and bob on the second, both in ``room``."""
        a, b = self.nodes[:2]
        return await self.user(a, "alice", room), await self.user(b, "bob", room)

    async def settle(self) -> None:
        """Let every item on its way between nodes arrive (the BusNet hands them on in later loop passes)."""
        for _ in range(3):
            await asyncio.sleep(0)

    async def beat(self, *nodes: Server) -> None:
        """A heartbeat of each of ``nodes`` at the clock's reading, heard by the others; then each
        drops the nodes it has not heard for cluster.node_timeout (as Cluster.tick does)."""
        for node in nodes:
            node.chat.cluster.heartbeat()
        live = {node.bus.node for node in nodes}
        await until(lambda: all(node.chat.cluster.peers.nodes[other].heard == self.clock.now
                                for node in nodes for other in live - {node.bus.node}), what="heartbeats heard")
        for node in nodes:
            node.chat.cluster.expire()

    async def stop(self) -> None:
        for client in self.clients:
            await client.close()
        for node in self.nodes:
            await node.stop(timeout=5)


@pytest.fixture
async def cluster_nodes(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``c = await cluster_nodes(2, rooms={...})``: a Cluster of started nodes (``c.nodes``); all stopped at the end."""
    made = Cluster(tmp_path)

    async def start(count: int, **sections: Any) -> Cluster:
        await made.start(count, **sections)
        return made

    yield start
    await made.stop()


@pytest.fixture(params=KINDS)
async def two_nodes(request: pytest.FixtureRequest, tmp_path: Path, cluster_nodes, web_app) -> Cluster:
    """Two nodes on one database (SQLite or PostgreSQL) that take ``web_app``'s tokens."""
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return await cluster_nodes(2, database=database, app_tokens={"secret": web_app.secret})


@pytest.fixture
async def shared_redis(redis_server) -> AsyncIterator[Any]:
    """A node's SharedRedis (chatd.cluster.shared) on the test's Redis, closed at the end."""
    from chatd.cluster.shared import SharedRedis  # redis-py: imported where a test asks for Redis

    shared = SharedRedis(redis_server.url)
    yield shared
    await shared.close()
