"""Metrics of several workers (chatd.metrics' multiprocess mode, chatd.workers): one scrape
of /metrics, whichever worker answers it, reports the whole server; a killed worker's
connections leave the gauges while its messages stay in the counters; the metric files'
private directory is gone once the server stops. Real processes through the real CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatd.metrics import MULTIPROC_ENV, MULTIPROC_PREFIX
from tests.ops_fixtures import Chatd, wait_for
from tests.test_workers import _replaced, clients_on_every_worker, worker_pids, workers, workers_install  # noqa: F401

pytestmark = pytest.mark.redis


def scrape(d: Chatd) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{d.port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def figures(d: Chatd) -> tuple[float, float, float]:
    """(connections, users online, room messages stored by clients) as one scrape says."""
    samples = scrape(d)
    return (samples.get(("chatd_connections", ()), 0.0), samples.get(("chatd_users_online", ()), 0.0),
            samples.get(("chatd_messages_stored_total", (("kind", "room"), ("source", "chat"))), 0.0))


def metrics_dir(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    value = next(v for v in environ if v.startswith(MULTIPROC_ENV.encode() + b"="))
    return Path(value.split(b"=", 1)[1].decode())


async def test_one_scrape_reports_every_worker_and_a_dead_one_leaves_the_gauges(workers):  # noqa: F811
    d = workers
    first, second = worker_pids(d)
    directory = metrics_dir(first)
    assert directory.name.startswith(MULTIPROC_PREFIX) and directory == metrics_dir(second)
    assert oct(directory.stat().st_mode & 0o777) == "0o700"
    clients = await clients_on_every_worker(d, [first, second])
    for client in clients.values():
        await client.request("join", room="lobby")
        for text in ("one", "two"):
            assert (await client.say("lobby", text))["type"] == "ack"

    # Several scrapes: each is answered by whichever worker takes the connection, and each says the same.
    for _ in range(4):
        await asyncio.to_thread(wait_for, lambda: figures(d) == (2, 2, 4), 15, "both workers' figures in one scrape")

    os.kill(first, signal.SIGKILL)
    d.pids.append(await asyncio.to_thread(wait_for, lambda: _replaced(d, first), 30, "the worker replaced"))
    await asyncio.to_thread(wait_for, lambda: figures(d)[0] == 1, 15, "the dead worker's connection gone")
    assert figures(d)[2] == 4, "its messages stay counted"
    for client in clients.values():
        await client.close()

    result = await asyncio.to_thread(d.cli, "stop")
    assert result.returncode == 0, result.stderr
    assert not directory.exists()
