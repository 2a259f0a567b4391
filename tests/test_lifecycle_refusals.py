"""End to end: what a refused or failed ``chatd start`` leaves on disk — what it
found, nothing it made (docs/operations.md, "Starting") — and whom a refusal
names: the server that holds the database or the control socket, never a start
that is itself still under way.

Each way a start is refused or fails: the port taken, a chatd answering on the
control socket, the database served by a chatd with another pidfile, the same
config's server running, and the database opened but the start-up failing
after the fork (an unreachable bus).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chatd.control import ask
from chatd.status import ExitStatus
from tests.ops_fixtures import Chatd, _env, pid_alive, taken_port, wait_for


def snapshot(directory: Path, *skip: str) -> dict[str, bytes | str]:
    """Every file in ``directory`` but ``skip``, with its bytes ("socket" for a socket)."""
    return {entry.name: "socket" if entry.is_socket() else entry.read_bytes()
            for entry in sorted(directory.iterdir()) if entry.name not in skip}


def dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def drain(fd: int) -> None:
    """Read ``fd`` until it ends or is closed."""
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


def refused_start(install: Chatd, key: str, value: str, *args: str) -> str:
    """``chatd start ARGS`` (default ``-d``) of ``install`` with ``key`` set to ``value``: it
    fails (exit 1), leaving ``install``'s directory as it was; → what it said."""
    install.config[key] = value
    install.write_config()
    found = snapshot(install.dir)
    result = install.cli("start", *(args or ("-d",)))
    assert result.returncode == ExitStatus.ERROR, result.stderr
    assert snapshot(install.dir) == found, "nothing made, nothing changed"
    return result.stderr


def test_a_start_refused_for_its_port_makes_nothing_and_touches_nothing(chatd_install: Chatd):
    d = chatd_install
    with taken_port() as port:
        d.config["listen"] = f"127.0.0.1:{port}"
        d.write_config()
        empty = snapshot(d.dir)
        for args in (("-d",), ()):
            result = d.cli("start", *args)
            assert result.returncode == ExitStatus.ERROR and "cannot listen on" in result.stderr, result.stderr
            assert snapshot(d.dir) == empty, "no database, lock record, pidfile, socket or log of its own"

        with sqlite3.connect(d.dir / "chatd.db") as db:  # what an operator had there before: chatd's
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
            db.execute("CREATE TABLE kept (x)")
        db.close()
        d.pidfile.write_text(f"{dead_pid()}\n")  # left by a server killed with -9
        (d.dir / "chatd.db.lock").write_text('{"pid": 1, "role": "server"}\n')
        found = snapshot(d.dir)
        result = d.cli("start", "-d")
        assert result.returncode == ExitStatus.ERROR and "cannot listen on" in result.stderr, result.stderr
        assert snapshot(d.dir) == found, "what was there is as it was"


def test_a_start_refused_for_a_live_control_socket_names_its_server_and_makes_nothing(chatd_daemon: Chatd,
                                                                                     other_install: Chatd):
    server, other = chatd_daemon, other_install
    sock = str(server.dir / "chatd.sock")
    said = refused_start(other, "control_socket", sock)  # no database, lock record or pidfile left beside it
    assert (f"cannot create control socket {sock}: chatd pid {server.pid} (database {server.dir / 'chatd.db'}) "
            f"listens on it") in said, said
    assert ask(sock, "status")["pid"] == server.pid, "the socket is still its server's"


def test_starts_refused_by_the_server_of_their_database_all_name_it_and_make_nothing(chatd_daemon: Chatd,
                                                                                   other_install: Chatd):
    """Several at once, on one pidfile the server does not hold (it was started with another):
    each is refused naming the server, none names another refused start (the pidfile's holder
    of the moment), and none leaves the pidfile behind."""
    server, other = chatd_daemon, other_install
    other.config["database"] = str(server.dir / "chatd.db")
    other.write_config()
    empty, records = snapshot(other.dir), (server.dir / "chatd.db.lock").read_bytes()
    argv = [sys.executable, "-P", "-m", "chatd", "start", "-d", "-c", str(other.config_path)]
    starts = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
              for _ in range(4)]
    for start in starts:
        _, err = start.communicate(timeout=60)
        assert start.returncode == ExitStatus.ALREADY_RUNNING, err
        assert set(re.findall(r"pid (\d+)", err)) == {str(server.pid)}, err
    assert snapshot(other.dir) == empty
    assert (server.dir / "chatd.db.lock").read_bytes() == records, "the server's record is as it was"


def test_a_start_of_a_running_config_touches_nothing(chatd_daemon: Chatd):
    """The server itself may write meanwhile (its traffic row, at each new minute): its WAL may only
    have grown by frames added at its end; every other file is as it was (the log is the server's,
    and ``-shm`` is the WAL's index)."""
    d = chatd_daemon
    found = snapshot(d.dir, "chatd.log", "chatd.db-shm")
    wal = found.pop("chatd.db-wal")
    for args in (("-d",), ()):
        result = d.cli("start", *args)
        assert result.returncode == ExitStatus.ALREADY_RUNNING and f"already running (pid {d.pid})" in result.stderr
        now = snapshot(d.dir, "chatd.log", "chatd.db-shm")
        assert now.pop("chatd.db-wal").startswith(wal), "the WAL was changed, not only added to"
        assert now == found


