"""Start one server under test pinned to its core, wait until it answers,
stop it. A fresh process (and, for chatd, a fresh database) for every
measurement, so no run inherits another's memory, rooms or JIT state.

    with RunningServer(target, core=0, log_path=...) as server:
        ... server.pid, server.url ...

A cluster deployment also gets a redis-server of its own (fresh: no names,
presence or counters left from the last measurement) and, on PostgreSQL, a
fresh database on the run's cluster; ``server.services_pids`` names their
processes, for the CPU figures.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness.services import PostgresCluster, RedisServer
from harness.targets import Services, Target, endpoint_path


class ServerFailed(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_websocket(port: int, path: str) -> bool:
    """True once the server completes a WebSocket handshake on ``path``: a
    bound port alone can hold connections in its backlog, unserved."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(2)
            s.sendall(request.encode())
            return s.recv(12).startswith(b"HTTP/1.1 101")
    except OSError:
        return False


class RunningServer:
    def __init__(self, target: Target, core: int, log_path: Path, ready_timeout: float = 30.0,
                 postgres: PostgresCluster | None = None):
        self.target = target
        self.core = core
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.postgres = postgres  # the run's cluster, for a target on PostgreSQL
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.redis: RedisServer | None = None
        self.database = ""  # the PostgreSQL URL of this measurement's database

    @property
    def services_pids(self) -> dict[str, int]:
        """The processes (with their children) serving this server: name → pid."""
        pids = {"redis": self.redis.pid} if self.redis else {}
        return pids | ({"postgres": self.postgres.pid} if self.database else {})

    def _services(self) -> Services:
        deployment = self.target.deployment
        if deployment.bus:
            self.redis = RedisServer()
            self.redis.start()
        if deployment.store == "postgres":
            if self.postgres is None:
                raise ServerFailed(f"{self.target.name} needs the run's PostgreSQL cluster")
            self.database = self.postgres.new_database()
        return Services(self.redis.url if self.redis else "", self.database)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()  # a new port each run: no TIME_WAIT left over from the last one
        self.workdir = Path(tempfile.mkdtemp(prefix=f"chatd-bench-{self.target.name}-"))
        pin = ["taskset", "-c", str(self.core)] if self.target.pinned else []
        argv = [*pin, *self.target.command(self.port, self.workdir, self._services())]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # taskset execs the server: the pid is the server's own, for /proc figures
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        while not answers_websocket(self.port, endpoint_path(self.target.flavour)):
            if self.proc.poll() is not None:
                raise ServerFailed(f"{self.target.name} exited with {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerFailed(f"{self.target.name} did not answer on port {self.port} in {self.ready_timeout} s")
            time.sleep(0.05)
        time.sleep(0.3)  # let start-up work (imports, JIT, GC) finish before anything is measured

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only what it started
                self.proc.wait(5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.database:
            self.postgres.drop_database(self.database)
            self.database = ""

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> RunningServer:
        try:
            self.start()
        except BaseException:
            self.stop()  # what did start (a redis-server, a database, the scratch dir) goes too
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
