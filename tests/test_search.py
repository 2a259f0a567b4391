"""The ``search`` request and ``history`` ``around`` (``chatd.search``, docs/protocol.md) through a
real server and real WebSocket clients, on SQLite and on PostgreSQL: what a user finds, what they
never find, the snippet, the per-connection rate, and the page around a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatd.server import Server
from tests.stores import KINDS
from tests.test_roomadmin import club, uid


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database}


async def test_a_user_finds_chinese_and_english_with_context_in_the_rooms_they_can_read(server: Server, user):
    alice, bob, mallory = await user("alice", "lobby"), await user("bob", "lobby"), await user("mallory", "lobby")
    await club(server, uid(alice))
    assert (await alice.request("join", room="club"))["type"] == "joined"
    meeting = await alice.say("lobby", "今天的会议改到下午三点")
    await alice.say("club", "会议 in the club, deployed")
    await alice.say("lobby", "We deployed the new build")
    secret = await alice.request("say", to=uid(bob), text="private 会议 notes")
    await mallory.request("say", to=uid(bob), text="mallory's 会议 too")

    found = await alice.request("search", q="会议")
    assert [r["text"] for r in found["results"]] == ["private 会议 notes", "会议 in the club, deployed",
                                                    "今天的会议改到下午三点"]
    assert found["q"] == "会议" and found["more"] is False
    lobby = found["results"][-1]
    assert lobby["id"] == meeting["id"] and lobby["room"] == "lobby" and lobby["from"]["name"] == "alice"
    assert lobby["snippet"] == ["今天的", "会议", "改到下午三点"]
    assert found["results"][0]["to"] == {"id": uid(bob), "name": "bob"} and found["results"][0]["id"] == secret["id"]

    by_mallory = await mallory.request("search", q="会议")
    assert [r["text"] for r in by_mallory["results"]] == ["mallory's 会议 too", "今天的会议改到下午三点"], \
        "never a members-only room's message, nor another pair's private one"
    assert (await mallory.request("search", q="会议", room="club"))["code"] == "no_such_room"
    assert (await mallory.request("search", q="notes", **{"with": uid(bob)}))["results"] == []

    english = await bob.request("search", q="deploy", room="lobby")
    assert [r["text"] for r in english["results"]] == ["We deployed the new build"]
    assert english["results"][0]["snippet"] == ["We ", "deploy", "ed the new build"]


async def test_full_width_and_half_width_forms_find_each_other(user):
    alice = await user("alice", "lobby")
    plain = await alice.say("lobby", "deploy テキスト")
    wide = await alice.say("lobby", "ＤＥＰＬＯＹ ﾃｷｽﾄ")
    for q in ("ＤＥＰＬＯＹ", "deploy", "ﾃｷｽﾄ", "テキスト"):
        found = await alice.request("search", q=q)
        assert [r["id"] for r in found["results"]] == [wide["id"], plain["id"]], q
    found = await alice.request("search", q="deploy")
    assert found["results"][0]["snippet"] == ["", "ＤＥＰＬＯＹ", " ﾃｷｽﾄ"]


@pytest.mark.parametrize("q", ['"', "NEAR(a b)", "-", "*", "deploy\" OR \"x", "a AND", "'; DROP TABLE message; --"])
async def test_query_syntax_in_a_search_is_plain_text(user, q):
    alice = await user("alice", "lobby")
    await alice.say("lobby", "hello")
    found = await alice.request("search", q=q)
    assert found["type"] == "results" and found["results"] == []


async def test_bad_search_requests_are_refused_with_a_clear_code(user):
    alice = await user("alice", "lobby")
    for fields, code in (({}, "bad_frame"), ({"q": 5}, "bad_frame"), ({"q": "x" * 201}, "bad_frame"),
                         ({"q": "a\x00"}, "bad_frame"), ({"q": "a", "room": "lobby", "with": 1}, "bad_frame"),
                         ({"q": "a", "room": "nowhere"}, "no_such_room"), ({"q": "a", "with": 99999}, "no_such_user"),
                         ({"q": "a", "limit": 0}, "bad_frame"), ({"q": ""}, "bad_frame"), ({"q": " \n"}, "bad_frame")):
        assert (await alice.request("search", **fields))["code"] == code, fields


@pytest.mark.parametrize("config_overrides", [{"limits": {"search_per_minute": 0.01, "search_burst": 2}}])
async def test_searches_are_limited_per_connection(user, config_overrides):
    alice = await user("alice", "lobby")
    for _ in range(2):
        assert (await alice.request("search", q="x"))["type"] == "results"
    refused = await alice.request("search", q="x")
    assert refused["code"] == "rate_limited" and refused["retry_ms"] > 0 and refused["limit"] == "searches"
    assert (await alice.say("lobby", "still chatting"))["type"] == "ack", "messages have their own limit"


async def test_results_page_with_before_and_never_show_a_tombstone(server: Server, user):
    alice = await user("alice", "lobby")
    ids = [(await alice.say("lobby", f"needle {n}"))["id"] for n in range(5)]
    first = await alice.request("search", q="needle", limit=3)
    assert [r["id"] for r in first["results"]] == ids[:1:-1] and first["more"] is True
    rest = await alice.request("search", q="needle", limit=3, before=first["results"][-1]["id"])
    assert [r["id"] for r in rest["results"]] == ids[1::-1] and rest["more"] is False
    await server.store.writer.run(lambda: server.store.db.execute_sql(
        server.store._q("UPDATE message SET text = '' WHERE id = ?"), (ids[0],)))
    assert [r["id"] for r in (await alice.request("search", q="needle"))["results"]] == ids[:0:-1]


async def test_history_around_a_message_has_it_and_its_neighbours(user):
    alice, bob = await user("alice", "lobby"), await user("bob")
    ids = [(await alice.say("lobby", f"m{n}"))["id"] for n in range(9)]
    page = await alice.request("history", room="lobby", around=ids[4], limit=4)
    assert [m["id"] for m in page["messages"]] == ids[3:7]
    assert page["around"] == ids[4] and page["more"] is True and page["more_after"] is True
    edge = await alice.request("history", room="lobby", around=ids[0], limit=4)
    assert [m["id"] for m in edge["messages"]] == ids[0:3] and edge["more"] is False and edge["more_after"] is True
    pm = [(await alice.request("say", to=uid(bob), text=f"p{n}"))["id"] for n in range(3)]
    private = await bob.request("history", **{"with": uid(alice)}, around=pm[1], limit=10)
    assert [m["id"] for m in private["messages"]] == pm and private["more_after"] is False
    for fields in ({"around": ids[1], "before": ids[3]}, {"around": ids[1]}):
        assert (await alice.request("history", room="lobby", **fields) if "before" in fields else
                await alice.request("history", **fields))["code"] == "bad_frame"
