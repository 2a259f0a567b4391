"""Scenarios only a server with a store can run (chatd, socketio-sqlite):
(6) reconnect storm with resume, (7) acknowledged write throughput.

How a client resumes depends on the flavour: chatd's ("ws") identifies with
its token and joins with ``since`` (the missed messages come in ``joined``);
a Socket.IO one ("sio") does what Socket.IO's tutorial does: it connects with
the last id it saw as ``auth.serverOffset`` (and its rooms beside it), the
server replays every later message as a ``message`` frame, then it identifies
and joins as usual.
"""

from __future__ import annotations

import asyncio
import math
import time

from loadgen.client import ChatClient
from loadgen.metrics import ProcessWatch, latency_summary, message_text
from loadgen.population import bring_online, close_all, create_rooms, populate, room_names


async def _say_all(writer: ChatClient, count: int) -> list[int]:
    """Store ``count`` messages through ``writer``, 50 unacknowledged at a time; their ids."""
    ids: list[int] = []
    for start in range(0, count, 50):
        acks = await asyncio.gather(*(writer.request({"type": "say", "room": writer.room,
                                                      "text": message_text(writer.index * 1_000_000 + i)})
                                      for i in range(start, min(count, start + 50))))
        ids += [ack["id"] for ack in acks]
    return ids


async def reconnect(args, watch: ProcessWatch) -> dict:
    """(6) ``--clients`` in rooms of ``--per-room`` drop; ``--missed`` messages
    are stored in each room; all resume at once (as the module's docstring
    says for the flavour), until the last has its last missed message.
    Measures replayed messages/s and checks that each client got exactly the
    messages it missed, in order."""
    names = room_names(math.ceil(args.clients / args.per_room), "m")
    await create_rooms(args.url, args.flavour, names)
    clients, failures = await populate(args.url, args.flavour, args.clients, names,
                                       concurrency=args.setup_concurrency)
    if failures:
        return {"error": f"{len(failures)} clients failed to join: {failures[0]}"}
    writers = [await bring_online(args.url, args.flavour, 900_000 + i, name, name_prefix="w")
               for i, name in enumerate(names)]
    close_all(clients)
    await asyncio.gather(*(c.gone for c in clients), return_exceptions=True)
    await asyncio.sleep(1.0)  # the server handles the disconnects
    missed = {w.room: await _say_all(w, args.missed) for w in writers}

    gate = asyncio.Semaphore(args.concurrency)
    by_offset = args.flavour == "sio"
    # message key (metrics.message_text) → stored id: a replayed message frame is known by its key
    key_ids = {w.index * 1_000_000 + i: id_ for w in writers for i, id_ in enumerate(missed[w.room])}
    joined_at: dict[int, int] = {}  # client index → monotonic ns of its `joined`

    async def resume(old: ChatClient) -> ChatClient:
        async with gate:
            if by_offset:
                client = await bring_online(args.url, args.flavour, old.index, old.room,
                                            auth={"serverOffset": old.last_id, "rooms": [old.room]})
            else:
                client = await bring_online(args.url, args.flavour, old.index, old.room, token=old.token,
                                            since=old.last_id)
            joined_at[client.index] = time.monotonic_ns()
            return client

    watch.start()
    start = time.monotonic_ns()
    results = await asyncio.gather(*(resume(c) for c in clients), return_exceptions=True)
    resumed = [r for r in results if isinstance(r, ChatClient)]
    if by_offset:  # the replays may still be coming: until all arrived, or nothing did for 3 s
        await _replays_done(resumed, sum(len(missed[c.room]) for c in resumed))
        for client in resumed:
            client.replayed = [{"id": key_ids.get(key, -1)} for key in client.replayed_keys]
    done = max((max(joined_at[c.index], c.replayed_at) for c in resumed), default=time.monotonic_ns())
    seconds = (done - start) / 1e9
    lost = duplicated = out_of_order = replayed = 0
    for client in resumed:
        ids = [m["id"] for m in client.replayed]
        replayed += len(ids)
        duplicated += len(ids) - len(set(ids))
        out_of_order += sum(1 for a, b in zip(ids, ids[1:], strict=False) if a >= b)
        lost += len(set(missed[client.room]) - set(ids))
    errors = [f"{type(r).__name__}: {r}" for r in results if not isinstance(r, ChatClient)]
    return {
        "clients": len(resumed),
        "failed": len(errors),
        "seconds": round(seconds, 3),
        "replayed": replayed,
        "replayed_per_s": round(replayed / seconds) if seconds else 0,
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        **watch.stop(),
        **({"first_failure": errors[0]} if errors else {}),
    }


