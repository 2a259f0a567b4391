"""Authors edit and delete their own messages (``chatd.changes``; docs/protocol.md, "Edits and
reactions") against a real server and real WebSocket clients, on SQLite and PostgreSQL, and on
two nodes: live frames to every session, history, search, the window, who may not, and a
client that was away catching up on resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatd.server import Server
from tests.stores import KINDS
from tests.test_moderation import WallClock, app_user, audit  # noqa: F401  (app_user: a fixture)
from tests.test_roomadmin import uid
from tests.webapp import WebApp

HOUR_MS = 3_600_000


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path, web_app: WebApp) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": web_app.secret}, "rooms": {"default": ["lobby", "games"]}}


@pytest.fixture
def wall(server: Server) -> WallClock:
    """The clock the edit window is measured with (ms since the epoch), moved by hand."""
    clock = WallClock(server.chat.changes.wall())
    server.chat.changes.wall = clock
    return clock


async def test_an_edit_reaches_every_session_history_and_search(server: Server, user, connect):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    alice_phone = await (await connect()).enter("lobby", token=alice.welcome["token"])
    sent = await alice.say("lobby", "the meeting is at tree")
    for client in (bob, alice_phone):
        await client.expect("message", id=sent["id"])

    assert await alice.request("edit", id=sent["id"], text="the meeting is at three", cid="e1") == \
        {"type": "done", "cid": "e1"}
    frames = [await client.expect("edited", id=sent["id"]) for client in (alice, alice_phone, bob)]
    assert frames[0] == frames[1] == frames[2]
    edited = frames[0]
    assert edited["room"] == "lobby" and edited["text"] == "the meeting is at three" and edited["rev"] > 0
    assert sent["ts"] <= edited["edited"]

    history = await bob.request("history", room="lobby")
    shown = history["messages"][-1]
    assert (shown["id"], shown["text"], shown["edited"]) == (sent["id"], "the meeting is at three", edited["edited"])
    found = await bob.request("search", q="three")
    assert [r["id"] for r in found["results"]] == [sent["id"]], "the search index follows the edit"
    assert (await bob.request("search", q="tree"))["results"] == []
    await alice.say("lobby", "never edited")
    assert "edited" not in (await bob.request("history", room="lobby"))["messages"][-1]


async def test_an_edited_private_message_reaches_both_ends(server: Server, user):
    alice, bob = await user("alice"), await user("bob")
    sent = await alice.request("say", to=uid(bob), text="hi bob")
    await bob.expect("message", id=sent["id"])
    assert (await alice.request("edit", id=sent["id"], text="hi Bob!"))["type"] == "done"
    ends = {"to": {"id": uid(bob), "name": "bob"}, "from": {"id": uid(alice), "name": "alice"}}
    for client in (alice, bob):
        frame = await client.expect("edited", id=sent["id"])
        assert {k: frame[k] for k in ("to", "from", "text")} == {**ends, "text": "hi Bob!"}


async def test_only_the_author_edits_within_the_window_and_as_say_would(server: Server, user, app_user, wall):  # noqa: F811
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    admin = await app_user("root", "lobby", roles=["admin"])
    sent = await alice.say("lobby", "first")

    async def refused(client, **fields: Any) -> str:
        return (await client.request("edit", **{"id": sent["id"], "text": "x", **fields}))["code"]

    assert await refused(bob) == "forbidden"
    assert await refused(admin) == "forbidden", "admins delete; they never put words in someone's mouth"
    assert await refused(alice, text="   ") == "empty_text"
    assert await refused(alice, text="x" * 4001) == "text_too_long"
    too_long = await alice.request("edit", id=sent["id"], text="x" * 4001)
    assert too_long["limit"] == 4000, "the message's detail as a field: a page words it in its language"
    assert await refused(alice, text="bell\x07") == "bad_frame"
    assert await refused(alice, id=sent["id"] + 1000) == "no_such_message"
    assert (await alice.request("leave", room="lobby"))["type"] == "left"
    assert await refused(alice) == "no_such_message", "a room message is edited where it is read"
    assert (await alice.request("join", room="lobby"))["type"] == "joined"

    wall.now = sent["ts"] + HOUR_MS + 1
    assert await refused(alice) == "edit_window_passed"
    assert (await alice.request("edit", id=sent["id"], text="x"))["window_ms"] == HOUR_MS
    wall.now = sent["ts"] + HOUR_MS
    assert (await alice.request("edit", id=sent["id"], text="just in time"))["type"] == "done"


async def test_authors_delete_their_own_within_the_window_and_moderators_any(server: Server, user, app_user, wall):  # noqa: F811
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    mod = await app_user("mod", "lobby", roles=["moderator"])
    mine = await alice.say("lobby", "oops")
    old = await alice.say("lobby", "an old one")

    assert (await bob.request("delete", id=mine["id"]))["code"] == "forbidden"
    assert (await alice.request("delete", id=mine["id"]))["type"] == "done"
    for client in (alice, bob, mod):
        assert (await client.expect("deleted", id=mine["id"]))["rev"] > 0
    assert (await alice.request("edit", id=mine["id"], text="back"))["code"] == "message_deleted"
    assert (await alice.request("delete", id=mine["id"]))["type"] == "done", "deleting it again changes nothing"

    wall.now = old["ts"] + HOUR_MS + 1
    assert (await alice.request("delete", id=old["id"]))["code"] == "edit_window_passed"
    assert (await mod.request("delete", id=old["id"], reason="stale"))["type"] == "done"
    await bob.expect("deleted", id=old["id"])
    assert await audit(server) == [("message.delete", "mod", f"message:{old['id']}")], "only the moderator's"


async def test_a_delete_says_whether_the_message_is_missing_or_someone_elses(server: Server, user, connect):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    outsider = await user("carol", "games")
    lobby = await alice.say("lobby", "in the lobby")
    private = await alice.say(None, "psst", to=uid(bob))
    for client, message_id in [(bob, 10**9), (alice, 10**9), (outsider, lobby["id"]), (outsider, private["id"])]:
        # None, or none this user reads here: as edit and react say, whether it exists stays untold.
        refused = await client.request("delete", id=message_id)
        assert (refused["code"], refused["message"]) == ("no_such_message", f"there is no message {message_id} "
                                                                            "here"), (client, message_id)
    for message_id in (lobby["id"], private["id"]):
        refused = await bob.request("delete", id=message_id)
        assert (refused["code"], refused["message"]) == ("forbidden", "only its author or a moderator may delete "
                                                                      "a message")
    assert [m["id"] for m in (await bob.request("history", room="lobby"))["messages"]] == [lobby["id"]]


@pytest.mark.parametrize("config_overrides", [{"messages": {"edit_window_seconds": 0}}])
async def test_a_window_of_0_lets_no_author_edit_or_delete(server: Server, user, config_overrides):
    alice = await user("alice", "lobby")
    sent = await alice.say("lobby", "for ever")
    for kind, fields in (("edit", {"text": "no"}), ("delete", {})):
        refused = await alice.request(kind, id=sent["id"], **fields)
        assert (refused["code"], refused["window_ms"]) == ("edit_window_passed", 0)
    assert alice.welcome["limits"]["edit_window_seconds"] == 0


async def test_a_client_away_gets_the_edits_and_deletions_it_missed_on_resume(server: Server, user, connect):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    first, second, third = [await alice.say("lobby", text) for text in ("one", "two", "three")]
    private = await alice.request("say", to=uid(bob), text="psst")
    await bob.expect("message", id=private["id"])
    joined = await bob.request("join", room="games")  # any join tells the change reached so far
    seen = joined["revised"]
    await bob.close()

    await alice.request("edit", id=first["id"], text="one!")
    await alice.request("delete", id=second["id"])
    await alice.request("edit", id=private["id"], text="psst!")
    later = await alice.say("lobby", "four")

    back = await connect()
    welcome = await back.identify(token=bob.welcome["token"], since=private["id"], revised=seen)
    assert [(m["id"], m["text"], "edited" in m) for m in welcome["changed"]] == [(private["id"], "psst!", True)]
    rejoined = await back.request("join", room="lobby", since=third["id"], revised=seen)
    assert [(m["id"], m.get("text"), m.get("deleted")) for m in rejoined["changed"]] == [
        (first["id"], "one!", None), (second["id"], None, True)]
    assert [m["id"] for m in rejoined["messages"]] == [later["id"]]
    assert rejoined["revised"] >= welcome["revised"] > seen
    again = await back.request("join", room="lobby", since=later["id"], revised=rejoined["revised"])
    assert "changed" not in again, "nothing changed since"


@pytest.mark.parametrize("config_overrides", [{"history": {"replay_max": 2}}])
async def test_more_changes_than_a_replay_holds_make_the_client_reload_the_view(server: Server, user, connect,
                                                                             config_overrides):
    alice = await user("alice", "lobby")
    sent = [await alice.say("lobby", f"m{i}") for i in range(3)]
    seen = (await alice.request("join", room="lobby"))["revised"]
    for message in sent:
        await alice.request("edit", id=message["id"], text=message["id"] * "x")
    back = await (await connect()).enter(name="bob")
    rejoined = await back.request("join", room="lobby", since=sent[-1]["id"], revised=seen)
    assert rejoined["reset"] is True and "changed" not in rejoined
    assert [m["id"] for m in rejoined["messages"]] == [m["id"] for m in sent], "the latest page, as it is now"


async def test_an_edit_on_one_node_reaches_the_sessions_of_the_other(two_nodes):
    alice, bob = await two_nodes.alice_and_bob()
    sent = await alice.say("lobby", "typo")
    await bob.expect("message", id=sent["id"])
    assert (await alice.request("edit", id=sent["id"], text="fixed"))["type"] == "done"
    assert (await bob.expect("edited", id=sent["id"]))["text"] == "fixed"
    assert (await alice.request("delete", id=sent["id"]))["type"] == "done"
    await bob.expect("deleted", id=sent["id"])
