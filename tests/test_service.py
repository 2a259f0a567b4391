"""The running process on a PostgreSQL store (chatd.service, real processes
through the real CLI, a real PostgreSQL): what it shows of the database
never holds the password written in its URL, and a backup asked of it is
refused with what to do instead, not failed with a logged exception."""

from __future__ import annotations

import pytest

from tests.ops_fixtures import Chatd
from tests.services import RedisServer

pytestmark = pytest.mark.postgres

PASSWORD = "hunter2-inline"  # the test server trusts every login: a password in the URL is carried, not checked


def with_inline_password(url: str) -> str:
    """``postgresql://chatd@host/db`` → ``postgresql://chatd:PASSWORD@host/db``."""
    scheme, _, rest = url.partition("://")
    user, _, where = rest.partition("@")
    return f"{scheme}://{user}:{PASSWORD}@{where}"


@pytest.fixture
def on_postgres(chatd_install: Chatd, postgres_url: str) -> Chatd:
    """chatd started with ``chatd start -d`` on a ``postgresql://`` URL that holds its password."""
    chatd_install.config["database"] = with_inline_password(postgres_url)
    chatd_install.write_config()
    started = chatd_install.start()
    assert started.returncode == 0, started.stderr
    assert PASSWORD not in started.stdout + started.stderr  # the banner names the database too
    return chatd_install


def test_status_shows_the_database_without_its_password(on_postgres: Chatd):
    code, text, err = on_postgres.run("status")
    assert code == 0, err
    database = next(line for line in text.splitlines() if line.strip().startswith("database"))
    assert ":***@127.0.0.1" in database and PASSWORD not in text
    assert on_postgres.status()["database"].startswith("postgresql://chatd:***@127.0.0.1")
    assert PASSWORD not in on_postgres.log()


def backup_of_the_running_server(install: Chatd) -> tuple[int, str, str]:
    """``chatd backup`` by an operator whose chatd.yaml now names an SQLite file
    while the server still runs on PostgreSQL (``database`` applies on restart
    only): the command asks the running server, whose store makes no backups."""
    install.config["database"] = "chatd.db"
    install.write_config()
    return install.run("backup", str(install.dir / "copy.db"))


def assert_refused_with_advice(install: Chatd, code: int, err: str) -> None:
    assert code == 1 and "pg_dump" in err, err
    assert "cannot write" not in err  # not the operator's path: the kind of store
    assert not (install.dir / "copy.db").exists()
    assert "Traceback" not in install.log() and "backup failed" not in install.log()


def test_a_backup_asked_of_a_postgresql_store_is_refused_with_what_to_do(on_postgres: Chatd):
    code, _, err = backup_of_the_running_server(on_postgres)
    assert_refused_with_advice(on_postgres, code, err)
    code, _, err = on_postgres.run("status")
    assert code == 0, err  # and it serves on


@pytest.mark.redis
def test_a_backup_asked_of_workers_on_a_postgresql_store_is_refused_with_what_to_do(
        chatd_install: Chatd, postgres_url: str, redis_server: RedisServer):
    chatd_install.config.update(workers=2, bus=redis_server.url, database=with_inline_password(postgres_url))
    chatd_install.write_config()
    started = chatd_install.start()
    assert started.returncode == 0, started.stderr
    assert chatd_install.status()["database"].startswith("postgresql://chatd:***@")
    code, _, err = backup_of_the_running_server(chatd_install)
    assert_refused_with_advice(chatd_install, code, err)
