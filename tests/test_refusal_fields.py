"""Every refusal says its detail as fields (docs/protocol.md, "error"), through a real server and
real WebSocket clients: why a request is forbidden, why the server cannot answer now, which user
or message id was not found, which attachment was refused and why, what is wrong with a room
name. A client words each from the fields in its own language, so nothing may live only in the
English message."""

from __future__ import annotations

from typing import Any

import pytest

from chatd.protocol.codes import ATTACHMENTS_MAX
from chatd.server import Server
from chatd.store import DatabaseUnreachable, WriterClosed
from tests.adminclient import ROOT
from tests.test_uploads import png, upload
from tests.webapp import WebApp

NO_SUCH_ID = 10**12  # no user or message has it


@pytest.fixture
def config_overrides(tmp_path, web_app: WebApp) -> dict[str, Any]:
    return {"database": str(tmp_path / "chatd.db"), "app_tokens": {"secret": web_app.secret}}


@pytest.fixture
def app_user(connect, web_app: WebApp):
    """``mod = await app_user("mod", "lobby", roles=["moderator"])``: an app user, identified and joined."""
    async def make(sub: str, *rooms: str, **claims: Any):
        return await (await connect()).enter(*rooms, app_token=web_app.token(sub, name=sub, **claims))
    return make


def detail(frame: dict[str, Any]) -> dict[str, Any]:
    """An error frame's code and fields, without its words and its cid."""
    assert frame["type"] == "error", frame
    return {k: v for k, v in frame.items() if k not in ("type", "message", "cid")}


def uid(client) -> int:
    return client.welcome["user"]["id"]


