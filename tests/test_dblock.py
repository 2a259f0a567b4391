"""chatd.dblock: the flock on the database file — exclusive without a bus,
shared by a cluster's nodes — and the records beside it that name who holds it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from chatd.cli import main
from chatd.dblock import DatabaseHeld, DatabaseLock, Holder, holders, lock_path
from chatd.status import ExitStatus
from tests.ops_fixtures import Chatd, _env, chatd_nodes, wait_for


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``chatd ARGV`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), _env(), out, err)
    return code, out.getvalue(), err.getvalue()


def hold(database: Path, shared: bool, pid: int | None = None) -> DatabaseLock:
    """Another holder: a lock of its own open file description (flock conflicts between
    those, even in one process), recording ``pid`` (default: this process)."""
    lock = DatabaseLock(str(database), shared=shared)
    lock.acquire(Holder(pid=pid or os.getpid(), pidfile="/run/a.pid", control_socket="/run/a.sock", shared=shared))
    return lock


def test_an_exclusive_holder_refuses_everyone_and_names_itself(tmp_path: Path):
    db = tmp_path / "chatd.db"
    assert holders(str(db)) == [], "no lock file: nobody"
    first = hold(db, shared=False)
    for shared in (False, True):
        with pytest.raises(DatabaseHeld) as e:
            hold(db, shared=shared)
        assert [h.pid for h in e.value.holders] == [os.getpid()]
        assert e.value.holders[0].pidfile == "/run/a.pid" and e.value.holders[0].control_socket == "/run/a.sock"
    assert [h.pid for h in holders(str(db))] == [os.getpid()]
    first.close()
    assert holders(str(db)) == [], "let go: nobody, whatever the file still says"
    hold(db, shared=False).close()


def test_the_lock_is_the_files_not_its_names_and_holds_without_its_record(tmp_path: Path):
    """A hard link to the database got past a lock taken on ``<name>.lock``, and deleting that
    file lifted it: two servers then wrote one database, one's acknowledged messages lost."""
    db = tmp_path / "chatd.db"
    first = hold(db, shared=False)
    os.link(db, tmp_path / "hard.db")
    with pytest.raises(DatabaseHeld) as e:
        hold(tmp_path / "hard.db", shared=False)
    assert e.value.holders == [], "the record is under the other name; the lock holds all the same"
    os.unlink(lock_path(str(db)))
    with pytest.raises(DatabaseHeld):
        hold(db, shared=False)
    assert holders(str(db)) == [], "held, but nobody recorded: named as unknown"
    first.close()
    hold(tmp_path / "hard.db", shared=False).close()


