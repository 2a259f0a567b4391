"""Limits per client address: what one address may do, all its users together.

One script on one address can make hundreds of guests and speak through
all of them, which per-connection and per-user limits never see. So the
address — as resolved through ``trusted_proxies`` (``chatd.proxies``) —
gets token buckets of its own: for new connections, messages, new guest
users and new rooms, plus caps on its open WebSockets and on its other open
connections (accepted, not WebSockets yet). Pure: no I/O, the clock is the
caller's (seconds).

    limits = AddressLimits(lambda: config.address)
    key = limits.key("2001:db8:1:2::7")          # '2001:db8:1:2::/64'; None when exempt
    refusal = limits.connect(key, now)           # None (counted), or a Refusal
    refusal = limits.take(Kind.GUEST, key, now)  # None, or Refusal(kind, retry_after)
    limits.disconnect(key)
    refusal = limits.arrive(key, now)            # a connection not yet a WebSocket; limits.depart(key)

**IPv6.** A host usually holds a whole /64 (SLAAC, privacy addresses), so
an IPv6 address is limited by its /64 network (``address.ipv6_prefix``).

**Several processes.** On a cluster the rate buckets are on Redis
(``chatd.cluster.limits``, driven by ``chatd.chat``, with ``rule`` and
``refusal`` from here); the open connections are counted by each node.

Settings are read on every call, so ``chatd reload`` applies them at once.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chatd.durations import duration_text, whole_seconds
from chatd.proxies import in_networks, parse_networks
from chatd.ratelimit import BucketTable

# Keys computed lately, kept: each connection's address is keyed at its accept and again at its
# handshake, ~3 µs each with ipaddress; the recent clients' addresses, ~300 bytes each.
KEYS_KEPT = 4096
MAX_KEYS = 100_000  # addresses remembered per kind: ~200 bytes each, so at most ~20 MB per kind
CONNECTIONS_RETRY_AFTER = 30  # seconds to suggest when an address holds all its connections
REPORT_EVERY = 60  # seconds: a limited address is worth one log line a minute per kind, not one per refusal
HOUR = 3600


class Kind(StrEnum):
    """What an address does that is limited."""

    CONNECTIONS = "connections"  # open at once (a cap, not a rate)
    HTTP = "http"  # connections open at once that are not (yet) WebSockets (a cap: chatd.web.pending)
    CONNECT = "connect"  # new WebSocket connections
    MESSAGE = "message"  # WebSocket messages, all the address's connections together
    GUEST = "guest"  # new users (identify with a name and no token)
    ROOM = "room"  # rooms created


@dataclass(frozen=True)
class Rule:
    rate: str  # the setting under `address.` giving the refill
    burst: str  # the setting giving the burst
    per: float  # seconds the rate is counted over
    what: str  # how a refusal names what was too many


# A refusal's kind as the ``limit`` field of a ``rate_limited`` error names it (the others are
# HTTP answers, which have no such field).
LIMITS = {Kind.MESSAGE: "address", Kind.GUEST: "new_users", Kind.ROOM: "new_rooms"}
RULES = {
    Kind.CONNECT: Rule("connects_per_second", "connect_burst", 1, "new connections"),
    Kind.MESSAGE: Rule("rate_per_second", "rate_burst", 1, "messages"),
    Kind.GUEST: Rule("guests_per_hour", "guest_burst", HOUR, "new users"),
    Kind.ROOM: Rule("rooms_per_hour", "room_burst", HOUR, "new rooms"),
}


# The kinds that cap what is open at once, and the setting under `address.` that gives the cap.
CAPS = {Kind.CONNECTIONS: "max_connections", Kind.HTTP: "max_http_connections"}


@dataclass(frozen=True)
class Refusal:
    """An address over a limit: what, and in how many seconds to try again.
    ``report``: the first refusal of this kind for this address in
    REPORT_EVERY seconds, the one worth a line in the log."""

    kind: Kind
    retry_after: float
    report: bool = False

    @property
    def seconds(self) -> int:
        """``retry_after`` in whole seconds, at least 1 (as HTTP Retry-After wants)."""
        return whole_seconds(self.retry_after)

    @property
    def message(self) -> str:
        """The text a refused client is told."""
        if self.kind == Kind.CONNECTIONS:
            return "too many open connections from your network address; close some tabs or try again later"
        if self.kind == Kind.HTTP:
            return ("too many connections from your network address waiting for or between requests; "
                    "try again later")
        return (f"too many {RULES[self.kind].what} from your network address (all its users together); "
                f"try again in {duration_text(self.retry_after)}")

    @property
    def limit(self) -> str:
        """The ``limit`` field of the ``rate_limited`` error it becomes (docs/protocol.md, "error")."""
        return LIMITS.get(self.kind, str(self.kind))

    def settings(self) -> str:
        """The settings behind this limit, for the operator's log."""
        if self.kind in CAPS:
            return f"address.{CAPS[self.kind]}"
        rule = RULES[self.kind]
        return f"address.{rule.rate}, address.{rule.burst}"


