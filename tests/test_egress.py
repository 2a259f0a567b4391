"""Which addresses webhooks may reach (chatd.egress): the SSRF guard."""

from __future__ import annotations

import ipaddress

import pytest

from chatd.egress import Allowance, GuardedResolver, RefusedAddress, host_entry_problem, public, url_problem


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
                                     "::1", "::", "fd00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
                                     "::ffff:169.254.169.254", "192.0.2.1"])
def test_internal_addresses_are_not_public(address):
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are(address):
    assert public(ipaddress.ip_address(address))


def test_the_operator_may_allow_names_addresses_and_networks():
    allowed = Allowance.parse(("Bots.Internal", "10.1.2.0/24", "::1"))
    assert allowed.permits("bots.internal.", ipaddress.ip_address("10.9.9.9"))  # the name: whatever it resolves to
    assert allowed.permits("x.example", ipaddress.ip_address("10.1.2.200"))
    assert allowed.permits("x.example", ipaddress.ip_address("::1"))
    assert not allowed.permits("x.example", ipaddress.ip_address("10.1.3.1"))
    assert not allowed.permits("other.internal", ipaddress.ip_address("10.9.9.9"))


@pytest.mark.parametrize(("entry", "problem"), [("10.0.0.1/8", "has host bits set"), ("a b", "not a host name"),
                                                ("", "not a host name"), (7, "not a host name")])
def test_bad_allowed_hosts_entries_are_named(entry, problem):
    assert problem in host_entry_problem(entry)


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://x.example/", "must start with http"), ("http:///path", "names no host"),
    ("https://user:pw@x.example/", "user name or password"), ("https://x.example/#f", "fragment"),
    ("https://x.example:99999/", "not a valid URL"), ("https://x.example/a b", "white space"),
    ("https://x.example/\ud800", "control"), (None, "must be an http(s):// URL"),
    ("https://x.example/" + "a" * 2000, "longer than"),
])
def test_bad_webhook_urls_are_named(url, problem):
    assert problem in url_problem(url)


async def test_the_resolver_checks_the_address_a_name_resolves_to():
    resolver = GuardedResolver(allowance=lambda: Allowance.parse(()))
    try:
        with pytest.raises(RefusedAddress, match="localhost resolves to .*127.0.0.1"):
            await resolver.resolve("localhost", 80)
        with pytest.raises(RefusedAddress):
            await resolver.resolve("169.254.169.254", 80)
    finally:
        resolver.close()
    allowing = GuardedResolver(allowance=lambda: Allowance.parse(("127.0.0.0/8",)))
    try:
        assert {sockaddr[0] for _, sockaddr in await allowing.resolve("localhost", 80)} <= {"127.0.0.1"}
    finally:
        allowing.close()
