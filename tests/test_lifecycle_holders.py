"""End to end: a refused ``chatd start`` names who holds what it wanted — the database
reached through a hard link, a symbolic link or another config file's path; the port, by
another chatd or another program — and ``chatd status`` names the right cause when the
server of the database was started from another config file (docs/operations.md,
"One server per database")."""

from __future__ import annotations

import os
import socket

import pytest

from chatd.status import ExitStatus
from tests.ops_fixtures import Chatd
from tests.test_lifecycle_refusals import refused_start, snapshot


def _holder(server: Chatd) -> str:
    return (f"pid {server.pid} (pidfile {server.pidfile}, control socket {server.dir / 'chatd.sock'}, "
            f"config {server.config_path})")


@pytest.mark.parametrize("path", ["hard link", "symbolic link", "the same path"])
def test_a_start_refused_for_a_database_in_use_names_its_server_however_it_is_reached(
        chatd_daemon: Chatd, other_install: Chatd, path: str):
    server, other = chatd_daemon, other_install
    database = other.dir / "chat.db"
    if path == "hard link":
        os.link(server.dir / "chatd.db", database)
    elif path == "symbolic link":
        database.symlink_to(server.dir / "chatd.db")
    else:
        database = server.dir / "chatd.db"
    other.config["database"] = str(database)
    other.write_config()
    found = snapshot(other.dir)
    for args in (("-d",), ()):
        result = other.cli("start", *args)
        assert result.returncode == ExitStatus.ALREADY_RUNNING, result.stderr
        assert f"is in use by {_holder(server)}" in result.stderr, result.stderr
        assert snapshot(other.dir) == found
    result = other.cli("status")
    assert result.returncode == ExitStatus.UNKNOWN, result.stderr
    assert f"chatd is running as pid {server.pid}" in result.stderr, result.stderr
    assert f"it was started with another config file, {server.config_path}" in result.stderr, result.stderr


def test_a_start_refused_for_its_port_names_who_listens_there(chatd_daemon: Chatd, other_install: Chatd):
    server, other = chatd_daemon, other_install
    said = refused_start(other, "listen", f"127.0.0.1:{server.port}")
    assert (f"cannot listen on 127.0.0.1:{server.port}: Address already in use: chatd pid {server.pid} (config "
            f"{server.config_path}, database {server.dir / 'chatd.db'}) listens on it") in said, said
    with socket.socket() as taken:  # this test's own process: no chatd
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = refused_start(other, "listen", f"127.0.0.1:{port}", "--workers", "1")  # (in the foreground)
    assert (f"cannot listen on 127.0.0.1:{port}: Address already in use: another program listens on it "
            f"(pid {os.getpid()} (") in said and "not a chatd" in said, said
