"""Members-only rooms across the nodes of a cluster (``chatd.roomadmin``,
``chatd.cluster.node``): real servers on one SQLite file joined by a BusNet,
real WebSocket clients. The app's change is made on one node; the users are
on another."""

from __future__ import annotations

from chatd.bus import Notice
from tests.conftest import until


def uid(client) -> int:
    return client.welcome["user"]["id"]


async def alice_in_club(cluster_nodes):
    """Two nodes; alice, on b, a member of the members-only room "club" made on a, joined."""
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(b, "alice")
    await a.chat.room_admin.create("club", "", members_only=True)
    await a.chat.room_admin.add_members("club", [uid(alice)])
    await c.settle()
    assert (await alice.request("join", room="club"))["type"] == "joined"
    return c, a, b, alice


async def test_a_member_removed_on_one_node_is_cut_off_at_once_on_every_node(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice_b, bob_b = await c.user(b, "alice"), await c.user(b, "bob")
    alice_a = await c.user(a, "alice", token=alice_b.welcome["token"])  # her second tab, on the other node
    await a.chat.room_admin.create("club", "", members_only=True)
    await a.chat.room_admin.add_members("club", [uid(alice_b), uid(bob_b)])
    await c.settle()
    for client in (alice_b, bob_b, alice_a):
        assert (await client.request("join", room="club"))["type"] == "joined"
    assert (await alice_b.request("rooms"))["type"] == "rooms"

    assert await a.chat.room_admin.remove_member("club", uid(alice_b)) is True
    for tab in (alice_a, alice_b):
        assert await tab.expect("left") == {"type": "left", "room": "club", "reason": "removed"}
    assert (await alice_b.expect("room"))["room"] == {"name": "club"}
    assert (await bob_b.expect("presence", event="leave"))["user"]["id"] == uid(alice_b)

    assert (await bob_b.say("club", "alice is out"))["type"] == "ack"
    for tab in (alice_a, alice_b):
        assert (await tab.request("ping"))["type"] == "pong"
        assert not [f for f in tab.backlog if f["type"] == "message"]
        assert (await tab.request("join", room="club"))["code"] == "no_such_room"
    await c.settle()
    assert b.hub.room("club").online == 1 and a.hub.room("club").online == 1


async def test_a_member_added_on_one_node_joins_on_another_before_its_notice_arrives(cluster_nodes):
    c = await cluster_nodes(2)
    a, b = c.nodes
    alice = await c.user(b, "alice")
    await a.chat.room_admin.create("club", "", members_only=True)
    await c.settle()
    c.net.drop = lambda item: type(item) is Notice and item.kind == "member"  # b never hears of it
    await a.chat.room_admin.add_members("club", [uid(alice)])
    assert (await alice.request("join", room="club"))["type"] == "joined", "b asks the store, the truth"


async def test_a_room_deleted_on_one_node_sends_its_users_out_on_every_node(cluster_nodes):
    c, a, b, alice = await alice_in_club(cluster_nodes)
    await a.chat.room_admin.delete("club")
    assert await alice.expect("left") == {"type": "left", "room": "club", "reason": "deleted"}
    assert b.hub.room("club") is None and a.hub.room("club") is None


async def test_a_removal_whose_notice_was_lost_is_carried_out_after_the_bus_outage(cluster_nodes):
    c, a, b, alice = await alice_in_club(cluster_nodes)
    c.net.drop = lambda item: type(item) is Notice and item.kind == "member"
    await a.chat.room_admin.remove_member("club", uid(alice))
    await c.settle()
    assert uid(alice) in b.hub.room("club").allowed  # b has not heard
    b.bus.lose()  # the bus reconnects: b rereads the rooms and their members
    assert await alice.expect("left") == {"type": "left", "room": "club", "reason": "removed"}
    await until(lambda: uid(alice) not in b.hub.room("club").allowed, what="b's members reread")
