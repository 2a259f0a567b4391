"""Several chatd nodes on one SQLite file and one real Redis, in one test
process, with real WebSocket clients: every message reaches every session
that should have it, on any node, exactly once and in the stored order —
also when the bus loses an item or Redis restarts (chatd.feed, chatd.bus.redis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatd.bus import Delivery
from chatd.server import Server
from tests.conftest import make_config, until
from tests.wsclient import ChatClient

pytestmark = pytest.mark.redis

GENEROUS = 30.0  # seconds for any one wait below, however loaded the machine


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: Any) -> AsyncIterator[Callable[[int], Any]]:
    """``servers = await nodes(3)``: chatd nodes sharing the test's database and Redis."""
    servers: list[Server] = []
    clients: list[ChatClient] = []

    async def start(count: int) -> list[Server]:
        for _ in range(count):
            server = Server(make_config(tmp_path, bus=redis_server.url))
            await server.start()
            servers.append(server)
        return servers

    start.clients = clients
    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop(timeout=5)


async def member(nodes: Any, server: Server, name: str | None = None, token: str | None = None,
                 room: str | None = "lobby") -> ChatClient:
    """A client of ``server``, identified (by name or token), in ``room`` unless None."""
    client = await ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws")
    nodes.clients.append(client)
    client.welcome = await client.identify(**({"token": token} if token else {"name": name}))
    assert client.welcome["type"] == "welcome", client.welcome
    if room is not None:
        joined = await client.request("join", room=room)
        assert joined["type"] == "joined", joined
    return client


async def messages_until(client: ChatClient, last_id: int, timeout: float = GENEROUS) -> list[dict]:
    """Every `message` frame the client gets, in order, up to the one with id ``last_id``."""
    got: list[dict] = []
    async with asyncio.timeout(timeout):
        while not got or got[-1]["id"] != last_id:
            got.append(await client.expect("message"))
    return got


async def stored_ids(server: Server, room: str | None = None, user: int | None = None) -> list[int]:
    """Every message id of a room, or of a user's private messages, from the store (the truth)."""
    if room is not None:
        page = await server.store.room_history(server.hub.room(room).id, before=None, after=0, limit=100_000)
    else:
        page = await server.store.private_history(user, before=None, after=0, limit=100_000)
    return [row.id for row in page.rows]


async def test_a_room_message_reaches_a_member_on_another_node_once_in_order(nodes):
    one, two = await nodes(2)
    alice = await member(nodes, one, "alice")
    bob = await member(nodes, two, "bob")
    acks = [await alice.say("lobby", f"m{i}") for i in range(20)]
    got = await messages_until(bob, acks[-1]["id"])
    assert [m["id"] for m in got] == [a["id"] for a in acks] == await stored_ids(one, "lobby")
    assert [m["text"] for m in got] == [f"m{i}" for i in range(20)]
    assert got[0]["from"] == alice.welcome["user"] and got[0]["room"] == "lobby"


async def test_private_messages_reach_every_session_of_both_users_on_any_node_and_no_one_else(nodes):
    one, two, three = await nodes(3)
    alice = await member(nodes, one, "alice", room=None)
    alice_too = await member(nodes, three, token=alice.welcome["token"], room=None)
    bob = await member(nodes, two, "bob", room=None)
    bob_too = await member(nodes, three, token=bob.welcome["token"], room=None)
    carol = await member(nodes, one, "carol", room="lobby")
    bob_id, carol_id = bob.welcome["user"]["id"], carol.welcome["user"]["id"]
    acks = [await alice.request("say", to=bob_id, text=f"psst {i}") for i in range(5)]
    acks.append(await bob_too.request("say", to=alice.welcome["user"]["id"], text="hi back"))
    ids = [a["id"] for a in acks]
    assert ids == await stored_ids(one, user=bob_id)
    for client in (alice, alice_too, bob, bob_too):
        assert [m["id"] for m in await messages_until(client, ids[-1])] == ids
    # Carol sees none of it: a message to her comes after all of those on every path, and is the first she gets.
    marker = await alice.request("say", to=carol_id, text="for carol")
    assert [m["id"] for m in await messages_until(carol, marker["id"])] == [marker["id"]]


class LosingBus:
    """Wraps a node's bus so that the next Delivery published is lost, here
    and for every other node: a node killed between its commit and its publish."""

    def __init__(self, server: Server):
        self.publish = server.bus.publish
        self.armed = False
        server.bus.publish = self

    def __call__(self, item: Any) -> None:
        if self.armed and type(item) is Delivery:
            self.armed = False
            return
        self.publish(item)


