"""Emoji reactions (``chatd.changes``; docs/protocol.md, "Edits and reactions") against a real
server and real WebSocket clients, on SQLite and PostgreSQL, and on two nodes: the live
``reactions`` frame, history, what an emoji is, the caps, tombstones, a restart, and resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatd.protocol.codes import REACTIONS_PER_MESSAGE, REACTIONS_PER_USER, REACTORS_LISTED, REACTORS_SHOWN
from chatd.protocol.frames import message_frame
from chatd.server import Server
from chatd.store.rows import MessageRow, Reacted
from tests.stores import KINDS
from tests.test_roomadmin import uid
from tests.wsclient import ChatClient

# Twenty-odd distinct fully-qualified emoji, some of them sequences.
EMOJI = ["👍", "❤️", "😂", "🎉", "👍🏽", "👩‍👩‍👧", "🇨🇳", "1️⃣", "🙏", "🔥", "👀", "✅", "🚀", "😢", "🤔", "👏",
         "💯", "🙌", "😮", "🤝", "🏳️‍🌈", "☕"]


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database}


def counts(reactions: list[dict[str, Any]]) -> list[tuple[str, int, list[str]]]:
    return [(r["emoji"], r["count"], [u["name"] for u in r["users"]]) for r in reactions]


async def test_reactions_reach_everyone_live_and_stay_in_history(server: Server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    sent = await alice.say("lobby", "ship it?")
    await bob.expect("message", id=sent["id"])

    assert await bob.request("react", id=sent["id"], emoji="👍", cid="r1") == {"type": "done", "cid": "r1"}
    assert (await alice.request("react", id=sent["id"], emoji="🚀"))["type"] == "done"
    assert (await alice.request("react", id=sent["id"], emoji="👍"))["type"] == "done"
    for client in (alice, bob):
        frames = [await client.expect("reactions", id=sent["id"]) for _ in range(3)]
        assert frames[-1]["room"] == "lobby" and frames[0]["rev"] < frames[1]["rev"] < frames[2]["rev"]
        assert counts(frames[-1]["reactions"]) == [("👍", 2, ["bob", "alice"]), ("🚀", 1, ["alice"])]
    assert (await bob.request("react", id=sent["id"], emoji="👍"))["type"] == "done", "twice is once"
    assert (await bob.request("unreact", id=sent["id"], emoji="👍"))["type"] == "done"
    # One frame per change (the repeated react made none); emoji in the order of their first reaction still given.
    assert counts((await alice.expect("reactions", id=sent["id"]))["reactions"]) == [
        ("🚀", 1, ["alice"]), ("👍", 1, ["alice"])]

    history = await bob.request("history", room="lobby")
    assert counts(history["messages"][-1]["reactions"]) == [("🚀", 1, ["alice"]), ("👍", 1, ["alice"])]
    await alice.say("lobby", "no reactions here")
    assert "reactions" not in (await bob.request("history", room="lobby"))["messages"][-1]


@pytest.mark.parametrize("emoji", ["a", "👍👍", "❤", "👍 ", "🏽", "", 7, "\U0001f44d" * 20])
async def test_only_one_fully_qualified_emoji_is_a_reaction(server: Server, user, emoji):
    alice = await user("alice", "lobby")
    sent = await alice.say("lobby", "hi")
    refused = await alice.request("react", id=sent["id"], emoji=emoji)
    assert refused["code"] == "bad_frame" and "emoji" in refused["message"]


async def test_a_message_takes_at_most_so_many_emoji_and_so_many_from_one_user(server: Server, user):
    alice, bob, carol = await user("alice", "lobby"), await user("bob", "lobby"), await user("carol", "lobby")
    sent = await alice.say("lobby", "vote")
    for i, emoji in enumerate(EMOJI[:REACTIONS_PER_USER]):
        assert (await alice.request("react", id=sent["id"], emoji=emoji))["type"] == "done", i
    refused = await alice.request("react", id=sent["id"], emoji=EMOJI[-1])
    assert (refused["code"], refused["per_message"], refused["per_user"]) == ("too_many_reactions", 20, 10)
    assert (refused["cap"], refused["message"]) == (
        "per_user", "you have given this message 10 reactions, the most one person may give"), "which cap it hit"
    for emoji in EMOJI[REACTIONS_PER_USER:REACTIONS_PER_MESSAGE]:
        assert (await bob.request("react", id=sent["id"], emoji=emoji))["type"] == "done"
    refused = await carol.request("react", id=sent["id"], emoji=EMOJI[-1])
    assert (refused["code"], refused["cap"]) == ("too_many_reactions", "per_message")
    assert refused["message"].startswith("this message has as many different emoji as it can take (20)")
    assert (await carol.request("react", id=sent["id"], emoji=EMOJI[0]))["type"] == "done", "an emoji given already"


async def test_who_may_react_and_a_tombstone_drops_its_reactions(server: Server, user):
    alice, bob, mallory = await user("alice", "lobby"), await user("bob", "lobby"), await user("mallory")
    sent = await alice.say("lobby", "hello")
    private = await alice.request("say", to=uid(bob), text="just us")
    assert (await mallory.request("react", id=sent["id"], emoji="👍"))["code"] == "no_such_message", "not joined"
    assert (await mallory.request("react", id=private["id"], emoji="👍"))["code"] == "no_such_message"
    assert (await bob.request("react", id=private["id"], emoji="👍"))["type"] == "done"
    assert (await alice.expect("reactions", id=private["id"]))["to"] == {"id": uid(bob), "name": "bob"}

    assert (await bob.request("react", id=sent["id"], emoji="🎉"))["type"] == "done"
    assert (await alice.request("delete", id=sent["id"]))["type"] == "done"
    assert (await bob.request("react", id=sent["id"], emoji="👍"))["code"] == "message_deleted"
    gone = (await bob.request("history", room="lobby"))["messages"][-1]
    assert gone["deleted"] is True and "reactions" not in gone


async def test_reactions_survive_a_restart(server: Server, user):
    alice = await user("alice", "lobby")
    sent = await alice.say("lobby", "kept?")
    assert (await alice.request("react", id=sent["id"], emoji="👩‍👩‍👧"))["type"] == "done"
    await server.stop(timeout=5)
    again = Server(server.config)
    await again.start()
    try:
        async with ChatClient.connect(f"ws://127.0.0.1:{again.port}/ws") as back:
            await back.identify(token=alice.welcome["token"])
            joined = await back.request("join", room="lobby")
            assert counts(joined["messages"][-1]["reactions"]) == [("👩‍👩‍👧", 1, ["alice"])]
    finally:
        await again.stop(timeout=5)


async def test_a_client_away_gets_the_reactions_it_missed_on_resume(server: Server, user, connect):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    sent = await alice.say("lobby", "lunch?")
    seen = (await bob.request("join", room="lobby"))["revised"]
    await bob.close()
    assert (await alice.request("react", id=sent["id"], emoji="☕"))["type"] == "done"
    back = await (await connect()).enter(token=bob.welcome["token"])
    rejoined = await back.request("join", room="lobby", since=sent["id"], revised=seen)
    assert [counts(m["reactions"]) for m in rejoined["changed"]] == [[("☕", 1, ["alice"])]]
    assert rejoined["messages"] == []


async def test_a_reaction_on_one_node_reaches_the_sessions_of_the_other(two_nodes):
    alice, bob = await two_nodes.alice_and_bob()
    sent = await alice.say("lobby", "nice")
    await bob.expect("message", id=sent["id"])
    assert (await bob.request("react", id=sent["id"], emoji="🔥"))["type"] == "done"
    assert counts((await alice.expect("reactions", id=sent["id"]))["reactions"]) == [("🔥", 1, ["bob"])]


def test_a_message_frame_names_each_emojis_first_users_and_at_most_forty_in_all():
    users = tuple((i, f"user{i}") for i in range(1, REACTORS_SHOWN + 1))
    one = MessageRow(1, "lobby", 1, "a", None, None, "hi", 0, reactions=(Reacted("👍", 35, users),))
    assert [len(r["users"]) for r in message_frame(one)["reactions"]] == [REACTORS_SHOWN]
    many = one._replace(reactions=tuple(Reacted(e, 35, users) for e in EMOJI[:REACTIONS_PER_MESSAGE]))
    named = [r["users"] for r in message_frame(many)["reactions"]]
    assert sum(map(len, named)) <= REACTORS_LISTED and all(u == named[0] for u in named) and named[0]
    assert [r["count"] for r in message_frame(many)["reactions"]] == [35] * REACTIONS_PER_MESSAGE