@pytest.mark.parametrize("database", ["made by the start", "there before", "never served"])
def test_a_start_that_fails_once_forked_takes_back_what_it_made(chatd_install: Chatd, database: str):
    """The daemon child wrote its pid in the pidfile and the database's lock record, and opened
    the database; then its start-up failed. It leaves what it found (the log says why)."""
    d = chatd_install
    if database == "there before":
        assert d.start().returncode == 0
        assert d.cli("stop").returncode == 0
        d.pidfile.write_text(f"{dead_pid()}\n")
    if database == "never served":  # a key made before the first start: no token secret yet
        assert d.cli("apikey", "create", "shop", "--scope", "read").returncode == 0
    meta = _meta(d.dir / "chatd.db")
    with socket.socket() as closed:  # bound, never listening: a connection to it is refused
        closed.bind(("127.0.0.1", 0))
        d.config["bus"] = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        d.write_config()
        existed = (d.dir / "chatd.db").exists()
        logged = ("chatd.log",) if existed else ()  # (the log the first start made is appended to)
        found = snapshot(d.dir, "chatd.db", *logged)
        result = d.start()
    assert result.returncode == ExitStatus.ERROR and "cannot start: cannot reach the bus" in result.stderr
    assert snapshot(d.dir, "chatd.db", *logged) == found, "no pid, lock record, socket, log or SQLite file of its own"
    assert "Traceback" not in d.log(), "a bus out of reach is no bug: said in one line"
    assert (d.dir / "chatd.db").exists() == existed
    assert _meta(d.dir / "chatd.db") == meta, "nothing written: no token secret kept by a start refused"
    if existed:
        with sqlite3.connect(d.dir / "chatd.db") as db:
            rooms = 1 if database == "there before" else 0  # (the first start makes the first room)
            assert db.execute("SELECT count(*) FROM room").fetchone()[0] == rooms, "the database is kept, whole"
        db.close()


def _meta(database: Path) -> dict[str, str] | None:
    """The rows of the ``meta`` table of ``database``; None when there is no database."""
    if not database.exists():
        return None
    with contextlib.closing(sqlite3.connect(database)) as db:
        return dict(db.execute("SELECT key, value FROM meta"))


def test_a_start_under_way_is_not_named_as_running(chatd_install: Chatd):
    """A start holds the pidfile before its last checks (the log file opened here: a FIFO
    that blocks it until the test reads it). Until nothing can refuse it, it has not written
    its pid: a start meanwhile says a start is under way, naming no pid."""
    d = chatd_install
    fifo = d.dir / "chatd.log"
    os.mkfifo(fifo)
    d.config["logfile"] = str(fifo)
    d.write_config()
    argv = [sys.executable, "-P", "-m", "chatd", "start", "-d", "-c", str(d.config_path)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        wait_for(lambda: (d.dir / "chatd.sock").exists(), what="the first start to bind its control socket")
        assert d.pidfile.read_text() == "", "no pid before nothing can refuse the start"
        second = d.cli("start", "-d")
        assert second.returncode == ExitStatus.ALREADY_RUNNING, second.stderr
        assert "another chatd is starting" in second.stderr and not re.search(r"pid \d", second.stderr), second.stderr
    finally:
        # Open the FIFO for good (read and write: it never ends) and drain it: the first start goes
        # on, and its daemon logs there.
        log = os.open(fifo, os.O_RDWR)
        threading.Thread(target=drain, args=(log,), daemon=True).start()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    d.pids.append(int(re.search(r" pid (\d+)", out)[1]))
    assert d.pidfile.read_text() == f"{d.pids[-1]}\n"
    d.kill_all()
    os.close(log)


def test_a_start_stopped_while_it_starts_takes_back_what_it_made(chatd_install: Chatd):
    """SIGTERM (what `chatd stop` sends when the control socket does not answer yet) to the -d
    child that named itself in the pidfile and is still starting (here: connecting to a bus
    that never answers): the start is called off and cleans up, and says so in one line."""
    d = chatd_install
    with socket.socket() as silent:  # a "Redis" that takes every connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        d.config["bus"] = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        d.write_config()
        empty = snapshot(d.dir)
        argv = [sys.executable, "-P", "-m", "chatd", "start", "-d", "-c", str(d.config_path)]
        start = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        connection, _ = silent.accept()  # the child is in its start-up, waiting for the bus
        pid = int(d.pidfile.read_text())
        d.pids.append(pid)
        os.kill(pid, signal.SIGTERM)
        _, err = start.communicate(timeout=60)
        connection.close()
    assert start.returncode == ExitStatus.ERROR and "stopped by a signal while starting" in err, err
    wait_for(lambda: not pid_alive(pid), what="the child to exit")
    assert snapshot(d.dir) == empty, "no database, lock record, pidfile, socket or log of its own"
