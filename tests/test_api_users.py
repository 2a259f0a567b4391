"""POST /api/v1/users/{id}/disconnect, and the online queries, against a real server."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed

from tests.apiclient import api_call, api_key
from tests.test_connection import RawClient
from tests.webapp import WebApp

APP = WebApp()


async def test_a_kick_closes_every_session_with_4410_and_the_reason(server, connect, user):
    alice = await user("alice", "lobby")
    second = await (await connect()).enter(token=alice.welcome["token"])
    bob = await user("bob", "lobby")
    uid = alice.welcome["user"]["id"]
    key = api_key(server, "manage", "read")
    assert (await api_call(server, "GET", f"/users/{uid}/online", key=key))[1] == {"id": uid, "online": True,
                                                                                  "sessions": 2}
    status, body, _ = await api_call(server, "POST", f"/users/{uid}/disconnect", {"reason": "account suspended"},
                                     key=key)
    assert status == 200 and body == {"id": uid, "sessions_here": 2}
    for client in (alice, second):
        assert await client.expect("kicked") == {"type": "kicked", "reason": "account suspended", "cause": "app"}
        try:
            await client.expect("never")
        except ConnectionClosed as e:
            assert (e.rcvd.code, e.rcvd.reason) == (4410, "account suspended")
    assert (await bob.request("ping"))["type"] == "pong"
    assert (await api_call(server, "GET", f"/users/{uid}/online", key=key))[1]["online"] is False
    status, body, _ = await api_call(server, "POST", "/users/424242/disconnect", {}, key=key)
    assert status == 404 and body["error"]["code"] == "no_such_user"


async def test_a_kicked_session_counts_no_more_while_its_client_has_yet_to_answer_the_close(server, user):
    """A client that does not answer the close (it does not read) keeps its socket up to CLOSE_WAIT:
    from the kick on, its session is neither online, nor in its rooms, nor kicked again."""
    bob = await user("bob", "lobby")
    client = await RawClient.connect(server.port)
    client.send_json({"type": "identify", "name": "slowpoke"})
    uid = (await client.next_json())["user"]["id"]
    client.send_json({"type": "join", "room": "lobby"})
    assert (await client.next_json())["type"] == "joined"
    assert (await bob.expect("presence"))["event"] == "join"
    key = api_key(server, "manage", "read")
    status, body, _ = await api_call(server, "POST", f"/users/{uid}/disconnect", {}, key=key)
    assert (status, body["sessions_here"]) == (200, 1)
    assert (await api_call(server, "GET", f"/users/{uid}/online", key=key))[1] == {"id": uid, "online": False,
                                                                                  "sessions": 0}
    assert (await api_call(server, "GET", "/online", key=key))[1] == {"count": 1}
    online = (await api_call(server, "GET", "/rooms/lobby/online", key=key))[1]
    assert [u["name"] for u in online["users"]] == ["bob"]
    assert len(server.sockets) == 2, "the kicked client's socket is still open: it has not answered"
    assert (await bob.expect("presence")) == {"type": "presence", "room": "lobby", "event": "leave",
                                               "user": {"id": uid, "name": "slowpoke"}}
    status, body, _ = await api_call(server, "POST", f"/users/{uid}/disconnect", {}, key=key)
    assert (status, body["sessions_here"]) == (200, 0)
    assert (await client.next_json())["type"] == "kicked"
    assert (await client.expect_close())[0] == 4410
    client.close()


async def test_a_kick_on_one_node_closes_the_users_sessions_on_every_node(cluster_nodes):
    c = await cluster_nodes(2)
    here, there = c.nodes
    alice = await c.user(here, "alice", "lobby")
    elsewhere = await (await c.client(there)).enter("lobby", token=alice.welcome["token"])
    bob = await c.user(there, "bob", "lobby")
    uid = alice.welcome["user"]["id"]
    status, body, _ = await api_call(here, "POST", f"/users/{uid}/disconnect", {"reason": "ré" * 100},
                                     key=api_key(here, "manage"))
    assert (status, body) == (200, {"id": uid, "sessions_here": 1})  # the other node's through its notice
    for client in (alice, elsewhere):
        assert (await client.expect("kicked"))["reason"] == "ré" * 100
        try:
            await client.expect("never")
        except ConnectionClosed as e:
            # The close frame's reason is cut to fit its 123 bytes, on a character boundary.
            assert (e.rcvd.code, e.rcvd.reason) == (4410, "ré" * 41)  # 123 bytes
    assert (await bob.request("ping"))["type"] == "pong"


async def test_online_in_a_room_and_in_all(server, user):
    await user("alice", "lobby")
    await user("bob")
    key = api_key(server, "read")
    status, body, _ = await api_call(server, "GET", "/rooms/lobby/online", key=key)
    assert status == 200 and body["count"] == 1 and [u["name"] for u in body["users"]] == ["alice"]
    assert (await api_call(server, "GET", "/online", key=key))[1] == {"count": 2}
    assert (await api_call(server, "GET", "/rooms/nowhere/online", key=key))[0] == 404


async def test_history_pages_like_the_websocket(server, user, seed):
    alice = await user("alice", "lobby")
    ids = await seed(5, "old", room="lobby")
    key = api_key(server, "read")
    status, body, _ = await api_call(server, "GET", "/rooms/lobby/history?limit=2", key=key)
    assert status == 200 and [m["id"] for m in body["messages"]] == ids[-2:] and body["more"] is True
    status, body, _ = await api_call(server, "GET", f"/rooms/lobby/history?before={ids[-2]}&limit=10", key=key)
    assert [m["id"] for m in body["messages"]] == ids[:3] and body["more"] is False
    status, body, _ = await api_call(server, "GET", f"/users/{alice.welcome['user']['id']}/history?with=1", key=key)
    assert status == 200 and body["messages"] == []



@pytest.mark.parametrize("config_overrides", [{"app_tokens": {"secret": APP.secret}}])
async def test_a_web_app_finds_its_user_by_sub_from_their_first_sign_in_on(server, connect):
    key = api_key(server, "read")
    sub = "shop/u 42?"  # any string, URL-encoded in the path
    path = f"/subs/{quote(sub, safe='')}"
    status, body, _ = await api_call(server, "GET", path, key=key)
    assert (status, body["error"]["code"]) == (404, "no_such_user")
    phone = await (await connect()).enter(app_token=APP.token(sub, name="Kim"))
    status, body, _ = await api_call(server, "GET", path, key=key)
    assert (status, body) == (200, {"id": phone.welcome["user"]["id"], "name": "Kim", "sub": sub})
    assert (await api_call(server, "GET", path, key=api_key(server, "publish")))[0] == 403
