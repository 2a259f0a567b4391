"""What ``chatd restore`` keeps from the database it replaces (``chatd.store.carryover``): every
revocation and every sanction made after the backup survives it. End to end on a real daemon
through the CLI, the admin page and the HTTP API; then the rules on databases made by a store."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import pytest

from chatd.auth.admins import account_key, hash_password
from chatd.database_commands import offline_backup
from chatd.store.restore import restore
from chatd.store.schema import now_ms
from chatd.store.userdata import ANONYMOUS
from tests.adminclient import AdminSession, admin_call, session_cookie
from tests.apiclient import api_call
from tests.ops_fixtures import Chatd, wait_for
from tests.stores import new_user, opened
from tests.test_restore import ok, rows, signed_up, start
from tests.wsclient import ChatClient


def admin_create(d: Chatd, monkeypatch: pytest.MonkeyPatch, action: str, name: str, password: str) -> None:
    """``chatd admin create|passwd NAME --password-stdin`` (in this process: it reads our stdin)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code, _, err = d.run("admin", action, name, "--password-stdin")
    assert code == 0, err


async def login(d: Chatd, name: str, password: str) -> tuple[int, AdminSession | None]:
    status, body, headers = await admin_call(d, "POST", "/login", {"name": name, "password": password})
    return status, AdminSession(d, session_cookie(headers), body["csrf"], body["actor"]) if status == 200 else None


async def test_a_restore_keeps_what_was_revoked_and_sanctioned_after_the_backup(
        chatd_daemon: Chatd, monkeypatch: pytest.MonkeyPatch):
    """The black-box tester's sequence (bb16a): a key, an admin and sessions ended, bans, a mute, a
    reserved name and a deleted user after the backup; stop, restore, start: none of it is undone."""
    d = chatd_daemon
    for name, password in (("exadmin", "exadmin password 1"), ("keeper", "keeper password 1"),
                           ("boss", "boss password 1")):
        admin_create(d, monkeypatch, "create", name, password)
    code, out, err = d.run("apikey", "create", "leaked", "--scope", "read")
    assert code == 0, err
    leaked = out.strip()
    mallet, m_welcome = await signed_up(d, "mallet")
    alice, a_welcome = await signed_up(d, "alice")
    gone, g_welcome = await signed_up(d, "gone")
    said = await gone.say("lobby", "words of someone about to leave")
    _, boss = await login(d, "boss", "boss password 1")
    _, keeper = await login(d, "keeper", "keeper password 1")
    backup = d.dir / "backup.db"
    await ok(d, "backup", str(backup))

    await ok(d, "apikey", "revoke", "leaked")
    await ok(d, "admin", "remove", "exadmin")
    admin_create(d, monkeypatch, "passwd", "keeper", "keeper password 2")
    assert (await boss.call("POST", "/logout"))[0] == 200
    _, boss = await login(d, "boss", "boss password 1")
    uid = {"alice": a_welcome["user"]["id"], "gone": g_welcome["user"]["id"], "mallet": m_welcome["user"]["id"]}
    for path, body in (("/moderation/bans", {"user": uid["alice"], "reason": "spam"}),
                       ("/moderation/bans", {"address": "10.1.2.0/24", "seconds": 3600}),
                       ("/moderation/mutes", {"user": uid["mallet"], "room": "lobby"}),
                       ("/names", {"pattern": "staff*", "scope": "any"})):
        status, answer, _ = await boss.call("POST", path, body)
        assert status in (200, 201), (path, answer)
    status, answer, _ = await boss.call("DELETE", f"/users/{uid['gone']}", {})
    assert status == 200, answer
    for client in (mallet, alice, gone):
        await client.close()

    await ok(d, "stop")
    out = await ok(d, "restore", str(backup))
    kept = re.search(r"kept from the replaced database: (.*)", out)[1]
    for part in ("1 deleted user erased again", "1 revoked or deleted API key", "1 removed admin account",
                 "1 admin password as changed", "2 admin sessions ended", "2 bans", "1 mute", "1 reserved name"):
        assert part in kept, (part, out)
    assert "tombstones when chatd starts" in out
    await start(d)

    status, body, _ = await api_call(d, "GET", "/online", key=leaked)
    assert status == 401 and "revoked" in body["error"]["message"]
    assert [row["revoked"] is not None for row in json.loads(await ok(d, "apikey", "list", "--json"))] == [True]
    assert (await login(d, "exadmin", "exadmin password 1"))[0] == 401
    assert (await login(d, "keeper", "keeper password 1"))[0] == 401, "the password as changed, not the backup's"
    assert (await login(d, "keeper", "keeper password 2"))[0] == 200
    for session in (boss, keeper):  # boss's logged out after the backup, keeper's open: a restore ends both
        assert (await session.call("GET", "/moderation"))[0] == 401
    _, boss = await login(d, "boss", "boss password 1")
    status, shown, _ = await boss.call("GET", "/moderation")
    assert {((b["user"] or {}).get("id"), b["address"], b["until"] is None) for b in shown["bans"]} == {
        (None, "10.1.2.0/24", False), (uid["alice"], None, True)}
    assert [(m["user"]["id"], m["room"]) for m in shown["mutes"]] == [(uid["mallet"], "lobby")]
    status, names, _ = await boss.call("GET", "/names")
    assert [n["pattern"] for n in names["names"]] == ["staff*"]

    refused = await ChatClient.connect(d.ws_url)
    answer = await refused.identify(token=a_welcome["token"])
    assert answer["code"] == "banned", answer
    await refused.close()
    refused = await ChatClient.connect(d.ws_url)
    assert (await refused.identify(token=g_welcome["token"]))["code"] == "bad_token", "deleted: no token signs in"
    await refused.close()
    wait_for(lambda: f"user {uid['gone']} deleted" in d.log(), what="the deletion finished at start")
    reader, _ = await signed_up(d, "reader", room=None)
    joined = await reader.request("join", room="lobby")
    [tombstone] = [m for m in joined["messages"] if m["id"] == said["id"]]
    assert tombstone.get("deleted") and not tombstone.get("text"), tombstone
    await reader.close()
    assert rows(d.dir / "chatd.db", f"SELECT name, kind FROM user WHERE id = {uid['gone']}") == [(ANONYMOUS, "deleted")]




