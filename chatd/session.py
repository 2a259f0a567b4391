"""What the hub keeps of each connection, user and room: ``Session``, ``User``, ``Room``.

A session delivers the frames routed to it (``chatd.hub``, ``chatd.feed``),
holding back those of a channel while the channel's history is being sent,
and never gives the same message twice. Pure: no sockets, no database.

    session = Session("s1", send=connection.write_wire, close=connection.close)
    session.hold(room.key)                          # its history is being read
    session.deliver(room.key, 121, frame_bytes)     # held
    session.release(room.key, last_id=120)          # the page went up to 120: 121 is sent now
    gap = session.deliver_after(room.key, 125, frame_bytes, prev=123)  # True: 122-123 are missing

**Exact resume.** Between ``Hub.join`` and ``release`` the caller reads
the room's history from the store. Messages routed to the session in that
window are held back (``pending``); ``release`` then sends those the
history did not contain (id above ``last_id``). A message can also be routed
*after* ``release`` although the history read already had it: the
writer thread commits, a reader thread sees the row, and the writer's
"stored" callback reaches the event loop only after the join has finished.
So each session remembers, per channel, the newest message id it has been
given (``sent``: in a page or live) and drops any message at or below it.
With one writer, messages are routed in id order, so only such a repeat is
ever dropped, and the client sees every message once, in order.

**Gaps.** With several writers (a cluster), messages of a channel can reach
this process out of order or not at all (chatd.bus); each then comes with
``prev``, the id of the message before it in the channel. A session given a
message whose ``prev`` is above its ``sent`` is missing the ones between:
``deliver_after`` holds the channel with that message and says so, and
``chatd.feed`` reads the missing ones from the store (``catch_up``), then
releases. A page cut short after a ``since`` (``more: true``) leaves the
client to fetch up to the first live message itself (docs/protocol.md,
"Pages"): that first one sets the position without a gap check (``loose``).
"""

from __future__ import annotations

from collections.abc import Callable

from chatd.audit import ROLES, staff_rank
from chatd.cluster.refs import NO_STAMP, Stamp
from chatd.names import name_keys

PRIVATE = "@"  # the channel key of a session's private messages
EVENTS = "!"  # the channel key of a session's notifications (chatd.events)
ROOM_LIST = "*"  # the channel key of room list events: never held back

# What a user signed up as (User.kind, and the store's user.kind): a guest (a name), a web app's
# user (an app token: chatd.auth.apptokens) or a bot (chatd.bots).
GUEST, APP, BOT = "guest", "app", "bot"

Held = tuple[int | None, bytes, int | None]  # a frame held back: (message id, wire bytes, prev)
# Shared by every user without roles: each frozenset() is a new 216-byte object.
NO_ROLES: frozenset[str] = frozenset()


