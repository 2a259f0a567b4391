"""Every Prometheus figure of chatd (prometheus_client), and the small calls that move them.

The rest of chatd calls the functions here and never imports
prometheus_client: one place names the metrics, their labels and buckets
(docs/operations.md, "Metrics", lists them). Hot paths count once per batch
or fan-out, never once per recipient: a counter increment is a lock and an
add (or an mmap write in multiprocess mode), cheap, but not free; the
hottest counts are tallied and added once per pass of the event loop.

**Several workers** (``chatd.workers``): the supervisor makes a private
directory (``private_dir``) and hands it to its workers as
``PROMETHEUS_MULTIPROC_DIR``; prometheus_client, imported in each worker
with that variable set, keeps every value in a file there, and one scrape of
``/metrics`` on any worker reads them all (``exposition``). A worker that
dies leaves its counters (the totals must not go back) but its live gauges
go (``worker_gone``); the supervisor removes the directory when it stops.
Gauges say how they add up across processes (``multiprocess_mode``):
figures of one process (connections, the webhook queue) are summed over the
live ones; figures every process knows alike (rooms, users online in the
cluster) take the live maximum, the bus state the live minimum.

    metrics.message_stored("room", "chat")
    body, content_type = metrics.exposition()
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for it
MULTIPROC_PREFIX = "chatd-metrics-"
# Seconds: from a fraction of a millisecond (an idle loop, a WAL commit) to seconds (a stuck disk).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)  # jobs per commit (store.batch_max: 512)

# In multiprocess mode the values live in files; the registry below holds the objects for one process.
_REGISTRY = CollectorRegistry(auto_describe=True)
_MULTIPROC = bool(os.environ.get(MULTIPROC_ENV))
if not _MULTIPROC:  # CPU, memory and descriptors of this process (prometheus_client cannot add them up)
    ProcessCollector(registry=_REGISTRY)

CONNECTIONS = Gauge("chatd_connections", "WebSocket connections open (this server: all workers)",
                    registry=_REGISTRY, multiprocess_mode="livesum")
USERS_ONLINE = Gauge("chatd_users_online", "users with a connection, on any node of the cluster as this node knows it",
                     registry=_REGISTRY, multiprocess_mode="livemax")
ROOMS = Gauge("chatd_rooms", "rooms that exist", registry=_REGISTRY, multiprocess_mode="livemax")
MESSAGES = Counter("chatd_messages_stored", "messages stored, by kind (room, private) and source (chat: a client's "
                   "say; bot: a bot's reply; api: the HTTP API)", ("kind", "source"), registry=_REGISTRY)
DELIVERIES = Counter("chatd_deliveries", "message frames handed to sessions of this server (one per recipient)",
                     registry=_REGISTRY)
DELIVERY_BYTES = Counter("chatd_delivery_bytes", "bytes of the message frames handed to sessions", registry=_REGISTRY)
SLOW_READERS = Counter("chatd_slow_readers_cut_off", "connections cut off for not reading what was sent to them "
                       "(limits.send_queue_bytes)", registry=_REGISTRY)
RATE_LIMITED = Counter("chatd_rate_limited", "requests refused by a rate limit, by kind (connection, user, api, and "
                       "the address kinds: connections, http, connect, message, guest, room)", ("kind",),
                       registry=_REGISTRY)
ERRORS = Counter("chatd_errors", "error answers sent (WebSocket error frames and HTTP API errors), by code",
                 ("code",), registry=_REGISTRY)
WRITER_BATCH = Histogram("chatd_writer_batch_size", "jobs (messages and other writes) committed per transaction",
                         registry=_REGISTRY, buckets=BATCH_BUCKETS)
WRITER_COMMIT = Histogram("chatd_writer_commit_seconds", "seconds a writer transaction took, from its first job to "
                          "its commit", registry=_REGISTRY, buckets=LATENCY_BUCKETS)
LOOP_LAG = Histogram("chatd_event_loop_lag_seconds", "how late a periodic timer on the event loop ran: time the "
                     "loop was busy with other work", registry=_REGISTRY, buckets=LATENCY_BUCKETS)
BUS_LATENCY = Histogram("chatd_bus_latency_seconds", "seconds from a node's publish on the Redis bus to its receipt "
                        "back from Redis (cluster only)", registry=_REGISTRY, buckets=LATENCY_BUCKETS)
BUS_CONNECTED = Gauge("chatd_bus_connected", "1 while the bus is connected (always 1 in one process; cluster: both "
                      "Redis connections up)", registry=_REGISTRY, multiprocess_mode="livemin")
WEBHOOK_QUEUE = Gauge("chatd_webhook_queue", "webhook calls waiting (bots' and the app's, retries included)",
                      registry=_REGISTRY, multiprocess_mode="livesum")
WEBHOOK_CALLS = Counter("chatd_webhook_calls", "webhook calls ended, by outcome (sent, failed, dropped)",
                        ("outcome",), registry=_REGISTRY)


# The hot path's children made once: ``labels()`` costs a lock and a lookup per call.
_STORED = {(kind, source): MESSAGES.labels(kind, source)
           for kind in ("room", "private") for source in ("chat", "bot", "api")}


class _Tally:
    """The hot path's counts (messages stored, fan-outs), added up in plain numbers and handed
    to prometheus_client once per pass of the event loop (``flush``, which the first count of a
    pass schedules) and before every read: profiled, the three increments each message cost
    took ~1 µs of its ~35 on the write benchmark. (Should a loop close with a flush pending,
    the counts wait for the next read, which flushes first.)"""

    __slots__ = ("stored", "frames", "bytes", "due")

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str], int] = {}  # (kind, source) → messages
        self.frames = self.bytes = 0
        self.due = False  # a flush is scheduled

    def flush_later(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop runs here (a command, a test): at once
            flush()
            return
        loop.call_soon(flush)
        self.due = True


_TALLY = _Tally()


def message_stored(kind: str, source: str) -> None:
    """A message was stored: ``kind`` "room" or "private", ``source`` "chat", "bot" or "api"."""
    tally = _TALLY
    tally.stored[kind, source] = tally.stored.get((kind, source), 0) + 1
    if not tally.due:
        tally.flush_later()


def delivered(frames: int, frame_bytes: int) -> None:
    """One fan-out handed ``frames`` frames of ``frame_bytes`` bytes each to sessions."""
    if frames:
        tally = _TALLY
        tally.frames += frames
        tally.bytes += frames * frame_bytes
        if not tally.due:
            tally.flush_later()


def flush() -> None:
    """Add the tallied counts to their counters (at the end of a loop pass, and before a read)."""
    tally = _TALLY
    tally.due = False
    stored, tally.stored = tally.stored, {}
    for (kind, source), count in stored.items():
        child = _STORED.get((kind, source))
        (child if child is not None else MESSAGES.labels(kind, source)).inc(count)
    if tally.frames:
        DELIVERIES.inc(tally.frames)
        DELIVERY_BYTES.inc(tally.bytes)
        tally.frames = tally.bytes = 0


def slow_reader_cut_off() -> None:
    SLOW_READERS.inc()


def rate_limited(kind: str) -> None:
    """A request refused by the rate limit of ``kind``."""
    RATE_LIMITED.labels(kind).inc()


def error_sent(code: str) -> None:
    """An error answer with ``code`` (chatd.protocol.codes.Code, or an HTTP API error code) was sent."""
    ERRORS.labels(code).inc()


def committed(jobs: int, seconds: float) -> None:
    """The writer committed a transaction of ``jobs`` jobs in ``seconds`` (from the writer thread)."""
    WRITER_BATCH.observe(jobs)
    WRITER_COMMIT.observe(seconds)


def loop_lag(seconds: float) -> None:
    LOOP_LAG.observe(seconds)


def bus_latency(seconds: float) -> None:
    BUS_LATENCY.observe(seconds)


def webhook_call(outcome: str) -> None:
    """A webhook call ended: "sent", "failed" (given up after its retries) or "dropped" (the queue was full)."""
    WEBHOOK_CALLS.labels(outcome).inc()


def sample(connections: int, users_online: int, rooms: int, bus_connected: bool, webhook_queue: int) -> None:
    """The gauges, as the periodic sampler (``chatd.monitor``) finds them."""
    CONNECTIONS.set(connections)
    USERS_ONLINE.set(users_online)
    ROOMS.set(rooms)
    BUS_CONNECTED.set(1 if bus_connected else 0)
    WEBHOOK_QUEUE.set(webhook_queue)


def _server_registry() -> CollectorRegistry:
    """What this server's figures are read from: this process's registry, or in multiprocess
    mode every worker's files added up."""
    if not _MULTIPROC:
        return _REGISTRY
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry)
    return registry


def exposition() -> tuple[bytes, str]:
    """(the Prometheus text format of every metric, its Content-Type): this server's, every worker's added up."""
    flush()
    return generate_latest(_server_registry()), CONTENT_TYPE_LATEST


def snapshot() -> dict[str, float]:
    """The unlabelled samples as /metrics gives them now (gauges, and each histogram's ``_sum`` and
    ``_count``): sample name → value, e.g. ``{"chatd_connections": 12.0, "chatd_writer_commit_seconds_sum": ...}``."""
    flush()
    return {sample.name: sample.value for family in _server_registry().collect() for sample in family.samples
            if not sample.labels and sample.name.startswith("chatd_")}


# The supervisor of several workers (chatd.workers).

def private_dir() -> str:
    """A new directory, readable by this user only, for the workers' metric files."""
    return tempfile.mkdtemp(prefix=MULTIPROC_PREFIX)


def worker_gone(path: str, pid: int) -> None:
    """Worker ``pid`` has exited: its live gauges stop counting (its counters stay in the totals)."""
    _multiprocess.mark_process_dead(pid, path)


def remove_dir(path: str) -> None:
    """The supervisor stops: its workers' metric files go."""
    shutil.rmtree(path, ignore_errors=True)
