"""Typing hints (docs/protocol.md, "Typing"): to the others in a room or the other user of a
conversation (one there is: a private message either way), never to the typist, on every node,
never stored, let through once per TYPING_EVERY seconds per session and place."""

from __future__ import annotations

from chatd.attention import TYPING_EVERY
from tests.conftest import Clock
from tests.test_roomadmin import uid


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
    assert (await bob.request("typing", room="games"))["code"] in ("not_in_room", "no_such_room")


async def test_private_typing_reaches_the_other_user_of_a_conversation_only(server, user):
    server.chat.clock = clock = Clock(1000.0)
    ann, bob, carol = await user("ann"), await user("bob"), await user("carol")

    # No conversation yet: dropped as quietly as a hint too soon, no error (the page says typing
    # in a conversation it opens, before its first message).
    await bob.send({"type": "typing", "with": uid(ann)})
    said = await bob.say(None, "hello", to=uid(ann))  # carried out after the hint: bob's requests go in order
    await ann.expect("message", id=said["id"])
    assert [f for f in ann.backlog if f["type"] == "typing"] == []
    assert [f for f in bob.backlog if f["type"] == "error"] == []

    # Now there is one, for both of them (whoever wrote first).
    clock.now += TYPING_EVERY
    await bob.send({"type": "typing", "with": uid(ann)})
    assert await ann.expect("typing") == {"type": "typing", "with": uid(bob), "user": {"id": uid(bob), "name": "bob"}}
    await ann.send({"type": "typing", "with": uid(bob)})
    assert (await bob.expect("typing"))["with"] == uid(ann)

    # carol has none with ann: ann hears nothing of her, up to bob's next message.
    await carol.send({"type": "typing", "with": uid(ann)})
    await carol.request("ping")  # carol's hint was dealt with before this answer
    said = await bob.say(None, "still there?", to=uid(ann))
    await ann.expect("message", id=said["id"])
    assert [f for f in ann.backlog if f["type"] == "typing"] == []


async def test_typing_crosses_nodes(two_nodes):
    one, two = two_nodes.nodes
    ann = await two_nodes.user(one, "ann", "lobby")
    bob = await two_nodes.user(two, "bob", "lobby")
    await ann.send({"type": "typing", "room": "lobby"})
    assert (await bob.expect("typing"))["user"]["name"] == "ann"
    said = await ann.say(None, "hi", to=uid(bob))
    await bob.expect("message", id=said["id"])
    await ann.send({"type": "typing", "with": uid(bob)})
    assert (await bob.expect("typing"))["with"] == uid(ann)
