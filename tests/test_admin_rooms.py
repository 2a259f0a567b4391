"""The rooms tab's endpoints (``chatd.admin.rooms``) over real HTTP, with a real
admin session, on SQLite and PostgreSQL: every action carried out and audited,
bad input refused clearly, nothing without a session or its CSRF token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adminclient import admin_call, admin_login
from tests.stores import KINDS


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "history": {"retention_days": 30}}


async def test_rooms_are_listed_created_changed_and_deleted_with_audit_rows(server, user):
    admin = await admin_login(server)
    status, made, _ = await admin.call("POST", "/rooms", {"name": "news", "topic": "what is new",
                                                          "announcement": True})
    assert status == 201 and made | {"id": 0} == {"id": 0, "name": "news", "topic": "what is new", "online": 0,
                                                  "members_only": False, "archived": False,
                                                  "announcement": True, "retention_days": None}
    alice = await user("alice", "news")
    assert (await alice.request("say", room="news", text="hi"))["code"] == "moderators_only"

    status, room, _ = await admin.call("PATCH", "/rooms/news", {"archived": True, "retention_days": 7,
                                                                "reason": "old news"})
    assert status == 200 and (room["archived"], room["retention_days"]) == (True, 7)
    status, listed, _ = await admin.call("GET", "/rooms")
    assert listed["retention_days"] == 30
    assert {r["name"]: (r["archived"], r["online"]) for r in listed["rooms"]} == {"lobby": (False, 0),
                                                                                  "news": (True, 1)}
    status, _, _ = await admin.call("PATCH", "/rooms/news", {"retention_days": None})
    assert status == 200

    status, gone, _ = await admin.call("DELETE", "/rooms/news", {"reason": "closing"})
    assert (status, gone) == (200, {"deleted": "news"})
    assert await alice.expect("left") == {"type": "left", "room": "news", "reason": "deleted"}
    status, audit, _ = await admin.call("GET", "/audit")
    assert [e["action"] for e in reversed(audit["entries"]) if e["action"].startswith("room.")] == [
        "room.create", "room.announce", "room.archive", "room.retention", "room.retention", "room.delete"]


async def test_reserved_names_and_retention_from_the_page(server, seed):
    admin = await admin_login(server)
    status, made, _ = await admin.call("POST", "/names", {"pattern": "Admin", "scope": "any", "reason": "staff"})
    assert status == 201
    status, names, _ = await admin.call("GET", "/names")
    assert names == {"names": [{"id": made["id"], "pattern": "Admin", "scope": "any", "reason": "staff"}]}
    assert (await admin.call("POST", "/names", {"pattern": "Admin", "scope": "user"}))[0] == 409
    for same in ("ADMIN", "admin", "\uff21\uff24\uff2d\uff29\uff2e"):  # the same but for case (or width)
        status, refused, _ = await admin.call("POST", "/names", {"pattern": same, "scope": "room"})
        assert (status, refused["error"]["message"]) == (
            409, f"{same!r} is in the list already as 'Admin' (names are compared whatever their case)")
    assert (await admin.call("POST", "/names", {"pattern": "*admin*", "scope": "any"}))[0] == 201
    assert (await admin.call("POST", "/names", {"pattern": "*ADMIN*", "scope": "any"}))[0] == 409
    assert (await admin.call("POST", "/names", {"pattern": "*admin", "scope": "any"}))[0] == 201, "another pattern"
    assert len((await admin.call("GET", "/names"))[1]["names"]) == 3
    assert (await admin.call("DELETE", f"/names/{made['id']}"))[0] == 200
    assert (await admin.call("DELETE", f"/names/{made['id']}"))[0] == 404

    await seed(3, "kept", room="lobby")
    status, plan, _ = await admin.call("GET", "/retention")
    assert status == 200 and plan["messages"] == 0 and plan["retention_days"] == 30
    status, purged, _ = await admin.call("POST", "/retention")
    assert (status, purged) == (200, {"rooms": {}, "private": 0, "messages": 0})


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/rooms", {"name": "bad room"}, 400, "bad_room"),
    ("POST", "/rooms", {"name": "lobby"}, 409, "room_exists"),
    ("POST", "/rooms", {"name": "x", "colour": "red"}, 400, "bad_request"),
    ("POST", "/rooms", {"name": "x", "archived": "yes"}, 400, "bad_request"),
    ("PATCH", "/rooms/lobby", {}, 400, "bad_request"),
    ("PATCH", "/rooms/lobby", {"retention_days": -3}, 400, "bad_request"),
    ("PATCH", "/rooms/nowhere", {"archived": True}, 404, "no_such_room"),
    ("DELETE", "/rooms/nowhere", None, 404, "no_such_room"),
    ("PATCH", "/rooms/%E2%80%AElobby", {"archived": True}, 400, "bad_room"),  # a bidi control: no room's name
    ("DELETE", "/rooms/%E2%80%AElobby", None, 400, "bad_room"),
    ("PATCH", "/rooms/lob%07by", {"topic": "x"}, 400, "bad_room"),
    ("DELETE", "/rooms/" + "x" * 300, None, 400, "bad_room"),
    ("DELETE", "/rooms/lobby", None, 403, "forbidden"),  # a rooms.default room: every start makes it again
    ("POST", "/names", {"pattern": "**", "scope": "any"}, 400, "bad_name"),
    ("POST", "/names", {"pattern": "ok", "scope": "all"}, 400, "bad_request"),
    ("POST", "/names", {"pattern": ["x"], "scope": "any"}, 400, "bad_name"),
])
async def test_bad_input_is_refused_naming_the_problem(server, method, path, body, status, code):
    admin = await admin_login(server)
    got, answer, _ = await admin.call(method, path, body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert answer["error"]["message"]
    _, audit, _ = await admin.call("GET", "/audit")
    assert not [e for e in audit["entries"] if e["action"] != "admin.login"], "nothing done, nothing logged"


async def test_nothing_is_done_without_a_session_or_its_csrf_token(server):
    admin = await admin_login(server)
    assert (await admin_call(server, "POST", "/rooms", {"name": "x"}))[0] == 401
    assert (await admin.call("POST", "/rooms", {"name": "x"}, csrf=None))[0] == 403
    assert (await admin.call("DELETE", "/rooms/lobby", csrf="forged"))[0] == 403
    assert server.hub.room("x") is None and server.hub.room("lobby") is not None


@pytest.mark.parametrize("method, path, body, message", [
    ("PATCH", "/rooms/%ff%fe", {"topic": "x"}, "the room in the address is not UTF-8, percent-encoded"),
    ("DELETE", "/rooms/%ff%fe", None, "the room in the address is not UTF-8, percent-encoded"),
    ("GET", "/audit?action=%ff", None, "the query argument 'action' is not UTF-8"),
])
async def test_an_address_that_is_not_utf8_is_refused_naming_its_part(server, method, path, body, message):
    # bb20: a bare "Bad Request"; the reason was only in the log.
    admin = await admin_login(server)
    status, answer, _ = await admin.call(method, path, body)
    assert (status, answer["error"]) == (400, {"code": "bad_request", "message": message})