class Session:
    """One connection of one user."""

    __slots__ = ("id", "send", "close", "closing", "ip", "user", "sign_in", "rooms", "pending", "sent", "loose",
                 "epoch")

    def __init__(self, session_id: str, send: Callable[[bytes], None],
                 close: Callable[[int, str], None] | None = None, ip: str | None = None):
        self.id = session_id
        self.send = send
        # Ends the connection: (WebSocket close code, reason). None: nothing to close (tests of the hub).
        self.close = close
        # Its connection began to close (a kick, a sign-out, a cut-off): it gets nothing more and
        # counts no more as one of its user's sessions, though it stays in the hub until it has closed.
        self.closing = False
        # The client's address as resolved through the trusted proxies (chatd.proxies); what an
        # address ban is checked against (chatd.moderation). None: not a network connection.
        self.ip = ip
        self.user: User | None = None
        self.sign_in: int | None = None  # the sign-in its user identified with (chatd.auth.signins)
        # The database epoch the client's resume positions come from, as it
        # identified (its `epoch`, else its token's); None: it did not say.
        self.epoch: str | None = None
        self.rooms: dict[str, Room] = {}
        # channel key → frames held back while that channel's history loads or a gap
        # is filled: (message id or None, wire bytes, prev or None), in arrival order
        self.pending: dict[str, list[Held]] = {}
        # channel key → the newest message id this session was given on it, in a
        # page or live; set once the channel's history is sent (``release``)
        self.sent: dict[str, int] = {}
        # channel keys whose page was cut short after a `since`: the next live message
        # sets the position unchecked (see "Gaps" above); None while there are none
        self.loose: set[str] | None = None

    def deliver(self, channel: str, message_id: int | None, data: bytes) -> None:
        """Send one frame of ``channel`` (``message_id`` None: not a stored
        message, e.g. presence), hold it while the channel's history loads, or
        drop it when the session was given that message already (see "Exact
        resume" above). The path of every message in one process: no checks
        beyond these."""
        held = self.pending.get(channel) if self.pending else None
        if held is not None:
            held.append((message_id, data, None))
            return
        if message_id is not None:
            if message_id <= self.sent.get(channel, 0):
                return
            self.sent[channel] = message_id
        self.send(data)

    def deliver_after(self, channel: str, message_id: int, data: bytes, prev: int) -> bool:
        """``deliver`` a message whose predecessor in the channel is ``prev``
        (several writers: see "Gaps" above). → True when the session lacks
        messages between its ``sent`` and ``prev``: the channel is then held,
        this frame first, and the caller must fill the gap (``catch_up``,
        then ``release``)."""
        held = self.pending.get(channel) if self.pending else None
        if held is not None:
            held.append((message_id, data, prev))
            return False
        last = self.sent.get(channel, 0)
        if message_id > last:
            if self.loose and channel in self.loose:
                self.loose.discard(channel)  # the first live message after a page cut short: not checked
            elif prev > last:
                self.pending[channel] = [(message_id, data, prev)]
                return True
        self.deliver(channel, message_id, data)
        return False

    def hold(self, channel: str) -> None:
        self.pending.setdefault(channel, [])

    def catch_up(self, channel: str, message_id: int, data: bytes) -> None:
        """Send a message read from the store to fill a gap while the channel is
        held (before what is held), unless the session was given it already."""
        if message_id > self.sent.get(channel, 0):
            self.sent[channel] = message_id
            self.send(data)

    def release(self, channel: str, last_id: int, loose: bool = False) -> bool:
        """The channel's history is sent, up to message ``last_id``: send what
        was held that is newer, and from now on nothing at or below it.
        ``loose``: the history was a page cut short after a ``since``, which the
        client completes itself. → True when a held message showed a gap (as
        ``deliver_after``)."""
        self.sent[channel] = max(self.sent.get(channel, 0), last_id)
        if loose:
            if self.loose is None:
                self.loose = set()
            self.loose.add(channel)
        held = self.pending.pop(channel, ())
        if not self.pending:  # a dict emptied keeps its table (184 bytes); a new one has none (64)
            self.pending = {}
        gap = False
        for message_id, data, prev in held:
            if prev is None:
                self.deliver(channel, message_id, data)
            elif self.deliver_after(channel, message_id, data, prev):
                gap = True
        return gap

    def forget(self, channel: str) -> None:
        """The session left ``channel``: nothing held, no position kept."""
        self.pending.pop(channel, None)
        self.sent.pop(channel, None)
        if self.loose:
            self.loose.discard(channel)