def test_cluster_nodes_share_it_and_keep_a_server_without_a_bus_out(tmp_path: Path):
    db = tmp_path / "chatd.db"
    node = subprocess.Popen([sys.executable, "-c", f"""
import sys
from chatd.dblock import DatabaseLock, Holder
lock = DatabaseLock({str(db)!r}, shared=True)
lock.acquire(Holder(pid=__import__("os").getpid(), shared=True))
print("locked", flush=True)
sys.stdin.read()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout.readline() == "locked\n"
        mine = hold(db, shared=True)  # a second node: fine
        assert {h.pid for h in holders(str(db))} == {node.pid, os.getpid()}, "each node's line"
        with pytest.raises(DatabaseHeld) as e:
            hold(db, shared=False)
        assert {h.pid for h in e.value.holders} == {node.pid, os.getpid()}
        mine.close()
    finally:
        node.kill()
        node.wait()
        node.stdin.close()
        node.stdout.close()
    assert holders(str(db)) == [], "killed: the kernel let go of its lock"
    fresh = hold(db, shared=True)
    lines = Path(lock_path(str(db))).read_text().splitlines()
    assert [json.loads(line)["pid"] for line in lines] == [os.getpid()], "alone: the file starts afresh"
    fresh.close()


def test_a_record_of_a_dead_process_names_nobody(tmp_path: Path):
    db = tmp_path / "chatd.db"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = hold(db, shared=True, pid=int(dead.stdout))
    assert holders(str(db)) == [], "held, but by no process that runs: a stale line"
    lock.close()


def test_a_successor_adopts_the_inherited_lock_and_converts_it(tmp_path: Path):
    db = tmp_path / "chatd.db"
    old = hold(db, shared=False)
    inherited = os.dup(old.fd)  # as a restart successor inherits it: the same open file description
    successor = DatabaseLock(str(db), shared=True)  # `bus` configured meanwhile
    successor.adopt(inherited, Holder(pid=os.getpid(), shared=True))
    old.close()
    other = hold(db, shared=True)  # shared now: a node may join
    back = DatabaseLock(str(db), shared=False)  # and `bus` removed again: refused while a node shares it
    with pytest.raises(DatabaseHeld):
        back.adopt(os.dup(successor.fd), Holder(pid=os.getpid()))
    with pytest.raises(DatabaseHeld):
        hold(db, shared=False)
    other.close()
    successor.close()


def test_postgres_has_no_lock(tmp_path: Path):
    from types import SimpleNamespace

    config = SimpleNamespace(database="postgresql://chat@db/chatd", bus="")
    assert DatabaseLock.for_config(config) is None
    assert holders(config.database) == []


@pytest.mark.redis
def test_nodes_with_a_bus_share_an_sqlite_file_and_a_server_without_one_is_refused(redis_server, tmp_path: Path,
                                                                                  short_dir: Path):
    db = str(tmp_path / "chatd.db")
    with chatd_nodes(2, database=db, bus=redis_server.url) as nodes:  # each starts: the lock is shared
        pids = [node.pid for node in nodes]
        lone = Chatd(short_dir, database=db)  # no bus: it would be blind to the nodes' messages
        result = lone.start()
        lone.kill_all()
        assert result.returncode == ExitStatus.ALREADY_RUNNING and db in result.stderr
        assert all(f"pid {pid}" in result.stderr for pid in pids), result.stderr
        restore = lone.cli("restore", str(short_dir / "backup.db"))
        assert restore.returncode == ExitStatus.ALREADY_RUNNING, restore.stderr
        status = lone.cli("status")  # its pidfile names none; the nodes are no owner of its to stop
        assert status.returncode == ExitStatus.NOT_RUNNING
        assert all(f"in use by pid {pid}" in status.stderr for pid in pids), status.stderr
        assert all(node.status()["state"] == "serving" for node in nodes)
        moved = nodes[0]  # its config's pidfile changes under it: stop finds it by its config file
        moved.config["pidfile"] = str(moved.dir / "moved.pid")
        moved.write_config()
        stopped = moved.cli("stop")
        assert stopped.returncode == ExitStatus.OK and f"stopped (pid {pids[0]})" in stopped.stdout, stopped
        assert nodes[1].status()["state"] == "serving", "the other node is not its to stop"


def test_a_start_refused_while_a_daemon_starts_names_the_daemon_not_its_parent(chatd_install: Chatd):
    """`chatd start -d` locks the database and the pidfile, then forks; its child recorded its own
    pid only once it served, so a start refused meanwhile named the parent, which exits once the
    child serves. The child is held in its start-up here by its log file, a FIFO: opening one to
    write waits for a reader (fifo(7)), and the test opens it to read only when it is done."""
    d = chatd_install
    fifo = d.dir / "log.fifo"
    os.mkfifo(fifo)
    d.config["logfile"] = str(fifo)
    d.write_config()
    parent = subprocess.Popen([sys.executable, "-P", "-m", "chatd", "start", "-d", "-c", str(d.config_path)],
                              cwd=d.dir, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The parent opens the log file once before it forks, to fail on the terminal: let that
        # open through, and go; the child's own open then waits.
        open(fifo, "rb").close()
        def named(pid: int) -> bool:
            return pid not in (0, parent.pid)

        # An event, not a moment: the child names itself as soon as it is forked, before its log
        # file (the FIFO) holds it; with no fix, only once it serves, which never comes here.
        wait_for(lambda: any(named(h.pid) for h in holders(str(d.dir / "chatd.db")))
                 and d.pidfile.read_text().strip().isdigit() and named(int(d.pidfile.read_text())),
                 30, "the forked child to name itself")
        other = d.dir / "other.yaml"  # another pidfile and control socket, the same database
        other.write_text(yaml.safe_dump({**d.config, "pidfile": "other.pid", "control_socket": "other.sock",
                                         "logfile": ""}))
        same_database = run_cli("start", "-c", str(other))
        same_pidfile = run_cli("start", "-c", str(d.config_path))

        def drain() -> None:
            with open(fifo, "rb") as log:
                log.read()  # until the daemon is killed

        threading.Thread(target=drain, daemon=True).start()  # the child goes on: it serves, its parent says its pid
        out, err = parent.communicate(timeout=60)
        assert parent.returncode == 0, err
        child = int(re.search(r" pid (\d+)", out)[1])
        d.pids.append(child)
    finally:
        parent.kill()
    assert same_database[0] == ExitStatus.ALREADY_RUNNING, same_database
    assert f"in use by pid {child} " in same_database[2] and f"pid {parent.pid} " not in same_database[2]
    assert same_pidfile[0] == ExitStatus.ALREADY_RUNNING and f"already running (pid {child})" in same_pidfile[2]


def test_a_start_that_fails_leaves_the_database_and_its_record_as_it_found_them(tmp_path: Path):
    db, records = tmp_path / "chatd.db", Path(lock_path(str(tmp_path / "chatd.db")))
    made = DatabaseLock(str(db), shared=False)
    made.acquire()
    assert made.made and not records.exists(), "no record before the start can no longer be refused"
    made.record(Holder(pid=os.getpid()))
    (tmp_path / "chatd.db-wal").write_bytes(b"")  # as SQLite makes it
    made.abandon()
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "made by the start: all removed"

    db.write_bytes(b"kept")
    records.write_text('{"pid": 1, "role": "server"}\n')  # a stale record
    found = DatabaseLock(str(db), shared=True)
    found.acquire(Holder(pid=os.getpid(), shared=True))
    found.abandon()
    assert db.read_bytes() == b"kept" and records.read_text() == '{"pid": 1, "role": "server"}\n'
    assert holders(str(db)) == [], "and let go"
