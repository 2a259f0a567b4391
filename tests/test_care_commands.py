"""``chatd purge`` and ``chatd user export|delete`` on the configured database
(SQLite, and PostgreSQL), no server running."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import secrets
import signal
import stat

import pytest

from chatd.cli import main
from chatd.store import Draft
from chatd.store.retention import DAY_MS
from chatd.store.userdata import ANONYMOUS
from tests.ops_fixtures import chatd_install, short_dir  # noqa: F401 - fixtures
from tests.stores import new_user, opened, save


def run(tmp_path, url: str, *argv: str, stdin: str | None = None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    (tmp_path / "chatd.yaml").write_text(json.dumps({
        "database": url, "control_socket": str(tmp_path / "ctl.sock"), "history": {"retention_days": 30}}))
    status = main([*argv, "-c", str(tmp_path / "chatd.yaml")], {}, out, err)
    return status, out.getvalue(), err.getvalue()


async def filled(url: str) -> dict:
    """alice with 5 old and 2 new lobby messages, a private one to bob; → ids."""
    store = opened(url)
    try:
        store.ensure_rooms(["lobby"])
        lobby = store.rooms()[0][0]
        alice, bob = await new_user(store, "alice"), await new_user(store, "bob")
        ids = [(await save(store, Draft(alice, "alice", f"m{i}", f"c{i}", room_id=lobby, room_name="lobby"))).row.id
               for i in range(7)]
        private = (await save(store, Draft(alice, "alice", "psst", "p", recipient_id=bob))).row.id

        def age() -> None:
            now = store.db.execute_sql("SELECT max(ts) FROM message").fetchone()[0]
            marks = ", ".join("?" * 5)
            store.db.execute_sql(store._q(f"UPDATE message SET ts = ? WHERE id IN ({marks})"),
                                 (now - 40 * DAY_MS, *ids[:5]))

        await store.writer.run(age)
        return {"alice": alice, "bob": bob, "ids": ids, "private": private}
    finally:
        store.close()


async def test_purge_dry_run_says_what_purge_then_removes(tmp_path, store_url):
    made = await filled(store_url)
    status, out, _ = run(tmp_path, store_url, "purge", "--dry-run", "--json")
    assert status == 0
    plan = json.loads(out)
    lobby = next(c for c in plan["channels"] if c["room"] == "lobby")
    assert (lobby["messages"], lobby["oldest_kept"]["id"], plan["messages"]) == (5, made["ids"][5], 5)
    status, out, _ = run(tmp_path, store_url, "purge", "--dry-run")
    assert "room lobby: 5 messages older than 30 days" in out and "would remove 5 messages" in out

    status, out, _ = run(tmp_path, store_url, "purge")
    assert status == 0 and "removed 5 messages" in out
    assert json.loads(run(tmp_path, store_url, "purge", "--dry-run", "--json")[1])["messages"] == 0


async def test_user_export_and_delete_from_the_command_line(tmp_path, store_url):
    made = await filled(store_url)
    status, out, _ = run(tmp_path, store_url, "user", "export", "alice")
    data = json.loads(out)
    assert status == 0 and data["user"]["name"] == "alice" and len(data["messages"]) == 7
    assert [m["text"] for m in data["private"]] == ["psst"]
    status, _, err = run(tmp_path, store_url, "user", "export", str(made["alice"]), "-o", str(tmp_path / "a.json"))
    assert status == 0 and json.loads((tmp_path / "a.json").read_text())["user"]["id"] == made["alice"]

    status, _, err = run(tmp_path, store_url, "user", "delete", "alice")
    assert status == 2 and "--yes" in err and "nothing was deleted" in err  # no terminal to ask on
    status, out, _ = run(tmp_path, store_url, "user", "delete", "alice", "--yes", "--reason", "asked")
    assert status == 0 and "8 messages made tombstones" in out and "no server answered" in out
    assert run(tmp_path, store_url, "user", "export", "alice")[0] == 1, "nobody is called alice now"

    store = opened(store_url)
    try:
        rows = await store.read(lambda: store.db.execute_sql(store._q(
            "SELECT sender_name, text, deleted IS NOT NULL FROM message WHERE sender_id = ?"),
            (made["alice"],)).fetchall())
        audit = (await store.audit.page(None, 10)).rows
    finally:
        store.close()
    assert {tuple(row) for row in rows} == {(ANONYMOUS, "", True)}
    assert [(r["action"], r["actor"]["kind"]) for r in audit[:3]] == [
        ("user.delete", "cli"), ("user.export", "cli"), ("user.export", "cli")]


async def test_an_export_never_writes_over_chatds_own_files(tmp_path):
    # -o naming the live database (or a hard link to it) would wipe it under a running server
    database = tmp_path / "chatd.db"
    await filled(str(database))
    config = tmp_path / "chatd.yaml"
    os.link(database, tmp_path / "link.db")
    run(tmp_path, str(database), "user", "export", "alice")  # the config as run() writes it
    kept = {path: path.read_bytes() for path in (database, config)}
    for target, what in [(database, "the live database itself"), (tmp_path / "link.db", "the live database itself"),
                         (config, "the config file"), (tmp_path / "ctl.sock", "chatd's control socket")]:
        status, _, err = run(tmp_path, str(database), "user", "export", "alice", "-o", str(target))
        assert status == 1 and f"{target} is {what}; give another path" in err, err
    assert {path: path.read_bytes() for path in kept} == kept
    assert not (tmp_path / "ctl.sock").exists()
    status, out, _ = run(tmp_path, str(database), "user", "export", "alice")
    assert status == 0 and len(json.loads(out)["messages"]) == 7


async def test_an_export_that_fails_midway_leaves_the_earlier_file_as_it_was(tmp_path, monkeypatch):
    database = tmp_path / "chatd.db"
    await filled(str(database))
    earlier = tmp_path / "alice.json"
    earlier.write_text("the export of last week")

    def full_disk(store, user_id):
        yield '{"user": '
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("chatd.store.userdata.export", full_disk)
    status, _, err = run(tmp_path, str(database), "user", "export", "alice", "-o", str(earlier))
    assert status == 1 and f"cannot write {earlier}: No space left on device" in err, err
    assert earlier.read_text() == "the export of last week"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


async def test_an_export_is_its_owners_alone_and_sigterm_leaves_no_partial_file(tmp_path, monkeypatch):
    database = tmp_path / "chatd.db"
    await filled(str(database))
    status, _, err = run(tmp_path, str(database), "user", "export", "alice", "-o", str(tmp_path / "alice.json"))
    assert status == 0 and stat.S_IMODE(os.stat(tmp_path / "alice.json").st_mode) == 0o600  # private messages

    def terminated_midway(store, user_id):
        yield '{"user": '
        os.kill(os.getpid(), signal.SIGTERM)  # `kill PID` of the command, as an operator's
        yield "never written"

    monkeypatch.setattr("chatd.store.userdata.export", terminated_midway)
    status, _, err = run(tmp_path, str(database), "user", "export", "alice", "-o", str(tmp_path / "alice.json"))
    assert status == 128 + signal.SIGTERM and err.strip() == "chatd: user export: stopped by SIGTERM before it finished"
    assert json.loads((tmp_path / "alice.json").read_text())["user"]["name"] == "alice", "the earlier export stays"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


@pytest.mark.parametrize(("argv", "words"), [
    (("user", "delete", "nobody", "--yes"), "there is no user 'nobody'"),
    (("user", "export", "99"), "there is no user '99'"),
    (("user", "export", "99999999999999999999999"), "there is no user '99999999999999999999999'"),
    (("user", "delete", "9223372036854775808", "--yes"), "there is no user '9223372036854775808'"),
    (("user", "delete", "9" * 5000, "--yes"), "there is no user '9999"),
    (("user", "export", "0"), "there is no user '0'"),
])
async def test_bad_users_are_refused_clearly(tmp_path, store_url, argv, words):
    await filled(store_url)
    status, _, err = run(tmp_path, store_url, *argv)
    assert status == 1 and words in err and "Traceback" not in err and len(err.splitlines()) == 1


async def test_a_deletion_cut_off_after_its_first_step_is_finished_by_deleting_again(tmp_path, store_url):
    from chatd.store.userdata import erase_identity

    made = await filled(store_url)
    store = opened(store_url)
    try:  # as a kill right after the identity step leaves it: anonymous, its messages not yet tombstones
        await store.writer.run(lambda: erase_identity(store, made["alice"]))
    finally:
        store.close()
    assert "there is no user 'alice'" in run(tmp_path, store_url, "user", "delete", "alice", "--yes")[2]
    status, out, err = run(tmp_path, store_url, "user", "delete", str(made["alice"]), "--yes")
    assert status == 0 and "8 messages made tombstones" in out, (out, err)
    store = opened(store_url)
    try:
        rows = await store.read(lambda: store.db.execute_sql(store._q(
            "SELECT sender_name, text FROM message WHERE sender_id = ?"), (made["alice"],)).fetchall())
        audit = (await store.audit.page(None, 1)).rows[0]
    finally:
        store.close()
    assert {tuple(row) for row in rows} == {(ANONYMOUS, "")}
    assert (audit["action"], audit["detail"]) == ("user.delete", {"again": True})


async def test_a_user_deleted_from_the_command_line_is_cut_off_by_the_running_server(chatd_daemon):
    from tests.wsclient import ChatClient

    alice = await ChatClient.connect(chatd_daemon.ws_url)
    bob = await ChatClient.connect(chatd_daemon.ws_url)
    try:
        await alice.enter("lobby", name="alice")
        await bob.enter("lobby", name="bob")
        mine = (await alice.say("lobby", "mine"))["id"]
        liked = (await bob.say("lobby", "bob's"))["id"]
        assert (await alice.request("react", id=liked, emoji="\N{THUMBS UP SIGN}"))["type"] == "done"
        await bob.expect("reactions", id=liked)
        code, out, err = await asyncio.to_thread(chatd_daemon.run, "user", "delete", "alice", "--yes")
        assert code == 0 and "1 message made tombstones; its sessions ended" in out, (out, err)
        assert "deleted" in (await alice.expect("kicked"))["reason"]
        await bob.expect("deleted", id=mine)  # bob's open page sees them go, as after the admin page's delete
        assert (await bob.expect("reactions", id=liked))["reactions"] == []
    finally:
        await alice.close()
        await bob.close()


def test_export_and_backup_never_write_over_a_secret_or_the_running_servers_files(chatd_install):  # noqa: F811
    # The config names a secret file; the server runs; then the config's pidfile, log and socket
    # change (docs/operations.md): the running server's own stay its own.
    d = chatd_install
    (d.dir / "id.secret").write_text(secrets.token_hex(32))
    d.config["identity"] = {"secret_file": "id.secret"}
    d.write_config()
    assert d.start().returncode == 0
    pid = d.pid
    d.config.update(pidfile="new.pid", logfile="new.log", control_socket="new.sock")
    d.write_config()
    kept = {name: (d.dir / name).read_bytes() for name in ("id.secret", "chatd.pid", "chatd.log")}
    for name, what in [("id.secret", "the file key 'identity.secret_file' names"),
                       ("chatd.pid", f"the pidfile of the running server (pid {pid})"),
                       ("chatd.log", f"a file the running server (pid {pid}) has open")]:
        for argv in (("user", "export", "nobody", "-o", str(d.dir / name)), ("backup", str(d.dir / name))):
            status, _, err = d.run(*argv)
            assert status == 1 and f"{d.dir / name} is {what}; give another path" in err, (argv, err)
    assert {name: (d.dir / name).read_bytes() for name in kept} == kept
