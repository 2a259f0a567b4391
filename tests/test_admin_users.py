"""The users tab's endpoints (``chatd.admin.users``) over real HTTP with a real
admin session: find a user, download its export, delete it."""

from __future__ import annotations

import json

from tests.adminclient import admin_call, admin_login


async def test_a_user_is_found_exported_and_deleted_from_the_page(server, user):
    admin = await admin_login(server)
    alice = await user("alice", "lobby")
    said = await alice.say("lobby", "my words")
    user_id = alice.welcome["user"]["id"]

    status, found, _ = await admin.call("GET", "/users?q=alice")
    assert (status, found) == (200, {"users": [{"id": user_id, "name": "alice", "kind": "guest", "online": True}]})
    assert (await admin.call("GET", f"/users?q={user_id}"))[1]["users"][0]["name"] == "alice"

    status, _, headers = await admin.call("GET", f"/users/{user_id}/export")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    _, raw, _ = await admin.call("GET", f"/users/{user_id}/export")
    assert raw["user"]["name"] == "alice" and [m["text"] for m in raw["messages"]] == ["my words"]

    status, deleted, _ = await admin.call("DELETE", f"/users/{user_id}", {"reason": "asked"})
    assert (status, deleted) == (200, {"deleted": user_id, "tombstones": 1})
    assert "deleted" in (await alice.expect("kicked"))["reason"]
    assert (await admin.call("GET", "/users?q=alice"))[1] == {"users": []}
    assert (await admin.call("GET", f"/users?q={user_id}"))[1] == {
        "users": [{"id": user_id, "name": "[deleted]", "kind": "deleted", "online": False}]}, "found by id, to redo"
    assert (await admin.call("DELETE", f"/users/{user_id}"))[1] == {"deleted": user_id, "tombstones": 0}
    _, audit, _ = await admin.call("GET", "/audit")
    assert [e["action"] for e in audit["entries"]][:4] == ["user.delete", "user.delete", "user.export", "user.export"]
    history = await server.store.room_history(server.hub.room("lobby").id, before=None, after=None, limit=10)
    assert [(r.id, r.text, r.deleted is not None) for r in history.rows] == [(said["id"], "", True)]


async def test_bad_requests_are_refused_clearly_and_none_without_a_session(server):
    admin = await admin_login(server)
    huge = "9" * 23
    for path, status in (("/users", 400), ("/users?q=", 400), ("/users?who=x", 400), ("/users?q=a&q=b", 400),
                         ("/users/0/export", 404), ("/users/99/export", 404), (f"/users/{huge}/export", 404),
                         ("/users/9223372036854775808/export", 404), (f"/users/{'9' * 5000}/export", 404)):
        got, body, _ = await admin.call("GET", path)
        assert got == status and body["error"]["message"], (path, body)
    for ref in (huge, "9223372036854775808", str(2**62), "0", "٣"):  # too large for the database, none, Arabic 3
        assert (await admin.call("GET", f"/users?q={ref}"))[:2] == (200, {"users": []}), ref
    assert (await admin.call("DELETE", "/users/99", {"why": 1}))[0] == 400
    for user_id in (huge, "9223372036854775808", "0"):
        got, body, _ = await admin.call("DELETE", f"/users/{user_id}", {})
        assert (got, body["error"]["code"]) == (404, "no_such_user"), user_id
    assert (await admin_call(server, "GET", "/users?q=a"))[0] == 401
    assert (await admin_call(server, "GET", "/users/1/export"))[0] == 401
    assert (await admin.call("DELETE", "/users/1", csrf=None))[0] == 403
    assert json.dumps((await admin.call("GET", "/users?q=nobody"))[1]) == '{"users": []}'
