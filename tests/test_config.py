"""Loading and validating chatd.yaml."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from chatd.config import ConfigError, build_config, changed_keys, find_config_file, load_config
from chatd.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return path


def test_shipped_file_is_valid_and_shows_every_default():
    shipped = load_config(ROOT / "chatd.yaml")
    defaults = build_config({}, ROOT / "chatd.yaml")
    assert changed_keys(shipped, defaults) == []
    flat = yaml.safe_load((ROOT / "chatd.yaml").read_text())
    for s in SETTINGS:
        section, _, name = s.key.rpartition(".")
        assert name in (flat[section] if section else flat), f"chatd.yaml does not show {s.key}"


def test_relative_paths_are_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, "database: data/chat.db\n"))
    assert config.database == str(tmp_path / "data" / "chat.db")


def test_empty_file_means_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).listen == "127.0.0.1:8080"


@pytest.mark.parametrize(("text", "expected"), [
    ("limits:\n  max_text: 5\n", "unknown key 'limits.max_text'"),
    ("colour: blue\n", "unknown key 'colour'"),
    ("history:\n  join_count: -1\n", "key 'history.join_count' must be between 0 and 10000, not -1"),
    ("history:\n  join_count: many\n", "key 'history.join_count' must be a whole number"),
    ("rooms:\n  allow_create: yes please\n", "key 'rooms.allow_create' must be true or false"),
    ("listen: 8080\n", "key 'listen' must be a string host:port"),
    ("listen: 'localhost'\n", "key 'listen' must be host:port"),
    ("rooms:\n  default: [lobby, 'bad room']\n", 'key \'rooms.default\' room "bad room"'),
    ("rooms:\n  default: [lobby, l\u043ebby]\n", 'key \'rooms.default\' room "l\u043ebby" looks like room "lobby"'),
    ("identity:\n  name_hold_seconds: -1\n", "key 'identity.name_hold_seconds' must be between 0"),
    ("log_level: loud\n", "key 'log_level' must be one of debug, info, warning, error"),
    ("limits: 5\n", "key 'limits' must be a section"),
    ("- a list\n", "must be a mapping"),
    ("listen: [unclosed\n", "not valid YAML"),
    ("proxy_headers: true\n", "key 'proxy_headers' was replaced by 'trusted_proxies'"),
    ("trusted_proxies: 10.0.0.0/8\n", "key 'trusted_proxies' must be a list"),
    ("trusted_proxies: ['10.0.0.1/8']\n", 'key \'trusted_proxies\' "10.0.0.1/8" is not an address or network'),
    ("trusted_proxies: [nginx.local]\n", 'key \'trusted_proxies\' "nginx.local" is not an address or network'),
    ("allowed_origins: ['https://app.example.org/chat']\n",
     'key \'allowed_origins\' "https://app.example.org/chat" is not an origin like https://app.example.org'),
    ("allowed_origins: ['*']\n", 'key \'allowed_origins\' "*" is not an origin'),
    ("pidfile: ''\n", "key 'pidfile' must name a file, not be empty"),  # start failed on "cannot lock pidfile :"
    ("control_socket: ''\n", "key 'control_socket' must name a file, not be empty"),
    ("database: loop/chatd.db\n", "key 'database' names \"loop/chatd.db\", which cannot be resolved"),  # a traceback
    ("logfile: loop\n", "key 'logfile' names \"loop\", which cannot be resolved"),
])
def test_errors_name_the_file_the_key_and_the_problem(tmp_path, text, expected):
    (tmp_path / "loop").symlink_to("loop")  # a symbolic link to itself: resolving it never ends
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value) and expected in str(e.value)


@pytest.mark.parametrize(("text", "expected"), [  # a value is shown as YAML spells it, never as Python does
    ("workers: null\n", "key 'workers' must be a whole number, not null"),
    ("workers: ~\n", "key 'workers' must be a whole number, not null"),
    ("workers: '4'\n", "key 'workers' must be a whole number, not \"4\""),
    ("stop_timeout: true\n", "key 'stop_timeout' must be a number, not true"),
    ("stop_timeout: 2024-05-01\n", "key 'stop_timeout' must be a number, not 2024-05-01"),
    ("rooms:\n  allow_create: null\n", "key 'rooms.allow_create' must be true or false, not null"),
    ("rooms:\n  allow_create: 'on'\n", "key 'rooms.allow_create' must be true or false, not \"on\""),
    ("identity:\n  secret: 12\n", "key 'identity.secret' must be a string, not 12"),
    ("log_level: false\n", "key 'log_level' must be one of debug, info, warning, error, not false"),
    ("listen: [127.0.0.1, 8080]\n", 'key \'listen\' must be a string host:port, not ["127.0.0.1", 8080]'),
    ("rooms:\n  default: [lobby, null]\n", "key 'rooms.default' room null is not a string"),
    ("trusted_proxies: [true]\n", "key 'trusted_proxies' true is not a string"),
    ("allowed_origins: [null]\n", "key 'allowed_origins' null is not an origin"),
    ("bus: false\n", 'key \'bus\' must be "" (in-process) or a redis:// URL, not false'),
    ("app_tokens:\n  algorithms: [~]\n", "key 'app_tokens.algorithms' holds null;"),
    ("uploads:\n  types: {image/png: yes}\n",
     'key \'uploads.types\' must be a list of file kinds, not {"image/png": true}'),
    ("webhooks:\n  allowed_hosts: [null]\n", "key 'webhooks.allowed_hosts' null is not a host name"),
    ("null: 1\n", "unknown key 'null'"),
    ("limits:\n  max_text_chars: 5\nlimits.max_text_chars: 6\n", 'unknown key \'"limits.max_text_chars"\''),
    ("limits: null\n", "key 'limits' must be a section (a mapping of keys), not null"),
    ("limits:\n  rate_burst: 0\n", "key 'limits.rate_burst' must be between 1 and 1000000000, not 0"),
    ("cluster:\n  node_timeout: .inf\n", "key 'cluster.node_timeout' must be between 0.5 and 600, not .inf"),
    ("cluster:\n  heartbeat_interval: .nan\n", "key 'cluster.heartbeat_interval' must be between 0.1 and 60, not .nan"),
    ("workers: 12:30\n", 'key \'workers\' must be a whole number, not "12:30"'),
    ("cluster:\n  node_timeout: 1:30.5\n", 'key \'cluster.node_timeout\' must be a number, not "1:30.5"'),
    ("- a list\n", "must be a mapping of keys to values, not a list"),
    ("just text\n", "must be a mapping of keys to values, not a string"),
])
def test_errors_spell_values_as_yaml_does(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert expected in str(e.value)
    assert not any(word in str(e.value) for word in ("None", "True", "False", "NoneType", "datetime", "'4'", "'on'"))


@pytest.mark.parametrize("text, names", [
    ("pidfile: chatd.db\n", "key 'database' and key 'pidfile' are one file"),
    ("control_socket: chatd.db\n", "key 'database' and key 'control_socket' are one file"),
    ("logfile: data/../chatd.db\n", "key 'database' and key 'logfile' are one file"),
    ("pidfile: chatd.db-wal\n", "the WAL of key 'database' and key 'pidfile' are one file"),
    ("logfile: chatd.db.lock\n", "the lock file of key 'database' and key 'logfile' are one file"),
    ("control_socket: chatd.yaml\n", "the config file and key 'control_socket' are one file"),
    ("metrics:\n  token_file: chatd.log\n", "key 'logfile' and key 'metrics.token_file' are one file"),
])
def test_two_keys_naming_a_file_chatd_writes_are_refused(tmp_path, text, names):
    """A pidfile naming the database truncated it at start; a control socket naming it unlinked it."""
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert names in str(e.value) and "chatd would write over it" in str(e.value)


def test_a_hard_link_is_the_file_it_links(tmp_path):
    (tmp_path / "chatd.db").write_bytes(b"")
    os.link(tmp_path / "chatd.db", tmp_path / "pid.hard")
    with pytest.raises(ConfigError, match="key 'database' and key 'pidfile' are one file"):
        load_config(write(tmp_path, "pidfile: pid.hard\n"))


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "colour: blue\nlog_level: loud\n"))
    assert len(str(e.value).splitlines()) == 2


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_which_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config_file(None, {}) is None
    assert find_config_file(None, {"CHATD_CONFIG": "/etc/x.yaml"}) == Path("/etc/x.yaml")
    assert find_config_file("a.yaml", {"CHATD_CONFIG": "/etc/x.yaml"}) == Path("a.yaml")
    write(tmp_path, "")
    assert find_config_file(None, {}) == tmp_path / "chatd.yaml"


def test_listen_forms():
    assert build_config({"listen": "[::1]:9000"}).listen == "[::1]:9000"
    with pytest.raises(ConfigError):
        build_config({"listen": "127.0.0.1:99999"})


@pytest.mark.parametrize(("app_tokens", "problem"), [
    ({"secret": "changeme"}, "key 'app_tokens.secret': is 8 bytes long"),
    ({"algorithms": ["none"]}, 'key \'app_tokens.algorithms\' holds "none"'),
    ({"algorithms": []}, "key 'app_tokens.algorithms' must be a non-empty list"),
    ({"public_key_file": "missing.pub", "algorithms": ["RS256"]}, "key 'app_tokens.public_key_file'"),
    ({"secret": "b1f0c3d9e8a7264a5f1e0d9c8b7a6f5e", "algorithms": ["HS256", "ES256"]}, "need a public key"),
])
def test_app_token_keys_that_cannot_work_stop_the_config(tmp_path, app_tokens, problem):
    with pytest.raises(ConfigError) as caught:
        build_config({"app_tokens": app_tokens}, tmp_path / "chatd.yaml")
    assert problem in str(caught.value) and str(tmp_path / "chatd.yaml") in str(caught.value)


def test_avatar_hosts_are_host_names():
    config = build_config({"identity": {"avatar_hosts": ["cdn.example.com"]}})
    assert config.identity.avatar_hosts == ["cdn.example.com"]
    with pytest.raises(ConfigError, match="not a host name"):
        build_config({"identity": {"avatar_hosts": ["https://cdn.example.com/"]}})


def test_guests_off_needs_app_tokens():
    with pytest.raises(ConfigError, match="'identity.guests' is false, but app tokens are not configured"):
        build_config({"identity": {"guests": False}})
    assert not build_config({"identity": {"guests": False},
                             "app_tokens": {"secret": "b1f0c3d9e8a7264a5f1e0d9c8b7a6f5e"}}).identity.guests


@pytest.mark.parametrize(("values", "package", "key"), [
    ({"bus": "redis://127.0.0.1:6379/0"}, "redis", "bus"),
    ({"database": "postgresql://chatd@127.0.0.1/chatd"}, "psycopg", "database"),
])
def test_a_cluster_url_without_its_client_library_is_a_config_error(monkeypatch, values, package, key):
    """check-config says so, naming the key and the extra, instead of the start failing later."""
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed: importing it raises ImportError
    with pytest.raises(ConfigError) as caught:
        build_config(values)
    assert f"key '{key}'" in str(caught.value)
    assert f"{package} is not installed: install it (pip install 'chatd[cluster]')" in str(caught.value)