@functools.lru_cache(maxsize=KEYS_KEPT)
def address_key(address: str, ipv6_prefix: int) -> str:
    """The key an address is limited under: an IPv4 address itself
    (``"203.0.113.9"``), an IPv6 address's network of ``ipv6_prefix`` bits
    (``"2001:db8:1:2::/64"``), an IPv4-mapped IPv6 address as IPv4; anything
    that is not an IP address (a Unix socket peer) as given. Cached (``KEYS_KEPT``)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


class AddressLimits:
    """The per-address limits of one process. ``settings()`` returns the
    current ``address`` section of the config (read on every call)."""

    def __init__(self, settings: Callable[[], Any], max_keys: int = MAX_KEYS):
        self._settings = settings
        self._tables = {kind: BucketTable(max_keys) for kind in RULES}
        self._open: collections.Counter[str] = collections.Counter()  # key → open WebSocket connections
        self._http: collections.Counter[str] = collections.Counter()  # key → open connections not WebSockets
        self._reports = BucketTable(max_keys)  # "kind key" → one token per REPORT_EVERY seconds

    def key(self, address: str) -> str | None:
        """The key ``address`` is limited under; None when it is in ``address.exempt``."""
        s = self._settings()
        if s.exempt and in_networks(address, parse_networks(s.exempt)):
            return None
        return address_key(address, s.ipv6_prefix)

    def take(self, kind: Kind, key: str | None, now: float) -> Refusal | None:
        """Count one ``kind`` (a rate kind) for ``key`` at clock reading ``now``:
        None when allowed (and counted), else a Refusal (not counted)."""
        if key is None:
            return None
        wait = self._tables[kind].take(key, *self.rule(kind), now)
        return self.refusal(kind, key, wait, now) if wait else None

    def rule(self, kind: Kind) -> tuple[float, float]:
        """The bucket of a rate kind as the settings say now: (tokens per second, burst)."""
        s, rule = self._settings(), RULES[kind]
        return getattr(s, rule.rate) / rule.per, getattr(s, rule.burst)

    def connect(self, key: str | None, now: float, rate: bool = True) -> Refusal | None:
        """A new connection from ``key``: refused when the address holds
        ``address.max_connections`` already or (``rate``) connects too fast;
        otherwise counted as open until ``disconnect(key)``. ``rate`` False:
        the caller counts the rate elsewhere (on a cluster, on Redis)."""
        if key is None:
            return None
        refusal = self._capped(Kind.CONNECTIONS, self._open, key, now)
        if refusal is None and rate:
            refusal = self.take(Kind.CONNECT, key, now)
        if refusal is None:
            self._open[key] += 1
        return refusal

    def arrive(self, key: str | None, now: float) -> Refusal | None:
        """A connection from ``key`` accepted, not (yet) a WebSocket: refused when the
        address holds ``address.max_http_connections`` such already; otherwise counted
        until ``depart(key)`` (when it closes or becomes a WebSocket: chatd.web.pending)."""
        if key is None:
            return None
        refusal = self._capped(Kind.HTTP, self._http, key, now)
        if refusal is None:
            self._http[key] += 1
        return refusal

    def depart(self, key: str | None) -> None:
        """A connection ``arrive`` counted has closed or become a WebSocket."""
        _give_back(self._http, key)

    def _capped(self, kind: Kind, counts: collections.Counter[str], key: str, now: float) -> Refusal | None:
        """The refusal of a ``kind`` in CAPS when ``key`` holds its cap already, else None."""
        if counts[key] >= getattr(self._settings(), CAPS[kind]):
            return self.refusal(kind, key, CONNECTIONS_RETRY_AFTER, now)
        return None

    def refusal(self, kind: Kind, key: str, retry_after: float, now: float) -> Refusal:
        """A refusal of ``kind`` for ``key``, to try again in ``retry_after`` seconds
        (``report`` set on the first in REPORT_EVERY seconds)."""
        report = self._reports.take(f"{kind} {key}", 1 / REPORT_EVERY, 1, now) == 0
        return Refusal(kind, retry_after, report)

    def disconnect(self, key: str | None) -> None:
        """A connection ``connect`` counted has closed."""
        _give_back(self._open, key)

    def move(self, old: str | None, new: str | None) -> None:
        """An open connection counted under ``old`` counts under ``new`` from now on (the
        settings that make its key changed: a reload). Never refused: it is open already."""
        self.disconnect(old)
        if new is not None:
            self._open[new] += 1

    def open_connections(self, key: str) -> int:
        return self._open[key]

    def http_connections(self, key: str) -> int:
        """Connections of ``key`` counted by ``arrive`` and not yet by ``depart``."""
        return self._http[key]

    def remembered(self) -> int:
        """Keys held in memory, every kind together (for tests and figures)."""
        return sum(len(t) for t in self._tables.values()) + len(self._open) + len(self._http) + len(self._reports)


def _give_back(counts: collections.Counter[str], key: str | None) -> None:
    """One connection fewer for ``key`` (None: exempt, never counted); a key at 0 is forgotten."""
    if key is None:
        return
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
