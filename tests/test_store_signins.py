"""Sign-ins in the store (real SQLite, real servers): a database of schema
version 3 opens with its tokens still valid and then revocable, and a
restore never brings a signed-out token back."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from chatd.server import Server
from chatd.session import APP, GUEST
from chatd.store.migrations import SCHEMA_VERSION
from chatd.store.restore import restore
from tests.conftest import make_config
from tests.stores import migrations_until, new_user, opened
from tests.wsclient import ChatClient

SECRET = "cd" * 32
EPOCH = "e3e3e3e3e3e3e3e3"
# A database as chatd wrote it at schema version 3 (its peewee models, as SQL): before sign-ins.
V3_SCHEMA = """
CREATE TABLE "meta" ("key" VARCHAR(255) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL);
CREATE TABLE "user" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "name" TEXT NOT NULL,
    "created" INTEGER NOT NULL);
CREATE TABLE "room" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL COLLATE NOCASE, "topic" TEXT NOT NULL,
    "created" INTEGER NOT NULL);
CREATE UNIQUE INDEX "room_name" ON "room" ("name");
CREATE TABLE "room_key" ("key" TEXT NOT NULL PRIMARY KEY, "room_id" INTEGER NOT NULL,
    FOREIGN KEY ("room_id") REFERENCES "room" ("id") ON DELETE CASCADE);
CREATE INDEX "roomkey_room_id" ON "room_key" ("room_id");
CREATE TABLE "message" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "room_id" INTEGER,
    "sender_id" INTEGER NOT NULL, "sender_name" TEXT NOT NULL, "recipient_id" INTEGER, "recipient_name" TEXT,
    "pair" TEXT, "text" TEXT NOT NULL, "ts" INTEGER NOT NULL, "cid" TEXT,
    FOREIGN KEY ("room_id") REFERENCES "room" ("id") ON DELETE CASCADE,
    FOREIGN KEY ("sender_id") REFERENCES "user" ("id"), FOREIGN KEY ("recipient_id") REFERENCES "user" ("id"));
CREATE UNIQUE INDEX "message_sender_id_cid" ON "message" ("sender_id", "cid");
INSERT INTO meta VALUES ('schema_version', '3'), ('token_secret', '{secret}'), ('epoch', '{epoch}'),
    ('epoch_trusted', '{{"": null}}'), ('epoch_void_ids', '[]');
