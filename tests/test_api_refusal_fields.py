"""The HTTP answers' refusals carry the detail fields the WebSocket's error frame carries for the same
refusal (docs/api.md, "Errors"; docs/protocol.md, "error"): the HTTP API's, the admin API's and
POST /upload's bodies, over real HTTP against a real server, compared with what a real WebSocket
client is told."""

from __future__ import annotations

from typing import Any

import pytest

from chatd.server import Server
from tests.adminclient import admin_call, admin_login, chat_login
from tests.apiclient import api_call, api_key
from tests.test_refusal_fields import NO_SUCH_ID, config_overrides, detail, uid  # noqa: F401 (the fixture: app tokens)
from tests.test_uploads import _admin, png, upload


def body_detail(body: dict[str, Any]) -> dict[str, Any]:
    """An error body's code and fields, without its words."""
    return {k: v for k, v in body["error"].items() if k != "message"}


async def test_the_api_tells_a_refusal_with_the_fields_the_websocket_does(server: Server, user):
    alice = await user("alice", "lobby")
    key = api_key(server, "manage", "read", "publish")
    cases = [  # (the WebSocket request, the same refusal over the API)
        (("say", {"to": NO_SUCH_ID, "text": "hi"}), ("POST", "/messages", {"to": NO_SUCH_ID, "text": "hi",
                                                                            "as": uid(alice)})),
        (("create", {"room": "-bad"}), ("POST", "/rooms", {"name": "-bad"})),
        (("join", {"room": "a b"}), ("POST", "/rooms", {"name": "a b"})),
        (("join", {"room": "nowhere"}), ("GET", "/rooms/nowhere", None)),
    ]
    for (kind, fields), (method, path, body) in cases:
        frame = await alice.request(kind, **fields)
        status, answer, _ = await api_call(server, method, path, body, key=key)
        assert status >= 400 and body_detail(answer) == detail(frame), (kind, frame, answer)
        assert len(detail(frame)) > 1, f"{kind} refused with fields: {frame}"


async def test_the_apis_own_refusals_carry_their_detail_as_fields(server: Server, user):
    alice, bob = await user("alice"), await user("bob")
    reader, bound = api_key(server, "read"), api_key(server, "publish", "read", user=uid(alice))

    status, answer, _ = await api_call(server, "POST", "/rooms", {"name": "new"}, key=reader)
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "scope", "scope": "manage"})
    status, answer, _ = await api_call(server, "POST", "/messages", {"to": uid(bob), "text": "hi", "as": uid(bob)},
                                       key=bound)
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "bound_key", "user": uid(alice)})
    status, answer, _ = await api_call(server, "GET", "/subs/nobody-yet", key=reader)
    assert (status, body_detail(answer)) == (404, {"code": "no_such_user", "sub": "nobody-yet"})
    manager = api_key(server, "manage")
    status, answer, _ = await api_call(server, "DELETE", "/rooms/lobby", key=manager)
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "default_room", "room": "lobby"})
    status, answer, _ = await api_call(server, "POST", f"/users/{NO_SUCH_ID}/disconnect", {}, key=manager)
    assert (status, body_detail(answer)) == (404, {"code": "no_such_user", "user": NO_SUCH_ID})
    status, answer, _ = await api_call(server, "POST", "/rooms/lobby/members", {"subs": ["nobody-yet"]}, key=manager)
    assert (status, body_detail(answer)) == (404, {"code": "no_such_user", "sub": "nobody-yet"})

    hook = "https://x.example/"
    status, answer, _ = await api_call(server, "POST", "/bots", {"name": "a\u202eb", "webhook_url": hook}, key=manager)
    assert (status, body_detail(answer)) == (400, {"code": "bad_name", "rule": "bidi",
                                                   "char": "U+202E RIGHT-TO-LEFT OVERRIDE"})
    status, answer, _ = await api_call(server, "POST", "/bots", {"name": "Alice", "webhook_url": hook}, key=manager)
    assert (status, body_detail(answer)) == (409, {"code": "name_taken", "name": "Alice", "holder": "alice"})


async def test_the_admin_api_and_uploads_carry_the_fields_too(server: Server, connect, web_app):
    mod = await (await connect()).enter(app_token=web_app.token("mod", name="mod", roles=["moderator"]))
    status, answer, _ = await (await chat_login(server, mod.welcome["token"])).call("GET", "/rooms")
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "role", "role": "admin"})
    plain = await (await connect()).enter(name="plain")
    status, answer, _ = await admin_call(server, "POST", "/login/chat", {"token": plain.welcome["token"]})
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "role", "role": "moderator"})
    status, answer, _ = await admin_call(server, "POST", "/login/chat", {"token": "not-a-token"})
    assert (status, body_detail(answer)) == (401, {"code": "bad_token", "cause": "signature"})
    await server.chat.moderation.ban_user(_admin(), uid(mod), None, "spam")
    status, answer, _ = await admin_call(server, "POST", "/login/chat", {"token": mod.welcome["token"]})
    assert (status, body_detail(answer)) == (403, {"code": "banned", "reason": "spam", "until": None})
    admin = await admin_login(server)
    status, answer, _ = await admin.call("DELETE", "/rooms/lobby")
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "default_room", "room": "lobby"})
    status, answer, _ = await admin.call("PATCH", "/rooms/-bad", {"archived": True})
    assert (status, body_detail(answer)) == (400, {"code": "bad_room", "rule": "room_start",
                                                   "char": "U+002D HYPHEN-MINUS"})

    status, answer = await upload(server, "not-a-token", png(), "a.png")
    assert (status, body_detail(answer)) == (401, {"code": "bad_token", "cause": "signature"})


