"""Notifications across the nodes of a cluster (chatd.events over the bus): several
real servers in one process on one SQLite file (tests/cluster_fixtures.py), whose
bus can drop items on demand; and on a real Redis that restarts."""

from __future__ import annotations

import pytest

from chatd.bus import Delivery
from chatd.events import Target
from tests.conftest import until
from tests.test_feed_cluster import GENEROUS, LosingBus, member, nodes  # noqa: F401 - nodes is a fixture


async def event(client, **match):
    return await client.expect("event", **match)


async def test_events_reach_users_rooms_and_everyone_on_every_node(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice_here = await c.user(a, "alice", "lobby")
    alice_there = await c.user(b, "alice", "lobby", token=alice_here.welcome["token"])
    bob_there = await c.user(b, "bob")
    await c.settle()
    uid = alice_here.welcome["user"]["id"]

    await a.chat.events.send(Target(user=uid), "to.alice", 1)
    await a.chat.events.send(Target(room="lobby"), "to.lobby", 2)
    await a.chat.events.send(Target(), "to.everyone", 3)
    for client in (alice_here, alice_there):
        assert [(await event(client))["name"] for _ in range(3)] == ["to.alice", "to.lobby", "to.everyone"]
    assert (await event(bob_there))["name"] == "to.everyone"  # and nothing before it


async def test_a_user_not_online_anywhere_is_found_in_the_store(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(b, "alice")
    await c.settle()
    await a.chat.events.send(Target(user=alice.welcome["user"]["id"]), "seen.elsewhere", 0)  # online on b only
    assert (await event(alice))["name"] == "seen.elsewhere"


async def test_a_stored_event_sent_on_one_node_is_replayed_on_another(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(a, "alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await alice.close()
    await a.chat.events.send(Target(user=uid), "kept", {"n": 1}, store=True)
    there = await c.user(b, "alice", token=token)
    assert await event(there) == {"type": "event", "name": "kept", "data": {"n": 1},
                                  "ts": (await a.store.events.page(uid, 0, 1, 100)).rows[0].ts, "id": 1}


async def a_stored_event_dropped(cluster_nodes):
    """Two nodes; alice on b; a stores an event for her whose bus delivery is dropped (and the
    bus goes on dropping deliveries)."""
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(b, "alice")
    await c.settle()
    uid = alice.welcome["user"]["id"]
    c.net.drop = lambda item: type(item) is Delivery
    await a.chat.events.send(Target(user=uid), "dropped", 1, store=True)
    return c, a, b, alice, uid


async def test_a_stored_event_the_bus_dropped_is_filled_at_the_users_next_one(cluster_nodes):
    c, a, b, alice, uid = await a_stored_event_dropped(cluster_nodes)
    c.net.drop = lambda item: False
    await a.chat.events.send(Target(user=uid), "next", 2, store=True)
    assert [((f := await event(alice))["id"], f["name"]) for _ in range(2)] == [(1, "dropped"), (2, "next")]


async def test_a_stored_event_the_bus_dropped_is_filled_when_the_bus_says_it_lost_items(cluster_nodes):
    c, a, b, alice, uid = await a_stored_event_dropped(cluster_nodes)
    b.bus.lose()  # as after Redis restarted
    assert (await event(alice))["id"] == 1
    await b.chat.events.send(Target(user=uid), "sentinel", 0)
    assert (await event(alice))["name"] == "sentinel"  # once, not again


@pytest.mark.redis
async def test_a_stored_event_never_published_reaches_an_online_user_when_redis_comes_back(nodes, redis_server):  # noqa: F811
    one, two = await nodes(2)
    bob = await member(nodes, two, "bob", room=None)
    uid = bob.welcome["user"]["id"]
    LosingBus(one).armed = True
    await one.chat.events.send(Target(user=uid), "never.published", 1, store=True)
    losses = two.chat.feed.losses
    redis_server.restart()  # every node reconnects and reads what it may have missed
    await until(lambda: two.chat.feed.losses > losses, GENEROUS, "node two to reconnect")
    assert (await event(bob, timeout=GENEROUS))["id"] == 1
    await one.chat.events.send(Target(user=uid), "after", 2, store=True)
    assert ((f := await event(bob, timeout=GENEROUS))["id"], f["name"]) == (2, "after")  # and nothing twice
