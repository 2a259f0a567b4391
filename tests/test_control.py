"""chatd.control: the owner-only Unix socket the CLI asks the server over."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chatd.control import ControlServer, ControlUnavailable, ask, bind_control
from tests.conftest import until


@pytest.fixture
async def control(short_dir: Path):
    async def status(request: dict) -> dict:
        return {"ok": True, "echo": request}

    async def broken(request: dict) -> dict:
        raise RuntimeError("boom")

    path = str(short_dir / "c.sock")
    server = await ControlServer.start(bind_control(path), {"status": status, "broken": broken})
    yield path
    await server.close()


async def test_request_and_answer(control: str):
    reply = await asyncio.to_thread(ask, control, "status", 5, path="/x")
    assert reply == {"ok": True, "echo": {"command": "status", "path": "/x"}}


async def test_errors_are_answers_not_crashes(control: str):
    unknown = await asyncio.to_thread(ask, control, "frobnicate")
    assert unknown["ok"] is False and "unknown command" in unknown["error"]
    broken = await asyncio.to_thread(ask, control, "broken")
    assert broken == {"ok": False, "error": "broken failed: boom"}

    def raw(data: bytes) -> bytes:
        import socket

        with socket.socket(socket.AF_UNIX) as s:
            s.connect(control)
            s.sendall(data)
            return s.recv(1000)

    assert b"bad request" in await asyncio.to_thread(raw, b"not json\n")
    assert (await asyncio.to_thread(ask, control, "status"))["ok"], "still serving"


def test_socket_is_owner_only_and_replaces_a_stale_socket(short_dir: Path):
    path = short_dir / "c.sock"
    bind_control(str(path)).close()  # a chatd that died leaves its socket behind
    sock = bind_control(str(path))
    try:
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        sock.close()


def test_a_socket_someone_listens_on_is_never_taken_over(short_dir: Path):
    """Two configs naming one control_socket: the second start took over the first server's."""
    path = short_dir / "c.sock"
    live = bind_control(str(path))
    try:
        with pytest.raises(OSError, match="another process listens on it"):
            bind_control(str(path))
        assert stat.S_ISSOCK(path.stat().st_mode)
    finally:
        live.close()
    bind_control(str(path)).close()  # once nobody listens, it is a leftover: replaced


def test_a_file_that_is_no_socket_is_never_removed(short_dir: Path):
    path = short_dir / "chatd.db"
    path.write_bytes(b"SQLite format 3\x00 precious")
    with pytest.raises(OSError, match="not a socket"):
        bind_control(str(path))
    assert path.read_bytes() == b"SQLite format 3\x00 precious"


def test_nothing_listening(short_dir: Path):
    with pytest.raises(ControlUnavailable, match="cannot reach"):
        ask(str(short_dir / "none.sock"), "status", 1)


def test_path_too_long_is_a_clear_error(short_dir: Path):
    with pytest.raises(OSError, match="longer than 107 bytes"):
        bind_control(str(short_dir / ("x" * 120)))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to try as another user")
async def test_another_user_cannot_connect(control: str):
    os.chmod(os.path.dirname(control), 0o755)  # so only the socket's own mode keeps others out
    probe = f"""
import os, socket
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({control!r})
    print("connected")
except PermissionError:
    print("refused")
"""
    result = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "refused", result.stderr


async def test_a_request_read_once_closing_is_refused_not_handled(short_dir: Path):
    """At a restart the old process closes its control server, then stops its server. A
    connection it had accepted just before, whose request came after, was still handled:
    `status` read the closed listening sockets (EBADF, logged as an error), and a `stop`
    answered there stopped nothing (the successor serves)."""
    handled: list[dict] = []

    async def stop(request: dict) -> dict:
        handled.append(request)
        return {"ok": True}

    path = str(short_dir / "c.sock")
    server = await ControlServer.start(bind_control(path), {"stop": stop})
    reader, writer = await asyncio.open_unix_connection(path)
    await until(lambda: server.answering == 1, 15, "the connection to be accepted")
    closing = asyncio.ensure_future(server.close(why="handing over to its successor"))
    await until(lambda: server.closing, 15, "the close to begin")
    writer.write(b'{"command": "stop"}\n')
    reply = json.loads(await reader.readline())
    assert reply == {"ok": False, "closing": True,
                     "error": f"not answering: pid {os.getpid()} is handing over to its successor; ask again"}
    assert handled == []
    await closing
    writer.close()


async def test_a_command_refused_by_a_process_letting_go_of_the_socket_is_asked_again(short_dir: Path):
    """At a restart the old process refuses what it reads once it lets go of the shared socket,
    and its successor takes the next connection: every command (`status` too) is sent again."""
    answers = [{"ok": False, "closing": True, "error": "not answering: pid 1 is handing over; ask again"},
               {"ok": True, "pid": 2}]

    async def status(_: dict) -> dict:
        return answers.pop(0)

    path = str(short_dir / "c.sock")
    server = await ControlServer.start(bind_control(path), {"status": status})
    try:
        assert await asyncio.to_thread(ask, path, "status", 15) == {"ok": True, "pid": 2}
    finally:
        await server.close()
    assert answers == []