async def test_a_message_never_published_is_filled_at_the_next_message_of_its_channel(nodes):
    one, two = await nodes(2)
    alice = await member(nodes, one, "alice")
    bob = await member(nodes, two, "bob")
    before = await alice.say("lobby", "before")
    for client in (bob, alice):
        assert [m["id"] for m in await messages_until(client, before["id"])] == [before["id"]]
    LosingBus(one).armed = True
    lost = await alice.say("lobby", "lost")
    bob_id = bob.welcome["user"]["id"]
    private_lost = await alice.request("say", to=bob_id, text="lost too")  # not lost: the bus lost one only
    after = await alice.say("lobby", "after")
    for client in (bob, alice):  # alice's own node never published it either
        got = await messages_until(client, after["id"])
        assert [m["id"] for m in got if "room" in m] == [lost["id"], after["id"]]
        assert [m["text"] for m in got if "room" in m] == ["lost", "after"]
        assert [m["id"] for m in got if "to" in m] == [private_lost["id"]]
    assert await stored_ids(two, "lobby") == [before["id"], lost["id"], after["id"]]


async def test_a_message_never_published_is_filled_when_the_bus_reconnects(nodes, redis_server):
    one, two = await nodes(2)
    alice = await member(nodes, one, "alice")
    bob = await member(nodes, two, "bob")
    bob_id = bob.welcome["user"]["id"]
    LosingBus(one).armed = True
    lost = await alice.request("say", to=bob_id, text="never published")
    losses = two.chat.feed.losses
    redis_server.restart()  # every node reconnects and reads what it may have missed
    await until(lambda: two.chat.feed.losses > losses, GENEROUS, "node two to reconnect")
    assert [m["text"] for m in await messages_until(bob, lost["id"])] == ["never published"]
    assert [m["id"] for m in await messages_until(alice, lost["id"])] == [lost["id"]], "the sender's echo too"
    after = await alice.say("lobby", "after")
    assert [m["id"] for m in await messages_until(bob, after["id"])] == [after["id"]], "and nothing twice"


async def test_listeners_converge_to_the_stored_sequence_when_redis_restarts_mid_traffic(nodes, redis_server):
    servers = await nodes(3)
    senders = [await member(nodes, servers[i % 3], f"sender{i}") for i in range(6)]
    listeners = [await member(nodes, server, f"listener{i}") for i, server in enumerate(servers)]
    inbox = await member(nodes, servers[1], "inbox", room=None)
    inbox_id = inbox.welcome["user"]["id"]
    acked = 0
    stop_at, start_at, per_sender = 30, 60, 30
    down, up = asyncio.Event(), asyncio.Event()

    async def send(client: ChatClient, index: int) -> None:
        nonlocal acked
        for i in range(per_sender):
            fields = {"room": "lobby"} if i % 3 else {"to": inbox_id}
            answer = await client.request("say", text=f"{index}.{i}", cid=f"{index}.{i}", **fields)
            assert answer["type"] == "ack", answer
            acked += 1
            if acked == stop_at:
                redis_server.stop()
                down.set()
            if acked >= start_at and down.is_set() and not up.is_set():
                up.set()
                redis_server.start()

    await asyncio.gather(*(send(client, i) for i, client in enumerate(senders)))
    assert up.is_set(), "redis went away and came back in the middle of the traffic"
    room_ids = await stored_ids(servers[0], "lobby")
    inbox_ids = await stored_ids(servers[0], user=inbox_id)
    assert len(room_ids) + len(inbox_ids) == acked == 6 * per_sender, "every acked message is stored"
    for listener in listeners:
        assert [m["id"] for m in await messages_until(listener, room_ids[-1])] == room_ids
    assert [m["id"] for m in await messages_until(inbox, inbox_ids[-1])] == inbox_ids
    final = await senders[0].say("lobby", "final")
    for listener in listeners:  # nothing came twice after the sequence either
        assert [m["id"] for m in await messages_until(listener, final["id"])] == [final["id"]]


async def test_a_node_that_stops_publishes_its_last_commits_before_it_leaves_the_bus(nodes, monkeypatch):
    one, two = await nodes(2)
    alice = await member(nodes, one, "alice")
    bob = await member(nodes, two, "bob")
    writer, gate, held = one.store.writer, threading.Event(), []
    commit, close = writer._commit, writer.close

    def slow_commit(batch: list) -> list:  # the writer thread is held (a slow disk) until the stop drains it
        held.append(len(batch))
        gate.wait(GENEROUS)
        return commit(batch)

    monkeypatch.setattr(writer, "_commit", slow_commit)
    monkeypatch.setattr(writer, "close", lambda timeout=None: gate.set() or close(timeout))
    for i in range(50):
        await alice.send({"type": "say", "room": "lobby", "text": f"m{i}", "cid": f"c{i}"})
    await until(lambda: sum(held) + writer._queue.qsize() == 50, GENEROUS, "the says to wait in the writer")
    await one.stop(timeout=10)
    stored = await stored_ids(two, "lobby")
    assert len(stored) == 50, "the stop committed what was queued"
    got = await messages_until(bob, stored[-1])  # with no later message to reveal a gap
    assert [m["id"] for m in got] == stored
