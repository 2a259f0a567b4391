"""Moderation: deleting messages, muting, kicking and banning; and keeping
muted and banned users and addresses out, on every node. Transport-free:
the chat page's requests (``chatd.moderator_requests``) and the admin page
(``chatd.admin.moderation``) both act through here, as an ``Actor``
(``chatd.audit``), and every action writes its audit row — in the same
transaction as its change to the store, where it makes one.

**Who may act on whom.** Deleting a room message takes the role
"moderator" (and a members-only room the moderator may read); a private
message only "admin". Muting, kicking and banning a user take "moderator"
and a rank above the target's: admin (2) > moderator (1) > everyone else
(0). So a moderator cannot silence another moderator or an admin, an admin
cannot silence another admin (their roles are the web app's to take away),
and nobody acts on themselves. Banning an address takes "admin".

**Deleted messages.** A deleted message becomes a tombstone in the store
(``chatd.store.moderation.tombstone``); every session that would have got
the message, on every node, gets the ``deleted`` frame: it travels the bus
as a ``Delivery`` without a message id, so a session whose channel is held
(its history loading) gets it after the page, never before.

**Kicks and bans** end the user's admin-page sessions too (a moderator's), in
the store, so on every node; a ban in force also refuses the admin page's
chat-account login (``chatd.admin.auth``) and any session of the user found.

**Mutes and bans** are kept by the store; every node holds those in force
(``chatd.sanctions``), loaded at start and reread when a node says they
changed (the cluster's ``sanctions`` notice) or the bus may have lost such
a notice. A timed one ends by the clock, with no notice. A new one never
shortens one in force (``chatd.store.moderation``): a shorter one leaves the
longer in place, and the answer says so; only lifting one ends it early. A new ban closes
the sessions it covers on every node at once: the ``banned`` frame, then
close code 4403 (docs/protocol.md, "Banned").

    moderation = Moderation(hub, store, bus, cluster)
    moderation.load()                                      # at start (blocks)
    moderation.check_say(user, room_id, cid)               # ProtocolError ``muted``
    ban = moderation.ban_of(user_id, address)              # on connect (user_id None) and identify
    await moderation.delete(actor, message_id, reason)     # → the tombstone's row
    placed = await moderation.ban_user(actor, user_id, seconds, reason)   # → Placed(ban in force, kept)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chatd.audit import ADMIN, MODERATOR, TITLES, Actor, entry
from chatd.bus import Bus, Delivery, room_channel, user_channel
from chatd.client_refusals import (
    PRIVATE_MESSAGE,
    RANK,
    ROLE,
    SELF,
    deleted_user,
    forbidden,
    no_such_message,
    no_such_user,
)
from chatd.hub import Hub
from chatd.protocol.codes import KICK_MODERATOR, CloseCode, Code, ProtocolError
from chatd.protocol.frames import banned_frame, deleted_frame, refusal_frame
from chatd.sanctions import Sanctions, checked_network, lasting, seconds_left, until_of
from chatd.session import Room, Session
from chatd.store import MessageRow, RecipientDeleted, Store, now_ms
from chatd.store.moderation import Ban, Mute, Placed
from chatd.wsframe import wire

log = logging.getLogger("chatd.moderation")

RANKS = {ADMIN: 2, MODERATOR: 1}
KICK_REASON = "kicked by a moderator"  # the reason shown when a moderator gave none


def rank(roles: Iterable[str]) -> int:
    """A user's rank among moderators: 2 admin, 1 moderator, 0 anyone else (see the module)."""
    return max((RANKS.get(role, 0) for role in roles), default=0)


