"""nginx/chatd-cluster.conf for real: the shipped site with the cluster's
upstream in front of two chatd nodes (processes on one SQLite file and a
real Redis). Clients through the one address land on both nodes, chat with
each other, and when a node is killed, go on on the other."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from tests.ops_fixtures import Chatd, chatd_nodes, pid_alive, wait_for
from tests.test_nginx import nginx_in_front
from tests.wsclient import ChatClient

pytestmark = pytest.mark.redis


@pytest.fixture
def two_nodes(redis_server, tmp_path) -> Iterator[list[Chatd]]:
    with chatd_nodes(2, database=str(tmp_path / "chatd.db"), bus=redis_server.url,
                     cluster={"heartbeat_interval": 0.2, "node_timeout": 1.0}) as nodes:
        yield nodes


async def through(site: dict, name: str) -> ChatClient:
    port = site["https"]
    client = await ChatClient.connect(f"wss://127.0.0.1:{port}/ws", ssl=site["ssl"], origin=f"https://127.0.0.1:{port}")
    welcome = await client.identify(name=name)
    assert welcome["type"] == "welcome"
    client.welcome_token = welcome["token"]
    assert (await client.request("join", room="lobby"))["type"] == "joined"
    return client


async def test_clients_through_the_cluster_site_reach_both_nodes_and_survive_one(two_nodes, tmp_path):
    with nginx_in_front(tmp_path / "nginx", [node.port for node in two_nodes]) as site:
        alice = await through(site, "alice")
        bob = await through(site, "bob")  # least_conn: the node alice is not on
        per_node = [[row["user"]["name"] for row in await asyncio.to_thread(n.connections)] for n in two_nodes]
        assert sorted(per_node) == [["alice"], ["bob"]], "one client on each node"
        ack = await alice.say("lobby", "across the cluster")
        assert (await bob.expect("message", text="across the cluster"))["id"] == ack["id"]

        victim = next(n for n, names in zip(two_nodes, per_node, strict=True) if names == ["alice"])
        survivor = next(n for n in two_nodes if n is not victim)
        os.kill(victim.pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(victim.pid), what="the node to die")
        # alice comes back through the same address: nginx skips the dead node.
        again = await ChatClient.connect(f"wss://127.0.0.1:{site['https']}/ws", ssl=site["ssl"],
                                         origin=f"https://127.0.0.1:{site['https']}")
        assert (await again.identify(token=alice.welcome_token))["type"] == "welcome"
        joined = await again.request("join", room="lobby", since=ack["id"])
        assert joined["type"] == "joined" and joined["messages"] == []
        assert {row["user"]["name"] for row in await asyncio.to_thread(survivor.connections)} == {"alice", "bob"}
        ack2 = await again.say("lobby", "still here")
        assert (await bob.expect("message", text="still here"))["id"] == ack2["id"]
        for client in (again, bob):
            await client.close()
