"""Real Redis and PostgreSQL servers for the tests, started on free loopback
ports in temporary directories (``bash .ci/run`` installs the Debian packages).

A test that needs one asks for its fixture and is marked (``redis``,
``postgres``), so ``pytest -m "not redis and not postgres"`` leaves them out
on purpose; a missing server program fails the test, never skips it.

    async def test_x(redis_server, postgres_url): ...
        redis_server.url        # "redis://127.0.0.1:PORT/0", a server of this test's own
        redis_server.restart()  # same port, empty (it keeps nothing on disk)
        postgres_url            # "postgresql://chatd@127.0.0.1:PORT/t_N", a new empty database
        own_postgres.database   # an empty database on a PostgreSQL server of this test's own
        own_postgres.restart()  # fast shutdown (every connection terminated), then start; .stop(), .start()
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

START_TIMEOUT = 30.0  # seconds a server may take to accept connections (initdb is the slowest part)
POLL = 0.02
PG_USER = "chatd"
# Not a durability test of PostgreSQL: chatd's crash tests kill chatd, never the machine.
PG_SETTINGS = ("fsync=off", "full_page_writes=off", "max_connections=200", "listen_addresses=127.0.0.1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on port {port} within {START_TIMEOUT} s")
        time.sleep(POLL)


def program(name: str, *patterns: str) -> str:
    found = shutil.which(name) or next(iter(sorted(p for pat in patterns for p in glob.glob(pat))), None)
    if found is None:
        pytest.fail(f"{name} is not installed: `bash .ci/run` installs it (apt-get install redis-server postgresql); "
                    f'to leave these tests out on purpose, run pytest -m "not redis and not postgres"')
    return found


def _require_mark(request: pytest.FixtureRequest, mark: str) -> None:
    """A test that needs a server says so in its marks, so that ``-m "not MARK"`` can leave it out."""
    if request.node.get_closest_marker(mark) is None:
        pytest.fail(f"a test using a {mark} server must be marked @pytest.mark.{mark} (pytestmark in its module)")


class RedisServer:
    """One redis-server of a test's own, which the test may stop and start again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [program("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        """Kill it (SIGKILL: as a crash, not a shutdown); it keeps nothing."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    _require_mark(request, "redis")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _as_postgres_user() -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresServer:
    """A PostgreSQL cluster in a directory of its own (initdb once), which may be stopped and started again."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.data = directory / "data"
        initdb = program("initdb", "/usr/lib/postgresql/*/bin/initdb")
        self._postgres = os.path.join(os.path.dirname(initdb), "postgres")
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        subprocess.run([*_as_postgres_user(), initdb, "-D", str(self.data), "-U", PG_USER, "-A", "trust",
                        "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.database = ""  # own_postgres: the URL of the test's database

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        settings = [arg for s in PG_SETTINGS for arg in ("-c", s)]
        self.proc = subprocess.Popen([*_as_postgres_user(), self._postgres, "-D", str(self.data), "-p",
                                      str(self.port), "-k", str(self.directory), *settings],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "postgres")
        self._wait_logins()

    def _wait_logins(self) -> None:
        """Return once it takes logins: it listens while still starting up ("the database
        system is starting up"), and a test that restarts it means a server that serves."""
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(POLL)

    def stop(self) -> None:
        """Stop it with a fast shutdown (SIGINT): every connection is terminated, as in a restart."""
        if self.proc is not None and self.proc.poll() is None:
            # To the postmaster itself (its pid heads postmaster.pid): runuser passes SIGINT on to no one.
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(postmaster, signal.SIGINT)
            self.proc.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        """A new empty database; → its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a test's database, ending any connection left to it (a chatd the test killed)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster for the whole session. Each test gets a database (``postgres_url``)."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="chatd-pg-")))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture
def own_postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the test's own, which it may stop and start (``postgres_server``
    is shared by every test); ``own_postgres.database`` is the URL of an empty database on it."""
    _require_mark(request, "postgres")
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="chatd-pg-")))
    try:
        server.start()
        server.database = server.create_database("chatd")
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL server, dropped after the test (hundreds of
    them, ~8 MB each, made the session's end slow to remove them all at once)."""
    _require_mark(request, "postgres")
    name = f"t_{next(_databases)}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)
