"""Fixtures for the operations tests: real ``chatd`` processes in temp dirs,
the real CLI, and a chat client that keeps chatting through restarts.

    def test_x(chatd_daemon):                  # `chatd start -d` on a free port
        chatd_daemon.cli("status")             # CompletedProcess of `python -m chatd status -c ...`
        url = chatd_daemon.ws_url

Loaded from tests/conftest.py through ``pytest_plugins``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chatd.cli import main
from chatd.daemon import pid_running
from chatd.loops import loop_factory

CLI_TIMEOUT = 60
# The event loop the tests run chatd on: unset = each process's default (the in-process tests on asyncio's loop,
# the chatd processes on `event_loop: auto`); asyncio, uvloop or auto = that `event_loop` everywhere (chatd.loops).
TEST_LOOP_VAR = "CHATD_TEST_EVENT_LOOP"
GENEROUS_LIMITS = {"rate_per_second": 10000, "rate_burst": 10000, "user_rate_per_second": 10000,
                   "user_rate_burst": 10000, "flood_strikes": 1000}
# Every test client comes from 127.0.0.1: one address for all of them.
GENEROUS_ADDRESS = {"max_connections": 100_000, "connect_burst": 100_000, "rate_burst": 100_000,
                    "guest_burst": 100_000, "room_burst": 100_000}


if os.environ.get(TEST_LOOP_VAR):  # (unset: pytest-asyncio's own loop, as always)
    @pytest.hookimpl(optionalhook=True)  # (a pytest-asyncio without this hook runs its own loop)
    def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
        """The loop of the in-process tests: the one ``event_loop`` $CHATD_TEST_EVENT_LOOP names."""
        choice = os.environ[TEST_LOOP_VAR]
        return {choice: loop_factory(choice) or asyncio.new_event_loop}


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def silent_websockets(port: int, count: int) -> list[socket.socket]:
    """``count`` WebSocket connections that shake hands, then fall silent: they never read
    and never answer a close (the caller closes them)."""
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert b"101" in s.recv(1024)
        sockets.append(s)
    return sockets


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on, for as long as the block lasts."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; an unreaped zombie does not (pid 1 in a container may never reap)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    return pid_running(pid)


class Chatd:
    """One chatd installation in a directory: its config and its CLI."""

    def __init__(self, directory: Path, **config: Any):
        self.dir = directory
        self.config_path = directory / "chatd.yaml"
        self.config: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "log_level": "info",
            "stop_timeout": 5,
            "limits": dict(GENEROUS_LIMITS),
            "address": dict(GENEROUS_ADDRESS),
        }
        if os.environ.get(TEST_LOOP_VAR):  # the chatd processes too
            self.config["event_loop"] = os.environ[TEST_LOOP_VAR]
        self.config.update(config)
        self.write_config()
        self.port = 0
        self.pids: list[int] = []  # every server pid seen, killed at teardown

    def write_config(self, text: str | None = None) -> None:
        self.config_path.write_text(text if text is not None else yaml.safe_dump(self.config))

    @property
    def logfile(self) -> Path:
        return self.dir / "chatd.log"

    @property
    def pidfile(self) -> Path:
        return self.dir / "chatd.pid"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT,
            ) -> subprocess.CompletedProcess:
        """Run ``python -P -m chatd ARGS -c chatd.yaml`` and wait for it (-P: as the ``chatd``
        script, not importing from the working directory)."""
        argv = [sys.executable, "-P", "-m", "chatd", *args, "-c", str(self.config_path)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.dir,
                              env=env if env is not None else _env())

    def run(self, *args: str) -> tuple[int, str, str]:
        """``chatd ARGS -c chatd.yaml`` in this process: (status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        code = main([*args, "-c", str(self.config_path)], _env(), out, err)
        return code, out.getvalue(), err.getvalue()

    def start(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """``chatd start -d``; records the port and pid from the banner."""
        result = self.cli("start", "-d", *extra, env=env)
        if result.returncode == 0:
            m = re.search(r"on http://127\.0\.0\.1:(\d+)/ .* pid (\d+)", result.stdout)
            assert m, result.stdout
            self.port, pid = int(m[1]), int(m[2])
            self.pids.append(pid)
        return result

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def status(self) -> dict[str, Any]:
        code, out, err = self.run("status", "--json")
        assert code == 0, err
        return json.loads(out)

    def connections(self) -> list[dict[str, Any]]:
        code, out, err = self.run("connections", "--json")
        assert code == 0, err
        return json.loads(out)

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def kill_all(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.pids.append(self.pid)
        for pid in set(self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "CHATD_CONFIG", "CHATD_HANDOVER")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


@contextlib.contextmanager
def chatd_nodes(count: int, **config: Any) -> Iterator[list[Chatd]]:
    """``count`` chatd processes, each in a directory of its own with ``config``
    (a cluster: the same database and bus), started one after another with
    ``chatd start -d`` (each returns once it serves); all killed at the end."""
    nodes: list[Chatd] = []
    try:
        for _ in range(count):
            node = Chatd(Path(tempfile.mkdtemp(prefix="chatd-", dir="/tmp")), **config)
            nodes.append(node)
            result = node.start()
            assert result.returncode == 0, result.stderr
        yield nodes
    finally:
        for node in nodes:
            node.kill_all()
            shutil.rmtree(node.dir, ignore_errors=True)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temp dir with a short path: a Unix socket path has at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="chatd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def chatd_install(short_dir: Path) -> Iterator[Chatd]:
    """A chatd config in a temp dir, not started; any server left is killed."""
    install = Chatd(short_dir)
    yield install
    install.kill_all()


@pytest.fixture
def other_install() -> Iterator[Chatd]:
    """A second chatd config in a directory of its own (short: it holds a Unix socket), not started."""
    install = Chatd(Path(tempfile.mkdtemp(prefix="chatd-", dir="/tmp")))
    yield install
    install.kill_all()
    shutil.rmtree(install.dir, ignore_errors=True)


@pytest.fixture
def chatd_daemon(chatd_install: Chatd) -> Chatd:
    """A chatd started with ``chatd start -d``."""
    result = chatd_install.start()
    assert result.returncode == 0, result.stderr
    return chatd_install


class Prober:
    """Fresh connections to ``url``, one after another, until ``stop()``: how a
    test sees that a restart refuses nobody. ``ok`` counts those that opened
    (a stopping server may close them at once), ``failed`` keeps the others."""

    def __init__(self, url: str):
        self.url = url
        self.ok = 0
        self.failed: list[str] = []
        self._stopping = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                async with connect(self.url, open_timeout=10):
                    self.ok += 1
            except (OSError, TimeoutError, InvalidHandshake) as e:  # refused, reset, or dropped unanswered
                self.failed.append(repr(e))
            except ConnectionClosed:
                self.ok += 1  # opened, then closed by a stopping server

    async def stop(self) -> None:
        self._stopping.set()
        await self._task


class Chatter:
    """A client that chats the way the page does: on close it reconnects after
    a short random delay, identifies with its token, joins with ``since`` =
    the last id it saw, and resends every ``say`` not yet acknowledged with
    its original ``cid``. It records what it saw to be checked afterwards.

    Given several URLs (the nodes of a cluster), each connection goes to the
    next one, so a client whose node died goes on on another; with
    ``drop_after`` it also closes each connection itself after that many
    seconds and resumes elsewhere, as a phone between networks does.

    It wants every message of the room, so even its first join says
    ``since: 0`` (docs/protocol.md, "Reconnecting"): a join without ``since``
    sends only the latest page. ``more: true`` then always means the replay
    stopped short; the outages it chats through are short, so it never should.
    """

    _ids = itertools.count(1)

    def __init__(self, url: str | list[str], name: str, room: str = "lobby", interval: float = 0.02,
                 drop_after: float | None = None):
        self.urls = [url] if isinstance(url, str) else url
        self.name, self.room, self.interval, self.drop_after = name, room, interval, drop_after
        self.token: str | None = None
        self.seen: list[int] = []  # ids of every message frame received, in order
        self.acked: dict[str, int] = {}  # cid → id
        self.unacked: dict[str, str] = {}  # cid → text
        self.attempts = 0
        self.failures: list[str] = []
        self.close_codes: list[int | None] = []
        self.sending = True  # cleared to stop saying new things
        self.done = asyncio.Event()  # set to close for good

    @property
    def last_id(self) -> int:
        return self.seen[-1] if self.seen else 0

    async def run(self) -> None:
        while not self.done.is_set():
            self.attempts += 1
            try:
                ws = await connect(self.urls[self.attempts % len(self.urls)], open_timeout=10, close_timeout=2)
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as e:
                self.failures.append(repr(e))  # the test wants none of these
                await asyncio.sleep(0.1)
                continue
            try:
                await self._session(ws)
            except ConnectionClosed as e:
                self.close_codes.append(e.rcvd.code if e.rcvd else None)
                await asyncio.sleep(random.uniform(0, 0.2))  # like the page after 1012, only shorter

    async def _session(self, ws: Any) -> None:
        hello: dict[str, Any] = {"type": "identify", "cid": "id"}
        hello.update({"token": self.token} if self.token else {"name": self.name})
        await ws.send(json.dumps(hello))
        join = {"type": "join", "room": self.room, "since": self.last_id, "cid": "join"}
        await ws.send(json.dumps(join))
        for cid, text in list(self.unacked.items()):
            await ws.send(json.dumps({"type": "say", "room": self.room, "text": text, "cid": cid}))
        receiver = asyncio.ensure_future(self._receive(ws))
        drop_at = None if self.drop_after is None else time.monotonic() + self.drop_after
        try:
            while not self.done.is_set() and (drop_at is None or time.monotonic() < drop_at):
                if self.sending:
                    cid = f"{self.name}-{next(self._ids)}"
                    self.unacked[cid] = f"{self.name} says {cid}"
                    await ws.send(json.dumps({"type": "say", "room": self.room, "text": self.unacked[cid],
                                              "cid": cid}))
                done, _ = await asyncio.wait([receiver], timeout=self.interval)
                if done:
                    receiver.result()  # raises ConnectionClosed
            await ws.close()
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiver

    async def _receive(self, ws: Any) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "welcome":
                self.token = frame["token"]
            elif kind == "joined":
                assert not frame["more"], "the replay was cut short: this client does not page"
                self.seen.extend(m["id"] for m in frame["messages"])
            elif kind == "message":
                self.seen.append(frame["id"])
            elif kind == "ack":
                self.unacked.pop(frame["cid"], None)
                self.acked[frame["cid"]] = frame["id"]
            elif kind == "error":
                # "unavailable": the server was stopping; the say stays unacked and is resent.
                assert frame["code"] == "unavailable", frame
