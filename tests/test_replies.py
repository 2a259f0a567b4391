"""Replies (``say`` with ``reply_to``; ``chatd.changes``; docs/protocol.md, "Replies") against a
real server and real WebSocket clients, on SQLite and PostgreSQL, and on two nodes: what the
frames quote, what may be replied to, and a reply whose original is deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatd.server import Server
from chatd.store.rows import QUOTE_CHARS
from tests.stores import KINDS
from tests.test_roomadmin import uid


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "rooms": {"default": ["lobby", "games"]}}


async def test_a_reply_quotes_its_original_live_in_history_and_once_deleted(server: Server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    long = "句" * (QUOTE_CHARS + 50)
    original = await alice.say("lobby", long)
    reply = await bob.say("lobby", "agreed", reply_to=original["id"])
    quote = {"id": original["id"], "from": {"id": uid(alice), "name": "alice"}, "text": "句" * QUOTE_CHARS}
    live = await alice.expect("message", id=reply["id"])
    assert live["reply_to"] == quote and live["text"] == "agreed"
    assert (await bob.request("history", room="lobby"))["messages"][-1]["reply_to"] == quote
    plain = await alice.say("lobby", "no reply")
    assert "reply_to" not in (await bob.expect("message", id=plain["id"]))

    assert (await alice.request("delete", id=original["id"]))["type"] == "done"
    shown = (await bob.request("history", room="lobby", after=original["id"]))["messages"][0]
    assert shown["reply_to"] == {"id": original["id"], "deleted": True}
    refused = await bob.request("say", room="lobby", text="too late", reply_to=original["id"])
    assert refused["code"] == "message_deleted"


async def test_a_reply_names_a_message_of_its_own_room_or_conversation(server: Server, user):
    alice, bob, carol = await user("alice", "lobby", "games"), await user("bob", "lobby"), await user("carol")
    in_games = await alice.say("games", "gg")
    to_bob = await alice.request("say", to=uid(bob), text="psst")
    to_carol = await alice.request("say", to=uid(carol), text="hey carol")
    for room_or_to, reply_to in (({"room": "lobby"}, in_games["id"]), ({"room": "lobby"}, to_bob["id"]),
                                 ({"to": uid(alice)}, to_carol["id"]), ({"room": "lobby"}, to_bob["id"] + 99)):
        refused = await bob.request("say", text="re", reply_to=reply_to, **room_or_to)
        assert refused["code"] == "no_such_message", (room_or_to, reply_to)
    reply = await bob.request("say", to=uid(alice), text="what?", reply_to=to_bob["id"])
    assert reply["type"] == "ack"
    assert (await alice.expect("message", id=reply["id"]))["reply_to"]["text"] == "psst"
    assert (await alice.request("say", room="lobby", text="x", reply_to="7"))["code"] == "bad_frame"


async def test_a_reply_on_one_node_reaches_the_other_with_its_quote(two_nodes):
    alice, bob = await two_nodes.alice_and_bob()
    original = await alice.say("lobby", "who's in?")
    await bob.expect("message", id=original["id"])
    reply = await bob.say("lobby", "me", reply_to=original["id"])
    assert (await alice.expect("message", id=reply["id"]))["reply_to"]["text"] == "who's in?"
