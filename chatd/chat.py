"""What each client request does: protocol in, hub and store, frames out.

``Chat.handle`` carries out one parsed request for one session. It knows
nothing of Tornado: a connection is anything with a ``session`` (a hub
Session, whose ``close`` ends the connection), an ``address`` (its key in
``chatd.abuse``), ``send(frame)`` and
``closed``. Requests that refuse raise ``ProtocolError``; the connection
turns those into ``error`` frames.

    chat = Chat(config, hub, store, tokens, bus)     # bus: LocalBus for one process, RedisBus for a cluster
    await bus.start(chat.cluster)                    # what the bus brings: messages to chat.feed, the rest here
    pending = chat.handle(connection, parse(text))   # None, or an awaitable
    chat.post(draft, done)                           # store, publish, then done(Stored, error): the caller acks
    chat.disconnect(connection)

Presence, online counts, names, rooms and sign-outs hold across the nodes of
a cluster through ``chat.cluster`` (``chatd.cluster.node``); with a Redis
bus, names are claimed on Redis (``chatd.cluster.names``) and the per-user
and per-address limits are buckets on Redis (``chatd.cluster.limits``).

Requests answered from memory (say, rooms, leave, ping) are handled at once;
only those that read the store or wait for a write (identify, sign_out, join,
create, history) return an awaitable, so the common case costs no Task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from chatd.abuse import AddressLimits, Kind, Refusal
from chatd.auth.signins import Signed, SignIns
from chatd.auth.tokens import TokenSigner
from chatd.bus import Bus, Delivery
from chatd.cluster.limits import SharedBuckets
from chatd.cluster.names import NameClaims, online_keep
from chatd.cluster.node import Cluster
from chatd.cluster.shared import SharedRedis
from chatd.config import Config, bus_url
from chatd.feed import Feed
from chatd.hub import Holder, Hub, NameTaken
from chatd.names import BadName, clean_name, name_taken
from chatd.paging import MessagePage, encode_with_list, message_page
from chatd.protocol import TOPIC_MAX, CloseCode, Code, ProtocolError, Request, check_text, error_frame, message_frame
from chatd.ratelimit import TokenBucket
from chatd.rooms import Rooms
from chatd.session import PRIVATE, Room, Session
from chatd.store import Draft, NoSuchUser, Page, Store, Stored, WriterClosed
from chatd.wsframe import text_frame, wire

log = logging.getLogger("chatd.chat")
USER_FLOOD = "too many messages from this user, all its connections together; slow down"

Posted = Callable[[Stored | None, BaseException | None], None]  # (the stored message, or the error)


class Connection(Protocol):
    session: Session
    address: str | None  # the key its address is limited under (None: exempt)
    closed: bool

    def send(self, frame: dict[str, Any]) -> None: ...

    def write_wire(self, data: bytes) -> None: ...


class Chat:
    def __init__(self, config: Config, hub: Hub, store: Store, tokens: TokenSigner, bus: Bus):
        self.config = config
        self.hub = hub
        self.store = store
        self.bus = bus  # started, with ``feed`` as its receiver, by whoever made it (chatd.server)
        self.feed = Feed(hub, store, lambda: self.config.history.page_bytes)  # the bus's receiver here
        self.tokens = tokens
        self.sign_ins = SignIns(hub, store, tokens)
        self.stored = 0  # messages stored since start, for `chatd status`
        self._user_buckets: dict[int, TokenBucket] = {}
        self.clock: Callable[[], float] = time.monotonic  # seconds; tests put a fake clock here
        self.addresses = AddressLimits(lambda: self.config.address)
        self.cluster = Cluster(bus, hub, lambda: self.config, lambda: self.clock())
        self.cluster.feed = self.feed  # stored messages, and losses, go on to the feed
        self.rooms = Rooms(hub, store, lambda: self.config, self.address_admit, self.cluster.room_event)
        self.cluster.rooms, self.cluster.sign_ins = self.rooms, self.sign_ins
        # With a Redis bus: names claimed and limits counted on Redis (None: in this process only).
        self.shared = SharedRedis(bus_url(config)) if config.bus else None
        self.claims = NameClaims(self.shared) if self.shared else None
        self.buckets = SharedBuckets(self.shared) if self.shared else None
        self._keeping: set[asyncio.Future] = set()  # name claims being renewed or let go (_keep_names)

    def handle(self, conn: Connection, req: Request) -> Awaitable[None] | None:
        """Carry out a request; raises ProtocolError, or returns an awaitable
        that may, for requests that have to wait."""
        if conn.session.user is None and req.type != "identify":
            raise ProtocolError(Code.NOT_IDENTIFIED, "send identify first", req.cid)
        return getattr(self, "_" + req.type)(conn, req)

    def disconnect(self, conn: Connection) -> None:
        """A connection has closed (once per connection ``connect`` let in)."""
        self.addresses.disconnect(conn.address)
        for room, user in self.hub.detach(conn.session, self.clock()):
            self.cluster.left(room, user)
        user = conn.session.user
        if user is not None and user.id not in self.hub.users:
            self._user_buckets.pop(user.id, None)
            self.cluster.gone(user)
            self._keep_names([(user.id, user.name)], self.config.identity.name_hold_seconds)

    async def connect(self, address: str | None) -> Refusal | None:
        """A new connection from ``address`` (a key of ``chatd.abuse``): None
        when let in (it counts until ``disconnect``), else why not. On a
        cluster the rate of new connections is counted on Redis, the open
        connections by each node."""
        if self.buckets is None:
            return self._logged(self.addresses.connect(address, self.clock()), address)
        refusal = self._logged(self.addresses.connect(address, self.clock(), rate=False), address)
        if refusal is None:
            refusal = await self.address_admit(Kind.CONNECT, address)
            if refusal is not None:
                self.addresses.disconnect(address)
        return refusal

    def address_take(self, kind: Kind, address: str | None) -> Refusal | None:
        """Count one ``kind`` for ``address`` in this process: None when allowed, else why not."""
        return self._logged(self.addresses.take(kind, address, self.clock()), address)

    async def address_admit(self, kind: Kind, address: str | None) -> Refusal | None:
        """Count one ``kind`` for ``address``, on Redis on a cluster (in this
        process when there is none, or Redis is out): None when allowed, else why not."""
        if self.buckets is None or address is None:
            return self.address_take(kind, address)
        rate, burst = self.addresses.rule(kind)
        answer = await self.buckets.take([(f"{kind}:{address}", rate, burst)])
        if answer is None:
            return self.address_take(kind, address)
        wait, _ = answer
        return self._logged(self.addresses.refusal(kind, address, wait, self.clock()), address) if wait else None

    def message_take(self, session: Session, address: str | None, now: float) -> tuple[str, float] | None:
        """Charge one message to the user's bucket (once identified), then the
        address's, in this process: None when both had a token, else (why not,
        seconds until one is back). docs/protocol.md, "Rate limits"."""
        if session.user is not None:
            bucket = self.user_bucket(session.user.id)
            if not bucket.take(now):
                return USER_FLOOD, bucket.wait(now)
        refusal = self.address_take(Kind.MESSAGE, address)
        return (refusal.message, refusal.retry_after) if refusal is not None else None

    async def message_admit(self, session: Session, address: str | None) -> tuple[str, float] | None:
        """``message_take`` on a cluster: the user's and the address's buckets
        on Redis, taken together or not at all; in this process while Redis is out."""
        limits, buckets = self.config.limits, []
        if session.user is not None:
            buckets.append((f"user:{session.user.id}", limits.user_rate_per_second, limits.user_rate_burst))
        if address is not None:
            buckets.append((f"{Kind.MESSAGE}:{address}", *self.addresses.rule(Kind.MESSAGE)))
        answer = await self.buckets.take(buckets) if buckets else (0.0, -1)
        if answer is None:
            return self.message_take(session, address, self.clock())
        wait, which = answer
        if not wait:
            return None
        if session.user is not None and which == 0:
            return USER_FLOOD, wait
        refusal = self._logged(self.addresses.refusal(Kind.MESSAGE, address, wait, self.clock()), address)
        return refusal.message, refusal.retry_after

    @staticmethod
    def _logged(refusal: Refusal | None, address: str | None) -> Refusal | None:
        if refusal is not None and refusal.report:
            log.warning("address %s is over its limit of %s (%s); docs/operations.md, \"Limits per address\"",
                        address, refusal.kind, refusal.settings())
        return refusal

    def user_bucket(self, user_id: int) -> TokenBucket:
        """The rate limit shared by all of a user's connections."""
        limits = self.config.limits
        bucket = self._user_buckets.get(user_id)
        if bucket is None:
            bucket = self._user_buckets[user_id] = TokenBucket(limits.user_rate_per_second, limits.user_rate_burst)
        bucket.rate, bucket.burst = limits.user_rate_per_second, limits.user_rate_burst
        return bucket

    # Identity

    async def _identify(self, conn: Connection, req: Request) -> None:
        if conn.session.user is not None:
            raise ProtocolError(Code.ALREADY_IDENTIFIED, "this connection has identified already", req.cid)
        try:
            name = clean_name(req.fields["name"]) if "name" in req.fields else None
        except BadName as e:
            raise ProtocolError(Code.BAD_NAME, str(e), req.cid) from None
        if "token" in req.fields:
            who = await self.sign_ins.resume(req.fields["token"], req.cid)
        else:
            self._check_name_free(name, None, req.cid)
            refusal = await self.address_admit(Kind.GUEST, conn.address)
            if refusal is not None:
                raise ProtocolError(Code.RATE_LIMITED, refusal.message, req.cid, refusal.retry_after)
            who = await self.sign_ins.sign_up(name)
        try:
            if who.resume is not None:
                name = await self._resumed_name(who, name, req.cid)
            await self._claim_name(who.user_id, name, req.cid)
            if conn.closed:
                return
            self.sign_ins.check(who, req.cid)  # signed out while this identify waited
            here = who.user_id in self.hub.users
            old_name = self.cluster.name_of(who.user_id) or name
            self._check_name_free(name, who.user_id, req.cid)  # taken on another node meanwhile?
            try:
                user = self.hub.attach(conn.session, who.user_id, name, self.clock(),
                                       self.config.identity.name_hold_seconds)
            except NameTaken as e:  # taken while the store created the user
                raise self._taken(name, e.holder, req.cid) from None
        finally:
            self.sign_ins.settled(who)
        if not here:
            self.cluster.arrived(user)
        if old_name != name:  # renamed while online (here or on another node): the rooms it is in should know
            self.cluster.renamed(user)
            self._keep_names([(user.id, old_name)], self.config.identity.name_hold_seconds)
        conn.session.sign_in = who.sign_in
        # Where the client's positions come from: its `epoch`, else its token's.
        conn.session.epoch = epoch = req.fields.get("epoch", who.epoch)
        since = req.fields.get("since")
        reset = await self._stale(epoch, since)
        if reset:
            since = None  # the latest page instead, as for a client that holds nothing
        mark = self.feed.losses
        page = await self._page(self.store.private_history, user.id, since)
        sent = self._answer_page(conn, req, {
            "type": "welcome",
            "session": conn.session.id,
            "user": user.ref(),
            "token": self.sign_ins.token(who),
            "epoch": self.store.epoch.id,
            "limits": self._client_limits(),
            **({"reset": True} if reset else {}),
        }, page)
        self.feed.release(conn.session, PRIVATE, _last_id(sent.newest_id, since), _loose(sent, since), mark)

    def _client_limits(self) -> dict[str, Any]:
        """The limits a client should respect to avoid errors."""
        limits = self.config.limits
        return {
            "max_text_chars": limits.max_text_chars,
            "max_frame_bytes": limits.max_frame_bytes,
            "rate_per_second": min(limits.rate_per_second, limits.user_rate_per_second),
            "rate_burst": min(limits.rate_burst, limits.user_rate_burst),
        }

    async def _resumed_name(self, who: Signed, name: str | None, cid: str | None) -> str:
        """The name a user that resumed takes: its current one, or ``name`` if given (a rename)."""
        current = self.cluster.name_of(who.user_id) or who.name
        if name is None or name == current:
            self._check_name_free(current, who.user_id, cid)
            return current
        self._check_name_free(name, who.user_id, cid)
        await self.store.rename_user(who.user_id, name)
        return name

    async def _sign_out(self, conn: Connection, req: Request) -> None:
        everywhere = req.fields.get("everywhere", False)
        ended = await self.sign_ins.sign_out(conn.session, everywhere)
        self.cluster.signed_out(conn.session.user.id, None if everywhere else conn.session.sign_in)
        if not conn.closed:
            _answer(conn, req, {"type": "signed_out", "everywhere": everywhere})
        reason = "signed out everywhere" if everywhere else "signed out"
        log.info("user %d %s: %d sessions end", conn.session.user.id, reason, len(ended))
        for session in ended:  # this connection too, after its answer
            session.close(CloseCode.SIGNED_OUT, reason)

    def _check_name_free(self, name: str, user_id: int | None, cid: str | None) -> None:
        holder = self.cluster.name_holder(name, user_id, self.clock(), self.config.identity.name_hold_seconds)
        if holder is not None:
            raise self._taken(name, holder, cid)

    async def _claim_name(self, user_id: int, name: str, cid: str | None) -> None:
        """On a cluster with Redis: make ``name`` the user's on every node, or
        refuse it (``chatd.cluster.names``: how two nodes never both admit it)."""
        if self.claims is None:
            return
        hold = self.config.identity.name_hold_seconds
        claim = await self.claims.claim(user_id, name, online_keep(hold))
        if claim is not None:
            now = self.clock()
            left_at = None if self.cluster.name_of(claim.user_id) else now - max(0.0, hold - claim.seconds_left)
            raise self._taken(name, Holder(claim.user_id, claim.name, left_at), cid)

    def _keep_names(self, names: list[tuple[int, str]], seconds: float) -> None:
        """Set the Redis claims of these (user id, name) to live ``seconds`` (their
        hold, once let go; renewed while online: ``renew_names``)."""
        if self.claims is not None:
            task = asyncio.ensure_future(self.claims.keep(names, seconds))
            self._keeping.add(task)  # the loop holds tasks weakly
            task.add_done_callback(self._keeping.discard)

    def renew_names(self) -> None:
        """Every ``chatd.cluster.names.RENEW_EVERY`` seconds: the names online here stay claimed."""
        names = [(user.id, user.name) for user in self.hub.users.values()]
        self._keep_names(names, online_keep(self.config.identity.name_hold_seconds))

    def _taken(self, name: str, holder: Holder, cid: str | None) -> ProtocolError:
        text = name_taken(name, holder.name, holder.left_at, self.clock(), self.config.identity.name_hold_seconds)
        return ProtocolError(Code.NAME_TAKEN, text, cid)

    def _ping(self, conn: Connection, req: Request) -> None:
        _answer(conn, req, {"type": "pong"})

    # Rooms

    def _rooms(self, conn: Connection, req: Request) -> None:
        rooms, more = self.rooms.page(req.fields.get("after"), self.config.history.page_bytes)
        self.hub.listen(conn.session)  # events from here on follow this page (chatd.rooms)
        _answer_list(conn, req, {"type": "rooms", "more": more}, "rooms", rooms)

    def _joined_room(self, conn: Connection, name: str, cid: str | None) -> Room:
        room = self.rooms.get(name)
        if room.key not in conn.session.rooms:
            raise ProtocolError(Code.NOT_IN_ROOM, f"join {room.name!r} first", cid)
        return room

    async def _join(self, conn: Connection, req: Request) -> None:
        room = self.rooms.get(req.fields["room"])
        session = conn.session
        if self.hub.join(session, room):
            self.cluster.entered(room, session)
        since = req.fields.get("since")
        reset = since is not None and await self._stale(req.fields.get("epoch", session.epoch), since)
        if reset:
            since = None
        mark = self.feed.losses
        page = await self._page(self.store.room_history, room.id, since)
        if conn.closed or room.key not in session.rooms:
            return  # closed or left while the history loaded
        sent = self._answer_page(conn, req, {
            "type": "joined",
            "room": room.name,
            "topic": room.topic,
            "members": self.cluster.member_refs(room, self.config.rooms.member_list_max),
            "online": room.online,
            **({"reset": True} if reset else {}),
        }, page)
        self.feed.release(session, room.key, _last_id(sent.newest_id, since), _loose(sent, since), mark)

    def _leave(self, conn: Connection, req: Request) -> None:
        room = self._joined_room(conn, req.fields["room"], req.cid)
        if self.hub.leave(conn.session, room):
            self.cluster.left(room, conn.session.user)
        _answer(conn, req, {"type": "left", "room": room.name})

    async def _create(self, conn: Connection, req: Request) -> None:
        topic = req.fields.get("topic", "").strip()[:TOPIC_MAX]
        room = await self.rooms.create(conn.session.user.id, conn.address, req.fields["room"], topic, self.clock())
        _answer(conn, req, {"type": "created", "room": {"name": room.name, "topic": room.topic}})

    # Messages

    def _say(self, conn: Connection, req: Request) -> None:
        user = conn.session.user
        draft = Draft(user.id, user.name, req.fields["text"], req.cid)
        if "room" in req.fields:
            draft.room_id = self._joined_room(conn, req.fields["room"], req.cid).id
        else:
            draft.recipient_id = req.fields["to"]

        def posted(result: Stored | None, error: BaseException | None) -> None:
            if error is not None:
                self._refuse_say(conn, error, req.cid)
            elif not conn.closed:
                _answer(conn, req, {"type": "ack", "id": result.row.id, "ts": result.row.ts})

        self.post(draft, posted)

    def post(self, draft: Draft, done: Posted) -> None:
        """Store a message, then publish it to every node's sessions, then call
        ``done(Stored, None)``: the caller acknowledges it (a ``Stored`` whose
        ``duplicate`` is set is a retry of a stored message, not published
        again). ``done(None, error)`` when it could not be stored:
        ``NoSuchUser`` (the recipient), ``WriterClosed`` (stopping), or the
        store's error. The one way in for every transport.

        ``draft`` names its room by ``room_id`` (the name is filled in here)
        or its recipient by ``recipient_id``. Raises ProtocolError, storing
        nothing, for a text the protocol refuses (docs/protocol.md,
        "Messages") or a room that does not exist. ``done`` is called from
        the event loop, without a Task: the hot path of every message."""
        check_text(draft.text, self.config.limits.max_text_chars)
        if draft.room_id is not None:
            room = self.hub.rooms_by_id.get(draft.room_id)
            if room is None:
                raise ProtocolError(Code.NO_SUCH_ROOM, f"there is no room {draft.room_id}")
            draft.room_name = room.name
            room.messaged = True  # now, not once stored: it must not expire while the message is on its way

        def stored(result: Stored | None, error: BaseException | None) -> None:
            if error is None and not result.duplicate:
                self.stored += 1
                self.bus.publish(Delivery(result.channels, result.row.id, result.prev, wire(message_frame(result.row))))
            done(result, error)

        self.store.save_message(draft, stored)

    def _refuse_say(self, conn: Connection, error: BaseException, cid: str | None) -> None:
        if isinstance(error, NoSuchUser):
            frame = error_frame(Code.NO_SUCH_USER, f"there is no user {error.args[0]}", cid)
        elif isinstance(error, WriterClosed):
            frame = error_frame(Code.UNAVAILABLE, "the server is shutting down; send again later", cid)
        else:
            log.error("storing a message failed: %r", error)
            frame = error_frame(Code.UNAVAILABLE, "the message could not be stored; send again later", cid)
        if not conn.closed:
            conn.send(frame)

    async def _history(self, conn: Connection, req: Request) -> None:
        f = req.fields
        h = self.config.history
        limit = min(f.get("limit", h.page_max), h.page_max)
        # A character takes at least a byte: page_bytes characters are rows enough to fill the page.
        bounds = {"before": f.get("before"), "after": f.get("after"), "limit": limit, "max_chars": h.page_bytes}
        reset = (bounds["before"] is not None or bounds["after"] is not None) and await self._stale(
            f.get("epoch", conn.session.epoch), bounds["after"], bounds["before"])
        if reset:
            bounds["before"] = bounds["after"] = None  # the latest page: the client starts over
        me = conn.session.user.id
        if "room" in f:
            room = self._joined_room(conn, f["room"], req.cid)
            page = await self.store.room_history(room.id, **bounds)
            target: dict[str, Any] = {"room": room.name}
        elif "with" not in f:  # all private conversations: how a resume catches up
            page = await self.store.private_history(me, **bounds)
            target = {"private": True}
        else:
            other = f["with"]
            if other not in self.hub.users and await self.store.user_name(other) is None:
                raise ProtocolError(Code.NO_SUCH_USER, f"there is no user {other}", req.cid)
            page = await self.store.conversation_history(me, other, **bounds)
            target = {"with": other}
        self._answer_page(conn, req, {"type": "history", **target, **({"reset": True} if reset else {})}, page)

    async def _stale(self, epoch: str | None, after: int | None, before: int | None = None) -> bool:
        """Whether a client's positions cannot be used here: ``Epoch.stale``."""
        newest = await self.store.newest(at_least=after or 0)
        return self.store.epoch.stale(epoch, after, before, newest)

    async def _page(self, query: Any, key: int, since: int | None) -> Page:
        """What a (re)joining client is sent: the latest messages, or those after ``since``."""
        h = self.config.history
        if since is None:
            return await query(key, before=None, after=None, limit=h.join_count, max_chars=h.page_bytes)
        return await query(key, before=None, after=since, limit=h.replay_max, max_chars=h.page_bytes)

    def _answer_page(self, conn: Connection, req: Request, head: dict[str, Any], page: Page) -> MessagePage:
        """Answer with ``head`` plus the messages of ``page`` that fit in
        ``history.page_bytes`` and ``more``; → what was sent."""
        fitted = message_page(page, self.config.history.page_bytes)
        head["more"] = fitted.more
        _answer_list(conn, req, head, "messages", fitted.items)
        return fitted


def _answer(conn: Connection, req: Request, frame: dict[str, Any]) -> None:
    """Send the answer to a request, carrying the request's cid if it had one."""
    if req.cid is not None:
        frame["cid"] = req.cid
    conn.send(frame)


def _answer_list(conn: Connection, req: Request, head: dict[str, Any], key: str, items: list[bytes]) -> None:
    """Send an answer whose list ``key`` holds items encoded already (chatd.paging)."""
    if req.cid is not None:
        head["cid"] = req.cid
    conn.write_wire(text_frame(encode_with_list(head, key, items)))


def _loose(sent: MessagePage, since: int | None) -> bool:
    """Whether a page after ``since`` was cut short: the client then fetches the
    rest up to its first live message itself (docs/protocol.md, "Pages")."""
    return since is not None and sent.more


def _last_id(newest: int | None, since: int | None) -> int:
    """The newest id the client has after a page whose last message is
    ``newest``: held-back live messages at or below it were in the page (or
    before it) and must not be sent again."""
    if newest is not None:
        return newest
    return since or 0