INSERT INTO user (id, name, created) VALUES (1, 'alice', 0), (2, 'bob', 0);
INSERT INTO room VALUES (1, 'lobby', '', 0);
INSERT INTO message (room_id, sender_id, sender_name, text, ts) VALUES (1, 1, 'alice', 'hello', 0);
"""


def legacy_token(body: str) -> str:
    """A token as chatd signed them before sign-ins: HMAC-SHA256 of the body with the secret."""
    digest = hmac.new(bytes.fromhex(SECRET), body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Server]:
    server = Server(make_config(tmp_path))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(timeout=5)


async def identify(server: Server, **fields: str) -> tuple[ChatClient, dict]:
    client = await ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws")
    return client, await client.identify(**fields)


async def refused(server: Server, token: str) -> str:
    """The reason the server gives for refusing ``token``."""
    client, answer = await identify(server, token=token)
    await client.close()
    assert answer["code"] == "bad_token", answer
    return answer["message"]


async def test_a_version_3_database_opens_and_its_tokens_work_until_signed_out(tmp_path):
    with sqlite3.connect(tmp_path / "chatd.db") as db:
        db.executescript(V3_SCHEMA.format(secret=SECRET, epoch=EPOCH))
    db.close()
    now = int(time.time())
    laptop, phone, tablet = (legacy_token(f"1.{now}.{EPOCH}"), legacy_token(f"1.{now - 5}"),
                             legacy_token(f"1.{now - 9}.{EPOCH}"))
    async with running(tmp_path) as server:
        with sqlite3.connect(tmp_path / "chatd.db") as db:
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            users = db.execute("SELECT id, name, token_generation FROM user").fetchall()
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.close()
        assert version == (str(SCHEMA_VERSION),) and users == [(1, "alice", 0), (2, "bob", 0)]
        on_laptop, welcome = await identify(server, token=laptop)
        assert welcome["user"] == {"id": 1, "name": "alice"}, "a token of before the upgrade still signs in"
        sign_in = server.chat.tokens.verify(welcome["token"]).sign_in
        _, again = await identify(server, token=laptop)
        assert server.chat.tokens.verify(again["token"]).sign_in == sign_in, "the same token, the same sign-in"
        on_phone, on_phone_welcome = await identify(server, token=phone)  # from before epochs, another browser
        assert server.chat.tokens.verify(on_phone_welcome["token"]).sign_in != sign_in

        assert (await on_laptop.request("sign_out"))["type"] == "signed_out"
        for token in (laptop, welcome["token"], again["token"]):
            assert await refused(server, token) == "this sign-in was signed out"
        assert (await on_phone.request("rooms"))["type"] == "rooms", "the other browser is still signed in"
        assert (await on_phone.request("sign_out", everywhere=True))["type"] == "signed_out"
        for token in (phone, on_phone_welcome["token"], tablet):  # tablet: never used since the upgrade
            assert await refused(server, token) == "the user signed out everywhere after this token was issued"
        bob, _ = await identify(server, token=legacy_token(f"2.{now}.{EPOCH}"))
        assert (await bob.request("join", room="lobby"))["messages"][0]["text"] == "hello"
        for client in (on_laptop, on_phone, bob):
            await client.close()


async def test_a_restore_keeps_the_sign_outs_of_the_database_it_replaces(tmp_path):
    backup = tmp_path / "backup.db"
    async with running(tmp_path) as server:
        alice, a_welcome = await identify(server, name="alice")
        bob, b_welcome = await identify(server, name="bob")
        dave, d_welcome = await identify(server, name="dave")
        await server.backup(str(backup))
        # After the backup: a second sign-in of alice's (a browser with a token of before sign-ins), one
        # more that stays signed in, and the sign-outs.
        alice_id = a_welcome["user"]["id"]
        tablets = [await server.store.sign_ins.ensure(alice_id, None, legacy=key) for key in ("tablet", "tv")]
        tablet, tv = (server.chat.tokens.issue(alice_id, server.store.epoch.id, s.id, 0) for s in tablets)
        on_tablet, _ = await identify(server, token=tablet)
        assert (await on_tablet.request("sign_out"))["type"] == "signed_out"
        assert (await alice.request("sign_out"))["type"] == "signed_out"
        assert (await bob.request("sign_out", everywhere=True))["type"] == "signed_out"
        for client in (alice, bob, dave, on_tablet):
            await client.close()
    restore(str(tmp_path / "chatd.db"), str(backup))
    async with running(tmp_path) as server:
        assert await refused(server, a_welcome["token"]) == "this sign-in was signed out"
        assert await refused(server, tablet) == "this sign-in was signed out", "made after the backup, signed out"
        assert await refused(server, b_welcome["token"]) == "the user signed out everywhere after this token was issued"
        _, carol = await identify(server, name="carol")  # first: her sign-in must not take the id of tv's
        assert server.chat.tokens.verify(carol["token"]).sign_in > max(s.id for s in tablets), "no sign-in id twice"
        for token, name in ((d_welcome["token"], "dave"), (tv, "alice")):  # never signed out: still signed in
            client, welcome = await identify(server, token=token)
            assert welcome["type"] == "welcome" and welcome["user"]["name"] == name, welcome
            await client.close()


async def test_app_users_are_found_by_sub_and_updated_by_each_sign_in(any_store):
    first = await any_store.sign_ins.app_sign_in("u-1", "Alice", "https://cdn.example.com/a.png", {"moderator"})
    again = await any_store.sign_ins.app_sign_in("u-1", "Alicia", None, set())
    assert again.user_id == first.user_id and again.sign_in != first.sign_in, "one user, a sign-in per device"
    state = await any_store.sign_ins.state(first.user_id, again.sign_in, None)
    assert (state.name, state.kind, state.roles, state.avatar) == ("Alicia", APP, frozenset(), None)
    other = await any_store.sign_ins.app_sign_in("u-2", "Alicia", None, set())
    assert other.user_id != first.user_id, "another sub is another user, whatever its name"
    guest = await any_store.sign_ins.sign_up("Alicia")
    assert (await any_store.sign_ins.state(guest.user_id, guest.sign_in, None)).kind == GUEST


async def test_two_nodes_signing_in_a_new_sub_at_once_make_one_user(store_url):
    """Two processes, each with its writer, on one database: the unique sub decides."""
    nodes = [opened(store_url, shared=True) for _ in range(2)]
    try:
        ups = await asyncio.gather(*(node.sign_ins.app_sign_in(f"u-{i}", f"user {i}", None, ())
                                     for i in range(20) for node in nodes))
        assert len({up.user_id for up in ups}) == 20
        assert all(ups[2 * i].user_id == ups[2 * i + 1].user_id for i in range(20))
    finally:
        for node in nodes:
            node.close()


async def test_a_version_6_database_gets_app_users_and_keeps_its_guests(store_url, monkeypatch):
    """_v7_app_users on either dialect: a database as chatd of schema version 6 left it."""
    migrations_until(monkeypatch, "_v8_room_members")  # the steps after v8 are other tests' business
    old = opened(store_url)
    guest = await new_user(old, "bob")
    with old.db.connection_context():
        old.db.execute_sql('DROP INDEX "user_external_id"')
        for column in ("kind", "external_id", "roles", "avatar"):
            old.db.execute_sql(f'ALTER TABLE "user" DROP COLUMN "{column}"')
        old.db.execute_sql('DROP TABLE "room_member"')  # and what _v8_room_members adds: it runs again
        old.db.execute_sql('ALTER TABLE "room" DROP COLUMN "members_only"')
        old.db.execute_sql("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    old.close()
    new = opened(store_url)
    try:
        state = await new.sign_ins.state(guest, None, None)
        assert (state.name, state.kind, state.roles) == ("bob", GUEST, frozenset())
        up = await new.sign_ins.app_sign_in("u-1", "Alice", None, ["admin"])
        assert (await new.sign_ins.app_sign_in("u-1", "Alice", None, ["admin"])).user_id == up.user_id
    finally:
        new.close()