class Moderation:
    def __init__(self, hub: Hub, store: Store, bus: Bus, cluster: Any):
        self.hub = hub
        self.store = store
        self.bus = bus
        self.cluster = cluster  # chatd.cluster.node.Cluster: tells the other nodes
        self.sanctions = Sanctions()
        self.wall: Callable[[], int] = now_ms  # ms since the epoch; tests put a fake clock here
        self._reading: asyncio.Task | None = None  # a reread of the sanctions under way
        self._again = False  # another reread was asked for while one ran
        # One read of the sanctions at a time: the one begun last (after the last change) is applied last.
        self._lock = asyncio.Lock()

    # What is in force

    def load(self) -> None:
        """Read the mutes and bans in force (at start-up: this blocks)."""
        with self.store.db.connection_context():
            self.sanctions.load(*self.store.moderation.active_now(self.wall()))

    def changed(self) -> asyncio.Future:
        """Another node changed the mutes or bans (or may have): read them again, then close the
        sessions here that a new ban covers. Rereads never overlap: one asked for meanwhile runs
        next, in the same task. → that task, which fails if its last read does (chatd.cluster.rereads)."""
        if self._reading is not None and not self._reading.done():
            self._again = True
            return self._reading
        self._reading = asyncio.ensure_future(self._reread())
        return self._reading

    async def _reread(self) -> None:
        while True:
            self._again = False
            try:
                await self.refresh()
            except Exception:
                if not self._again:
                    raise
                continue  # asked again meanwhile: this read is the one that counts
            if not self._again:
                return

    async def refresh(self) -> None:
        """Read what is in force from the store, then enforce the bans here."""
        async with self._lock:
            self.sanctions.load(*await self.store.moderation.active(self.wall()))
            self.enforce()

    def enforce(self) -> None:
        """Close every session here that a ban in force covers (its user's, or its address's)."""
        now = self.wall()
        for session in list(self.hub.sessions):
            ban = self.ban_of(session.user.id if session.user else None, session.ip, now)
            if ban is not None:
                log.info("closing session %s of user %s: banned", session.id, session.user.id if session.user else "-")
                self.shut(session, ban)

    def ban_of(self, user_id: int | None, address: str | None, now: int | None = None) -> Ban | None:
        """The ban in force that keeps user ``user_id`` (None: not known yet) or ``address`` out, or None."""
        now = self.wall() if now is None else now
        ban = self.sanctions.user_ban(user_id, now) if user_id is not None else None
        return ban or self.sanctions.address_ban(address, now)

    def shut(self, session: Session, ban: Ban, refusal: ProtocolError | None = None) -> None:
        """Tell ``session`` it is banned (``banned`` frame), then answer the request it is refused
        (``refusal``, if any: an identify), and close it with 4403. The frame first: a client
        stops reading once its identify is refused."""
        session.send(wire(banned_frame(ban.reason, ban.until)))
        if refusal is not None:
            session.send(wire(refusal_frame(refusal)))
        if session.close is not None:
            session.close(CloseCode.BANNED, ban.reason or "banned")

    def banned_error(self, ban: Ban, cid: str | None) -> ProtocolError:
        """The refusal of an identify by a banned user (``banned``), saying why and how long."""
        why = f": {ban.reason}" if ban.reason else ""
        return ProtocolError(Code.BANNED, f"you are banned {lasting(ban, self.wall())}{why}", cid,
                             details={"reason": ban.reason, "until": ban.until})

    def check_say(self, user_id: int, room: Room | None, cid: str | None) -> None:
        """ProtocolError ``muted`` (with the seconds left, when the mute ends by itself) when the
        user may not say something in ``room`` (None: a private message) now."""
        if user_id not in self.sanctions.mutes:
            return  # every say passes here: nobody muted costs one dict lookup
        now = self.wall()
        mute = self.sanctions.mute_of(user_id, room.id if room is not None else None, now)
        if mute is None:
            return
        where = "everywhere" if mute.room_id is None else f"in {room.name}"
        until = "until a moderator unmutes you" if mute.until is None else lasting(mute, now)
        why = f": {mute.reason}" if mute.reason else ""
        details = {"room": room.name} if mute.room_id is not None else {}
        raise ProtocolError(Code.MUTED, f"you are muted {where} {until}{why}", cid, seconds_left(mute.until, now),
                            {**details, "reason": mute.reason})

    # Actions

    async def delete(self, actor: Actor, message_id: int, reason: str = "") -> MessageRow:
        """Delete a message (a tombstone) as ``actor``; → its row, a tombstone (also when it was
        deleted already: nothing more is done). ProtocolError: ``forbidden``, ``no_such_message``."""
        _require(actor, MODERATOR)
        row = await self.store.moderation.message(message_id)
        if row is None or not self._may_see(actor, row):  # one answer for both: existence does not leak
            raise no_such_message(message_id, where="")
        if row.recipient_id is not None and not actor.may(ADMIN):
            raise forbidden(PRIVATE_MESSAGE, "only admins delete private messages")
        if row.deleted is not None:
            return row
        rows = await self.store.moderation.delete(message_id, entry(actor, "message.delete", f"message:{message_id}",
                                                                     reason, _where(row)))
        self.deleted(rows)
        return rows[0] if rows else row

    def deleted(self, rows: Iterable[MessageRow]) -> None:
        """The messages ``rows`` became tombstones (committed): the ``deleted`` frame of each
        goes to every session, on every node, that has its room or conversation."""
        for row in rows:
            channels = self.channels(row)
            if channels:
                self.bus.publish(Delivery(channels, None, None, wire(deleted_frame(row))))

    async def mute(self, actor: Actor, user_id: int, room_name: str | None, seconds: int | None,
                   reason: str = "") -> Placed:
        """Mute a user in a room (None: everywhere) for ``seconds`` (None: until unmuted); → the
        mute in force there: this one, or (``kept``) one that ends later, left in place (a mute
        never shortens one: ``chatd.store.moderation``)."""
        await self._target(actor, user_id)
        room = self._room(actor, room_name)
        with _living_target():
            placed = await self.store.moderation.mute(
                user_id, room.id if room else None, until_of(seconds, self.wall()), reason,
                entry(actor, "user.mute", f"user:{user_id}", reason, {"room": room_name, "seconds": seconds}))
        await self._placed(placed)
        return placed

    async def unmute(self, actor: Actor, user_id: int, room_name: str | None) -> bool:
        """Lift a user's mute in a room (None: the one everywhere); → whether there was one."""
        await self._target(actor, user_id)
        room = self._room(actor, room_name)
        lifted = await self.store.moderation.unmute(user_id, room.id if room else None,
                                                    entry(actor, "user.unmute", f"user:{user_id}", "",
                                                          {"room": room_name}))
        await self._changed()
        return lifted

    async def unmute_id(self, actor: Actor, mute_id: int) -> Mute | None:
        """Lift the mute ``mute_id`` in force (the admin page's list); → it, or None when there is none such."""
        mute = next((m for m in self.mutes() if m.id == mute_id), None)
        if mute is None:
            _require(actor, MODERATOR)
            return None
        await self._target(actor, mute.user_id)
        room = self.hub.rooms_by_id.get(mute.room_id) if mute.room_id is not None else None
        lifted = await self.store.moderation.unmute_id(mute_id, entry(
            actor, "user.unmute", f"user:{mute.user_id}", "", {"room": room.name if room else None}))
        await self._changed()
        return lifted

    async def kick(self, actor: Actor, user_id: int, reason: str = "") -> int:
        """End every session of the user on every node: the chat's (``kicked`` + 4410) and the
        admin page's (in the store); → chat sessions ended here. The user may come back at once."""
        await self._target(actor, user_id)
        await self.store.moderation.kick(user_id, entry(actor, "user.kick", f"user:{user_id}", reason))
        return self.cluster.kick(user_id, reason or KICK_REASON, KICK_MODERATOR, default=not reason)

    async def ban_user(self, actor: Actor, user_id: int, seconds: int | None, reason: str = "") -> Placed:
        """Ban a user for ``seconds`` (None: for good): its sessions close at once, everywhere.
        → the ban in force: this one, or (``kept``) one that ends later, left in place (a ban
        never shortens one: ``chatd.store.moderation``)."""
        await self._target(actor, user_id)
        with _living_target():
            placed = await self.store.moderation.ban(user_id, None, until_of(seconds, self.wall()), reason,
                                                     entry(actor, "user.ban", f"user:{user_id}", reason,
                                                           {"seconds": seconds}))
        await self._placed(placed)
        return placed

    async def ban_address(self, actor: Actor, network: str, seconds: int | None, reason: str = "",
                          own: str | None = None) -> Placed:
        """Ban an address or CIDR network for ``seconds`` (None: for good), as ``ban_user``.
        ``own``: the address the actor acts from, which the network may not hold (None: none is
        known). ProtocolError ``bad_frame`` saying why not (``chatd.sanctions.checked_network``)."""
        _require(actor, ADMIN)
        try:
            network = checked_network(network, own)
        except ValueError as e:
            raise ProtocolError(Code.BAD_FRAME, str(e)) from None
        placed = await self.store.moderation.ban(None, network, until_of(seconds, self.wall()), reason,
                                                 entry(actor, "address.ban", f"address:{network}", reason,
                                                       {"seconds": seconds}))
        await self._placed(placed)
        return placed

    async def unban(self, actor: Actor, ban_id: int) -> Ban | None:
        """Lift the ban ``ban_id`` in force; → it, or None when there is none such."""
        ban = next((b for b in self.bans() if b.id == ban_id), None)
        if ban is None:
            _require(actor, MODERATOR)
            return None
        if ban.network is not None:
            _require(actor, ADMIN)
            audit = entry(actor, "address.unban", f"address:{ban.network}")
        else:
            await self._target(actor, ban.user_id)
            audit = entry(actor, "user.unban", f"user:{ban.user_id}")
        lifted = await self.store.moderation.unban(ban_id, audit)
        await self._changed()
        return lifted

    def bans(self) -> list[Ban]:
        """The bans in force now, by id."""
        return self.sanctions.bans(self.wall())

    def mutes(self) -> list[Mute]:
        """The mutes in force now, by id."""
        return self.sanctions.all_mutes(self.wall())

    # The rules

    async def _target(self, actor: Actor, user_id: int) -> None:
        """ProtocolError unless ``actor`` may mute, kick or ban user ``user_id`` (see the module)."""
        _require(actor, MODERATOR)
        online = self.hub.users.get(user_id)
        if online is not None:
            name, roles = online.name, online.roles
        else:
            found = await self.store.moderation.user(user_id)
            if found is None:
                raise no_such_user(user_id)
            name, roles = found
        if actor.kind == "user" and actor.id == user_id:
            raise forbidden(SELF, "moderators do not act on themselves")
        if rank(roles) >= rank(actor.roles):
            role = ADMIN if rank(roles) == RANKS[ADMIN] else MODERATOR
            # Named as people know them, the id telling two of one name apart; the fields let a page word it.
            raise forbidden(RANK, f"{name} (user {user_id}) is {TITLES[role]}: only someone of a higher rank may "
                                  "mute, kick or ban them", user={"id": user_id, "name": name}, rank=role)

    def _room(self, actor: Actor, name: str | None) -> Room | None:
        if name is None:
            return None
        room = self.hub.room(name)
        if room is None or (actor.kind == "user" and not actor.may(ADMIN) and not room.visible_to(actor.id)):
            raise ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {name!r}", details={"room": name})
        return room

    def _may_see(self, actor: Actor, row: MessageRow) -> bool:
        if actor.may(ADMIN) or row.room is None:
            return True
        room = self.hub.room(row.room)
        return room is not None and (actor.kind != "user" or room.visible_to(actor.id))

    async def _placed(self, placed: Placed) -> None:
        """A new mute or ban was stored: in force everywhere, unless the store kept a longer one
        (then nothing changed)."""
        if not placed.kept:
            await self._changed()

    async def _changed(self) -> None:
        """The mutes or bans changed here: in force here at once, and the other nodes told."""
        self.cluster.sanctions_changed()
        await self.refresh()

    def channels(self, row: MessageRow) -> tuple[str, ...]:
        """The bus channels whose sessions would have got the message ``row``: its room's, or its two users'."""
        if row.recipient_id is not None:
            users = dict.fromkeys((row.sender_id, row.recipient_id))  # once when a user wrote to itself
            return tuple(map(user_channel, users))
        room = self.hub.room(row.room) if row.room is not None else None
        return (room_channel(room.id),) if room is not None else ()


@contextlib.contextmanager
def _living_target() -> Iterator[None]:
    """A mute or ban of a deleted user (checked in its write: ``chatd.store.living``) refused as
    ``recipient_deleted``: nothing is left to silence, and its erasure took its mutes and bans."""
    try:
        yield
    except RecipientDeleted as e:
        raise deleted_user(e.args[0], True, "it is neither muted nor banned") from None


def _require(actor: Actor, role: str) -> None:
    if not actor.may(role):
        raise forbidden(ROLE, f"only {TITLES[role]} may do this", role=role)


def _where(row: MessageRow) -> dict[str, Any]:
    """What the audit row of a deletion says of the message (never its text)."""
    if row.recipient_id is None:
        return {"room": row.room, "from": row.sender_id}
    return {"from": row.sender_id, "to": row.recipient_id}
