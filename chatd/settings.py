"""Every setting of chatd.yaml, declared once: ``SETTINGS``.

Each ``Setting`` has its dotted key, default, check, whether a reload can
apply it live, whether it is a file path, and a one-line doc. The loader
(``chatd.config``), ``chatd check-config``, the reload diff and the docs test
all read this table, so a key cannot exist in one place and be missing in
another. A check takes a value and returns the problem with it, or None.

    >>> BY_KEY["limits.max_text_chars"].default
    4000
    >>> BY_KEY["workers"].check(0)
    'must be between 1 and 256, not 0'
    >>> parse_listen("[::1]:8080")
    ('::1', 8080)
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatd.dsn import (
    BUS_PASSWORD_ENV,
    DATABASE_PASSWORD_ENV,
    POSTGRES_SCHEMES,
    REDIS_SCHEMES,
    edge_space,
    redacted,
    scheme,
    url_problem,
)
from chatd.egress import host_entry_problem
from chatd.egress import url_problem as webhook_url_problem
from chatd.filetypes import UPLOAD_TYPES
from chatd.loops import event_loop_problem
from chatd.origins import origin_problem
from chatd.proxies import DEFAULT_TRUSTED, network_problem
from chatd.yamltext import yaml_text

Check = Callable[[Any], str | None]  # returns a problem, or None when fine


def _int(lo: int, hi: int) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, int) or isinstance(v, bool):
            return f"must be a whole number, not {yaml_text(v)}"
        if not lo <= v <= hi:
            return f"must be between {lo} and {hi}, not {yaml_text(v)}"
        return None

    return check


def _number(lo: float, hi: float) -> Check:
    shown = [str(int(b)) if float(b).is_integer() else str(b) for b in (lo, hi)]  # 1000000000, not 1e9's 1000000000.0
    def check(v: Any) -> str | None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return f"must be a number, not {yaml_text(v)}"
        if not lo <= v <= hi:
            return f"must be between {shown[0]} and {shown[1]}, not {yaml_text(v)}"
        return None

    return check


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, not {yaml_text(v)}"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) else f"must be a string, not {yaml_text(v)}"


def _path(v: Any) -> str | None:
    """A file chatd must have (the pidfile, the control socket): "" names none."""
    return _text(v) or (None if v else "must name a file, not be empty")


def _one_of(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(choices)}, not {yaml_text(v)}"

    return check


_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})$")


def parse_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` → ``("127.0.0.1", 8080)``; ``"[::1]:80"`` → ``("::1", 80)``."""
    m = _LISTEN.match(value)
    if not m or not 0 <= int(m["port"]) <= 65535:
        raise ValueError(f"must be host:port, like 127.0.0.1:8080 or [::1]:8080, not {yaml_text(value)}")
    return (m["v6"] or m["host"] or "0.0.0.0"), int(m["port"])


def _listen(v: Any) -> str | None:
    if not isinstance(v, str):
        return f"must be a string host:port, not {yaml_text(v)}"
    try:
        parse_listen(v)
    except ValueError as e:
        return str(e)
    return None


def _room_list(v: Any) -> str | None:
    from chatd.names import name_keys  # the one rule for names that look alike
    from chatd.protocol.roomnames import room_name_problem  # the one rule for room names

    if not isinstance(v, list):
        return f"must be a list of room names, not {yaml_text(v)}"
    seen: dict[str, str] = {}  # name key → the room that has it
    for name in v:
        problem = room_name_problem(name) if isinstance(name, str) else "is not a string"
        if problem:
            return f"room {yaml_text(name)} {problem}"
        like = next((seen[k] for k in name_keys(name) if k in seen), None)
        if like is not None:
            return (f"room {yaml_text(name)} looks like room {yaml_text(like)}: two rooms cannot have names "
                    "that look alike")
        seen.update(dict.fromkeys(name_keys(name), name))
    return None


def _database(v: Any) -> str | None:
    if not isinstance(v, str) or not v:
        return f"must be an SQLite file path or a postgresql:// URL, not {yaml_text(v)}"
    space = edge_space(v)  # " postgresql://..." would be taken for a file name
    if space:
        return f"{space}: {yaml_text(redacted(v))}"
    return (url_problem(v, POSTGRES_SCHEMES) or _uninstalled("psycopg", "a PostgreSQL URL")) if scheme(v) else None


def _bus(v: Any) -> str | None:
    if v == "":
        return None
    if not isinstance(v, str):
        return f'must be "" (in-process) or a redis:// URL, not {yaml_text(v)}'
    return url_problem(v, REDIS_SCHEMES) or _uninstalled("redis", "a Redis URL")


