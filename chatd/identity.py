"""Who a connection is: ``identify`` (a new guest, a web app's user with an
app token, or a resume with a token, perhaps renamed) and ``sign_out``; and
the names users go by.

No guest is online with a name that looks like another online user's, on
this node or any other, and a name let go stays held for its user a while
(``identity.name_hold_seconds``): the hub keeps that for this node,
``chatd.cluster`` for the others, and with a Redis bus each name is claimed
on Redis (``chatd.cluster.names``) so two nodes never both admit it; in one
process without Redis, the names online and let go are written down as they
change (``chatd.store.nameholds``), so the next process, after a restart or a
crash, holds them for their users from its start (``restore_holds``). The
names of a web app's users are the app's word: never refused, and two may
be alike (``chatd.hub``, "Names"). docs/protocol.md, "Identities".

    identity = Identity(hub=hub, store=store, feed=feed, events=events, cluster=cluster, sign_ins=sign_ins,
                        claims=claims, admission=admission, config=lambda: config, clock=clock,
                        app_tokens=lambda: app_tokens)
    await identity.identify(conn, req)      # welcome, with the private messages missed, then stored events
    await identity.sign_out(conn, req)      # signed_out; the sign-in's sessions close
    identity.keep_names([(7, "alice")], seconds)   # a name let go: its claim on Redis lives on
    identity.renew_names()                  # every RENEW_EVERY seconds on a cluster

Refusals raise ``ProtocolError`` (the connection sends it as an ``error``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from chatd.abuse import Kind
from chatd.admission import Admission
from chatd.alongside import alongside
from chatd.attention import Attention
from chatd.auth.apptokens import AppTokenError, AppTokens, app_user_name, avatar_host
from chatd.auth.revocation import ACCOUNT_DELETED
from chatd.auth.signins import Signed, SignIns, bad_token, close_reason
from chatd.changes import catch_up, changed_fields
from chatd.client_refusals import APP_NAME, forbidden
from chatd.cluster.names import NameClaims, online_keep
from chatd.cluster.node import Cluster
from chatd.events import Events
from chatd.feed import Feed
from chatd.hub import NAMING, Holder, Hub, NameTaken
from chatd.moderation import Moderation
from chatd.names import BadName, clean_name, name_taken, name_taken_fields
from chatd.protocol.codes import CloseCode, Code, ProtocolError
from chatd.protocol.frames import error_frame
from chatd.protocol.requests import Request
from chatd.replies import Connection, answer, answer_page, last_id, loose, stale
from chatd.reserved import ReservedNames, refusal
from chatd.session import GUEST, NO_ROLES, PRIVATE, User
from chatd.store import Store
from chatd.store.base import INBOX_WHERE
from chatd.store.nameholds import NameHoldStore
from chatd.store.schema import now_ms

log = logging.getLogger("chatd.chat")  # the name these lines always had: log filters keep working


class Identity:
    def __init__(self, *, hub: Hub, store: Store, moderation: Moderation, feed: Feed, events: Events,
                 cluster: Cluster, sign_ins: SignIns,
                 claims: NameClaims | None, admission: Admission, config: Callable[[], Any],
                 clock: Callable[[], float], app_tokens: Callable[[], AppTokens | None],
                 token_rooms: Callable[[int, Iterable[str]], Awaitable[None]], reserved: ReservedNames | None = None,
                 attention: Attention | None = None, saved: NameHoldStore | None = None):
        """``claims``: the names claimed on Redis (None without a Redis bus);
        ``config``: the config in effect (it changes on reload); ``clock``: seconds;
        ``app_tokens``: what verifies app tokens now (None: not configured);
        ``token_rooms(user id, names)``: makes an app token's ``rooms`` claim the
        user's "token" memberships (``chatd.roomadmin.RoomAdmin.set_token_rooms``);
        ``reserved``: the names guests may not take (``chatd.reserved``); ``attention``: the
        user's read state the welcome carries (``chatd.attention``; None: none); ``saved``: where
        the names online and let go are written for the next process (``chatd.store.nameholds``;
        None: they are not, as with Redis, whose claims outlive the process)."""
        self.hub = hub
        self.store = store
        self.moderation = moderation  # who is banned (checked before and after the sign-in is known)
        self.feed = feed
        self.events = events
        self.cluster = cluster
        self.sign_ins = sign_ins
        self.claims = claims
        self.admission = admission
        self._config = config
        self._clock = clock
        self._app_tokens = app_tokens
        self._token_rooms = token_rooms
        self._keeping: set[asyncio.Future] = set()  # name claims being renewed or let go (keep_names)
        self.reserved = reserved or ReservedNames()
        self.attention = attention
        self.saved = saved
        self._erased: set[int] = set()  # users erased while this process runs (``erased``)

    async def identify(self, conn: Connection, req: Request) -> None:
        if conn.session.user is not None:
            raise ProtocolError(Code.ALREADY_IDENTIFIED, "this connection has identified already", req.cid)
        self._check_ban(conn, None, req.cid)  # an address banned since the connection was made
        try:
            name = clean_name(req.fields["name"]) if "name" in req.fields else None
        except BadName as e:
            raise ProtocolError(Code.BAD_NAME, str(e), req.cid, details=e.fields) from None
        if "app_token" in req.fields:
            who = await self._app_sign_in(req.fields["app_token"], req.cid)
            name = who.name
        elif "token" in req.fields:
            who = await self.sign_ins.resume(req.fields["token"], req.cid)
        else:
            self._check_guests(req.cid)
            self._check_reserved(name, req.cid)
            self._check_name_free(name, None, req.cid)
            refusal = await self.admission.address_admit(Kind.GUEST, conn.address)
            if refusal is not None:
                raise ProtocolError(Code.RATE_LIMITED, refusal.message, req.cid, refusal.retry_after,
                                    {"limit": refusal.limit})
            who = await self.sign_ins.sign_up(name)
        try:
            self._check_ban(conn, who.user_id, req.cid)
            if who.kind == GUEST:
                self._check_guests(req.cid)  # a guest's resume token, guests being off since
            if who.claims is not None:  # before the welcome: the room list and joins after it see the claim's rooms
                await self._token_rooms(who.user_id, who.claims.rooms)
            user = await self._attach(conn, req, who, name)
            if user is not None:
                try:
                    await self._welcome(conn, req, who, user)
                except Exception:
                    if self.sign_ins.refused(who):  # signed out too: it ends as the sign-out's other sessions
                        conn.session.close(CloseCode.SIGNED_OUT, close_reason(who.resume.everywhere))
                    raise
        finally:
            self.sign_ins.settled(who)

    def _check_ban(self, conn: Connection, user_id: int | None, cid: str | None) -> None:
        """A banned user or address: the ``banned`` frame, the refusal and close code 4403
        (``Moderation.shut``); the error raised stops the identify (the connection, closing,
        sends nothing more)."""
        ban = self.moderation.ban_of(user_id, conn.session.ip)
        if ban is not None:
            error = self.moderation.banned_error(ban, cid)
            self.moderation.shut(conn.session, ban, error)
            raise error

    async def _app_sign_in(self, token: str, cid: str | None) -> Signed:
        """The user an app token proves (chatd.auth.apptokens), signed in; ProtocolError saying why not."""
        app_tokens = self._app_tokens()
        if app_tokens is None:
            raise ProtocolError(Code.BAD_APP_TOKEN, "app tokens are not configured on this server", cid,
                                details={"cause": "not_configured"})
        try:
            claims = app_tokens.verify(token)
        except AppTokenError as e:
            raise ProtocolError(e.code, e.message, cid, details=e.details) from None
        return await self.sign_ins.app_sign_in(claims, app_user_name(claims))

    def _check_guests(self, cid: str | None) -> None:
        if not self._config().identity.guests:
            raise ProtocolError(Code.GUESTS_OFF, "guests are off on this server: sign in through its web app", cid)

    async def _attach(self, conn: Connection, req: Request, who: Signed, name: str | None) -> User | None:
        """Make ``conn``'s session one of ``who``'s, called ``name``; → its user
        (None: the connection closed meanwhile). ProtocolError if the name is
        taken or the sign-in was signed out meanwhile."""
        vouched = who.kind != GUEST  # the web app's word: see the module
        if who.resume is not None:
            name = await self._resumed_name(who, name, req.cid)
        await self.claim_name(who.user_id, name, online_keep(self._config().identity.name_hold_seconds), vouched,
                              req.cid)
        if conn.closed or conn.session.closing:  # its session is over (chatd.chat.Chat.session_over)
            return None
        self.sign_ins.check(who, req.cid)  # signed out while this identify waited
        if who.user_id in self._erased:  # deleted while it waited: its sessions ended, none may begin
            raise bad_token(ACCOUNT_DELETED, req.cid)
        here = who.user_id in self.hub.users
        was = self.cluster.ref_of(who.user_id)  # None: online nowhere
        old_name = was["name"] if was is not None else name
        if not vouched:
            self._check_name_free(name, who.user_id, req.cid)  # taken on another node meanwhile?
        config = self._config().identity
        try:
            user = self.hub.attach(conn.session, who.user_id, name, self._clock(), config.name_hold_seconds, who.kind)
        except NameTaken as e:  # taken while the store created the user
            raise self._taken(name, e.holder, req.cid) from None
        # A user without roles keeps the shared empty set (each frozenset() is a new 216-byte object).
        user.roles, user.avatar = who.roles or NO_ROLES, shown_avatar(who.avatar, config.avatar_hosts)
        self.sign_ins.attached(who, conn.session)
        # Every node takes this sign-in's name, rank and avatar; the rooms the user is in hear a change of them.
        self.cluster.signed_in(user, was, here)
        if old_name != name:
            self.let_go(user.id, old_name)
        if self.saved is not None and (not here or old_name != name):
            self.saved.online(user.id, name)
        conn.session.sign_in = who.sign_in
        return user

    async def _welcome(self, conn: Connection, req: Request, who: Signed, user: User) -> None:
        """Answer the identify of ``user`` (attached): ``welcome``, with the
        private messages missed, then the stored events missed (``chatd.events``);
        or, if its sign-in was signed out while they were read, ``bad_token`` and
        the end of the connection, as the sign-out's other sessions
        (docs/protocol.md, "Signing out")."""
        # Where the client's positions come from: its `epoch`, else its token's.
        conn.session.epoch = epoch = req.fields.get("epoch", who.epoch)
        since = req.fields.get("since")
        reset = await stale(self.store, epoch, since)
        if reset:
            since = None  # the latest page instead, as for a client that holds nothing
        events_since = req.fields.get("events_since")
        if reset or (epoch is not None and not self.store.epoch.same_database(epoch)):
            events_since = None  # numbers of another database's events: all unexpired ones instead
        mark = self.feed.losses
        state, (caught, page), events = await alongside(  # the reads at once: one wait, not one each
            self.attention.welcome(user.id) if self.attention is not None else asyncio.sleep(0, {}),
            catch_up(self.store, INBOX_WHERE, (user.id, user.id), since, req.fields.get("revised"),
                     self._config().history),
            self.events.replay_read(user.id, events_since))
        if caught.reset:  # too much changed while it was away: the latest page, and the client starts over
            since, reset = None, True
        refused = self.sign_ins.refused(who)
        if refused:
            if not conn.closed:
                conn.send(error_frame(Code.BAD_TOKEN, refused, req.cid, details=refused.fields))
            conn.session.close(CloseCode.SIGNED_OUT, close_reason(who.resume.everywhere))
            return
        sent = answer_page(conn, req, {
            "type": "welcome",
            "session": conn.session.id,
            "user": {**user.ref(), **({"roles": sorted(user.roles)} if user.roles else {})},
            "token": self.sign_ins.token(who),
            "epoch": self.store.epoch.id,
            "limits": self._client_limits(),
            # Hosts whose linked images the page may show inline (page.image_hosts; its CSP admits them).
            **({"image_hosts": list(self._config().page.image_hosts)} if self._config().page.image_hosts else {}),
            **({"reset": True} if reset else {}),
            **changed_fields(caught),
            **state,
        }, page, self._config().history.page_bytes - caught.bytes, not caught.changed)
        self.feed.release(conn.session, PRIVATE, last_id(sent.newest_id, since), loose(sent, since), mark)
        if not conn.closed:
            self.events.replay(conn.session, events, events_since, mark)

    def _client_limits(self) -> dict[str, Any]:
        """The limits a client should respect to avoid errors."""
        limits = self._config().limits
        return {
            "max_text_chars": limits.max_text_chars,
            "max_frame_bytes": limits.max_frame_bytes,
            "rate_per_second": min(limits.rate_per_second, limits.user_rate_per_second),
            "rate_burst": min(limits.rate_burst, limits.user_rate_burst),
            # How long authors may edit and delete their messages (0: not at all; chatd.changes).
            "edit_window_seconds": self._config().messages.edit_window_seconds,
        }

    async def _resumed_name(self, who: Signed, name: str | None, cid: str | None) -> str:
        """The name a user that resumed takes: its current one, or ``name`` if given (a rename)."""
        current = self.cluster.name_of(who.user_id) or who.name
        if who.kind != GUEST:  # vouched for: its name is the app's (hub, "Names")
            if name is not None and name != current:
                raise forbidden(APP_NAME, "this user's name comes from the web app; it cannot be changed here", cid)
            return current
        if name is None or name == current:
            self._check_name_free(current, who.user_id, cid)
            return current
        self._check_reserved(name, cid)
        self._check_name_free(name, who.user_id, cid)
        await self.store.rename_user(who.user_id, name)
        return name

    async def sign_out(self, conn: Connection, req: Request) -> None:
        everywhere = req.fields.get("everywhere", False)
        ended = await self.sign_ins.sign_out(conn.session, everywhere)
        self.cluster.signed_out(conn.session.user.id, None if everywhere else conn.session.sign_in)
        if not conn.closed:
            answer(conn, req, {"type": "signed_out", "everywhere": everywhere})
        reason = close_reason(everywhere)
        log.info("user %d %s: %d sessions end", conn.session.user.id, reason, len(ended))
        for session in ended:  # this connection too, after its answer
            session.close(CloseCode.SIGNED_OUT, reason)

    # Names

    def _check_reserved(self, name: str, cid: str | None) -> None:
        """A guest's new name must not be one the operator reserved (a name kept is not checked)."""
        held = self.reserved.match(name, "user")
        if held is not None:
            raise refusal(name, held, cid)

    def _check_name_free(self, name: str, user_id: int | None, cid: str | None) -> None:
        holder = self.cluster.name_holder(name, user_id, self._clock(), self._config().identity.name_hold_seconds)
        if holder is not None:
            raise self._taken(name, holder, cid)

    async def claim_name(self, user_id: int, name: str, seconds: float, vouched: bool = False,
                         cid: str | None = None) -> None:
        """On a cluster with Redis: make ``name`` the user's on every node for ``seconds``, or
        refuse it with ProtocolError ``name_taken`` (``chatd.cluster.names``: how two nodes
        never both admit it); ``vouched``: the web app's word, never refused. Without Redis,
        or while it is out, nothing: the caller's own checks stand (``chatd.cluster.shared``).
        Also for a bot being named (``chatd.bots``), whose ``user_id`` may be ``NAMING``."""
        if self.claims is None:
            return
        claim = await self.claims.claim(user_id, name, seconds, vouched)
        if claim is not None:
            now, hold = self._clock(), self._config().identity.name_hold_seconds
            in_use = claim.user_id == NAMING or self.cluster.name_of(claim.user_id) is not None
            left_at = None if in_use else now - max(0.0, hold - claim.seconds_left)
            raise self._taken(name, Holder(claim.user_id, claim.name, left_at), cid)

    def let_go(self, user_id: int, name: str) -> None:
        """The user let ``name`` go (its last session here ended, or it renamed): the hub holds
        it; its claim on Redis lives on for the hold (``keep_names``), or it is written down so
        that the next process holds it too (``saved``)."""
        self.keep_names([(user_id, name)], self._config().identity.name_hold_seconds)
        if user_id in self._erased:
            self.hub.unhold(user_id)  # an erased user's sessions ending: nothing of it is held
        elif self.saved is not None:
            self.saved.let_go(user_id, name, now_ms())

    def erased(self, user_id: int) -> None:
        """The user was erased (``chatd.usercare``): no name is held for it any longer, here or
        after a restart, nor once its sessions, ending now, let their names go."""
        self._erased.add(user_id)
        self.hub.unhold(user_id)
        if self.saved is not None:
            self.saved.forget(user_id)

    def restore_holds(self) -> int:
        """At start, before serving: hold the names the previous process left held — those
        online when it ended from now, those let go for the rest of their hold — and forget
        the older ones (``chatd.store.nameholds``); → how many names are held."""
        if self.saved is None:
            return 0
        hold = self._config().identity.name_hold_seconds
        wall, now = now_ms(), self._clock()
        since = wall - round(hold * 1000)
        rows = self.saved.held(since) if hold > 0 else []
        self.hub.hold(Holder(user_id, name, now if let_go is None else now - max(0, wall - let_go) / 1000)
                      for user_id, name, let_go in rows)
        self.saved.all_let_go(wall)  # before any user arrives: the writer runs jobs in order
        self.saved.prune(since)
        return len(rows)

    def prune_holds(self) -> None:
        """Now and then: forget the written names whose hold is over."""
        if self.saved is not None:
            self.saved.prune(now_ms() - round(self._config().identity.name_hold_seconds * 1000))

    def keep_names(self, names: list[tuple[int, str]], seconds: float) -> None:
        """Set the Redis claims of these (user id, name) to live ``seconds`` (their
        hold, once let go; renewed while online: ``renew_names``)."""
        if self.claims is not None:
            task = asyncio.ensure_future(self.claims.keep(names, seconds))
            self._keeping.add(task)  # the loop holds tasks weakly
            task.add_done_callback(self._keeping.discard)

    def renew_names(self) -> None:
        """Every ``chatd.cluster.names.RENEW_EVERY`` seconds: the names online here stay claimed."""
        names = [(user.id, user.name) for user in self.hub.users.values()]
        self.keep_names(names, online_keep(self._config().identity.name_hold_seconds))

    def _taken(self, name: str, holder: Holder, cid: str | None) -> ProtocolError:
        said = (name, holder.name, holder.left_at, self._clock(), self._config().identity.name_hold_seconds)
        return ProtocolError(Code.NAME_TAKEN, name_taken(*said), cid, details=name_taken_fields(*said))


def shown_avatar(avatar: str | None, hosts: list[str]) -> str | None:
    """``avatar`` if clients may be shown it: its host is one of ``identity.avatar_hosts``
    (a browser loading it tells that host who reads the chat), else None."""
    if avatar is None:
        return None
    # Also for one stored before the token's check refused what browsers read otherwise.
    return avatar if avatar_host(avatar) in hosts else None
