"""Rooms as users see them come and go: creation and its limits, the room
list and its live events, and the removal of rooms nobody uses.

**Creating** a room is refused past ``rooms.max_rooms`` rooms, past
``rooms.max_per_creator`` existing rooms made by the same user (both
``too_many_rooms``), and past the creating address's rate
(``address.rooms_per_hour``, ``rate_limited``: ``chatd.abuse``).

**The list.** A connection that asked for it (``rooms``) listens from then
on (``Hub.listen``) and gets ``room`` events instead of asking again:
``created`` and ``removed`` as they happen; ``changed`` for online counts,
gathered and pushed at most every ``rooms.online_interval`` seconds, each
room once however often its count moved. Pushing every join and leave to
every listener would cost O(users²); this costs at most one small frame
per room per interval.

**Unused rooms.** A room never written in that nobody has been in for
``rooms.unused_expiry_seconds`` is removed (never a ``rooms.default``
room). The store deletes it first, and keeps it should a message be there
after all (one this node never heard of: the bus lost it). Only once the
store has deleted it is the room taken out of the hub and its removal told
to the listeners and the other nodes, so nobody ever hears of a removal
that did not happen. A ``join`` meanwhile waits for the store's answer
(``enter``): it joins the room kept, or gets ``no_such_room``.

**Other nodes.** Rooms created and removed here are told to the other nodes
of a cluster (``tell``, ``chatd.cluster.node``); theirs come here through
``add`` and ``drop``, with the same events to this node's listeners. A room
is in use while anyone is in it on any node (``Room.elsewhere``). After a
bus outage ``resync`` rereads the list from the store, the truth.

    rooms = Rooms(hub, store, lambda: config, address_admit, tell)
    room = await rooms.create(creator_id, address, "games", "board games", now)
    entries, more = rooms.page(after="lobby")
    rooms.track(room, now)    # a room loaded from the store
    rooms.tick(now)           # once a second: expire unused rooms, push changed counts

Clock readings are the caller's (seconds). Refusals raise ``ProtocolError``
without a cid (the connection adds the request's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatd.abuse import Kind, Refusal
from chatd.client_refusals import CREATE_OFF, forbidden
from chatd.hub import Hub
from chatd.names import room_taken
from chatd.paging import fit
from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.fields import checked_room
from chatd.reserved import ReservedNames
from chatd.reserved import refusal as reserved_refusal
from chatd.session import ROOM_LIST, Room, room_fold
from chatd.store import RoomExists, Store
from chatd.wsframe import wire

log = logging.getLogger("chatd.rooms")

# Bytes of `changed` events in one push. A listener that reads at a normal pace must never
# be cut off for them: a quarter of the smallest limits.send_queue_bytes (65536), the share
# live frames have (chatd.paging). At least one event goes out per push, so all get there.
PUSH_BYTES = 16384
# Rooms removed per tick (a second): each removal is a `removed` event of at most ~170
# bytes to every listener, so a thousand rooms expiring at once reach clients as a trickle.
EXPIRIES_PER_TICK = 50


def room_exists(name: str, existing: str | None = None) -> ProtocolError:
    """The ``room_exists`` refusal of a room ``name``: the room ``existing`` has it or a name like it
    (None: a room this user may not see, which is not named), in words and as the frame's ``name``
    and ``existing`` fields (docs/protocol.md, "error")."""
    if existing is None:
        return ProtocolError(Code.ROOM_EXISTS, f"the room name {name!r} is taken", details={"name": name})
    return ProtocolError(Code.ROOM_EXISTS, room_taken(name, existing), details={"name": name, "existing": existing})


def server_full(max_rooms: int) -> ProtocolError:
    """The ``too_many_rooms`` refusal of a room past the server's limit (``rooms.max_rooms``), in
    words and as the frame's ``limit`` and ``count`` fields (docs/protocol.md, "error")."""
    return ProtocolError(Code.TOO_MANY_ROOMS, f"the server holds {max_rooms} rooms already",
                         details={"limit": "server", "count": max_rooms})


