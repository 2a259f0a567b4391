"""Bots' names across the nodes of a cluster (chatd/bots.py, "A bot's name"): the name of a bot
being made or renamed on one node is claimed on Redis before it is written, so that no guest on
another node, which learns of the bot only from the bus after the write, takes it or one like it
meanwhile, and no bot takes the name of a guest online on a node this one has not heard from yet.
(A node reads the bots once it hears the bus: tests/test_cluster_start.py.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from chatd.protocol.codes import Code
from chatd.server import Server
from tests.apiclient import api_call, api_key
from tests.conftest import until

HOOK = "https://x.example/"  # never called: no message mentions the bots here


@pytest.fixture
async def two(cluster_nodes, redis_server, postgres_url):
    """Two nodes on one Redis and one PostgreSQL database."""
    return await cluster_nodes(2, bus=redis_server.url, database=postgres_url)


async def bots_call(node: Server, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """→ (status, body) of a call to ``/api/v1/bots`` + ``path`` on ``node``, with a manage key."""
    status, answer, _ = await api_call(node, method, "/bots" + path, body, key=api_key(node, "manage"))
    return status, answer


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.parametrize("name", ["Kite", "KITE", "kit\u0435"], ids=["case", "upper", "cyrillic"])
async def test_a_guest_on_another_node_cannot_take_the_name_of_a_bot_being_made(two, monkeypatch, name):
    a, b = two.nodes
    writing, written, store = asyncio.Event(), asyncio.Event(), a.chat.store.bots
    write = store.create

    async def held_write(*args, **kwargs):  # the bot's write waits, as on a busy database
        writing.set()
        await written.wait()
        return await write(*args, **kwargs)

    monkeypatch.setattr(store, "create", held_write)
    making = asyncio.ensure_future(bots_call(a, "POST", "", {"name": "kite", "webhook_url": HOOK}))
    await writing.wait()  # checked and claimed; nothing written, nothing for b to hear of
    refused = await (await two.client(b)).identify(name=name)
    assert refused.get("code") == Code.NAME_TAKEN, refused
    assert refused["message"] == f"the name '{name}' looks like 'kite', who is online"
    written.set()
    status, made = await making
    assert status == 201, made
    await until(lambda: b.chat.bots.all(), what="b told of the bot")
    assert (await (await two.client(b)).identify(name=name))["code"] == Code.NAME_TAKEN  # b's own check now


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_bot_cannot_take_the_name_of_a_guest_online_on_a_node_not_heard_from_yet(two):
    a, b = two.nodes
    two.net.drop = lambda item: True  # a hears nothing of b's guest: only the claims on Redis decide
    await two.user(b, "Mark")
    status, refused = await bots_call(a, "POST", "", {"name": "M\u0430rk", "webhook_url": HOOK})  # Cyrillic а
    assert status == 409 and refused["error"]["code"] == Code.NAME_TAKEN, refused
    assert a.chat.bots.all() == []
    status, made = await bots_call(a, "POST", "", {"name": "other", "webhook_url": HOOK})
    assert status == 201, made
    status, refused = await bots_call(a, "PATCH", f"/{made['bot']['id']}", {"name": "MARK"})
    assert status == 409 and refused["error"]["code"] == Code.NAME_TAKEN, refused
    assert [bot.name for bot in a.chat.bots.all()] == ["other"]


@pytest.mark.redis
@pytest.mark.postgres
async def test_bots_are_made_while_redis_is_out_with_each_nodes_own_checks(two, redis_server, caplog):
    a, b = two.nodes
    await two.user(b, "Mark")
    await until(lambda: a.chat.cluster.peers.name_holder("Mark", None, 0, 0), what="a told of Mark")
    redis_server.stop()
    with caplog.at_level(logging.WARNING, "chatd.cluster"):
        status, made = await bots_call(a, "POST", "", {"name": "kite", "webhook_url": HOOK})
        assert status == 201, made
    assert "Redis failed" in caplog.text
    status, refused = await bots_call(a, "POST", "", {"name": "mark", "webhook_url": HOOK})
    assert (status, refused["error"]["code"]) == (409, Code.NAME_TAKEN), "the bus told a of Mark"