def _uninstalled(package: str, what: str) -> str | None:
    """The problem when ``package``, which a value naming ``what`` needs, is not installed."""
    try:
        importlib.import_module(package)
    except ImportError:
        return f"is {what}, but {package} is not installed: install it (pip install 'chatd[cluster]')"
    return None


def _algorithms(v: Any) -> str | None:
    from chatd.auth.apptokens import algorithm_problem  # the one list of algorithms, with the reasons

    if not isinstance(v, list) or not v:
        return f"must be a non-empty list of JWT algorithms, like [HS256], not {yaml_text(v)}"
    return next((p for p in map(algorithm_problem, v) if p), None)


_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _host(v: Any) -> str | None:
    if isinstance(v, str) and _HOST.match(v):
        return None
    return f"holds {yaml_text(v)}, which is not a host name (lower case, no scheme, port or path: cdn.example.com)"


def _upload_types(v: Any) -> str | None:
    if not isinstance(v, list):
        return f"must be a list of file kinds, not {yaml_text(v)}"
    unknown = [t for t in v if t not in UPLOAD_TYPES]
    return f"names {yaml_text(unknown[0])}, which is not one of {', '.join(UPLOAD_TYPES)}" if unknown else None


def _list_of(problem: Check) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, list):
            return f"must be a list, not {yaml_text(v)}"
        return next((p for p in map(problem, v) if p), None)

    return check


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    check: Check
    doc: str
    live: bool = False  # applied by `chatd reload` without a restart
    path: bool = False  # a file path, resolved against the config file's directory


