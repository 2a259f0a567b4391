"""Limits per address: the keys and rules (pure), then a real server, real
WebSocket clients that claim addresses through X-Real-IP (the server's
default trusted proxy is 127.0.0.1, where the tests connect from), and a
clock the test moves by hand — so the rates are exact and nothing sleeps."""

from __future__ import annotations

import asyncio
import copy
import http.client
import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from chatd.abuse import AddressLimits, Kind, address_key
from chatd.server import Server
from chatd.settings import BY_KEY
from tests.conftest import Clock, until
from tests.wsclient import ChatClient


def defaults(section: str) -> dict[str, Any]:
    """The shipped defaults of a config section."""
    return {key.split(".", 1)[1]: s.default for key, s in BY_KEY.items() if key.startswith(section + ".")}


def settings(**changes: Any) -> SimpleNamespace:
    return SimpleNamespace(**{**defaults("address"), **changes})


# The rule, pure


@pytest.mark.parametrize(("address", "prefix", "key"), [
    ("203.0.113.9", 64, "203.0.113.9"),
    ("2001:db8:1:2:a:b:c:d", 64, "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"),  # the same /64: one key
    ("2001:db8:1:3::1", 64, "2001:db8:1:3::/64"),  # the next /64: another
    ("2001:db8:1:3::1", 48, "2001:db8:1::/48"),
    ("2001:db8::1", 128, "2001:db8::1/128"),
    ("::ffff:198.51.100.7", 64, "198.51.100.7"),  # what a dual-stack socket reports for IPv4
    ("/run/chatd.sock", 64, "/run/chatd.sock"),  # not an IP address: as given
])
def test_an_address_is_limited_by_itself_and_ipv6_by_its_network(address, prefix, key):
    assert address_key(address, prefix) == key


def test_each_kind_has_its_own_bucket_and_a_refusal_says_when_to_come_back():
    limits = AddressLimits(lambda: settings(guest_burst=2, guests_per_hour=60))
    key = limits.key("198.51.100.7")
    assert limits.take(Kind.GUEST, key, 0.0) is None
    assert limits.take(Kind.GUEST, key, 0.0) is None
    refusal = limits.take(Kind.GUEST, key, 0.0)
    assert refusal.kind == Kind.GUEST and refusal.seconds == 60
    assert refusal.message == ("too many new users from your network address (all its users together); "
                               "try again in 1 minute")
    assert limits.take(Kind.ROOM, key, 0.0) is None  # rooms: another bucket
    assert limits.take(Kind.GUEST, limits.key("198.51.100.8"), 0.0) is None  # another address
    assert limits.take(Kind.GUEST, key, 60.0) is None


def test_open_connections_are_capped_and_given_back():
    limits = AddressLimits(lambda: settings(max_connections=2))
    key = limits.key("198.51.100.7")
    assert limits.connect(key, 0.0) is None and limits.connect(key, 0.0) is None
    refusal = limits.connect(key, 0.0)
    assert refusal.kind == Kind.CONNECTIONS and "too many open connections" in refusal.message
    limits.disconnect(key)
    assert limits.open_connections(key) == 1
    assert limits.connect(key, 0.0) is None
    limits.disconnect(key)
    limits.disconnect(key)
    assert limits.open_connections(key) == 0 and limits.remembered() <= 2  # no entry left for the count


def test_connections_not_yet_websockets_are_capped_apart_and_given_back():
    limits = AddressLimits(lambda: settings(max_http_connections=2, max_connections=1))
    key = limits.key("198.51.100.7")
    assert limits.arrive(key, 0.0) is None and limits.arrive(key, 0.0) is None
    refusal = limits.arrive(key, 0.0)
    assert refusal.kind == Kind.HTTP and refusal.seconds == 30 and refusal.settings() == "address.max_http_connections"
    assert refusal.message.startswith("too many connections from your network address")
    assert limits.connect(key, 0.0) is None  # the WebSockets' count is another
    assert limits.arrive(limits.key("198.51.100.8"), 0.0) is None  # another address
    limits.depart(key)
    assert limits.http_connections(key) == 1 and limits.arrive(key, 0.0) is None
    limits.depart(key)
    limits.depart(key)
    limits.disconnect(key)
    assert limits.http_connections(key) == 0 and limits.open_connections(key) == 0
    assert limits.arrive(None, 0.0) is None  # exempt


def test_exempt_networks_are_never_limited():
    limits = AddressLimits(lambda: settings(exempt=["198.51.100.0/24", "2001:db8:5::/48"], guest_burst=1))
    assert limits.key("198.51.100.7") is None and limits.key("::ffff:198.51.100.7") is None
    assert limits.key("2001:db8:5:1::9") is None
    assert limits.key("198.51.101.1") == "198.51.101.1"
    assert all(limits.take(Kind.GUEST, None, 0.0) is None for _ in range(10))
    assert limits.connect(None, 0.0) is None


