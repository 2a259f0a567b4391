"""A chat client that comes and goes as docs/protocol.md "Reconnecting" says,
and keeps every message id of its room it saw, in order, to be checked
against the store (bench/cluster_soak.py). Its ``Sequence`` (one channel's ids,
the paging that follows ``more``) also keeps community.py's rooms and
private messages.

    client = Client("listener1", "soak0", writes=False)
    await run_client(client, urls, urls[0], interval=0.05, dropping=True)   # until client.done
    client.seen, client.repeated, client.disordered, client.problems

Each session: identify with the token (a name the first time), join with
``since`` = the last id seen (0 at first: every message), resend every
``say`` not yet acknowledged with its original ``cid``; a page cut short
(``more: true``) is followed with ``history`` pages, live messages held
meanwhile. A live message whose id is not above the last one seen is
counted a repeat (if seen) or out of order, except where the protocol says
a page asked without ``before`` may overlap live frames ("Pages").
"""

from __future__ import annotations

import asyncio
import random
import time

import orjson
from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

DROP_AFTER = (0.3, 2.5)  # seconds a listener stays connected before it drops
AWAY = (0.0, 1.0)  # seconds it stays away
RESEND_AFTER = 0.2  # seconds before a writer resends a say refused as "unavailable"
PATIENCE = 10.0  # seconds a request may take before the client gives the connection up


class Sequence:
    """One channel's message ids as a client got them, over all its sessions: a room
    (``where`` = {"room": name}) or all its private messages (``where`` = {}, what
    ``history`` with neither ``room`` nor ``with`` lists). Pages and live frames go
    in through ``page()`` and ``arrived()``; ``seen`` is the ids in the order taken.

        seq = Sequence({"room": "lobby"})
        ask = seq.page(joined)        # a resume's page; a history request to send, or None
        seq.arrived(message["id"])    # held while a page is being fetched
    """

    def __init__(self, where: dict):
        self.where = where
        self.seen: list[int] = []
        self.seen_set: set[int] = set()
        self.repeated = self.disordered = 0
        self.problems: list[str] = []  # what the server answered that it should not have
        self.overlaps = 0
        self.restart()

    def restart(self) -> None:
        """A new session: no page is being fetched."""
        self._gap = False  # a history page is being fetched: live messages wait in _held
        self._held: list[int] = []
        self._unbounded = False  # the page asked for has no `before`: live frames may repeat some of it
        self._overlap_to = 0  # the last id of such a page

    @property
    def last(self) -> int:
        return self.seen[-1] if self.seen else 0

    @property
    def paging(self) -> bool:
        """A page cut short is being followed with ``history`` pages."""
        return self._gap

    def take(self, ids: list[int], *, overlap_ok: bool) -> None:
        for i in ids:
            if i > self.last:
                self.seen.append(i)
                self.seen_set.add(i)
            elif i <= self._overlap_to and i in self.seen_set:
                self.overlaps += 1  # also listed by a page asked without `before`: keep one (protocol "Pages")
            elif not overlap_ok:  # a live message at or below what was seen: the server sent it twice or late
                if i in self.seen_set:
                    self.repeated += 1
                else:
                    self.disordered += 1
                self.problems.append(f"message {i} after {self.last} ({'again' if i in self.seen_set else 'late'})")

    def arrived(self, message_id: int) -> None:
        """A live ``message`` frame of this channel."""
        if self._gap:
            self._held.append(message_id)
        else:
            self.take([message_id], overlap_ok=False)

    def page(self, obj: dict) -> dict | None:
        """A page of a resume (joined, welcome or history after a ``since``): take it. Returns
        the ``history`` request that follows ``more`` (after = the last id, before = the first
        live id held meanwhile), or None once the page is the last (the held live ids then taken)."""
        if obj.get("reset"):
            self.problems.append(f"{obj['type']} said reset: true")
        ids = [m["id"] for m in obj["messages"]]
        self.take(ids, overlap_ok=self._gap)
        if self._unbounded and ids:
            self._overlap_to = max(self._overlap_to, ids[-1])
        if obj.get("more"):
            self._gap = True
            ask = {"type": "history", **self.where, "after": self.last}
            if self._held:
                ask["before"] = self._held[0]
            self._unbounded = "before" not in ask
            return ask
        if self._gap:
            self._gap = False
            held, self._held = self._held, []
            self.take(held, overlap_ok=True)  # a page asked without `before` may hold some of them
        return None


