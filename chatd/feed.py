"""What the bus brings, delivered to this process's sessions: every message
of a channel exactly once, in order, with no gap (docs/protocol.md, "Order
and gaps").

The bus is only the fast path: a message can come late, out of order (two
nodes publish at once) or never (a node killed between its commit and its
publish, Redis restarted). Each message of a shared store carries, per
channel, ``prev``: the id of the message before it there. A session given a
message whose ``prev`` it has not seen has a gap (``Session.deliver_after``); the
feed then holds that channel for the session, reads the missing messages
from the store (the truth), sends them in order, and releases what was held.
A bus that may have missed items calls ``lost``: every channel a session
here is in is filled the same way, up to the newest message.

One store read serves every session of a channel with a gap at the same
time (a *round*); gaps found while a round reads wait for the next one, so
a channel never has two reads under way. Each message read becomes a frame
once, written to every session that lacks it.

A round whose read fails because the database is down closes nobody at
once: its sessions keep the channel held (live messages wait behind the gap)
and the read runs again when the store sees the database back
(``Store.outage``, which probes it); a session is closed with 1013 only past
``OUTAGE_WAIT`` or once it holds more than ``limits.send_queue_bytes``
(docs/operations.md, "When the database is unreachable").

Channels: ``room:<id>`` goes to the sessions in that room (session channel
key ``Room.key``), ``user:<id>`` to that user's sessions (key ``PRIVATE``),
and ``event:<id>``, the user's stored notifications (``chatd.events``), to
that user's sessions too (key ``EVENTS``; the "message id" is the user's
event number, and ``prev`` the one before it).

    feed = Feed(hub, store, lambda: config.history.page_bytes, lambda: config.limits.send_queue_bytes)
    await bus.start(feed)                        # feed.delivery(item), feed.lost()
    mark = feed.losses                           # before a join reads its page ...
    feed.release(session, room.key, last_id, loose=False, mark=mark)   # ... and after it is sent
    await feed.close()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from chatd import metrics
from chatd.bus import EVENT, ROOM, USER, Delivery, Notice, event_channel, room_channel, user_channel
from chatd.hub import Hub
from chatd.protocol.codes import CloseCode
from chatd.protocol.frames import message_frame, stored_event_frame
from chatd.session import EVENTS, PRIVATE, Held, Session
from chatd.store import DatabaseUnreachable, Page, Store
from chatd.wsframe import wire

log = logging.getLogger("chatd.feed")

# Messages per store read of a fill: a round reads page after page of this many
# (and at most history.page_bytes of text each) until it reaches the newest.
FILL_ROWS = 500
# Seconds a round waits for a database that went down under its read before its
# sessions are closed with 1013 (docs/operations.md, "When the database is unreachable").
OUTAGE_WAIT = 30.0
# Seconds between two looks, while a round waits, at what its sessions hold.
HELD_CHECK = 1.0


class Round:
    """The sessions waiting for a channel's gap to be filled, each with the
    list its channel is held in (``Session.pending[key]``): a session whose
    list is no longer that one left the channel, closed, or was taken over
    by a join, and is no longer this round's to release."""

    __slots__ = ("key", "waiting", "task")

    def __init__(self, key: str):
        self.key = key
        self.waiting: dict[Session, list[Held]] = {}
        self.task: asyncio.Task | None = None