SETTINGS: tuple[Setting, ...] = (
    Setting("listen", "127.0.0.1:8080", _listen, "address and port to serve HTTP and WebSocket on"),
    Setting("database", "chatd.db", _database, "SQLite database file, or a postgresql:// URL "
            "(docs/operations.md, \"Scaling out\")", path=True),
    Setting("database_password_file", "", _text, 'file whose first line is the PostgreSQL password; "" = the '
            f"URL's, else ${DATABASE_PASSWORD_ENV}, else libpq's (PGPASSWORD, ~/.pgpass)", path=True),
    Setting("bus", "", _bus, 'how the processes of a cluster tell each other of new messages: "" = in-process '
            "(one process), or a redis:// URL"),
    Setting("bus_password_file", "", _text, 'file whose first line is the Redis password; "" = the URL\'s, '
            f"else ${BUS_PASSWORD_ENV}", path=True),
    Setting("workers", 1, _int(1, 256), "server processes on this machine, sharing the listening port; "
            "more than 1 needs a bus"),
    Setting("cluster.heartbeat_interval", 1.0, _number(0.1, 60), "seconds between a node's heartbeats on the bus"),
    Setting("cluster.node_timeout", 5.0, _number(0.5, 600),
            "seconds without a heartbeat after which a node counts as dead: its users leave everywhere"),
    Setting("pidfile", "chatd.pid", _path, "pid file, locked while the server runs", path=True),
    Setting("logfile", "chatd.log", _text, 'log file; "" logs to standard error only', path=True),
    Setting("log_level", "info", _one_of("debug", "info", "warning", "error"), "log level", live=True),
    Setting("control_socket", "chatd.sock", _path,
            "Unix socket (owner-only) that chatd status/connections/reload/restart/stop/backup use", path=True),
    Setting("stop_timeout", 10, _number(0.5, 3600),
            "seconds a stop may take before connections are cut and the process exits", live=True),
    Setting("event_loop", "auto", event_loop_problem, "the event loop: auto = uvloop when installed "
            "(pip install 'chatd[uvloop]'), else asyncio's own; asyncio; uvloop (an error when not installed)"),
    Setting("trusted_proxies", list(DEFAULT_TRUSTED), _list_of(network_problem),
            "addresses/networks of reverse proxies whose X-Forwarded-For / X-Real-IP are believed", live=True),
    Setting("allowed_origins", [], _list_of(origin_problem),
            "origins of web pages, besides the page's own host, that may open the WebSocket", live=True),
    Setting("websocket.ping_interval", 25, _number(0.1, 3600), "seconds between WebSocket pings"),
    Setting("websocket.ping_timeout", 20, _number(0.1, 3600), "seconds to wait for a pong before closing"),
    Setting("limits.max_frame_bytes", 65536, _int(256, 16 * 1024 * 1024),
            "largest WebSocket message accepted, in payload bytes, all its fragments together; "
            "larger closes with 1009"),
    Setting("limits.max_text_chars", 4000, _int(1, 1_000_000), "longest message text", live=True),
    Setting("limits.send_queue_bytes", 1048576, _int(65536, 1 << 30),
            "outgoing bytes queued for one connection before it is cut off", live=True),
    Setting("limits.rate_per_second", 10, _number(0.01, 1e9),
            "messages (text or binary; control frames are free) per second per connection", live=True),
    Setting("limits.rate_burst", 20, _number(1, 1e9), "burst of messages per connection", live=True),
    Setting("limits.user_rate_per_second", 20, _number(0.01, 1e9),
            "messages per second per user, all connections together", live=True),
    Setting("limits.user_rate_burst", 40, _number(1, 1e9), "burst of messages per user", live=True),
    Setting("limits.search_per_minute", 30, _number(0.01, 1e9),
            "searches per minute per connection (a search costs more than a message)", live=True),
    Setting("limits.search_burst", 10, _number(1, 1e9), "burst of searches per connection", live=True),
    Setting("limits.flood_strikes", 20, _int(1, 1_000_000),
            "after this many rate_limited errors in a row the connection is closed with 1008; "
            "the close frame follows the last error at once", live=True),
    Setting("address.exempt", [], _list_of(network_problem),
            "addresses/networks never limited per address (per-connection and per-user limits still apply)",
            live=True),
    Setting("address.ipv6_prefix", 64, _int(32, 128),
            "an IPv6 client is limited with every address of its network of this many bits", live=True),
    Setting("address.max_connections", 200, _int(1, 1_000_000), "WebSocket connections open at once per address",
            live=True),
    Setting("address.max_http_connections", 200, _int(1, 1_000_000),
            "connections open at once per address that are not WebSockets (a request on its way, under way or "
            "awaited on a kept-alive connection, a handshake); not counted from trusted_proxies",
            live=True),
    Setting("address.connects_per_second", 10, _number(0.01, 1e9), "new WebSocket connections per second per address",
            live=True),
    Setting("address.connect_burst", 100, _number(1, 1e9), "burst of new WebSocket connections per address",
            live=True),
    Setting("address.rate_per_second", 25, _number(0.01, 1e9),
            "messages per second per address, all its connections and users together", live=True),
    Setting("address.rate_burst", 150, _number(1, 1e9), "burst of messages per address", live=True),
    Setting("address.guests_per_hour", 360, _number(0.01, 1e9),
            "new guest users (identify with a name, no token) per hour per address", live=True),
    Setting("address.guest_burst", 30, _number(1, 1e9), "burst of new guest users per address", live=True),
    Setting("address.rooms_per_hour", 20, _number(0.01, 1e9), "rooms created per hour per address", live=True),
    Setting("address.room_burst", 10, _number(1, 1e9), "burst of rooms created per address", live=True),
    Setting("rooms.default", ["lobby"], _room_list, "rooms that always exist (created at start and reload)",
            live=True),
    Setting("rooms.allow_create", True, _bool, "whether users may create rooms", live=True),
    Setting("rooms.max_rooms", 1000, _int(1, 1_000_000), "most rooms the server holds", live=True),
    Setting("rooms.max_per_creator", 20, _int(0, 1_000_000),
            "most rooms one user may have created that still exist; 0 = no limit", live=True),
    Setting("rooms.unused_expiry_seconds", 3600, _number(0, 365 * 86400),
            "a room never written in, with nobody in it for this long, is removed (not rooms.default); 0 = never",
            live=True),
    Setting("rooms.online_interval", 10, _number(1, 3600),
            "seconds between pushes of changed online counts to clients that listen to the room list", live=True),
    Setting("rooms.member_list_max", 500, _int(0, 1_000_000),
            "rooms with more users online get a partial member list and no presence events", live=True),
    Setting("history.join_count", 50, _int(0, 10_000), "messages sent on join", live=True),
    Setting("history.page_max", 100, _int(1, 10_000), "most messages per history request", live=True),
    Setting("history.replay_max", 500, _int(1, 100_000), "most missed messages replayed on resume", live=True),
    Setting("history.page_bytes", 262144, _int(1024, 1 << 30),
            "most bytes of messages (or rooms) in one reply; the rest is fetched page by page", live=True),
    Setting("messages.edit_window_seconds", 3600, _number(0, 365 * 86400),
            "seconds after sending during which authors may edit and delete their messages; 0 = never", live=True),
    Setting("history.retention_days", 0, _int(0, 36500),
            "days messages are kept, then purged (a room may have its own); 0 = for ever", live=True),
    Setting("identity.secret", "", _text, 'key that signs resume tokens, at least 32 random bytes; '
            '"" = identity.secret_file, else generated and kept in the database'),
    Setting("identity.secret_file", "", _text, 'file holding the key that signs resume tokens, instead of '
            'identity.secret; "" = none', path=True),
    Setting("identity.token_ttl_days", 30, _number(0.001, 3650), "days a resume token stays valid", live=True),
    Setting("identity.name_hold_seconds", 300, _number(0, 30 * 86400),
            "seconds a name stays reserved for its user after it left or renamed; 0 = free at once", live=True),
    Setting("identity.guests", True, _bool, "whether people may chat as guests (identify with a name); false = "
            "only the web app's users (app tokens) and their resume tokens", live=True),
    Setting("identity.avatar_hosts", [], _list_of(_host),
            "hosts whose avatar URLs (an app token's avatar claim) clients are shown; [] = none: a browser that "
            "loads a third-party image tells its host who reads the chat", live=True),
    Setting("app_tokens.secret", "", _text, "shared secret the web app signs its users' JWTs with (HS256/384/512), "
            'at least 32 random bytes; "" = app_tokens.secret_file, else none', live=True),
    Setting("app_tokens.secret_file", "", _text, 'file holding app_tokens.secret instead; "" = none', live=True,
            path=True),
    Setting("app_tokens.public_key_file", "", _text, "PEM public key that verifies the web app's JWTs "
            '(RS*, PS*, ES*, EdDSA); "" = none. Read again on reload', live=True, path=True),
    Setting("app_tokens.algorithms", ["HS256"], _algorithms,
            "JWT algorithms accepted (HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 "
            "EdDSA); never none", live=True),
    Setting("app_tokens.audience", "", _text, 'the aud an app token must carry; "" = not checked', live=True),
    Setting("app_tokens.issuer", "", _text, 'the iss an app token must carry; "" = not checked', live=True),
    Setting("app_tokens.leeway_seconds", 30, _number(0, 3600),
            "seconds of clock difference allowed when checking an app token's exp, nbf and iat", live=True),
    Setting("api.max_body_bytes", 1048576, _int(1024, 64 * 1024 * 1024),
            "largest HTTP API request body accepted, in bytes; larger is refused with 413", live=True),
    Setting("api.batch_max", 1000, _int(1, 100_000), "most operations in one POST /api/v1/batch", live=True),
    Setting("api.rate_per_second", 200, _number(0.01, 1e9),
            "HTTP API operations per second per key (each item of a batch counts), per process", live=True),
    Setting("api.rate_burst", 2000, _number(1, 1e9), "burst of HTTP API operations per key", live=True),
    Setting("api.idempotency_hours", 24, _number(24, 24 * 365),
            "hours an Idempotency-Key of the HTTP API is remembered (at least 24)", live=True),
    Setting("events.max_data_bytes", 8192, _int(2, 60_000),
            "largest notification payload (`data`, as compact JSON), in bytes; at most 60000, as one travels "
            "between nodes in one bus item", live=True),
    Setting("events.ttl_days", 7, _number(0.001, 365),
            "days a stored notification is kept for a user who has not received it: the default and the "
            "maximum of a request's ttl_seconds", live=True),
    Setting("events.replay_max", 100, _int(1, 10_000),
            "most stored notifications sent to a client when it identifies (the newest ones)", live=True),
    Setting("uploads.max_bytes", 10 * 1024 * 1024, _int(1024, 1 << 30),
            "largest file a user may upload, in bytes; a larger body is refused with 413 as soon as that is "
            "known, never read whole", live=True),
    Setting("uploads.quota_bytes", 200 * 1024 * 1024, _int(0, 1 << 50),
            "most bytes of files one user may keep stored (originals, thumbnails not counted); 0 = no limit",
            live=True),
    Setting("uploads.types", list(UPLOAD_TYPES), _upload_types,
            "the kinds of file users may upload, decided by their content, never by name or Content-Type: "
            f"any of {', '.join(UPLOAD_TYPES)}", live=True),
    Setting("uploads.max_pixels", 40_000_000, _int(1, 1 << 31),
            "largest image accepted, in pixels (width × height, times the frames of an animation): "
            "larger, a decompression bomb, is refused", live=True),
    Setting("uploads.per_minute", 30, _number(0.01, 1e9), "uploads per minute per user, per process", live=True),
    Setting("uploads.burst", 10, _number(1, 1e9), "burst of uploads per user", live=True),
    Setting("uploads.unattached_hours", 24, _number(1, 24 * 365),
            "hours an upload not attached to any message is kept, then purged", live=True),
    Setting("page.image_hosts", [], _list_of(_host),
            "hosts whose images, linked in messages, the page shows inline; [] = none: a browser that loads a "
            "third-party image tells its host who reads the chat. The page's img-src admits them", live=True),
    Setting("store.batch_max", 512, _int(1, 100_000), "most messages committed in one transaction"),
    Setting("store.synchronous", "normal", _one_of("normal", "full"),
            "normal survives a crash of chatd; full also a power loss, at a cost in speed"),
)

