"""One chatd server: store, hub, chat logic and the HTTP listener, with a
start, a reload and a stop.

    server = Server(config)
    await server.start()                 # binds config.listen (or takes sockets)
    ...
    server.reload(load_config(path))     # → (applied keys, keys that need a restart)
    await server.stats()                 # figures for `chatd status`
    server.connections()                 # rows for `chatd connections`
    await server.stop(CloseCode.GOING_AWAY, timeout=10)

``start`` is ``open`` (database, rooms, application) then ``serve``
(accept on the sockets); a restart successor does the first, tells the old
process it is ready, and does the second only once the old one has stopped
writing. The CLI and ``chatd.lifecycle`` drive this; tests run it
in-process on a free port, or as a real process through the CLI.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import resource
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets

from chatd import __version__
from chatd.atomic import replaced
from chatd.audit import SYSTEM
from chatd.auth.apptokens import load_app_tokens
from chatd.auth.secret import configured_secret
from chatd.auth.tokens import TokenSigner
from chatd.bus import Bus, BusUnavailable, new_node_id
from chatd.bus.local import LocalBus
from chatd.chat import Chat
from chatd.cluster.membership import ClusterMismatch, Membership, fingerprint
from chatd.cluster.names import RENEW_EVERY
from chatd.cluster.split import CHECK_SECONDS, Split
from chatd.config import Config, bus_url, reload_split, store_url
from chatd.dsn import redacted
from chatd.events import PURGE_EVERY
from chatd.hub import Hub
from chatd.loops import loop_name
from chatd.monitor import Monitor
from chatd.protocol.codes import CloseCode
from chatd.retention import PURGE_EVERY as PURGE_HISTORY_EVERY
from chatd.settings import parse_listen
from chatd.store import DatabaseRefused, DatabaseUnreachable, StoreUnavailable, open_store
from chatd.store.base import SECRET_BYTES
from chatd.store.health import database_refusal
from chatd.web import make_app
from chatd.web.httpserver import ChatHTTPServer
from chatd.web.keepalive import Keepalive

log = logging.getLogger("chatd")
DAY = 86400
BACKLOG = 1024  # connections the kernel queues while a restart hands the socket over
RATE_WINDOW = 60  # seconds over which `chatd status` reports messages per second
HTTP_READ_CHUNK = 4096
STORE_CLOSED = "closed: this process is stopping"  # `chatd status` of a server whose stop closed its store
CLOSE_SHARE = 1.0  # seconds of a stop's timeout kept for the close handshakes
ROOMS_TICK_MS = 1000  # how often unused rooms are looked for and changed online counts considered
PRUNE_HOLDS_EVERY = 60  # seconds between deletions of the written names whose hold is over (chatd.store.nameholds)
# Seconds a command's user deletion waits for its tombstones before answering without the count (they go
# on): within the command's wait (chatd.care_commands.KICK_TIMEOUT) and a worker's (chatd.child.ANSWER_TIMEOUT).
USER_DELETED_WAIT = 3.0


# What stops a start-up without being a bug in chatd (the database cannot be opened or is
# none chatd may use, its driver is missing, the bus cannot be reached, this node differs from
# its cluster): said in one line, the traceback only at debug level.
START_REFUSALS = (DatabaseUnreachable, DatabaseRefused, StoreUnavailable, BusUnavailable, ClusterMismatch)


def log_start_failure(error: Exception, stopping: bool = False) -> None:
    """Log why ``open`` failed: one line at info level when this process was told to stop
    while it started (the stop cut it short: no failure — a restart's successor stopped with
    its old process), a traceback for a bug, only at debug level for a START_REFUSALS (the
    caller says the one line, which the operator acts on)."""
    if stopping:
        log.info("start-up abandoned: told to stop while starting%s", f" ({error})" if str(error) else "")
    elif isinstance(error, START_REFUSALS):
        log.debug("start-up failed", exc_info=error)
    else:
        log.error("start-up failed", exc_info=error)


def bind(config: Config) -> list[socket.socket]:
    """The listening sockets for ``config.listen``; OSError if the port is taken."""
    host, port = parse_listen(config.listen)
    return bind_sockets(port, host, reuse_port=False, backlog=BACKLOG)


def socket_address(sock: socket.socket) -> str:
    """Where ``sock`` listens, as ``listen`` says it: ``127.0.0.1:8080``, ``[::1]:8080``."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_bus(config: Config) -> Bus:
    """The in-process bus, or Redis when ``bus`` names it (redis-py is imported only then: an extra)."""
    if not config.bus:
        return LocalBus(new_node_id())
    from chatd.bus.redis import RedisBus

    return RedisBus(bus_url(config), new_node_id())


