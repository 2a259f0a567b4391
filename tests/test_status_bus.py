"""`chatd status` says where the bus is and whether the server is connected to it, as /readyz
judges it (chatd.commands, Server.bus_state): real chatd processes, a real redis-server; and
whose users online it counts (this node's, the cluster's)."""

from __future__ import annotations

import pytest

from chatd.commands import users_online
from tests.conftest import until
from tests.ops_fixtures import Chatd, wait_for
from tests.services import RedisServer


def bus_row(install: Chatd) -> str:
    code, text, err = install.run("status")
    assert code == 0, err
    return next(line.strip() for line in text.splitlines() if line.strip().startswith("bus "))


@pytest.mark.redis
@pytest.mark.parametrize("workers", [1, 2])
def test_status_shows_the_bus_and_that_redis_is_down(chatd_install: Chatd, redis_server: RedisServer, workers: int):
    chatd_install.config.update(bus=redis_server.url, workers=workers)
    chatd_install.write_config()
    started = chatd_install.start()
    assert started.returncode == 0, started.stderr
    assert chatd_install.status()["bus"] == {"url": redis_server.url, "connected": True, "cause": None}
    assert bus_row(chatd_install) == f"bus           {redis_server.url}: connected"
    redis_server.stop()
    wait_for(lambda: "refused" in (chatd_install.status()["bus"]["cause"] or ""), what="the bus seen down, and why")
    row = bus_row(chatd_install)
    assert row.startswith(f"bus           {redis_server.url}: NOT connected (") and "Connection refused" in row, row
    redis_server.start()
    wait_for(lambda: chatd_install.status()["bus"]["connected"], what="the bus seen back")
    assert chatd_install.status()["bus"]["cause"] is None


def test_status_of_one_process_says_its_bus_is_in_process(chatd_daemon: Chatd):
    assert chatd_daemon.status()["bus"] is None
    assert bus_row(chatd_daemon).endswith("in-process (one node, no cluster)")


async def test_status_says_which_users_online_are_this_nodes_and_which_the_clusters(cluster_nodes):
    """`chatd status` said 0 on a node while its /metrics said 7 (the cluster's): both figures, each named."""
    c = await cluster_nodes(2)
    a, b = c.nodes
    await c.alice_and_bob()
    await c.user(b, "carol", "lobby")
    await until(lambda: a.chat.cluster.online_count() == 3, what="b's users known on a")
    figures = await a.stats()
    assert (figures["users_online"], figures["users_online_cluster"]) == (1, 3)
    assert users_online(figures) == "1 on this node, 3 on the whole cluster"
    assert users_online({"users_online": 4, "users_online_cluster": None}) == "4"  # one process: one figure
