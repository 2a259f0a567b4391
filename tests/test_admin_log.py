"""The admin chat log, admin search and the export (``chatd.admin.log``, ``chatd.admin.search``)
through a real server over HTTP, on SQLite and on PostgreSQL: filters, exact keyset pages,
private messages only with ``admin.read_private``, exports streamed whole and safe in a
spreadsheet, and who may use what."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from chatd.admin.sessions import COOKIE
from chatd.server import Server
from tests.adminclient import admin_call, admin_login, chat_login
from tests.stores import KINDS
from tests.test_roomadmin import club, uid
from tests.webapp import WebApp


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path, web_app: WebApp) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": web_app.secret}}


def read_private(server: Server, on: bool) -> None:
    server.config.admin.read_private = on  # as a reload applies it (a live setting)


@pytest.fixture
async def chatter(server: Server, user):
    """alice and bob in the lobby and a members-only club, a private exchange, a formula and a tombstone."""
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    await club(server, uid(alice))
    assert (await alice.request("join", room="club"))["type"] == "joined"
    ids = {"hello": (await alice.say("lobby", "hello 会议"))["id"],
           "formula": (await bob.say("lobby", "=HYPERLINK(\"http://evil\",\"x\")"))["id"],
           "club": (await alice.say("club", "club 会议 notes"))["id"],
           "private": (await alice.request("say", to=uid(bob), text="private 会议"))["id"],
           "gone": (await bob.say("lobby", "regrettable 会议"))["id"]}
    await server.store.moderation.delete(ids["gone"])  # a tombstone, as a moderator makes one
    return alice, bob, ids


async def test_the_log_shows_every_room_message_newest_first_and_tombstones_as_deleted(server, chatter):
    alice, bob, ids = chatter
    admin = await admin_login(server)
    status, body, _ = await admin.call("GET", "/log")
    assert status == 200 and body["private"] is False
    assert [m["id"] for m in body["messages"]] == [ids["gone"], ids["club"], ids["formula"], ids["hello"]]
    gone, club_message = body["messages"][0], body["messages"][1]
    assert gone["deleted"] is True and gone["text"] == ""
    assert club_message == {"id": ids["club"], "ts": club_message["ts"], "room": "club",
                            "from": {"id": uid(alice), "name": "alice"}, "to": None, "text": "club 会议 notes",
                            "deleted": False}
    read_private(server, True)
    status, body, _ = await admin.call("GET", "/log")
    assert ids["private"] in [m["id"] for m in body["messages"]] and body["private"] is True
    private = next(m for m in body["messages"] if m["id"] == ids["private"])
    assert private["to"] == {"id": uid(bob), "name": "bob"} and private["room"] is None


async def test_filters_by_room_user_time_and_text(server, chatter):
    alice, bob, ids = chatter
    admin = await admin_login(server)

    async def found(query: str, path: str = "/log") -> list[int]:
        status, body, _ = await admin.call("GET", f"{path}?{query}")
        assert status == 200, body
        return [m["id"] for m in body["messages" if path == "/log" else "results"]]

    assert await found("room=club") == [ids["club"]]
    assert await found(f"user={uid(bob)}") == [ids["gone"], ids["formula"]]
    assert await found("user=alice") == [ids["club"], ids["hello"]]
    assert await found("user=nobody") == []
    assert await found("q=会议") == [ids["club"], ids["hello"]], "text uses the index; no tombstone, no private"
    assert await found("q=会议&room=lobby") == [ids["hello"]]
    status, body, _ = await admin.call("GET", "/log?room=club")
    ts = body["messages"][0]["ts"] - 5000  # a millisecond of its own
    await server.store.writer.run(lambda: server.store.db.execute_sql(
        server.store._q("UPDATE message SET ts = ? WHERE id = ?"), (ts, ids["club"])))
    assert await found(f"since={ts}&until={ts + 1}") == [ids["club"]]
    assert await found(f"until={ts}&room=club") == []
    assert await found(f"since={ts + 1}&room=club") == []
    assert await found("q=会议", "/search") == [ids["club"], ids["hello"]]
    read_private(server, True)
    assert await found("q=会议", "/search") == [ids["private"], ids["club"], ids["hello"]]
    status, body, _ = await admin.call("GET", "/search?q=notes")
    assert body["results"][0]["snippet"] == ["club 会议 ", "notes", ""]
    for bad in ("room=nowhere", "since=-1", "since=x", "limit=0", "limit=201", "before=0", "q=" + "x" * 201,
                "colour=red", "room=a&room=b", "user=" + "x" * 201):
        status, body, _ = await admin.call("GET", f"/log?{bad}")
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    assert (await admin.call("GET", "/search"))[0] == 400, "search needs a query"


async def test_keyset_pages_are_exact_across_pages(server, user, seed):
    ids = await seed(23, "many", room="lobby")
    admin = await admin_login(server)
    seen, before = [], ""
    while True:
        status, body, _ = await admin.call("GET", f"/log?limit=5{before}")
        seen += [m["id"] for m in body["messages"]]
        if not body["more"]:
            break
        before = f"&before={body['messages'][-1]['id']}"
    assert seen == sorted(ids, reverse=True)


async def _export(server: Server, admin, query: str) -> tuple[int, str, dict[str, str]]:
    """The export as the browser downloads it: → (status, body text, headers)."""
    request = HTTPRequest(f"http://127.0.0.1:{server.port}/admin/api/log/export?{query}",
                          headers={"Cookie": f"{COOKIE}={admin.cookie}"}, request_timeout=60)
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code, response.body.decode(), dict(response.headers)


async def test_the_export_streams_every_filtered_row_in_both_formats(server, chatter, seed, monkeypatch):
    monkeypatch.setattr("chatd.admin.log.EXPORT_CHUNK", 7)  # many chunks, each flushed before the next is read
    alice, bob, ids = chatter
    seeded = await seed(30, "bulk =1+1", room="lobby")
    admin = await admin_login(server)
    status, text, headers = await _export(server, admin, "format=csv&room=lobby")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["id"]) for r in rows] == [*sorted(seeded, reverse=True), ids["gone"], ids["formula"], ids["hello"]]
    formula = next(r for r in rows if int(r["id"]) == ids["formula"])
    assert formula["text"] == "'=HYPERLINK(\"http://evil\",\"x\")", "a formula stays text in a spreadsheet"
    assert rows[0]["text"] == "bulk =1+1" and rows[0]["room"] == "lobby"
    assert next(r for r in rows if int(r["id"]) == ids["gone"])["deleted"] == "true"
    assert not any(r["to"] for r in rows)

    status, text, headers = await _export(server, admin, "format=jsonl&q=会议")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [m["id"] for m in lines] == [ids["club"], ids["hello"]], "filters apply; private left out"
    read_private(server, True)
    status, text, _ = await _export(server, admin, "format=jsonl&q=会议")
    assert ids["private"] in [json.loads(line)["id"] for line in text.splitlines()]
    assert (await _export(server, admin, "format=xml"))[0] == 400


async def test_moderators_read_and_search_the_log_but_only_admins_export(server, web_app, connect, chatter):
    mod = await (await connect()).identify(app_token=web_app.token("u-1", roles=["moderator"]))
    session = await chat_login(server, mod["token"])
    assert (await session.call("GET", "/log"))[0] == 200
    assert (await session.call("GET", "/search?q=hello"))[0] == 200
    assert (await session.call("GET", "/log/export?format=csv"))[0] == 403
    plain = await (await connect()).identify(name="plain")
    for path in ("/log", "/search?q=hello", "/log/export"):
        assert (await admin_call(server, "GET", path))[0] == 401
        assert (await admin_call(server, "GET", path, cookie="forged"))[0] == 401
    assert plain["type"] == "welcome"


async def test_moderators_read_only_what_they_may_read_as_moderators(server, web_app, connect, chatter):
    """Open rooms and the members-only rooms they are in; never private messages. Admins read every room."""
    alice, bob, ids = chatter
    read_private(server, True)
    mod = await (await connect()).enter(app_token=web_app.token("u-mod", roles=["moderator"]))
    session = await chat_login(server, mod.welcome["token"])

    async def seen(path: str) -> set[int]:
        status, body, _ = await session.call("GET", path)
        assert status == 200, body
        assert body["private"] is False
        return {m["id"] for m in body.get("messages", body.get("results", []))}

    assert ids["club"] not in await seen("/log") and ids["private"] not in await seen("/log")
    assert await seen("/search?q=会议") == {ids["hello"]}
    for path in ("/log?room=club", "/search?q=notes&room=club"):
        status, body, _ = await session.call("GET", path)
        assert (status, body["error"]["message"]) == (400, "there is no room 'club'"), "as if there were none"
    await server.chat.room_admin.add_members("club", [uid(mod)])
    assert await seen("/search?q=会议") == {ids["hello"], ids["club"]}
    assert ids["club"] in await seen("/log?room=club")

    admin = await admin_login(server)
    _, body, _ = await admin.call("GET", "/search?q=会议")
    assert {m["id"] for m in body["results"]} == {ids["hello"], ids["club"], ids["private"]} and body["private"]


HUGE = "9" * 5000  # more digits than Python's int() reads


@pytest.mark.parametrize("path,name", [
    ("/log?user=9223372036854775808", "user"), ("/log?user=99999999999999999999999", "user"),
    ("/log?before=9223372036854775808", "before"), ("/log?since=99999999999999999999999", "since"),
    ("/log?until=" + HUGE, "until"), ("/log?limit=" + HUGE, "limit"), ("/log?user=" + "1" * 150, "user"),
    ("/search?q=deploy&user=99999999999999999999999", "user"), ("/search?q=deploy&before=" + HUGE, "before"),
    ("/log/export?format=csv&user=99999999999999999999999", "user"),
    ("/log/export?format=jsonl&since=9223372036854775808", "since"),
    ("/audit?before=9223372036854775808", "before"), ("/audit?limit=" + HUGE, "limit"),
    ("/stats?today=" + HUGE, "today"),
])
async def test_every_number_in_a_query_is_bounded_with_a_clear_error(server, path, name):
    admin = await admin_login(server)
    status, body, _ = await admin.call("GET", path)
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    assert body["error"]["message"].startswith(f"{name!r} must be a whole number from")


async def test_the_largest_id_and_leading_zeros_are_numbers_still(server, chatter):
    admin = await admin_login(server)
    assert (await admin.call("GET", "/log?user=9223372036854775807"))[1]["messages"] == []
    _, body, _ = await admin.call("GET", f"/log?user=000000000000000000000000{uid(chatter[0])}")
    assert body["messages"] and {m["from"]["name"] for m in body["messages"]} == {"alice"}