def test_a_limited_address_is_reported_once_a_minute_not_once_a_refusal():
    limits = AddressLimits(lambda: settings(rate_burst=1, rate_per_second=0.01))
    key = limits.key("198.51.100.7")
    limits.take(Kind.MESSAGE, key, 0.0)
    reports = [limits.take(Kind.MESSAGE, key, t / 10).report for t in range(1000)]  # 100 s of refusals
    assert reports.count(True) == 2 and reports[0]


def test_memory_stays_bounded_whatever_the_number_of_addresses():
    limits = AddressLimits(lambda: settings(), max_keys=500)
    for i in range(5000):  # 5000 different /64s, each making a guest
        limits.take(Kind.GUEST, limits.key(f"2001:db8:{i:x}::1"), 0.0)
    assert limits.remembered() <= 500


# A real server, with the shipped defaults for every limit


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"limits": defaults("limits"), "address": defaults("address")}


@pytest.fixture
def clock(server: Server) -> Clock:
    server.chat.clock = clock = Clock(1000.0)
    return clock


_names = itertools.count(1)


async def guest(ws_url: str, address: str, name: str | None = None) -> tuple[ChatClient, dict]:
    """A client connected as if from ``address``, identified as a new guest: (client, answer)."""
    client = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": address})
    answer = await client.identify(name=name or f"guest{next(_names)}")
    return client, answer


async def close_all(clients: list[ChatClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients))


async def attempt(ws_url: str, address: str) -> tuple[ChatClient | None, dict | int]:
    """A new guest from ``address``: (client, its identify's answer), or (None, the
    HTTP status that refused the handshake)."""
    try:
        return await guest(ws_url, address)
    except InvalidStatus as e:
        return None, e.response.status_code


async def test_two_hundred_guests_from_one_address_in_half_a_second_are_limited(ws_url, clock):
    """What a script did before: 200 guests from one address in 0.4 s."""
    outcomes = []
    for _ in range(200):
        clock.now += 0.002
        outcomes.append(await attempt(ws_url, "198.51.100.7"))
    clients = [client for client, _ in outcomes if client is not None]
    answers = [answer for client, answer in outcomes if client is not None]
    welcomed = [a for a in answers if a["type"] == "welcome"]
    refused = [a for a in answers if a["type"] == "error"]
    assert len(welcomed) == defaults("address")["guest_burst"] == 30
    assert {a["code"] for a in refused} == {"rate_limited"}
    assert refused[0]["message"] == ("too many new users from your network address (all its users together); "
                                     "try again in 10 seconds")
    assert 9_000 < refused[0]["retry_ms"] <= 10_000  # a guest every 10 s, the first already on its way
    assert refused[0]["limit"] == "new_users"
    # Connecting that fast is refused too: the burst of 100, then 10 a second (0.4 s: about 4 more).
    assert 100 < len(clients) <= 105
    assert {status for client, status in outcomes if client is None} == {429}
    # Another address is not affected; nor is a user of the limited one signing in with its token.
    other, answer = await guest(ws_url, "198.51.100.8")
    assert answer["type"] == "welcome"
    clock.now += 10  # a guest's worth at 360 an hour
    again = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.7"})
    assert (await again.identify(token=welcomed[0]["token"]))["type"] == "welcome"
    later, answer = await guest(ws_url, "198.51.100.7")
    assert answer["type"] == "welcome"
    await close_all([*clients, other, again, later])


async def test_a_flood_through_many_users_of_one_address_is_limited(ws_url, clock):
    clients = []
    for i in range(20):
        client, welcome = await guest(ws_url, "198.51.100.7", f"flooder{i}")
        assert welcome["type"] == "welcome"
        assert (await client.request("join", room="lobby"))["type"] == "joined"
        clients.append(client)
    # Each sends 15 messages: within its connection's and its user's burst (20, 40), 300 in all.
    for client in clients:
        for n in range(15):
            await client.send({"type": "say", "room": "lobby", "text": f"spam {n}", "cid": f"c{n}"})
    answers = [await c.expect_cid(f"c{n}") for c in clients for n in range(15)]
    acks = [a for a in answers if a["type"] == "ack"]
    refused = [a for a in answers if a["type"] == "error"]
    # The address's burst of 150 covered the 40 identify and join frames, then 110 messages.
    assert len(acks) == defaults("address")["rate_burst"] - 40
    assert {a["code"] for a in refused} == {"rate_limited"}
    assert "from your network address (all its users together)" in refused[0]["message"]
    assert refused[0]["retry_ms"] == 40  # 25 a second
    clock.now += 1  # 25 tokens a second come back
    await clients[0].send({"type": "say", "room": "lobby", "text": "later", "cid": "later"})
    assert (await clients[0].expect_cid("later"))["type"] == "ack"
    await close_all(clients)


