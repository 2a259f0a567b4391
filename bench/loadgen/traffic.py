"""Scenarios that move messages: (1) fan-out, (2) many rooms, (3) latency.

Senders keep a bounded window of messages that have not yet reached every
member of their room (``deliveries.Deliveries.expect(..., done)``). That keeps the
server busy without letting its write buffers grow without end (chatd
cuts off a reader 1 MiB behind), so deliveries/s is the rate the server
sustains, not the rate it buffers.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from loadgen.client import ChatClient
from loadgen.deliveries import Deliveries
from loadgen.metrics import ProcessWatch
from loadgen.population import create_rooms, populate, quiesce, room_names

DELIVERIES_IN_FLIGHT = 32_000  # a fan-out sender's window, counted in deliveries


def key_of(phase: int, sender: int, seq: int) -> int:
    """A message key unique in the run (see metrics.message_text)."""
    return (phase * 1_000_000 + sender) * 1_000_000 + seq


def listen(clients: list[ChatClient], tracker: Deliveries) -> None:
    for client in clients:
        client.on_delivery = tracker.on_delivery


def room_members(clients: list[ChatClient]) -> dict[str, frozenset[ChatClient]]:
    """Room → its clients (who receive what is said in it, the sender included)."""
    members = defaultdict(list)
    for client in clients:
        members[client.room].append(client)
    return {room: frozenset(them) for room, them in members.items()}


async def talk(client: ChatClient, receivers: frozenset[ChatClient], tracker: Deliveries, *, window: int,
               phase: int, stop_at: float) -> None:
    """Say messages into the client's room until ``stop_at``, with at most
    ``window`` of them not yet delivered to all ``receivers``."""
    free = asyncio.Semaphore(window)
    # A sender the server cut off would wait for its window forever: its end frees it, and it stops.
    client.gone.add_done_callback(lambda _: free.release())
    seq = 0
    while True:
        await free.acquire()
        if time.monotonic() >= stop_at or not client.connected:
            return
        key = key_of(phase, client.index, seq)
        text = tracker.expect(key, receivers, client, free.release)
        client.send({"type": "say", "room": client.room, "text": text, "cid": f"k{key}"})
        seq += 1


async def drain(tracker: Deliveries, quiet: float = 3.0, limit: float = 15.0) -> None:
    """Wait until every sent message has reached everyone, or nothing has
    arrived for ``quiet`` seconds (the rest counts as lost)."""
    give_up = time.monotonic() + limit
    last, last_change = tracker.received, time.monotonic()
    while tracker.inflight and time.monotonic() < give_up:
        await asyncio.sleep(0.05)
        if tracker.received != last:
            last, last_change = tracker.received, time.monotonic()
        elif time.monotonic() - last_change > quiet:
            break


async def run_talkers(senders: list[ChatClient], clients: list[ChatClient], *, window: int, phase: int,
                      seconds: float) -> Deliveries:
    tracker = Deliveries()
    listen(clients, tracker)
    members = room_members(clients)
    stop_at = time.monotonic() + seconds
    tasks = [asyncio.ensure_future(talk(s, members[s.room], tracker, window=window, phase=phase, stop_at=stop_at))
             for s in senders]
    # A talker whose window never frees (messages lost) must not hold the run: cancel it.
    _, late = await asyncio.wait(tasks, timeout=seconds + 15)
    for task in late:
        task.cancel()
    await drain(tracker)
    return tracker


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: the set-up's objects (10,000 clients' and more) frozen
    out of it, then the collector off. Its passes over every live object took ~12 % of the load
    generator's CPU in rooms, where each message makes and drops a few (futures, the window's
    waiters); the few cycles a measured phase makes wait until it is over."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def measure(senders, clients, watch: ProcessWatch, args, window: int) -> dict:
    """A short warm-up (JIT, allocator, buffers), then the measured run."""
    if args.warmup > 0:
        await run_talkers(senders, clients, window=window, phase=0, seconds=args.warmup)
    with collector_paused():
        watch.start()
        tracker = await run_talkers(senders, clients, window=window, phase=1, seconds=args.seconds)
        cpu = watch.stop()  # before the summary, whose sort of every latency is the load generator's own work
    return {**tracker.summary(), **cpu, "window": window,
            "server_errors": sum(c.errors for c in clients), "failed": cut_off(clients)}


def cut_off(clients: list[ChatClient]) -> int:
    """Clients whose connection ended during the run (the server closed it: none of them is
    dropped by the load generator before the end)."""
    return sum(not c.connected for c in clients)


async def setup(args, rooms: list[str], count: int) -> tuple[ChatClient, list[ChatClient], list[str]]:
    admin = await create_rooms(args.url, args.flavour, rooms)
    clients, failures = await populate(args.url, args.flavour, count, rooms, concurrency=args.setup_concurrency)
    await quiesce(clients)
    return admin, clients, failures


async def fanout(args, watch: ProcessWatch) -> dict:
    """(1) One sender, one room of ``--members`` (the sender included)."""
    _, clients, failures = await setup(args, ["fan"], args.members)
    if failures:
        return {"error": f"{len(failures)} clients failed to join: {failures[0]}"}
    window = args.window or max(2, DELIVERIES_IN_FLIGHT // len(clients))
    return {"members": len(clients), **await measure(clients[:1], clients, watch, args, window)}


async def rooms(args, watch: ProcessWatch) -> dict:
    """(2) ``--rooms`` rooms of ``--per-room`` members, every member talking."""
    names = room_names(args.rooms)
    _, clients, failures = await setup(args, names, args.rooms * args.per_room)
    if failures:
        return {"error": f"{len(failures)} clients failed to join: {failures[0]}"}
    window = args.window or 1
    return {"clients": len(clients), **await measure(clients, clients, watch, args, window)}


async def latency(args, watch: ProcessWatch) -> dict:
    """(3) One sender at a fixed ``--rate`` into a room of ``--members``: the
    latency a user sees when the server is not saturated."""
    _, clients, failures = await setup(args, ["lat"], args.members)
    if failures:
        return {"error": f"{len(failures)} clients failed to join: {failures[0]}"}
    sender, everyone = clients[0], frozenset(clients)
    tracker = Deliveries()
    listen(clients, tracker)
    watch.start()
    start = time.monotonic()
    for seq in range(round(args.rate * args.seconds)):
        delay = start + seq / args.rate - time.monotonic()  # a fixed schedule: no coordinated omission
        if delay > 0:
            await asyncio.sleep(delay)
        key = key_of(1, sender.index, seq)
        text = tracker.expect(key, everyone, sender)
        sender.send({"type": "say", "room": sender.room, "text": text, "cid": f"k{key}"})
    await drain(tracker)
    cpu = watch.stop()
    return {"members": len(clients), "rate": args.rate, **tracker.summary(), **cpu,
            "server_errors": sum(c.errors for c in clients), "failed": cut_off(clients)}
