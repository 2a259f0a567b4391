"""Cluster state across nodes (chatd/cluster/node.py): three real servers on
one SQLite file, joined by a BusNet, with real WebSocket clients."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from chatd import identity
from chatd.bus import Delivery
from chatd.protocol.codes import CloseCode
from tests.conftest import until


async def rooms_online(client, room: str) -> int:
    listed = await client.request("rooms")
    return next(r["online"] for r in listed["rooms"] if r["name"] == room)


async def test_presence_and_counts_are_the_same_on_every_node(cluster_nodes):
    c = await cluster_nodes(3)
    a, b, n3 = c.nodes
    alice = await c.user(a, "alice", "lobby")
    bob = await c.user(b, "bob")
    await c.settle()
    joined = await bob.request("join", room="lobby")
    assert joined["online"] == 2
    assert {m["name"] for m in joined["members"]} == {"alice", "bob"}
    assert (await alice.expect("presence", event="join"))["user"]["name"] == "bob"
    carol = await c.user(n3, "carol")
    await c.settle()
    assert await rooms_online(carol, "lobby") == 2
    await bob.request("leave", room="lobby")
    assert (await alice.expect("presence", event="leave"))["user"]["name"] == "bob"
    await c.settle()
    assert await rooms_online(carol, "lobby") == 1


async def test_a_user_on_two_nodes_is_in_the_room_until_its_last_tab_leaves(cluster_nodes):
    c = await cluster_nodes(3)
    a, b, n3 = c.nodes
    watcher = await c.user(n3, "watcher", "lobby")
    tab1 = await c.user(a, "alice", "lobby")
    alice_join = await watcher.expect("presence", event="join")
    tab2 = await c.user(b, "alice", "lobby", token=tab1.welcome["token"])
    await c.settle()
    await tab1.close()
    await until(lambda: not a.hub.users, what="the first tab gone")
    await c.settle()
    await tab2.request("ping")  # alice is still in the room on node b: no leave
    assert not [f for f in watcher.backlog if f["type"] == "presence" and f["event"] == "leave"]
    assert (await watcher.request("join", room="lobby"))["online"] == 2
    await tab2.close()
    left = await watcher.expect("presence", event="leave")
    assert left["user"] == alice_join["user"]


async def test_a_silent_node_has_its_users_leave_everywhere_within_the_bound(cluster_nodes):
    c = await cluster_nodes(3)
    a, b, dead = c.nodes
    alice = await c.user(a, "alice", "lobby")
    await c.user(dead, "carol", "lobby")
    assert (await alice.expect("presence", event="join"))["user"]["name"] == "carol"
    dead.bus.silenced = True  # as after kill -9: heard no more
    timeout = a.config.cluster.node_timeout
    c.clock.now += timeout - 1  # not yet: the last heartbeat is recent enough
    await c.beat(a, b)
    await alice.request("ping")
    assert not [f for f in alice.backlog if f["type"] == "presence"]
    c.clock.now += a.config.cluster.heartbeat_interval + 1
    await c.beat(a, b)
    assert (await alice.expect("presence", event="leave"))["user"]["name"] == "carol"
    assert (await alice.request("join", room="lobby"))["online"] == 1
    bob = await c.user(b, "bob")
    assert await rooms_online(bob, "lobby") == 1


async def test_a_node_that_lost_items_asks_for_the_state_and_converges(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    bob = await c.user(b, "bob", "lobby")
    c.net.drop = lambda item: True  # the bus loses everything for a while
    await c.user(a, "alice", "lobby")
    await c.settle()
    assert (await bob.request("join", room="lobby"))["online"] == 1
    c.net.drop = lambda item: False
    b.bus.lose()  # b hears lost(): it asks every node for its state
    assert (await bob.expect("presence", event="join"))["user"]["name"] == "alice"
    assert (await bob.request("join", room="lobby"))["online"] == 2


async def test_a_node_that_starts_late_learns_the_state_at_once(cluster_nodes):
    c = await cluster_nodes(1)
    alice = await c.user(c.nodes[0], "alice", "lobby")
    await c.start(1)
    late = await c.user(c.nodes[1], "bob")
    joined = await late.request("join", room="lobby")
    assert {m["name"] for m in joined["members"]} == {"alice", "bob"}
    assert (await alice.expect("presence", event="join"))["user"]["name"] == "bob"


async def test_member_lists_and_presence_follow_member_list_max_across_nodes(cluster_nodes):
    c = await cluster_nodes(2, rooms={"member_list_max": 2})
    a, b = c.nodes
    alice = await c.user(a, "alice", "lobby")
    await c.user(b, "bob", "lobby")
    await alice.expect("presence", event="join")
    await c.settle()
    carol = await c.user(b, "carol")
    joined = await carol.request("join", room="lobby")
    assert joined["online"] == 3 and len(joined["members"]) == 2
    await c.settle()
    await alice.request("ping")
    # 3 users in the room, over member_list_max: alice on node a is not told of carol
    assert not [f for f in alice.backlog if f["type"] == "presence"]


async def test_a_rename_on_one_node_is_seen_on_every_node(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(a, "alice", "lobby")
    bob = await c.user(b, "bob", "lobby")
    await alice.expect("presence", event="join")
    renamed = await c.user(b, "alicia", token=alice.welcome["token"])
    assert renamed.welcome["user"]["name"] == "alicia"
    assert (await bob.expect("presence", event="rename"))["user"]["name"] == "alicia"
    assert (await alice.expect("presence", event="rename"))["user"]["name"] == "alicia"
    assert a.hub.users[alice.welcome["user"]["id"]].name == "alicia"


async def test_a_name_online_on_one_node_is_taken_on_the_others_and_held_after(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(a, "Mark")
    await c.settle()
    other = await c.client(b)
    refused = await other.identify(name="Mаrk")  # Cyrillic а
    assert refused["code"] == "name_taken" and "who is online" in refused["message"]
    await alice.close()
    await until(lambda: not a.hub.users, what="Mark offline")
    await c.settle()
    refused = await other.identify(name="mark")
    assert refused["code"] == "name_taken" and "kept for its user" in refused["message"]
    c.clock.now += a.config.identity.name_hold_seconds + 1
    assert (await other.identify(name="mark"))["type"] == "welcome"


async def test_a_room_made_on_one_node_is_listed_and_joinable_on_the_others(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    maker = await c.user(a, "maker")
    watcher = await c.user(b, "watcher")
    await watcher.request("rooms")
    made = await maker.request("create", room="games", topic="board games")
    assert made["type"] == "created"
    event = await watcher.expect("room", event="created")
    assert event["room"] == {"name": "games", "topic": "board games", "online": 0}
    joined = await watcher.request("join", room="games")
    assert joined["type"] == "joined" and joined["topic"] == "board games"
    clash = await watcher.request("create", room="Games")
    assert clash["code"] == "room_exists"


async def test_a_room_in_use_on_one_node_is_not_removed_by_another_and_removal_spreads(cluster_nodes):
    c = await cluster_nodes(2, rooms={"unused_expiry_seconds": 60})
    a, b = c.nodes
    maker = await c.user(a, "maker")
    await maker.request("create", room="games")
    bob = await c.user(b, "bob")
    await c.settle()
    await bob.request("join", room="games")
    await c.settle()
    c.clock.now += 120
    a.tick_rooms()
    b.tick_rooms()
    assert a.hub.room("games") is not None  # bob is in it, on node b
    await bob.request("leave", room="games")
    await c.settle()
    a.tick_rooms()
    await maker.request("rooms")
    c.clock.now += 120
    a.tick_rooms()
    assert (await maker.expect("room", event="removed"))["room"]["name"] == "games"
    await bob.request("rooms")
    await until(lambda: b.hub.room("games") is None, what="removal on node b")
    assert (await bob.request("join", room="games"))["code"] == "no_such_room"


@pytest.mark.parametrize("everywhere", [True, False])
async def test_signing_out_on_one_node_closes_the_sessions_on_the_others(cluster_nodes, everywhere):
    c = await cluster_nodes(2)
    a, b = c.nodes
    here = await c.user(a, "alice")
    there = await c.user(b, "alice", token=here.welcome["token"])
    elsewhere = await c.user(b, "alice2", token=here.welcome["token"])  # same sign-in, renamed tab
    del elsewhere
    answer = await here.request("sign_out", everywhere=everywhere)
    assert answer["type"] == "signed_out"
    with pytest.raises(ConnectionClosed) as closed:
        await there.expect("never")
    assert closed.value.rcvd.code == CloseCode.SIGNED_OUT
    refused = await (await c.client(b)).identify(token=here.welcome["token"])
    assert refused["code"] == "bad_token"


async def room_events(client) -> list[dict]:
    """The rooms created and removed that ``client`` heard of up to now (a round trip makes sure)."""
    assert (await client.request("ping"))["type"] == "pong"
    return [f for f in client.backlog if f["type"] == "room" and f["event"] != "changed"]


async def test_a_room_written_in_on_one_node_is_never_removed_by_the_others(cluster_nodes):
    """Every node that delivers a room's message knows the room is used: no node
    announces its removal, expiry after expiry."""
    c = await cluster_nodes(3, rooms={"unused_expiry_seconds": 60})
    a, b, n3 = c.nodes
    maker = await c.user(a, "maker")
    await maker.request("create", room="games")
    await maker.request("join", room="games")
    assert (await maker.request("say", room="games", text="hello"))["type"] == "ack"
    await maker.request("leave", room="games")
    watchers = [await c.user(node, f"watcher{i}") for i, node in enumerate(c.nodes)]
    for watcher in watchers:
        await watcher.request("rooms")
    await c.settle()
    for _ in range(3):
        c.clock.now += 120
        for node in c.nodes:
            node.tick_rooms()
        await c.settle()
        for node in c.nodes:
            await node.store.writer.run(lambda: None)  # any removal the store was asked for is answered
        await c.settle()
    for watcher in watchers:
        assert await room_events(watcher) == []
    assert all(node.hub.room("games") is not None for node in c.nodes)


async def test_no_node_announces_a_removal_the_store_refuses(cluster_nodes):
    """A node that never heard of a room's message (the bus lost it) asks the store
    to delete the room; the store keeps it, and nobody hears of a removal."""
    c = await cluster_nodes(2, rooms={"unused_expiry_seconds": 60})
    a, b = c.nodes
    maker = await c.user(a, "maker", "lobby")
    await maker.request("create", room="games")
    await c.settle()
    watchers = [await c.user(node, f"watcher{i}") for i, node in enumerate(c.nodes)]
    for watcher in watchers:
        await watcher.request("rooms")
    c.net.drop = lambda item: type(item) is Delivery  # node b hears of no message
    await maker.request("join", room="games")
    assert (await maker.request("say", room="games", text="hello"))["type"] == "ack"
    await maker.request("leave", room="games")
    await c.settle()
    b.tick_rooms()  # the room is unused on b from now on (it heard the maker leave)
    c.clock.now += 120
    b.tick_rooms()
    await b.store.writer.run(lambda: None)
    await c.settle()
    for watcher in watchers:
        assert await room_events(watcher) == []
    assert a.hub.room("games") is not None and b.hub.room("games") is not None
    joined = await watchers[1].request("join", room="games")
    assert [m["text"] for m in joined["messages"]] == ["hello"]


@pytest.mark.parametrize("everywhere", [True, False])
async def test_an_identify_under_way_when_another_node_signs_out_is_answered_bad_token(cluster_nodes, monkeypatch,
                                                                                       everywhere):
    """The sign-out reaches node b after b attached the identifying connection but
    before its welcome was read from the store: it gets `bad_token`, then 4401."""
    c = await cluster_nodes(2)
    a, b = c.nodes
    here = await c.user(a, "alice")
    reading, go_on = asyncio.Event(), asyncio.Event()
    read = identity.catch_up  # the welcome's read of the inbox page

    async def held_read(store, *args, **kwargs):
        if store is b.store:
            reading.set()
            await go_on.wait()
        return await read(store, *args, **kwargs)

    monkeypatch.setattr(identity, "catch_up", held_read)
    there = await c.client(b)
    await there.send({"type": "identify", "token": here.welcome["token"], "cid": "i1"})
    await reading.wait()  # b has attached it and reads its welcome's page
    assert (await here.request("sign_out", everywhere=everywhere))["type"] == "signed_out"
    await c.settle()  # b has heard the sign-out
    go_on.set()
    answer = await there.expect_cid("i1")
    assert answer["type"] == "error" and answer["code"] == "bad_token", answer
    assert answer["cause"] == ("signed_out_everywhere" if everywhere else "signed_out"), "said as a field too"
    with pytest.raises(ConnectionClosed) as closed:
        await there.expect("never")
    assert closed.value.rcvd.code == CloseCode.SIGNED_OUT


async def test_the_ops_of_one_pass_go_in_one_notice_and_before_the_next_notice(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    for i in range(20):
        await c.user(a, f"u{i}", "lobby")
    await c.settle()
    sent: list = []
    publish = a.bus.publish
    a.bus.publish = lambda item: (sent.append(item), publish(item))[1]
    cluster, users = a.chat.cluster, list(a.chat.hub.users.values())
    # As when clients drop at once: 5,000 that did made 10,000 notices, one per op, past the bus's
    # outbox, and every node then read every channel again.
    for user in users:
        cluster.signed_in(user, user.ref(), True)
    assert sent == [], "told at the end of the pass"
    await asyncio.sleep(0)  # one pass
    assert [n.kind for n in sent] == ["ops"]
    assert sent[0].body["ops"] == [["online", u.id, u.name, {}, list(u.stamp)] for u in users]
    sent.clear()
    cluster.signed_in(users[0], users[0].ref(), True)
    cluster.heartbeat()  # a notice in the same pass: the op goes first, as it happened
    assert [n.kind for n in sent] == ["ops", "state"]
    assert sent[0].body["ops"] == [["online", users[0].id, users[0].name, {}, list(users[0].stamp)]]
    await c.settle()
    assert [n.kind for n in sent] == ["ops", "state"], "nothing left to tell at the end of the pass"
