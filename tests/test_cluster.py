"""Three chatd nodes as real processes on one Redis and one PostgreSQL: what
issue 9 promises a cluster's users. Clients spread over the nodes chat in a
room and privately; presence is right on every node; a node killed with
kill -9 in the middle of a burst loses no acknowledged message, its clients
go on on another node with no gap and no repeat, and its users leave
everywhere; listeners that keep dropping and resuming on other nodes end
with exactly the stored sequence.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import until
from tests.ops_fixtures import Chatd, Chatter, chatd_nodes, pid_alive
from tests.wsclient import ChatClient

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

NODES = 3
HEARTBEAT = 0.2  # seconds: cluster.heartbeat_interval, short so that a dead node is seen soon
NODE_TIMEOUT = 1.0  # seconds: cluster.node_timeout
SENDERS = 20


@pytest.fixture
def cluster(redis_server, postgres_url) -> Iterator[list[Chatd]]:
    with chatd_nodes(NODES, database=postgres_url, bus=redis_server.url,
                     cluster={"heartbeat_interval": HEARTBEAT, "node_timeout": NODE_TIMEOUT}) as nodes:
        yield nodes


def stored_ids(url: str, room: str = "lobby") -> list[int]:
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT m.id FROM message m JOIN room r ON r.id = m.room_id WHERE r.name = %s "
                          "ORDER BY m.id", (room,)).fetchall()
    return [row[0] for row in rows]


async def member(node: Chatd, name: str, room: str = "lobby") -> ChatClient:
    client = await ChatClient.connect(node.ws_url)
    client.welcome = await client.identify(name=name)
    assert client.welcome["type"] == "welcome", client.welcome
    client.joined = await client.request("join", room=room)
    assert client.joined["type"] == "joined", client.joined
    return client


async def test_clients_on_different_nodes_chat_and_see_each_other(cluster):
    alice = await member(cluster[0], "alice")
    bob = await member(cluster[1], "bob")
    carol = await member(cluster[2], "carol")
    try:
        # Presence crosses nodes: carol joined last, on the third node, and sees both.
        assert {m["name"] for m in carol.joined["members"]} == {"alice", "bob", "carol"}
        assert carol.joined["online"] == 3
        await alice.expect("presence", event="join", user={"id": carol.welcome["user"]["id"], "name": "carol"})

        ack = await alice.say("lobby", "hello from node 0")
        for other in (bob, carol):
            got = await other.expect("message", room="lobby")
            assert (got["id"], got["text"]) == (ack["id"], "hello from node 0")

        # A private message reaches every session of its recipient, on any node, and
        # the sender's other sessions; a third user never sees it.
        bob_elsewhere = await ChatClient.connect(cluster[2].ws_url)
        await bob_elsewhere.identify(token=bob.welcome["token"])
        alice_elsewhere = await ChatClient.connect(cluster[1].ws_url)
        await alice_elsewhere.identify(token=alice.welcome["token"])
        sent = await alice.request("say", to=bob.welcome["user"]["id"], text="psst")
        for session in (bob, bob_elsewhere, alice_elsewhere):
            got = await session.expect("message")
            assert (got["id"], got["text"], got["to"]["name"]) == (sent["id"], "psst", "bob")
        await carol.say("lobby", "still here")  # carol's next frame is her own message, not the private one
        assert (await carol.expect("message"))["text"] == "still here"
        for session in (bob_elsewhere, alice_elsewhere):
            await session.close()
    finally:
        for client in (alice, bob, carol):
            await client.close()


async def test_a_node_killed_mid_burst_loses_nothing(cluster, postgres_url):
    urls = [node.ws_url for node in cluster]
    # Each sender starts on its own node and goes on to the next when its node dies.
    senders = [Chatter(urls[i % NODES:] + urls[:i % NODES], f"sender{i}", interval=0.05) for i in range(SENDERS)]
    listeners = [Chatter(urls[i:] + urls[:i], f"listener{i}") for i in range(NODES)]
    for listener in listeners:
        listener.sending = False
    ghost = await member(cluster[1], "ghost")  # lives on the node that dies, and never comes back
    watcher = await member(cluster[0], "watcher")
    tasks = [asyncio.ensure_future(c.run()) for c in senders + listeners]
    victim = cluster[1]
    try:
        await until(lambda: all(len(s.acked) >= 5 for s in senders), what="the burst under way")
        os.kill(victim.pid, signal.SIGKILL)
        await until(lambda: not pid_alive(victim.pid), what="the node to die")
        # Its users leave everywhere within node_timeout (+ a heartbeat): the watcher hears the ghost go.
        await watcher.expect("presence", timeout=NODE_TIMEOUT * 10, event="leave",
                             user={"id": ghost.welcome["user"]["id"], "name": "ghost"})
        goal = {id(s): len(s.acked) + 10 for s in senders}
        await until(lambda: all(len(s.acked) >= goal[id(s)] for s in senders), what="10 more each after the kill")
        for s in senders:
            s.sending = False
        await until(lambda: not any(s.unacked for s in senders), what="every say acknowledged")
        acked = {i for s in senders for i in s.acked.values()}
        everyone = senders + listeners
        await until(lambda: all(acked <= set(c.seen) for c in everyone), what="everyone seeing everything")
    finally:
        for c in senders + listeners:
            c.done.set()
        await asyncio.gather(*tasks)
        await watcher.close()
    stored = stored_ids(postgres_url)
    assert acked <= set(stored), "every acknowledged message is stored"
    for c in senders + listeners:
        assert c.seen == stored, f"{c.name} saw every stored message once, in order"


async def test_listeners_resuming_on_random_nodes_end_with_the_stored_sequence(cluster, postgres_url):
    urls = [node.ws_url for node in cluster]
    writers = [Chatter(urls[i % NODES:] + urls[:i % NODES], f"writer{i}", interval=0.03) for i in range(6)]
    listeners = [Chatter(urls[i % NODES:] + urls[:i % NODES], f"listener{i}", drop_after=0.3 + 0.1 * i)
                 for i in range(6)]
    for listener in listeners:
        listener.sending = False
    tasks = [asyncio.ensure_future(c.run()) for c in writers + listeners]
    try:
        await until(lambda: all(len(w.acked) >= 60 for w in writers), timeout=60, what="60 messages from each writer")
        await until(lambda: all(c.attempts >= 4 for c in listeners), what="every listener resumed 3 times")
        for w in writers:
            w.sending = False
        await until(lambda: not any(w.unacked for w in writers), what="every say acknowledged")
        stored = stored_ids(postgres_url)
        await until(lambda: all(c.seen[-1:] == stored[-1:] for c in listeners), what="listeners caught up")
    finally:
        for c in writers + listeners:
            c.done.set()
        await asyncio.gather(*tasks)
    for c in writers + listeners:
        assert c.failures == []
        assert c.seen == stored, f"{c.name} saw every stored message once, in order"
