"""The rooms endpoints of the HTTP API (chatd/api/rooms.py) over real HTTP against a real
server, with real WebSocket clients to see what users see."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.apiclient import api_call, api_key

APP_SECRET = "0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3"  # the test app's own


@pytest.fixture
def manage(server) -> str:
    return api_key(server, "manage", "read")


def uid(client) -> int:
    return client.welcome["user"]["id"]


async def test_the_app_makes_a_members_only_room_and_its_members_see_it_live(server, user, manage):
    alice, mallory = await user("alice"), await user("mallory")
    for client in (alice, mallory):
        assert (await client.request("rooms"))["type"] == "rooms"
    status, body, _ = await api_call(server, "POST", "/rooms", {"name": "team-7", "topic": "Team 7",
                                                                 "members_only": True}, key=manage)
    assert status == 201 and body == {"room": {"name": "team-7", "topic": "Team 7", "members_only": True,
                                               "online": 0}}
    status, body, _ = await api_call(server, "POST", "/rooms/team-7/members", {"user_ids": [uid(alice)]}, key=manage)
    assert (status, body) == (200, {"room": "team-7", "changed": [uid(alice)]})
    assert (await alice.expect("room"))["room"]["name"] == "team-7"
    assert (await alice.request("join", room="team-7"))["type"] == "joined"
    assert (await mallory.request("join", room="team-7"))["code"] == "no_such_room"

    status, body, _ = await api_call(server, "GET", "/rooms", key=manage)
    assert status == 200 and [r["name"] for r in body["rooms"]] == ["lobby", "team-7"] and body["more"] is False
    status, body, _ = await api_call(server, "GET", "/rooms?limit=1", key=manage)
    assert [r["name"] for r in body["rooms"]] == ["lobby"] and body["more"] is True
    status, body, _ = await api_call(server, "GET", "/rooms?after=lobby", key=manage)
    assert [r["name"] for r in body["rooms"]] == ["team-7"]
    status, body, _ = await api_call(server, "GET", "/rooms/team-7/members", key=manage)
    assert body == {"room": "team-7", "more": False,
                    "members": [{"id": uid(alice), "name": "alice", "sources": ["api"], "online": True}]}
    status, body, _ = await api_call(server, "GET", "/rooms/TEAM-7", key=manage)
    assert (status, body["room"]["online"]) == (200, 1)


async def test_removing_a_member_cuts_their_open_sessions_off_at_once(server, user, manage):
    alice, bob = await user("alice"), await user("bob")
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    await api_call(server, "POST", "/rooms/team-7/members", {"user_ids": [uid(alice), uid(bob)]}, key=manage)
    for client in (alice, bob):
        assert (await client.request("join", room="team-7"))["type"] == "joined"
    status, body, _ = await api_call(server, "POST", "/rooms/team-7/members/remove",
                                     {"user_ids": [uid(bob), uid(bob), 999_999]}, key=manage)
    assert (status, body) == (200, {"room": "team-7", "changed": [uid(bob)]})
    assert await bob.expect("left") == {"type": "left", "room": "team-7", "reason": "removed"}
    assert (await alice.expect("presence", event="leave"))["user"]["id"] == uid(bob)


async def test_update_and_delete(server, user, manage):
    alice = await user("alice")
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    status, body, _ = await api_call(server, "PATCH", "/rooms/team-7", {"topic": "open day", "members_only": False},
                                     key=manage)
    assert (status, body["room"]) == (200, {"name": "team-7", "topic": "open day", "members_only": False,
                                            "online": 0})
    assert (await alice.request("join", room="team-7"))["type"] == "joined"
    status, body, _ = await api_call(server, "DELETE", "/rooms/team-7", key=manage)
    assert (status, body) == (200, {"deleted": "team-7"})
    assert await alice.expect("left") == {"type": "left", "room": "team-7", "reason": "deleted"}
    status, body, _ = await api_call(server, "GET", "/rooms/team-7", key=manage)
    assert (status, body["error"]["code"]) == (404, "no_such_room")


@pytest.mark.parametrize("config_overrides", [{"app_tokens": {"secret": APP_SECRET}}])
async def test_members_named_by_the_apps_own_user_ids(server, connect, manage):
    claims = {"sub": "u-42", "name": "Alice", "exp": int(time.time()) + 600}
    alice = await (await connect()).enter(app_token=jwt.encode(claims, APP_SECRET, algorithm="HS256"))
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    status, body, _ = await api_call(server, "POST", "/rooms/team-7/members", {"subs": ["u-42"]}, key=manage)
    assert (status, body["changed"]) == (200, [uid(alice)])
    status, body, _ = await api_call(server, "POST", "/rooms/team-7/members", {"subs": ["u-42", "u-43"]}, key=manage)
    assert (status, body["error"]["code"]) == (404, "no_such_user") and "'u-43'" in body["error"]["message"]
    status, body, _ = await api_call(server, "POST", "/rooms/team-7/members/remove", {"subs": ["u-42"]}, key=manage)
    assert (status, body["changed"]) == (200, [uid(alice)])


async def test_keys_and_scopes(server, manage):
    reader = api_key(server, "read")
    status, body, _ = await api_call(server, "POST", "/rooms", {"name": "team-7"}, key=reader)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body, _ = await api_call(server, "POST", "/rooms", {"name": "team-7"})
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert server.hub.room("team-7") is None and "team-7" not in [n for _, n, _ in server.store.rooms()]
    status, _, _ = await api_call(server, "GET", "/rooms", key=reader)
    assert status == 200


@pytest.mark.parametrize("method, path, body, status, code", [
    ("POST", "/rooms", {"name": "no spaces"}, 400, "bad_room"),
    ("POST", "/rooms", {"name": 7}, 400, "bad_request"),
    ("POST", "/rooms", {"name": "x", "members_only": "yes"}, 400, "bad_request"),
    ("POST", "/rooms", {"name": "x", "topic": "t" * 201}, 400, "bad_request"),
    ("POST", "/rooms", {"name": "x", "colour": "red"}, 400, "bad_request"),
    ("POST", "/rooms", {"name": "LOBBY"}, 409, "room_exists"),
    ("POST", "/rooms", {"name": "\ud83d"}, 400, "bad_request"),
    ("PATCH", "/rooms/nowhere", {"topic": "x"}, 404, "no_such_room"),
    ("DELETE", "/rooms/nowhere", None, 404, "no_such_room"),
    ("DELETE", "/rooms/Lobby", None, 403, "forbidden"),  # a rooms.default room: every start makes it again
    ("GET", "/rooms/nowhere/members", None, 404, "no_such_room"),
    ("GET", "/rooms/%E2%80%AElobby", None, 400, "bad_room"),
    ("PATCH", "/rooms/lob%07by", {"topic": "x"}, 400, "bad_room"),
    ("GET", "/rooms/%E2%80%AElobby/members", None, 400, "bad_room"),
    ("GET", "/rooms?after=%E2%80%AElobby", None, 400, "bad_room"),
    ("GET", "/rooms?after=nowhere", None, 404, "no_such_room"),
    ("GET", "/rooms?limit=0", None, 400, "bad_request"),
    ("POST", "/rooms/lobby/members", {"user_ids": [999_999]}, 404, "no_such_user"),
    ("POST", "/rooms/lobby/members", {"user_ids": []}, 400, "bad_request"),
    ("POST", "/rooms/lobby/members", {"user_ids": ["1"]}, 400, "bad_request"),
    ("POST", "/rooms/lobby/members", {"user_ids": [1], "subs": ["a"]}, 400, "bad_request"),
    ("POST", "/rooms/lobby/members", {}, 400, "bad_request"),
    ("POST", "/rooms/nowhere/members/remove", {"user_ids": [1]}, 404, "no_such_room"),
])
async def test_bad_requests_are_refused_by_name_never_a_500(server, manage, method, path, body, status, code):
    raw = None
    if body == {"name": "\ud83d"}:
        raw, body = b'{"name": "\\ud83d"}', None
    got, answer, _ = await api_call(server, method, path, body, key=manage, raw=raw)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert [n for _, n, _ in server.store.rooms()] == ["lobby"]


async def test_rooms_operations_go_in_a_batch(server, manage):
    status, body, _ = await api_call(server, "POST", "/batch", {"operations": [
        {"op": "create_room", "args": {"name": "team-7", "members_only": True}},
        {"op": "get_room", "args": {"room": "lobby"}},
        {"op": "get_room", "args": {"room": "nowhere"}},
    ]}, key=manage)  # the items run side by side: none depends on another
    assert status == 200, body
    statuses = [item["status"] for item in body["results"]]
    assert statuses == [201, 200, 404], body
    assert server.hub.room("team-7").members_only


async def test_a_key_bound_to_a_user_sees_the_rooms_as_that_user_does(server, user, manage):
    """docs/api.md: a bound key "acts as that user only": to it, as to the user over the WebSocket,
    a members-only room the user is no member of does not exist (unless the user is a bot serving it)."""
    alice, bob, mallory = await user("alice"), await user("bob"), await user("mallory")
    await api_call(server, "POST", "/rooms", {"name": "team-7", "members_only": True}, key=manage)
    await api_call(server, "POST", "/rooms/team-7/members", {"user_ids": [uid(alice)]}, key=manage)
    assert (await alice.request("join", room="team-7"))["type"] == "joined"
    outsider = api_key(server, "publish", "read", user=uid(mallory))
    for method, path, body in (("POST", "/messages", {"room": "team-7", "text": "psst"}),
                               ("GET", "/rooms/team-7/history", None), ("GET", "/rooms/team-7", None),
                               ("GET", "/rooms/team-7/online", None), ("GET", "/rooms/team-7/members", None)):
        status, refused, _ = await api_call(server, method, path, body, key=outsider)
        assert (status, refused["error"]["code"]) == (404, "no_such_room"), (path, refused)
    status, listed, _ = await api_call(server, "GET", "/rooms", key=outsider)
    assert (status, [r["name"] for r in listed["rooms"]]) == (200, ["lobby"])
    status, refused, _ = await api_call(server, "GET", "/rooms?after=team-7", key=outsider)
    assert (status, refused["error"]["code"]) == (404, "no_such_room"), "paging from it would tell it exists"
    status, refused, _ = await api_call(server, "GET", f"/users/{uid(alice)}/history?with={uid(bob)}", key=outsider)
    assert (status, refused["error"]["code"]) == (403, "forbidden")
    status, _, _ = await api_call(server, "GET", f"/users/{uid(alice)}/history?with={uid(mallory)}", key=outsider)
    assert status == 200

    member = api_key(server, "publish", "read", user=uid(alice))
    status, _, _ = await api_call(server, "POST", "/messages", {"room": "team-7", "text": "hi team"}, key=member)
    assert status == 201
    status, made, _ = await api_call(server, "POST", "/bots", {"name": "helper", "webhook_url": "https://x.example/",
                                                               "rooms": ["team-7"]}, key=manage)
    assert status == 201, made
    status, _, _ = await api_call(server, "POST", "/messages", {"room": "team-7", "text": "deployed"},
                                  key=made["api_key"])
    assert status == 201
    assert [(await alice.expect("message"))["text"] for _ in range(2)] == ["hi team", "deployed"]
    status, page, _ = await api_call(server, "GET", "/rooms/team-7/history", key=manage)  # the app's key: every room
    assert (status, [m["text"] for m in page["messages"]]) == (200, ["hi team", "deployed"])
