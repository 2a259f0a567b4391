"""This node's part in the cluster state: it tells the other nodes what
changes here and applies what they tell it (``chatd.cluster.peers``), on
the bus's ``Notice`` items — the same on every bus.

Notices (``Notice.kind``: body):

- ``ops``: ``{"ops": [...]}``, this node's presence changes in order
  (``Peers.apply``): a user online here or signed in again (its name, ref fields and
  their stamp: ``chatd.cluster.refs``), offline, in a room, out.
- ``state``: the node's whole state (``peers.snapshot``), every
  ``cluster.heartbeat_interval`` seconds, and at once to a ``sync``.
- ``sync``: "send me your state": a node that starts, or that heard
  ``lost()`` (it may have missed ops).
- ``bye``: the node stops; the others drop it at once.
- ``room``: ``{"event", "id", "name", "topic", "creator", "members_only", "archived", "announcement"}``;
  event ``created``, ``removed`` (unused, expired), ``updated`` (topic, flags), ``deleted`` (by the web
  app or an admin).
- ``names``: ``{}``, the reserved names changed (``chatd.reserved``): read them again from the store.
- ``member``: ``{"room", "user", "member"}``: the user became or stopped being a member of a
  members-only room (``chatd.roomadmin``): cut off from it at once.
- ``sign_out``: ``{"user", "sign_in"}`` (``sign_in`` None: everywhere).
- ``kick``: ``{"user", "reason"}``: every session of the user ends (the HTTP API's disconnect).
- ``bots``: ``{}``, the bots changed (``chatd.bots``): read them again from the store.
- ``sanctions``: ``{}``, the mutes or bans changed (``chatd.moderation``): read them again from
  the store, and close the sessions a new ban covers.
- ``event``: a notification not stored (``chatd.events.Events.deliver``):
  ``{"frame"}`` plus ``"user"`` or ``"room"`` (an id), or neither (everyone).
- ``attention``: a read state, notification level, closed conversation or typing hint
  (``chatd.attention.Attention.deliver``): ``{"frame", "channel"}`` plus ``"user"``, or ``"room"``
  (an id) and ``"except_user"``.

A node silent for ``cluster.node_timeout`` is dropped at the next tick: its
users leave the rooms they were in only there, with ``presence`` to this
node's sessions. So a node killed with ``kill -9`` is cleared everywhere
within ``node_timeout + heartbeat_interval`` (docs/operations.md).

With the in-process bus (one node) nothing is published: there is nobody to
tell, and the single-process path stays as it was.

    cluster = Cluster(bus, hub, lambda: config, clock)
    cluster.rooms, cluster.sign_ins = rooms, sign_ins
    await bus.start(cluster)
    cluster.start()                        # ask the others for their state
    cluster.signed_in(user, was, here)     # after an identify attached a session to user
    cluster.entered(room, session)         # after Hub.join said True (and .left, .gone)
    cluster.tick()                         # every heartbeat_interval: .heartbeat(), then .expire() silent nodes
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatd.auth.signins import close_reason
from chatd.bus import Bus, Delivery, Notice, Receiver
from chatd.bus.local import LocalBus
from chatd.cluster.peers import JOIN, LEAVE, OFFLINE, ONLINE, RENAME, RESTYLE, Change, Peers, snapshot
from chatd.cluster.refs import next_stamp, online_op
from chatd.cluster.rereads import Rereads
from chatd.hub import Holder, Hub
from chatd.protocol.codes import KICK_CAUSES, CloseCode
from chatd.protocol.frames import kicked_frame
from chatd.session import Room, Session, User
from chatd.store.schema import now_ms
from chatd.wsframe import wire

log = logging.getLogger("chatd.cluster")

OPS, STATE, SYNC, BYE, ROOM, SIGN_OUT = "ops", "state", "sync", "bye", "room", "sign_out"
MEMBER, KICK, BOTS, EVENT, SANCTIONS, NAMES = "member", "kick", "bots", "event", "sanctions", "names"
ATTENTION = "attention"
UPDATE = "update"  # the presence event of a user's new ref with the same name (RENAME's: a new name)
# What is read again from the store (chatd.cluster.rereads), by its name in the log; and on whose notice.
ROOMS_READ, BOTS_READ, SANCTIONS_READ, NAMES_READ = "the rooms", "the bots", "the mutes and bans", "the reserved names"
REREAD_ON = {BOTS: BOTS_READ, SANCTIONS: SANCTIONS_READ, NAMES: NAMES_READ}


class Cluster:
    """The cluster state as this node keeps it, and the bus's receiver."""

    def __init__(self, bus: Bus, hub: Hub, config: Callable[[], Any], clock: Callable[[], float]):
        self.bus = bus
        self.hub = hub
        self.peers = Peers(hub.elsewhere)
        self.alone = isinstance(bus, LocalBus)  # one node: nobody to tell
        self._config = config  # → the current Config
        self._clock = clock
        self.wall: Callable[[], int] = now_ms  # ms since the epoch, for sign-ins' stamps (chatd.cluster.refs)
        self.rooms: Any = None  # chatd.rooms.Rooms: rooms made and removed elsewhere (set by Chat)
        self.sign_ins: Any = None  # chatd.auth.signins.SignIns: sign-outs made elsewhere (set by Chat)
        self.room_admin: Any = None  # chatd.roomadmin.RoomAdmin: the app's room changes elsewhere (set by Chat)
        self.events: Any = None  # chatd.events.Events: notifications sent elsewhere (set by Chat)
        self.feed: Receiver | None = None  # where stored messages from the bus go (chatd.feed)
        self.bots: Any = None  # chatd.bots.Bots: bots changed elsewhere (set by Chat)
        self.app_webhooks: Any = None  # chatd.appwebhooks.AppWebhooks: told who comes and goes here (set by Chat)
        self.moderation: Any = None  # chatd.moderation.Moderation: mutes and bans changed elsewhere (set by Chat)
        self.attention: Any = None  # chatd.attention.Attention: read states and typing elsewhere (set by Chat)
        # Reads the reserved names again (chatd.roomcare.RoomCare.reload_names; set by Chat).
        self.reload_names: Callable[[], Awaitable[object] | None] = lambda: None
        # What other nodes change through the store, read again on their notice (or its loss).
        self.rereads = Rereads({
            ROOMS_READ: lambda: self.rooms.resync(self._clock()) if self.rooms else None,
            BOTS_READ: lambda: self.bots.reload() if self.bots else None,
            SANCTIONS_READ: lambda: self.moderation.changed() if self.moderation else None,
            NAMES_READ: lambda: self.reload_names(),
        })
        # This pass's ops, told in one notice at its end (or before the next notice). One notice
        # per op was 10,000 notices when 5,000 clients dropped at once: past the bus's outbox,
        # which then made every node read every channel again.
        self._ops_queued: list[list[Any]] = []

    def start(self) -> None:
        """Ask the other nodes for their state (they answer at once)."""
        self._publish(SYNC, {})

    def stop(self) -> None:
        """Tell the other nodes this one stops: its users leave everywhere at once."""
        self._publish(BYE, {})

    # What the other nodes have, with this node's

    def name_of(self, user_id: int) -> str | None:
        """The name of a user online on any node, else None."""
        user = self.hub.users.get(user_id)
        return user.name if user is not None else self.peers.name(user_id)

    def ref_of(self, user_id: int) -> dict[str, Any] | None:
        """A user online on any node as this node's frames name it (``User.ref``), else None."""
        user = self.hub.users.get(user_id)
        return user.ref() if user is not None else self.peers.ref(user_id)

    def name_holder(self, name: str, user_id: int | None, now: float, hold_seconds: float) -> Holder | None:
        """Who keeps user ``user_id`` from taking ``name`` on any node (``Hub.name_holder``,
        ``Peers.name_holder``); a user online somewhere before one who let the name go."""
        here = self.hub.name_holder(name, user_id, now, hold_seconds)
        if here is not None and here.left_at is None:
            return here
        return self.peers.name_holder(name, user_id, now, hold_seconds) or here

    def online_count(self) -> int:
        """Users online on any node (each once)."""
        return len(self.hub.users.keys() | self.peers.online_users())

    def nodes_of(self, user_id: int) -> int:
        """Other nodes where the user is online."""
        return self.peers.nodes_online(user_id)

    def member_refs(self, room: Room, limit: int) -> list[dict]:
        """At most ``limit`` of the users in ``room`` on any node, this node's first."""
        users = self.hub.users
        here = (users[uid].ref() for uid in room.members)
        # A user in the room elsewhere may be online here too: named as here, where a sign-in's style is adopted.
        there = (self.ref_of(uid) or {"id": uid, "name": ""} for uid in room.elsewhere if uid not in room.members)
        return list(itertools.islice(itertools.chain(here, there), limit))

    # This node's changes (Chat calls these)

    def entered(self, room: Room, session: Session) -> None:
        """``session``'s user is in ``room`` here now, where it was not (``Hub.join`` said True)."""
        user = session.user
        if user.id not in room.elsewhere:
            self.present(room, "join", user.ref(), exclude=session)
        self._ops([JOIN, user.id, room.id])

    def left(self, room: Room, user: User) -> None:
        """``user`` is no longer in ``room`` here (``Hub.leave`` said True, or ``Hub.detach`` listed it)."""
        if user.id not in room.elsewhere:
            self.present(room, "leave", user.ref())
        self._ops([LEAVE, user.id, room.id])

    def signed_in(self, user: User, was: dict[str, Any] | None, here: bool) -> None:
        """An identify made a session ``user``'s here, with the name, rank and avatar it has now;
        ``was``: its ref before, on any node (None: online nowhere); ``here``: online here already.
        The sign-in is stamped (``chatd.cluster.refs``) and told to the other nodes, which take its
        name and ref fields (their member lists, and their sessions of the user) unless they know
        a newer sign-in; when the name or the ref changed, every room the user is in, on any
        node, hears it (``rename``, ``update``)."""
        if not self.alone:
            user.stamp = next_stamp(self.wall(), max(user.stamp, self.peers.stamp(user.id)), self.bus.node)
        if not here and self.app_webhooks is not None:
            self.app_webhooks.arrived(user)
        if was is not None:
            ref = user.ref()
            if was != ref:
                self._presence_everywhere(user.id, RENAME if was["name"] != user.name else UPDATE, ref)
        extra = user.extra()
        self.peers.told(user.id, extra, user.stamp)  # as the others will keep it
        self._ops(online_op(user.id, user.name, extra, user.stamp))

    def gone(self, user: User) -> None:
        """``user``'s last session here ended."""
        if self.app_webhooks is not None:
            self.app_webhooks.gone(user)
        self._ops([OFFLINE, user.id])

    def room_event(self, event: str, room: Room) -> None:
        """A room was ``created``, ``removed``, ``updated`` or ``deleted`` here (``chatd.rooms``, ``.roomadmin``)."""
        self._publish(ROOM, {"event": event, "id": room.id, "name": room.name, "topic": room.topic,
                             "creator": room.creator_id, "members_only": room.members_only, **room.flags()})

    def member(self, room: Room, user_id: int, member: bool) -> None:
        """The user became (``member``) or stopped being a member of ``room`` here."""
        self._publish(MEMBER, {"room": room.id, "user": user_id, "member": member})

    def signed_out(self, user_id: int, sign_in: int | None) -> None:
        """The user's sign-in ``sign_in`` (None: every one) signed out here."""
        self._publish(SIGN_OUT, {"user": user_id, "sign_in": sign_in})

    def kick(self, user_id: int, reason: str, cause: str, default: bool = False) -> int:
        """End every session of the user, here and on every other node, with a ``kicked`` frame
        and close code 4410 (docs/protocol.md, "Kicked"); ``cause`` and ``default`` as
        ``kicked_frame`` takes them. → the sessions ended here."""
        self._publish(KICK, {"user": user_id, "reason": reason, "cause": cause, "default": default})
        return self._kick(user_id, reason, cause, default)

    def _kick(self, user_id: int, reason: str, cause: str | None, default: bool) -> int:
        sessions = self.hub.sessions_of(user_id)
        data = wire(kicked_frame(reason, cause, default))
        for session in sessions:
            session.send(data)
            session.close(CloseCode.KICKED, reason)  # the close frame cuts the reason to fit (chatd.wsframe)
        if sessions:
            log.info("user %d kicked: %d sessions end here (%s)", user_id, len(sessions), reason)
        return len(sessions)

    def sanctions_changed(self) -> None:
        """The mutes or bans were changed here (``chatd.moderation``): the other nodes read them again."""
        self._publish(SANCTIONS, {})

    def bots_changed(self) -> None:
        """The bots were changed here (``chatd.bots``): the other nodes read them again."""
        self._publish(BOTS, {})

    def names_changed(self) -> None:
        """The reserved names were changed here (``chatd.reserved``): the other nodes read them again."""
        self._publish(NAMES, {})

    def event(self, body: dict[str, Any]) -> None:
        """A notification not stored was sent here (``chatd.events``): the other nodes deliver it too."""
        self._publish(EVENT, body)

    def share_attention(self, body: dict[str, Any]) -> None:
        """A read state, level or typing hint was sent here (``chatd.attention``): the other nodes deliver it too."""
        self._publish(ATTENTION, body)

    def present(self, room: Room, event: str, user: dict, exclude: Session | None = None) -> None:
        """A ``presence`` frame to this node's sessions in ``room`` (none in a huge room: docs/protocol.md)."""
        if room.online > self._config().rooms.member_list_max:
            return  # a huge room: everyone telling everyone costs O(users²)
        data = wire({"type": "presence", "room": room.name, "event": event, "user": user})
        self.hub.publish((s for s in room.sessions if s is not exclude), room.key, None, data)

    # Time

    def tick(self) -> None:
        """Every ``cluster.heartbeat_interval``: ``heartbeat``, then ``expire``."""
        if self.alone:
            return
        self.heartbeat()
        self.expire()
        self.rereads.tick()

    def heartbeat(self) -> None:
        """Send this node's state: it says the node lives, and lets the others converge."""
        self._publish(STATE, self.snapshot())

    def expire(self) -> None:
        """Drop the nodes silent for ``cluster.node_timeout``: their users leave."""
        now, timeout = self._clock(), self._config().cluster.node_timeout
        dropped, changes = self.peers.expire(now - timeout, now)
        for node in dropped:
            log.warning("node %s silent for %g s: its users leave everywhere", node, timeout)
        self._apply(changes, now)
        if dropped and self.feed is not None:
            # A node killed between a commit and its publish took that publish with it:
            # what it stored is read from the store now, not at its channel's next message.
            self.feed.lost()

    def snapshot(self) -> dict[str, Any]:
        """This node's state, as heartbeats carry it."""
        rooms = {room.id: room.members.keys() for room in self.hub.rooms.values() if room.members}
        users = self.hub.users.values()
        return snapshot({user.id: user.name for user in users}, rooms, {user.id: user.extra() for user in users},
                        {user.id: user.stamp for user in users})

    # The bus's receiver

    def delivery(self, item: Delivery) -> None:
        if self.feed is not None:
            self.feed.delivery(item)

    def lost(self) -> None:
        """Items may have been lost: ask every node for its state, reread the rooms."""
        if self.feed is not None:
            self.feed.lost()
        self._publish(SYNC, {})
        self.rereads.ask(*self.rereads.reads)  # a room, bots, sanctions or names notice may have been among the lost

    def notice(self, item: Notice) -> None:
        if item.origin == self.bus.node:
            return  # our own, back from the bus
        try:
            self._notice(item)
        except (KeyError, ValueError, TypeError) as e:  # another node's bug must not stop this one
            log.error("notice %r from node %s not understood: %r", item.kind, item.origin, e)

    def _notice(self, item: Notice) -> None:
        kind, body, node, now = item.kind, item.body, item.origin, self._clock()
        if kind == OPS:
            self._apply(self.peers.apply(node, body["ops"], now), now)
        elif kind == STATE:
            self._apply(self.peers.replace(node, body, now), now)
        elif kind == SYNC:
            self.peers.heard(node, now)
            self.heartbeat()
        elif kind == BYE:
            log.info("node %s stopped", node)
            self._apply(self.peers.drop(node, now), now)
        elif kind == ROOM:
            self.peers.heard(node, now)
            self._room(body, now)
        elif kind == SIGN_OUT:
            self.peers.heard(node, now)
            self._sign_out(body["user"], body["sign_in"])
        elif kind == MEMBER:
            self.peers.heard(node, now)
            room = self.hub.rooms_by_id.get(int(body["room"]))
            if room is not None and self.room_admin is not None:  # else it comes with the room (resync)
                self.room_admin.apply_member(room, int(body["user"]), bool(body["member"]))
        elif kind == KICK:
            self.peers.heard(node, now)
            # A node of an older version names no cause: the frame then has none either.
            cause = body.get("cause")
            self._kick(int(body["user"]), str(body["reason"]), cause if cause in KICK_CAUSES else None,
                       body.get("default") is True)

        elif kind in REREAD_ON:
            self.peers.heard(node, now)
            self.rereads.ask(REREAD_ON[kind])
        elif kind == EVENT:
            self.peers.heard(node, now)
            if self.events is not None:
                self.events.deliver(body)
        elif kind == ATTENTION:
            self.peers.heard(node, now)
            if self.attention is not None:
                self.attention.deliver(body)
        else:
            log.warning("unknown notice %r from node %s (a newer chatd?)", kind, node)

    def _apply(self, changes: list[Change], now: float) -> None:
        """Tell this node's sessions what changed elsewhere: a user online here too takes the name,
        and the ref fields when their sign-in is newer than its own (``_adopt``)."""
        for change in changes:
            if change.kind in (JOIN, LEAVE):
                room = self.hub.rooms_by_id.get(change.room_id)
                if room is None:
                    continue  # a room this node has not loaded yet: its count is kept meanwhile
                self.hub.changed[room] = None
                if change.user_id not in room.members:
                    self.present(room, change.kind, self.ref_of(change.user_id) or change.ref())
            elif change.kind in (ONLINE, RENAME, RESTYLE):
                # Renamed elsewhere: RENAME, or ONLINE under another name than here; restyled likewise.
                user = self.hub.users.get(change.user_id)
                if user is not None:  # online here too: one name, rank and avatar everywhere
                    restyled = self._adopt(user, change)
                    renamed = user.name != change.name
                    if not (renamed or restyled):
                        continue  # nothing new here
                    self.hub.rename(user, change.name, now)
                    event, ref = RENAME if renamed else UPDATE, user.ref()
                elif change.kind == ONLINE:
                    continue  # names online elsewhere are looked up in self.peers when asked
                else:
                    event, ref = RENAME if change.kind == RENAME else UPDATE, change.ref()
                self._presence_everywhere(change.user_id, event, ref)

    def _adopt(self, user: User, change: Change) -> bool:
        """``user``, online here, is online elsewhere with ``change``'s ref fields: it takes them if
        their stamp is newer (``User.adopt``: its sessions act with them); if its own are, the other
        nodes will keep its own (``peers.told``). → whether its ref changed."""
        if change.stamp > user.stamp:
            user.stamp = change.stamp
            return user.adopt(change.extra or {})
        if user.stamp > change.stamp:
            self.peers.told(user.id, user.extra(), user.stamp)
        return False

    def _presence_everywhere(self, user_id: int, event: str, user: dict) -> None:
        """``presence`` to this node's sessions in every room the user is in, on any node (rare: renames,
        restyles)."""
        for room in list(self.hub.rooms.values()):
            if user_id in room.members or user_id in room.elsewhere:
                self.present(room, event, user)

    def _room(self, body: dict[str, Any], now: float) -> None:
        if self.rooms is None:
            return
        event, room = body["event"], self.hub.rooms_by_id.get(int(body["id"]))
        if event == "created":
            self.rooms.add(int(body["id"]), str(body["name"]), str(body["topic"]), body["creator"], now,
                           bool(body.get("members_only")))
        elif event == "removed":
            self.rooms.drop(int(body["id"]))
        elif event not in ("updated", "deleted"):
            raise ValueError(f"unknown room event {event!r}")
        elif room is not None and self.room_admin is not None:
            if event == "updated":  # a node from before the flags sends none: unchanged
                self.room_admin.updated(room, str(body["topic"]), bool(body["members_only"]),
                                        body.get("archived"), body.get("announcement"))
            else:
                self.room_admin.deleted(room)

    def _sign_out(self, user_id: int, sign_in: int | None) -> None:
        if self.sign_ins is None:
            return
        reason = close_reason(sign_in is None)
        ended = self.sign_ins.signed_out(user_id, sign_in)
        if ended:
            log.info("user %d %s on another node: %d sessions end here", user_id, reason, len(ended))
        for session in ended:
            session.close(CloseCode.SIGNED_OUT, reason)

    def _ops(self, *ops: list[Any]) -> None:
        if self.alone:
            return
        if not self._ops_queued:
            asyncio.get_running_loop().call_soon(self._tell_ops)
        self._ops_queued += ops

    def _tell_ops(self) -> None:
        if self._ops_queued:
            ops, self._ops_queued = self._ops_queued, []
            self.bus.publish(Notice(OPS, {"ops": ops}))

    def _publish(self, kind: str, body: dict[str, Any]) -> None:
        if not self.alone:
            self._tell_ops()  # the ops before this notice go before it, as they happened
            self.bus.publish(Notice(kind, body))