async def test_a_forbidden_request_says_which_rule_refused_it(server: Server, user, app_user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    mod, boss = await app_user("mod", "lobby", roles=["moderator"]), await app_user("boss", "lobby", roles=["admin"])
    said = await alice.say("lobby", "mine")
    private = await alice.request("say", to=uid(bob), text="just us")

    assert detail(await bob.request("mute", user=uid(alice))) == {"code": "forbidden", "reason": "role",
                                                                  "role": "moderator"}
    assert detail(await bob.request("edit", id=said["id"], text="yours?")) == {"code": "forbidden",
                                                                               "reason": "author_only"}
    assert detail(await bob.request("delete", id=said["id"])) == {"code": "forbidden",
                                                                  "reason": "author_or_moderator"}
    assert detail(await bob.request("create", room="club", members_only=True)) == {"code": "forbidden",
                                                                                    "reason": "members_only"}
    assert detail(await mod.request("mute", user=uid(mod))) == {"code": "forbidden", "reason": "self"}
    assert detail(await mod.request("delete", id=private["id"])) == {"code": "forbidden",
                                                                     "reason": "private_message"}
    assert detail(await mod.request("mute", user=uid(boss))) == {
        "code": "forbidden", "reason": "rank", "user": {"id": uid(boss), "name": "boss"}, "rank": "admin"}


@pytest.mark.parametrize("config_overrides", [{"rooms": {"allow_create": False}}])
async def test_a_room_refused_on_a_server_without_room_making_says_so(user, config_overrides):
    alice = await user("alice")
    assert detail(await alice.request("create", room="mine")) == {"code": "forbidden", "reason": "create_off"}


@pytest.mark.parametrize(("failure", "cause"), [(DatabaseUnreachable("disk full"), "database"),
                                                (WriterClosed("stopping"), "shutting_down"),
                                                (RuntimeError("a bug"), "not_stored")])
async def test_unavailable_says_why_the_server_cannot_answer_now(server: Server, user, monkeypatch, failure, cause):
    alice = await user("alice", "lobby")
    monkeypatch.setattr(server.store, "save_message", lambda draft, done: done(None, failure))
    refused = await alice.request("say", room="lobby", text="hello")
    assert detail(refused) == {"code": "unavailable", "cause": cause}


async def test_an_id_not_found_is_named_as_a_field(server: Server, user, seed):
    alice = await user("alice", "lobby")
    assert detail(await alice.request("say", to=NO_SUCH_ID, text="hi")) == {"code": "no_such_user", "user": NO_SUCH_ID}
    assert detail(await alice.request("history", **{"with": NO_SUCH_ID})) == {"code": "no_such_user",
                                                                              "user": NO_SUCH_ID}
    for kind, fields in (("edit", {"text": "x"}), ("react", {"emoji": "👍"}), ("delete", {})):
        refused = await alice.request(kind, id=NO_SUCH_ID, **fields)
        assert detail(refused) == {"code": "no_such_message", "id": NO_SUCH_ID}, kind
    refused = await alice.request("say", room="lobby", text="re", reply_to=NO_SUCH_ID)
    assert detail(refused) == {"code": "no_such_message", "id": NO_SUCH_ID}

    gone = await alice.say("lobby", "soon gone")
    assert (await alice.request("delete", id=gone["id"]))["type"] == "done"
    refused = await alice.request("edit", id=gone["id"], text="back?")
    assert detail(refused) == {"code": "message_deleted", "id": gone["id"]}


async def test_a_refused_attachment_says_which_upload_and_why(server: Server, user):
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")

    async def uploaded(client) -> str:
        status, ref = await upload(server, client.welcome["token"], png(), "a.png")
        assert status == 201, ref
        return ref["id"]

    mine, bobs = await uploaded(alice), await uploaded(bob)
    unknown = "A" * 22
    refused = await alice.request("say", room="lobby", text="", attachments=[unknown])
    assert detail(refused) == {"code": "bad_attachment", "attachment": unknown, "cause": "unknown"}
    refused = await alice.request("say", room="lobby", text="", attachments=[mine, bobs])
    assert detail(refused) == {"code": "bad_attachment", "attachment": bobs, "cause": "not_yours"}
    assert (await alice.say("lobby", "", attachments=[mine]))["type"] == "ack", "the refusal stored nothing"
    refused = await alice.request("say", room="lobby", text="again", attachments=[mine])
    assert detail(refused) == {"code": "bad_attachment", "attachment": mine, "cause": "attached"}
    many = [f"{n:022d}" for n in range(ATTACHMENTS_MAX + 1)]
    refused = await alice.request("say", room="lobby", text="", attachments=many)
    assert detail(refused) == {"code": "bad_attachment", "cause": "too_many", "limit": ATTACHMENTS_MAX}


async def test_a_room_name_is_told_whether_a_character_or_its_place_is_wrong(user):
    alice = await user("alice")
    refused = await alice.request("create", room="-bad")
    assert detail(refused) == {"code": "bad_room", "rule": "room_start", "char": "U+002D HYPHEN-MINUS"}
    assert refused["message"] == ("room name starts with U+002D HYPHEN-MINUS: a room name must start with a letter "
                                  "or digit"), "the words say the place, not that a hyphen is no room character"
    assert (await alice.request("create", room="ok-bad"))["type"] == "created", "a hyphen is fine inside"
    assert detail(await alice.request("join", room="a b")) == {"code": "bad_room", "rule": "room_characters",
                                                               "char": "U+0020 SPACE"}
    assert detail(await alice.request("join", room="%b")) == {"code": "bad_room", "rule": "room_characters",
                                                              "char": "U+0025 PERCENT SIGN"}


async def test_a_room_not_joined_or_gone_meanwhile_is_named_as_a_field(server: Server, user, monkeypatch):
    alice = await user("alice", "lobby")
    await server.chat.room_care.create(ROOT, "games")
    refused = await alice.request("notify", room="games", level="all")
    assert detail(refused) == {"code": "not_in_room", "room": "games"}

    assert (await alice.request("join", room="games"))["type"] == "joined"
    said = await alice.say("games", "first")
    quote = server.chat.changes.quote

    async def quoted_as_the_room_goes(*args):  # the reply's quote is read; meanwhile an admin deletes the room
        found = await quote(*args)
        await server.chat.room_care.delete(ROOT, "games")
        return found

    monkeypatch.setattr(server.chat.changes, "quote", quoted_as_the_room_goes)
    room_id = server.chat.hub.room("games").id
    refused = await alice.request("say", room="games", text="re", reply_to=said["id"])
    assert detail(refused) == {"code": "no_such_room", "room_id": room_id}
