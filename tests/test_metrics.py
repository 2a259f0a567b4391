"""/metrics (chatd.metrics, chatd.web.probes): the Prometheus text format, parsed by
prometheus_client's own parser; counters that move with real traffic; histograms of the
writer and the event loop; served to allowed addresses (as resolved through trusted
proxies) or with the bearer token, refused to anyone else with nothing in the answer."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatd import metrics
from chatd.server import Server
from tests.conftest import until

TOKEN = "6f1c0a9e4b7d2f8a3c5e1b9d7f0a2c4e"  # 32 random-looking hex digits


def get(server: Server, path: str = "/metrics", **headers: str) -> tuple[int, Message, str]:
    """(status, headers, body) of a GET on the server, from 127.0.0.1."""
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers, reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


async def scrape(server: Server, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    status, head, body = await asyncio.to_thread(get, server, "/metrics", **headers)
    assert status == 200, body
    assert head["Content-Type"].startswith("text/plain; version=")  # the Prometheus text format
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_parse_and_counters_move_with_traffic(server, user, connect):
    before = await scrape(server)
    alice, bob = await user("alice", "lobby"), await user("bob", "lobby")
    for i in range(3):
        assert (await alice.say("lobby", f"hello {i}"))["type"] == "ack"
    await alice.say(None, "psst", to=bob.welcome["user"]["id"])
    await bob.expect("message", text="psst")
    bad = await alice.request("join", room="no such room!")
    assert bad["type"] == "error"
    await until(lambda: len(server.sockets) == 2, what="two connections counted")
    await until(lambda: server.monitor.peak >= 2, what="a tick of the monitor")

    after = await scrape(server)
    assert value(after, "chatd_messages_stored_total", kind="room", source="chat") - \
        value(before, "chatd_messages_stored_total", kind="room", source="chat") == 3
    assert value(after, "chatd_messages_stored_total", kind="private", source="chat") - \
        value(before, "chatd_messages_stored_total", kind="private", source="chat") == 1
    # Each room message reached both users' sessions; the private one sender and recipient.
    assert value(after, "chatd_deliveries_total") - value(before, "chatd_deliveries_total") >= 3 * 2 + 2
    assert value(after, "chatd_delivery_bytes_total") > value(before, "chatd_delivery_bytes_total")
    assert value(after, "chatd_errors_total", code=bad["code"]) - value(before, "chatd_errors_total",
                                                                       code=bad["code"]) == 1
    assert value(after, "chatd_writer_batch_size_count") > value(before, "chatd_writer_batch_size_count")
    assert value(after, "chatd_writer_commit_seconds_count") > value(before, "chatd_writer_commit_seconds_count")
    assert value(after, "chatd_writer_commit_seconds_bucket", le="+Inf") == \
        value(after, "chatd_writer_commit_seconds_count")
    assert value(after, "chatd_event_loop_lag_seconds_count") >= 1
    assert ("chatd_event_loop_lag_seconds_bucket", (("le", "0.001"),)) in after
    assert value(after, "chatd_rooms") >= 1 and value(after, "chatd_bus_connected") == 1


async def scraped(server: Server, condition: Any, timeout: float = 15.0,
                  what: str = "metrics") -> dict[tuple[str, tuple], float]:
    """Scrape until ``condition(samples)`` holds, within ``timeout`` seconds: the gauges are
    set once a second (chatd.monitor)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        samples = await scrape(server)
        if condition(samples):
            return samples
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_the_hot_counts_reach_their_counters_at_the_end_of_the_pass_or_before_a_read():
    def counts() -> tuple[float, float]:
        samples = metrics.snapshot()  # a read: flushes first
        return samples["chatd_deliveries_total"], samples["chatd_delivery_bytes_total"]

    frames, sent = counts()
    metrics.delivered(3, 10)
    metrics.delivered(2, 5)
    assert (metrics.DELIVERIES._value.get(), metrics.DELIVERY_BYTES._value.get()) == (frames, sent)  # tallied
    await asyncio.sleep(0)  # the pass ends
    assert (metrics.DELIVERIES._value.get(), metrics.DELIVERY_BYTES._value.get()) == (frames + 5, sent + 40)
    metrics.delivered(1, 7)
    assert counts() == (frames + 6, sent + 47)


def test_without_a_running_loop_counts_reach_their_counters_at_once():
    metrics.flush()  # (what an earlier test's loop left)
    before = metrics.DELIVERIES._value.get()
    metrics.delivered(4, 1)
    assert metrics.DELIVERIES._value.get() == before + 4