class Feed:
    def __init__(self, hub: Hub, store: Store, page_bytes: Callable[[], int], held_max: Callable[[], int]):
        self.hub = hub
        self.store = store
        self._page_bytes = page_bytes  # → history.page_bytes now (live)
        self._held_max = held_max  # → limits.send_queue_bytes now (live): what a session may hold in an outage
        self._rounds: dict[str, Round] = {}  # bus channel → its fill, while one runs
        # How many times the bus said items may have been lost. A page read before
        # a loss may lack what the bus lost: ``release`` fills such a channel.
        self.losses = 0

    # The bus's receiver

    def delivery(self, item: Delivery) -> None:
        """Route one stored message to the sessions of its channels here."""
        message_id, data, prevs = item.id, item.data, item.prev
        frames = 0
        for i, channel in enumerate(item.channels):
            key, sessions = self._route(channel)
            frames += len(sessions)
            if prevs is None:  # one process: delivery order is commit order, nothing to check (the hot path)
                for session in sessions:
                    session.deliver(key, message_id, data)
                continue
            prev = prevs[i]
            for session in sessions:
                if session.deliver_after(key, message_id, data, prev):
                    self._gap(channel, key, session)
        metrics.delivered(frames, len(data))  # once per fan-out, not per recipient

    def notice(self, item: Notice) -> None:
        """Notices carry no stored message: what they say is ``chatd.cluster``'s to keep."""

    def lost(self) -> None:
        """The bus may have missed items: fill every channel a session here is
        in, except those whose page was cut short (the client fetches up to its
        first live message itself: docs/protocol.md, "Pages") and those held
        (a join or a fill under way: ``release`` and the round see ``losses``)."""
        self.losses += 1
        log.info("the bus may have missed messages: reading what %d sessions lack from the store",
                 len(self.hub.sessions))
        for session in list(self.hub.sessions):
            if session.user is None:
                continue
            channels = [(user_channel(session.user.id), PRIVATE), (event_channel(session.user.id), EVENTS)]
            channels += [(room_channel(room.id), key) for key, room in session.rooms.items()]
            for channel, key in channels:
                if key not in session.pending and not (session.loose and key in session.loose):
                    session.hold(key)
                    self._gap(channel, key, session)

    # Pages sent to a session

    def release(self, session: Session, key: str, last_id: int, loose: bool, mark: int) -> None:
        """A join's or a welcome's page of channel ``key`` is sent up to message
        ``last_id`` (``loose``: cut short after a ``since``); ``mark`` is
        ``losses`` as it was before the page was read. Sends what was held,
        and fills the channel if a held message shows a gap, or if the bus
        lost items since ``mark`` (the page may predate them)."""
        if key == PRIVATE:
            channel = user_channel(session.user.id)
        elif key == EVENTS:
            channel = event_channel(session.user.id)
        else:
            channel = room_channel(session.rooms[key].id)
        if session.release(key, last_id, loose):
            self._gap(channel, key, session)
        elif self.losses != mark and not loose:
            session.hold(key)
            self._gap(channel, key, session)

    # Filling

    def _route(self, channel: str) -> tuple[str, Iterable[Session]]:
        """A bus channel that a message came on → (the sessions' channel key, the sessions here in it)."""
        if channel.startswith(ROOM):
            room = self.hub.rooms_by_id.get(int(channel[len(ROOM):]))
            if room is None:
                return "", ()
            # Written in, on whichever node: used, so never removed (chatd.rooms). The posting
            # node marked it already; every other node learns it here.
            room.messaged = True
            return room.key, room.sessions
        key, prefix = (PRIVATE, USER) if channel.startswith(USER) else (EVENTS, EVENT)
        assert channel.startswith(prefix), channel
        user = self.hub.users.get(int(channel[len(prefix):]))
        return key, (user.sessions if user is not None else ())

    def _gap(self, channel: str, key: str, session: Session) -> None:
        """``session`` holds ``channel`` (key ``key``) and lacks messages in it:
        it waits for the channel's next round."""
        fill = self._rounds.get(channel)
        if fill is None:
            fill = self._rounds[channel] = Round(key)
            fill.task = asyncio.get_running_loop().create_task(self._fill(channel, fill))
        fill.waiting[session] = session.pending[key]

    async def _fill(self, channel: str, fill: Round) -> None:
        """Rounds until no session of the channel waits: read what the waiting
        sessions lack, send it, release them (a release may show a new gap).
        A read that fails because the database is down is run again once it
        answers (``_outlast``), within ``OUTAGE_WAIT`` of the first such failure."""
        key = fill.key
        deadline: float | None = None  # loop.time() by which an outage met by this round must end
        try:
            while fill.waiting:
                batch, fill.waiting = fill.waiting, {}
                mark = self.losses
                try:
                    await self._catch_up(channel, key, batch)
                except DatabaseUnreachable:  # logged once per outage (chatd.store.health)
                    if deadline is None:
                        deadline = asyncio.get_running_loop().time() + OUTAGE_WAIT
                    # What was sent stays sent (``Session.sent``): the next read starts after it.
                    fill.waiting = {**await self._outlast(key, batch, deadline), **fill.waiting}
                    continue
                except Exception:
                    log.exception("reading the messages of %s that %d sessions lack failed; they must resume",
                                  channel, len(batch))
                    _close(key, batch, CloseCode.INTERNAL_ERROR, "could not read missed messages; resume")
                    continue
                deadline = None
                for session, held in batch.items():
                    if session.pending.get(key) is not held:
                        continue
                    if self.losses != mark:  # the read may predate what the bus lost
                        fill.waiting[session] = held
                    elif session.release(key, 0):
                        fill.waiting[session] = session.pending[key]
        finally:
            del self._rounds[channel]

    async def _outlast(self, key: str, batch: dict[Session, list[Held]], deadline: float) -> dict[Session, list[Held]]:
        """The database is down: the sessions of ``batch`` keep their channel held
        (live messages wait behind the gap) until it answers again, then → those
        still waiting, to be read for again. A session is closed with 1013
        (docs/protocol.md, "Close codes") once it holds more than
        ``limits.send_queue_bytes`` (the slow-reader cut-off would end it anyway when
        that is sent), or when the database is still down at ``deadline``."""
        loop = asyncio.get_running_loop()
        while True:
            waiting = {s: held for s, held in batch.items() if s.pending.get(key) is held}
            full = {s: held for s, held in waiting.items() if sum(len(h[1]) for h in held) > self._held_max()}
            _close(key, full, CloseCode.TRY_AGAIN_LATER, "the database is unreachable; resume shortly")
            waiting = {s: held for s, held in waiting.items() if s not in full}
            left = deadline - loop.time()
            if not waiting or left <= 0:
                _close(key, waiting, CloseCode.TRY_AGAIN_LATER, "the database is unreachable; resume shortly")
                return {}
            if await self.store.outage.back(min(left, HELD_CHECK)):
                return waiting
            batch = waiting

    async def _catch_up(self, channel: str, key: str, batch: dict[Session, list[Held]]) -> None:
        """Send each session of ``batch`` the messages of ``channel`` it lacks,
        from the oldest any of them lacks up to the newest stored."""
        after = min(session.sent.get(key, 0) for session in batch)
        frame = stored_event_frame if key == EVENTS else message_frame
        while True:
            page = await self._read(channel, after)
            waiting = [s for s, held in batch.items() if s.pending.get(key) is held]
            for row in page.rows:
                data = wire(frame(row))
                for session in waiting:
                    session.catch_up(key, row.id, data)
            if not page.more or not waiting:
                return
            after = page.rows[-1].id

    def _read(self, channel: str, after: int) -> asyncio.Future[Page]:
        bounds = {"before": None, "after": after, "limit": FILL_ROWS, "max_chars": self._page_bytes()}
        if channel.startswith(ROOM):
            return self.store.room_history(int(channel[len(ROOM):]), **bounds)
        if channel.startswith(EVENT):
            return self.store.events.page(int(channel[len(EVENT):]), after, FILL_ROWS, self._page_bytes())
        return self.store.private_history(int(channel[len(USER):]), **bounds)

    async def close(self) -> None:
        """Stop filling (the server is stopping: its sessions are closing)."""
        tasks = [fill.task for fill in self._rounds.values() if fill.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _close(key: str, batch: dict[Session, list[Held]], code: int, reason: str) -> None:
    """Close each session of ``batch`` that still waits for its channel ``key`` there."""
    for session, held in batch.items():
        if session.pending.get(key) is held and session.close is not None:
            session.close(code, reason)
