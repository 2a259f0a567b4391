"""`chatd restore`: a backup put back as a new epoch. The procedure of
docs/operations.md ("Backups") end to end on real daemons through the CLI,
what it refuses, and restores cut short by a kill."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chatd.epoch import PRE_EPOCH, Epoch
from chatd.status import ExitStatus
from chatd.store.restore import TEMP_SUFFIX, RestoreError, restore
from tests.ops_fixtures import CLI_TIMEOUT, Chatd, _env, wait_for
from tests.test_store import make_v1_database
from tests.wsclient import ChatClient


async def cli(d: Chatd, *args: str) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(d.cli, *args)


async def ok(d: Chatd, *args: str) -> str:
    result = await cli(d, *args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


async def start(d: Chatd) -> None:
    result = await asyncio.to_thread(d.start)
    assert result.returncode == 0, result.stderr


async def signed_up(d: Chatd, name: str, room: str | None = "lobby") -> tuple[ChatClient, dict]:
    client = await ChatClient.connect(d.ws_url)
    welcome = await client.identify(name=name)
    assert welcome["type"] == "welcome", welcome
    if room:
        assert (await client.request("join", room=room))["type"] == "joined"
    return client, welcome


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        result = db.execute(sql).fetchall()
    db.close()
    return result


async def test_restore_as_documented(chatd_daemon: Chatd):
    """Backup; someone signs up and chats; stop, restore, start: nothing from before
    points at anything new, and every client holding old ids is told to reload."""
    d = chatd_daemon
    alice, a_welcome = await signed_up(d, "alice")
    kept = await alice.say("lobby", "before the backup")
    backup = d.dir / "backup.db"
    await ok(d, "backup", str(backup))

    mallory, m_welcome = await signed_up(d, "mallory")
    gone_room = await mallory.say("lobby", "after the backup")
    gone_private = await mallory.request("say", to=a_welcome["user"]["id"], text="psst, after the backup")
    assert (await alice.expect("message", id=gone_private["id"]))["text"] == "psst, after the backup"
    handed_out = {m_welcome["user"]["id"]: "mallory"}
    await alice.close()
    await mallory.close()

    await ok(d, "stop")
    out = await ok(d, "restore", str(backup))
    assert "epoch" in out and str(backup) in out
    await start(d)
    assert d.status()["epoch"] not in (None, a_welcome["epoch"])
    assert d.status()["restored"]["from"] == str(backup)
    assert "restored" in d.log() and str(backup) in d.log()

    # A new user gets a new id, never the one mallory had.
    carol, c_welcome = await signed_up(d, "carol")
    assert c_welcome["user"]["id"] not in handed_out and c_welcome["user"]["id"] > max(handed_out)
    assert c_welcome["epoch"] == d.status()["epoch"]
    # Mallory's token proves nobody: the backup never had her.
    again = await ChatClient.connect(d.ws_url)
    refused = await again.identify(token=m_welcome["token"], since=gone_private["id"])
    assert refused["type"] == "error" and refused["code"] == "bad_token" and "restored" in refused["message"]
    # Alice's does: she is the same user. Her private position is stale: the latest page, reset.
    back = await again.identify(token=a_welcome["token"], since=gone_private["id"])
    assert back["type"] == "welcome" and back["user"] == a_welcome["user"] and back["reset"] is True
    assert back["epoch"] == c_welcome["epoch"] and back["messages"] == []
    # Room position from before the restore: joined says reset and carries the restored history.
    joined = await again.request("join", room="lobby", since=gone_room["id"])
    assert joined["reset"] is True and [m["id"] for m in joined["messages"]] == [kept["id"]]
    for bounds in ({"after": gone_room["id"]}, {"before": gone_private["id"]}, {"after": kept["id"]}):
        page = await again.request("history", room="lobby", **bounds)
        assert page["reset"] is True and [m["id"] for m in page["messages"]] == [kept["id"]], bounds
    private = await again.request("history", after=kept["id"])
    assert private["reset"] is True and private["messages"] == []
    # Positions of the new epoch are fine, and new ids are beyond every id ever handed out.
    fresh = await again.request("history", room="lobby", after=kept["id"], epoch=back["epoch"])
    assert "reset" not in fresh and fresh["messages"] == []
    new = await carol.say("lobby", "after the restore")
    assert new["id"] > gone_private["id"]
    assert (await again.expect("message", id=new["id"]))["text"] == "after the restore"
    rejoin = await again.request("join", room="lobby", since=kept["id"], epoch=back["epoch"])
    assert "reset" not in rejoin and [m["id"] for m in rejoin["messages"]] == [new["id"]]
    # A client that does not say its epoch (a new guest holding old ids) is caught by the ids alone.
    guest, _ = await signed_up(d, "guest", room=None)
    stale = await guest.request("join", room="lobby", since=gone_room["id"])
    assert stale["reset"] is True and [m["id"] for m in stale["messages"]] == [kept["id"], new["id"]]
    beyond = await guest.request("history", room="lobby", after=new["id"] + 1000)
    assert beyond["reset"] is True
    for client in (carol, again, guest):
        await client.close()


async def test_restore_is_refused_while_the_server_runs(chatd_daemon: Chatd):
    d = chatd_daemon
    await ok(d, "backup", str(d.dir / "backup.db"))
    before = (d.dir / "chatd.db").stat().st_mtime_ns
    result = await cli(d, "restore", str(d.dir / "backup.db"))
    assert result.returncode == ExitStatus.ALREADY_RUNNING
    assert "running" in result.stderr and "chatd stop" in result.stderr
    assert (d.dir / "chatd.db").stat().st_mtime_ns == before
    assert d.status()["state"] == "serving" and d.status()["pid"] == d.pid


@pytest.mark.parametrize("content, why", [
    pytest.param(b"hello, this is not a database" * 100, "not an SQLite database", id="text"),
    pytest.param(None, "not a chatd one", id="another-sqlite-database"),
    pytest.param(b"", "not a chatd one", id="empty"),  # SQLite reads an empty file as an empty database
])
def test_a_file_that_is_not_a_chatd_database_is_refused(chatd_install: Chatd, content: bytes | None, why: str):
    d = chatd_install
    d.start()
    d.cli("stop")
    before = (d.dir / "chatd.db").read_bytes()
    bogus = d.dir / "bogus.db"
    if content is None:
        with sqlite3.connect(bogus) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
        db.close()
    else:
        bogus.write_bytes(content)
    result = d.cli("restore", str(bogus))
    assert result.returncode == ExitStatus.ERROR and why in result.stderr and "not replaced" in result.stderr
    assert (d.dir / "chatd.db").read_bytes() == before
    assert not list(d.dir.glob(f"*{TEMP_SUFFIX}*")), "the copy is cleaned up"
    missing = d.cli("restore", str(d.dir / "missing.db"))
    assert missing.returncode == ExitStatus.ERROR and "no backup file" in missing.stderr


def test_the_database_itself_or_a_directory_is_no_backup(tmp_path: Path):
    database = tmp_path / "chatd.db"
    make_v1_database(database)
    before = database.read_bytes()
    os.link(database, tmp_path / "hard.db")
    for backup, why in ((database, "is the database itself"), (tmp_path / "." / "chatd.db", "is the database itself"),
                        (tmp_path / "hard.db", "is the database itself"), (tmp_path, "is a directory")):
        with pytest.raises(RestoreError, match=why):
            restore(str(database), str(backup))
    assert database.read_bytes() == before and not list(tmp_path.glob(f"*{TEMP_SUFFIX}*"))


def test_a_backup_newer_than_this_chatd_is_refused(tmp_path: Path):
    newer = tmp_path / "newer.db"
    make_v1_database(newer)
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(RestoreError, match="newer than this chatd"):
        restore(str(tmp_path / "chatd.db"), str(newer))
    assert not (tmp_path / "chatd.db").exists()


def test_a_backup_of_version_1_is_migrated_and_trusts_its_users(tmp_path: Path):
    """A backup taken before epochs: its users keep their tokens, later ids are never reused."""
    current, backup = tmp_path / "chatd.db", tmp_path / "old-backup.db"
    make_v1_database(backup)
    make_v1_database(current)
    with sqlite3.connect(current) as db:  # the live database went on after the backup
        db.execute("INSERT INTO user VALUES (4, 'dave', 0), (5, 'erin', 0)")
        db.execute("INSERT INTO message (room_id, sender_id, sender_name, text, ts) VALUES (1, 5, 'erin', 'x', 0)")
    db.close()
    record = restore(str(current), str(backup))
    assert record["replaced_epoch"] is None and record["warnings"] == []
    assert rows(current, "SELECT name, seq FROM sqlite_sequence ORDER BY name") == [("message", 3), ("user", 5)]
    assert rows(current, "SELECT id, name FROM user") == [(1, "alice"), (2, "bob"), (3, "carol")]
    meta = dict(rows(current, "SELECT key, value FROM meta"))
    assert meta["epoch"] == record["epoch"] and meta["schema_version"] != "1"
    epoch = Epoch.from_meta(meta)
    assert epoch.token_problem(PRE_EPOCH, 3) is None and epoch.token_problem(PRE_EPOCH, 4)
    assert epoch.is_void(3) and not epoch.is_void(2)
    assert not [p for p in tmp_path.iterdir() if p.name not in ("chatd.db", "old-backup.db")], "no side files"


# Where a kill lands: (function, which call). The first two come before the
# rename that installs the copy, the last after it.
KILL_POINTS = [("shutil.copyfile", 1), ("os.fsync", 1), ("os.replace", 1), ("os.fsync", 2)]
KILLER = """
import functools, os, signal, sys, shutil
module, name = {target!r}.split(".")
owner = {{"os": os, "shutil": shutil}}[module]
real, calls = getattr(owner, name), []
@functools.wraps(real)
def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == {nth}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(owner, name, dying)
from chatd.cli import main
sys.exit(main(["restore", {backup!r}, "-c", {config!r}]))
"""


@pytest.mark.parametrize("target, nth", KILL_POINTS)
async def test_a_restore_killed_midway_leaves_one_whole_database(chatd_daemon: Chatd, target: str, nth: int):
    d = chatd_daemon
    alice, a_welcome = await signed_up(d, "alice")
    await alice.say("lobby", "in the backup")
    backup = d.dir / "backup.db"
    await ok(d, "backup", str(backup))
    mallory, m_welcome = await signed_up(d, "mallory")
    late = await mallory.say("lobby", "only in the replaced database")
    await alice.close()
    await mallory.close()
    d.kill_all()  # a crash: the last commits are in the -wal only
    await asyncio.to_thread(wait_for, lambda: d.run("status")[0] == ExitStatus.NOT_RUNNING, what="the crash")

    code = KILLER.format(target=target, nth=nth, backup=str(backup), config=str(d.config_path))
    killed = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], env=_env(), cwd=d.dir,
                                     capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert killed.returncode == -9, killed.stderr

    await start(d)
    client = await ChatClient.connect(d.ws_url)
    welcome = await client.identify(token=m_welcome["token"])
    history = await ChatClient.connect(d.ws_url)
    await history.identify(token=a_welcome["token"])
    joined = await history.request("join", room="lobby")
    texts = [m["text"] for m in joined["messages"]]
    if target == "os.fsync" and nth == 2:  # after the rename: the restored database, whole
        assert welcome["code"] == "bad_token" and texts == ["in the backup"]
    else:  # before it: the old database, whole, with what was only in its -wal
        assert welcome["type"] == "welcome" and texts == ["in the backup", "only in the replaced database"]
        assert joined["messages"][-1]["id"] == late["id"]
    await client.close()
    await history.close()
    # And the operator runs the restore again: it completes.
    await ok(d, "stop")
    await ok(d, "restore", str(backup))
    await start(d)
    after = await ChatClient.connect(d.ws_url)
    assert (await after.identify(token=m_welcome["token"]))["code"] == "bad_token"
    new = await after.identify(name="carol")
    assert new["user"]["id"] > m_welcome["user"]["id"]
    await after.close()
    assert not list(d.dir.glob(f"*{TEMP_SUFFIX}*"))


def test_restore_without_a_pidfile_directory_and_without_a_database(tmp_path: Path):
    """Under systemd /run/chatd is gone while chatd is stopped; after a disk loss, so is the database."""
    d = Chatd(tmp_path, pidfile=str(tmp_path / "run" / "chatd.pid"), database=str(tmp_path / "data.db"))
    backup = tmp_path / "backup.db"
    make_v1_database(backup)
    code, out, err = d.run("restore", str(backup))
    assert code == 0 and "restored" in out
    assert "unknown" in err, "the operator is told the replaced ids are unknown"
    assert rows(tmp_path / "data.db", "SELECT count(*) FROM user") == [(3,)]
    assert os.stat(tmp_path / "data.db").st_size > 0


async def test_restoring_twice_keeps_users_who_are_in_both(chatd_daemon: Chatd):
    """The users of the backup signed in after the first restore (new tokens); the second restore
    still knows them, and not those who signed up in between."""
    d = chatd_daemon
    first, a_welcome = await signed_up(d, "alice")
    backup = d.dir / "backup.db"
    await ok(d, "backup", str(backup))
    await first.close()
    tokens = {"alice": a_welcome["token"]}
    for round_ in range(2):
        await ok(d, "stop")
        await ok(d, "restore", str(backup))
        await start(d)
        alice = await ChatClient.connect(d.ws_url)
        back = await alice.identify(token=tokens["alice"])
        assert back["type"] == "welcome" and back["user"] == a_welcome["user"], round_
        if "carol" in tokens:
            carol = await ChatClient.connect(d.ws_url)
            assert (await carol.identify(token=tokens["carol"]))["code"] == "bad_token"
            await carol.close()
        tokens["alice"] = back["token"]  # a token of this epoch, for the next round
        carol, c_welcome = await signed_up(d, "carol", room=None)
        tokens["carol"] = c_welcome["token"]
        await alice.close()
        await carol.close()


def test_a_database_another_process_holds_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    current, backup = tmp_path / "chatd.db", tmp_path / "backup.db"
    make_v1_database(backup)
    make_v1_database(current)
    monkeypatch.setattr("chatd.store.restore.BUSY_TIMEOUT", 0.1)
    holder = sqlite3.connect(current)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(RestoreError, match="in use"):
            restore(str(current), str(backup))
    finally:
        holder.close()
    assert rows(current, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "chatd.db"]
