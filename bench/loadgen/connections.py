"""Scenarios about connections themselves: (4) idle memory, (5) connection storm,
(5b) the storm's handshakes alone.

Clients join rooms of ``--per-room`` members rather than one huge room:
on join a chat server tells the room (presence) and sends the member
list, so one 10,000-member room would measure 50 million presence frames,
not idle connections.
"""

from __future__ import annotations

import asyncio
import math
import time

from loadgen.metrics import ProcessWatch
from loadgen.population import create_rooms, populate, quiesce, room_names


async def idle(args, watch: ProcessWatch) -> dict:
    """(4) ``--clients`` connected, identified and joined, doing nothing:
    the server's RSS growth per client. The CPU figures are those of bringing
    the clients online (``--setup-concurrency`` at a time, their presence
    frames included), not of the idle wait."""
    before = watch.rss_kib()
    names = room_names(math.ceil(args.clients / args.per_room))
    await create_rooms(args.url, args.flavour, names)
    watch.start()
    clients, failures = await populate(args.url, args.flavour, args.clients, names,
                                       concurrency=args.setup_concurrency)
    await quiesce(clients)
    cpu = watch.stop()
    await asyncio.sleep(args.settle)  # let the server free what the set-up used before reading RSS
    after = watch.rss_kib()
    alive = sum(client.connected for client in clients)
    return {
        "clients": alive,
        "failed": len(failures) + len(clients) - alive,
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_client": round((after - before) / alive, 2) if alive else 0,
        **cpu,
        **({"first_failure": failures[0]} if failures else {}),
    }


async def storm(args, watch: ProcessWatch) -> dict:
    """(5) ``--clients`` connect, identify and join as fast as the server
    lets them (at most ``--concurrency`` handshakes in progress)."""
    names = room_names(math.ceil(args.clients / args.per_room))
    await create_rooms(args.url, args.flavour, names)
    return await _arrive(args, watch, names)


async def handshakes(args, watch: ProcessWatch) -> dict:
    """(5b) The storm's transport part alone: ``--clients`` connect (the WebSocket
    handshake; Socket.IO's own connect too) and send nothing, at most
    ``--concurrency`` in progress. Against ``storm``, it tells a server's cost of
    accepting and upgrading a connection from that of its identify and join."""
    return await _arrive(args, watch, [])


async def _arrive(args, watch: ProcessWatch, rooms: list[str]) -> dict:
    """``--clients`` brought online into ``rooms`` (none: only connected), timed and watched."""
    watch.start()
    start = time.monotonic()
    clients, failures = await populate(args.url, args.flavour, args.clients, rooms, concurrency=args.concurrency)
    seconds = time.monotonic() - start
    return {
        "clients": len(clients),
        "failed": len(failures),
        "seconds": round(seconds, 3),
        "clients_per_s": round(len(clients) / seconds) if seconds else 0,
        **watch.stop(),
        **({"first_failure": failures[0]} if failures else {}),
    }
