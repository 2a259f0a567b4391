"""Members-only rooms as clients see them (``chatd.roomadmin``), through a real
server and real WebSocket clients: the web app's changes made on
``server.chat.room_admin`` (the HTTP API's path), what members and non-members
see, join and read, and a removed member cut off at once."""

from __future__ import annotations

import time

import jwt
import pytest

from chatd.protocol.codes import ProtocolError
from chatd.server import Server
from tests.test_rooms import no_room_events


async def club(server: Server, *members: int) -> None:
    """A members-only room "club" made by the app, with ``members`` (user ids)."""
    await server.chat.room_admin.create("club", "the club", members_only=True)
    if members:
        await server.chat.room_admin.add_members("club", list(members))


def uid(client) -> int:
    return client.welcome["user"]["id"]


async def test_a_non_member_neither_sees_nor_joins_nor_reads_it_and_a_member_does(server, user, seed):
    alice, mallory = await user("alice"), await user("mallory")
    await club(server, uid(alice))
    await seed(1, "members only", room="club")

    listed = await mallory.request("rooms")
    assert [r["name"] for r in listed["rooms"]] == ["lobby"]
    for request in ({"type": "join", "room": "club"}, {"type": "join", "room": "CLUB"},
                    {"type": "history", "room": "club"}, {"type": "say", "room": "club", "text": "hi"},
                    {"type": "leave", "room": "club"}, {"type": "rooms", "after": "club"}):
        kind = request.pop("type")
        refused = await mallory.request(kind, **request)
        assert refused["code"] == "no_such_room", (kind, refused)
        assert refused["message"] == "there is no room 'club'" or "CLUB" in refused["message"], \
            "the same answer as for a room that does not exist"
    taken = await mallory.request("create", room="club")
    assert taken == {"type": "error", "code": "room_exists", "message": "the room name 'club' is taken",
                     "cid": taken["cid"], "name": "club"}, "names are unique: a name can only be said to be taken"

    listed = await alice.request("rooms")
    assert {"name": "club", "topic": "the club", "online": 0, "members_only": True} in listed["rooms"]
    joined = await alice.request("join", room="club")
    assert joined["type"] == "joined" and [m["text"] for m in joined["messages"]] == ["members only"]
    assert joined["members_only"] is True  # the page marks it (a lock)


async def test_a_websocket_create_cannot_make_a_members_only_room(user):
    alice = await user("alice")
    refused = await alice.request("create", room="secret", members_only=True)
    assert refused["code"] == "forbidden" and "API" in refused["message"]
    assert [r["name"] for r in (await alice.request("rooms"))["rooms"]] == ["lobby"]


async def test_a_removed_member_is_cut_off_at_once_and_the_others_see_them_leave(server, user):
    alice, bob = await user("alice"), await user("bob")
    await club(server, uid(alice), uid(bob))
    for client in (alice, bob):
        assert (await client.request("rooms"))["type"] == "rooms"
        assert (await client.request("join", room="club"))["type"] == "joined"
    await alice.expect("presence", event="join")

    assert await server.chat.room_admin.remove_member("club", uid(bob)) is True
    assert await bob.expect("left") == {"type": "left", "room": "club", "reason": "removed"}
    assert (await bob.expect("room"))["event"] == "removed"
    assert (await alice.expect("presence", event="leave"))["user"]["id"] == uid(bob)

    assert (await alice.say("club", "after bob"))["type"] == "ack"
    assert (await bob.request("join", room="club"))["code"] == "no_such_room"
    assert (await bob.request("ping"))["type"] == "pong"
    assert not [f for f in bob.backlog if f["type"] == "message"], "no more of its messages"
    assert await server.chat.room_admin.remove_member("club", uid(bob)) is False


async def test_an_added_member_sees_the_room_appear_and_a_listener_outside_sees_nothing(server, user):
    alice, mallory = await user("alice"), await user("mallory")
    for client in (alice, mallory):
        assert (await client.request("rooms"))["type"] == "rooms"
    await club(server)
    assert await server.chat.room_admin.add_members("club", [uid(alice)]) == [uid(alice)]
    event = await alice.expect("room")
    assert event == {"type": "room", "event": "created",
                     "room": {"name": "club", "topic": "the club", "online": 0, "members_only": True}}
    assert (await alice.request("join", room="club"))["type"] == "joined"
    server.chat.rooms.tick(server.chat.clock() + 3600)  # pushes the changed online count
    assert await no_room_events(mallory) == []


async def test_deleting_a_room_sends_everyone_in_it_out_and_takes_its_history(server, user, seed):
    alice, bob = await user("alice"), await user("bob")
    await club(server, uid(alice))
    await seed(2, "gone soon", room="club")
    assert (await alice.request("rooms"))["type"] == "rooms"
    assert (await bob.request("rooms"))["type"] == "rooms"
    assert (await alice.request("join", room="club"))["type"] == "joined"
    await server.chat.room_admin.delete("club")
    assert await alice.expect("left") == {"type": "left", "room": "club", "reason": "deleted"}
    assert (await alice.expect("room"))["event"] == "removed"
    assert await no_room_events(bob) == [], "bob never saw it"
    assert (await alice.request("join", room="club"))["code"] == "no_such_room"
    assert [name for _, name, _ in server.store.rooms()] == ["lobby"]