HOUR_MS = 3_600_000


async def made(path: Path, change) -> None:
    """Open a store on ``path``, ``await change(store)``, close it."""
    store = opened(str(path))
    try:
        await change(store)
    finally:
        store.close()


def sanctions(path: Path) -> set[tuple]:
    return set(rows(path, "SELECT b.user_id, b.network, b.until IS NULL FROM ban b")) | {
        ("mute", *row) for row in rows(path, "SELECT m.user_id, r.name, m.until IS NULL FROM mute m "
                                             "LEFT JOIN room r ON r.id = m.room_id")}


async def test_the_longer_sanction_wins_and_what_the_backup_cannot_hold_is_left(tmp_path: Path):
    """Sanctions in force in the replaced database are kept, the longer one where both have one; an
    ended one and a mute in a room the backup lacks are not. App roles, bots and the members of a
    members-only room are as they are now."""
    current, backup = tmp_path / "chatd.db", tmp_path / "backup.db"
    ids: dict[str, int] = {}
    hour = now_ms() + HOUR_MS

    async def before(store) -> None:
        store.ensure_rooms(["lobby"])
        ids["alice"] = (await store.sign_ins.app_sign_in("u-1", "Alice", None, {"moderator"})).user_id
        ids["bob"] = await new_user(store, "bob")
        ids["helper"] = await store.bots.create("helper", "https://bots.example/a", "aa" * 32, [], ("pub1", "h1"))
        ids["tidy"] = await store.bots.create("tidy", "https://bots.example/b", "bb" * 32, [], ("pub2", "h2"))
        await store.moderation.ban(ids["alice"], None, None, "for good")
        await store.moderation.ban(None, "10.0.0.0/8", hour, "an hour")
        store.ensure_rooms(["club"])
        ids["club"] = next(room_id for room_id, name, *_ in store.rooms() if name == "club")
        await store.members.add(ids["club"], [ids["alice"], ids["bob"]], "api")

    async def after(store) -> None:
        await store.sign_ins.app_sign_in("u-1", "Alice", None, set())  # the app took the role back
        await store.bots.delete(ids["helper"])
        await store.bots.update(ids["tidy"], webhook_url="https://bots.example/moved", secret="cc" * 32)
        await store.moderation.ban(ids["alice"], None, hour, "shortened")  # the backup's, for good, wins
        await store.moderation.ban(None, "10.0.0.0/8", None, "for good now")  # this one wins
        await store.moderation.ban(ids["bob"], None, now_ms() - 1, "ended")  # not in force: not kept
        store.ensure_rooms(["later"])  # a room the backup lacks: the mute in it has nowhere to go
        later = next(room_id for room_id, name, *_ in store.rooms() if name == "later")
        await store.moderation.mute(ids["bob"], later, None, "")
        await store.moderation.mute(ids["bob"], None, hour, "")
        await store.members.remove(ids["club"], ids["bob"], "api")

    await made(current, before)
    offline_backup(str(current), str(backup))
    await made(current, after)
    record = restore(str(current), str(backup))
    assert record["warnings"] == []
    assert record["kept"] == {"roles": 1, "api_keys": 1, "members": 1, "bots": 1, "bot_secrets": 1, "bans": 1,
                              "mutes": 1}
    assert rows(current, "SELECT user_id FROM room_member") == [(ids["alice"],)], "bob was let go from the club"
    assert sanctions(current) == {(ids["alice"], None, 1), (None, "10.0.0.0/8", 1), ("mute", ids["bob"], None, 0)}
    assert rows(current, f"SELECT roles FROM user WHERE id = {ids['alice']}") == [("[]",)]
    assert rows(current, "SELECT user_id, webhook_url, secret FROM bot") == [
        (ids["tidy"], "https://bots.example/moved", "cc" * 32)]
    assert rows(current, "SELECT public_id, revoked IS NOT NULL FROM api_key ORDER BY id") == [
        ("pub1", 1), ("pub2", 0)], "the deleted bot's key was revoked with it"