APP_EVENTS = ("user_online", "user_offline", "message")  # what the app webhook can be told (chatd.appwebhooks)


def _webhook_url(v: Any) -> str | None:
    return None if v == "" else webhook_url_problem(v)


def _app_events(v: Any) -> str | None:
    if not isinstance(v, list) or any(e not in APP_EVENTS for e in v):
        return f"must be a list of some of {', '.join(APP_EVENTS)}, not {yaml_text(v)}"
    return None


SETTINGS += (
    Setting("webhooks.allowed_hosts", [], _list_of(host_entry_problem),
            "host names, addresses and CIDR networks webhooks may reach besides public addresses (the default "
            "refuses loopback, private, link-local and other internal addresses: docs/operations.md, \"Webhooks\")",
            live=True),
    Setting("webhooks.timeout_seconds", 5, _number(0.1, 120), "seconds a webhook call may take, connecting included",
            live=True),
    Setting("webhooks.retries", 3, _int(0, 10), "times a failed webhook call is tried again", live=True),
    Setting("webhooks.backoff_seconds", 1.0, _number(0.01, 3600),
            "seconds before the first retry; each next one waits twice as long, with jitter", live=True),
    Setting("webhooks.queue_max", 1000, _int(1, 1_000_000),
            "webhook calls waiting (retries included); more are dropped, counted and logged", live=True),
    Setting("webhooks.concurrency", 8, _int(1, 256), "webhook calls under way at once", live=True),
    Setting("webhooks.app_url", "", _webhook_url, 'URL the web app is told of user_online, user_offline and '
            'message at; "" = no app webhook', live=True),
    Setting("webhooks.app_secret", "", _text, "key that signs the app webhook's calls (at least 32 bytes)",
            live=True),
    Setting("webhooks.app_secret_file", "", _text, 'file holding webhooks.app_secret instead; "" = none',
            live=True, path=True),
    Setting("webhooks.app_events", list(APP_EVENTS), _app_events, "what the app webhook is told", live=True),
    Setting("webhooks.presence_debounce_seconds", 5, _number(0, 3600),
            "seconds a user must stay offline before user_offline is sent (a page reload sends nothing)",
            live=True),
)

