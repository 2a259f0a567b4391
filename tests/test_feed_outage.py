"""A database outage under a fill (chatd.feed): two chatd nodes on one real
PostgreSQL and one real Redis, real WebSocket clients. A session whose next
live message needs a read from the store (a gap) while the database is down
keeps its connection and waits for the database, with its channel held; once
the database is back (noticed by the store's probe: chatd.store.outage) it gets
what it missed, in order, each message once. It is closed with 1013 only when
the wait runs past its bounds: time, or what it holds (docs/operations.md,
"When the database is unreachable")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chatd import feed
from chatd.bus import Delivery
from chatd.protocol.codes import CloseCode
from chatd.server import Server
from tests.conftest import make_config, until
from tests.test_feed_cluster import GENEROUS, messages_until
from tests.wsclient import ChatClient

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


class GappingBus:
    """Wraps a node's bus: each Delivery published is lost (a node killed between a
    commit and its publish: the others see a gap at the next message of its channel)
    while ``losing``, kept back while ``keeping`` (published by ``let_go``)."""

    def __init__(self, server: Server):
        self.publish = server.bus.publish
        self.losing = self.keeping = False
        self.kept: list[Delivery] = []
        server.bus.publish = self

    def __call__(self, item: Any) -> None:
        if type(item) is Delivery and self.losing:
            return
        if type(item) is Delivery and self.keeping:
            self.kept.append(item)
            return
        self.publish(item)

    def let_go(self) -> None:
        self.keeping = False
        for item in self.kept:
            self.publish(item)


@pytest.fixture
async def two_nodes(tmp_path: Path, redis_server: Any, own_postgres: Any) -> AsyncIterator[tuple[Server, Server]]:
    servers = []
    for _ in range(2):
        server = Server(make_config(tmp_path, bus=redis_server.url, database=own_postgres.database))
        await server.start()
        servers.append(server)
    yield servers[0], servers[1]
    if own_postgres.proc.poll() is not None:  # a test left it down: the nodes' last commits need it
        await asyncio.to_thread(own_postgres.start)
    for server in servers:
        await server.stop(timeout=5)


async def client(server: Server, name: str) -> ChatClient:
    return await (await ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws")).enter("lobby", name=name)


async def gaps_under_an_outage(one: Server, two: Server, own_postgres: Any) -> dict[str, Any]:
    """alice on node one, bob on node two, both in the lobby. Node one stores a room message and a
    private message to bob that no node hears of, then one more of each, which reach the bus only
    once PostgreSQL is down: node two reads for the gaps then, and the read fails. → the acks."""
    alice, bob = await client(one, "alice"), await client(two, "bob")
    bus = GappingBus(one)
    bob_id = bob.welcome["user"]["id"]
    bus.losing = True
    acks = {"lost": await alice.say("lobby", "lost"),
            "lost_private": await alice.request("say", to=bob_id, text="lost too")}
    bus.losing, bus.keeping = False, True
    acks |= {"kept": await alice.say("lobby", "kept"),
             "kept_private": await alice.request("say", to=bob_id, text="kept too")}
    assert all(ack["type"] == "ack" for ack in acks.values()), acks
    await asyncio.to_thread(own_postgres.stop)
    bus.let_go()
    await until(lambda: two.store.health.down() is not None, GENEROUS, "node two's read for the gap to fail")
    return {"alice": alice, "bob": bob, **acks}


async def messages_through(client: ChatClient, last_ids: set[int]) -> list[dict]:
    """Every `message` frame the client gets, in order, until it has had each of ``last_ids``
    (each channel is in order; two channels' fills may end in either order)."""
    got: list[dict] = []
    async with asyncio.timeout(GENEROUS):
        while not last_ids <= {m["id"] for m in got}:
            got.append(await client.expect("message"))
    return got


async def test_a_gap_met_while_the_database_is_down_waits_for_it_then_fills_in_order_once(two_nodes, own_postgres):
    one, two = two_nodes
    got = await gaps_under_an_outage(one, two, own_postgres)
    alice, bob = got["alice"], got["bob"]
    # The connection lives on: requests answered from memory still are, the channel stays held.
    assert (await bob.request("rooms"))["type"] == "rooms"
    await asyncio.to_thread(own_postgres.start)  # nobody uses the database: the probe notices it is back

    for who in (bob, alice):  # alice's own node never heard its own messages either
        messages = await messages_through(who, {got["kept"]["id"], got["kept_private"]["id"]})
        room = [m["id"] for m in messages if "room" in m]
        private = [m["id"] for m in messages if "to" in m]
        assert room == [got["lost"]["id"], got["kept"]["id"]], messages
        assert private == [got["lost_private"]["id"], got["kept_private"]["id"]], messages
    after = await alice.say("lobby", "after")
    assert [m["id"] for m in await messages_until(bob, after["id"])] == [after["id"]], "nothing twice"


@pytest.mark.parametrize("bound", ["time", "held bytes"])
async def test_a_session_waiting_for_the_database_past_a_bound_is_closed_with_1013(
        two_nodes, own_postgres, monkeypatch, bound):
    one, two = two_nodes
    if bound == "time":
        monkeypatch.setattr(feed, "OUTAGE_WAIT", 0.0)
    else:  # what a session holds is capped by limits.send_queue_bytes: here by nothing at all
        monkeypatch.setattr(two.chat.feed, "_held_max", lambda: 0)
    got = await gaps_under_an_outage(one, two, own_postgres)
    with pytest.raises(ConnectionClosed) as closed:
        await messages_until(got["bob"], got["kept_private"]["id"])
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.TRY_AGAIN_LATER
    assert closed.value.rcvd.reason == "the database is unreachable; resume shortly"
