"""Store and bus addresses: URLs checked, passwords kept out of the config file and out of errors."""

import re

import pytest

from chatd.config import ConfigError, build_config, bus_url, store_url
from chatd.dsn import REDIS_DATABASE_MAX, redacted, with_password


def test_sqlite_path_stays_a_path_and_a_postgres_url_stays_a_url(tmp_path):
    source = tmp_path / "chatd.yaml"
    assert build_config({"database": "data/chat.db"}, source).database == str(tmp_path / "data/chat.db")
    url = "postgresql://chatd@db.internal:5432/chatd"
    assert build_config({"database": url}, source).database == url


@pytest.mark.parametrize("value, problem", [
    ("mysql://root@db/chat", "postgresql://"),
    ("postgresql://u:pw@db:99999/chat", "not a valid URL"),
    ("", "SQLite file path"),
    ("postgresql://", "names no database"),
    ("postgresql://chat@db.internal", "names no database"),
    ("postgresql://chat@db.internal/", "names no database"),
    (" postgresql://chat@db/chatd", "starts with a space"),  # else a file named " postgresql:..."
    ("chatd.db\n", "ends with a line break"),
])
def test_a_bad_database_is_named(value, problem):
    with pytest.raises(ConfigError, match=problem) as e:
        build_config({"database": value})
    assert "'database'" in str(e.value)


@pytest.mark.parametrize("value", ["postgresql:///chatd", "postgresql://db/chatd", "postgres://u@db:5433/chatd",
                                   "postgresql://?dbname=chatd&host=/run/postgresql"])
def test_a_postgres_url_needs_a_database_name_not_a_host(value):
    """Without a host libpq uses the local socket; without a database name it would use the OS user's name."""
    assert build_config({"database": value}).database == value


@pytest.mark.parametrize("value", ["http://localhost:6379", "redis://", 6379])
def test_a_bad_bus_is_named(value):
    with pytest.raises(ConfigError, match="'bus'"):
        build_config({"bus": value})


@pytest.mark.parametrize("value, problem", [
    ("redis://host:6379/abc", 'names the database "abc"'),  # redis-py would take database 0: another cluster's
    ("redis://host:6379/99999", 'names the database "99999"'),
    ("redis://host:6379/-1", 'names the database "-1"'),
    ("redis://host:6379/1/2", 'names the database "1/2"'),  # redis-py would take database 12
    ("redis://host:6379/\u0663", 'names the database "\u0663"'),  # an Arabic-Indic three: a digit, not to Redis
    ("redis://host:6379/2?db=3", "as ?db="),
    ("redis://:hunter2@host:6379/0 ", "ends with a space"),
])
def test_a_bus_database_that_is_not_a_number_in_range_is_named(value, problem):
    with pytest.raises(ConfigError, match=re.escape(problem)) as e:
        build_config({"bus": value})
    assert "'bus'" in str(e.value) and "hunter2" not in str(e.value)


@pytest.mark.parametrize("value", ["redis://host", "redis://host:6379/", "redis://host:6379/0",
                                   "rediss://host:6380/15", f"redis://host/{REDIS_DATABASE_MAX}"])
def test_a_bus_database_number_in_range_or_none_is_taken(value):
    assert build_config({"bus": value}).bus == value


def test_a_url_with_a_space_before_it_is_named_with_its_password_masked():
    with pytest.raises(ConfigError) as e:
        build_config({"bus": " redis://:hunter2@host:6379/0"})
    assert "key 'bus' starts with a space: \" redis://:***@host:6379/0\"" in str(e.value)
    assert redacted(" redis://:hunter2@host/0\n") == " redis://:***@host/0\n"


def test_an_error_never_repeats_the_password():
    with pytest.raises(ConfigError) as e:
        build_config({"bus": "redis://:hunter2@host:notaport/0"})
    assert "hunter2" not in str(e.value)
    assert redacted("postgresql://chat:hunter2@db/chatd") == "postgresql://chat:***@db/chatd"


@pytest.mark.parametrize("path", ["/var/lib/chatd/chatd.db", "//srv/disk[1/chatd.db", "//ops:team@nas/chatd.db"])
def test_an_sqlite_path_is_shown_as_it_is(path):
    assert redacted(path) == path  # status, the banner and the log show `database` through redacted


def test_workers_need_a_bus():
    with pytest.raises(ConfigError, match="'workers' is 3, which needs a bus"):
        build_config({"workers": 3})
    assert build_config({"workers": 3, "bus": "redis://127.0.0.1:6379/0"}).workers == 3


def test_a_node_timeout_shorter_than_two_heartbeats_is_refused():
    with pytest.raises(ConfigError, match="node_timeout"):
        build_config({"cluster": {"heartbeat_interval": 2, "node_timeout": 3}})


def test_passwords_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    secret = tmp_path / "pg.pass"
    secret.write_text("p@ss:w/rd\n")
    config = build_config({"database": "postgresql://chatd@db/chatd", "database_password_file": str(secret),
                           "bus": "redis://10.0.0.5:6379/0"})
    assert store_url(config) == "postgresql://chatd:p%40ss%3Aw%2Frd@db/chatd"
    monkeypatch.setenv("CHATD_BUS_PASSWORD", "from-env")
    assert bus_url(config) == "redis://:from-env@10.0.0.5:6379/0"
    assert with_password("redis://h:1/0", None) == "redis://h:1/0"


def test_an_unreadable_or_empty_password_file_is_named_once(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, problem in ((tmp_path / "missing", "No such file"), (empty, "is empty")):
        with pytest.raises(ConfigError, match=problem) as e:
            build_config({"bus": "redis://host/0", "bus_password_file": str(path)})
        assert "'bus_password_file'" in str(e.value)
        assert str(e.value).count(str(path)) == 1


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_a_line_break_ending_an_environment_password_is_not_part_of_it(monkeypatch, line_end):
    """As in a file: VAR=$(cat file) keeps no newline, but an env file or a secret store may."""
    monkeypatch.setenv("CHATD_BUS_PASSWORD", "s3cret" + line_end)
    assert bus_url(build_config({"bus": "redis://host:6379/0"})) == "redis://:s3cret@host:6379/0"


@pytest.mark.parametrize("data, problem", [
    ({"bus_password_file": "redis.pass"}, "'bus_password_file' is set, but 'bus' is empty"),
    ({"database_password_file": "pg.pass"}, "'database_password_file' is set, but 'database' is an SQLite file"),
])
def test_a_password_file_for_nothing_is_refused(tmp_path, data, problem):
    """A password file that does nothing is a mistake (a key forgotten, a typo): said, not ignored."""
    for name in data.values():
        (tmp_path / name).write_text("s3cret\n")
    with pytest.raises(ConfigError, match=re.escape(problem)):
        build_config(data, tmp_path / "chatd.yaml")
