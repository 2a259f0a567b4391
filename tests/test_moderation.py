"""Moderation over the WebSocket against a real server, on SQLite and on PostgreSQL
(docs/protocol.md, "Moderation", "Deleted messages", "Banned"): moderators are a web
app's users whose app token gives them the role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chatd.audit import Actor
from tests.stores import KINDS
from tests.webapp import WebApp

ADMIN = Actor("admin", 1, "root", frozenset({"admin"}))


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path, web_app: WebApp) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": web_app.secret}, "rooms": {"default": ["lobby", "games"]}}


@pytest.fixture
def app_user(connect, web_app):
    """``mod = await app_user("u-9", "lobby", roles=["moderator"])``: an app user, identified and joined."""
    async def make(sub: str, *rooms: str, **claims: Any):
        return await (await connect()).enter(*rooms, app_token=web_app.token(sub, name=sub, **claims))
    return make


@pytest.fixture
def wall(server):
    """The moderation's clock (ms since the epoch), moved by hand: ``wall.now += 600_000``."""
    clock = WallClock(server.chat.moderation.wall())
    server.chat.moderation.wall = clock
    return clock


class WallClock:
    def __init__(self, now: int):
        self.now = now

    def __call__(self) -> int:
        return self.now


async def closed_with(client) -> tuple[int, str]:
    """The close code and reason the server ended ``client``'s connection with."""
    try:
        await client.expect("never")
    except ConnectionClosed as e:
        return e.rcvd.code, e.rcvd.reason
    raise AssertionError("still open")


async def audit(server) -> list[tuple[str, str, str]]:
    page = await server.chat.store.audit.page(None, 50)
    return [(row["action"], row["actor"]["name"], row["target"]) for row in reversed(page.rows)]


async def test_a_deleted_message_leaves_every_open_client_and_history_keeps_its_tombstone(server, app_user, user):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    kept = await alice.say("lobby", "hello")
    gone = await alice.say("lobby", "buy cheap pills")
    for client in (bob, mod):
        await client.expect("message", id=gone["id"])

    assert await mod.request("delete", id=gone["id"], reason="spam", cid="d1") == {"type": "done", "cid": "d1"}
    for client in (alice, bob):
        assert await client.expect("deleted") == {"type": "deleted", "id": gone["id"], "room": "lobby", "rev": 1}
    history = await bob.request("history", room="lobby")
    assert [(m["id"], m.get("text"), m.get("deleted")) for m in history["messages"]] == [
        (kept["id"], "hello", None), (gone["id"], None, True)]
    assert history["messages"][1] == {"type": "message", "id": gone["id"], "room": "lobby", "ts": gone["ts"],
                                      "deleted": True}
    # A resume from before the deletion replays the tombstone in its place: nothing lost, nothing twice.
    later = await alice.say("lobby", "anyway")
    carol = await user("carol")
    joined = await carol.request("join", room="lobby", since=kept["id"])
    assert [(m["id"], m.get("deleted")) for m in joined["messages"]] == [(gone["id"], True), (later["id"], None)]
    assert (await audit(server))[-1] == ("message.delete", "mod", f"message:{gone['id']}")
    assert (await mod.request("delete", id=gone["id"]))["type"] == "done", "deleted already: done, nothing more"


async def test_a_deleted_private_message_leaves_both_ends(server, connect, user, web_app):
    root = await (await connect()).enter(app_token=web_app.token("root", name="root", roles=["admin"]))
    alice = await user("alice")
    bob = await user("bob")
    sent = await alice.request("say", to=bob.welcome["user"]["id"], text="a secret")
    await bob.expect("message", id=sent["id"])
    done = await root.request("delete", id=sent["id"])
    assert done["type"] == "done"
    ends = {"to": {"id": bob.welcome["user"]["id"], "name": "bob"}, "from": {"id": alice.welcome["user"]["id"],
                                                                            "name": "alice"}}
    for client in (alice, bob):
        assert await client.expect("deleted") == {"type": "deleted", "id": sent["id"], **ends, "rev": 1}
    history = await bob.request("history", **{"with": alice.welcome["user"]["id"]})
    assert history["messages"] == [{"type": "message", "id": sent["id"], **ends, "ts": sent["ts"], "deleted": True}]


