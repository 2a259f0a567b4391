"""The servers a chatd cluster stands on, started by the bench itself on free
loopback ports in temporary directories: redis-server (the bus) and a
PostgreSQL cluster (the store). Nothing is left behind: each is stopped
and its directory removed when the ``with`` block ends.

    with PostgresCluster() as pg:        # initdb + postgres: a few seconds, once per run
        url = pg.new_database()          # postgresql://chatd@127.0.0.1:PORT/bench_1, fresh and empty
        ...
        pg.drop_database(url)
    with RedisServer() as redis:         # a fresh one per measurement: ~20 ms
        redis.url, redis.pid
        redis.restart()                  # same port, empty (as after a crash: it keeps nothing)

PostgreSQL runs with its default durability (fsync and synchronous_commit
on), as a production store would: the write figures are those of commits
that survive a crash of the machine. Standard library only (``psql`` makes
and drops the databases), so the harness and cluster_soak.py share it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT = 30.0  # seconds a server may take to take connections (initdb is the slowest part)
STOP_TIMEOUT = 30.0
POLL = 0.02  # seconds between looks at a starting server
PG_USER = "chatd"
# Enough connections for several chatd processes (a writer and a reader pool each) and the checks.
PG_SETTINGS = ("max_connections=300", "listen_addresses=127.0.0.1")


class ServiceFailed(Exception):
    """A server program is missing or did not start; the text says which and why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def program(name: str, *patterns: str) -> str:
    """The path of a server program: on PATH, else the first match of ``patterns`` (Debian's versioned dirs)."""
    found = shutil.which(name) or next(iter(sorted(p for pat in patterns for p in glob.glob(pat))), None)
    if found is None:
        raise ServiceFailed(f"{name} is not installed (Debian: apt-get install redis-server postgresql)")
    return found


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise ServiceFailed(f"{what} exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise ServiceFailed(f"{what} did not listen on port {port} within {START_TIMEOUT} s")
        time.sleep(POLL)


def _stop(proc: subprocess.Popen | None, *, kill: bool = False) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.kill() if kill else proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """One redis-server that keeps nothing on disk."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> None:
        self.directory = self.directory or Path(tempfile.mkdtemp(prefix="chatd-bench-redis-"))
        self.proc = subprocess.Popen(
            [program("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, self.proc, "redis-server")

    def restart(self) -> None:
        """Kill it (as a crash) and start an empty one on the same port."""
        _stop(self.proc, kill=True)
        self.start()

    def stop(self) -> None:
        _stop(self.proc, kill=True)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresCluster:
    """A PostgreSQL cluster of the bench's own; one fresh database per measurement."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._names = itertools.count(1)
        self._bin = ""

    @property
    def pid(self) -> int:
        """The process whose tree holds the postmaster and every backend (runuser's, when root)."""
        return self.proc.pid

    def start(self) -> None:
        initdb = program("initdb", "/usr/lib/postgresql/*/bin/initdb")
        self._bin = os.path.dirname(initdb)
        self.directory = Path(tempfile.mkdtemp(prefix="chatd-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        done = subprocess.run([*_as_postgres_user(), initdb, "-D", str(data), "-U", PG_USER, "-A", "trust",
                               "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceFailed(f"initdb failed: {done.stderr.strip()[-300:]}")
        self.port = free_port()
        settings = [arg for s in PG_SETTINGS for arg in ("-c", s)]
        self.proc = subprocess.Popen([*_as_postgres_user(), os.path.join(self._bin, "postgres"), "-D", str(data),
                                      "-p", str(self.port), "-k", str(self.directory), *settings],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, self.proc, "postgres")

    def url(self, database: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _psql(self, sql: str) -> None:
        psql = shutil.which("psql") or os.path.join(self._bin, "psql")
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the server listens a moment before it takes logins
            done = subprocess.run([psql, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql, self.url("postgres")],
                                  capture_output=True, text=True)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline or "starting up" not in done.stderr:
                raise ServiceFailed(f"psql {sql!r}: {done.stderr.strip()[-300:]}")
            time.sleep(POLL)

    def new_database(self) -> str:
        """A new, empty database; → its URL."""
        name = f"bench_{next(self._names)}"
        self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def stop(self) -> None:
        _stop(self.proc)  # SIGTERM: PostgreSQL's smart shutdown, then kill past the timeout
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> PostgresCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
