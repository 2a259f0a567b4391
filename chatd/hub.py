"""Who is online, in which rooms, on which connections — and routing.

The hub is pure bookkeeping: no sockets, no database, no clock. A session
(``chatd.session``) is given a ``send`` function that takes the wire bytes
of one frame; the hub calls it for each recipient with the *same* bytes
object, so a broadcast is encoded once however large the room. What a
session does with them — held back while a history loads, never twice,
gaps found — is ``chatd.session``'s.

    hub = Hub()
    lobby = hub.add_room(1, "lobby", topic="")
    session = Session("s1", send=connection.write)
    hub.attach(session, user_id=7, name="alice", now=clock(), hold_seconds=300)
    hub.join(session, lobby)                # presence to the others
    session.release(lobby.key, last_id=120)  # (through chatd.feed, which fills gaps)
    hub.publish(lobby.sessions, "#lobby", None, presence_bytes)

**Names.** No guest is online with a name that looks like another online
user's (``chatd.names.name_keys``), and a name let go — its user left or
renamed — stays reserved for that user for ``hold_seconds`` (the caller's
clock readings ``now``, in seconds), so "he left, someone else took his name"
takes time. A user whose name the web app vouches for (``User.vouched``: app
users, bots) is never refused a name, and several such users may share one
(a site has two "John"s): their names hold against guests all the same.
No two rooms have names that look alike.

**The room list** is in creation order (``position`` only grows), read in
pages that start after a room (``room_list``). A removed room's position is
remembered for a while (``GONE_KEPT`` rooms), so a client paging from it
goes on where it was. Sessions that ``listen`` get the list's events; rooms
whose online count changed gather in ``changed`` for whoever pushes them.
"""

from __future__ import annotations

import bisect
import collections
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from chatd.names import name_keys
from chatd.session import EVENTS, GUEST, PRIVATE, Room, Session, User, room_fold, user_keys

GONE_KEPT = 10_000  # removed rooms whose place in the list is remembered (~150 bytes each)
# The user id a name is held for while a bot is being named (chatd.bots): its user may not exist yet,
# and no user has id 0. Such a name is in use, as a bot's is, not one let go.
NAMING = 0


@dataclass(frozen=True, slots=True)
class Holder:
    """Who has a name that looks like one asked for: an online user
    (``left_at`` None), or one who let it go at clock reading ``left_at``."""

    user_id: int
    name: str
    left_at: float | None = None


class NameTaken(Exception):
    def __init__(self, holder: Holder):
        super().__init__(holder.name)
        self.holder = holder


