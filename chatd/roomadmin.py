"""What the web app does to rooms (the HTTP API, app tokens): members-only
rooms, their members, and updating and deleting rooms.

**Members-only rooms** are seen (room list, room events), joined and read
(history) only by their members; to everyone else they answer as a room that
does not exist (``no_such_room``), so their existence does not leak. Only the
app makes them (``create``); a WebSocket ``create`` cannot (``chatd.chat``).
A user is a member while the store holds a membership of either source:
"api" (``add_members``, kept until ``remove_member``) or "token" (the
``rooms`` claim of the user's last app token, replaced by ``set_token_rooms``
at each app-token identify). Each node keeps every members-only room's
members in ``Room.allowed``, loaded at start, kept by the ``member`` notices
of the other nodes and reread with the rooms after a bus outage; a join the
node would refuse is asked of the store, the truth, first (``Rooms.enter``).

**At once, everywhere.** A member removed (or a room turned members-only
without them) is taken out of the room on every node as soon as the notice
arrives: each of their sessions in it gets ``{"type": "left", "room": name,
"reason": "removed"}`` and no more of its messages, the others see them
leave (presence), and their room list gets ``removed``. A member added sees
the room appear (``created``). A deleted room sends ``left`` with reason
``deleted`` to the sessions in it and ``removed`` to the listeners who could
see it. Members-only rooms never expire (``chatd.rooms``): they are the app's.

    admin = RoomAdmin(hub, store, rooms, cluster, lambda: config, clock)
    await admin.create("team-7", topic="", members_only=True)
    await admin.add_members("team-7", [12, 13])            # → [12, 13]: those who were no member
    await admin.remove_member("team-7", 13)                # → True: 13 was a member
    await admin.set_token_rooms(12, ["team-7", "team-9"])  # an app token's `rooms` claim
    await admin.update("team-7", topic="Team 7", members_only=None)
    await admin.delete("team-7")

Refusals raise ``ProtocolError`` (``no_such_room``, ``room_exists``,
``too_many_rooms``, ``no_such_user``, ``recipient_deleted``; ``forbidden`` to delete a ``rooms.default``
room); the API turns them into its errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from chatd.client_refusals import DEFAULT_ROOM, deleted_user, forbidden, no_such_user
from chatd.hub import Hub
from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.fields import checked_room, checked_topic
from chatd.rooms import Rooms, room_exists, server_full
from chatd.session import ROOM_LIST, Room, Session, room_fold
from chatd.store import NoSuchUser, RecipientDeleted, RoomExists, Store
from chatd.store.members import MEMBERS_PAGE
from chatd.wsframe import wire

log = logging.getLogger("chatd.rooms")

REMOVED, DELETED = "removed", "deleted"  # the reasons of a `left` the server sends by itself


class RoomAdmin:
    def __init__(self, hub: Hub, store: Store, rooms: Rooms, cluster: Any, config: Callable[[], Any],
                 clock: Callable[[], float]):
        self.hub = hub
        self._config = config  # → the current Config
        self.store = store
        self.rooms = rooms
        self._cluster = cluster  # chatd.cluster.node.Cluster: tells the other nodes
        self._clock = clock  # seconds (Rooms.track's clock)
        rooms.resync_members = self.resynced
        rooms.restated = self.updated

    # The app's requests

    async def create(self, name: str, topic: str = "", members_only: bool = False) -> Room:
        """Create a room (``name`` and ``topic`` checked as the WebSocket's ``create``
        checks them); no creator, so it counts for nobody's ``rooms.max_per_creator``."""
        name, topic = checked_room(name), checked_topic(topic)
        self.rooms.check_free(name, None)
        max_rooms = self._config().rooms.max_rooms
        if len(self.hub.rooms) >= max_rooms:
            raise server_full(max_rooms)
        try:
            room_id = await self.store.create_room(name, topic, None, members_only)
        except RoomExists as e:  # created meanwhile
            raise room_exists(name, e.existing) from None
        log.info("room %r created by the web app%s", name, " (members only)" if members_only else "")
        return self.rooms.created(room_id, name, topic, None, members_only, self._clock())

    async def update(self, name: str, topic: str | None = None, members_only: bool | None = None,
                     audit: Callable[[Room], dict] | None = None, **flags: Any) -> Room:
        """Change the room's topic, whether it is members-only, and ``flags`` (``archived``,
        ``announcement``: bool; ``retention_days``: int, or ``RETENTION_GLOBAL``), each None:
        unchanged. ``audit(room)``: the audit row to commit with the change (``chatd.audit``)."""
        room = self.rooms.get(name)
        topic = None if topic is None else checked_topic(topic)
        entry = None if audit is None else audit(room)
        if not await self.store.members.update_room(room.id, topic, members_only, entry, **flags):
            # Deleted meanwhile elsewhere.
            raise ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {name!r}", details={"room": name})
        room = self.rooms.get(name)
        self.updated(room, topic, members_only, flags.get("archived"), flags.get("announcement"))
        self._cluster.room_event("updated", room)
        return room

    async def delete(self, name: str, audit: Callable[[Room], dict] | None = None) -> None:
        """Delete the room with its messages and members, everywhere (``audit`` as ``update``'s).
        A ``rooms.default`` room is refused (``forbidden``): every start and reload makes it again,
        empty, so deleting it would only lose its messages."""
        room = self.rooms.get(name)
        if room_fold(room.name) in {room_fold(default) for default in self._config().rooms.default}:
            raise forbidden(DEFAULT_ROOM, f"{room.name!r} is a default room (rooms.default in the configuration), "
                                          "which the server makes again at every start: take it out of "
                                          "rooms.default and reload first", room=room.name)
        await self.store.members.delete_room(room.id, None if audit is None else audit(room))
        if self.hub.room(room.name) is room:  # else deleted meanwhile by another request or node
            self.deleted(room)
        self._cluster.room_event(DELETED, room)
        log.info("room %r deleted by the web app", room.name)

    async def add_members(self, name: str, user_ids: list[int], source: str = "api") -> list[int]:
        """Make the users members (all or none: ``no_such_user`` names one that does
        not exist, ``recipient_deleted`` one that was deleted); → the ids of those who
        were no member before, ascending."""
        room = self.rooms.get(name)
        try:
            added = await self.store.members.add(room.id, user_ids, source)
        except NoSuchUser as e:
            raise no_such_user(e.args[0]) from None
        except RecipientDeleted as e:
            raise deleted_user(e.args[0], True, "it cannot be made a member of a room") from None
        for user_id in sorted(added):
            self.member(room.id, user_id, True)
        return sorted(added)

    async def remove_member(self, name: str, user_id: int) -> bool:
        """Take the user's membership away, of both sources (the app decides; a
        token's claim makes it a member again only with the next token); → whether
        it was a member. Its sessions are cut off the room at once, on every node."""
        room = self.rooms.get(name)
        was = user_id in room.allowed or await self.store.members.is_member(room.id, user_id)
        await self.store.members.remove(room.id, user_id, None)
        self.member(room.id, user_id, False)
        return was

    async def members(self, name: str, after: int = 0, limit: int = MEMBERS_PAGE) -> tuple[list[dict], bool]:
        """The room's stored members with ids above ``after``, by id, at most ``limit``:
        ([{"id", "name", "sources": ["api", "token"], "online": bool}], more)."""
        room = self.rooms.get(name)
        rows, more = await self.store.members.room_members(room.id, after, limit)
        return [{"id": uid, "name": user_name, "sources": sources, "online": self._cluster.name_of(uid) is not None}
                for uid, user_name, sources in rows], more

    async def set_token_rooms(self, user_id: int, names: Iterable[str]) -> None:
        """Replace the user's "token" memberships with the members-only rooms named
        (an app token's ``rooms`` claim). Names of rooms that do not exist, or are
        not members-only, are ignored: a token never creates a room (the app does,
        through the API), so a stale token cannot bring a deleted room back."""
        wanted = {room.id for room in map(self.hub.room, names) if room is not None and room.members_only}
        gained, lost = await self.store.members.set_token_rooms(user_id, wanted)
        for room_id in sorted(gained):
            self.member(room_id, user_id, True)
        for room_id in sorted(lost):
            self.member(room_id, user_id, False)

    # What happens here, for a change made here or on another node

    def member(self, room_id: int, user_id: int, member: bool) -> None:
        """A change of membership made here: carried out here, told to the other nodes."""
        room = self.hub.rooms_by_id.get(room_id)
        if room is not None:
            self.apply_member(room, user_id, member)
            self._cluster.member(room, user_id, member)

    def apply_member(self, room: Room, user_id: int, member: bool) -> None:
        """The user became, or is no longer, a member of ``room``: what its sessions here see."""
        if member == (user_id in room.allowed):
            return
        if member:
            room.allowed.add(user_id)
            if room.members_only:
                self.rooms.tell_user(user_id, "created", room)
            return
        room.allowed.discard(user_id)
        if room.members_only:
            self._cut_off(room, self.hub.sessions_of(user_id), REMOVED)
            self.rooms.tell_user(user_id, "removed", room)

    def updated(self, room: Room, topic: str | None, members_only: bool | None, archived: bool | None = None,
                announcement: bool | None = None) -> None:
        """The room's topic or flags changed (here or elsewhere): the listeners and sessions here see it.
        The flags reach the listeners as ``changed`` with both of them, true or false (docs/protocol.md)."""
        if topic is not None and topic != room.topic:
            room.topic = topic
            self._listeners(room, room.visible_to, "changed", {"name": room.name, "topic": topic})
        posting = {"archived": archived, "announcement": announcement}
        if any(value is not None and value != getattr(room, flag) for flag, value in posting.items()):
            room.archived = room.archived if archived is None else archived
            room.announcement = room.announcement if announcement is None else announcement
            self._listeners(room, room.visible_to, "changed", {"name": room.name, **room.flags()})
        if members_only is None or members_only == room.members_only:
            return
        room.members_only = members_only
        def outsider(user_id: int) -> bool:
            return user_id not in room.allowed

        if members_only:  # the others no longer see it, and are taken out of it
            self._cut_off(room, [s for s in room.sessions if outsider(s.user.id)], REMOVED)
            self._listeners(room, outsider, "removed", {"name": room.name})
        else:  # members saw it already
            self._listeners(room, outsider, "created", room.entry())
        self.rooms.track(room, self._clock())

    def deleted(self, room: Room) -> None:
        """The room is gone (deleted here or elsewhere): everyone in it here leaves it."""
        self._cut_off(room, list(room.sessions), DELETED)
        self.rooms.forget(room)

    def resynced(self, memberships: dict[int, set[int]]) -> None:
        """Every members-only room's members as the store holds them (after a bus
        outage, which may have lost notices): each change is carried out here."""
        for room in list(self.hub.rooms.values()):
            if room.members_only and room.id in memberships:
                stored = memberships[room.id]
                for user_id in sorted(room.allowed - stored):
                    self.apply_member(room, user_id, False)
                for user_id in sorted(stored - room.allowed):
                    self.apply_member(room, user_id, True)

    def _cut_off(self, room: Room, sessions: Iterable[Session], reason: str) -> None:
        """Take the sessions out of ``room`` at once: no more of its messages, presence to
        the others; each is told ``left`` with ``reason``."""
        data = wire({"type": "left", "room": room.name, "reason": reason})
        for session in list(sessions):
            if room.key not in session.rooms:
                continue
            if self.hub.leave(session, room):
                self._cluster.left(room, session.user)
            session.send(data)

    def _listeners(self, room: Room, which: Callable[[int], bool], event: str, entry: dict) -> None:
        """A ``room`` event to the listeners here whose user id passes ``which``."""
        data = wire({"type": "room", "event": event, "room": entry})
        chosen = [s for s in self.hub.listeners if s.user is not None and which(s.user.id)]
        self.hub.publish(chosen, ROOM_LIST, None, data)
