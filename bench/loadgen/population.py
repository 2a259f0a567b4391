"""Bring clients online: connect, identify, join a room — many at once,
with a cap on how many are in progress so the load generator measures
the server rather than its own connect queue.

    rooms = await create_rooms(base, flavour, room_names(500))
    clients, failures = await populate(base, flavour, 5000, rooms, concurrency=100)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from loadgen.client import ChatClient, ChatError, connect


def room_names(count: int, prefix: str = "r") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


async def create_rooms(base: str, flavour: str, names: list[str]) -> ChatClient:
    """Create the rooms (chatd refuses to join a room that does not exist; the
    peers create rooms on join and just answer ``created``). Returns the
    admin client, left connected (and in no room) so closing it costs nothing."""
    admin = await connect(base, flavour)
    await admin.request({"type": "identify", "name": "bench-admin"})
    for start in range(0, len(names), 200):  # pipelined, 200 at a time
        answers = await asyncio.gather(*(admin.request({"type": "create", "room": name})
                                         for name in names[start:start + 200]), return_exceptions=True)
        # room_exists (a reused database) is fine: the room is there. Any other refusal is the
        # real cause of the joins that would fail next (no_such_room): say it, not them.
        refused = [a for a in answers if isinstance(a, Exception) and "room_exists" not in str(a)]
        if refused:
            raise ChatError(f"the server refused to create rooms ({len(refused)} of {len(answers)}): "
                            f"{type(refused[0]).__name__}: {refused[0]}")
    return admin


async def bring_online(base: str, flavour: str, index: int, room: str, *, name_prefix: str = "u",
                       token: str | None = None, since: int | None = None, auth: dict | None = None) -> ChatClient:
    """connect → identify → join for one client. A resuming client passes the
    ``token`` of its earlier welcome and the last message id it saw (``since``);
    what the server replays is kept in ``client.replayed``. A Socket.IO client
    resuming as Socket.IO's tutorial does passes ``auth`` instead (client.connect)."""
    client = await connect(base, flavour, auth=auth)
    client.index, client.room = index, room
    identify = {"type": "identify", "token": token} if token else {"type": "identify", "name": f"{name_prefix}{index}"}
    welcome = await client.request(identify)
    client.token = welcome.get("token", "")
    client.user_id = welcome["user"]["id"]
    join = {"type": "join", "room": room}
    if since is not None:
        join["since"] = since
    joined = await client.request(join)
    client.replayed = joined.get("messages") or []
    client.last_id = client.replayed[-1]["id"] if client.replayed else (since or 0)
    return client


async def connected(base: str, flavour: str, index: int) -> ChatClient:
    """Client ``index`` connected (its handshake done), nothing sent: neither identified nor in a room."""
    client = await connect(base, flavour)
    client.index = index
    return client


async def populate(base: str, flavour: str, count: int, rooms: list[str], *, concurrency: int,
                   name_prefix: str = "u", deadline: float = 120.0) -> tuple[list[ChatClient], list[str]]:
    """``count`` clients, client i in room ``rooms[i % len(rooms)]``, brought
    online by ``concurrency`` workers (one task each, pulling the next index:
    cheaper than a task per client waiting on a semaphore); no ``rooms``: only
    connected (``connected``).
    Returns the clients that made it and one error text per client that did not."""
    stop_at = time.monotonic() + deadline
    pending = iter(range(count))
    clients: list[ChatClient] = []
    failures: list[str] = []

    async def worker() -> None:
        for i in pending:
            remaining = stop_at - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError("population deadline passed")
                arrival = (bring_online(base, flavour, i, rooms[i % len(rooms)], name_prefix=name_prefix) if rooms
                           else connected(base, flavour, i))
                async with asyncio.timeout(remaining):
                    clients.append(await arrival)
            except Exception as e:  # counted and reported, never fatal
                failures.append(f"{type(e).__name__}: {e}")

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    clients.sort(key=lambda c: c.index)
    return clients, failures


async def quiesce(clients: list[ChatClient], quiet: float = 0.5, limit: float = 20.0,
                  expected: int | None = None) -> None:
    """Wait until the presence frames that the joins set off have all arrived
    (a room of n sees n(n-1)/2 of them; ``expected``: that many in all, for
    clients in several rooms), or none arrived for ``quiet`` seconds
    (a server that sends none): a measurement must not start while the
    server is still busy with, or the sockets still full of, the set-up."""
    if expected is None:
        expected = sum(n * (n - 1) // 2 for n in Counter(c.room for c in clients).values())
    give_up = time.monotonic() + limit
    last, last_change = -1, time.monotonic()
    while time.monotonic() < give_up:
        got = sum(c.presence for c in clients)
        if got >= expected:
            return
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > quiet:
            return
        await asyncio.sleep(0.05)


def close_all(clients: list[ChatClient]) -> None:
    for client in clients:
        client.drop()
