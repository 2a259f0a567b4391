"""/readyz (chatd.readiness): 200 while the store takes a write, the writer runs and
(cluster) the bus is connected; 503 naming what is not, for each of those faults, and
200 again once it is over. /healthz keeps saying the process is alive meanwhile."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest

from chatd.readiness import READY_SECONDS
from chatd.server import Server
from tests.conftest import make_config
from tests.test_metrics import get, scrape, value


async def readyz(server: Server) -> tuple[int, dict[str, Any]]:
    status, head, body = await asyncio.to_thread(get, server, "/readyz")
    assert head["Cache-Control"] == "no-store"
    return status, json.loads(body)


async def test_a_serving_server_is_ready(server):
    assert await readyz(server) == (200, {"status": "ready"})


async def test_a_store_that_takes_no_write_is_not_ready_then_ready_again(server):
    holder = sqlite3.connect(server.config.database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as a backup tool or a stuck process would: writes wait (busy timeout)
    try:
        status, body = await readyz(server)
        assert status == 503 and body["status"] == "not ready"
        assert set(body["problems"]) == {"store"}
        assert f"within {READY_SECONDS:g} s" in body["problems"]["store"]
        status, _, _ = await asyncio.to_thread(get, server, "/healthz")
        assert status == 200  # alive all the same
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert await readyz(server) == (200, {"status": "ready"})


async def test_a_server_whose_writer_stopped_is_not_ready(server):
    assert server.store.writer.close(5)
    status, body = await readyz(server)
    assert status == 503 and set(body["problems"]) == {"writer"}


@pytest.mark.postgres
async def test_a_postgres_that_is_down_makes_the_node_not_ready(tmp_path, own_postgres):
    server = Server(make_config(tmp_path, database=own_postgres.database))
    await server.start()
    try:
        assert (await readyz(server))[0] == 200
        await asyncio.to_thread(own_postgres.stop)
        status, body = await readyz(server)
        assert status == 503 and set(body["problems"]) == {"store"}, body
        await asyncio.to_thread(own_postgres.start)
        assert (await readyz(server))[0] == 200
    finally:
        await server.stop(timeout=5)


@pytest.mark.redis
async def test_a_cluster_node_without_redis_is_not_ready_and_times_its_bus(tmp_path, redis_server):
    server = Server(make_config(tmp_path, bus=redis_server.url))
    await server.start()
    try:
        assert (await readyz(server))[0] == 200
        samples = await scrape(server)
        assert value(samples, "chatd_bus_connected") == 1
        # The node's bus probe (every 5 s) comes back through Redis: the bus's latency is measured.
        deadline = asyncio.get_running_loop().time() + 15
        while value(samples, "chatd_bus_latency_seconds_count") == 0:
            assert asyncio.get_running_loop().time() < deadline, "no bus latency measured"
            await asyncio.sleep(0.2)
            samples = await scrape(server)
        redis_server.stop()
        deadline = asyncio.get_running_loop().time() + 15
        while (status := await readyz(server))[0] == 200:
            assert asyncio.get_running_loop().time() < deadline, "still ready without Redis"
            await asyncio.sleep(0.05)
        assert status[1]["problems"]["bus"].startswith("not connected"), status
        redis_server.start()
        deadline = asyncio.get_running_loop().time() + 15
        while (await readyz(server))[0] != 200:
            assert asyncio.get_running_loop().time() < deadline, "not ready again once Redis is back"
            await asyncio.sleep(0.05)
    finally:
        await server.stop(timeout=5)
