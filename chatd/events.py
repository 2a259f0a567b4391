"""Notifications (``event`` frames): an event name and a JSON payload pushed to
a user (all their sessions, on every node), a room (the sessions in it) or
everyone online — not chat messages. docs/protocol.md, "Notifications".

A notification to a user may be **stored** (``store=True``): kept until its
TTL runs out and numbered per user 1, 2, 3... (``chatd.store.events``). It
travels like a message: a bus ``Delivery`` on the user's channel
``event:<id>``, with ``prev`` its number minus one on a shared store, so
``chatd.feed`` delivers it once, in order, and fills a gap (a Redis restart
that dropped one, two nodes racing) from the store. A session that
identifies later gets the unexpired ones above its ``events_since`` after
the welcome (``replay``). Others are not kept: they go to the sessions
online at that moment, across nodes as a cluster ``Notice``, and one a bus
drops is lost (they are "now or never" by design: store what must arrive).

    events = Events(hub, store, bus, cluster, lambda: config)
    sent = await events.send(Target(user=7), "order.shipped", {"order": 1042}, store=True, ttl=3600)
    await events.send(Target(room="lobby"), "poll.closed", {"poll": 3})
    await events.send(Target(), "maintenance.soon", {"minutes": 10})     # everyone online
    pending = events.replay_read(user_id, events_since)                  # at identify, with the page
    events.replay(session, await pending, events_since, mark)            # after the welcome
    await events.purge()                                                 # every PURGE_EVERY seconds

Refusals raise ``ProtocolError`` with a stable code: ``bad_frame`` (name, data,
ttl), ``bad_room``, ``no_such_room``, ``no_such_user``, ``unavailable``.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any, NamedTuple

from chatd.bus import Bus, Delivery, event_channel
from chatd.client_refusals import deleted_user, no_such_user, refusal_of
from chatd.cluster.node import Cluster
from chatd.feed import Feed
from chatd.hub import Hub
from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.frames import event_frame, stored_event_frame
from chatd.protocol.roomnames import room_name_problem
from chatd.session import EVENTS, Session
from chatd.store import (
    USER_ID_MAX,
    DatabaseUnreachable,
    NoSuchUser,
    Page,
    RecipientDeleted,
    Store,
    WriterClosed,
    now_ms,
)
from chatd.store.living import DELETED
from chatd.strictjson import NESTING_MAX, ill_formed
from chatd.wsframe import wire

log = logging.getLogger("chatd.events")

NAME_MAX = 100  # characters of an event name
# A dotted identifier: "order.shipped", "chat.unread_count", "build-7.done"; ASCII, so that
# what a page switches on is what the app sent, byte for byte.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z][A-Za-z0-9_-]*)*")
SECONDS_PER_DAY = 86_400
PURGE_EVERY = 300  # seconds between purges of expired events
REPLAY_SHARE = 2  # a replay holds at most history.page_bytes / REPLAY_SHARE bytes
# Bytes of an event frame besides its data: a name of NAME_MAX ASCII characters, a room name
# (32 characters of at most 4 bytes), a time and an id of at most 19 digits, and the field names.
FRAME_OVERHEAD = 512
LIVE_SHARE = 4  # a notification must fit in the quarter of a send queue kept for live frames (chatd.paging)
PURGE_BATCH = 1000  # rows deleted per writer job: the writer never stalls on a big purge

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class Target(NamedTuple):
    """Who a notification goes to: a user (by id), a room (by name), or, neither given, everyone online."""

    user: int | None = None
    room: str | None = None


class Sent(NamedTuple):
    """What ``send`` did: a stored notification's number for its user (``id``), its
    time and expiry (ms since the Unix epoch; ``expires`` None when not stored)."""

    id: int | None
    ts: int
    expires: int | None


def name_problem(name: Any) -> str | None:
    """What is wrong with an event name (``NAME``, at most ``NAME_MAX`` characters), or None."""
    if not isinstance(name, str) or len(name) > NAME_MAX or not NAME.fullmatch(name):
        return (f"must be a dotted identifier such as order.shipped (letters, digits, '_' and '-', parts "
                f"joined by '.'), at most {NAME_MAX} characters")
    return None


def check_name(name: Any) -> str:
    """``name`` if it is an event name; else ProtocolError ``bad_frame`` saying why."""
    problem = name_problem(name)
    if problem:
        raise ProtocolError(Code.BAD_FRAME, f"'name' {problem}")
    return name


def encode_data(data: Any, max_bytes: int) -> str:
    """The payload as compact JSON, at most ``max_bytes`` bytes of UTF-8 (``events.max_data_bytes``);
    ProtocolError if it is not JSON (NaN, an unpaired surrogate, deeper than NESTING_MAX) or too large."""
    problem = ill_formed(data)
    if problem:
        raise ProtocolError(Code.BAD_FRAME, f"'data' {problem}")
    if _depth(data) > NESTING_MAX:  # the nesting a client's JSON may have (chatd.strictjson)
        raise ProtocolError(Code.BAD_FRAME, f"'data' nests arrays and objects deeper than {NESTING_MAX} levels")
    try:
        text = _dumps(data)
    except (ValueError, TypeError) as e:
        raise ProtocolError(Code.BAD_FRAME, f"'data' is not JSON: {e}") from None
    size = len(text.encode())
    if size > max_bytes:
        raise ProtocolError(Code.BAD_FRAME, f"'data' is {size} bytes as JSON; at most {max_bytes} are allowed "
                                            "(events.max_data_bytes)")
    return text


def config_problem(max_data_bytes: int, send_queue_bytes: int) -> str | None:
    """Why ``events.max_data_bytes`` is too large for ``limits.send_queue_bytes``, or None: the
    largest event frame must fit in the quarter of a connection's queue kept for live frames
    (``chatd.paging``), or a client reading at a normal pace could be cut off as a slow reader."""
    most = send_queue_bytes // LIVE_SHARE - FRAME_OVERHEAD
    if max_data_bytes <= most:
        return None
    return (f"'events.max_data_bytes' ({max_data_bytes}) must be at most {most}: 1/{LIVE_SHARE} of "
            f"'limits.send_queue_bytes' ({send_queue_bytes}) less {FRAME_OVERHEAD} bytes for the rest of the frame, "
            "or a client reading at a normal pace could be cut off by one notification; lower it or raise "
            f"limits.send_queue_bytes to {(max_data_bytes + FRAME_OVERHEAD) * LIVE_SHARE} or more")


def _depth(value: Any, limit: int = NESTING_MAX) -> int:
    """How deep arrays and objects nest in ``value``, counted up to ``limit + 1``."""
    if not isinstance(value, (dict, list)):
        return 0
    if limit < 0:
        return 1
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


def ttl_ms(ttl: Any, store: bool, ttl_days: float) -> int | None:
    """How long a notification is kept, in ms: ``ttl`` seconds (1 up to ``events.ttl_days``),
    by default ``events.ttl_days``; None when it is not stored. ProtocolError for a ttl
    out of range, or given to one not stored."""
    most = int(ttl_days * SECONDS_PER_DAY)
    if not store:
        if ttl is not None:
            raise ProtocolError(Code.BAD_FRAME, "'ttl_seconds' is for stored events ('store': true) only")
        return None
    if ttl is None:
        return most * 1000
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= most:
        raise ProtocolError(Code.BAD_FRAME, f"'ttl_seconds' must be a whole number from 1 to {most} "
                                            "(events.ttl_days)")
    return ttl * 1000


class Events:
    def __init__(self, hub: Hub, store: Store, bus: Bus, cluster: Cluster, feed: Feed, config: Callable[[], Any]):
        """``config``: the config in effect (it changes on reload)."""
        self.hub = hub
        self.store = store
        self.bus = bus
        self.cluster = cluster
        self.feed = feed
        self._config = config

    async def send(self, target: Target, name: str, data: Any, store: bool = False, ttl: int | None = None) -> Sent:
        """Send a notification (see the module's docstring); ``ttl`` in seconds. → Sent."""
        settings = self._config().events
        name = check_name(name)
        text = encode_data(data, settings.max_data_bytes)
        keep_ms = ttl_ms(ttl, store, settings.ttl_days)
        if target.user is not None and target.room is not None:
            raise ProtocolError(Code.BAD_FRAME, "an event goes to a user or a room, not both")
        if store and target.user is None:
            raise ProtocolError(Code.BAD_FRAME, "only an event to a user can be stored ('store': true)")
        if target.user is not None:
            return await self._to_user(target.user, name, data, text, keep_ms)
        if target.room is not None:
            return self._to_room(target.room, name, data)
        return self._to_everyone(name, data)

    async def _to_user(self, user_id: int, name: str, data: Any, text: str, keep_ms: int | None) -> Sent:
        if keep_ms is None:
            await self._check_user(user_id)
            frame = event_frame(name, data, now_ms())
            self.deliver({"user": user_id, "frame": frame})
            self.cluster.event({"user": user_id, "frame": frame})
            return Sent(None, frame["ts"], None)
        if user_id > USER_ID_MAX:
            raise no_such_user(user_id)
        try:
            row = await self.store.events.save(user_id, name, text, keep_ms)
        except (NoSuchUser, RecipientDeleted, DatabaseUnreachable, WriterClosed) as e:
            raise refusal_of(e) from e
        prev = (row.id - 1,) if self.store.shared else None  # one writer: delivery order is commit order
        self.bus.publish(Delivery((event_channel(user_id),), row.id, prev,
                                  wire(event_frame(name, data, row.ts, event_id=row.id))))
        return Sent(row.id, row.ts, row.expires)

    async def _check_user(self, user_id: int) -> None:
        """NO_SUCH_USER unless the user is online on some node or stored; RECIPIENT_DELETED for a
        deleted user, as a stored event to it gets (nothing would ever reach it)."""
        if user_id > USER_ID_MAX:
            raise no_such_user(user_id)
        if self.cluster.name_of(user_id) is not None:
            return
        try:
            found = await self.store.user_kind(user_id)
        except DatabaseUnreachable as e:
            raise refusal_of(e) from e
        if found is None:
            raise no_such_user(user_id)
        if found[1] == DELETED:
            raise deleted_user(user_id, recipient=True)

    def _to_room(self, room_name: str, name: str, data: Any) -> Sent:
        room_name = unicodedata.normalize("NFC", room_name)
        problem = room_name_problem(room_name)
        if problem:
            raise ProtocolError(Code.BAD_ROOM, f"room name {problem}", details=problem.fields)
        room = self.hub.room(room_name)
        if room is None:
            raise ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {room_name!r}", details={"room": room_name})
        frame = event_frame(name, data, now_ms(), room=room.name)
        self.deliver({"room": room.id, "frame": frame})
        self.cluster.event({"room": room.id, "frame": frame})
        return Sent(None, frame["ts"], None)

    def _to_everyone(self, name: str, data: Any) -> Sent:
        frame = event_frame(name, data, now_ms())
        self.deliver({"frame": frame})
        self.cluster.event({"frame": frame})
        return Sent(None, frame["ts"], None)

    def deliver(self, body: dict[str, Any]) -> None:
        """A notification not stored, to this node's sessions: ``body`` is
        ``{"frame": frame}`` plus ``"user": id`` or ``"room": id`` (as nodes tell
        each other: ``chatd.cluster.node``). Encoded once for every session."""
        data = wire(body["frame"])
        if "room" in body:
            room = self.hub.rooms_by_id.get(body["room"])
            if room is not None:
                self.hub.publish(room.sessions, room.key, None, data)
        elif "user" in body:
            self.hub.publish(self.hub.sessions_of(body["user"]), EVENTS, None, data)
        else:
            self.hub.publish((s for s in self.hub.sessions if s.user is not None), EVENTS, None, data)

    # A session that identifies

    def replay_read(self, user_id: int, since: int | None) -> Any:
        """→ (awaitable) a Page of the stored events a session identifying with
        ``events_since`` = ``since`` (None: it saw none) is sent: the newest
        ``events.replay_max`` unexpired ones above it, no more than ``replay`` sends
        (half ``history.page_bytes``: with the welcome's page, the reply stays within
        what docs/configuration.md, "Reply sizes", allows for), oldest first."""
        config = self._config()
        return self.store.events.page(user_id, since or 0, config.events.replay_max,
                                      config.history.page_bytes // REPLAY_SHARE, newest=True)

    def replay(self, session: Session, page: Page, since: int | None, mark: int) -> None:
        """Send ``page`` (``replay_read``'s) to ``session`` after its welcome — its newest
        frames that fit in half ``history.page_bytes`` of encoded bytes, at least one —
        then what arrived meanwhile (``chatd.feed``: ``mark`` is ``losses`` before the read)."""
        budget = self._config().history.page_bytes // REPLAY_SHARE
        frames: list[tuple[int, bytes]] = []
        size = 0
        for row in reversed(page.rows):
            data = wire(stored_event_frame(row))
            size += len(data)
            if frames and size > budget:
                break
            frames.append((row.id, data))
        for event_id, data in reversed(frames):
            session.catch_up(EVENTS, event_id, data)
        self.feed.release(session, EVENTS, page.rows[-1].id if page.rows else since or 0, False, mark)

    # Upkeep

    async def purge(self) -> int:
        """Delete expired events in batches of PURGE_BATCH, in the writer thread; → how
        many. A database failure stops it until the next time (logged by the store)."""
        purged = 0
        try:
            while True:
                count = await self.store.events.purge(PURGE_BATCH)
                purged += count
                if count < PURGE_BATCH:
                    break
        except (DatabaseUnreachable, WriterClosed):
            pass
        if purged:
            log.info("purged %d expired events", purged)
        return purged