async def test_the_admins_refusals_of_names_rooms_and_origins_carry_their_detail(server: Server):
    """What an admin is refused on the rooms tab, or from another origin, says which rule or name as fields."""
    admin = await admin_login(server)
    hook = "https://x.example/"
    cases = [  # (the pattern refused, its detail)
        ("**", {"code": "bad_name", "pattern": "**", "rule": "wildcards_only"}),
        ("a*b*c*d*e*f", {"code": "bad_name", "pattern": "a*b*c*d*e*f", "rule": "wildcards", "limit": 4}),
        (" admin", {"code": "bad_name", "pattern": " admin", "rule": "edge_space"}),
        ("", {"code": "bad_name", "pattern": "", "rule": "empty"}),
        ("x" * 65, {"code": "bad_name", "pattern": "x" * 65, "rule": "too_long", "limit": 64}),
        ("ad\u202emin", {"code": "bad_name", "pattern": "ad\u202emin", "rule": "bidi",
                         "char": "U+202E RIGHT-TO-LEFT OVERRIDE"}),
    ]
    for pattern, refused in cases:
        status, answer, _ = await admin.call("POST", "/names", {"pattern": pattern, "scope": "any"})
        assert (status, body_detail(answer)) == (400, refused), pattern
    assert (await admin.call("POST", "/names", {"pattern": "Admin", "scope": "any"}))[0] == 201
    for again in ("Admin", "ADMIN"):
        status, answer, _ = await admin.call("POST", "/names", {"pattern": again, "scope": "user"})
        assert (status, body_detail(answer)) == (409, {"code": "name_reserved", "pattern": again, "listed": "Admin"})

    status, answer, _ = await admin.call("POST", "/rooms", {"name": "Lobby"})
    assert (status, body_detail(answer)) == (409, {"code": "room_exists", "name": "Lobby", "existing": "lobby"})
    status, answer, _ = await admin.call("POST", "/rooms", {"name": "news"}, headers={"Origin": "https://evil.example"})
    assert (status, body_detail(answer)) == (403, {"code": "forbidden", "reason": "origin"})

    manager = api_key(server, "manage")
    for name in ("two words", "at@home"):
        status, answer, _ = await api_call(server, "POST", "/bots", {"name": name, "webhook_url": hook}, key=manager)
        assert (status, body_detail(answer)) == (400, {"code": "bad_name", "rule": "one_word"}), name


@pytest.mark.parametrize("config_overrides", [{"rooms": {"max_rooms": 1}}])
async def test_a_room_past_the_servers_limit_says_the_limit_to_the_admin_and_the_app(server: Server):
    admin = await admin_login(server)
    status, answer, _ = await admin.call("POST", "/rooms", {"name": "news"})
    assert (status, body_detail(answer)) == (409, {"code": "too_many_rooms", "limit": "server", "count": 1})
    status, answer, _ = await api_call(server, "POST", "/rooms", {"name": "news"}, key=api_key(server, "manage"))
    assert (status, body_detail(answer)) == (409, {"code": "too_many_rooms", "limit": "server", "count": 1})


@pytest.mark.parametrize("config_overrides", [{"admin": {"login_attempts": 2, "login_refill_seconds": 600}}])
async def test_a_refused_admin_login_says_which_limit_and_the_wait(server: Server):
    for _ in range(2):
        assert (await admin_call(server, "POST", "/login", {"name": "nobody", "password": "guess"}))[0] == 401
    status, answer, _ = await admin_call(server, "POST", "/login", {"name": "nobody", "password": "guess"})
    assert status == 429 and body_detail(answer) == {"code": "rate_limited", "limit": "logins",
                                                     "retry_ms": answer["error"]["retry_ms"]}


async def test_a_user_the_admin_names_by_an_id_nobody_has_is_named_as_a_field(server: Server):
    admin = await admin_login(server)
    for path in (f"/users/{NO_SUCH_ID}/export", f"/users/{2**62}/export"):
        status, answer, _ = await admin.call("GET", path)
        user = int(path.split("/")[2])
        assert (status, body_detail(answer)) == (404, {"code": "no_such_user", "user": user}), path