class User:
    __slots__ = ("id", "name", "keys", "sessions", "kind", "roles", "avatar", "stamp")

    def __init__(self, user_id: int, name: str, kind: str = GUEST):
        self.id = user_id
        self.name = name
        self.keys = user_keys(name)
        # Its sessions here: a tuple, as most users have one (64 bytes; a set is 216), made anew on each change.
        self.sessions: tuple[Session, ...] = ()
        self.kind = kind  # GUEST, APP or BOT
        self.roles: frozenset[str] = NO_ROLES  # an app user's, from its app token (e.g. "moderator")
        self.avatar: str | None = None  # an avatar URL clients may be shown (its host allowed by the config)
        # The sign-in its roles and avatar come from, on a cluster (chatd.cluster.refs): the newest holds.
        self.stamp: Stamp = NO_STAMP

    @property
    def vouched(self) -> bool:
        """Whether the user's name is vouched for by the web app rather than chosen here (docs/protocol.md,
        "Names"): never refused for looking like another's, and shared by other such users if the app says so."""
        return self.kind != GUEST

    def ref(self) -> dict:
        """The user as frames name it: ``{"id", "name"}``, with ``"avatar"``, ``"bot": true`` and
        ``"rank"`` (``staff_rank``: what a moderator's page needs to offer only what it may do) when so."""
        return {"id": self.id, "name": self.name, **self.extra()}

    def extra(self) -> dict:
        """``ref``'s fields besides id and name (none for most users); other nodes get them with
        the user (``chatd.cluster.peers``, "Refs")."""
        extra: dict = {}
        if self.avatar is not None:
            extra["avatar"] = self.avatar
        if self.kind == BOT:
            extra["bot"] = True
        ranked = staff_rank(self.roles) if self.roles else None  # (most users hold no role)
        if ranked is not None:
            extra["rank"] = ranked
        return extra

    def adopt(self, extra: dict) -> bool:
        """Take the avatar and rank another node names this user with (``extra``, as ``extra()`` gives it):
        the user signed in there with them since, and its newest sign-in's hold on every node
        (docs/protocol.md, "Several nodes"; the caller sets ``stamp``). → whether its ref changed.
        Nodes tell each other a rank, not the roles behind it: the user holds the role its rank names."""
        before = self.extra()
        if extra == before:
            return False
        rank, avatar = extra.get("rank"), extra.get("avatar")
        self.roles = frozenset({rank}) if rank in ROLES else NO_ROLES
        self.avatar = avatar if isinstance(avatar, str) else None
        return self.extra() != before


def user_keys(name: str) -> tuple[str, ...]:
    """``name_keys`` as an online user keeps them: a tuple of one or two is 48-56 bytes, a frozenset 216."""
    return tuple(name_keys(name))


class Room:
    __slots__ = ("id", "name", "topic", "key", "name_keys", "sessions", "members", "elsewhere", "position",
                 "creator_id", "messaged", "members_only", "allowed", "archived", "announcement")

    def __init__(self, room_id: int, name: str, topic: str, position: int, creator_id: int | None, messaged: bool,
                 elsewhere: dict[int, int] | None = None, members_only: bool = False):
        self.id = room_id
        self.name = name
        self.topic = topic
        self.position = position  # in the hub's room list: creation order, only grows
        self.key = "#" + room_fold(name)
        self.name_keys = name_keys(name)
        self.sessions: set[Session] = set()
        self.members: dict[int, int] = {}  # user id → that user's sessions in the room
        # User id → other nodes of a cluster where the user is in the room (kept by chatd.cluster).
        self.elsewhere: dict[int, int] = {} if elsewhere is None else elsewhere
        self.creator_id = creator_id  # None: a rooms.default room, or one from before creators were kept
        self.messaged = messaged  # a message was ever sent to it
        # Seen, joined and read only by the users in ``allowed``, its stored members (chatd.roomadmin).
        self.members_only = members_only
        self.allowed: set[int] = set()
        self.archived = False  # read-only: nobody posts, history stays readable (chatd.roomcare)
        self.announcement = False  # only moderators and admins post (chatd.roomcare)

    @property
    def online(self) -> int:
        """Users in the room, on this node or any other (each once)."""
        if not self.elsewhere:
            return len(self.members)
        return len(self.members) + sum(1 for uid in self.elsewhere if uid not in self.members)

    def visible_to(self, user_id: int) -> bool:
        """Whether the user may see the room (in the list), join it and read it."""
        return not self.members_only or user_id in self.allowed

    def entry(self) -> dict:
        """The room as the room list shows it."""
        entry = {"name": self.name, "topic": self.topic, "online": self.online}
        if self.members_only:
            entry["members_only"] = True
        return {**entry, **self.flags(only_set=True)}

    def flags(self, only_set: bool = False) -> dict:
        """``{"archived", "announcement"}`` as frames carry them (``only_set``: those that are true)."""
        flags = {"archived": self.archived, "announcement": self.announcement}
        return {k: True for k, v in flags.items() if v} if only_set else flags


def room_fold(name: str) -> str:
    """Rooms are looked up ignoring case: ``join "LOBBY"`` finds ``lobby``."""
    return name.casefold()
