"""POST /api/v1/events against a real server, with real WebSocket clients (chatd.api.events)."""

from __future__ import annotations

import pytest

from chatd.events import Target
from tests.apiclient import api_call, api_key


async def count_stored(server) -> int:
    return await server.store.read(lambda: server.store.db.execute_sql("SELECT count(*) FROM event").fetchone()[0])


async def test_a_notification_to_a_user_reaches_all_their_sessions(server, user, connect):
    alice = await user("alice")
    alice2 = await (await connect()).enter(token=alice.welcome["token"])
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/events", {"to": alice.welcome["user"]["id"],
                                                                 "name": "order.shipped", "data": {"order": 7}}, key)
    assert status == 200 and set(body) == {"ts"}
    for client in (alice, alice2):
        assert await client.expect("event") == {"type": "event", "name": "order.shipped", "data": {"order": 7},
                                                "ts": body["ts"]}


async def test_a_room_and_everyone_get_theirs(server, user):
    alice, bob = await user("alice", "lobby"), await user("bob")
    key = api_key(server, "publish")
    assert (await api_call(server, "POST", "/events", {"room": "LOBBY", "name": "poll.closed"}, key))[0] == 200
    assert (await api_call(server, "POST", "/events", {"everyone": True, "name": "site.news", "data": [1]}, key))[0] \
        == 200
    first = await alice.expect("event")
    assert (first["name"], first["room"], first["data"]) == ("poll.closed", "lobby", None)
    assert (await alice.expect("event"))["data"] == [1]
    assert (await bob.expect("event"))["name"] == "site.news"  # bob, not in the room, got only this


async def test_a_stored_notification_reaches_an_offline_user_when_they_connect(server, user, connect):
    alice = await user("alice")
    uid, token = alice.welcome["user"]["id"], alice.welcome["token"]
    await alice.close()
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/events", {"to": uid, "name": "invoice.paid", "data": {"n": 1},
                                                                 "store": True, "ttl_seconds": 3600}, key)
    assert status == 200 and body["id"] == 1 and body["expires"] == body["ts"] + 3_600_000
    again = await (await connect()).enter(token=token)
    assert await again.expect("event") == {"type": "event", "name": "invoice.paid", "data": {"n": 1},
                                           "ts": body["ts"], "id": 1}


async def test_it_works_in_a_batch(server, user):
    alice = await user("alice")
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/batch", {"operations": [
        {"op": "send_event", "args": {"to": alice.welcome["user"]["id"], "name": "a", "store": True}},
        {"op": "send_event", "args": {"room": "nowhere", "name": "b"}},
    ]}, key)
    assert status == 200
    assert [r["status"] for r in body["results"]] == [200, 404]
    assert body["results"][0]["body"]["id"] == 1
    assert body["results"][1]["body"]["error"]["code"] == "no_such_room"
    assert (await alice.expect("event"))["id"] == 1


@pytest.mark.parametrize("scopes, bound, status, code", [
    (None, False, 401, "unauthorized"),
    (("read", "manage"), False, 403, "forbidden"),
    (("publish",), True, 403, "forbidden"),  # a bot's key
])
async def test_without_a_key_or_its_scope_nothing_is_sent_or_stored(server, user, scopes, bound, status, code):
    alice = await user("alice")
    uid = alice.welcome["user"]["id"]
    api_key(server, "manage")  # the API is on
    key = api_key(server, *scopes, user=uid if bound else None) if scopes else None
    answer = await api_call(server, "POST", "/events", {"to": uid, "name": "x", "store": True}, key)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert await count_stored(server) == 0
    await server.chat.events.send(Target(user=uid), "sentinel", 0)
    assert (await alice.expect("event"))["name"] == "sentinel"


@pytest.mark.parametrize("body, status, code, words", [
    ({"to": 424242, "name": "x"}, 404, "no_such_user", "no user 424242"),
    ({"to": 424242, "name": "x", "store": True}, 404, "no_such_user", "no user 424242"),
    ({"room": "nowhere", "name": "x"}, 404, "no_such_room", "nowhere"),
    ({"room": "no room", "name": "x"}, 400, "bad_room", "room"),
    ({"name": "x"}, 400, "bad_request", "exactly one of"),
    ({"to": 1, "room": "lobby", "name": "x"}, 400, "bad_request", "exactly one of"),
    ({"everyone": False, "name": "x"}, 400, "bad_request", "must be true"),
    ({"everyone": True, "name": "x y"}, 400, "bad_request", "dotted identifier"),
    ({"everyone": True}, 400, "bad_request", "'name' is required"),
    ({"everyone": True, "name": "x", "store": True}, 400, "bad_request", "only an event to a user"),
    ({"to": 1, "name": "x", "ttl_seconds": 60}, 400, "bad_request", "stored events"),
    ({"to": 1, "name": "x", "store": True, "ttl_seconds": 8 * 86400}, 400, "bad_request", "events.ttl_days"),
    ({"everyone": True, "name": "x", "data": "x" * 9000}, 400, "bad_request", "events.max_data_bytes"),
    ({"everyone": True, "name": "x", "colour": "red"}, 400, "bad_request", "unknown field"),
])
async def test_a_bad_request_is_refused_with_a_clear_error_and_stores_nothing(server, user, body, status, code,
                                                                              words):
    await user("alice")  # user 1
    key = api_key(server, "publish")
    answer = await api_call(server, "POST", "/events", body, key)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert words in answer[1]["error"]["message"]
    assert await count_stored(server) == 0


async def test_the_openapi_document_declares_it(server):
    api_key(server, "read")
    status, doc, _ = await api_call(server, "GET", "/openapi.json")
    post = doc["paths"]["/api/v1/events"]["post"]
    assert post["operationId"] == "send_event"
    assert "name" in post["requestBody"]["content"]["application/json"]["schema"]["required"]
