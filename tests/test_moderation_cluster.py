"""Moderation across the nodes of a cluster on real Redis and PostgreSQL
(tests/cluster_fixtures.py): a deletion, a mute, a ban made on one node hold
on every node at once; a node started later, or one that lost bus items,
reads them from the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from chatd.audit import Actor
from chatd.bus import Notice
from tests.adminclient import admin_call, chat_login
from tests.conftest import until
from tests.test_moderation import closed_with
from tests.webapp import WebApp

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

APP = WebApp()
ADMIN = Actor("admin", 1, "root", frozenset({"admin"}))


class Held:
    """The notices of ``kind`` from other nodes, kept from ``node``'s cluster as a slow bus would keep
    them: ``came`` is set once one ``awaited`` is among them; ``release`` hands them on, in order."""

    def __init__(self, node: Any, kind: str, awaited: Callable[[Notice], bool] = lambda item: True):
        self.cluster, self.kind, self.awaited, self.items = node.chat.cluster, kind, awaited, []
        self.came = asyncio.Event()
        self.cluster.notice = self._keep  # the bus hands notices to cluster.notice

    def _keep(self, item: Notice) -> None:
        if item.kind != self.kind or item.origin == self.cluster.bus.node:
            type(self.cluster).notice(self.cluster, item)
            return
        self.items.append(item)
        if self.awaited(item):
            self.came.set()

    def release(self) -> None:
        del self.cluster.notice
        for item in self.items:
            self.cluster.notice(item)


def sign_in_of(user_id: int) -> Callable[[Any], bool]:
    """Whether a bus item is a node's ops telling a sign-in of the user (its ``online`` op)."""
    return lambda item: (type(item) is Notice and item.kind == "ops"
                         and any(op[:2] == ["online", user_id] for op in item.body["ops"]))


def listed(node: Any, user_id: int) -> dict:
    """The user as ``node`` lists it in the lobby's members."""
    return {m["id"]: m for m in node.chat.cluster.member_refs(node.chat.hub.room("lobby"), 100)}[user_id]


async def kim_on_both(two: Any) -> tuple[Any, Any, int]:
    """kim, without roles, in the lobby on each node, each node having heard of the other's."""
    a, b = two.nodes
    kims = [await (await two.client(node)).enter("lobby", app_token=APP.token("kim", name="kim")) for node in (a, b)]
    kim_id = kims[0].welcome["user"]["id"]
    await until(lambda: a.chat.cluster.nodes_of(kim_id) == b.chat.cluster.nodes_of(kim_id) == 1,
                what="kim online on the other node, heard on each")
    return kims[0], kims[1], kim_id


@pytest.fixture
async def two(cluster_nodes, redis_server, postgres_url):
    return await cluster_nodes(2, bus=redis_server.url, database=postgres_url, app_tokens={"secret": APP.secret})


async def test_a_deletion_on_one_node_reaches_the_clients_of_every_node(two):
    a, b = two.nodes
    mod = await (await two.client(a)).enter("lobby", app_token=APP.token("mod", name="mod", roles=["moderator"]))
    alice = await two.user(b, "alice", "lobby")
    sent = await alice.say("lobby", "spam")
    await mod.expect("message", id=sent["id"])
    assert (await mod.request("delete", id=sent["id"]))["type"] == "done"
    deleted = await alice.expect("deleted")
    assert deleted.pop("rev") > 0, "the change's number: a resuming client catches up from it"
    assert deleted == {"type": "deleted", "id": sent["id"], "room": "lobby"}
    history = await alice.request("history", room="lobby")
    assert history["messages"][-1] == {"type": "message", "id": sent["id"], "room": "lobby", "ts": sent["ts"],
                                       "deleted": True}


async def test_a_mute_and_a_ban_made_on_one_node_hold_on_the_other(two):
    a, b = two.nodes
    mod = await (await two.client(a)).enter("lobby", app_token=APP.token("mod", name="mod", roles=["moderator"]))
    troll = await two.user(b, "troll", "lobby")
    uid = troll.welcome["user"]["id"]
    assert (await mod.request("mute", user=uid, room="lobby", seconds=60))["type"] == "done"
    await until(lambda: b.chat.moderation.sanctions.mutes, what="the mute heard on node b")
    assert (await troll.say("lobby", "x"))["code"] == "muted"

    assert (await mod.request("ban", user=uid, reason="enough"))["type"] == "done"
    assert (await troll.expect("banned")) == {"type": "banned", "reason": "enough", "until": None}
    assert await closed_with(troll) == (4403, "enough")
    again = await two.client(b)
    assert (await again.identify(token=troll.welcome["token"]))["code"] == "banned"


async def test_an_address_ban_closes_open_sessions_from_it_on_every_node(two):
    a, b = two.nodes
    far = await (await two.client_from(b, "2001:db8::7")).enter("lobby", name="far")
    await a.chat.moderation.ban_address(ADMIN, "2001:db8::/64", 600, "abuse")
    assert (await far.expect("banned"))["reason"] == "abuse"
    assert await closed_with(far) == (4403, "abuse")