async def test_a_mute_refuses_say_with_the_time_left_and_ends_by_itself(server, app_user, user, wall):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    spammer = await user("spammer", "lobby", "games")
    uid = spammer.welcome["user"]["id"]
    assert (await mod.request("mute", user=uid, room="lobby", seconds=600, reason="flooding"))["type"] == "done"
    refused = await spammer.say("lobby", "more spam")
    assert refused["code"] == "muted" and refused["retry_ms"] == 600_000
    assert refused["message"] == "you are muted in lobby for 10 minutes: flooding"
    assert (refused["room"], refused["reason"]) == ("lobby", "flooding")  # the same as fields, for any language
    assert (await spammer.say("games", "elsewhere is fine"))["type"] == "ack"
    assert (await spammer.request("say", to=mod.welcome["user"]["id"], text="so is private"))["type"] == "ack"

    wall.now += 600_001  # the mute's end, by the clock: no notice, no timer
    assert (await spammer.say("lobby", "back"))["type"] == "ack"

    assert (await mod.request("mute", user=uid, reason=""))["type"] == "done"  # everywhere, until unmuted
    for frame in ({"room": "games"}, {"to": mod.welcome["user"]["id"]}):
        refused = await spammer.request("say", text="x", **frame)
        assert refused["code"] == "muted" and "retry_ms" not in refused
        assert refused["message"] == "you are muted everywhere until a moderator unmutes you"
        assert "room" not in refused and refused["reason"] == ""
    assert (await mod.request("unmute", user=uid))["type"] == "done"
    assert (await spammer.say("games", "free"))["type"] == "ack"
    assert [a[0] for a in await audit(server)] == ["user.mute", "user.mute", "user.unmute"]


@pytest.mark.parametrize(("seconds", "waited", "said"), [
    (3, 0, "3 seconds"), (61, 0, "1 minute 1 second"), (61, 30_000, "31 seconds"), (90061, 0, "1 day 1 hour"),
    (7200, 1_800_500, "1 hour 30 minutes"),
])
async def test_a_mute_and_a_ban_say_the_time_really_left(server, app_user, user, connect, wall, seconds, waited, said):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    spammer = await user("spammer", "lobby")
    uid = spammer.welcome["user"]["id"]
    assert (await mod.request("mute", user=uid, room="lobby", seconds=seconds))["type"] == "done"
    wall.now += waited
    refused = await spammer.say("lobby", "more spam")
    assert refused["message"] == f"you are muted in lobby for {said}"
    assert refused["retry_ms"] == seconds * 1000 - waited
    assert (await mod.request("ban", user=uid, seconds=seconds))["type"] == "done"
    wall.now += waited
    refused = await (await connect()).identify(token=spammer.welcome["token"])
    assert refused["code"] == "banned" and refused["message"] == f"you are banned for {said}"


async def test_a_kick_closes_every_session_of_the_user(server, app_user, user, connect):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    alice = await user("alice", "lobby")
    tab = await (await connect()).enter(token=alice.welcome["token"])
    assert (await mod.request("kick", user=alice.welcome["user"]["id"], reason="calm down"))["type"] == "done"
    for client in (alice, tab):
        assert await client.expect("kicked") == {"type": "kicked", "reason": "calm down", "cause": "moderator"}
        assert await closed_with(client) == (4410, "calm down")
    assert (await mod.request("ping"))["type"] == "pong"
    again = await (await connect()).enter(token=alice.welcome["token"])
    assert (await mod.request("kick", user=alice.welcome["user"]["id"]))["type"] == "done"  # no reason given
    assert await again.expect("kicked") == {"type": "kicked", "reason": "kicked by a moderator", "cause": "moderator",
                                            "default": True}
    assert (await audit(server))[-1] == ("user.kick", "mod", f"user:{alice.welcome['user']['id']}")


