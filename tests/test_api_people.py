"""Naming users by the web app's own id (chatd/api/people.py): every endpoint that takes a user
takes its ``sub`` the same way (``X_sub`` in a JSON body, ``sub:…`` in a URL), over real HTTP
against a real server whose users log in with app tokens."""

from __future__ import annotations

import time
from urllib.parse import quote

import jwt
import pytest

from tests.apiclient import api_call, api_key

APP_SECRET = "5b4a39281706f5e4d30e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"  # the test app's own
pytestmark = pytest.mark.parametrize("config_overrides", [{"app_tokens": {"secret": APP_SECRET}}])


@pytest.fixture
def app_user(connect):
    async def log_in(sub: str, name: str, *rooms: str):
        token = jwt.encode({"sub": sub, "name": name, "exp": int(time.time()) + 600}, APP_SECRET, algorithm="HS256")
        return await (await connect()).enter(*rooms, app_token=token)

    return log_in


def uid(client) -> int:
    return client.welcome["user"]["id"]


async def test_messages_to_and_as_a_sub(server, app_user):
    alice, shop = await app_user("u/42", "Alice"), await app_user("shop", "Shop", "lobby")
    key = api_key(server, "publish", "read")
    status, body, _ = await api_call(server, "POST", "/messages", {"to_sub": "u/42", "as_sub": "shop", "text": "hi"},
                                     key=key)
    assert status == 201 and body["to"]["id"] == uid(alice) and body["from"]["id"] == uid(shop)
    assert (await alice.expect("message"))["id"] == body["id"]
    status, body, _ = await api_call(server, "POST", "/messages", {"room": "lobby", "as_sub": "shop", "text": "sale"},
                                     key=key)
    assert status == 201 and body["from"]["id"] == uid(shop)
    status, body, _ = await api_call(server, "GET", f"/users/sub:{quote('u/42', safe='')}/history?with=sub:shop",
                                     key=key)
    assert status == 200 and (body["id"], body["with"]) == (uid(alice), uid(shop)), body
    assert [m["text"] for m in body["messages"]] == ["hi"]


async def test_a_notification_to_a_sub(server, app_user):
    alice = await app_user("u-42", "Alice")
    key = api_key(server, "publish")
    status, body, _ = await api_call(server, "POST", "/events", {"to_sub": "u-42", "name": "order.shipped",
                                                                 "data": {"order": 1}, "store": True}, key=key)
    assert (status, body["id"]) == (200, 1), body
    assert (await alice.expect("event"))["data"] == {"order": 1}
    status, body, _ = await api_call(server, "POST", "/events", {"to_sub": "ghost", "name": "x"}, key=key)
    assert (status, body["error"]["code"]) == (404, "no_such_user")
    status, body, _ = await api_call(server, "POST", "/events", {"to_sub": "u-42", "to": uid(alice), "name": "x"},
                                     key=key)
    assert (status, body["error"]["code"]) == (400, "bad_request")


async def test_online_and_disconnect_by_sub(server, app_user):
    alice = await app_user("u-42", "Alice")
    second = await app_user("u-42", "Alice")  # two devices, one user
    key = api_key(server, "read", "manage")
    status, body, _ = await api_call(server, "GET", "/users/sub:u-42/online", key=key)
    assert (status, body) == (200, {"id": uid(alice), "online": True, "sessions": 2})
    status, body, _ = await api_call(server, "POST", "/users/sub:u-42/disconnect", {"reason": "bye"}, key=key)
    assert (status, body["sessions_here"]) == (200, 2)
    for client in (alice, second):
        assert (await client.expect("kicked"))["reason"] == "bye"


async def test_a_sub_never_seen_is_no_such_user_naming_it(server, app_user):
    await app_user("shop", "Shop", "lobby")
    key = api_key(server, "publish", "read", "manage")
    for method, path, body in [
            ("POST", "/messages", {"to_sub": "ghost", "as_sub": "shop", "text": "hi"}),
            ("POST", "/messages", {"room": "lobby", "as_sub": "ghost", "text": "hi"}),
            ("GET", "/users/sub:ghost/online", None),
            ("POST", "/users/sub:ghost/disconnect", None),
            ("GET", "/users/sub:shop/history?with=sub:ghost", None)]:
        status, answer, _ = await api_call(server, method, path, body, key=key)
        assert (status, answer["error"]["code"]) == (404, "no_such_user") and "'ghost'" in answer["error"]["message"]
    assert (await server.store.stats())["messages"] == 0


async def test_an_id_and_its_sub_together_or_a_bad_path_form_are_refused(server, app_user):
    shop = await app_user("shop", "Shop", "lobby")
    key = api_key(server, "publish", "read")
    for method, path, body in [
            ("POST", "/messages", {"room": "lobby", "as": uid(shop), "as_sub": "shop", "text": "hi"}),
            ("POST", "/messages", {"to": uid(shop), "to_sub": "shop", "as": uid(shop), "text": "hi"}),
            ("GET", "/users/shop/online", None),
            ("GET", "/users/sub:/online", None),
            ("GET", f"/users/{uid(shop)}/history?with=shop", None)]:
        status, answer, _ = await api_call(server, method, path, body, key=key)
        assert (status, answer["error"]["code"]) == (400, "bad_request"), (path, body)


async def test_a_batch_names_users_the_same_way(server, app_user):
    alice = await app_user("u-42", "Alice")
    key = api_key(server, "publish", "read")
    status, body, _ = await api_call(server, "POST", "/batch", {"operations": [
        {"op": "user_online", "args": {"id": "sub:u-42"}},
        {"op": "send_message", "args": {"to_sub": "u-42", "as_sub": "u-42", "text": "note to self"}}]}, key=key)
    assert status == 200 and [r["status"] for r in body["results"]] == [200, 201]
    assert body["results"][0]["body"]["id"] == uid(alice)