async def test_ten_people_behind_one_nat_at_a_message_a_second_never_see_rate_limited(ws_url, server, clock):
    """The check a small community must pass: ten users on one address, each in a few
    rooms, each sending a message a second for two minutes, all at the same instant
    each second (the worst alignment); then all reconnect at once (a chatd restart)
    and resume. Nothing is refused."""
    rooms = ["lobby", "games", "work"]
    people = []
    for i in range(10):
        client, welcome = await guest(ws_url, "198.51.100.7", f"office{i}")
        assert welcome["type"] == "welcome", welcome
        people.append((client, welcome))
    for name in rooms[1:]:
        assert (await people[0][0].request("create", room=name))["type"] == "created"
    for client, _ in people:
        assert (await client.request("rooms"))["type"] == "rooms"
        for name in rooms:
            assert (await client.request("join", room=name))["type"] == "joined"
    for second in range(120):
        clock.now += 1
        for i, (client, _) in enumerate(people):
            await client.send({"type": "say", "room": rooms[i % 3], "text": f"{second}", "cid": f"s{second}"})
        answers = [await client.expect_cid(f"s{second}") for client, _ in people]
        assert all(a["type"] == "ack" for a in answers), answers
    await close_all([client for client, _ in people])
    # Everyone comes back at once and resumes: identify with the token, the room list, three joins.
    back = []
    for _, welcome in people:
        client = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.7"})
        back.append(client)
        await client.send({"type": "identify", "token": welcome["token"], "cid": "i"})
        await client.send({"type": "rooms", "cid": "r"})
        for name in rooms:
            await client.send({"type": "join", "room": name, "since": 0, "cid": f"j{name}"})
    for client in back:
        for cid in ["i", "r", *(f"j{name}" for name in rooms)]:
            assert (await client.expect_cid(cid))["type"] != "error"
    await close_all(back)


def handshake(port: int, address: str) -> tuple[int, str | None, bytes]:
    """A WebSocket handshake as if from ``address``: (status, Retry-After, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade", "X-Real-IP": address,
                                            "Sec-WebSocket-Version": "13",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        response = conn.getresponse()
        return response.status, response.getheader("Retry-After"), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("config_overrides", [{"address": {"connect_burst": 5, "connects_per_second": 1}}])
async def test_connecting_too_fast_is_refused_before_the_upgrade_with_429(server, ws_url, clock):
    clients = [await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.7"}) for _ in range(5)]
    with pytest.raises(InvalidStatus) as refused:
        await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.7"})
    response = refused.value.response
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert b"too many new connections from your network address" in response.body
    other = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.8"})
    clock.now += 1
    clients.append(await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.7"}))
    await close_all([*clients, other])


@pytest.mark.parametrize("config_overrides", [{"address": {"max_connections": 3}}])
async def test_an_address_holds_at_most_max_connections_and_gets_them_back_on_close(server, ws_url):
    clients = [await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "2001:db8:7:7::1"})
               for _ in range(3)]
    # Another address of the same /64 is the same host.
    status, retry_after, body = await asyncio.to_thread(handshake, server.port, "2001:db8:7:7::2")
    assert (status, retry_after) == (429, "30") and b"too many open connections" in body
    other_64 = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "2001:db8:7:8::1"})
    await clients[0].close()
    await clients[0].ws.wait_closed()
    # The server sees the close a moment after the client.
    await until(lambda: server.chat.admission.addresses.open_connections("2001:db8:7:7::/64") == 2, 5, "the close")
    clients[0] = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "2001:db8:7:7::3"})
    await close_all([*clients, other_64])


async def test_limits_are_live_on_reload_and_an_exempt_address_is_not_limited(server, ws_url, clock):
    clients = []
    for _ in range(31):
        client, answer = await guest(ws_url, "198.51.100.7")
        clients.append(client)
    assert clients[-1].backlog == [] and answer["code"] == "rate_limited"
    exempt = copy.deepcopy(server.config)  # what `chatd reload` does: a new config, applied live
    exempt.address.exempt = ["198.51.100.0/24"]
    assert server.reload(exempt) == (["address.exempt"], [])
    for _ in range(40):
        client, answer = await guest(ws_url, "198.51.100.7")
        clients.append(client)
        assert answer["type"] == "welcome"
    await close_all(clients)


@pytest.mark.parametrize("config_overrides", [{"address": {**defaults("address"), "exempt": ["198.51.100.0/24"],
                                                            "rate_per_second": 0.01, "rate_burst": 2}}])
async def test_a_reload_re_keys_open_connections_of_an_address_no_longer_exempt(server, ws_url, config_overrides):
    """address.exempt is live for the connections already open too: an exemption taken
    back mid-flood limits them at once, and their count moves to the address."""
    client = await ChatClient.connect(ws_url, additional_headers={"X-Real-IP": "198.51.100.7"})
    await client.enter("lobby", name="flooder")
    for i in range(4):  # exempt: past the address's burst of 2
        assert (await client.say("lobby", f"free {i}"))["type"] == "ack"
    addresses = server.chat.admission.addresses
    assert addresses.open_connections("198.51.100.7") == 0

    limited = copy.deepcopy(server.config)
    limited.address.exempt = []
    assert server.reload(limited) == (["address.exempt"], [])
    assert addresses.open_connections("198.51.100.7") == 1
    answers = [await client.say("lobby", f"limited {i}") for i in range(3)]
    assert [a["type"] for a in answers] == ["ack", "ack", "error"]
    assert "from your network address" in answers[-1]["message"]
    await client.close()
    await until(lambda: addresses.open_connections("198.51.100.7") == 0, what="the close released its count")
