"""The admin page on several nodes: sessions in the shared store hold on every node, and the
login limits are counted together on Redis (real PostgreSQL, real Redis)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chatd.admin.logins import Logins
from chatd.cluster.limits import SharedBuckets
from chatd.cluster.shared import SharedRedis
from tests.adminclient import AdminSession, admin_login


@pytest.mark.postgres
async def test_a_session_made_on_one_node_holds_and_ends_on_every_node(cluster_nodes, postgres_url):
    c = await cluster_nodes(2, database=postgres_url)
    here = await admin_login(c.nodes[0])
    there = AdminSession(c.nodes[1], here.cookie, here.csrf, here.actor)
    assert (await there.call("GET", "/audit"))[0] == 200
    assert (await there.call("POST", "/logout"))[0] == 200
    assert (await here.call("GET", "/session"))[0] == 401


@pytest.mark.redis
async def test_the_nodes_share_the_login_buckets_on_redis(redis_server):
    settings = SimpleNamespace(admin=SimpleNamespace(login_attempts=3, login_refill_seconds=600))
    shared = SharedRedis(redis_server.url)
    try:
        nodes = [Logins(lambda: settings, SharedBuckets(shared)) for _ in range(3)]
        assert [await node.take("203.0.113.9", "root") for node in nodes] == [0.0, 0.0, 0.0]
        assert await nodes[0].take("198.51.100.1", "root") > 0, "the account's attempts were spent on other nodes"
        assert await nodes[1].take("203.0.113.9", "other") > 0, "and the address's"
        assert await nodes[2].take("198.51.100.2", "other") == 0.0
    finally:
        await shared.close()


async def test_without_redis_each_process_counts_on_its_own():
    settings = SimpleNamespace(admin=SimpleNamespace(login_attempts=2, login_refill_seconds=600))
    logins = Logins(lambda: settings, None, clock=lambda: 100.0)
    assert [await logins.take("a", "root") for _ in range(2)] == [0.0, 0.0]
    assert await logins.take("a", None) == pytest.approx(600.0)
    assert await logins.take("b", "root") == pytest.approx(600.0)
