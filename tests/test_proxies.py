"""The client's address through trusted proxies: the rule, then a real
server whose clients try to claim other addresses."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path

import pytest

from chatd.proxies import client_address, network_problem, parse_networks
from tests.conftest import make_config
from tests.ops_fixtures import Chatd, wait_for
from tests.wsclient import ChatClient

LOCAL = parse_networks(["127.0.0.0/8", "::1"])
LOCAL_AND_LAN = parse_networks(["127.0.0.0/8", "::1", "10.0.0.0/8"])


@pytest.mark.parametrize(("peer", "xff", "real_ip", "trusted", "expected"), [
    # a client that is no proxy: its headers are ignored, whatever they say
    ("198.51.100.7", ["10.0.0.1"], "10.0.0.2", LOCAL, "198.51.100.7"),
    ("127.0.0.2", ["203.0.113.1"], "203.0.113.2", parse_networks(["127.0.0.1"]), "127.0.0.2"),
    ("127.0.0.1", ["203.0.113.1"], "203.0.113.2", (), "127.0.0.1"),  # trusted_proxies: []
    # nginx on this machine: the right-most entry is what nginx saw; the client wrote the rest
    ("127.0.0.1", ["198.51.100.7"], "198.51.100.7", LOCAL, "198.51.100.7"),
    ("127.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7", LOCAL, "198.51.100.7"),
    ("127.0.0.1", ["6.6.6.6", "198.51.100.7"], None, LOCAL, "198.51.100.7"),  # two header lines, in order
    # a chain of trusted proxies: skip each of them from the right
    ("127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], None, LOCAL_AND_LAN, "198.51.100.7"),
    ("127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], None, LOCAL, "10.1.2.3"),
    # every hop trusted: a client on the proxies' own network, the left-most
    ("127.0.0.1", ["127.0.0.2"], "127.0.0.2", LOCAL, "127.0.0.2"),
    ("127.0.0.1", ["10.0.0.5, 127.0.0.2"], None, LOCAL_AND_LAN, "10.0.0.5"),
    # a hop that is no address: nothing left of it is believed
    ("127.0.0.1", ["198.51.100.7, unknown"], None, LOCAL, "127.0.0.1"),
    ("127.0.0.1", ["198.51.100.7, junk, 10.1.2.3"], None, LOCAL_AND_LAN, "10.1.2.3"),
    ("127.0.0.1", ["203.0.113.1:4711"], None, LOCAL, "127.0.0.1"),
    # an empty entry is no entry (nginx skips them): an empty header is no header
    ("127.0.0.1", [", 198.51.100.7"], None, LOCAL, "198.51.100.7"),
    ("127.0.0.1", ["198.51.100.7, "], None, LOCAL, "198.51.100.7"),
    ("127.0.0.1", ["198.51.100.7", " "], "203.0.113.2", LOCAL, "198.51.100.7"),
    ("127.0.0.1", [""], "203.0.113.2", LOCAL, "203.0.113.2"),
    ("127.0.0.1", ["", " , "], None, LOCAL, "127.0.0.1"),
    # X-Real-IP alone, from a trusted peer, if it is an address
    ("127.0.0.1", [], "198.51.100.7", LOCAL, "198.51.100.7"),
    ("127.0.0.1", [], "not an address", LOCAL, "127.0.0.1"),
    ("127.0.0.1", [], None, LOCAL, "127.0.0.1"),
    # IPv6, canonical forms, dual-stack peers
    ("::1", [" 2001:DB8::0:1 "], None, LOCAL, "2001:db8::1"),
    ("::ffff:127.0.0.1", ["198.51.100.7"], None, LOCAL, "198.51.100.7"),
    ("::ffff:198.51.100.7", ["6.6.6.6"], None, LOCAL, "198.51.100.7"),
    ("127.0.0.1", ["::ffff:198.51.100.7"], None, LOCAL, "198.51.100.7"),
    # an IPv6 zone id names an interface of the machine that wrote it: no part of a client's address
    ("127.0.0.1", ["fe80::1%eth0"], None, LOCAL, "fe80::1"),
    ("127.0.0.1", [], "fe80::1%eth0", LOCAL, "fe80::1"),
    ("fe80::2%eth0", ["6.6.6.6"], None, LOCAL, "fe80::2"),
    ("fe80::2%eth0", [], None, parse_networks(["fe80::/64"]), "fe80::2"),
])
def test_client_address(peer, xff, real_ip, trusted, expected):
    assert client_address(peer, xff, real_ip, trusted) == expected


@pytest.mark.parametrize(("value", "problem"), [
    ("127.0.0.0/8", None), ("::1", None), ("10.1.2.3", None), ("2001:db8::/32", None),
    ("10.0.0.1/8", "has host bits set"), ("localhost", "is not an address or network"),
    ("10.0.0.0/33", "is not an address or network"), (8, "is not a string"),
])
def test_network_problem(value, problem):
    result = network_problem(value)
    assert result is None if problem is None else problem in result


SPOOF = {"X-Real-IP": "6.6.6.6", "X-Forwarded-For": "7.7.7.7, 6.6.6.6"}


@pytest.mark.parametrize(("local", "trusted", "headers", "expected"), [
    ("127.0.0.2", ["127.0.0.1"], SPOOF, "127.0.0.2"),  # not a proxy: cannot claim an address
    ("127.0.0.2", [], SPOOF, "127.0.0.2"),
    ("127.0.0.1", ["127.0.0.1"], {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}, "198.51.100.7"),  # the proxy
])
async def test_connections_and_logs_show_the_resolved_address(chatd_install: Chatd, local, trusted, headers,
                                                              expected):
    d = chatd_install
    d.config["trusted_proxies"] = trusted
    d.write_config()
    assert (await asyncio.to_thread(d.start)).returncode == 0
    async with ChatClient.connect(d.ws_url, local_addr=(local, 0), additional_headers=headers) as eve:
        assert (await eve.identify(name="eve"))["type"] == "welcome"
        rows = await asyncio.to_thread(d.connections)
        assert [r["remote_address"] for r in rows] == [expected]
    # An HTTP request the log records (a 404) names the same address, and no claimed one.
    status = await asyncio.to_thread(_get, d.port, "/no-such-page", local, headers)
    assert status == 404
    log = await asyncio.to_thread(wait_for, lambda: f"404 GET /no-such-page ({expected})" in d.log() and d.log(),
                                  what="the access log line")
    assert "6.6.6.6" not in log and "7.7.7.7" not in log


def _get(port: int, path: str, local: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(local, 0))
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


async def test_trusted_proxies_is_live(server, ws_url, tmp_path: Path):
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    async with ChatClient.connect(ws_url, additional_headers=forwarded) as first:
        await first.identify(name="first")
        assert [r["remote_address"] for r in server.connections()] == ["198.51.100.7"]
    live, later = server.reload(make_config(tmp_path, trusted_proxies=[]))
    assert "trusted_proxies" in live and not later
    async with ChatClient.connect(ws_url, additional_headers=forwarded) as second:
        await second.identify(name="second")
        assert [r["remote_address"] for r in server.connections() if r["user"]["name"] == "second"] == ["127.0.0.1"]

