"""Users of a web app, end to end (docs/protocol.md, "App tokens"): a tiny web app
with its own secret and users signs JWTs; a real server, on SQLite and on
PostgreSQL, logs its users in with them over real WebSockets."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chatd.server import Server
from tests.conftest import make_config, until
from tests.stores import KINDS
from tests.webapp import WebApp
from tests.wsclient import ChatClient


@pytest.fixture(params=KINDS)
def config_overrides(request: pytest.FixtureRequest, tmp_path: Path, web_app: WebApp) -> dict[str, Any]:
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else str(tmp_path / "chatd.db")
    return {"database": database, "app_tokens": {"secret": web_app.secret},
            "identity": {"avatar_hosts": ["cdn.shop.example"]}}


async def reload(server: Server, tmp_path: Path, overrides: dict[str, Any], **sections: Any) -> None:
    """``chatd reload`` with ``sections`` changed from the test's config."""
    server.reload(make_config(tmp_path, **(overrides | sections)))


async def test_an_app_user_on_two_devices_is_one_user_and_gets_its_messages_on_both(web_app, connect, user):
    phone = await (await connect()).enter("lobby", app_token=web_app.token("u-1"))
    laptop = await (await connect()).enter(app_token=web_app.token("u-1"))
    alice = phone.welcome["user"]
    assert alice["name"] == "Alice" and laptop.welcome["user"]["id"] == alice["id"]
    bob = await user("bob", "lobby")
    sent = await bob.request("say", to=alice["id"], text="your order shipped")
    assert sent["type"] == "ack"
    for device in (phone, laptop):
        got = await device.expect("message", id=sent["id"])
        assert got["text"] == "your order shipped" and got["to"]["id"] == alice["id"]
    again = await (await connect()).identify(token=laptop.welcome["token"])  # resumes as any user does
    assert again["type"] == "welcome" and again["user"]["id"] == alice["id"] and again["user"]["name"] == "Alice"


async def test_two_devices_identifying_at_once_for_a_new_sub_are_one_user(web_app, connect):
    devices = [await connect() for _ in range(4)]
    welcomes = await asyncio.gather(*(d.identify(app_token=web_app.token("u-new", name="Nova")) for d in devices))
    assert {w["type"] for w in welcomes} == {"welcome"}, welcomes
    assert len({w["user"]["id"] for w in welcomes}) == 1


async def test_each_app_token_sets_the_name_roles_and_avatar_shown_only_from_allowed_hosts(web_app, connect):
    first = await (await connect()).identify(app_token=web_app.token(
        "u-9", name="Max", roles=["moderator"], avatar="https://cdn.shop.example/max.png"))
    assert first["user"] == {"id": first["user"]["id"], "name": "Max", "avatar": "https://cdn.shop.example/max.png",
                             "rank": "moderator", "roles": ["moderator"]}
    later = await (await connect()).identify(app_token=web_app.token(
        "u-9", name="Maxine", avatar="https://tracker.example/pixel.png"))
    assert later["user"] == {"id": first["user"]["id"], "name": "Maxine"}, "no roles now; a third-party avatar unshown"


@pytest.mark.parametrize("avatar", [
    "https://tracker.example\\@cdn.shop.example/a.png",  # a browser's host: tracker.example
    "https://u:pw@cdn.shop.example/a.png",
    "https://cdn.shop.example:99999/a.png",
    "http://[::1/a.png",
])
async def test_an_avatar_a_browser_could_load_from_another_host_is_refused(web_app, connect, avatar):
    got = await (await connect()).identify(app_token=web_app.token("u-9", avatar=avatar))
    assert (got["type"], got["code"], got.get("claim")) == ("error", "bad_claim", "avatar"), got


async def test_a_stored_avatar_a_browser_would_load_from_another_host_is_not_shown(server, web_app, connect):
    first = await (await connect()).identify(app_token=web_app.token("u-9", avatar="https://cdn.shop.example/a.png"))
    store = server.chat.store  # as a database written before the claim's check refused it
    await store.writer.run(lambda: store.db.execute_sql(store._q('UPDATE "user" SET avatar = ? WHERE id = ?'), (
        "https://tracker.example\\@cdn.shop.example/a.png", first["user"]["id"])))
    again = await (await connect()).identify(token=first["token"])
    assert again["type"] == "welcome" and "avatar" not in again["user"], again["user"]


