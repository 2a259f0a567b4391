"""The admin page's moderation endpoints (chatd.admin.moderation) against a real server, on
SQLite and PostgreSQL: an admin account and a chat moderator act; every action is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.adminclient import admin_call, admin_login, chat_login
from tests.stores import KINDS
from tests.test_moderation import closed_with
from tests.webapp import WebApp

APP = WebApp()


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": APP.secret}}


async def test_an_admin_deletes_mutes_bans_and_kicks_and_every_action_is_audited(server, user, connect):
    admin = await admin_login(server)
    alice = await user("alice", "lobby")
    bob = await user("bob", "lobby")
    uid = bob.welcome["user"]["id"]
    sent = await bob.say("lobby", "rude")
    await alice.expect("message", id=sent["id"])

    status, body, _ = await admin.call("POST", "/moderation/delete", {"id": sent["id"], "reason": "rude"})
    assert status == 200 and body["message"]["id"] == sent["id"] and body["message"]["deleted"] > 0
    assert (await alice.expect("deleted"))["id"] == sent["id"]

    status, body, _ = await admin.call("POST", "/moderation/mutes", {"user": uid, "room": "lobby", "seconds": 3600})
    assert status == 200 and body["mute"]["user"] == {"id": uid, "name": "bob"} and body["mute"]["room"] == "lobby"
    mute_id = body["mute"]["id"]
    assert (await bob.say("lobby", "hey"))["code"] == "muted"
    status, body, _ = await admin.call("POST", "/moderation/bans", {"address": "203.0.113.0/24", "reason": "farm"})
    assert status == 200 and body["ban"]["address"] == "203.0.113.0/24" and body["ban"]["until"] is None
    net_id = body["ban"]["id"]
    status, listed, _ = await admin.call("GET", "/moderation")
    assert [m["id"] for m in listed["mutes"]] == [mute_id] and [b["id"] for b in listed["bans"]] == [net_id]
    assert (await admin.call("DELETE", f"/moderation/mutes/{mute_id}"))[0] == 200
    assert (await bob.say("lobby", "sorry"))["type"] == "ack"
    assert (await admin.call("DELETE", f"/moderation/mutes/{mute_id}"))[0] == 404, "not in force any more"

    status, body, _ = await admin.call("POST", "/moderation/kick", {"user": uid, "reason": "cool off"})
    assert (status, body) == (200, {"sessions_here": 1, "other_nodes": False}), "one node: every session"
    assert await closed_with(bob) == (4410, "cool off")
    status, body, _ = await admin.call("POST", "/moderation/bans", {"user": uid, "seconds": 86400, "reason": "x"})
    assert status == 200 and body["ban"]["user"]["id"] == uid
    assert (await (await connect()).identify(token=bob.welcome["token"]))["code"] == "banned"
    assert (await admin.call("DELETE", f"/moderation/bans/{body['ban']['id']}"))[0] == 200
    assert (await admin.call("DELETE", f"/moderation/bans/{net_id}"))[0] == 200
    assert (await (await connect()).identify(token=bob.welcome["token"]))["type"] == "welcome"

    page = await server.chat.store.audit.page(None, 50)
    assert [row["action"] for row in reversed(page.rows) if row["action"] != "admin.login"] == [
        "message.delete", "user.mute", "address.ban", "user.unmute", "user.kick", "user.ban", "user.unban",
        "address.unban"]


async def test_a_shorter_ban_or_mute_leaves_the_longer_one_in_force_and_the_answer_says_so(server, user):
    admin = await admin_login(server)
    uid = (await user("bob", "lobby")).welcome["user"]["id"]
    for path, body, kind in (("/moderation/bans", {"address": "192.0.2.44"}, "ban"),
                             ("/moderation/bans", {"user": uid}, "ban"),
                             ("/moderation/mutes", {"user": uid, "room": "lobby"}, "mute")):
        status, held, _ = await admin.call("POST", path, {**body, "reason": "for good"})
        assert status == 200 and held["kept"] is False and held[kind]["until"] is None
        status, answer, _ = await admin.call("POST", path, {**body, "seconds": 60, "reason": "shorter"})
        assert (status, answer) == (200, {kind: held[kind], "kept": True}), "the one in force, as it was"
        listed = (await admin.call("GET", "/moderation"))[1][f"{kind}s"]
        assert [(x["id"], x["until"]) for x in listed if x["id"] == held[kind]["id"]] == [(held[kind]["id"], None)]
        assert (await admin.call("DELETE", f"{path}/{held[kind]['id']}"))[0] == 200  # lifting is how to shorten
        status, answer, _ = await admin.call("POST", path, {**body, "seconds": 60})
        assert status == 200 and answer["kept"] is False and answer[kind]["until"] is not None


async def test_a_chat_moderator_on_the_admin_page_may_not_ban_addresses_nor_act_on_admins(server, connect):
    mod = await (await connect()).enter(app_token=APP.token("m", name="mod", roles=["moderator"]))
    boss = await (await connect()).enter(app_token=APP.token("b", name="boss", roles=["admin"]))
    session = await chat_login(server, mod.welcome["token"])
    status, body, _ = await session.call("POST", "/moderation/bans", {"address": "198.51.100.7"})
    assert (status, body["error"]) == (403, {"code": "forbidden", "message": "only an admin may do this",
                                             "reason": "role", "role": "admin"})
    status, body, _ = await session.call("POST", "/moderation/mutes", {"user": boss.welcome["user"]["id"]})
    assert (status, body["error"]["code"]) == (403, "forbidden") and "admin" in body["error"]["message"]
    assert (await session.call("GET", "/moderation"))[0] == 200


@pytest.mark.parametrize(("path", "body", "status", "code", "words"), [
    ("/moderation/bans", {"address": "10.0.0.1/8"}, 400, "bad_frame", "has host bits set"),
    ("/moderation/bans", {"address": "not-an-ip"}, 400, "bad_frame", "not an address or CIDR network"),
    ("/moderation/bans", {"address": "2001:db8::/129"}, 400, "bad_frame", "not an address or CIDR network"),
    ("/moderation/bans", {"address": 7}, 400, "bad_frame", "'address' must be a string"),
    ("/moderation/bans", {}, 400, "bad_frame", "exactly one of 'user' and 'address'"),
    ("/moderation/bans", {"address": "192.0.2.1", "seconds": -1}, 400, "bad_frame", "'seconds' must be"),
    ("/moderation/bans", {"address": "192.0.2.1", "seconds": 10**15}, 400, "bad_frame", "ten years"),
    ("/moderation/bans", {"address": "192.0.2.1", "reason": "y" * 201}, 400, "bad_frame", "longer than 200"),
    ("/moderation/bans", {"address": "fe80::1%eth0"}, 400, "bad_frame", "zone"),
    ("/moderation/bans", {"address": "0.0.0.0/0"}, 400, "bad_frame", "at least /8"),
    ("/moderation/bans", {"address": "::/0"}, 400, "bad_frame", "at least /16"),
    ("/moderation/bans", {"address": "127.0.0.1"}, 400, "bad_frame", "this would ban your own address"),
    ("/moderation/bans", {"address": "127.0.0.0/8"}, 400, "bad_frame", "this would ban your own address"),
    ("/moderation/mutes", {"user": 999999}, 404, "no_such_user", "no user 999999"),
    ("/moderation/mutes", {"user": 1, "room": "nowhere"}, 404, "no_such_room", "no room 'nowhere'"),
    ("/moderation/mutes", {"user": 1, "bogus": 1}, 400, "bad_frame", "unknown field 'bogus'"),
    ("/moderation/delete", {"id": 123456}, 404, "no_such_message", "no message 123456"),
    ("/moderation/delete", {"id": "7"}, 400, "bad_frame", "'id' must be a message id"),
    ("/moderation/kick", {}, 400, "bad_frame", "'user' is required"),
])
async def test_bad_input_gets_a_clear_error(server, user, path, body, status, code, words):
    await user("someone", "lobby")  # user 1
    admin = await admin_login(server)
    got, answer, _ = await admin.call("POST", path, body)
    assert (got, answer["error"]["code"]) == (status, code) and words in answer["error"]["message"], answer


async def test_an_admin_behind_a_proxy_may_not_ban_the_address_the_proxy_forwards_for_them(server):
    admin = await admin_login(server)  # through 127.0.0.1, a trusted proxy by default
    behind = {"X-Forwarded-For": "198.51.100.7"}
    status, body, _ = await admin.call("POST", "/moderation/bans", {"address": "198.51.100.0/24"}, headers=behind)
    assert (status, body["error"]["code"]) == (400, "bad_frame")
    assert body["error"]["message"] == ("198.51.100.0/24 holds 198.51.100.7, the address you act from: this would "
                                        "ban your own address")
    status, body, _ = await admin.call("POST", "/moderation/bans", {"address": "127.0.0.1"}, headers=behind)
    assert status == 200 and body["ban"]["address"] == "127.0.0.1/32", "the proxy's address is not theirs"
    assert [b.network for b in server.chat.moderation.bans()] == ["127.0.0.1/32"], "nothing else was stored"


async def test_every_moderation_endpoint_needs_a_session_and_the_csrf_token(server):
    admin = await admin_login(server)
    for method, path in [("GET", "/moderation"), ("POST", "/moderation/delete"), ("POST", "/moderation/mutes"),
                         ("DELETE", "/moderation/mutes/1"), ("POST", "/moderation/bans"),
                         ("DELETE", "/moderation/bans/1"), ("POST", "/moderation/kick")]:
        assert (await admin_call(server, method, path, {} if method == "POST" else None))[0] == 401
        if method != "GET":
            assert (await admin.call(method, path, {} if method == "POST" else None, csrf=None))[0] == 403
    assert (await admin.call("DELETE", "/moderation/bans/99999999999999999999"))[0] == 404


async def test_a_ban_ends_the_users_admin_sessions_and_refuses_their_chat_login_while_it_holds(server, connect):
    admin = await admin_login(server)
    mona = await (await connect()).enter(app_token=APP.token("mona", name="mona", roles=["moderator"]))
    uid, token = mona.welcome["user"]["id"], mona.welcome["token"]
    session = await chat_login(server, token)
    assert (await session.call("GET", "/moderation"))[0] == 200
    status, body, _ = await admin.call("POST", "/moderation/bans", {"user": uid, "seconds": 3600, "reason": "abuse"})
    assert status == 200
    assert (await session.call("GET", "/moderation"))[0] == 401
    assert (await session.call("POST", "/moderation/kick", {"user": 1}))[0] == 401
    status, answer, _ = await admin_call(server, "POST", "/login/chat", {"token": token})
    assert (status, answer["error"]["code"]) == (403, "banned")
    assert "banned for" in answer["error"]["message"] and "abuse" in answer["error"]["message"]
    failed = (await server.store.audit.page(None, 1, action="admin.login_failed")).rows[0]
    assert failed["detail"]["why"] == "banned" and failed["target"] == f"user:{uid}"

    assert (await admin.call("DELETE", f"/moderation/bans/{body['ban']['id']}"))[0] == 200
    assert (await session.call("GET", "/moderation"))[0] == 401, "an ended session stays ended when the ban is lifted"
    assert (await (await chat_login(server, token)).call("GET", "/moderation"))[0] == 200


async def test_a_ban_stored_by_another_node_ends_a_session_made_meanwhile(server, connect):
    """A login on one node as another node bans the user: the session is refused when next used."""
    mona = await (await connect()).enter(app_token=APP.token("mona", name="mona", roles=["moderator"]))
    session = await chat_login(server, mona.welcome["token"])
    store = server.store
    await store.writer.run(lambda: store.db.execute_sql(store._q(
        "INSERT INTO ban (user_id, network, until, reason, created) VALUES (?, NULL, NULL, '', 0)"),
        (mona.welcome["user"]["id"],)))
    assert (await session.call("GET", "/session"))[0] == 401


async def test_a_kick_ends_the_users_admin_sessions_but_they_may_sign_in_again(server, connect):
    admin = await admin_login(server)
    mona = await (await connect()).enter(app_token=APP.token("mona", name="mona", roles=["moderator"]))
    session = await chat_login(server, mona.welcome["token"])
    status, _, _ = await admin.call("POST", "/moderation/kick", {"user": mona.welcome["user"]["id"]})
    assert status == 200 and await closed_with(mona) == (4410, "kicked by a moderator")
    assert (await session.call("GET", "/session"))[0] == 401
    assert (await (await chat_login(server, mona.welcome["token"])).call("GET", "/session"))[0] == 200


async def test_moderators_do_not_see_address_bans(server, connect, user):
    admin = await admin_login(server)
    bob = await user("bob", "lobby")
    mod = await (await connect()).enter(app_token=APP.token("m", name="mod", roles=["moderator"]))
    session = await chat_login(server, mod.welcome["token"])
    assert (await admin.call("POST", "/moderation/bans", {"address": "203.0.113.0/24"}))[0] == 200
    assert (await admin.call("POST", "/moderation/bans", {"user": bob.welcome["user"]["id"]}))[0] == 200
    _, seen, _ = await session.call("GET", "/moderation")
    assert [(b["user"]["name"], b["address"]) for b in seen["bans"]] == [("bob", None)]
    _, everything, _ = await admin.call("GET", "/moderation")
    assert {b["address"] for b in everything["bans"]} == {None, "203.0.113.0/24"}