SETTINGS += (
    Setting("admin.session_hours", 12, _number(0.1, 24 * 30),
            "hours an admin page session lasts at most from its login, however busy", live=True),
    Setting("admin.idle_minutes", 60, _number(1, 24 * 60 * 30),
            "minutes an admin page session lasts unused", live=True),
    Setting("admin.login_attempts", 5, _int(1, 1000),
            "admin page logins one address, and one account name, may try in a burst before being slowed down",
            live=True),
    Setting("admin.login_refill_seconds", 60, _number(1, 86400),
            "seconds until one more admin login attempt is allowed, once the burst is spent", live=True),
    Setting("metrics.allow", ["127.0.0.1", "::1"], _list_of(network_problem),
            "addresses/networks that may read /metrics (the client's address as resolved through trusted_proxies); "
            "[] = none: only with the token", live=True),
    Setting("metrics.token", "", _text, 'bearer token that lets any address read /metrics (at least 32 random bytes; '
            '"" = metrics.token_file, else none)', live=True),
    Setting("metrics.token_file", "", _text, 'file holding metrics.token instead; "" = none', live=True, path=True),
    Setting("admin.read_private", False, _bool, "whether the admin chat log, admin search and exports show "
            "private messages to admins (never to moderators; a privacy decision: off by default)", live=True),
)

BY_KEY = {s.key: s for s in SETTINGS}
# Keys a `chatd restart` cannot apply: its successor inherits the listening socket, the control
# socket and the locked pidfile (docs/operations.md, "Reload and restart"); `chatd stop` and
# `chatd start` apply them.
RESTART_KEEPS = ("listen", "pidfile", "control_socket")

# Keys that existed once: a config that still has one gets told what replaced it,
# not just "unknown key", since its meaning did not carry over silently.
RETIRED = {
    "proxy_headers": "was replaced by 'trusted_proxies': delete it. X-Forwarded-For / X-Real-IP are now "
                     "believed only from the addresses listed in trusted_proxies (default: 127.0.0.1 and ::1, a "
                     "proxy on this machine); proxy_headers: false is trusted_proxies: []",
}
