"""What each client request does: protocol in, hub and store, frames out.

``Chat.handle`` carries out one parsed request for one session. It knows
nothing of Tornado: a connection is anything with a ``session`` (a hub
Session, whose ``close`` ends the connection), an ``address`` (its key in
``chatd.abuse``), ``send(frame)``, ``write_wire(bytes)`` and ``closed``
(``chatd.replies.Connection``). Requests that refuse raise
``ProtocolError``; the connection turns those into ``error`` frames.

Notifications (``event`` frames) are ``chat.events``' (``chatd.events``).

Here: the dispatch, the rooms requests (rooms, join, leave, create), the
messages (say, and ``post``, the one way in for every transport) and
history; ``search`` is ``chat.search``'s (``chatd.search``). ``identify`` and ``sign_out`` are ``chat.identity``'s
(``chatd.identity``); who may connect and send is ``chat.admission``'s
(``chatd.admission``).

    chat = Chat(config, hub, store, tokens, bus)     # bus: LocalBus for one process, RedisBus for a cluster
    await bus.start(chat.cluster)                    # what the bus brings: messages to chat.feed, the rest here
    refusal = await chat.admission.connect(address)  # before a connection is made
    pending = chat.handle(connection, parse(text))   # None, or an awaitable
    chat.post(draft, done)                           # store, publish, then done(Stored, error): the caller acks
    chat.disconnect(connection)

Presence, online counts, names, rooms and sign-outs hold across the nodes of
a cluster through ``chat.cluster`` (``chatd.cluster.node``); with a Redis
bus (``chat.shared``), names are claimed on Redis (``chatd.cluster.names``)
and the per-user and per-address limits are buckets on Redis
(``chatd.cluster.limits``).

Requests answered from memory (say, rooms, leave, ping) are handled at once;
only those that read the store or wait for a write (identify, sign_out, join,
create, history, search) return an awaitable, so the common case costs no Task.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from chatd import metrics
from chatd.admission import Admission
from chatd.alongside import alongside
from chatd.appwebhooks import AppWebhooks
from chatd.attention import Attention
from chatd.audit import MODERATOR, holds
from chatd.auth.apptokens import load_app_tokens
from chatd.auth.signins import SignIns
from chatd.auth.tokens import TokenSigner
from chatd.bots import Bots
from chatd.bus import Bus, Delivery
from chatd.changes import Changes, catch_up, changed_fields
from chatd.client_refusals import MEMBERS_ONLY, NOT_STORED, archived, forbidden, no_such_user, refusal_of, unavailable
from chatd.cluster.limits import SharedBuckets
from chatd.cluster.names import NameClaims
from chatd.cluster.node import Cluster
from chatd.config import Config, bus_url
from chatd.events import Events
from chatd.feed import Feed
from chatd.hub import Hub
from chatd.identity import Identity
from chatd.moderation import Moderation
from chatd.moderator_requests import ModeratorRequests
from chatd.protocol.codes import MAX_ID, TOPIC_MAX, Code, ProtocolError
from chatd.protocol.fields import check_text
from chatd.protocol.frames import encode_ack, encode_message, refusal_frame
from chatd.protocol.requests import Request
from chatd.replies import (
    Connection,
    answer,
    answer_around,
    answer_list,
    answer_page,
    last_id,
    loose,
    stale,
)
from chatd.reserved import ReservedNames
from chatd.retention import Retention
from chatd.roomadmin import RoomAdmin
from chatd.roomcare import RoomCare
from chatd.rooms import Rooms
from chatd.search import Search
from chatd.session import Room
from chatd.store import (
    USER_ID_MAX,
    Draft,
    Store,
    Stored,
)
from chatd.store.base import ROOM_WHERE
from chatd.store.living import DELETED
from chatd.usercare import UserCare
from chatd.webhooks import Webhooks
from chatd.wsframe import text_frame

if TYPE_CHECKING:
    from chatd.cluster.shared import SharedRedis

log = logging.getLogger("chatd.chat")

Posted = Callable[[Stored | None, BaseException | None], None]  # (the stored message, or the error)


class Chat:
    def __init__(self, config: Config, hub: Hub, store: Store, tokens: TokenSigner, bus: Bus):
        self.config = config
        self.hub = hub
        self.store = store
        self.bus = bus  # started, with ``feed`` as its receiver, by whoever made it (chatd.server)
        self.feed = Feed(hub, store, lambda: self.config.history.page_bytes,  # the bus's receiver here
                         lambda: self.config.limits.send_queue_bytes)
        self.tokens = tokens
        self.app_tokens = load_app_tokens(config.app_tokens)  # the web app's JWTs; reread on reload (chatd.server)
        self.sign_ins = SignIns(hub, store, tokens)
        self.stored = 0  # messages stored since start, for `chatd status`
        self.clock: Callable[[], float] = time.monotonic  # seconds; tests put a fake clock here
        # With a Redis bus: names claimed and limits counted on Redis (None: in this process only).
        self.shared = _shared_redis(config)
        self.admission = Admission(lambda: self.config, lambda: self.clock(),
                                   SharedBuckets(self.shared) if self.shared else None)
        self.cluster = Cluster(bus, hub, lambda: self.config, lambda: self.clock())
        self.cluster.feed = self.feed  # stored messages, and losses, go on to the feed
        self.rooms = Rooms(hub, store, lambda: self.config, self.admission.address_admit, self.cluster.room_event)
        # The web app's changes to rooms (the HTTP API, app tokens): members-only rooms and their members.
        self.room_admin = RoomAdmin(hub, store, self.rooms, self.cluster, lambda: self.config, lambda: self.clock())
        self.reserved = ReservedNames()  # names guests and their rooms may not take (chatd.reserved)
        self.rooms.reserved = self.reserved
        self.events = Events(hub, store, bus, self.cluster, self.feed, lambda: self.config)  # notifications
        self.cluster.rooms, self.cluster.sign_ins, self.cluster.room_admin = self.rooms, self.sign_ins, self.room_admin
        self.cluster.events = self.events
        # Read state, notification levels and typing, on every device (chatd.attention).
        self.attention = Attention(hub, store, self.cluster, self.rooms, lambda: self.clock())
        self.cluster.attention = self.attention
        # Deletes, mutes, kicks and bans, and who is kept out (chatd.moderation).
        self.moderation = Moderation(hub, store, bus, self.cluster)
        self.cluster.moderation = self.moderation
        # Edits, own deletions, replies and reactions (chatd.changes).
        self.changes = Changes(hub, store, bus, self.moderation, lambda: self.config)
        self.identity = Identity(hub=hub, moderation=self.moderation, store=store, feed=self.feed, events=self.events,
                                 cluster=self.cluster,
                                 sign_ins=self.sign_ins,
                                 claims=NameClaims(self.shared, lambda: store.epoch.id) if self.shared else None,
                                 admission=self.admission,
                                 config=lambda: self.config, clock=lambda: self.clock(),
                                 app_tokens=lambda: self.app_tokens, token_rooms=self.room_admin.set_token_rooms,
                                 reserved=self.reserved, attention=self.attention,
                                 saved=store.name_holds if self.cluster.alone else None)
        # Outgoing calls: bots' webhooks, and the app's (chatd.webhooks); only the node that
        # stored a message calls about it (``post``).
        self.webhooks = Webhooks(lambda: self.config)
        self.bots = Bots(hub, store, self.webhooks, self.post, lambda: self.config, lambda: self.clock(),
                         self.cluster.name_holder, self.identity.claim_name)
        self.app_webhooks = AppWebhooks(self.webhooks, lambda: self.config,
                                        lambda user_id: self.cluster.peers.name(user_id) is not None)
        self.cluster.bots, self.cluster.app_webhooks = self.bots, self.app_webhooks
        self.search = Search(hub, store, self.rooms, lambda: self.config, lambda: self.clock())
        self.bots.changed = self.cluster.bots_changed
        # Operators' care: rooms and names (the admin page), old messages, users' data (chatd.roomcare, ...).
        self.room_care = RoomCare(self)
        self.retention = Retention(store, lambda: self.config)
        self.user_care = UserCare(self)
        # What each request type is (chatd.protocol.fields.SCHEMAS names them all).
        self._requests: dict[str, Callable[[Connection, Request], Awaitable[None] | None]] = {
            "identify": self.identity.identify, "sign_out": self.identity.sign_out, "ping": self._ping,
            "rooms": self._rooms, "join": self._join, "leave": self._leave, "create": self._create,
            "say": self._say, "history": self._history, "search": self.search.search,
            **ModeratorRequests(self.moderation).handlers(), **self.changes.handlers(), **self.attention.handlers(),
        }

    def handle(self, conn: Connection, req: Request) -> Awaitable[None] | None:
        """Carry out a request; raises ProtocolError, or returns an awaitable
        that may, for requests that have to wait."""
        if conn.session.user is None and req.type != "identify":
            raise ProtocolError(Code.NOT_IDENTIFIED, "send identify first", req.cid)
        return self._requests[req.type](conn, req)

    def disconnect(self, conn: Connection) -> None:
        """A connection has closed (once per connection ``Admission.connect`` let in), after
        ``session_over``: its address counts it no more."""
        self.admission.disconnect(conn.address)

    def session_over(self, conn: Connection) -> None:
        """The connection's session is over (once per connection): it began to close (a kick, a
        sign-out, a cut-off: it gets nothing more) or it closed. It leaves its rooms (presence),
        and its user, if it was its last session, goes offline and lets its name go. A closing
        session is in no room and no user's list from here on, though its socket may stay
        open up to CLOSE_WAIT for the client's close (``chatd.web.connection``)."""
        self.search.forget(conn.session)
        self.attention.forget(conn.session)
        for room, user in self.hub.detach(conn.session, self.clock()):
            self.cluster.left(room, user)
        user = conn.session.user
        if user is not None and user.id not in self.hub.users:
            self.admission.forget(user.id)
            self.cluster.gone(user)
            self.identity.let_go(user.id, user.name)

    def _ping(self, conn: Connection, req: Request) -> None:
        answer(conn, req, {"type": "pong"})

    # Rooms

    def _rooms(self, conn: Connection, req: Request) -> None:
        rooms, more = self.rooms.page(req.fields.get("after"), self.config.history.page_bytes, conn.session.user.id)
        self.hub.listen(conn.session)  # events from here on follow this page (chatd.rooms)
        answer_list(conn, req, {"type": "rooms", "more": more}, "rooms", rooms)

    def _joined_room(self, conn: Connection, name: str, cid: str | None) -> Room:
        room = self.rooms.get(name, conn.session.user.id)
        if room.key not in conn.session.rooms:
            raise ProtocolError(Code.NOT_IN_ROOM, f"join {room.name!r} first", cid, details={"room": room.name})
        return room

    async def _join(self, conn: Connection, req: Request) -> None:
        session = conn.session
        room = await self.rooms.enter(req.fields["room"], session.user.id)
        if conn.closed:
            return  # closed while a removal of the room was waited for
        if self.hub.join(session, room):
            self.cluster.entered(room, session)
        since = req.fields.get("since")
        reset = since is not None and await stale(self.store, req.fields.get("epoch", session.epoch), since)
        if reset:
            since = None
        mark = self.feed.losses
        state, (caught, page) = await alongside(
            self.attention.joined(session.user.id, room),
            catch_up(self.store, ROOM_WHERE, (room.id,), since, req.fields.get("revised"), self.config.history))
        if caught.reset:  # too much changed while it was away: the latest page, and the client starts over
            since, reset = None, True
        if conn.closed or room.key not in session.rooms:
            return  # closed or left while the history loaded
        sent = answer_page(conn, req, {
            "type": "joined",
            "room": room.name,
            "topic": room.topic,
            "members": self.cluster.member_refs(room, self.config.rooms.member_list_max),
            "online": room.online,
            **({"members_only": True} if room.members_only else {}),
            **room.flags(only_set=True),
            **({"reset": True} if reset else {}),
            **changed_fields(caught),
            **state,
        }, page, self.config.history.page_bytes - caught.bytes, not caught.changed)
        self.feed.release(session, room.key, last_id(sent.newest_id, since), loose(sent, since), mark)

    def _leave(self, conn: Connection, req: Request) -> None:
        room = self._joined_room(conn, req.fields["room"], req.cid)
        if self.hub.leave(conn.session, room):
            self.cluster.left(room, conn.session.user)
        self.attention.left(conn.session.user.id, room)
        answer(conn, req, {"type": "left", "room": room.name})

    async def _create(self, conn: Connection, req: Request) -> None:
        if req.fields.get("members_only"):  # else the user would believe an open room private
            raise forbidden(MEMBERS_ONLY, "members-only rooms are made by the web app, through its HTTP API", req.cid)
        topic = req.fields.get("topic", "").strip()[:TOPIC_MAX]
        room = await self.rooms.create(conn.session.user.id, conn.address, req.fields["room"], topic, self.clock())
        answer(conn, req, {"type": "created", "room": {"name": room.name, "topic": room.topic}})

    # Messages

    def _say(self, conn: Connection, req: Request) -> Awaitable[None] | None:
        user = conn.session.user
        draft = Draft(user.id, user.name, req.fields["text"], req.cid, attachments=req.fields.get("attachments", ()))
        room = self._joined_room(conn, req.fields["room"], req.cid) if "room" in req.fields else None
        self.moderation.check_say(user.id, room, req.cid)
        if room is not None:
            if room.announcement and not holds(user.roles, MODERATOR):
                raise ProtocolError(Code.MODERATORS_ONLY, "only moderators and admins post in the announcement "
                                                          f"room {room.name!r}; you can read it", req.cid,
                                    details={"room": room.name})
            draft.room_id = room.id
        else:
            draft.recipient_id = req.fields["to"]
        if "reply_to" in req.fields:  # the one say that reads the store first: the quote
            return self._say_reply(conn, req, draft, room)
        self._post_said(conn, req, draft)
        return None

    async def _say_reply(self, conn: Connection, req: Request, draft: Draft, room: Room | None) -> None:
        draft.quote = await self.changes.quote(conn, req.fields["reply_to"], room, draft.recipient_id, req.cid)
        if not conn.closed:
            self._post_said(conn, req, draft)

    def _post_said(self, conn: Connection, req: Request, draft: Draft) -> None:
        def posted(result: Stored | None, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_say(conn, error, req.cid)
            elif not conn.closed:
                conn.write_wire(text_frame(encode_ack(result.row.id, result.row.ts, req.cid)))

        self.post(draft, posted)

    def post(self, draft: Draft, done: Posted) -> None:
        """Store a message; once it is committed call ``done(Stored, None)`` (the
        caller acknowledges it), then publish it to every node's sessions. Both
        happen in the same turn of the loop, after the commit: nothing is
        acknowledged that is not durable, and the ack goes out before the
        sender's connection gets the message itself (docs/protocol.md, "ack").
        A node that dies between the two took only the publish with it, which
        the other nodes read from the store (chatd.feed). (A ``Stored`` whose
        ``duplicate`` is set is a retry of a stored message, not published
        again). ``done(None, error)`` when it could not be stored:
        ``NoSuchUser`` (the recipient), ``RecipientDeleted``, ``UserDeleted`` (the
        author, deleted meanwhile: chatd.store.living), ``WriterClosed`` (stopping),
        ``DatabaseUnreachable``, or the store's error. The one way in for every transport.

        ``draft`` names its room by ``room_id`` (the name is filled in here)
        or its recipient by ``recipient_id``. Raises ProtocolError, storing
        nothing, for a text the protocol refuses (docs/protocol.md,
        "Messages"), a room that does not exist or a recipient id above
        ``USER_ID_MAX``. ``done`` is called from
        the event loop, without a Task: the hot path of every message."""
        check_text(draft.text, self.config.limits.max_text_chars, len(draft.attachments))
        if draft.room_id is not None:
            room = self.hub.rooms_by_id.get(draft.room_id)
            if room is None:
                # Deleted since the request named it (a say awaiting its quote): named by id, as the draft names it.
                raise ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {draft.room_id}",
                                    details={"room_id": draft.room_id})
            if room.archived:  # every transport: an archived room is read-only
                raise archived(room.name)
            draft.room_name = room.name
            room.messaged = True  # now, not once stored: it must not expire while the message is on its way
        elif draft.recipient_id > USER_ID_MAX:  # the protocol allows it; no user has it, nor may the store see it
            raise no_such_user(draft.recipient_id)

        def stored(result: Stored | None, error: BaseException | None) -> None:
            try:
                done(result, error)
            finally:  # published whatever became of the answer: it is stored
                if error is None and not result.duplicate:
                    self.stored += 1
                    metrics.message_stored("room" if draft.recipient_id is None else "private", draft.source)
                    self.bus.publish(Delivery(result.channels, result.row.id, result.prev,
                                              text_frame(encode_message(result.row))))
                    self.bots.stored(draft, result.row)  # here only: one node calls a webhook per message
                    self.app_webhooks.message(result.row)

        self.store.save_message(draft, stored)

    def _refuse_say(self, conn: Connection, error: BaseException, cid: str | None) -> None:
        refusal = refusal_of(error, cid)
        if refusal is None:
            log.error("storing a message failed: %r", error)
            refusal = unavailable(NOT_STORED, cid)
        if not conn.closed:
            conn.send(refusal_frame(refusal))

    async def _history(self, conn: Connection, req: Request) -> None:
        f = req.fields
        h = self.config.history
        limit = min(f.get("limit", h.page_max), h.page_max)
        # A character takes at least a byte: page_bytes characters are rows enough to fill the page.
        bounds = {"before": f.get("before"), "after": f.get("after"), "limit": limit, "max_chars": h.page_bytes}
        reset = (bounds["before"] is not None or bounds["after"] is not None) and await stale(
            self.store, f.get("epoch", conn.session.epoch), bounds["after"], bounds["before"])
        if reset:
            bounds["before"] = bounds["after"] = None  # the latest page: the client starts over
        around = f.get("around")
        if around is not None and await stale(self.store, f.get("epoch", conn.session.epoch), None, around):
            around, reset = None, True  # the latest page: the client starts over
        me = conn.session.user.id
        if "room" in f:
            room = self._joined_room(conn, f["room"], req.cid)
            channel = functools.partial(self.store.room_history, room.id)
            target: dict[str, Any] = {"room": room.name}
        elif "with" not in f:  # all private conversations: how a resume catches up
            channel = functools.partial(self.store.private_history, me)
            target = {"private": True}
        else:
            other = f["with"]
            account = await self.account_of(other, req.cid)
            channel = functools.partial(self.store.conversation_history, me, other)
            target = {"with": other, **account}
        head = {"type": "history", **target, **({"reset": True} if reset else {})}
        if around is None:
            answer_page(conn, req, head, await channel(**bounds), h.page_bytes)
            return
        # The message and those before it, then those after it: half the page each.
        up_to = min(around, MAX_ID - 1) + 1
        older = await channel(before=up_to, after=None, limit=(limit + 1) // 2, max_chars=h.page_bytes)
        newer = await channel(before=None, after=around, limit=max(1, limit // 2), max_chars=h.page_bytes)
        answer_around(conn, req, {**head, "around": around}, older, newer, h.page_bytes)


    async def account_of(self, user_id: int, cid: str | None = None) -> dict[str, bool]:
        """What a conversation's history says of the other user's account (docs/protocol.md,
        "history"): ``{"account_deleted": True}`` for a deleted one (it keeps its id and its
        conversations, but nothing reaches it), else {}; ``no_such_user`` when there is no such user."""
        if user_id in self.hub.users:
            return {}
        found = await self.store.user_kind(user_id)
        if found is None:
            raise no_such_user(user_id, cid)
        return {"account_deleted": True} if found[1] == DELETED else {}


def _shared_redis(config: Config) -> SharedRedis | None:
    """The Redis that names and limits are kept on when a bus is configured;
    redis-py (an extra) is imported only then."""
    if not config.bus:
        return None
    from chatd.cluster.shared import SharedRedis

    return SharedRedis(bus_url(config))