class Hub:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}  # online users by id
        # Online users by each of their name keys: the user itself, or a dict of them by id when
        # several share a key (vouched names, "Names" above): a dict per key costs ~250 B a user.
        self._names: dict[str, User | dict[int, User]] = {}
        self._let_go: dict[str, Holder] = {}  # name key → who let it go and when, oldest first
        self.reserved: dict[str, Holder] = {}  # name key → the bot that has it, online or not (chatd.bots)
        self.rooms: dict[str, Room] = {}  # by room_fold
        self.rooms_by_id: dict[int, Room] = {}  # the same rooms by id (how the bus and the store name them)
        # Room id → Room.elsewhere of that room, also of rooms not (yet) here: the
        # other nodes' memberships, kept by chatd.cluster.peers (which shares this mapping).
        self.elsewhere: dict[int, dict[int, int]] = {}
        self._room_keys: dict[str, Room] = {}  # rooms by each of their name keys
        self._room_order: list[Room] = []  # by position: where a page of the room list starts
        self._positions = itertools.count()
        self._gone: collections.OrderedDict[str, int] = collections.OrderedDict()  # removed: room_fold → position
        self.created_by: collections.Counter[int] = collections.Counter()  # user id → rooms it created that exist
        self.listeners: set[Session] = set()  # sessions that get room list events
        self.changed: dict[Room, None] = {}  # rooms whose online count changed, in order (an ordered set)
        self.sessions: set[Session] = set()

    # Rooms

    def add_room(self, room_id: int, name: str, topic: str = "", creator_id: int | None = None,
                 messaged: bool = False, members_only: bool = False) -> Room:
        """Put a stored room in the hub (once), at the end of the room list.
        Its name keys go to the first room that has them: the store refuses
        look-alikes, but a database from before look-alikes were refused may
        hold some."""
        key = room_fold(name)
        if key not in self.rooms:
            room = self.rooms[key] = Room(room_id, name, topic, next(self._positions), creator_id, messaged,
                                          self.elsewhere.setdefault(room_id, {}), members_only)
            self.rooms_by_id[room_id] = room
            self._room_order.append(room)
            self._gone.pop(key, None)  # the name is a live room's again
            for name_key in room.name_keys:
                self._room_keys.setdefault(name_key, room)
            if creator_id is not None:
                self.created_by[creator_id] += 1
        return self.rooms[key]

    def remove_room(self, room: Room, keep_place: bool = True) -> None:
        """Take a room nobody is in out of the hub; its place in the list is
        remembered for paging (``position``) if ``keep_place``."""
        assert not room.sessions, "only a room nobody is in is removed"
        key = room_fold(room.name)
        del self.rooms[key]
        del self.rooms_by_id[room.id]
        if not room.elsewhere:
            self.elsewhere.pop(room.id, None)
        del self._room_order[self._index(room.position)]
        self.changed.pop(room, None)
        if keep_place:
            self._gone[key] = room.position
        if len(self._gone) > GONE_KEPT:
            self._gone.popitem(last=False)
        if room.creator_id is not None:
            self.created_by[room.creator_id] -= 1
            if not self.created_by[room.creator_id]:
                del self.created_by[room.creator_id]
        for name_key in room.name_keys:
            if self._room_keys.get(name_key) is room:  # to the next room that has it, if any (old databases)
                del self._room_keys[name_key]
                heir = next((r for r in self._room_order if name_key in r.name_keys), None)
                if heir is not None:
                    self._room_keys[name_key] = heir

    def _index(self, position: int) -> int:
        """Where in ``_room_order`` the first room at or after ``position`` is."""
        return bisect.bisect_left(self._room_order, position, key=lambda r: r.position)

    def position(self, name: str) -> int | None:
        """The list position of the room ``name``, or of a room of that name
        removed lately; None if neither."""
        room = self.room(name)
        return room.position if room is not None else self._gone.get(room_fold(name))

    def removed_lately(self, name: str) -> bool:
        """Whether ``name`` is a room removed lately (and not made again)."""
        return room_fold(name) in self._gone

    def room(self, name: str) -> Room | None:
        return self.rooms.get(room_fold(name))

    def room_like(self, name: str) -> Room | None:
        """A room whose name looks like ``name`` (or is it), or None."""
        return next((self._room_keys[k] for k in name_keys(name) if k in self._room_keys), None)

    def room_list(self, after: int | None = None, user_id: int | None = None) -> Iterator[dict]:
        """The rooms in the order they were added, from the first whose
        ``position`` is above ``after`` (None: from the start): ``Room.entry``,
        made as they are taken; with ``user_id``, only the rooms that user may
        see (``Room.visible_to``)."""
        order = self._room_order
        for i in range(0 if after is None else self._index(after + 1), len(order)):
            if user_id is None or order[i].visible_to(user_id):
                yield order[i].entry()

    def listen(self, session: Session) -> None:
        """From now on ``session`` gets the room list's events (not a closing one: its session is over)."""
        if not session.closing:
            self.listeners.add(session)

    # Users and sessions

    def name_holder(self, name: str, user_id: int | None, now: float, hold_seconds: float) -> Holder | None:
        """Who keeps user ``user_id`` (None: a new user) from taking ``name``:
        another online user whose name looks alike, a bot whose name looks
        alike, or another user who let such a name go less than
        ``hold_seconds`` before ``now``."""
        self._expire(now - hold_seconds)
        keys = name_keys(name)
        for key in keys:
            user = next((u for u in self._named(key) if u.id != user_id), None)
            if user is not None:
                return Holder(user.id, user.name)
            bot = self.reserved.get(key)
            if bot is not None and bot.user_id != user_id:
                return bot
        for key in keys:
            held = self._let_go.get(key)
            if held is not None and held.user_id != user_id:
                return held
        return None

    def hold(self, held: Iterable[Holder]) -> None:
        """Hold names let go before this process started (``chatd.store.nameholds``), as if
        their users had let them go here at ``Holder.left_at``: before anyone is online and
        any name is let go here; of two holders of one name key, the later one keeps it."""
        assert not self.users and not self._let_go, "holds from before the start come first"
        for holder in sorted(held, key=lambda h: h.left_at):  # _let_go stays in time order
            for key in name_keys(holder.name):
                self._let_go.pop(key, None)
                self._let_go[key] = holder

    def unhold(self, user_id: int) -> None:
        """Forget the names held for the user (it was erased): anyone may take them now."""
        for key in [key for key, held in self._let_go.items() if held.user_id == user_id]:
            del self._let_go[key]

    def attach(self, session: Session, user_id: int, name: str, now: float, hold_seconds: float,
               kind: str = GUEST) -> User:
        """Make ``session`` a session of the user, of ``kind`` (``chatd.session``);
        NameTaken if ``name_holder`` names someone, unless the user is vouched for
        (see "Names"). An online user keeps the name it is online with unless
        ``name`` differs, which renames it (and holds the old name for it)."""
        user = self.users.get(user_id)
        if not (user.vouched if user is not None else kind != GUEST):
            holder = self.name_holder(name, user_id, now, hold_seconds)
            if holder is not None:
                raise NameTaken(holder)
        if user is None:
            user = self.users[user_id] = User(user_id, name, kind)
            self._take_name(user)
        else:
            self.rename(user, name, now)
        if session not in user.sessions:
            user.sessions += (session,)
        session.user = user
        self.sessions.add(session)
        session.hold(PRIVATE)  # until the welcome's page is sent
        session.hold(EVENTS)  # until the welcome's replay of stored notifications is sent
        return user

    def rename(self, user: User, name: str, now: float) -> None:
        """An online user is called ``name`` from now on (its old name is held
        for it); no check: ``attach`` checks, and a rename made on another node
        was checked there."""
        if user.name == name:
            return
        self._release(user, now)
        user.name, user.keys = name, user_keys(name)
        self._take_name(user)

    def _named(self, key: str) -> Iterable[User]:
        """The online users with name key ``key``."""
        named = self._names.get(key)
        return () if named is None else (named,) if isinstance(named, User) else named.values()

    def _take_name(self, user: User) -> None:
        for key in user.keys:
            named = self._names.get(key)
            if named is None or (isinstance(named, User) and named.id == user.id):
                self._names[key] = user
            elif isinstance(named, User):
                self._names[key] = {named.id: named, user.id: user}
            else:
                named[user.id] = user
            self._let_go.pop(key, None)  # a name this user let go (or a vouched user took over), taken back

    def _release(self, user: User, now: float) -> None:
        """The user no longer has its name: it is held for it from ``now``."""
        for key in user.keys:
            named = self._names.get(key)
            if named is user:
                del self._names[key]
            elif isinstance(named, dict) and named.get(user.id) is user:
                del named[user.id]
                if len(named) == 1:  # one user left: the user itself again
                    self._names[key] = next(iter(named.values()))
            self._let_go.pop(key, None)  # re-inserted at the end: the dict stays in time order
            self._let_go[key] = Holder(user.id, user.name, now)

    def _expire(self, before: float) -> None:
        """Forget names let go at or before clock reading ``before`` (oldest first)."""
        while self._let_go:
            key, held = next(iter(self._let_go.items()))
            if held.left_at > before:
                return
            del self._let_go[key]

    def detach(self, session: Session, now: float) -> list[tuple[Room, User]]:
        """Forget a closed session; returns the (room, user) presence leaves it
        caused. A user's last session gone, its name is held from ``now``."""
        leaves = [(room, session.user) for room in list(session.rooms.values()) if self.leave(session, room)]
        self.sessions.discard(session)
        self.listeners.discard(session)
        user = session.user
        if user is not None:
            user.sessions = tuple(s for s in user.sessions if s is not session)
            if not user.sessions:
                del self.users[user.id]
                self._release(user, now)
        session.pending.clear()
        session.sent.clear()
        session.loose = None
        return leaves

    # Membership

    def join(self, session: Session, room: Room) -> bool:
        """Put the session in the room, holding its live messages until
        ``Session.release``; True when the user was not in the room before.
        A closing session (a join that waited for the store meanwhile) joins nothing."""
        assert session.user is not None
        if session.closing:
            return False
        session.hold(room.key)
        if room.key in session.rooms:
            return False
        session.rooms[room.key] = room
        room.sessions.add(session)
        uid = session.user.id
        room.members[uid] = room.members.get(uid, 0) + 1
        if room.members[uid] > 1:
            return False
        self.changed[room] = None
        return True

    def leave(self, session: Session, room: Room) -> bool:
        """Take the session out of the room; True when that was the user's last
        session there (so the room should hear that the user left)."""
        if session.rooms.pop(room.key, None) is None:
            return False
        session.forget(room.key)
        room.sessions.discard(session)
        uid = session.user.id
        room.members[uid] -= 1
        if room.members[uid]:
            return False
        del room.members[uid]
        self.changed[room] = None
        return True

    # Routing

    def sessions_of(self, user_id: int, sign_in: int | None = None) -> list[Session]:
        """The user's online sessions, only those of sign-in ``sign_in`` unless it is None;
        not those already closing (``Session.closing``)."""
        user = self.users.get(user_id)
        sessions = user.sessions if user else ()
        return [s for s in sessions if not s.closing and (sign_in is None or s.sign_in == sign_in)]

    @staticmethod
    def publish(sessions: Iterable[Session], channel: str, message_id: int | None, data: bytes) -> None:
        """Deliver the same wire bytes to each session (stored messages go
        through ``chatd.feed``, which also fills gaps)."""
        for session in sessions:
            session.deliver(channel, message_id, data)