def rss_bytes() -> int:
    """Resident memory of this process (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# The keys whose change gives an open connection another address key (chatd.abuse).
ADDRESS_KEYED = {"address.exempt", "address.ipv6_prefix"}


class Server:
    def __init__(self, config: Config, bus: Bus | None = None):
        """``bus``: the bus this node joins (tests join several in one process); by default
        the in-process bus (one node)."""
        self.config = config
        self.hub = Hub()
        self.bus = bus if bus is not None else make_bus(config)  # tests pass one (tests/busnet.py)
        # With a bus, other processes (workers, nodes) write the same database: the
        # store then gives each message its `prev`.
        shared = bool(config.bus) or not isinstance(self.bus, LocalBus)
        self.store = open_store(store_url(config), shared=shared, synchronous=config.store.synchronous,
                                batch_max=config.store.batch_max)
        self.sockets: set = set()  # open ChatConnections, closed by hand on stop
        self.handing: set = set()  # ChatConnections whose socket is on its way from Tornado to them
        self.keepalive: Keepalive | None = None
        self.chat: Chat | None = None
        self.http: ChatHTTPServer | None = None
        self.started_at = time.time()
        self.listening: list[socket.socket] = []
        # Where it serves, kept from serve() on: the listening sockets are closed by stop(), and a
        # `chatd status` may still be answered then (a stop's, a restart's last moments).
        self._address: str | None = None
        self.store_closed = False  # stop() closed the store: nothing more may be read from it
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._sampler: PeriodicCallback | None = None
        self._rooms_ticker: PeriodicCallback | None = None
        self._events_ticker: PeriodicCallback | None = None
        self._retention_ticker: PeriodicCallback | None = None  # purges old messages (chatd.retention)
        self._holds_ticker: PeriodicCallback | None = None  # forgets written names whose hold is over
        self._purging: asyncio.Task | None = None  # the purge of expired events under way
        self._cluster_tickers: list[PeriodicCallback] = []
        self.monitor: Monitor | None = None  # event-loop lag, gauges, traffic minutes (from serve on)
        self.split: Split | None = None  # nodes on this database but off this bus (a Redis bus only; from open on)

    @property
    def port(self) -> int:
        return self.listening[0].getsockname()[1]

    @property
    def address(self) -> str:
        """The address actually listened on (``listen`` with port 0 resolved), also once stopped."""
        assert self._address is not None, "serve() first"
        return self._address

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """Open the database and serve on ``sockets`` (bound from config if None)."""
        await self.open()
        self.serve(sockets if sockets is not None else bind(self.config))

    async def open(self) -> None:
        """Everything but accepting: database, writer, rooms, the application.
        If it fails or is cancelled (a stop while it starts), what it opened is
        closed again before the error rises."""
        try:
            await self._open()
        except BaseException:
            self.store.close(1)
            raise

    async def _open(self) -> None:
        try:
            self.store.open(asyncio.get_running_loop())
        except (DatabaseUnreachable, DatabaseRefused) as e:  # the same kind, said for an operator
            raise type(e)(database_refusal(self.config.database, e)) from e
        self._log_epoch()
        identity = self.config.identity
        # One made here is kept only once the bus is heard: a start refused before leaves the database as found.
        configured = configured_secret(identity.secret, identity.secret_file)
        stored = None if configured else self.store.stored_secret()
        secret = configured or stored or secrets.token_bytes(SECRET_BYTES)
        tokens = TokenSigner(secret, identity.token_ttl_days * DAY)
        self.chat = Chat(self.config, self.hub, self.store, tokens, self.bus)
        held = self.chat.identity.restore_holds()  # before anyone can ask for a name
        if held:
            log.info("%d names held for the users who had them before the start", held)
        where = redacted(self.config.database)
        await self.bus.start(self.chat.cluster, Membership(self.store.epoch.id, fingerprint(secret), where))
        if not (configured or stored) and self.store.keep_secret(secret) != secret:
            # Another process made it meanwhile, and this one told the bus its own.
            raise DatabaseRefused("another process made the token secret as this one started: start again")
        if hasattr(self.bus, "connected_since"):  # a Redis bus notes whom it hears (tests' in-process ones do not)
            self.split = Split(self.bus, self.store.traffic, redacted(bus_url(self.config)))
        # Once the bus is heard, and with no await between: a room, ban or bot another node writes
        # before these reads is in them, one written after is told by its notice. (Read before, one
        # written meanwhile was missed until the next change: a room unknown here, a banned user or
        # address let in, a bot's name free to this node's guests and its mentions uncalled.)
        self.load_rooms()
        self.chat.moderation.load()
        self.chat.bots.load()
        self.chat.cluster.start()
        self.chat.user_care.resume()  # user deletions a crash cut off (chatd.usercare)
        # chunk_size: HTTP here is small requests and the WebSocket handshake;
        # Tornado's default 64 KiB read per connection only fragments the heap.
        # No xheaders: Tornado would believe X-Real-IP from anyone; the application
        # believes it from trusted_proxies only (chatd.web.Application).
        app = make_app(self.chat, self.sockets, self.handing, self.config)
        self.http = ChatHTTPServer(app, chunk_size=HTTP_READ_CHUNK, handshakes=app.handshakes)
        ws = self.config.websocket
        self.keepalive = Keepalive(self.sockets, ws.ping_interval, ws.ping_timeout)

    def _log_epoch(self) -> None:
        restored = self.store.restored
        if restored:
            log.info("database epoch %s: restored %s from %s (backup epoch %s), replacing epoch %s",
                     self.store.epoch.id, restored["at"], restored["from"], restored["backup_epoch"],
                     restored["replaced_epoch"] or "unknown")
        else:
            log.info("database epoch %s", self.store.epoch.id)

    def serve(self, sockets: list[socket.socket]) -> None:
        """Start accepting connections on ``sockets``."""
        assert self.http is not None, "open() first"
        self.listening = sockets
        self._address = socket_address(sockets[0])
        self.http.add_sockets(sockets)
        self.keepalive.start()
        self._sample()
        self._sampler = PeriodicCallback(self._sample, 1000)
        self._sampler.start()
        self.monitor = Monitor(self.chat, lambda: len(self.sockets))
        self.monitor.start()
        self._rooms_ticker = PeriodicCallback(self.tick_rooms, ROOMS_TICK_MS)
        self._rooms_ticker.start()
        self._events_ticker = PeriodicCallback(self.purge_events, PURGE_EVERY * 1000)
        self._events_ticker.start()
        self._retention_ticker = PeriodicCallback(lambda: self.chat.retention.tick(SYSTEM), PURGE_HISTORY_EVERY * 1000)
        self._retention_ticker.start()
        self._holds_ticker = PeriodicCallback(self.chat.identity.prune_holds, PRUNE_HOLDS_EVERY * 1000)
        self._holds_ticker.start()
        if not self.chat.cluster.alone:
            self._cluster_tickers.append(PeriodicCallback(self.chat.cluster.tick,
                                                          self.config.cluster.heartbeat_interval * 1000))
        if self.split is not None:
            self._cluster_tickers.append(PeriodicCallback(self.split.check, CHECK_SECONDS * 1000))
        if self.chat.identity.claims is not None:
            self._cluster_tickers.append(PeriodicCallback(self.chat.identity.renew_names, RENEW_EVERY * 1000))
        for ticker in self._cluster_tickers:
            ticker.start()
        log.info("chatd %s serving on %s, database %s", __version__, self.address, redacted(self.config.database))

    async def handed_over(self) -> None:
        """A restart's old process served until now (``chatd.service``): read again the rooms it
        made or removed since this one read them. (A worker set's workers are nodes of a bus,
        told by its notices.)"""
        try:
            await self.chat.rooms.resync(self.chat.clock())
        except DatabaseUnreachable as e:  # those read at the start serve; the store logs the outage
            log.warning("reading the rooms again after the hand-over failed: %s", e)

    def load_rooms(self) -> None:
        """Create the configured default rooms and put every stored room in the
        hub, members-only rooms with their members; each unused one counts as
        unused from now (``chatd.rooms``)."""
        for name, existing in self.store.ensure_rooms(self.config.rooms.default):
            log.warning("rooms.default: room %r not created: it looks like the room %r", name, existing)
        uses = self.store.room_uses()
        with self.store.db.connection_context():
            memberships = self.store.members.memberships()
            self.chat.reserved.replace(self.store.reserved.rows())
        now = self.chat.clock()
        for room_id, name, topic in self.store.rooms():
            use = uses.get(room_id)
            # None: made since ``uses`` was read, by another node or a restart's old process; its
            # notice brings it, or the reread after the hand-over (chatd.service).
            if use is not None and self.hub.room(name) is None:  # a reload adds the new default rooms only
                room = self.hub.add_room(room_id, name, topic, use.creator_id, use.messaged, use.members_only)
                room.allowed = memberships.get(room_id, set())
                room.archived, room.announcement = use.archived, use.announcement
                self.chat.rooms.track(room, now)

    async def user_deleted(self, user_id: int) -> int | None:
        """A command erased the user in the database (``chatd user delete``): its sessions end
        and its messages become tombstones, every open page told, on every node
        (``UserCare.erased``); → how many messages, or None when that takes longer than
        ``USER_DELETED_WAIT`` (it goes on in the background). RuntimeError before ``open``:
        the command then makes the tombstones itself."""
        if self.chat is None:
            raise RuntimeError("the server is not open yet")
        task = self.chat.user_care.erased(user_id)
        done, _ = await asyncio.wait({task}, timeout=USER_DELETED_WAIT)
        return task.result() if done else None

    def tick_rooms(self) -> None:
        """Remove unused rooms that are due; push changed online counts (``chatd.rooms``)."""
        self.chat.rooms.tick(self.chat.clock())

    def purge_events(self) -> None:
        """Delete expired notifications, in the writer thread (one purge at a time)."""
        if self._purging is None or self._purging.done():
            self._purging = asyncio.ensure_future(self.chat.events.purge())

    def reload(self, new: Config) -> tuple[list[str], list[str]]:
        """Apply the live keys of ``new``; returns (keys applied, keys changed
        that only a restart applies). The latter keep their old values, so
        ``self.config`` always says what is in effect."""
        effective, live, later = reload_split(self.config, new)
        self.config = effective
        if self.chat is not None:
            self.chat.config = effective  # connections read limits through chat.config per frame
            self.chat.tokens.ttl_seconds = effective.identity.token_ttl_days * DAY
            try:  # every reload: the key files are read again, changed or not (a new key, same path)
                self.chat.app_tokens = load_app_tokens(effective.app_tokens)
            except ValueError as e:  # changed since the config was checked: the keys in use stay
                log.error("reload: app tokens keep their previous keys: %s", e)
        if "rooms.default" in live:
            self.load_rooms()
        if self.chat is not None and ADDRESS_KEYED & set(live):
            self._rekey_connections()
        return live, later

    def _rekey_connections(self) -> None:
        """Each open connection limited under its address's key as the config says now:
        taken at the handshake, it would keep an exemption removed (or miss one added)."""
        addresses = self.chat.admission.addresses
        for conn in self.sockets:
            key = addresses.key(conn.remote_ip)
            if key != conn.address:
                addresses.move(conn.address, key)
                conn.address = key

    # Figures

    def _sample(self) -> None:
        now = time.monotonic()
        self._samples.append((now, self.chat.stored if self.chat else 0))
        while self._samples and self._samples[0][0] < now - RATE_WINDOW - 1:
            self._samples.popleft()

    def message_rate(self) -> float:
        """Messages stored per second over the last minute (or since start)."""
        if not self._samples or self.chat is None:
            return 0.0
        now = time.monotonic()
        start_t, start_n = next(((t, n) for t, n in self._samples if t >= now - RATE_WINDOW), self._samples[-1])
        elapsed = max(now - start_t, 1.0)
        return (self.chat.stored - start_n) / elapsed

    async def stats(self) -> dict[str, Any]:
        """The figures of `chatd status`, at any moment (also while stopping, or
        stopped). With the database unreachable or closed, those it would give
        are None and ``database_unreachable`` says why (else None)."""
        db, unreachable = await self._database_figures()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "event_loop": loop_name(),
            "started_at": self.started_at,
            "uptime_seconds": time.time() - self.started_at,
            "listen": self._address or self.config.listen,
            "connections": len(self.sockets),
            "users_online": len(self.hub.users),  # on this node (this process)
            # on every node of the cluster, as this node knows it (chatd_users_online); None: one process
            "users_online_cluster": self.chat.cluster.online_count() if self.chat and not self.chat.cluster.alone
            else None,
            "rooms": len(self.hub.rooms),
            "messages_stored": db["messages"],
            "messages_since_start": self.chat.stored if self.chat else 0,
            "messages_per_second": round(self.message_rate(), 3),
            "rss_bytes": rss_bytes(),
            "database": redacted(self.config.database),
            "database_bytes": db["database_bytes"],
            "database_unreachable": unreachable,
            "epoch": self.store.epoch.id,
            "restored": self.store.restored,
            "bus": self.bus_state(),
            "webhooks": self.chat.webhooks.stats() if self.chat else None,
        }

    def bus_state(self) -> dict[str, Any] | None:
        """The bus for `chatd status`: None in one process (in-process bus), else ``{"url": where
        (no password), "connected": whether items reach the other nodes now — /readyz's test,
        "cause": why not, as the last attempt to connect failed (None when connected)}``."""
        if not self.config.bus:
            return None
        return {"url": redacted(bus_url(self.config)), "connected": self.bus.connected, "cause": self.bus.cause}

    async def _database_figures(self) -> tuple[dict[str, Any], str | None]:
        """(the store's stats, None), or (None figures, why there are none)."""
        none = {"messages": None, "database_bytes": None}
        if self.store_closed:
            return none, STORE_CLOSED
        try:
            return await self.store.stats(), None
        except DatabaseUnreachable as e:
            return none, str(e)
        except RuntimeError:  # its readers shut down by stop() while it was asked (Store.read)
            if not self.store_closed:
                raise
            return none, STORE_CLOSED

    def connections(self) -> list[dict[str, Any]]:
        rows = []
        for sock in sorted(self.sockets, key=lambda s: s.connected_at):
            session = sock.session
            user = session.user
            rows.append({
                "id": session.id,
                "user": user.ref() if user else None,
                "remote_address": sock.remote_ip,
                "rooms": sorted(room.name for room in session.rooms.values()),
                "connected_at": sock.connected_at,
                "frames_in": sock.frames_in,
                "frames_out": sock.frames_out,
                "bytes_in": sock.bytes_in,
                "bytes_out": sock.bytes_out,
                "queued_bytes": sock.queued_bytes(),
            })
        return rows

    async def backup(self, path: str) -> int:
        """Copy the live database to ``path`` (atomically replacing it: ``Store.backup``); → bytes.
        DatabaseRefused if the copy is damaged (``path`` left as it was)."""
        with replaced(path) as partial:
            await self.store.backup(partial)
        return os.path.getsize(path)

    # Stopping

    def stop_accepting(self) -> None:
        if self.http:
            self.http.stop()  # closes only our descriptor: a successor keeps the socket
        if self._sampler:
            self._sampler.stop()
        if self.monitor:
            self.monitor.stop()
        if self._rooms_ticker:
            self._rooms_ticker.stop()
        if self._events_ticker:
            self._events_ticker.stop()
        if self._retention_ticker:
            self._retention_ticker.stop()
        if self._holds_ticker:
            self._holds_ticker.stop()
        for ticker in self._cluster_tickers:
            ticker.stop()
        if self.keepalive:
            self.keepalive.stop()

    async def stop(self, close_code: int = CloseCode.GOING_AWAY, timeout: float = 10.0, *, graceful: bool = False,
                   answer_accepted: bool = False, on_drained: Callable[[], None] | None = None) -> None:
        """Stop accepting, close every WebSocket with ``close_code``, commit what
        is queued, close the database. Returns within about ``timeout`` seconds.

        ``graceful``: first wait (most of ``timeout``) for clients to leave.
        ``answer_accepted``: also answer every client this process accepted and
        still owes an answer (``ChatHTTPServer.owing``: its request is on the
        way or under way), a WebSocket then being closed with ``close_code``
        like the others. A restart needs it: the successor takes over only the
        connections still queued in the kernel, so dropping these refuses them.
        ``on_drained`` runs once the writer has committed its last job and its
        thread has ended: from then on nothing more is written by this process.
        If that takes longer than ``timeout``, it never runs.
        """
        deadline = time.monotonic() + timeout
        self.stop_accepting()
        if graceful:
            log.info("waiting for %d connections to leave", len(self.sockets))
            while self.sockets and time.monotonic() < deadline - CLOSE_SHARE:
                await asyncio.sleep(0.1)  # polling a set is simplest; nothing to hurry for
        reason = "server restarting" if close_code == CloseCode.SERVICE_RESTART else "server stopping"
        closing: set = set()

        def close_new() -> None:
            # Also those whose handshake was under way when accepting stopped.
            for sock in list(self.sockets - closing):
                closing.add(sock)
                sock.close(close_code, reason)

        def waiting() -> bool:
            owed = answer_accepted and self.http is not None and self.http.owing()
            return bool(self.sockets or self.handing or owed)

        close_new()
        writer = self.store.writer
        if writer is not None and not writer.close(max(0.1, deadline - time.monotonic())):
            log.error("the writer did not finish its last commits within the stop timeout (%g s)", timeout)
        elif on_drained:
            on_drained()
        while waiting() and time.monotonic() < deadline - CLOSE_SHARE / 2:
            await asyncio.sleep(0.05)  # polling is simplest; each empties within a round trip
            close_new()
        for sock in list(self.sockets):
            sock.abort()  # clients that never answered the close
        if self.http:
            try:
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    await self.http.close_all_connections()
            except TimeoutError:
                log.warning("some HTTP connections did not close in time")
        await self._close_bus(deadline)
        self.store_closed = True
        self.store.close(max(0.1, deadline - time.monotonic()))
        log.info("chatd stopped")

    async def _close_bus(self, deadline: float) -> None:
        """Publish the last commits (their callbacks ran on the loop once the
        writer had drained: the waits above let them), tell the other nodes this
        one is gone (its users leave at once), then leave the bus."""
        await asyncio.sleep(0)  # the writer's last "stored" callbacks, if nothing above waited
        if self.chat is not None:
            self.chat.app_webhooks.close()
            await self.chat.webhooks.close()  # calls still queued are given up (docs/operations.md, "Webhooks")
            self.chat.cluster.stop()
            await self.chat.feed.close()
            if self.chat.shared is not None:
                await self.chat.shared.close()
        await self.bus.close(max(0.1, deadline - time.monotonic()))
