"""What keeps a user's attention across devices (docs/protocol.md, "Read state", "Mentions",
"Typing"): how far each room and private conversation is read, notification levels, closed
conversations, and who is typing.

Requests (``handlers``): ``read``, ``notify``, ``close`` and ``typing``; ``read`` and ``typing``
are never answered but by errors. What they change reaches the user's sessions on every node (``read`` its OTHER
sessions; ``notify`` and ``closed`` all of them, the asking one too, as its answer with the cid);
``typing`` reaches the others in the room or the conversation's other user, on every node,
and is never stored. Nodes tell each other with the cluster's ``attention`` notice
(``chatd.cluster.node``: ``{"frame", "channel", "user" | "room", "except_user"?}``).

Writes are bounded per user and room: while one ``read`` of a room is being stored, later ones
only raise the id the next write stores (one write in flight per user and channel, whatever
the client sends). A session's ``typing`` is let through once per ``TYPING_EVERY`` seconds
per room or conversation; the rest are dropped quietly (typing is a hint, not a request), as
is one to a user without a conversation with the typist (no private message either way yet).

    attention = Attention(hub, store, cluster, clock)
    chat._requests.update(attention.handlers())
    fields = await attention.joined(user_id, room)        # joined's unread, mentions, last_read, notify
    fields = await attention.welcome(user_id)             # welcome's room_state and conversations
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatd.client_refusals import no_such_user
from chatd.cluster.node import Cluster
from chatd.hub import Hub
from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.requests import Request
from chatd.replies import Connection, answer
from chatd.session import PRIVATE, Room, Session
from chatd.store import DatabaseUnreachable, Store
from chatd.store.readstate import PEER, ROOM, Unread
from chatd.wsframe import wire

log = logging.getLogger("chatd.attention")

# The level a room or conversation has until the user sets one: rooms notify of mentions,
# conversations (every message is to the user) of everything.
DEFAULT_NOTIFY = {ROOM: "mentions", PEER: "all"}
TYPING_EVERY = 2.5  # seconds: a session's typing hints let through per room or conversation (the page sends every 3)

Handler = Callable[[Connection, Request], Awaitable[None] | None]


def state_fields(state: Unread, kind: str) -> dict[str, Any]:
    """The read state of a room or conversation as frames carry it (docs/protocol.md, "Read state")."""
    return {"unread": state.unread, **({"unread_more": True} if state.more else {}), "mentions": state.mentions,
            "last_read": state.last_read, "notify": state.notify or DEFAULT_NOTIFY[kind]}


class Attention:
    def __init__(self, hub: Hub, store: Store, cluster: Cluster, rooms: Any, clock: Callable[[], float]):
        self.hub = hub
        self.store = store
        self.cluster = cluster
        self.rooms = rooms  # chatd.rooms.Rooms: the rooms a user may see
        self._clock = clock
        # (user id, channel) → the id a write in flight will be followed by (0: none yet).
        self._marking: dict[tuple[int, str], int] = {}
        self._typed: dict[Session, dict[str, float]] = {}  # session → channel → when it last typed there
        self._tasks: set[asyncio.Task] = set()

    def handlers(self) -> dict[str, Handler]:
        """Request type → handler, for ``chatd.chat.Chat``'s dispatch."""
        return {"read": self._read, "notify": self._notify, "close": self._close, "typing": self._typing}

    # Frames of other requests

    async def welcome(self, user_id: int) -> dict[str, Any]:
        """``welcome``'s ``room_state`` (the rooms the user follows) and ``conversations``."""
        rooms, peers = await self.store.read_state.overview(user_id)
        return {"room_state": [{"room": s.name, **state_fields(s, ROOM)} for s in rooms],
                "conversations": [{"with": {"id": s.key, "name": s.name}, "last_id": s.last_id,
                                   **state_fields(s, PEER)} for s in peers]}

    async def joined(self, user_id: int, room: Room) -> dict[str, Any]:
        """``joined``'s read state of the room. A room joined for the first time is followed from
        here on, read up to its newest message; that row is stored before ``joined`` is sent, so a
        ``welcome`` of any of the user's devices afterwards lists the room."""
        state = await self.store.read_state.room(user_id, room.id)
        if state is None:
            last_read = await self.store.read_state.follow(user_id, room.id)
            state = Unread(room.id, room.name, last_read, None, 0, False, 0)
        return state_fields(state, ROOM)

    def left(self, user_id: int, room: Room) -> None:
        """The user left the room (``leave``): it is no longer followed."""
        self._spawn(self.store.read_state.unfollow(user_id, room.id))

    def forget(self, session: Session) -> None:
        """The session ended."""
        self._typed.pop(session, None)

    # Requests

    def _target(self, conn: Connection, req: Request) -> tuple[str, int, str, dict[str, Any]]:
        """(kind, key, channel, the frame's target) of a request naming ``room`` or ``with``."""
        if "room" in req.fields:
            room = self.rooms.get(req.fields["room"], conn.session.user.id)
            return ROOM, room.id, room.key, {"room": room.name}
        return PEER, req.fields["with"], PRIVATE, {"with": req.fields["with"]}

    def _read(self, conn: Connection, req: Request) -> None:
        kind, key, channel, target = self._target(conn, req)
        user_id, wanted = conn.session.user.id, req.fields["id"]
        if (user_id, channel) in self._marking:  # a write is under way: the next one takes the highest
            self._marking[user_id, channel] = max(self._marking[user_id, channel], wanted)
            return
        self._marking[user_id, channel] = 0
        self._spawn(self._mark(conn.session, user_id, kind, key, channel, target, wanted))

    async def _mark(self, session: Session, user_id: int, kind: str, key: int, channel: str,
                    target: dict[str, Any], wanted: int) -> None:
        try:
            while wanted:
                # No further than the newest message: a later one must not count as read already.
                wanted = min(wanted, await self.store.newest(at_least=wanted))
                if await self.store.read_state.mark(user_id, kind, key, wanted):
                    self._to_user(user_id, channel, {"type": "read", **target, "id": wanted}, skip=session)
                wanted = self._marking[user_id, channel]
                self._marking[user_id, channel] = 0
        finally:
            self._marking.pop((user_id, channel), None)

    async def _notify(self, conn: Connection, req: Request) -> None:
        kind, key, channel, target = self._target(conn, req)
        level = req.fields["level"]
        user_id = conn.session.user.id
        if not await self.store.read_state.set_notify(user_id, kind, key, None if level == DEFAULT_NOTIFY[kind]
                                                      else level):
            raise _not_followed(kind, req)
        self._confirm(conn, req, channel, {"type": "notify", **target, "level": level})

    async def _close(self, conn: Connection, req: Request) -> None:
        user_id, peer = conn.session.user.id, req.fields["with"]
        if not await self.store.read_state.close(user_id, peer):
            raise _not_followed(PEER, req)
        self._confirm(conn, req, PRIVATE, {"type": "closed", "with": peer})

    def _typing(self, conn: Connection, req: Request) -> Awaitable[None] | None:
        session, user = conn.session, conn.session.user
        if "room" in req.fields:
            room = self.rooms.get(req.fields["room"], user.id)
            if room.key not in session.rooms:
                raise ProtocolError(Code.NOT_IN_ROOM, f"join {room.name!r} first", req.cid, details={"room": room.name})
            channel = room.key
        else:
            room, channel = None, f"{PRIVATE}{req.fields['with']}"
        now, typed = self._clock(), self._typed.setdefault(session, {})
        if now - typed.get(channel, -TYPING_EVERY) < TYPING_EVERY:
            return None  # dropped quietly
        typed[channel] = now
        frame = {"type": "typing", "user": user.ref()}
        if room is not None:
            frame["room"] = room.name
            self.deliver({"frame": frame, "channel": room.key, "room": room.id, "except_user": user.id})
            self.cluster.share_attention({"frame": frame, "channel": room.key, "room": room.id, "except_user": user.id})
        elif req.fields["with"] != user.id:
            return self._typing_to(user.id, req.fields["with"], {**frame, "with": user.id})
        return None

    async def _typing_to(self, user_id: int, peer_id: int, frame: dict[str, Any]) -> None:
        """A private hint, to a user the typist has a conversation with; else dropped quietly, as
        ``read`` of a conversation that does not exist is (the page says typing in a conversation
        it opens, before its first message). One read per session and peer every TYPING_EVERY."""
        try:
            talking = await self.store.read_state.has_conversation(user_id, peer_id)
        except DatabaseUnreachable:  # a hint is worth no error; the outage is logged (chatd.store.health)
            return
        if talking:
            self._to_user(peer_id, PRIVATE, frame)

    # Delivery, here and on the other nodes

    def _to_user(self, user_id: int, channel: str, frame: dict[str, Any], skip: Session | None = None) -> None:
        """``frame`` to the user's sessions on every node (but ``skip``, here)."""
        self.deliver({"frame": frame, "channel": channel, "user": user_id}, skip)
        self.cluster.share_attention({"frame": frame, "channel": channel, "user": user_id})

    def _confirm(self, conn: Connection, req: Request, channel: str, frame: dict[str, Any]) -> None:
        """``frame`` to every session of the user: the asking one as its answer (with its cid)."""
        self._to_user(conn.session.user.id, channel, frame, skip=conn.session)
        answer(conn, req, dict(frame))

    def deliver(self, body: dict[str, Any], skip: Session | None = None) -> None:
        """A frame to this node's sessions, as the ``attention`` notice says (``chatd.cluster.node``)."""
        data = wire(body["frame"])
        if "room" in body:
            room = self.hub.rooms_by_id.get(int(body["room"]))
            if room is None:
                return
            sessions = (s for s in room.sessions if s.user is not None and s.user.id != body.get("except_user"))
        else:
            sessions = (s for s in self.hub.sessions_of(int(body["user"])) if s is not skip)
        self.hub.publish(sessions, str(body["channel"]), None, data)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # e.g. the database is down: the next read retries
            log.warning("storing read state failed: %r", task.exception())


def _not_followed(kind: str, req: Request) -> ProtocolError:
    if kind == ROOM:
        room = req.fields["room"]
        return ProtocolError(Code.NOT_IN_ROOM, f"join {room!r} first", req.cid, details={"room": room})
    return no_such_user(req.fields["with"], req.cid, "conversation with user")
