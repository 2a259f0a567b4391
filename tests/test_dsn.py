"""Store and bus addresses: URLs checked, passwords kept out of the config file and out of errors."""

import pytest

from chatd.config import ConfigError, build_config, bus_url, store_url
from chatd.dsn import redacted, with_password


def test_sqlite_path_stays_a_path_and_a_postgres_url_stays_a_url(tmp_path):
    source = tmp_path / "chatd.yaml"
    assert build_config({"database": "data/chat.db"}, source).database == str(tmp_path / "data/chat.db")
    url = "postgresql://chatd@db.internal:5432/chatd"
    assert build_config({"database": url}, source).database == url


@pytest.mark.parametrize("value, problem", [
    ("mysql://root@db/chat", "postgresql://"),
    ("postgresql://u:pw@db:99999/chat", "not a valid URL"),
    ("", "SQLite file path"),
])
def test_a_bad_database_is_named(value, problem):
    with pytest.raises(ConfigError, match=problem) as e:
        build_config({"database": value})
    assert "'database'" in str(e.value)


@pytest.mark.parametrize("value", ["http://localhost:6379", "redis://", 6379])
def test_a_bad_bus_is_named(value):
    with pytest.raises(ConfigError, match="'bus'"):
        build_config({"bus": value})


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


def test_an_unreadable_or_empty_password_file_is_named(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, problem in ((tmp_path / "missing", "No such file"), (empty, "is empty")):
        with pytest.raises(ConfigError, match=problem) as e:
            build_config({"bus_password_file": str(path)})
        assert "'bus_password_file'" in str(e.value)
