"""Read state across a user's devices, on SQLite and on PostgreSQL, one process and a cluster
(docs/protocol.md, "Read state"): how far each room and conversation is read is stored, never
goes back, reaches the user's other sessions, and comes with welcome and joined as counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatd.store.readstate import PEER_UNREAD, ROOM_UNREAD, UNREAD_MAX
from chatd.store.schema import is_postgres
from tests.stores import KINDS


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "rooms": {"default": ["lobby", "games"]}}


def state_of(welcome: dict, room: str) -> dict:
    return next(s for s in welcome["room_state"] if s["room"] == room)


async def device(connect, first) -> Any:
    """Another device of ``first``'s user: its resume token on a new connection."""
    return await (await connect()).enter(token=first.welcome["token"])


async def test_reading_on_one_device_clears_the_unread_count_on_the_other(user, connect):
    phone = await user("ann", "lobby")
    laptop = await device(connect, phone)
    await laptop.request("join", room="lobby")
    bob = await user("bob", "lobby")
    said = [(await bob.say("lobby", f"news {n}"))["id"] for n in range(3)]
    await bob.say("lobby", "and bob's own message never counts for bob")

    tablet = await device(connect, phone)
    assert state_of(tablet.welcome, "lobby") | {"last_read": 0} == {
        "room": "lobby", "unread": 4, "mentions": 0, "last_read": 0, "notify": "mentions"}
    joined = await tablet.request("join", room="lobby")
    assert (joined["unread"], joined["last_read"]) == (4, state_of(tablet.welcome, "lobby")["last_read"])

    await phone.send({"type": "read", "room": "lobby", "id": said[1]})
    assert (await laptop.expect("read"))["id"] == said[1]
    assert (await tablet.expect("read")) == {"type": "read", "room": "lobby", "id": said[1]}
    assert state_of((await device(connect, phone)).welcome, "lobby")["unread"] == 2

    await laptop.send({"type": "read", "room": "lobby", "id": said[0]})  # older: last_read never goes back
    await laptop.send({"type": "read", "room": "lobby", "id": 2**62})  # beyond the newest: read up to it only
    newest = (await phone.expect("read"))["id"]
    assert newest == said[-1] + 1
    later = await bob.say("lobby", "after the read")
    assert later["id"] > newest
    again = await (await connect()).enter(token=phone.welcome["token"])
    assert state_of(again.welcome, "lobby")["unread"] == 1, "a message after the read is unread"
    assert "read" not in {f["type"] for f in phone.backlog}, "the reading session is not told its own read"


async def test_counts_are_capped_and_read_through_the_room_and_pair_indexes(user, connect, seed, server):
    ann = await user("ann", "lobby")
    await seed(UNREAD_MAX + 5, "flood", room="lobby")
    state = state_of((await device(connect, ann)).welcome, "lobby")
    assert (state["unread"], state.get("unread_more")) == (UNREAD_MAX, True)

    def plans() -> tuple[str, str]:  # on a reader thread: the store closes its connections at stop
        db = server.store.db
        if is_postgres(db):
            db.execute_sql("SET enable_seqscan = off")  # a test's table is small enough for a scan
            try:
                return ("\n".join(r[0] for r in db.execute_sql(
                            "EXPLAIN " + ROOM_UNREAD.replace("?", "%s"), (1, 1, "%,1,%", 1, 0, 1000))),
                        "\n".join(r[0] for r in db.execute_sql(
                            "EXPLAIN " + PEER_UNREAD.replace("?", "%s"), (1, "1:2", 0, 1000))))
            finally:
                db.execute_sql("RESET enable_seqscan")
        return (str(db.execute_sql("EXPLAIN QUERY PLAN " + ROOM_UNREAD, (1, 1, "%,1,%", 1, 0, 1000)).fetchall()),
                str(db.execute_sql("EXPLAIN QUERY PLAN " + PEER_UNREAD, (1, "1:2", 0, 1000)).fetchall()))

    plan, peer_plan = await server.store.read(plans)
    assert "message_room_id_id" in plan, plan
    assert "message_pair_id" in peer_plan, peer_plan