async def _replays_done(clients: list[ChatClient], expected: int, quiet: float = 3.0) -> None:
    """Wait until ``clients`` together have ``expected`` replayed messages, or none came for ``quiet`` s."""
    last, last_change = -1, time.monotonic()
    while (got := sum(len(c.replayed_keys) for c in clients)) < expected:
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > quiet:
            return
        await asyncio.sleep(0.05)


async def write(args, watch: ProcessWatch) -> dict:
    """(7) ``--senders`` clients, each alone in its room (so the cost is the
    store, not fan-out), each with ``--window`` says awaiting their ack."""
    names = room_names(args.senders, "w")
    await create_rooms(args.url, args.flavour, names)
    senders, failures = await populate(args.url, args.flavour, args.senders, names,
                                       concurrency=args.setup_concurrency)
    if failures:
        return {"error": f"{len(failures)} clients failed to join: {failures[0]}"}
    acked: set[str] = set()
    ack_ids: set[int] = set()
    latencies: list[int] = []
    sent_at: dict[str, int] = {}
    state = {"sent": 0, "duplicated": 0, "first": 0, "last": 0}
    windows = {s.index: asyncio.Semaphore(args.window) for s in senders}

    def on_ack(client: ChatClient, ack: dict) -> None:
        now = time.monotonic_ns()
        cid = ack.get("cid")
        if cid in acked:
            state["duplicated"] += 1
            return
        acked.add(cid)
        ack_ids.add(ack["id"])
        latencies.append(now - sent_at.pop(cid, now))
        state["last"] = now
        windows[client.index].release()

    async def send_until(client: ChatClient, stop_at: float) -> None:
        window, seq = windows[client.index], 0
        client.on_ack = on_ack
        while True:
            await window.acquire()
            if time.monotonic() >= stop_at or not client.connected:
                return
            cid = f"w{client.index}.{seq}"
            sent_at[cid] = time.monotonic_ns()
            state["first"] = state["first"] or sent_at[cid]
            state["sent"] += 1
            client.send({"type": "say", "room": client.room, "text": message_text(seq), "cid": cid})
            seq += 1

    watch.start()
    stop_at = time.monotonic() + args.seconds
    tasks = [asyncio.ensure_future(send_until(s, stop_at)) for s in senders]
    _, late = await asyncio.wait(tasks, timeout=args.seconds + 15)
    for task in late:
        task.cancel()
    give_up = time.monotonic() + 10
    while len(acked) < state["sent"] and time.monotonic() < give_up:
        await asyncio.sleep(0.05)
    seconds = (state["last"] - state["first"]) / 1e9 if state["last"] else 0
    return {
        "senders": len(senders),
        "window": args.window,
        "messages_sent": state["sent"],
        "acked": len(acked),
        "acked_per_s": round(len(acked) / seconds) if seconds else 0,
        "seconds": round(seconds, 3),
        "lost": state["sent"] - len(acked),
        "duplicated": state["duplicated"] + len(acked) - len(ack_ids),
        "server_errors": sum(s.errors for s in senders),
        **{k.replace("latency", "ack"): v for k, v in latency_summary(latencies).items()},
        **watch.stop(),
    }
