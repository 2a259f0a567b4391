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
import random
import time
from collections import Counter

from loadgen.client import ChatClient, connect
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


READ_BACK_TRIES = 5  # write: connection attempts of the read-back, 1 s apart
READ_BACK_SECONDS = 60.0  # write: the time one read-back may take
WRITE_WINDOW = 8  # write: unacknowledged says per sender, unless --window says otherwise
WRITE_KEY = 1_000_000  # write: a message's key is run × WRITE_KEY² + sender index × WRITE_KEY + its sequence number


async def write(args, watch: ProcessWatch) -> dict:
    """(7) ``--senders`` clients, each alone in its room (so the cost is the
    store, not fan-out), each with ``--window`` says awaiting their ack.

    A say is acknowledged (``acked``), refused with an error frame (``refused``: that frees its
    window slot) or neither by the end (``unacked``). After the timed part (not timed), what the
    server stored is read back (``stored_messages``): ``lost`` = acknowledged but not stored,
    ``duplicated`` = stored more than once."""
    window_size = args.window or WRITE_WINDOW
    run = random.randrange(1, 1_000_000) * WRITE_KEY ** 2  # a server written to before (by hand) has other keys
    names = room_names(args.senders, "w")
    await create_rooms(args.url, args.flavour, names)
    senders, failures = await populate(args.url, args.flavour, args.senders, names,
                                       concurrency=args.setup_concurrency)
    if failures:
        return {"error": f"{len(failures)} clients failed to join: {failures[0]}"}
    acked: dict[str, int] = {}  # cid → key of the message acknowledged
    refused: dict[str, str] = {}  # cid → the error's code
    latencies: list[int] = []
    sent_at: dict[str, int] = {}
    keys: dict[str, int] = {}  # cid → key, for every say sent
    state = {"sent": 0, "acked_twice": 0, "first": 0, "last": 0}
    windows = {s.index: asyncio.Semaphore(window_size) for s in senders}

    def on_ack(client: ChatClient, ack: dict) -> None:
        now = time.monotonic_ns()
        cid = ack.get("cid")
        if cid in acked:
            state["acked_twice"] += 1
            return
        acked[cid] = keys.get(cid, -1)
        latencies.append(now - sent_at.pop(cid, now))
        state["last"] = now
        windows[client.index].release()

    def on_error(client: ChatClient, error: dict) -> None:
        cid = error.get("cid")
        if cid in keys and cid not in acked and cid not in refused:
            refused[cid] = str(error.get("code"))
            sent_at.pop(cid, None)
            windows[client.index].release()  # a refusal answers the say: it frees its slot

    async def send_until(client: ChatClient, stop_at: float) -> None:
        window, seq = windows[client.index], 0
        client.on_ack, client.on_error = on_ack, on_error
        client.gone.add_done_callback(lambda _: window.release())  # cut off: stop, not wait forever
        while True:
            await window.acquire()
            if time.monotonic() >= stop_at or not client.connected:
                return
            cid = f"w{client.index}.{seq}"
            keys[cid] = key = run + client.index * WRITE_KEY + seq
            sent_at[cid] = time.monotonic_ns()
            state["first"] = state["first"] or sent_at[cid]
            state["sent"] += 1
            client.send({"type": "say", "room": client.room, "text": message_text(key), "cid": cid})
            seq += 1

    watch.start()
    stop_at = time.monotonic() + args.seconds
    tasks = [asyncio.ensure_future(send_until(s, stop_at)) for s in senders]
    _, late = await asyncio.wait(tasks, timeout=args.seconds + 15)
    for task in late:
        task.cancel()
    give_up = time.monotonic() + 10
    while len(acked) + len(refused) < state["sent"] and time.monotonic() < give_up \
            and any(s.connected for s in senders):
        await asyncio.sleep(0.05)
    cpu = watch.stop()
    seconds = (state["last"] - state["first"]) / 1e9 if state["last"] else 0
    result = {
        "senders": len(senders),
        "window": window_size,
        "messages_sent": state["sent"],
        "acked": len(acked),
        "acked_per_s": round(len(acked) / seconds) if seconds else 0,
        "seconds": round(seconds, 3),
        "refused": len(refused),
        **({"refused_codes": dict(Counter(refused.values()))} if refused else {}),
        "unacked": state["sent"] - len(acked) - len(refused),
        "acked_twice": state["acked_twice"],
        "failed": sum(not s.connected for s in senders),
        "server_errors": sum(s.errors for s in senders),
        **{k.replace("latency", "ack"): v for k, v in latency_summary(latencies).items()},
        **cpu,
    }
    # Not timed: was every acknowledged message stored, once?
    for attempt in range(READ_BACK_TRIES):
        try:
            async with asyncio.timeout(READ_BACK_SECONDS):
                stored = await _read_back(args, names, len(acked))
            break
        except (OSError, ConnectionError) as e:  # a server restarted (by hand) may be back in a moment
            if attempt + 1 == READ_BACK_TRIES:
                return {**result, "unverified": len(acked),  # acknowledged, and not known to be stored
                        "error": f"could not read back what was stored: {type(e).__name__}: {e}"}
            await asyncio.sleep(1.0)
        except Exception as e:
            return {**result, "unverified": len(acked),
                    "error": f"could not read back what was stored: {type(e).__name__}: {e}"}
    ours = set(keys.values())
    copies = Counter(key for key in stored if key in ours)
    return {**result, "stored_messages": sum(copies.values()),
            "lost": sum(1 for key in acked.values() if not copies.get(key)),
            "duplicated": sum(n - 1 for n in copies.values() if n > 1)}


async def _read_back(args, rooms: list[str], expected: int) -> list[int]:
    """The keys of every message stored in ``rooms``, as often as each is stored. chatd: a fresh
    client joins each room and pages its history from the start (``after``, following ``more``,
    docs/protocol.md "Pages"); Socket.IO + SQLite: a fresh connection with ``serverOffset`` 0 is
    replayed every message of the rooms it names (as a resume is, see ``reconnect``)."""
    if args.flavour == "sio":
        client = await connect(args.url, args.flavour, auth={"serverOffset": 0, "rooms": rooms})
        await _replays_done([client], expected)
        await asyncio.sleep(0.2)  # a copy stored twice would come after the count is reached
        keys = list(client.replayed_keys)
        client.drop()
        return keys

    async def one_room(i: int, room: str) -> list[int]:
        reader = await bring_online(args.url, args.flavour, i, room, name_prefix="wcheck")
        out, after = [], 0
        while True:
            page = await reader.request({"type": "history", "room": room, "after": after, "limit": 100})
            messages = page.get("messages") or []
            out += [int(m["text"].split(":", 1)[0]) for m in messages]
            if not page.get("more") or not messages:
                break
            after = messages[-1]["id"]
        reader.drop()
        return out

    keys: list[int] = []
    for start in range(0, len(rooms), 50):
        for got in await asyncio.gather(*(one_room(start + i, room)
                                          for i, room in enumerate(rooms[start:start + 50]))):
            keys += got
    return keys