async def test_app_users_are_never_locked_out_by_a_name_and_may_share_one(web_app, connect, user):
    await user("John")  # a guest took the name first
    john = await (await connect()).identify(app_token=web_app.token("u-2"))
    other_john = await (await connect()).identify(app_token=web_app.token("u-3"))
    assert john["type"] == other_john["type"] == "welcome", (john, other_john)
    assert john["user"]["name"] == other_john["user"]["name"] == "John"
    assert john["user"]["id"] != other_john["user"]["id"], "two people, told apart by id"
    alice = await (await connect()).identify(app_token=web_app.token("u-1"))
    impostor = await (await connect()).identify(name="Аlice")  # a Cyrillic А
    assert impostor["code"] == "name_taken" and "'Alice'" in impostor["message"]
    assert (impostor["name"], impostor["holder"]) == ("Аlice", "Alice") and "kept_ms" not in impostor  # online
    renamed = await (await connect()).identify(token=alice["token"], name="Alicia")
    assert renamed["code"] == "forbidden" and "web app" in renamed["message"]


async def test_a_guest_cannot_take_the_name_of_an_app_user_who_just_left(server, web_app, connect):
    alice = await (await connect()).enter(app_token=web_app.token("u-1"))
    await alice.close()
    await until(lambda: alice.welcome["user"]["id"] not in server.hub.users, what="alice gone")
    held = await (await connect()).identify(name="alice")
    assert held["code"] == "name_taken" and "kept for its user" in held["message"]
    hold_ms = server.config.identity.name_hold_seconds * 1000
    assert (held["name"], held["holder"]) == ("alice", "Alice")  # the fields say it too, for any language
    assert held["since_ms"] >= 0 and held["since_ms"] + held["kept_ms"] in (hold_ms, hold_ms + 1)
    back = await (await connect()).identify(app_token=web_app.token("u-1"))
    assert back["type"] == "welcome", "its own name, back at once"


@pytest.mark.parametrize(("token", "code", "words"), [
    (lambda app: app.token("u-1", ttl=-120), "token_expired", "expired"),
    (lambda app: jwt.encode({"sub": "u-1", "exp": int(time.time()) + 60}, secrets.token_hex(32)), "bad_signature",
     "signature"),
    (lambda app: jwt.encode({"exp": int(time.time()) + 60}, app.secret), "missing_claim", "'sub'"),
    (lambda app: app.token("u-1", rooms="not a list"), "bad_claim", "'rooms'"),
    (lambda app: jwt.encode({"sub": "u-1", "exp": int(time.time()) + 60}, None, algorithm="none"), "bad_app_token",
     "'none'"),
    (lambda app: "not.a.jwt", "bad_app_token", "not a JWT"),
])
async def test_a_refused_app_token_says_why_and_signs_in_nobody(server, web_app, connect, token, code, words):
    client = await connect()
    refused = await client.identify(app_token=token(web_app), cid="c1")
    assert refused["type"] == "error" and refused["code"] == code and words in refused["message"], refused
    assert refused["cid"] == "c1"
    assert (await client.identify(app_token=web_app.token("u-1")))["type"] == "welcome", "the connection stays usable"


async def test_app_token_with_name_or_token_is_a_bad_frame(web_app, connect):
    refused = await (await connect()).identify(app_token=web_app.token("u-1"), name="Alice")
    assert refused["code"] == "bad_frame" and "app_token" in refused["message"]


async def test_guests_off_refuses_names_and_guest_tokens_but_not_app_users(server, web_app, connect, user, tmp_path,
                                                                            config_overrides):
    guest = await user("bob")
    app_user = await (await connect()).identify(app_token=web_app.token("u-1"))
    await reload(server, tmp_path, config_overrides, identity={"guests": False})
    by_name = await (await connect()).identify(name="carol")
    assert by_name["code"] == "guests_off" and "web app" in by_name["message"]
    by_token = await (await connect()).identify(token=guest.welcome["token"])
    assert by_token["code"] == "guests_off"
    assert (await (await connect()).identify(token=app_user["token"]))["type"] == "welcome"
    assert (await (await connect()).identify(app_token=web_app.token("u-2")))["type"] == "welcome"


