"""``chatd migrate-store`` (chatd.store.transfer): an SQLite database that real
clients filled, copied into PostgreSQL; the server started again on it keeps
every user, token, message and id."""

from __future__ import annotations

import argparse
import io
import sqlite3

import psycopg
import pytest

from chatd.daemon import PidFile
from chatd.database_commands import TRANSFER_LABELS, cmd_migrate_store
from chatd.server import Server
from chatd.status import ExitStatus
from chatd.store import Draft
from chatd.store import transfer as transfer_module
from tests.conftest import make_config
from tests.stores import opened, save
from tests.wsclient import ChatClient

pytestmark = pytest.mark.postgres


def migrate_store(config, url: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = cmd_migrate_store(argparse.Namespace(url=url), config, out, err)
    return status, out.getvalue(), err.getvalue()


async def test_after_the_move_every_user_token_and_message_works(tmp_path, postgres_url, monkeypatch):
    monkeypatch.setattr(transfer_module, "CHUNK_ROWS", 7)  # several chunks per table
    config = make_config(tmp_path)
    server = Server(config)
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/ws"
    async with ChatClient.connect(url) as alice, ChatClient.connect(url) as bob:
        alice_welcome, bob_welcome = await alice.identify(name="alice"), await bob.identify(name="bob")
        for client in (alice, bob):
            await client.request("join", room="lobby")
        assert (await alice.request("create", room="Games", topic="board games"))["type"] == "created"
        games = (await alice.say("Games", "a move", cid="m1"))["id"] if (await alice.request(
            "join", room="Games"))["type"] == "joined" else None
        said = [(await alice.say("lobby", f"hello {i}"))["id"] for i in range(20)]
        private = (await bob.request("say", to=alice_welcome["user"]["id"], text="psst"))["id"]
        assert (await bob.request("react", id=said[0], emoji="👍"))["type"] == "done"  # reactions and edits come too
        assert (await alice.request("edit", id=said[1], text="hello, edited"))["type"] == "done"
        revised = (await alice.request("join", room="lobby"))["revised"]
        await server.chat.room_admin.create("club", "", members_only=True)
        await server.chat.room_admin.add_members("club", [bob_welcome["user"]["id"]])
    await server.stop(timeout=5)
    with sqlite3.connect(config.database) as db:  # ids handed out and gone since (or raised by a restore)
        db.execute("UPDATE sqlite_sequence SET seq = seq + 100 WHERE name = 'message'")
        high = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'message'").fetchone()[0]
    db.close()

    status, out, err = migrate_store(config, postgres_url)
    assert status == ExitStatus.OK, err
    rows = dict(line.strip().rsplit(maxsplit=1) for line in out.splitlines() if line.startswith("  "))
    assert rows["messages"] == "22" and rows["users"] == "2" and f"database: {postgres_url}" in out
    # every table it copies is in the summary (uploads, bans, mutes, admin accounts... too), by its name
    copied = ["meta", *(model._meta.table_name for model in transfer_module.TABLES)]
    assert list(rows) == [TRANSFER_LABELS[table] for table in copied], out

    moved = Server(make_config(tmp_path, database=postgres_url))
    await moved.start()
    try:
        url = f"ws://127.0.0.1:{moved.port}/ws"
        async with ChatClient.connect(url) as alice, ChatClient.connect(url) as bob:
            welcome = await bob.identify(token=bob_welcome["token"], since=0)
            assert welcome["type"] == "welcome" and welcome["user"] == bob_welcome["user"]
            assert welcome["epoch"] == bob_welcome["epoch"]
            assert [m["id"] for m in welcome["messages"]] == [private]
            joined = await bob.request("join", room="lobby", since=said[9])
            assert [m["id"] for m in joined["messages"]] == said[10:]
            assert joined["revised"] == revised, "the change counter came along"
            first = (await bob.request("history", room="lobby", before=said[2]))["messages"]
            assert [(m["text"], "edited" in m, len(m.get("reactions", ()))) for m in first[-2:]] == [
                ("hello 0", False, 1), ("hello, edited", True, 0)]
            assert (await alice.identify(token=alice_welcome["token"]))["type"] == "welcome"
            await alice.request("join", room="lobby")
            rooms = await alice.request("rooms")
            assert {"Games", "lobby"} <= {room["name"] for room in rooms["rooms"]}
            refused = await alice.request("create", room="g\u0430mes")  # a Cyrillic а: its room keys came too
            assert refused["type"] == "error" and refused["code"] == "room_exists"
            assert "club" not in {room["name"] for room in rooms["rooms"]}, "members-only, with its members"
            assert (await bob.request("join", room="club"))["type"] == "joined"
            await alice.request("join", room="Games")
            retried = await alice.say("Games", "a move", cid="m1")  # a retry across the move: stored once
            assert retried["id"] == games
            new = await alice.say("lobby", "after the move")
            assert new["id"] > high, "no id is handed out twice"
            assert (await bob.expect("message", id=new["id"]))["text"] == "after the move"
            newcomer = await ChatClient.connect(url)
            carol = await newcomer.identify(name="carol")
            assert carol["user"]["id"] > bob_welcome["user"]["id"]
            await newcomer.close()
    finally:
        await moved.stop(timeout=5)


async def test_cids_come_along_so_a_retry_after_the_move_is_not_stored_twice(tmp_path, postgres_url):
    config = make_config(tmp_path)
    store = opened(config.database)
    uid = (await store.sign_ins.sign_up("alice")).user_id
    store.ensure_rooms(["lobby"])
    room_id = store.rooms()[0][0]
    cids = ["c1", "nul\x00", "back\\0slash"]
    first = [await save(store, Draft(uid, "alice", "x", cid=c, room_id=room_id, room_name="lobby")) for c in cids]
    store.close()
    assert migrate_store(config, postgres_url)[0] == ExitStatus.OK
    moved = opened(postgres_url)
    try:
        again = [await save(moved, Draft(uid, "alice", "x", cid=c, room_id=room_id, room_name="lobby")) for c in cids]
        assert all(s.duplicate for s in again) and [s.row.id for s in again] == [s.row.id for s in first]
    finally:
        moved.close()


async def test_a_database_that_is_not_empty_is_refused_and_left_alone(tmp_path, postgres_url):
    config = make_config(tmp_path)
    opened(config.database).close()
    assert migrate_store(config, postgres_url)[0] == ExitStatus.OK
    with psycopg.connect(postgres_url) as conn:
        before = conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    status, _, err = migrate_store(config, postgres_url)
    assert status == ExitStatus.ERROR and "is not empty" in err and "meta" in err
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall() == before


async def test_a_failed_copy_leaves_the_target_empty(tmp_path, postgres_url):
    config = make_config(tmp_path)
    opened(config.database).close()
    with sqlite3.connect(config.database) as db:  # what PostgreSQL's text cannot hold
        db.execute("INSERT INTO user (name, created) VALUES (?, 0)", ("bad\x00name",))
    db.close()
    status, _, err = migrate_store(config, postgres_url)
    assert status == ExitStatus.ERROR and "nothing was written" in err
    assert "copying table user" in err and "NUL" in err, err
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


async def test_it_wants_the_server_stopped_and_an_sqlite_database(tmp_path, postgres_url):
    config = make_config(tmp_path)
    running = PidFile(config.pidfile)
    running.acquire()
    try:
        status, _, err = migrate_store(config, postgres_url)
        assert status == ExitStatus.ALREADY_RUNNING and "stop it first" in err
    finally:
        running.close()
    status, _, err = migrate_store(make_config(tmp_path, database=postgres_url), postgres_url)
    assert status == ExitStatus.ERROR and "already" in err


async def test_a_file_that_is_no_chatd_database_is_refused(tmp_path, postgres_url):
    config = make_config(tmp_path)
    (tmp_path / "chatd.db").write_text("not a database")
    status, _, err = migrate_store(config, postgres_url)
    assert status == ExitStatus.ERROR and "not an SQLite database" in err


async def test_uploaded_files_move_with_their_messages(tmp_path, postgres_url, monkeypatch):
    from tests.test_uploads import fetch, png, upload

    monkeypatch.setattr(transfer_module, "FILE_CHUNK_ROWS", 2)  # several reads of the chunks
    config = make_config(tmp_path)
    server = Server(config)
    await server.start()
    report = b"%PDF-1.4\n" + b"x" * (600 * 1024)  # three chunks
    async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as alice:
        token = (await alice.identify(name="alice"))["token"]
        await alice.request("join", room="lobby")
        _, photo = await upload(server, token, png(900, 500), "photo.png")
        _, pdf = await upload(server, token, report, "report.pdf")
        _, waiting = await upload(server, token, b"not sent yet", "draft.txt")
        said = await alice.say("lobby", "both", attachments=[photo["id"], pdf["id"]])
        original = (await fetch(server, photo["url"])).body
    await server.stop(timeout=5)

    status, _, err = migrate_store(config, postgres_url)
    assert status == ExitStatus.OK, err
    moved = Server(make_config(tmp_path, database=postgres_url))
    await moved.start()
    try:
        assert (await fetch(moved, pdf["url"])).body == report
        assert (await fetch(moved, photo["url"])).body == original
        assert (await fetch(moved, photo["thumb"])).code == 200
        async with ChatClient.connect(f"ws://127.0.0.1:{moved.port}/ws") as alice:
            await alice.identify(token=token)
            await alice.request("join", room="lobby")
            history = await alice.request("history", room="lobby")
            assert history["messages"][-1]["id"] == said["id"]
            assert history["messages"][-1]["attachments"] == [photo, pdf]
            assert (await alice.say("lobby", "", attachments=[waiting["id"]]))["type"] == "ack"
            assert (await alice.say("lobby", "", attachments=[pdf["id"]]))["code"] == "bad_attachment"
    finally:
        await moved.stop(timeout=5)


@pytest.mark.parametrize("side", ["garbage -wal", "stale -shm"])
async def test_the_sqlite_files_are_left_as_found(tmp_path, postgres_url, side):
    """migrate-store reads the SQLite database (of this chatd's schema: nothing to upgrade) and changes no
    file of it: SQLite's last close deleted a -wal that is none, and rewrote or deleted a -shm."""
    config = make_config(tmp_path)
    opened(config.database).close()
    beside = f"{config.database}-wal" if side == "garbage -wal" else f"{config.database}-shm"
    with open(beside, "wb") as f:
        f.write(b"not SQLite's\n" * 1000)
    found = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.name.startswith("chatd.db")}
    status, _, err = migrate_store(config, postgres_url)
    assert status == ExitStatus.OK, err
    assert {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir()) if p.name.startswith("chatd.db")} == found