async def test_opening_a_room_shows_it_and_closing_it_sends_the_non_members_out(server, user):
    alice, bob = await user("alice"), await user("bob")
    await club(server, uid(alice))
    assert (await bob.request("rooms"))["type"] == "rooms"
    await server.chat.room_admin.update("club", topic="open day", members_only=False)
    assert (await bob.expect("room"))["room"] == {"name": "club", "topic": "open day", "online": 0}
    assert (await bob.request("join", room="club"))["type"] == "joined"
    await server.chat.room_admin.update("club", members_only=True)
    assert await bob.expect("left") == {"type": "left", "room": "club", "reason": "removed"}
    assert (await bob.expect("room"))["event"] == "removed"
    assert (await alice.request("join", room="club"))["type"] == "joined"


async def test_a_members_only_room_never_expires_and_is_loaded_with_its_members(tmp_path, user, server):
    alice = await user("alice")
    await club(server, uid(alice))
    server.chat.rooms.tick(server.chat.clock() + 10 * 3600)
    await server.store.writer.run(lambda: None)
    assert "club" in [name for _, name, _ in server.store.rooms()]
    await server.stop(timeout=5)
    again = Server(server.config)
    await again.start()
    try:
        room = again.hub.room("club")
        assert room.members_only and room.allowed == {uid(alice)}
    finally:
        await again.stop(timeout=5)


async def test_an_app_token_claim_replaces_the_token_memberships(server, user):
    alice = await user("alice")
    await club(server)
    await server.chat.room_admin.create("open", "")
    assert (await alice.request("rooms"))["type"] == "rooms"
    await server.chat.room_admin.set_token_rooms(uid(alice), ["club", "open", "nowhere"])
    assert (await alice.expect("room"))["room"]["name"] == "club"
    assert [m["id"] for m in (await server.chat.room_admin.members("club"))[0]] == [uid(alice)]
    assert await server.chat.room_admin.members("open") == ([], False), "an open room needs no membership"
    assert (await alice.request("join", room="club"))["type"] == "joined"
    await server.chat.room_admin.set_token_rooms(uid(alice), [])
    assert await alice.expect("left") == {"type": "left", "room": "club", "reason": "removed"}


async def test_the_apps_mistakes_are_refused_by_name(server, user):
    admin = server.chat.room_admin
    await club(server)
    with pytest.raises(ProtocolError) as refused:
        await admin.add_members("club", [999_999])
    assert refused.value.code == "no_such_user"
    for call in (admin.add_members("nowhere", [1]), admin.remove_member("nowhere", 1), admin.members("nowhere"),
                 admin.update("nowhere", topic="x"), admin.delete("nowhere")):
        with pytest.raises(ProtocolError) as refused:
            await call
        assert refused.value.code == "no_such_room"
    with pytest.raises(ProtocolError) as refused:
        await admin.create("CLUB")
    assert refused.value.code == "room_exists"
    for name, topic, code in (("no spaces", "", "bad_room"), (7, "", "bad_room"), ("ok", "x" * 201, "bad_frame"),
                              ("ok", "bell\a", "bad_frame"), ("ok", ["list"], "bad_frame")):
        with pytest.raises(ProtocolError) as refused:
            await admin.create(name, topic)
        assert refused.value.code == code, (name, topic)


APP_SECRET = "5f0c9e2a7d41b8e3a6c2f9d0b7e14a58c3d2e1f0a9b8c7d6"  # the test app's own


@pytest.mark.parametrize("config_overrides", [{"app_tokens": {"secret": APP_SECRET}}])
async def test_an_app_tokens_rooms_claim_makes_the_user_a_member_until_the_next_token(server, connect):
    await club(server)
    await server.chat.room_admin.create("other", "", members_only=True)

    async def log_in(rooms: list[str]):
        claims = {"sub": "app-42", "name": "Alice", "exp": int(time.time()) + 600, "rooms": rooms}
        client = await connect()
        return await client.enter(app_token=jwt.encode(claims, APP_SECRET, algorithm="HS256"))

    laptop = await log_in(["club", "nowhere"])
    listed = await laptop.request("rooms")
    assert [r["name"] for r in listed["rooms"]] == ["lobby", "club"], "a room that does not exist is ignored"
    assert (await laptop.request("join", room="club"))["type"] == "joined"
    phone = await log_in(["other"])  # the same user, a newer token: its claim replaces the first
    assert uid(phone) == uid(laptop)
    assert await laptop.expect("left") == {"type": "left", "room": "club", "reason": "removed"}
    assert (await phone.request("join", room="other"))["type"] == "joined"
    assert (await phone.request("join", room="club"))["code"] == "no_such_room"
