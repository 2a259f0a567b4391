"""An admin's room actions (``chatd.roomcare``) as users see them: archived and
announcement rooms, deleted rooms, on two nodes of a cluster sharing one
database (SQLite, and PostgreSQL), real WebSocket clients. The admin acts on
node a; the users are on node b."""

from __future__ import annotations

import pytest

from chatd.protocol.codes import ProtocolError
from tests.adminclient import ROOT
from tests.apiclient import api_call, api_key
from tests.conftest import until


async def actions(server) -> list[tuple[str, str]]:
    page = await server.store.audit.page(None, 100)
    return [(row["action"], row["target"]) for row in reversed(page.rows)]


async def test_an_archived_room_is_read_only_everywhere_its_history_stays_and_unarchiving_reopens_it(two_nodes):
    a, b = two_nodes.nodes
    alice = await two_nodes.user(b, "alice", "lobby")
    assert (await alice.say("lobby", "before"))["type"] == "ack"
    assert (await alice.request("rooms"))["type"] == "rooms"

    await a.chat.room_care.change(ROOT, "lobby", "archived", True, reason="season over")
    changed = await alice.expect("room", event="changed")
    assert changed["room"] == {"name": "lobby", "archived": True, "announcement": False}
    refused = await alice.request("say", room="lobby", text="after")
    assert refused["code"] == "room_archived" and "read-only" in refused["message"] and refused["room"] == "lobby"
    history = await alice.request("history", room="lobby")
    assert [m["text"] for m in history["messages"]] == ["before"]
    late = await two_nodes.user(b, "late")
    assert (await late.request("join", room="lobby"))["archived"] is True  # the page shows it read-only at once
    listed = await late.request("rooms")
    assert {"name": "lobby", "topic": "", "online": 2, "archived": True} in listed["rooms"]

    key = api_key(a, "publish")
    status, body, _ = await api_call(a, "POST", "/messages", {"room": "lobby", "text": "from the app",
                                                               "as": alice.welcome["user"]["id"]}, key=key)
    assert (status, body["error"]["code"]) == (409, "room_archived"), "read-only for the web app too"

    await a.chat.room_care.change(ROOT, "lobby", "archived", False)
    await alice.expect("room", event="changed", room={"name": "lobby", "archived": False, "announcement": False})
    assert (await alice.say("lobby", "open again"))["type"] == "ack"
    assert await actions(a) == [("room.archive", "room:lobby"), ("room.unarchive", "room:lobby")]


async def test_an_announcement_room_takes_messages_from_moderators_only(two_nodes, web_app):
    a, b = two_nodes.nodes
    await a.chat.room_care.create(ROOT, "news", topic="what is new", announcement=True)
    await two_nodes.settle()
    moderator = web_app.token("m-1", name="Moe", roles=["moderator"])
    mod = await (await two_nodes.client(b)).enter("news", app_token=moderator)
    boss = await (await two_nodes.client(b)).enter("news", app_token=web_app.token("a-1", name="Ada", roles=["admin"]))
    reader = await two_nodes.user(b, "rita")
    assert (await reader.request("join", room="news"))["announcement"] is True

    refused = await reader.request("say", room="news", text="me too")
    assert refused["code"] == "moderators_only" and "news" in refused["message"] and refused["room"] == "news"
    for poster in (mod, boss):
        sent = await poster.say("news", f"from {poster.welcome['user']['name']}")
        assert sent["type"] == "ack"
        assert (await reader.expect("message", id=sent["id"]))["room"] == "news"
    assert await actions(a) == [("room.create", "room:news"), ("room.announce", "room:news")]


async def test_a_deleted_room_tells_its_members_on_every_node_and_is_gone(two_nodes):
    a, b = two_nodes.nodes
    await a.chat.room_care.create(ROOT, "games")
    await two_nodes.settle()
    alice = await two_nodes.user(b, "alice", "games")
    bob = await two_nodes.user(a, "bob")
    assert (await bob.request("rooms"))["type"] == "rooms"
    assert (await alice.say("games", "gg"))["type"] == "ack"

    await a.chat.room_care.delete(ROOT, "games", reason="off topic")
    assert await alice.expect("left") == {"type": "left", "room": "games", "reason": "deleted"}
    await bob.expect("room", event="removed", room={"name": "games"})
    refused = await alice.request("join", room="games")
    assert refused["code"] == "no_such_room" and "removed" in refused["message"]
    assert "nobody" not in refused["message"], "not the reason of an unused room"
    await until(lambda: b.hub.room("games") is None, what="gone on b")
    page = await a.store.audit.page(None, 10)
    assert (page.rows[0]["action"], page.rows[0]["reason"]) == ("room.delete", "off topic")
    with pytest.raises(ProtocolError) as missing:
        await a.chat.room_care.delete(ROOT, "games")
    assert missing.value.code == "no_such_room"


async def test_a_default_room_is_not_deleted_since_every_start_makes_it_again(two_nodes):
    a, b = two_nodes.nodes
    alice = await two_nodes.user(b, "alice", "lobby")
    said = await alice.say("lobby", "still here")
    for name in ("lobby", "LOBBY"):
        with pytest.raises(ProtocolError) as refused:
            await a.chat.room_care.delete(ROOT, name)
        assert refused.value.code == "forbidden" and "rooms.default" in refused.value.message
    assert [m["id"] for m in (await alice.request("history", room="lobby"))["messages"]] == [said["id"]]
    assert [r["action"] for r in (await a.store.audit.page(None, 10)).rows] == [], "nothing done, nothing logged"


async def test_a_node_that_lost_the_notice_gets_the_flags_at_its_resync(two_nodes):
    a, b = two_nodes.nodes
    alice = await two_nodes.user(b, "alice", "lobby")
    a.bus.silenced = True  # the notice is lost on its way
    try:
        await a.chat.room_care.change(ROOT, "lobby", "announcement", True)
    finally:
        a.bus.silenced = False
    await two_nodes.settle()
    assert b.hub.room("lobby").announcement is False
    b.bus.lose()  # what a node's bus says once it is back
    await until(lambda: b.hub.room("lobby").announcement, what="the flag read again")
    assert (await alice.request("say", room="lobby", text="hi"))["code"] == "moderators_only"


@pytest.mark.parametrize(("change", "value", "words"), [
    ("colour", True, "one of topic"),
    ("archived", "yes", "true or false"),
    ("retention_days", -1, "whole number"),
    ("retention_days", 1.5, "whole number"),
    ("retention_days", True, "whole number"),
    ("topic", 7, "string"),
])
async def test_bad_changes_are_refused_naming_the_problem(two_nodes, change, value, words):
    a, _ = two_nodes.nodes
    with pytest.raises(ProtocolError) as refused:
        await a.chat.room_care.change(ROOT, "lobby", change, value)
    assert refused.value.code == "bad_frame" and words in refused.value.message
    assert await actions(a) == []