async def test_the_gauges_follow_connections_and_users(server, user):
    clients = [await user(f"u{i}", "lobby") for i in range(3)]
    await scraped(server, lambda s: value(s, "chatd_connections") == 3 and value(s, "chatd_users_online") == 3,
                  what="3 connections and users")
    await clients[0].close()
    await scraped(server, lambda s: value(s, "chatd_connections") == 2 and value(s, "chatd_users_online") == 2,
                  what="2 connections and users")


async def test_rate_limit_refusals_are_counted_by_kind(tmp_path):
    from tests.conftest import make_config

    server = Server(make_config(tmp_path, limits={"rate_per_second": 0.01, "rate_burst": 2}))
    await server.start()
    try:
        from tests.wsclient import ChatClient

        async with ChatClient.connect(f"ws://127.0.0.1:{server.port}/ws") as client:
            before = await scrape(server)
            await client.identify(name="flood")  # 1 of 2
            await client.request("ping")  # 2 of 2
            refused = await client.request("ping")
            assert refused["code"] == "rate_limited"
            after = await scrape(server)
        assert value(after, "chatd_rate_limited_total", kind="connection") - \
            value(before, "chatd_rate_limited_total", kind="connection") == 1
        assert value(after, "chatd_errors_total", code="rate_limited") > \
            value(before, "chatd_errors_total", code="rate_limited")
    finally:
        await server.stop(timeout=5)


@pytest.mark.parametrize("config_overrides", [{"metrics": {"allow": ["10.0.0.0/8"]}}])
async def test_metrics_are_refused_to_an_address_not_allowed(server, config_overrides):
    status, head, body = await asyncio.to_thread(get, server)
    assert status == 403
    assert "chatd_" not in body and "python_" not in body and "process_" not in body
    assert head["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in head  # no token configured: there is nothing to bring


async def test_a_proxied_client_is_judged_by_its_own_address(server):
    """nginx on this machine (a trusted proxy) passes a remote client's address: that one is judged."""
    status, _, body = await asyncio.to_thread(get, server, "/metrics", **{"X-Real-IP": "203.0.113.9"})
    assert status == 403 and "chatd_" not in body
    status, _, _ = await asyncio.to_thread(get, server, "/metrics", **{"X-Real-IP": "127.0.0.1"})
    assert status == 200


@pytest.mark.parametrize("config_overrides", [{"metrics": {"allow": [], "token": TOKEN}}])
async def test_the_token_opens_metrics_to_any_address(server, config_overrides):
    status, head, body = await asyncio.to_thread(get, server)
    assert status == 401 and head["WWW-Authenticate"].startswith("Bearer") and "chatd_" not in body
    status, _, body = await asyncio.to_thread(get, server, "/metrics", Authorization="Bearer " + TOKEN[:-1] + "0")
    assert status == 401 and "chatd_" not in body
    samples = await scrape(server, Authorization=f"Bearer {TOKEN}")
    assert ("chatd_rooms", ()) in samples
    for scheme in ("bearer", "BEARER", "bEaReR"):  # RFC 9110 §11.1: the scheme is case-insensitive
        assert ("chatd_rooms", ()) in await scrape(server, Authorization=f"{scheme}  {TOKEN} ")
    for wrong in (f"Basic {TOKEN}", f"Bearer{TOKEN}", TOKEN):
        assert (await asyncio.to_thread(get, server, "/metrics", Authorization=wrong))[0] == 401, wrong


async def test_the_token_file_is_read_at_each_scrape(tmp_path):
    from tests.conftest import make_config

    path = tmp_path / "metrics.token"
    path.write_text(TOKEN + "\n")
    server = Server(make_config(tmp_path, metrics={"allow": [], "token_file": str(path)}))
    await server.start()
    try:
        await scrape(server, Authorization=f"Bearer {TOKEN}")
        renewed = "9d2b7e41c0f3a8562e1d9b4c7a0f3e68"
        path.write_text(renewed)
        status, _, _ = await asyncio.to_thread(get, server, "/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 401
        await scrape(server, Authorization=f"Bearer {renewed}")
    finally:
        await server.stop(timeout=5)


def test_a_weak_or_doubled_token_is_a_config_error(tmp_path):
    from chatd.config import ConfigError
    from tests.conftest import make_config

    with pytest.raises(ConfigError, match="metrics.token"):
        make_config(tmp_path, metrics={"token": "short"})
    with pytest.raises(ConfigError, match="metrics.token"):
        make_config(tmp_path, metrics={"token": TOKEN, "token_file": str(tmp_path / "t")})
    with pytest.raises(ConfigError, match="metrics.allow"):
        make_config(tmp_path, metrics={"allow": ["10.0.0.1/8"]})
