"""The client's address, as resolved through trusted reverse proxies.

A request's socket peer is the client, unless the peer is one of the
``trusted_proxies``: only then are its ``X-Forwarded-For`` / ``X-Real-IP``
headers believed. A client that reaches chatd directly can put anything in
those headers, so from anyone else they are ignored.

    >>> trusted = parse_networks(["127.0.0.1", "::1"])
    >>> client_address("127.0.0.1", ["203.0.113.9, 198.51.100.7"], None, trusted)
    '198.51.100.7'
    >>> client_address("198.51.100.7", [], "10.0.0.1", trusted)   # not a proxy: headers ignored
    '198.51.100.7'

Pure logic: the web layer calls it once per request (``request.remote_ip``),
and so can any other front end (an API node, a later cluster gateway).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from chatd.yamltext import yaml_text

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Addresses whose parse (and text) are kept: the recent clients'. A miss costs what no cache would.
ADDRESSES_KEPT = 4096
# nginx on this machine connects to 127.0.0.1 from 127.0.0.1 (nginx/chatd.conf). Not all of
# 127.0.0.0/8: a client at another loopback address would be taken for a proxy.
DEFAULT_TRUSTED = ("127.0.0.1", "::1")


def network_problem(value: object) -> str | None:
    """Why ``value`` is not an address or CIDR network (``"10.0.0.0/8"``,
    ``"::1"``), or None when it is one. Host bits set (``"10.0.0.1/8"``) are
    refused: such a typo would trust a different range than meant."""
    if not isinstance(value, str):
        return f"{yaml_text(value)} is not a string"
    try:
        ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as e:
        return f"{yaml_text(value)} is not an address or network: {e}"
    return None


@functools.lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=True) for v in values)


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["127.0.0.0/8", "::1"]`` → networks; ValueError for an entry that
    ``network_problem`` refuses. Cached: the web layer calls it per request
    with the current (live-reloadable) config value."""
    return _networks(tuple(values))


@functools.lru_cache(maxsize=ADDRESSES_KEPT)
def parse_address(text: str) -> Address | None:
    """An address from a header value or socket peer; IPv4-mapped IPv6
    (``::ffff:10.0.0.1``, what a dual-stack socket reports) as plain IPv4,
    and an IPv6 zone id (``fe80::1%eth0``: an interface of the machine that
    wrote it) dropped: a client's address carries none (bans refuse them,
    ``chatd.sanctions``). Cached: a handshake parses its peer twice (its
    address, its limits' key), ``ipaddress`` ~2 µs each."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    """Whether the client address ``address`` (text; IPv4-mapped IPv6 counts as IPv4) is in one of
    ``networks``; False for what is no IP address (a Unix socket peer)."""
    ip = parse_address(address)
    return ip is not None and _trusted(ip, networks)


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)


def request_address(peer: str, headers: Any, trusted_proxies: Iterable[str]) -> str:
    """``client_address`` of an HTTP request: ``headers`` as Tornado's
    ``HTTPHeaders`` (``get_list``, ``get``), ``trusted_proxies`` as the config has them."""
    return client_address(peer, headers.get_list("X-Forwarded-For"), headers.get("X-Real-IP"),
                          parse_networks(trusted_proxies))


def client_address(peer: str, forwarded_for: Sequence[str], real_ip: str | None,
                   trusted: Sequence[Network]) -> str:
    """The client's address for a request whose socket peer is ``peer``.

    ``forwarded_for``: every ``X-Forwarded-For`` header of the request, in
    order (each may hold a comma-separated list); ``real_ip``: its
    ``X-Real-IP`` header or None.

    The rule (as nginx's realip module with ``real_ip_recursive on``, and
    RFC 7239 §5.2 for the order of hops): if the peer is not trusted, it is
    the client. Otherwise walk ``X-Forwarded-For`` from the right, past every
    trusted address; the first address not trusted is the client. Each proxy
    appends the address it saw, so everything left of that entry was written
    by the client itself and is never believed. If every hop is trusted, the
    left-most is the client (a client on the proxies' own network). An entry
    that is not an address stops the walk at the last trusted hop; an empty
    one is no entry (nginx skips them too). Without ``X-Forwarded-For``, or
    with only empty ones, a valid ``X-Real-IP`` from a trusted peer is used.

    Returns an address string in canonical form (IPv4-mapped IPv6 unmapped);
    a peer that is not an IP address (a Unix socket) is returned as given.
    """
    address = parse_address(peer)
    if address is None or not _trusted(address, trusted):
        return _text(address) if address else peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    if not hops:
        claimed = parse_address(real_ip) if real_ip else None
        return _text(claimed or address)
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            break  # an unparsable hop: nothing left of it can be believed
        address = hop_address
        if not _trusted(address, trusted):
            break
    return _text(address)


# An address's canonical text (ipaddress formats it anew, ~1 µs, at every str()).
_text = functools.lru_cache(maxsize=ADDRESSES_KEPT)(str)