async def test_a_banned_user_is_closed_now_and_refused_on_resume_and_app_token(server, app_user, connect,
                                                                             web_app, wall):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    troll = await app_user("troll", "lobby")
    tab = await (await connect()).enter(token=troll.welcome["token"])
    uid = troll.welcome["user"]["id"]
    assert (await mod.request("ban", user=uid, seconds=3600, reason="trolling"))["type"] == "done"
    for client in (troll, tab):
        banned = await client.expect("banned")
        assert banned == {"type": "banned", "reason": "trolling", "until": wall.now + 3600_000}
        assert await closed_with(client) == (4403, "trolling")
    for identify in ({"token": tab.welcome["token"]}, {"app_token": web_app.token("troll", name="troll")}):
        client = await connect()
        refused = await client.identify(cid="who", **identify)
        assert refused["code"] == "banned" and refused["message"] == "you are banned for 1 hour: trolling"
        assert (refused["reason"], refused["until"]) == ("trolling", wall.now + 3600_000)
        assert (await client.expect("banned"))["reason"] == "trolling", "the frame came first, kept by the client"
        assert await closed_with(client) == (4403, "trolling")
    wall.now += 3600_001
    assert (await (await connect()).identify(token=tab.welcome["token"]))["type"] == "welcome", "the ban ended"


async def test_a_shorter_ban_or_mute_never_shortens_one_in_force_and_the_answer_says_so(server, app_user, user,
                                                                                          connect, wall):
    boss = await app_user("boss", "lobby", roles=["admin"])
    mod = await app_user("mod", "lobby", roles=["moderator"])
    troll = await app_user("troll", "lobby")
    uid = troll.welcome["user"]["id"]
    assert await boss.request("ban", user=uid, reason="for good", cid="b1") == {"type": "done", "cid": "b1"}
    assert await mod.request("ban", user=uid, seconds=1, reason="mod", cid="b2") == {
        "type": "done", "cid": "b2", "kept": {"until": None, "reason": "for good"}}
    wall.now += 1500  # past the shorter one's end: the one in force is still the first
    refused = await (await connect()).identify(token=troll.welcome["token"])
    assert (refused["code"], refused["message"]) == ("banned", "you are banned for good: for good")
    [ban] = server.chat.moderation.bans()
    assert (ban.until, ban.reason) == (None, "for good")
    row = (await server.chat.store.audit.page(None, 1, action="user.ban")).rows[0]
    assert row["actor"]["name"] == "mod" and row["detail"] == {"seconds": 1, "kept": ban.id}, "audited as kept"

    spammer = await user("spammer", "lobby")
    sid = spammer.welcome["user"]["id"]
    assert (await mod.request("mute", user=sid, room="lobby", seconds=60))["type"] == "done"
    assert "kept" not in await mod.request("mute", user=sid, room="lobby", seconds=3600), "a longer one replaces it"
    until = wall.now + 3600_000
    assert (await mod.request("mute", user=sid, room="lobby", seconds=1))["kept"] == {"until": until, "reason": ""}
    assert "kept" not in await mod.request("mute", user=sid, seconds=1), "everywhere is another place"
    wall.now += 2000
    assert (await spammer.say("lobby", "x"))["message"] == "you are muted in lobby for 59 minutes 58 seconds"
    assert (await mod.request("unmute", user=sid, room="lobby"))["type"] == "done"  # only lifting shortens it
    assert "kept" not in await mod.request("mute", user=sid, room="lobby", seconds=1)


@pytest.mark.parametrize(("network", "address", "outside"), [
    ("203.0.113.7", "203.0.113.7", "203.0.113.8"),
    ("198.51.100.0/24", "198.51.100.77", "198.51.101.1"),
    ("2001:db8:aa::/48", "2001:db8:aa:1::5", "2001:db8:ab::1"),
])
async def test_an_address_or_network_ban_refuses_connections_from_it(server, connect, network, address, outside):
    # The server trusts 127.0.0.1 as a proxy (trusted_proxies' default): the client is who it forwards for.
    def from_(ip: str) -> dict:
        return {"additional_headers": {"X-Forwarded-For": ip}}
    before = await (await connect(**from_(address))).enter("lobby", name="early")
    await server.chat.moderation.ban_address(ADMIN, network, None, "a bot farm")
    banned = await before.expect("banned")
    assert banned == {"type": "banned", "reason": "a bot farm", "until": None}
    assert await closed_with(before) == (4403, "a bot farm")
    newcomer = await connect(**from_(address))
    assert (await newcomer.expect("banned"))["reason"] == "a bot farm"  # on connect, before any request
    assert await closed_with(newcomer) == (4403, "a bot farm")
    assert (await (await connect(**from_(outside))).identify(name="fine"))["type"] == "welcome"
    assert (await audit(server))[-1][0] == "address.ban"


