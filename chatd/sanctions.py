"""The mutes and bans in force, as each node keeps them in memory, and the
rules of their input. Pure: no I/O; times are ms since the epoch (UTC), the
store's clock.

The store is the truth (``chatd.store.moderation``); each node loads what is
in force at start and again whenever a node says it changed (a cluster
notice, ``chatd.moderation``). A sanction with an end stops counting at its
``until`` here, with no timer and no notice: every check compares with now.

    sanctions = Sanctions()
    sanctions.load(mutes, bans)
    mute = sanctions.mute_of(user_id, room_id, now)       # the one that holds longest, or None
    ban = sanctions.user_ban(user_id, now) or sanctions.address_ban("203.0.113.7", now)
    network = checked_network("2001:db8::/32", own)       # canonical text; ValueError saying why not
"""

from __future__ import annotations

import ipaddress
import math

from chatd.durations import duration_text
from chatd.proxies import Network, parse_address
from chatd.store.moderation import Ban, Mute, outlasts

NETWORK_TEXT_MAX = 64  # characters of an address or network as typed; the longest IPv6 CIDR has 43
# The widest network a ban may name, by IP version: an IPv4 /8 (16 million addresses, the largest
# block a registry ever handed out) and an IPv6 /16 (wider than any registry's allocation). A wider
# one is a typo, or would shut out much of the Internet with everyone else (docs/operations.md).
WIDEST_PREFIX = {4: 8, 6: 16}


def checked_network(text: object, own: str | None = None) -> str:
    """An address or CIDR network to ban, as typed (``"203.0.113.7"``, ``"198.51.100.0/24"``,
    ``"2001:db8::/32"``) → its canonical text (an address alone is its /32 or /128; an
    IPv4-mapped IPv6 address is IPv4, as chatd.proxies resolves clients). ``own``: the address
    the banning admin acts from (as resolved through the trusted proxies), or None.
    ValueError saying what is wrong: not text, not an address, host bits set (``10.0.0.1/8``:
    a typo that would ban another range than meant), a zone id (``fe80::1%eth0``: an
    interface of one host, which no client address carries), wider than WIDEST_PREFIX, or
    holding ``own`` (the admin would lock themselves out)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("an address or network must be given, such as 203.0.113.7, 198.51.100.0/24 or "
                         "2001:db8::/32")
    if len(text) > NETWORK_TEXT_MAX:
        raise ValueError(f"an address or network is at most {NETWORK_TEXT_MAX} characters")
    typed = text.strip()
    if "%" in typed:
        raise ValueError(f"{typed!r} has a zone id (%...): that names a network interface of one machine, and "
                         "clients' addresses carry none; give the address without it")
    try:
        network = ipaddress.ip_network(typed, strict=True)
    except ValueError as e:
        raise ValueError(f"{typed!r} is not an address or CIDR network: {e}") from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped and network.prefixlen >= 96:
        network = ipaddress.IPv4Network((network.network_address.ipv4_mapped, network.prefixlen - 96))
    widest = WIDEST_PREFIX[network.version]
    if network.prefixlen < widest:
        raise ValueError(f"{network} is too wide a network to ban: an IPv{network.version} ban is at least "
                         f"/{widest} ({network} would keep out a large part of the Internet)")
    mine = parse_address(own) if own is not None else None
    if mine is not None and mine.version == network.version and mine in network:
        raise ValueError(f"{network} holds {mine}, the address you act from: this would ban your own address")
    return str(network)


def until_of(seconds: int | None, now: int) -> int | None:
    """When a sanction of ``seconds`` (None: no end) made at ``now`` ends, in ms."""
    return None if seconds is None else now + seconds * 1000


def seconds_left(until: int | None, now: int) -> float | None:
    """Seconds until ``until`` (None: no end), at least a millisecond."""
    return None if until is None else max(0.001, (until - now) / 1000)


def lasting(sanction: Ban | Mute, now: int) -> str:
    """How long a ban or mute lasts from ``now``, as a refusal says it (``chatd.durations``):
    "for 10 minutes", "for 1 hour 30 minutes", "for good"."""
    left = seconds_left(sanction.until, now)
    return "for good" if left is None else f"for {duration_text(left)}"


class Sanctions:
    """The mutes and bans in force, by what they are checked by."""

    def __init__(self) -> None:
        self.mutes: dict[int, dict[int | None, Mute]] = {}  # user id → room id (None: everywhere) → mute
        self.user_bans: dict[int, Ban] = {}
        self.network_bans: list[tuple[Network, Ban]] = []

    def load(self, mutes: list[Mute], bans: list[Ban]) -> None:
        """Replace everything with what the store has in force. Of two in one place (two nodes
        banning a user in the same instant may both store theirs), the longer holds, as one
        would have kept it (``chatd.store.moderation``: a sanction never shortens one)."""
        self.mutes = {}
        for mute in mutes:
            held = self.mutes.setdefault(mute.user_id, {})
            if mute.room_id not in held or outlasts(mute.until, held[mute.room_id].until):
                held[mute.room_id] = mute
        self.user_bans = {}
        for ban in bans:
            if ban.user_id is not None and (ban.user_id not in self.user_bans
                                            or outlasts(ban.until, self.user_bans[ban.user_id].until)):
                self.user_bans[ban.user_id] = ban
        self.network_bans = [(ipaddress.ip_network(ban.network), ban) for ban in bans if ban.network is not None]

    def mute_of(self, user_id: int, room_id: int | None, now: int) -> Mute | None:
        """The mute that keeps the user from saying something in room ``room_id`` (None: a
        private message, which only a mute everywhere stops) at ``now``: of those in force,
        the one that lasts longest; None when it may."""
        held = self.mutes.get(user_id)  # the hot path of every say: one dict lookup when nobody is muted
        if not held:
            return None
        found = [m for m in (held.get(None), held.get(room_id) if room_id is not None else None)
                 if m is not None and _in_force(m.until, now)]
        return max(found, key=lambda m: math.inf if m.until is None else m.until, default=None)

    def all_mutes(self, now: int) -> list[Mute]:
        """The mutes in force at ``now``, by id."""
        return sorted((m for held in self.mutes.values() for m in held.values() if _in_force(m.until, now)),
                      key=lambda m: m.id)

    def bans(self, now: int) -> list[Ban]:
        """The bans in force at ``now``, user and network bans, by id."""
        found = [*self.user_bans.values(), *(ban for _, ban in self.network_bans)]
        return sorted((b for b in found if _in_force(b.until, now)), key=lambda b: b.id)

    def user_ban(self, user_id: int, now: int) -> Ban | None:
        """The ban of the user in force at ``now``, or None."""
        ban = self.user_bans.get(user_id)
        return ban if ban is not None and _in_force(ban.until, now) else None

    def address_ban(self, address: str | None, now: int) -> Ban | None:
        """A ban in force at ``now`` of a network holding ``address`` (as resolved through
        the trusted proxies), or None; None for what is no IP address (a Unix socket peer)."""
        if not self.network_bans or address is None:
            return None
        ip = parse_address(address)
        if ip is None:
            return None
        return next((ban for network, ban in self.network_bans
                     if ip.version == network.version and ip in network and _in_force(ban.until, now)), None)


def _in_force(until: int | None, now: int) -> bool:
    return until is None or until > now