class Client(Sequence):
    """A chat user in one room whose sessions come and go; keeps every message id it saw, in order."""

    def __init__(self, name: str, room: str, writes: bool):
        super().__init__({"room": room})
        self.name, self.room, self.writes = name, room, writes
        self.token: str | None = None
        self.unacked: dict[str, str] = {}  # cid → text
        self.acked: dict[str, int] = {}  # cid → id
        self.sessions = self.replayed = self.live = self.paged = 0
        self.resume_ms: list[float] = []  # connect → joined, every session after the first
        self.done = False
        self.current: Session | None = None  # the session whose frames count
        self._cids = iter(range(1, 1 << 62))

    def frame(self, session: Session, obj: dict) -> None:
        if session is not self.current:
            return  # what a dropped connection still had in its buffers: that client is gone
        kind = obj.get("type")
        if kind == "message" and obj.get("room") == self.room:
            self.live += 1
            self.arrived(obj["id"])
        elif kind == "welcome":
            self.token = obj["token"]
        elif kind == "joined":
            self.replayed += len(obj["messages"])
            self._follow(session, obj)
            session.joined.set()
        elif kind == "history":
            self.paged += len(obj["messages"])
            self._follow(session, obj)
        elif kind == "ack":
            self.unacked.pop(obj["cid"], None)
            self.acked[obj["cid"]] = obj["id"]
        elif kind == "error":
            if obj.get("code") == "unavailable" and obj.get("cid") in self.unacked:
                asyncio.get_running_loop().call_later(RESEND_AFTER, self._resend, session, obj["cid"])
            else:
                self.problems.append(f"{obj.get('code')}: {obj.get('message')}")

    def _follow(self, session: Session, obj: dict) -> None:
        ask = self.page(obj)
        if ask is not None:
            session.send(ask)

    def _resend(self, session: Session, cid: str) -> None:
        if cid in self.unacked and session.open:
            session.send({"type": "say", "room": self.room, "text": self.unacked[cid], "cid": cid})

    def say(self, session: Session) -> None:
        cid = f"{self.name}.{next(self._cids)}"
        self.unacked[cid] = f"{self.name} says {cid}"
        session.send({"type": "say", "room": self.room, "text": self.unacked[cid], "cid": cid})

    def hello(self, session: Session) -> None:
        """identify (token once known), join from the last id, resend what is not acknowledged."""
        self.sessions += 1
        self.current = session
        self.restart()
        session.send({"type": "identify", **({"token": self.token} if self.token else {"name": self.name})})
        session.send({"type": "join", "room": self.room, "since": self.last})
        for cid, text in list(self.unacked.items()):
            session.send({"type": "say", "room": self.room, "text": text, "cid": cid})


class Session(WSListener):
    """One WebSocket connection of a Client."""

    def __init__(self, client: Client):
        super().__init__()
        self.client = client
        self.transport = None
        self.joined = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.closed.done()

    def on_ws_connected(self, transport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def on_ws_frame(self, transport, frame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.client.frame(self, orjson.loads(frame.get_payload_as_bytes()))
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def send(self, obj: dict) -> None:
        if self.open:
            self.transport.send(WSMsgType.TEXT, orjson.dumps(obj))

    def drop(self, graceful: bool) -> None:
        if self.open:
            if graceful:  # picows's default close code is 0, which RFC 6455 forbids on the wire
                self.transport.send_close(WSCloseCode.GOING_AWAY)
            self.transport.disconnect(graceful=graceful)




async def one_session(client: Client, url: str, hold: float | None, interval: float) -> None:
    """Connect, resume, stay ``hold`` seconds (None: until ``client.done``), saying every
    ``interval`` if a writer; then drop, cleanly or not (a coin toss)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(PATIENCE):
            _, session = await ws_connect(lambda: Session(client), url)
    except (OSError, TimeoutError) as e:
        client.problems.append(f"connect to {url}: {e!r}")
        await asyncio.sleep(0.1)
        return
    first = client.sessions == 0
    client.hello(session)
    try:
        async with asyncio.timeout(PATIENCE):
            await session.joined.wait()
    except TimeoutError:
        client.problems.append(f"no joined from {url} in {PATIENCE} s")
        session.drop(graceful=False)
        return
    if not first:
        client.resume_ms.append((time.monotonic() - started) * 1000)
    until = None if hold is None else time.monotonic() + hold
    while not session.closed.done() and not client.done and (until is None or time.monotonic() < until):
        if client.writes:
            client.say(session)
        await asyncio.wait([session.closed], timeout=interval)
    session.drop(graceful=random.random() < 0.5)


async def run_client(client: Client, urls: list[str], home: str, interval: float, dropping: bool) -> None:
    """Sessions one after another until ``client.done``: a listener on a random node each time,
    for a random while; a writer on its ``home`` node, as long as the connection lasts."""
    while not client.done:
        if dropping:
            await one_session(client, random.choice(urls), random.uniform(*DROP_AFTER), interval)
            await asyncio.sleep(random.uniform(*AWAY))
        else:
            await one_session(client, home, None, interval)
            home = random.choice(urls)  # its connection broke: go on anywhere


async def caught_up(client: Client, urls: list[str], stored_last: int) -> None:
    """A last session that stays until the client has the room's newest stored message."""
    _, session = await ws_connect(lambda: Session(client), random.choice(urls))
    client.hello(session)
    while client.last < stored_last or client.paging:
        await asyncio.sleep(0.05)
    session.drop(graceful=True)