async def test_moderation_requests_are_forbidden_to_everyone_else(server, app_user, user):
    nobody = await user("nobody", "lobby")
    target = await user("target", "lobby")
    sent = await target.say("lobby", "hi")
    uid = target.welcome["user"]["id"]
    for kind, fields in [("mute", {"user": uid}), ("unmute", {"user": uid}), ("kick", {"user": uid}),
                         ("ban", {"user": uid}), ("mute", {"user": 10**9, "room": "nowhere"})]:
        refused = await nobody.request(kind, **fields)
        assert (refused["code"], refused["message"]) == ("forbidden", "only a moderator may do this"), (kind, refused)
    refused = await nobody.request("delete", id=sent["id"])  # tests/test_edits.py: what else a delete is told
    assert (refused["code"], refused["message"]) == ("forbidden", "only its author or a moderator may delete a message")
    assert (await target.say("lobby", "untouched"))["type"] == "ack"
    assert await audit(server) == []


async def test_ranks_a_moderator_cannot_act_on_a_moderator_or_admin_an_admin_can(server, app_user, user):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    other_mod = await app_user("mod2", "lobby", roles=["moderator"])
    boss = await app_user("boss", "lobby", roles=["admin"])
    for target in (other_mod, boss, mod):
        refused = await mod.request("mute", user=target.welcome["user"]["id"], seconds=60)
        assert refused["code"] == "forbidden", refused
    assert "is an admin" in (await mod.request("ban", user=boss.welcome["user"]["id"]))["message"]
    refused = await mod.request("kick", user=other_mod.welcome["user"]["id"])
    assert f"mod2 (user {other_mod.welcome['user']['id']}) is a moderator:" in refused["message"]
    assert (refused["user"], refused["rank"]) == ({"id": other_mod.welcome["user"]["id"], "name": "mod2"}, "moderator")
    assert (await boss.request("mute", user=mod.welcome["user"]["id"], seconds=60))["type"] == "done"
    # Refs say the rank, so that a page offers only what its user may do.
    assert (mod.welcome["user"]["rank"], boss.welcome["user"]["rank"]) == ("moderator", "admin")
    guest = await user("guest")
    joined = await guest.request("join", room="lobby")
    ranks = {m["name"]: m.get("rank") for m in joined["members"]}
    assert ranks == {"mod": "moderator", "mod2": "moderator", "boss": "admin", "guest": None}
    assert "rank" not in guest.welcome["user"]


@pytest.mark.parametrize(("kind", "fields", "code", "words"), [
    ("delete", {"id": 10**12}, "no_such_message", "no message 1000000000000"),
    ("delete", {"id": -1}, "bad_frame", "'id' must be a message id"),
    ("mute", {"user": 10**12}, "no_such_user", "no user 1000000000000"),
    ("mute", {"user": "USER", "room": "nowhere"}, "no_such_room", "no room 'nowhere'"),
    ("mute", {"user": "USER", "seconds": -5}, "bad_frame", "'seconds' must be a whole number of seconds from 1"),
    ("mute", {"user": "USER", "seconds": 10**12}, "bad_frame", "(ten years)"),
    ("ban", {"user": "USER", "seconds": 1.5}, "bad_frame", "'seconds' must be a whole number"),
    ("ban", {"user": "USER", "reason": "x" * 201}, "bad_frame", "'reason' is longer than 200 characters"),
    ("kick", {"user": 0}, "bad_frame", "'user' must be a user id"),
])
async def test_bad_moderation_requests_say_what_is_wrong(server, app_user, user, kind, fields, code, words):
    mod = await app_user("mod", "lobby", roles=["moderator"])
    target = await user("target", "lobby")
    fields = {k: target.welcome["user"]["id"] if v == "USER" else v for k, v in fields.items()}
    refused = await mod.request(kind, **fields)
    assert refused["code"] == code and words in refused["message"], refused