class Rooms:
    def __init__(self, hub: Hub, store: Store, config: Callable[[], Any],
                 address_admit: Callable[[Kind, str | None], Awaitable[Refusal | None]],
                 tell: Callable[[str, Room], None]):
        self.hub = hub
        self.store = store
        self._config = config  # → the current Config (live)
        self._address_admit = address_admit
        self._tell = tell  # (event, room): a room created or removed here, for the other nodes
        self._creating: dict[int, int] = {}  # user id → its creates waiting for the store
        # Rooms that may expire → the clock reading since which nobody has been in them,
        # oldest first (each is re-inserted at the end when it changes, with a later reading).
        self._idle: dict[Room, float] = {}
        self._removing: dict[Room, asyncio.Future] = {}  # room → the store's answer to its delete, while awaited
        self._unpushed: dict[Room, None] = {}  # online count changed, not yet pushed (an ordered set)
        self._pushed_at: float | None = None
        # Every members-only room's members as the store holds them, after a resync (chatd.roomadmin).
        self.resync_members: Callable[[dict[int, set[int]]], None] = lambda memberships: None
        # A room's stored state (room, topic, members_only, archived, announcement) after a
        # resync: a lost `updated` notice is made good (chatd.roomadmin).
        self.restated: Callable[..., None] = lambda room, *state: None
        self.reserved = ReservedNames()  # names users may not give a room (chatd.reserved; set by Chat)

    # Requests

    def get(self, name: str, user_id: int | None = None) -> Room:
        """The room ``name``; ProtocolError ``no_such_room`` if there is none,
        or if user ``user_id`` may not see it (a members-only room: the same
        answer, so that its existence does not leak). ``user_id`` None: the
        server's own look-up (the API), which sees every room. A name no room
        may have (control or bidi characters, too long: ``checked_room``) is
        ProtocolError ``bad_room``, from wherever it came (an admin page's URL)."""
        room = self.hub.room(name)
        if room is None:
            checked_room(name)  # only when not found: a room kept from before a stricter rule stays reachable
        if room is None or (user_id is not None and not room.visible_to(user_id)):
            raise self._no_such_room(name)
        return room

    async def enter(self, name: str, user_id: int) -> Room:
        """The room ``name``, for user ``user_id`` to join: as ``get``, but a
        room the store is deleting is waited for (a few ms): the room if the
        store kept it, else ProtocolError ``no_such_room``. A members-only room
        this node does not count the user a member of is asked of the store,
        the truth (another node's addition may not have reached this one yet)."""
        room = self.hub.room(name)
        if room is not None and not room.visible_to(user_id) and await self.store.members.is_member(room.id, user_id):
            room.allowed.add(user_id)
        room = self.get(name, user_id)
        while room in self._removing:
            await asyncio.wait([self._removing[room]])  # its answer (``_deleted``) has been applied after
            room = self.get(name, user_id)
        return room

    def page(self, after: str | None, page_bytes: int, user_id: int) -> tuple[list[bytes], bool]:
        """One page of the room list as user ``user_id`` sees it
        (``chatd.paging.fit``), from the room after the one named ``after`` —
        also a room removed while the client paged, whose place is remembered
        (``Hub.position``)."""
        position = None
        if after is not None:
            room = self.hub.room(after)
            position = self.hub.position(after) if room is None or room.visible_to(user_id) else None
            if position is None:
                raise self._no_such_room(after)
        return fit(self.hub.room_list(position, user_id), page_bytes)

    def _no_such_room(self, name: str) -> ProtocolError:
        """``no_such_room`` for ``name``, in words and as the frame's ``room`` and ``removed`` fields."""
        if self.hub.removed_lately(name):
            # Neutral: an admin or the web app deleted it, or it went unused; which, this node may not know.
            return ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {name!r} any more: it was removed",
                                 details={"room": name, "removed": True})
        return ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {name!r}", details={"room": name})

    async def create(self, creator: int, address: str | None, name: str, topic: str, now: float) -> Room:
        """Create a room for a user, or raise ProtocolError saying why not; tell the listeners."""
        rooms = self._config().rooms
        if not rooms.allow_create:
            raise forbidden(CREATE_OFF, "this server does not let users create rooms")
        held = self.reserved.match(name, "room")
        if held is not None:
            raise reserved_refusal(name, held)
        self.check_free(name, creator)
        # Creates waiting for the store count too, or concurrent ones would all pass.
        if len(self.hub.rooms) + sum(self._creating.values()) >= rooms.max_rooms:
            raise server_full(rooms.max_rooms)
        mine = self.hub.created_by[creator] + self._creating.get(creator, 0)
        if rooms.max_per_creator and mine >= rooms.max_per_creator:
            raise ProtocolError(Code.TOO_MANY_ROOMS, f"you have created {mine} rooms that exist, the most one user "
                                                     "may; rooms nobody uses are removed after a while",
                                details={"limit": "creator", "count": mine})
        # Counted from here: the address's limit may wait for Redis (a cluster) meanwhile.
        self._creating[creator] = self._creating.get(creator, 0) + 1
        try:
            refusal = await self._address_admit(Kind.ROOM, address)
            if refusal is not None:
                raise ProtocolError(Code.RATE_LIMITED, refusal.message, retry_after=refusal.retry_after,
                                    details={"limit": refusal.limit})
            room_id = await self.store.create_room(name, topic, creator)
        except RoomExists as e:  # created meanwhile (by another process, one day)
            raise room_exists(name, e.existing) from None
        finally:
            self._creating[creator] -= 1
            if not self._creating[creator]:
                del self._creating[creator]
        log.info("room %r created by user %d", name, creator)
        return self.created(room_id, name, topic, creator, False, now)

    def check_free(self, name: str, user_id: int | None) -> None:
        """ProtocolError ``room_exists`` if a room has ``name`` or one that looks
        like it; the taken name is said only to whom may see that room."""
        like = self.hub.room_like(name)
        if like is not None and user_id is not None and not like.visible_to(user_id):
            raise room_exists(name)  # names are unique
        if like is not None:
            raise room_exists(name, like.name)

    def created(self, room_id: int, name: str, topic: str, creator: int | None, members_only: bool,
                now: float) -> Room:
        """A room the store has just made here: in the hub, told to the listeners who may see it and the other nodes."""
        room = self.hub.add_room(room_id, name, topic, creator, members_only=members_only)
        self._publish("created", room.entry(), room)
        self._tell("created", room)
        self.track(room, now)
        return room

    # Rooms of other nodes

    def add(self, room_id: int, name: str, topic: str, creator: int | None, now: float,
            members_only: bool = False, allowed: set[int] | None = None) -> None:
        """A room another node created (or kept after all): listed here too
        (``allowed``: its members, if it is members-only and they are known)."""
        if self.hub.room(name) is not None:
            return  # known already (a resync, or our own list)
        room = self.hub.add_room(room_id, name, topic, creator, members_only=members_only)
        room.allowed = allowed or set()
        self._publish("created", room.entry(), room)
        self.track(room, now)

    def drop(self, room_id: int) -> None:
        """A room another node removed: gone here too, unless someone here is in it."""
        room = self.hub.rooms_by_id.get(room_id)
        if room is None or not self._live(room):
            return
        if room.sessions:
            log.warning("room %r was removed by another node while users here are in it; it stays here", room.name)
            return
        self.forget(room)

    async def resync(self, now: float) -> None:
        """Reread the rooms from the store (the bus may have lost some of
        their events): add those missing, drop those gone. Raises what the read raises."""
        def read() -> tuple[list, dict[int, set[int]]]:
            return self.store.room_rows(), self.store.members.memberships()

        rows, memberships = await self.store.read(read)
        stored = {row[0]: row[1:] for row in rows}
        for room_id, (name, topic, creator, members_only, archived, announcement) in stored.items():
            room = self.hub.rooms_by_id.get(room_id)
            if room is None:
                self.add(room_id, name, topic, creator, now, members_only, memberships.get(room_id))
                room = self.hub.rooms_by_id.get(room_id)
            if room is not None:
                self.restated(room, topic, members_only, archived, announcement)
        for room in list(self.hub.rooms.values()):
            if room.id not in stored:
                self.drop(room.id)
        self.resync_members(memberships)
    # Live events and expiry

    def track(self, room: Room, now: float) -> None:
        """Start or restart ``room``'s clock: it is unused from ``now`` on if
        nobody is in it and it was never written in."""
        self._idle.pop(room, None)
        # A members-only room is the web app's: only the app deletes it.
        if (not room.members and not room.elsewhere and not room.messaged and not room.members_only
                and room not in self._removing):
            self._idle[room] = now

    def tick(self, now: float) -> None:
        """Expire what is due; push changed online counts if the interval is over."""
        for room in self.hub.changed:
            self.track(room, now)
            self._unpushed[room] = None
        self.hub.changed.clear()
        self._expire(now)
        if self._pushed_at is None or now - self._pushed_at >= self._config().rooms.online_interval:
            self._pushed_at = now
            self._push()

    def _push(self) -> None:
        sent = 0
        while self._unpushed and sent < PUSH_BYTES:
            room = next(iter(self._unpushed))
            del self._unpushed[room]
            if self._live(room) and self.hub.listeners:
                sent += self._publish("changed", {"name": room.name, "online": room.online}, room)

    def _expire(self, now: float) -> None:
        rooms = self._config().rooms
        if not rooms.unused_expiry_seconds:
            return
        defaults = {room_fold(name) for name in rooms.default}
        removed = 0
        while self._idle and removed < EXPIRIES_PER_TICK:
            room, since = next(iter(self._idle.items()))
            if since > now - rooms.unused_expiry_seconds:
                return
            del self._idle[room]
            if (room.members or room.elsewhere or room.sessions or room.messaged or room.members_only
                    or not self._live(room)):
                continue  # in use after all: tracked again once nobody is in it
            if room_fold(room.name) in defaults:
                self._idle[room] = now  # its clock starts over: it may leave rooms.default by a reload
                continue
            self._remove(room, now - since)
            removed += 1

    def _remove(self, room: Room, unused: float) -> None:
        """Ask the store to delete ``room`` (unused for ``unused`` seconds); ``_deleted`` carries out its answer."""
        deleting = self._removing[room] = self.store.delete_room(room.id)
        deleting.add_done_callback(lambda done: self._deleted(room, unused, done))

    def forget(self, room: Room) -> None:
        """Take a room nobody here is in out of the hub; tell the listeners who could see it.
        A members-only room's place in the list is not kept: only its members knew of it."""
        self.hub.remove_room(room, keep_place=not room.members_only)
        self._unpushed.pop(room, None)
        self._idle.pop(room, None)
        self._publish("removed", {"name": room.name}, room)

    def _deleted(self, room: Room, unused: float, done: asyncio.Future) -> None:
        """The store's answer to a removal: the room is gone (from here on
        everywhere), or it stays, untouched, no longer a candidate."""
        del self._removing[room]
        error = done.exception()
        if error is None and done.result():
            if self._live(room):  # else dropped meanwhile (another node's removal, a resync)
                self.forget(room)
            self._tell("removed", room)  # a node that has forgotten it already ignores this
            log.info("room %r removed: nobody wrote in it and nobody was in it for %d s", room.name, unused)
            return
        # It holds messages (one this node did not hear of): it is used. A delete that failed
        # is not tried again before a restart: the store is in trouble, and the room harms nobody.
        room.messaged = True
        if error is not None:
            log.warning("room %r stays: deleting it failed: %r", room.name, error)
        else:
            log.info("room %r stays: it holds a message", room.name)

    def _live(self, room: Room) -> bool:
        return self.hub.room(room.name) is room

    def _publish(self, event: str, entry: dict, room: Room) -> int:
        """Send one ``room`` event about ``room`` to every listener who may see it; → its size in bytes."""
        data = wire({"type": "room", "event": event, "room": entry})
        listeners = self.hub.listeners
        if room.members_only:
            listeners = {s for s in listeners if s.user is not None and s.user.id in room.allowed}
        self.hub.publish(listeners, ROOM_LIST, None, data)
        return len(data)

    def tell_user(self, user_id: int, event: str, room: Room) -> None:
        """One ``room`` event (``created``: with its entry; ``removed``) to the user's listening sessions here."""
        entry = room.entry() if event == "created" else {"name": room.name}
        sessions = [s for s in self.hub.sessions_of(user_id) if s in self.hub.listeners]
        self.hub.publish(sessions, ROOM_LIST, None, wire({"type": "room", "event": event, "room": entry}))
