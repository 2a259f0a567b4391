"""Which addresses chatd's outgoing calls (webhooks) may reach: the SSRF guard.

A webhook URL is chosen by whoever holds an API key with the ``manage``
scope, or by the operator. Pointed at ``http://169.254.169.254/`` (cloud
metadata: credentials), ``http://127.0.0.1:6379/`` (the Redis bus) or a
host of the private network, chatd itself would become the attacker's
client inside the firewall — server-side request forgery (OWASP's SSRF
prevention cheat sheet). So by default only PUBLIC addresses may be
reached (``public``); ``webhooks.allowed_hosts`` lets the operator add
host names, addresses and CIDR networks (e.g. an internal bot service).

The check is made on the ADDRESS a name resolves to, at send time, by the
resolver the HTTP client connects through (``GuardedResolver``): the name is
resolved once, the addresses refused are dropped, and the client connects
to one that passed. A name that resolves to a public address when the URL is
checked and to 127.0.0.1 a second later (DNS rebinding) gains nothing: there
is no second resolution. Redirects are not followed (``chatd.webhooks``).

    allowed = Allowance.parse(["bots.internal", "10.1.2.0/24"])
    allowed.permits("bots.internal", ip_address("10.9.9.9"))      # True: the name is allowed
    allowed.permits("example.com", ip_address("127.0.0.1"))       # False: loopback
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tornado.netutil import DefaultExecutorResolver, Resolver

from chatd.yamltext import yaml_text

URL_MAX = 2000  # characters: what every HTTP stack on the way takes
SCHEMES = ("http", "https")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddress(OSError):
    """A webhook's host resolves only to addresses chatd may not reach; str() says which and why."""


def host_entry_problem(value: object) -> str | None:
    """Why ``value`` is not an entry of ``webhooks.allowed_hosts`` (a host name, an
    address or a CIDR network), or None when it is one."""
    if not isinstance(value, str) or not value.strip():
        return f"{yaml_text(value)} is not a host name, address or network"
    entry = value.strip()
    if _is_network(entry):
        try:
            ipaddress.ip_network(entry, strict=True)
        except ValueError as e:
            return f"{yaml_text(value)} is not an address or network: {e}"
        return None
    if any(c.isspace() or c in "@?#[]" for c in entry):
        return f"{yaml_text(value)} is not a host name"
    return None


def url_problem(value: object) -> str | None:
    """Why ``value`` is not a webhook URL (http or https, a host, no user name or
    password: they would land in logs; no fragment), or None when it is one.
    Which address it reaches is checked at send time (``GuardedResolver``)."""
    if not isinstance(value, str):
        return f"must be an http(s):// URL, not {yaml_text(value)}"
    if len(value) > URL_MAX:
        return f"is longer than {URL_MAX} characters"
    if any(c.isspace() or ord(c) < 0x20 or 0xD800 <= ord(c) < 0xE000 for c in value):
        return "holds white space or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number or out of range
    except ValueError as e:
        return f"is not a valid URL ({e})"
    if parts.scheme not in SCHEMES:
        return f"must start with http:// or https://, not {yaml_text(value[:40])}"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password; put secrets in the signing secret, not the URL"
    if parts.fragment:
        return "has a #fragment, which is never sent"
    return None


def _is_network(entry: str) -> bool:
    """Whether an allowed_hosts entry is meant as an address or network (else a host name)."""
    return any(c in entry for c in "/:") or entry.replace(".", "").isdigit()


def unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def public(address: Address) -> bool:
    """Whether ``address`` is a public unicast address: not loopback, private
    (RFC 1918, RFC 4193 unique-local), link-local (169.254/16, fe80::/10: cloud
    metadata lives there), shared (100.64/10), multicast, unspecified or
    reserved (the IANA special-purpose registries, which ``is_global`` follows)."""
    address = unmapped(address)
    return address.is_global and not (address.is_multicast or address.is_unspecified or address.is_reserved)


@dataclass(frozen=True)
class Allowance:
    """What the operator allowed beyond public addresses."""

    hosts: frozenset[str]  # host names, lower case
    networks: tuple[Network, ...]

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def parse(entries: Iterable[str]) -> Allowance:
        """``webhooks.allowed_hosts`` (checked by ``host_entry_problem``) as an Allowance.
        Cached: the live config value is passed per call."""
        hosts, networks = set(), []
        for entry in (e.strip() for e in entries):
            if _is_network(entry):
                networks.append(ipaddress.ip_network(entry, strict=True))
            else:
                hosts.add(entry.lower().rstrip("."))
        return Allowance(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: Address) -> bool:
        """Whether a call to ``host`` may connect to ``address`` (one it resolved to)."""
        address = unmapped(address)
        if host.lower().rstrip(".") in self.hosts or any(address in net for net in self.networks):
            return True
        return public(address)


class GuardedResolver(Resolver):
    """Resolves a name once (getaddrinfo in a thread: the loop never waits) and
    hands the HTTP client only the addresses ``allowance()`` permits;
    RefusedAddress if none. ``allowance``: → the Allowance in effect now."""

    def initialize(self, allowance) -> None:  # tornado's Configurable: initialize, not __init__
        self._allowance = allowance
        self._resolver = DefaultExecutorResolver()

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC) -> list:
        found = await self._resolver.resolve(host, port, family)
        allowance = self._allowance()
        kept = [(fam, sockaddr) for fam, sockaddr in found
                if allowance.permits(host, ipaddress.ip_address(sockaddr[0].split("%")[0]))]
        if not kept:
            addresses = ", ".join(sorted({sockaddr[0] for _, sockaddr in found}))
            raise RefusedAddress(f"{host} resolves to {addresses}, which is not a public address; "
                                 "list it in webhooks.allowed_hosts to allow it")
        return kept

    def close(self) -> None:
        self._resolver.close()