async def test_a_node_started_later_loads_the_bans_in_force(two):
    a, _ = two.nodes
    await a.chat.moderation.ban_address(ADMIN, "198.51.100.0/24", None, "for good")
    await two.start(1, bus=a.config.bus, database=a.config.database)
    c = two.nodes[-1]
    newcomer = await two.client_from(c, "198.51.100.9")
    assert (await newcomer.expect("banned"))["reason"] == "for good"


async def test_a_node_that_lost_bus_items_reads_the_sanctions_again(two):
    a, b = two.nodes
    await a.store.moderation.ban(None, "192.0.2.0/24", None, "made behind the bus's back")
    b.chat.cluster.lost()
    await until(lambda: b.chat.moderation.sanctions.network_bans, what="node b reading the bans again")


async def test_a_ban_on_one_node_ends_the_users_admin_sessions_on_every_node(two):
    a, b = two.nodes
    mona = await (await two.client(b)).enter("lobby", app_token=APP.token("mona", name="mona", roles=["moderator"]))
    session = await chat_login(b, mona.welcome["token"])
    assert (await session.call("GET", "/moderation"))[0] == 200
    await a.chat.moderation.ban_user(ADMIN, mona.welcome["user"]["id"], 3600, "abuse")
    assert (await session.call("GET", "/moderation"))[0] == 401, "at once: the session was in the store"
    await until(lambda: b.chat.moderation.ban_of(mona.welcome["user"]["id"], None), what="the ban heard on node b")
    status, body, _ = await admin_call(b, "POST", "/login/chat", {"token": mona.welcome["token"]})
    assert (status, body["error"]["code"]) == (403, "banned")


async def test_a_member_on_another_node_carries_the_same_fields_as_on_its_own(two):
    """Its rank above all: a moderator's page offers a moderation action by the member list's rank
    (docs/protocol.md, "Moderation"), whichever node the member is on."""
    a, b = two.nodes
    admin_token = APP.token("boss", name="boss", roles=["admin"])
    mod = await (await two.client(b)).enter("lobby", app_token=APP.token("mod", name="mod", roles=["moderator"]))
    mod_id = mod.welcome["user"]["id"]
    room_id = a.chat.hub.room("lobby").id
    await until(lambda: mod_id in a.chat.hub.elsewhere.get(room_id, {}), what="mod in the lobby, heard on node a")
    alice = await two.user(a, "alice")
    joined = await alice.request("join", room="lobby")
    here = {m["id"]: m for m in b.chat.cluster.member_refs(b.chat.hub.room("lobby"), 100)}
    assert {m["id"]: m for m in joined["members"]}[mod_id] == here[mod_id] == {
        "id": mod_id, "name": "mod", "rank": "moderator"}

    boss = await (await two.client(b)).enter("lobby", app_token=admin_token)
    presence = await alice.expect("presence", event="join")
    assert presence["user"] == {"id": boss.welcome["user"]["id"], "name": "boss", "rank": "admin"}


async def test_new_roles_reach_the_other_nodes_member_lists_at_once(two):
    """The web app made a member a moderator; their next sign-in on the node they are on already
    carries it: the other node's member list names the new rank without waiting for a heartbeat."""
    a, b = two.nodes
    first = await (await two.client(a)).enter("lobby", app_token=APP.token("kim", name="kim"))
    kim_id = first.welcome["user"]["id"]
    room_id = b.chat.hub.room("lobby").id
    await until(lambda: kim_id in b.chat.hub.elsewhere.get(room_id, {}), what="kim in the lobby, heard on node b")
    assert {m["id"]: m for m in b.chat.cluster.member_refs(b.chat.hub.room("lobby"), 100)}[kim_id] == {
        "id": kim_id, "name": "kim"}

    await (await two.client(a)).enter("lobby", app_token=APP.token("kim", name="kim", roles=["moderator"]))
    await until(lambda: {m["id"]: m for m in b.chat.cluster.member_refs(b.chat.hub.room("lobby"), 100)}[kim_id]
                == {"id": kim_id, "name": "kim", "rank": "moderator"}, what="kim a moderator on node b")


async def test_a_new_rank_reaches_the_member_lists_already_sent_on_every_node(two):
    """kim's new roles, from a sign-in on the node kim is on or on another, come to every page in the rooms kim
    is in, on both nodes, as a presence ``update`` with kim's new ref; then both nodes name kim alike."""
    a, b = two.nodes
    kim = await (await two.client(a)).enter("lobby", app_token=APP.token("kim", name="kim"))
    kim_id = kim.welcome["user"]["id"]
    alice = await two.user(b, "alice", "lobby")
    bob = await two.user(a, "bob", "lobby")
    await until(lambda: kim_id in b.chat.hub.elsewhere.get(b.chat.hub.room("lobby").id, {}),
                what="kim in the lobby, heard on node b")

    for node, rank in ((a, "moderator"), (b, "admin")):  # a sign-in on kim's node, then on the other one
        await (await two.client(node)).enter(app_token=APP.token("kim", name="kim", roles=[rank]))
        kim_now = {"id": kim_id, "name": "kim", "rank": rank}
        for client in (alice, bob, kim):
            assert (await client.expect("presence", room="lobby", user=kim_now))["event"] == "update"
    for node in (a, b):
        refs = {m["id"]: m for m in node.chat.cluster.member_refs(node.chat.hub.room("lobby"), 100)}
        assert refs[kim_id] == kim_now, "one rank everywhere: the latest sign-in's"