async def test_a_database_made_anew_keeps_only_what_names_itself(tmp_path: Path):
    """The replaced database is not the backup's own (another token secret: a lost disk, a wrong
    path): its user ids and its lack of the backup's keys and accounts say nothing. Revoked keys
    (by their hash), address bans and reserved names are kept; every admin session ends."""
    current, backup = tmp_path / "chatd.db", tmp_path / "backup.db"
    ids: dict[str, int] = {}

    async def backup_side(store) -> None:
        ids["alice"] = await new_user(store, "alice")
        store.api_keys.create("shop", "pub1", "h1", ["read"], None)
        store.api_keys.create("leaked", "pub2", "h2", ["read"], None)
        store.admins.create("root", account_key("root"), hash_password("root password 1"))

    async def anew(store) -> None:
        other = await new_user(store, "mallory")
        assert other == ids["alice"], "the same id, another user"
        store.api_keys.create("leaked", "pub2", "h2", ["read"], None)
        store.api_keys.revoke("leaked")
        await store.moderation.ban(other, None, None, "")
        await store.moderation.ban(None, "192.0.2.0/24", None, "")

    await made(backup, backup_side)
    await made(current, anew)
    reserve = "INSERT INTO reserved_name (pattern, scope, reason, created) VALUES "
    for path, sql in ((backup, reserve + "('staff', 'user', '', 0)"),
                      (backup, "INSERT INTO admin_session (token_hash, csrf, account_id, created, seen, address) "
                               "VALUES ('t', 'c', 1, 0, 0, '')"),
                      (current, reserve + "('staff', 'room', '', 0), ('admin*', 'any', '', 0)"),
                      (current, f"UPDATE user SET kind = 'deleted' WHERE id = {ids['alice']}")):  # mallory deleted
        with sqlite3.connect(path) as db:
            db.execute(sql)
        db.close()
    record = restore(str(current), str(backup))
    assert record["kept"] == {"api_keys": 1, "admin_sessions": 1, "bans": 1, "reserved": 2}
    assert ["not this backup's own" in warning for warning in record["warnings"]] == [True]
    assert rows(current, "SELECT pattern, scope FROM reserved_name ORDER BY pattern") == [("admin*", "any"),
                                                                                         ("staff", "any")]
    assert rows(current, "SELECT count(*) FROM admin_session") == [(0,)]
    assert rows(current, "SELECT name, kind FROM user") == [("alice", "guest")]
    assert rows(current, "SELECT name, revoked IS NOT NULL FROM api_key ORDER BY id") == [("shop", 0), ("leaked", 1)]
    assert rows(current, "SELECT name FROM admin_account") == [("root",)]
    assert sanctions(current) == {(None, "192.0.2.0/24", 1)}
