"""Names and rate limits across nodes on a real Redis (chatd/cluster/names.py,
limits.py, shared.py): nodes joined by a BusNet, with ``bus`` set to the
test's own redis-server."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as redis

from chatd.cluster.shared import SharedRedis
from tests.webapp import WebApp

pytestmark = pytest.mark.redis


async def test_two_nodes_never_both_admit_look_alike_names(cluster_nodes, redis_server):
    c = await cluster_nodes(2, bus=redis_server.url)
    a, b = c.nodes
    c.net.drop = lambda item: True  # the bus tells nothing in time: only the claims on Redis decide
    first, second = await c.client(a), await c.client(b)
    answers = await asyncio.gather(first.identify(name="Mark"), second.identify(name="Mаrk"))  # Cyrillic а
    assert sorted(answer["type"] for answer in answers) == ["error", "welcome"]
    assert next(answer for answer in answers if answer["type"] == "error")["code"] == "name_taken"
    again = await (await c.client(b)).identify(name="MARK")
    assert again["code"] == "name_taken"


async def test_a_name_is_held_on_redis_after_its_user_leaves_and_its_user_takes_it_back(cluster_nodes, redis_server):
    c = await cluster_nodes(2, bus=redis_server.url)
    a, b = c.nodes
    c.net.drop = lambda item: True
    mark = await c.user(a, "Mark")
    await mark.close()
    await c.settle()
    refused = await (await c.client(b)).identify(name="mark")
    assert refused["code"] == "name_taken" and "kept for its user" in refused["message"]
    back = await (await c.client(b)).identify(token=mark.welcome["token"])
    assert back["type"] == "welcome" and back["user"]["name"] == "Mark"


async def test_the_names_of_a_node_that_stops_stay_held_on_redis_for_their_users(cluster_nodes, redis_server):
    """A node's restart or stop (its successor, or another node, takes the users): the claims on
    Redis outlive it, so nothing is written to the database for it (chatd.store.nameholds)."""
    c = await cluster_nodes(2, bus=redis_server.url)
    a, b = c.nodes
    c.net.drop = lambda item: True  # b hears nothing from a: only the claims on Redis decide
    mark = await c.user(a, "Mark")
    assert a.chat.identity.saved is None
    c.nodes.remove(a)
    await a.stop(timeout=5)
    refused = await (await c.client(b)).identify(name="M\u0430rk")
    assert refused["code"] == "name_taken" and "'Mark'" in refused["message"]
    back = await (await c.client(b)).identify(token=mark.welcome["token"])
    assert back["type"] == "welcome" and back["user"] == mark.welcome["user"]


async def test_app_users_share_a_name_across_nodes_and_hold_it_against_guests(cluster_nodes, redis_server):
    app = WebApp()
    c = await cluster_nodes(2, bus=redis_server.url, app_tokens={"secret": app.secret})
    a, b = c.nodes
    c.net.drop = lambda item: True  # only the claims on Redis decide
    guest = await c.user(a, "John")
    johns = await asyncio.gather((await c.client(a)).identify(app_token=app.token("u-2")),
                                 (await c.client(b)).identify(app_token=app.token("u-3")))
    assert [j["type"] for j in johns] == ["welcome", "welcome"], "never locked out, by a guest or each other"
    await guest.close()
    refused = await (await c.client(b)).identify(name="JOHN")
    assert refused["code"] == "name_taken"


async def test_a_users_rate_holds_across_nodes(cluster_nodes, redis_server):
    c = await cluster_nodes(2, bus=redis_server.url, limits={"user_rate_per_second": 0.01, "user_rate_burst": 3})
    a, b = c.nodes
    here = await c.user(a, "alice")  # identify counts for the connection and the address only
    assert (await here.request("ping"))["type"] == "pong"  # 1 of the user's 3
    there = await c.user(b, "alice", token=here.welcome["token"])
    assert (await there.request("ping"))["type"] == "pong"  # 2
    assert (await there.request("ping"))["type"] == "pong"  # 3
    refused = await there.request("ping")
    assert refused["code"] == "rate_limited" and "from this user" in refused["message"]
    again = await here.request("ping")
    assert again["code"] == "rate_limited" and "from this user" in again["message"]


async def test_an_addresss_new_users_are_counted_across_nodes(cluster_nodes, redis_server):
    c = await cluster_nodes(2, bus=redis_server.url, address={"guests_per_hour": 0.01, "guest_burst": 2})
    a, b = c.nodes
    await c.user(a, "one")
    await c.user(b, "two")
    refused = await (await c.client(a)).identify(name="three")
    assert refused["code"] == "rate_limited" and "new users from your network address" in refused["message"]


async def test_a_redis_outage_does_not_stop_the_chat(cluster_nodes, redis_server, caplog):
    c = await cluster_nodes(2, bus=redis_server.url)
    a, b = c.nodes
    redis_server.stop()
    with caplog.at_level(logging.WARNING, "chatd.cluster"):
        alice = await c.user(a, "alice", "lobby")
        assert (await alice.say("lobby", "still here"))["type"] == "ack"
    assert "Redis failed" in caplog.text
    await c.settle()
    refused = await (await c.client(b)).identify(name="alice")  # names still hold through the bus
    assert refused["code"] == "name_taken"


async def test_names_and_limits_hold_across_nodes_at_once_after_a_redis_restart(cluster_nodes, redis_server, caplog):
    """The connection Redis dropped is replaced at the first command after the
    restart: nothing falls back to per-node, nothing is logged as a failure."""
    c = await cluster_nodes(2, bus=redis_server.url)
    a, b = c.nodes
    c.net.drop = lambda item: True  # only the claims on Redis decide
    await c.user(a, "Mark")  # a's connection to Redis is made (and idle now)
    await c.user(b, "Other")
    redis_server.restart()  # empty: the claims are gone, the connections dead
    with caplog.at_level(logging.WARNING, "chatd.cluster"):
        assert (await (await c.client(a)).identify(name="Zoe"))["type"] == "welcome"
        refused = await (await c.client(b)).identify(name="ZOE")  # a's claim reached the new Redis
    assert refused["code"] == "name_taken"
    assert "Redis failed" not in caplog.text


async def test_a_password_redis_starts_refusing_is_logged_with_where_it_came_from(redis_server, caplog):
    """Redis's password changed under running nodes: the names and limits' warning says where
    chatd's password comes from, as the bus does at start, and gives neither password."""
    shared = SharedRedis(redis_server.url.replace("redis://", "redis://:old-one@"))
    admin = redis.Redis.from_url(redis_server.url)
    await admin.config_set("requirepass", "new-one")
    await admin.aclose()
    with caplog.at_level(logging.WARNING, "chatd.cluster"):
        assert await shared.run("claiming a name", lambda r: r.ping()) is None
    await shared.close()
    said = caplog.text
    assert "the password comes from the file named by bus_password_file, else $CHATD_BUS_PASSWORD, else the URL" \
        in said, said
    assert f"127.0.0.1:{redis_server.port}" in said and "old-one" not in said and "new-one" not in said
