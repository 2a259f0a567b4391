"""Load and validate chatd.yaml.

The keys, their defaults and checks are ``chatd.settings.SETTINGS``; this
module reads a file against that table, reports every problem at once
(``ConfigError``), checks the keys that only make sense together, and says
what a reload changes.

    >>> config = load_config("/etc/chatd/chatd.yaml")
    >>> config.limits.max_text_chars
    4000
    >>> effective, live, later = reload_split(config, load_config("/etc/chatd/chatd.yaml"))

Relative paths in the file are relative to the file's own directory.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from chatd.auth.apptokens import load_app_tokens
from chatd.auth.secret import configured_secret
from chatd.dblock import LOCK_SUFFIX
from chatd.dsn import (
    BUS_PASSWORD_ENV,
    DATABASE_PASSWORD_ENV,
    EmptyPasswordFile,
    is_postgres,
    password_from,
    scheme,
    with_password,
)
from chatd.settings import BY_KEY, RETIRED, SETTINGS
from chatd.yamltext import yaml_kind, yaml_load, yaml_text

ENV_VAR = "CHATD_CONFIG"
DEFAULT_FILE = "chatd.yaml"
DEFAULTS = "built-in defaults"  # where settings come from when no config file is read: errors say so


class ConfigError(Exception):
    """The config cannot be used; ``str()`` names the file, key and problem."""


class Config(SimpleNamespace):
    """Settings as attributes (``config.rooms.allow_create``) plus ``source``,
    the file they came from (None for built-in defaults)."""

    def get(self, key: str) -> Any:
        section, _, name = key.rpartition(".")
        return getattr(getattr(self, section), name) if section else getattr(self, key)


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in data.items():
        # `null: 1` names the key null, not None; a dot in a key is its own (quoted), so that a key
        # `limits.max_text_chars` is unknown, not a second spelling of the nested one it would override
        key = f"{prefix}{k if isinstance(k, str) and '.' not in k else yaml_text(k)}"
        if isinstance(v, dict) and any(s.key.startswith(key + ".") for s in SETTINGS):
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def build_config(data: dict[str, Any], source: Path | None = None) -> Config:
    """Validate a parsed mapping; raise ConfigError listing every problem."""
    where = str(source) if source else DEFAULTS  # no file: the built-in defaults (and command-line overrides)
    flat = _flatten(data)
    sections = {s.key.rpartition(".")[0] for s in SETTINGS}
    problems = [
        f"{where}: key '{k}' {RETIRED[k]}" if k in RETIRED
        else f"{where}: key '{k}' must be a section (a mapping of keys), not {yaml_text(flat[k])}" if k in sections
        else f"{where}: unknown key '{k}'"
        for k in flat
        if k not in BY_KEY
    ]
    values = {}
    for s in SETTINGS:
        value = flat.get(s.key, s.default)
        problem = s.check(value)
        if problem:
            problems.append(f"{where}: key '{s.key}' {problem}")
        elif s.path and value and not scheme(value):
            base = source.parent if source else Path.cwd()
            try:
                value = str((base / os.path.expanduser(value)).resolve())
            except (RuntimeError, OSError) as e:  # a symbolic link loop (RuntimeError before Python 3.13)
                problems.append(f"{where}: key '{s.key}' names {yaml_text(value)}, which cannot be resolved: "
                                f"{getattr(e, 'strerror', None) or e}")
        values[s.key] = value
    if not problems:
        problems += _reply_problems(values, where)
        problems += _event_problems(values, where)
    if all(isinstance(values[k], str) for k in ("identity.secret", "identity.secret_file")):
        try:
            configured_secret(values["identity.secret"], values["identity.secret_file"])
        except ValueError as e:
            problems.append(f"{where}: {e}")
    if not problems:
        problems += _cluster_problems(values, where) + _app_webhook_problems(values, where)
        problems += _metrics_problems(values, where)
        problems += _path_problems(values, where, source)
    if problems:
        raise ConfigError("\n".join(problems))
    config = config_from_values(values, source)
    try:
        app_tokens = load_app_tokens(config.app_tokens)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    if app_tokens is None and not config.identity.guests:
        raise ConfigError(f"{where}: key 'identity.guests' is false, but app tokens are not configured (no "
                          "'app_tokens.secret', 'app_tokens.secret_file' or 'app_tokens.public_key_file'): "
                          "nobody could sign in")
    return config


def config_values(config: Config) -> dict[str, Any]:
    """Every key's value, flat: ``{"listen": "127.0.0.1:8080", "limits.rate_burst": 20, ...}``.
    JSON-able: how the supervisor of ``workers`` hands its workers the config it validated."""
    return {s.key: config.get(s.key) for s in SETTINGS}


def config_from_values(values: dict[str, Any], source: Path | None = None) -> Config:
    """The Config of already validated values (``config_values``, or ``build_config``'s own)."""
    config = Config(source=source)
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        target = config
        if section:
            if not hasattr(config, section):
                setattr(config, section, SimpleNamespace())
            target = getattr(config, section)
        setattr(target, name, value)
    return config


def _cluster_problems(values: dict[str, Any], where: str) -> list[str]:
    """Keys that only make sense together: workers need a bus; passwords must be readable."""
    problems = []
    if values["workers"] > 1 and not values["bus"]:
        problems.append(f"{where}: key 'workers' is {values['workers']}, which needs a bus: set 'bus' to a redis:// "
                        "URL (the processes must tell each other of new messages)")
    if values["cluster.node_timeout"] < 2 * values["cluster.heartbeat_interval"]:
        problems.append(f"{where}: key 'cluster.node_timeout' must be at least twice 'cluster.heartbeat_interval', "
                        "or one late heartbeat would count a live node as dead")
    if values["bus_password_file"] and not values["bus"]:
        problems.append(f"{where}: key 'bus_password_file' is set, but 'bus' is empty (in-process): there is no "
                        "Redis to give the password to; set 'bus' or remove 'bus_password_file'")
    if values["database_password_file"] and not is_postgres(values["database"]):
        problems.append(f"{where}: key 'database_password_file' is set, but 'database' is an SQLite file, which "
                        "takes no password; remove 'database_password_file', or make 'database' a postgresql:// URL "
                        "(`chatd migrate-store` takes the password from $CHATD_DATABASE_PASSWORD)")
    for key, env in (("database_password_file", DATABASE_PASSWORD_ENV), ("bus_password_file", BUS_PASSWORD_ENV)):
        try:
            password_from(values[key], env, {})
        except EmptyPasswordFile:
            problems.append(f"{where}: key '{key}': the file's first line (the password) is empty ({values[key]})")
        except OSError as e:
            problems.append(f"{where}: key '{key}': {e.strerror or e} ({values[key]})")
    return problems


def _app_webhook_problems(values: dict[str, Any], where: str) -> list[str]:
    """An app webhook needs a strong secret to sign its calls (the app must be able to tell them from forgeries)."""
    try:
        secret = configured_secret(values["webhooks.app_secret"], values["webhooks.app_secret_file"],
                                   "webhooks.app_secret")
    except ValueError as e:
        return [f"{where}: {e}"]
    if values["webhooks.app_url"] and secret is None:
        return [f"{where}: key 'webhooks.app_url' is set, but neither 'webhooks.app_secret' nor "
                "'webhooks.app_secret_file' is: the app could not tell chatd's calls from forged ones"]
    return []


def _metrics_problems(values: dict[str, Any], where: str) -> list[str]:
    """A metrics token must be strong: it opens /metrics to any address."""
    try:
        configured_secret(values["metrics.token"], values["metrics.token_file"], "metrics.token")
    except ValueError as e:
        return [f"{where}: {e}"]
    return []


# The files chatd writes: none may be another key's file or the config file. Beside an SQLite
# database it also writes its WAL, shared memory and rollback journal (https://sqlite.org/tempfiles.html)
# and its lock (chatd.dblock).
WRITTEN = ("database", "pidfile", "logfile", "control_socket")
DATABASE_BESIDE = (("-wal", "the WAL"), ("-shm", "the shared memory"), ("-journal", "the journal"),
                   (LOCK_SUFFIX, "the lock file"))


def _path_problems(values: dict[str, Any], where: str, source: Path | None) -> list[str]:
    """Two keys (or a key and the config file) naming one file that chatd writes: it would be
    written over (a pidfile naming the database truncates it at start, a control socket unlinks it)."""
    claims: dict[Any, tuple[str, list[str]]] = {}  # the file (see _identity) → (a path to it, who names it)

    def claim(path: str, who: str) -> None:
        claims.setdefault(_identity(path), (path, []))[1].append(who)

    if source is not None:
        claim(str(source.resolve()), "the config file")
    for s in SETTINGS:
        value = values[s.key]
        if s.path and isinstance(value, str) and value and not scheme(value):
            claim(value, f"key '{s.key}'")
            if s.key == "database":
                for end, what in DATABASE_BESIDE:
                    claim(value + end, f"{what} of key 'database'")
    written = {f"key '{key}'" for key in WRITTEN} | {f"{what} of key 'database'" for _, what in DATABASE_BESIDE}
    return [f"{where}: {' and '.join(names)} are one file, {path}: chatd would write over it; give each its own"
            for path, names in claims.values() if len(names) > 1 and written.intersection(names)]


def _identity(path: str) -> Any:
    """What tells a file from another: its device and inode when it exists (two hard links
    are one file), else its resolved path (paths resolve symbolic links already)."""
    try:
        found = os.stat(path)
    except OSError:
        return path
    return found.st_dev, found.st_ino


def app_webhook_secret(config: Config) -> bytes | None:
    """The key that signs the app webhook's calls (checked when the config was loaded); None without one."""
    hooks = config.webhooks
    return configured_secret(hooks.app_secret, hooks.app_secret_file, "webhooks.app_secret")


def store_url(config: Config) -> str:
    """The database to open: the SQLite path, or the PostgreSQL URL with its
    password from ``database_password_file`` or the environment put in."""
    if not is_postgres(config.database):
        return config.database
    return with_password(config.database, password_from(config.database_password_file, DATABASE_PASSWORD_ENV))


def bus_url(config: Config) -> str:
    """The bus to join: "" (in-process), or the Redis URL with its password put in."""
    if not config.bus:
        return ""
    return with_password(config.bus, password_from(config.bus_password_file, BUS_PASSWORD_ENV))


def _reply_problems(values: dict[str, Any], where: str) -> list[str]:
    """The largest reply must fit in its share of the send queue, or a client
    reading at a normal pace would be cut off as a slow reader (chatd.paging)."""
    from chatd.paging import REPLY_SHARE, reply_bytes_max  # the frames' shapes are the protocol's

    largest = reply_bytes_max(values["history.page_bytes"], values["limits.max_text_chars"],
                              values["rooms.member_list_max"])
    queue = values["limits.send_queue_bytes"]
    if largest <= queue // REPLY_SHARE:
        return []
    return [f"{where}: keys 'history.page_bytes', 'limits.max_text_chars' and 'rooms.member_list_max' let one reply "
            f"reach {largest} bytes, more than 1/{REPLY_SHARE} of 'limits.send_queue_bytes' ({queue}), so a client "
            "reading at a normal pace could be cut off as a slow reader: lower those keys or raise "
            f"limits.send_queue_bytes to {largest * REPLY_SHARE} or more"]


def _event_problems(values: dict[str, Any], where: str) -> list[str]:
    from chatd.events import config_problem  # the frame's shape is the protocol's

    problem = config_problem(values["events.max_data_bytes"], values["limits.send_queue_bytes"])
    return [f"{where}: {problem}"] if problem else []


def find_config_file(explicit: str | None, env: dict[str, str] | None = None) -> Path | None:
    """The file to load: ``-c PATH``, else $CHATD_CONFIG, else ./chatd.yaml if
    it exists, else None (built-in defaults)."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    local = Path.cwd() / DEFAULT_FILE
    return local if local.is_file() else None


def load_config(path: Path | str | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a config file (None → defaults). ``overrides`` (top-level
    keys, from the command line: ``{"workers": 4}``) replace the file's values
    before validation, so every check applies to them too."""
    overrides = overrides or {}
    if path is None:
        return build_config(dict(overrides))
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml_load(text, str(path))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of keys to values, not {yaml_kind(data)}")
    return build_config({**data, **overrides}, path)


def changed_keys(old: Config, new: Config) -> list[str]:
    """Keys whose value differs between two configs, in SETTINGS order."""
    return [s.key for s in SETTINGS if old.get(s.key) != new.get(s.key)]


def reload_split(old: Config, new: Config) -> tuple[Config, list[str], list[str]]:
    """What a reload from ``old`` to ``new`` does: (the config then in effect,
    the live keys it applies, the changed keys only a restart applies). The
    latter keep their old values in the config in effect, so it always says
    what runs. Which keys are live: ``Setting.live``."""
    changed = changed_keys(old, new)
    live = [k for k in changed if BY_KEY[k].live]
    later = [k for k in changed if not BY_KEY[k].live]
    effective = copy.deepcopy(new)
    for key in later:
        section, _, name = key.rpartition(".")
        setattr(getattr(effective, section) if section else effective, name, old.get(key))
    return effective, live, later
