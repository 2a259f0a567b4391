"""A node unlike its cluster is refused, not silently wrong (chatd/cluster/membership.py,
chatd/bus/redis.py): real nodes on a real Redis bus, each on its SQLite file."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
import yaml

import chatd
from chatd.bus import redis as redis_bus
from chatd.bus.codec import decode, kind, origin
from chatd.cluster.membership import ClusterMismatch
from chatd.server import Server
from chatd.status import ExitStatus
from chatd.store.traffic import MINUTE_MS, Minute
from tests.conftest import make_config, until
from tests.wsclient import ChatClient

pytestmark = pytest.mark.redis

GENEROUS = 60.0  # seconds for a chatd process to start and refuse


@pytest.fixture
async def nodes(tmp_path: Path, redis_server) -> AsyncIterator[Callable[..., Any]]:
    """``await node("a", **sections)``: a started node on the test's Redis, its files in tmp_path/a
    (its own database unless ``database=`` says another); all stopped at the end."""
    started: list[Server] = []

    async def node(name: str, **sections: Any) -> Server:
        (tmp_path / name).mkdir(exist_ok=True)
        server = Server(make_config(tmp_path / name, **{"bus": redis_server.url} | sections))
        await server.start()
        started.append(server)
        return server

    yield node
    for server in started:
        await server.stop(timeout=5)


@pytest.fixture
def renewing(monkeypatch) -> None:
    """The record renewed every 0.1 s (not 5): a node refused for a running cluster hears it at once."""
    monkeypatch.setattr(redis_bus, "PROBE_SECONDS", 0.1)


async def test_a_node_on_another_database_is_refused_naming_both(nodes, tmp_path: Path, renewing):
    first = await nodes("a")
    with pytest.raises(ClusterMismatch) as refused:
        await nodes("b")
    line = str(refused.value)
    assert "\n" not in line
    assert f"epoch {first.store.epoch.id} ({tmp_path / 'a' / 'chatd.db'}) in the cluster" in line, line
    assert str(tmp_path / "b" / "chatd.db") in line and "the database" in line, line
    await nodes("a2", database=str(tmp_path / "a" / "chatd.db"))  # the cluster's own database: joins


async def test_a_node_with_another_token_secret_is_refused_and_the_secret_is_never_told(nodes, tmp_path: Path,
                                                                                        renewing):
    secret, other = secrets.token_hex(32), secrets.token_hex(32)
    database = str(tmp_path / "a" / "chatd.db")
    await nodes("a", identity={"secret": secret})
    with pytest.raises(ClusterMismatch) as refused:
        await nodes("b", database=database, identity={"secret": other})
    line = str(refused.value)
    assert "in the token secret" in line and "in the database:" not in line, line
    assert secret not in line and other not in line
    with pytest.raises(ClusterMismatch):  # the database's own secret is another one still
        await nodes("c", database=database)
    await nodes("d", database=database, identity={"secret": secret})


async def test_items_of_a_node_on_another_database_are_not_applied_and_said_once(
        nodes, redis_server, tmp_path: Path, monkeypatch, caplog: Any):
    """Redis restarted empty (no record) while a node of another database starts: it gets on the
    bus, but nothing it publishes is applied by the cluster's nodes; they say so once, loudly."""
    # No renewal of the record while the test runs (it would set it again before the stranger starts).
    monkeypatch.setattr(redis_bus, "PROBE_SECONDS", 3600)
    a = await nodes("a")
    client = redis.Redis.from_url(redis_server.url)
    await client.flushdb()  # what a Redis restarted without persistence holds
    await client.aclose()
    stranger = await nodes("b")
    heard: list[bytes] = []
    receive = a.bus._receive

    def spy(payload: bytes) -> None:  # what reaches a's bus from Redis, once handled
        receive(payload)
        heard.append(payload)

    a.bus._receive = spy
    alice = await (await ChatClient.connect(f"ws://127.0.0.1:{a.port}/ws")).enter("lobby", name="alice")
    mallory = await (await ChatClient.connect(f"ws://127.0.0.1:{stranger.port}/ws")).enter("lobby", name="mallory")

    def ops_of_the_stranger() -> bool:
        return any(origin(p).startswith(stranger.bus.node.encode()) and kind(p) == b"N" and decode(p).kind == "ops"
                   for p in heard)

    await until(ops_of_the_stranger, what="the stranger's presence on a's bus")
    rooms = await alice.request("rooms")
    assert next(r for r in rooms["rooms"] if r["name"] == "lobby")["online"] == 1, rooms
    assert not [f for f in alice.backlog if f["type"] == "presence"], alice.backlog
    assert not a.chat.cluster.peers.nodes, "the stranger is no node of a's cluster"
    foreign = [r for r in caplog.records if "is on another database" in r.getMessage() and r.name == "chatd.bus"]
    assert len(foreign) == 2, foreign  # once on each side, however much was heard
    assert all(r.levelno == logging.ERROR for r in foreign)
    await alice.close()
    await mallory.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_chatd_start_on_another_database_exits_with_the_config_status_in_one_line(nodes, redis_server,
                                                                                          tmp_path: Path, workers: int,
                                                                                          renewing):
    await nodes("a")
    (tmp_path / "b").mkdir()
    config = tmp_path / "b" / "chatd.yaml"
    config.write_text(yaml.safe_dump({"listen": "127.0.0.1:0", "database": str(tmp_path / "b" / "chatd.db"),
                                      "pidfile": str(tmp_path / "b" / "chatd.pid"), "logfile": "",
                                      "bus": redis_server.url, "workers": workers}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatd", "start", "-c", str(config), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path(chatd.__file__).parent.parent)})
    async with asyncio.timeout(GENEROUS):
        _, err = await process.communicate()
    assert process.returncode == ExitStatus.CONFIG, err
    refusals = [line for line in err.decode().splitlines() if "cannot start:" in line]
    assert len(refusals) == 1 and "differs from the cluster" in refusals[0] and "in the database:" in refusals[0], err


async def test_a_node_on_the_same_database_but_another_bus_is_said_once_and_one_on_it_never(
        nodes, redis_server, tmp_path: Path, caplog: Any):
    database = str(tmp_path / "a" / "chatd.db")
    a = await nodes("a")
    ally = await nodes("c", database=database)  # on a's bus
    stranger = await nodes("b", database=database, bus=redis_server.url.rsplit("/", 1)[0] + "/3")
    await until(lambda: ally.bus.node in a.bus.heard, what="the ally heard on a's bus")
    # The first minute a judges: the one after the next one from its bus's connection (clocks differ).
    minute = (int(a.bus.connected_since * 1000) // MINUTE_MS + 2) * MINUTE_MS
    for node in (a, ally, stranger):  # each process's row for that minute, as its monitor writes it
        written = asyncio.get_running_loop().create_future()
        node.chat.store.traffic.add(Minute(minute, node.bus.node, 1, 0), lambda _, e, f=written: f.set_result(e))
        assert await written is None
    a.split.wall = lambda: minute  # the minute not over yet: nothing judged
    assert await a.split.check() == []
    a.split.wall = lambda: minute + MINUTE_MS
    assert await a.split.check() == [stranger.bus.node]
    assert await a.split.check() == []  # said once
    said = [r for r in caplog.records if "is not on this bus" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR and stranger.bus.node in said[0].getMessage()
    assert ally.bus.node not in said[0].getMessage()


async def test_a_record_unlike_the_node_found_while_it_runs_is_said_once_and_its_end_too(
        nodes, redis_server, monkeypatch, caplog: Any):
    """Redis restarted empty and a node of another database wrote its record first: the cluster's
    nodes go on, and each says so once (not at every check), and again once the record is theirs."""
    monkeypatch.setattr(redis_bus, "PROBE_SECONDS", 0.05)  # checked and renewed at once
    a = await nodes("a")
    key = a.bus.channel + redis_bus.RECORD_SUFFIX
    client = redis.Redis.from_url(redis_server.url)
    stranger = b'{"database": "/elsewhere/chatd.db", "epoch": "0123456789abcdef", "secret": "x"}'
    await client.set(key, stranger)  # as a stranger's start would have, Redis emptied before it
    said = lambda words: [r for r in caplog.records if words in r.getMessage()]  # noqa: E731
    await until(lambda: said("differs from the cluster"), what="the difference said")
    assert await client.get(key) == stranger, "not renewed by a node unlike it: it expires"
    await client.delete(key)  # expired: the next check writes the node's own
    await until(lambda: said("matches this node again"), what="the match said")
    await client.aclose()
    (line,) = said("differs from the cluster")
    assert line.levelno == logging.ERROR and "epoch 0123456789abcdef (/elsewhere/chatd.db) in the cluster" in \
        line.getMessage()
    assert a.store.epoch.id in line.getMessage()


async def test_a_start_after_the_cluster_stopped_waits_for_its_record_to_run_out_and_starts(nodes, redis_server):
    """A cluster stopped to be started on a restored database (a new epoch) or a new secret: its
    record, renewed by no node, is left to run out; the first node of the new one starts then."""
    client = redis.Redis.from_url(redis_server.url)
    key = "chatd:0" + redis_bus.RECORD_SUFFIX
    await client.set(key, b'{"database": "/old/chatd.db", "epoch": "0123456789abcdef", "secret": "x"}', px=1500)
    node = await nodes("a")  # refused at once before: the record's epoch is not its own
    assert node.bus.channel + redis_bus.RECORD_SUFFIX == key
    assert node.store.epoch.id.encode() in await client.get(key), "the record is the new cluster's own"
    await client.aclose()
