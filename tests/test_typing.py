"""Typing hints (docs/protocol.md, "Typing"): to the others in a room or the other user of a
conversation, never to the typist, on every node, never stored, let through once per
TYPING_EVERY seconds per session and place."""

from __future__ import annotations

from chatd.attention import TYPING_EVERY
from tests.conftest import Clock


async def test_typing_reaches_the_others_once_per_interval_and_never_the_typist(server, user, connect):
    server.chat.clock = clock = Clock(1000.0)
    ann = await user("ann", "lobby")
    ann_too = await (await connect()).enter("lobby", token=ann.welcome["token"])
    bob = await user("bob", "lobby")
    ann_ref = {"id": ann.welcome["user"]["id"], "name": "ann"}

    await ann.send({"type": "typing", "room": "lobby"})
    assert await bob.expect("typing") == {"type": "typing", "room": "lobby", "user": ann_ref}
    await ann.send({"type": "typing", "room": "lobby"})  # too soon: dropped without a word
    said = await ann.say("lobby", "done typing")
    await bob.expect("message", id=said["id"])
    clock.now += TYPING_EVERY
    await ann.send({"type": "typing", "room": "lobby"})
    await bob.expect("typing")
    assert [f["type"] for f in bob.backlog if f["type"] == "typing"] == []
    await ann_too.expect("message", id=said["id"])
    assert all(f["type"] != "typing" for f in ann.backlog + ann_too.backlog), "the typist's sessions hear nothing"

    await bob.send({"type": "typing", "with": ann_ref["id"]})
    assert await ann.expect("typing") == {"type": "typing", "with": bob.welcome["user"]["id"],
                                          "user": {"id": bob.welcome["user"]["id"], "name": "bob"}}
    assert (await bob.request("typing", room="games"))["code"] in ("not_in_room", "no_such_room")


async def test_typing_crosses_nodes(two_nodes):
    one, two = two_nodes.nodes
    ann = await two_nodes.user(one, "ann", "lobby")
    bob = await two_nodes.user(two, "bob", "lobby")
    await ann.send({"type": "typing", "room": "lobby"})
    assert (await bob.expect("typing"))["user"]["name"] == "ann"
    await ann.send({"type": "typing", "with": bob.welcome["user"]["id"]})
    assert (await bob.expect("typing"))["with"] == ann.welcome["user"]["id"]