async def test_a_new_device_lists_the_conversations_and_a_closed_one_stays_closed_until_a_new_message(user, connect):
    ann = await user("ann")
    other_ann = await device(connect, ann)
    bob = await user("bob")
    ann_id, bob_id = ann.welcome["user"]["id"], bob.welcome["user"]["id"]
    first = await bob.request("say", to=ann_id, text="hello ann")
    await bob.request("say", to=ann_id, text="are you there?")
    await ann.expect("message")

    listed = (await device(connect, ann)).welcome["conversations"]
    assert listed == [{"with": {"id": bob_id, "name": "bob"}, "last_id": first["id"] + 1, "unread": 2,
                       "mentions": 2, "last_read": 0, "notify": "all"}]
    assert (await device(connect, bob)).welcome["conversations"][0]["unread"] == 0, "one's own messages are read"

    await ann.send({"type": "read", "with": bob_id, "id": first["id"]})
    assert await other_ann.expect("read") == {"type": "read", "with": bob_id, "id": first["id"]}
    assert await ann.request("close", cid="c1", **{"with": bob_id}) == {"type": "closed", "with": bob_id, "cid": "c1"}
    assert await other_ann.expect("closed") == {"type": "closed", "with": bob_id}
    assert (await device(connect, ann)).welcome["conversations"] == []

    await bob.request("say", to=ann_id, text="back again")
    assert [c["unread"] for c in (await device(connect, ann)).welcome["conversations"]] == [2]
    refused = await ann.request("close", **{"with": 987654})
    assert refused["code"] == "no_such_user"


async def test_notification_levels_are_stored_and_reach_every_session(user, connect):
    ann = await user("ann", "lobby")
    other = await device(connect, ann)
    assert await ann.request("notify", cid="n1", room="lobby", level="all") == {
        "type": "notify", "room": "lobby", "level": "all", "cid": "n1"}
    assert await other.expect("notify") == {"type": "notify", "room": "lobby", "level": "all"}
    assert state_of((await device(connect, ann)).welcome, "lobby")["notify"] == "all"
    assert (await ann.request("notify", room="lobby", level="loud"))["code"] == "bad_frame"
    assert (await ann.request("notify", room="games", level="none"))["code"] == "not_in_room"
    assert (await ann.request("read", room="nowhere", id=1))["code"] == "no_such_room"
    assert (await ann.request("read", id=1))["code"] == "bad_frame"


async def test_a_left_room_is_no_longer_counted(user, connect):
    ann = await user("ann", "lobby", "games")
    assert {s["room"] for s in (await device(connect, ann)).welcome["room_state"]} == {"lobby", "games"}
    await ann.request("leave", room="games")
    bob = await user("bob", "games")
    await bob.say("games", "ann is not here")
    assert {s["room"] for s in (await device(connect, ann)).welcome["room_state"]} == {"lobby"}


async def test_old_clients_see_only_added_fields(user):
    ann = await user("ann", "lobby")
    bob = await user("bob", "lobby")
    await bob.say("lobby", "plain text, no one named")
    message = await ann.expect("message")
    assert set(message) == {"type", "id", "room", "from", "text", "ts"}


async def test_a_read_on_one_node_reaches_the_users_sessions_on_the_other(two_nodes):
    one, two = two_nodes.nodes
    ann = await two_nodes.user(one, "ann", "lobby")
    ann_there = await two_nodes.user(two, "ann", "lobby", token=ann.welcome["token"])
    bob = await two_nodes.user(two, "bob", "lobby")
    said = await bob.say("lobby", "across nodes")
    await ann.expect("message", id=said["id"])
    await ann.send({"type": "read", "room": "lobby", "id": said["id"]})
    assert await ann_there.expect("read") == {"type": "read", "room": "lobby", "id": said["id"]}
    await ann.send({"type": "notify", "room": "lobby", "level": "none"})
    assert (await ann_there.expect("notify"))["level"] == "none"