async def test_without_a_configured_key_app_tokens_are_refused(server, web_app, connect, tmp_path, config_overrides):
    await reload(server, tmp_path, config_overrides, app_tokens={"secret": ""})
    refused = await (await connect()).identify(app_token=web_app.token("u-1"))
    assert refused["code"] == "bad_app_token" and "not configured" in refused["message"]
    assert refused["cause"] == "not_configured", "for a client to word in its language"


def pem(private: Any) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(("algorithm", "make_key"), [
    ("RS256", lambda: rsa.generate_private_key(65537, 2048)),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
])
async def test_public_key_tokens_and_a_new_key_on_reload(server, connect, tmp_path, config_overrides, algorithm,
                                                         make_key):
    key_file = tmp_path / "app.pub"
    old, new = WebApp(make_key(), algorithm), WebApp(make_key(), algorithm)
    key_file.write_bytes(pem(old.key))
    keyed = {"app_tokens": {"secret": "", "public_key_file": str(key_file), "algorithms": [algorithm]}}
    await reload(server, tmp_path, config_overrides, **keyed)
    assert (await (await connect()).identify(app_token=old.token("u-1")))["user"]["name"] == "Alice"
    key_file.write_bytes(pem(new.key))  # the app rotated its key: same file, same config
    await reload(server, tmp_path, config_overrides, **keyed)
    assert (await (await connect()).identify(app_token=old.token("u-1")))["code"] == "bad_signature"
    assert (await (await connect()).identify(app_token=new.token("u-1")))["type"] == "welcome"


async def test_a_guest_online_keeps_its_name_and_id_apart_from_the_app_user(web_app, connect, user):
    guest: ChatClient = await user("Alice", "lobby")
    app_user = await (await connect()).enter("lobby", app_token=web_app.token("u-1"))
    assert guest.welcome["user"]["id"] != app_user.welcome["user"]["id"]
    assert (await guest.say("lobby", "still me"))["type"] == "ack"


async def test_a_new_rank_or_avatar_reaches_the_rooms_the_user_is_in_as_a_presence_update(web_app, connect, user):
    """The member lists already sent learn it (docs/protocol.md, "presence" ``update``): a moderator's page
    offers the actions the new rank allows; a sign-in that changes nothing a ref shows says nothing."""
    bob = await user("bob", "lobby")
    assert (await bob.request("create", room="games"))["type"] == "created"
    assert (await bob.request("join", room="games"))["type"] == "joined"
    kim = await (await connect()).enter("lobby", "games", app_token=web_app.token("u-7", name="kim"))
    kim_id = kim.welcome["user"]["id"]
    for room in ("lobby", "games"):
        assert (await bob.expect("presence", room=room, event="join"))["user"] == {"id": kim_id, "name": "kim"}
    await (await connect()).identify(app_token=web_app.token("u-7", name="kim", roles=["vip"]))  # no rank: no news
    await (await connect()).identify(app_token=web_app.token(
        "u-7", name="kim", roles=["moderator"], avatar="https://cdn.shop.example/kim.png"))
    kim_now = {"id": kim_id, "name": "kim", "avatar": "https://cdn.shop.example/kim.png", "rank": "moderator"}
    for client in (bob, kim):  # kim's own tab in the rooms too
        for room in ("lobby", "games"):
            presence = await client.expect("presence", room=room)
            assert (presence["event"], presence["user"]) == ("update", kim_now), "the first news after the join"
    joined = await (await user("cat")).request("join", room="lobby")
    assert {m["id"]: m for m in joined["members"]}[kim_id] == kim_now

    await (await connect()).identify(app_token=web_app.token("u-7", name="kim"))  # the app took it all away
    presence = await bob.expect("presence", room="lobby", event="update")
    assert presence["user"] == {"id": kim_id, "name": "kim"}