async def test_a_sign_in_whose_news_the_bus_lost_holds_on_every_node_from_the_next_heartbeat(two):
    """kim, online on both nodes, signs in on node a as a moderator while the bus loses the news: from a's next
    heartbeat on, node b names kim so too, b's rooms hear the update, and kim's session there acts as a
    moderator (it kept the old rank until kim's next sign-in)."""
    a, b = two.nodes
    kim_a, kim_b, kim_id = await kim_on_both(two)
    troll = await two.user(b, "troll", "lobby")
    troll_id, kim_mod = troll.welcome["user"]["id"], {"id": kim_id, "name": "kim", "rank": "moderator"}
    lost = asyncio.Event()

    def lose(item: Any) -> bool:
        if sign_in_of(kim_id)(item):
            lost.set()
            return True
        return False

    two.net.drop = lose
    await (await two.client(a)).enter(app_token=APP.token("kim", name="kim", roles=["moderator"]))
    await lost.wait()
    two.net.drop = lambda item: False
    assert (await kim_a.expect("presence", user=kim_mod))["event"] == "update", "node a's rooms heard it"
    assert (await kim_b.request("mute", user=troll_id, room="lobby", seconds=60))["code"] == "forbidden", \
        "node b missed it"

    a.chat.cluster.heartbeat()
    for client in (troll, kim_b):
        assert (await client.expect("presence", user=kim_mod))["event"] == "update"
    assert (await kim_b.request("mute", user=troll_id, room="lobby", seconds=60))["type"] == "done"
    assert listed(b, kim_id) == listed(a, kim_id) == kim_mod


async def test_sign_ins_at_once_on_two_nodes_end_with_one_rank_on_both(two):
    """kim signs in on node a as an admin and on node b as a moderator at once, each node before it heard of
    the other's sign-in: both nodes end naming kim with the same rank, the newer sign-in's, and acting on it."""
    a, b = two.nodes
    kim_a, kim_b, kim_id = await kim_on_both(two)
    mod = await (await two.client(a)).enter("lobby", app_token=APP.token("mod", name="mod", roles=["moderator"]))
    held = [Held(node, "ops", sign_in_of(kim_id)) for node in (a, b)]
    signing = [await two.client(node) for node in (a, b)]
    await asyncio.gather(*(client.enter(app_token=APP.token("kim", name="kim", roles=[rank]))
                           for client, rank in zip(signing, ("admin", "moderator"), strict=True)))
    for each in held:
        await each.came.wait()  # the other's sign-in is on its way
    for each in held:
        each.release()

    ranks = [listed(node, kim_id).get("rank") for node in (a, b)]
    assert ranks[0] == ranks[1] in ("admin", "moderator"), ranks
    acted = [await kim.request("mute", user=mod.welcome["user"]["id"], room="lobby", seconds=60)
             for kim in (kim_a, kim_b)]
    assert [answer["type"] for answer in acted] == ["done" if ranks[0] == "admin" else "error"] * 2, acted


async def test_a_heartbeat_from_before_a_sign_in_never_undoes_it(two):
    """Node a's state, sent before a heard of kim's sign-in on node b as a moderator, reaches b after it:
    nothing changes, and once kim is online on node a only, b names kim by a's word: a moderator."""
    a, b = two.nodes
    kim_a = await (await two.client(a)).enter("lobby", app_token=APP.token("kim", name="kim"))
    kim_id = kim_a.welcome["user"]["id"]
    kim_mod = {"id": kim_id, "name": "kim", "rank": "moderator"}
    watcher = await two.user(b, "watcher", "lobby")
    await until(lambda: b.chat.cluster.nodes_of(kim_id) == 1, what="kim online on node a, heard on node b")
    held = Held(b, "state")
    a.chat.cluster.heartbeat()
    await held.came.wait()
    kim_b = await (await two.client(b)).enter(app_token=APP.token("kim", name="kim", roles=["moderator"]))
    for client in (kim_a, watcher):
        assert (await client.expect("presence", user=kim_mod))["event"] == "update"

    held.release()
    await kim_b.close()
    await until(lambda: kim_id not in b.chat.hub.users, what="kim gone from node b")
    assert listed(b, kim_id) == kim_mod
    await watcher.request("ping")
    assert not [f for f in watcher.backlog if f["type"] == "presence"], "no update undoing it"
