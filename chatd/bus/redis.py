"""The bus of a cluster: Redis pub/sub (redis-py's asyncio connections).

**Why pub/sub, not streams.** The store is the truth: every item a node
misses is found again there (``prev`` shows a gap at the next message of
its channel; ``lost`` makes a node fill every channel it serves). So the
bus need keep nothing. Pub/sub keeps nothing: Redis writes each item to the
connection of every node and forgets it; no memory grows, no trimming, no
per-node read position, and a restarted Redis has nothing to recover —
every node reconnects and fills from the store once. A stream (XADD, each
node XREAD BLOCK from its last id) would keep items for a node that comes
back after a short cut, but costs memory and trimming in Redis, a read
position per node, a polling read per node per batch at fan-out, and after
a Redis restart (streams are not kept unless Redis persists them, and then
not the last second) the nodes must fill from the store anyway: the same
path, plus a cost paid on every message.

**One channel**, ``chatd:<db>`` (pub/sub ignores the database number of
the URL, so it goes into the name: clusters sharing a Redis use different
numbers): every node gets every item and drops what none of its sessions
needs, and its own items, which it delivered locally on publish.

**Publishing** never waits: ``publish`` delivers locally, then queues the
item; one task sends the queue in order on one connection, many items per
round trip (a pipeline), so one node's items reach the others in publish
order. A run of Deliveries goes as one batch (``chatd.bus.codec``) of up to
PAYLOAD_BYTES: one PUBLISH, and one push for each node to read. While Redis
is away up to OUTBOX_MAX items wait and go out on reconnection; past that
they are dropped, and once back this node tells every node to fill from
the store (a ``bus.lost`` notice).

**What must match** (chatd.cluster.membership): ``start`` checks the cluster's record under
``chatd:<db>:cluster`` (ClusterMismatch: the node must not start), and every PROBE_SECONDS the
node checks and renews it. Each item's origin names the node's database epoch after its id
(``<node>.<epoch>``); what comes from a node of another epoch is not applied (logged once per epoch).

**Timing**: every PROBE_SECONDS a node publishes a ``bus.probe`` notice
holding its monotonic clock; when Redis hands it back, the time it took
(queue, round trip, Redis) is ``chatd_bus_latency_seconds``. The same clock
on both ends: no dependence on the nodes' clocks agreeing. Other nodes drop
probes (older ones ignore notices they do not know).

**Receiving**: one subscribed connection, pinged when quiet. A lost
connection is re-made with a bounded, jittered backoff; once subscribed
again the receiver hears ``lost()``. Each outage is logged once when it
starts and once when it ends.

    bus = RedisBus("redis://10.0.0.5:6379/0", new_node_id())
    await bus.start(receiver)     # BusUnavailable if Redis cannot be reached
    bus.publish(item)
    await bus.close()             # sends what is queued, for at most CLOSE_FLUSH seconds
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import random
import time
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError

from chatd import metrics
from chatd.bus import BusUnavailable, Delivery, Notice, Receiver
from chatd.bus.codec import BATCH, NOTICE, BadItem, decode, decode_batch, encode, encode_batch, kind, origin
from chatd.cluster.membership import RECORD_TTL, ClusterMismatch, Membership, mismatch
from chatd.dsn import BUS_PASSWORD_ENV, password_advice, redacted

log = logging.getLogger("chatd.bus")

LOST = "bus.lost"  # a notice this module sends and reads itself: "fill from the store"
PROBE = "bus.probe"  # a notice a node sends itself through Redis, timing the bus (chatd.metrics); others drop it
PROBE_SECONDS = 5.0  # between probes
RECORD_LOOK = 0.25  # seconds between two looks at a differing record's time to live, at a start
OUTBOX_MAX = 10_000  # items kept while Redis is away (~2 MB of typical messages)
BATCH_MAX = OUTBOX_MAX  # items per round trip to Redis: all that wait (as batches of PAYLOAD_BYTES)
# Bytes of frames in one batch of Deliveries: well below what Redis lets wait for a subscriber
# (client-output-buffer-limit pubsub: 32 MB at once, 8 MB for a minute) before it drops it.
PAYLOAD_BYTES = 256 * 1024
CONNECT_SECONDS = 2.0  # for a connection to be made (TCP and AUTH/SELECT)
REPLY_SECONDS = 5.0  # for Redis to answer a command
QUIET_SECONDS = 5.0  # without anything from Redis before the subscriber pings it
RECONNECT_FIRST = 0.1  # seconds before the first try to reconnect, doubled on each failure ...
RECONNECT_MAX = 2.0  # ... up to this; each wait is jittered (x0.5-1) so nodes do not come back in step
CLOSE_FLUSH = 2.0  # seconds close() waits for the queue to be sent
# What Redis says when it wants a password it was not given, or refuses the one given (redis-py raises
# AuthenticationError for some, a plain ResponseError for others: HELLO's NOAUTH).
PASSWORD_REFUSED = ("WRONGPASS", "NOAUTH", "invalid username-password pair", "Authentication required",
                    "must be called with the client already authenticated", "without any password configured")
RECORD_SUFFIX = ":cluster"  # the key of what must match (chatd.cluster.membership): the channel's name and this
EPOCH_MARK = b"."  # in an origin, between the node id and its database's epoch


def _ended(task: asyncio.Task) -> None:
    """A bus task's end: only a bug ends one before close(), and the bus is then half dead: say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("bus: the task %s failed; restart this node", task.get_name(), exc_info=task.exception())


def refused_password(error: BaseException) -> bool:
    """Whether ``error`` is Redis refusing this node's password (or its lack of one)."""
    return isinstance(error, AuthenticationError) or any(sign in str(error) for sign in PASSWORD_REFUSED)


class RedisBus:
    def __init__(self, url: str, node: str):
        self.node = node
        self._origin = node.encode("ascii")
        self._where = redacted(url)
        # No retries inside redis-py: this module sees each failure and recovers itself.
        self._pool = ConnectionPool.from_url(url, retry=Retry(NoBackoff(), 0), socket_keepalive=True,
                                             socket_connect_timeout=CONNECT_SECONDS)
        self.channel = f"chatd:{self._pool.connection_kwargs.get('db', 0)}"
        self._receiver: Receiver | None = None
        self.cause: str | None = None  # why a connection is down, as its last attempt failed (chatd status)
        self._outbox: collections.deque[Delivery | Notice] = collections.deque()
        self._dropped = 0  # items dropped from a full outbox, not yet told to the other nodes
        self._queued = asyncio.Event()  # the outbox has items
        self._empty = asyncio.Event()  # the outbox is empty (what close() waits for)
        self._empty.set()
        self._tasks: list[asyncio.Task] = []
        self._connections: dict[str, AbstractConnection] = {}  # role → its connection now
        self._bad_items = 0  # items received that this node cannot read
        self._down: set[str] = set()  # the roles whose connection is being re-made
        self._refused = False  # Redis refused this node's password since a connection was lost (logged once)
        self._membership: Membership | None = None  # what this node must share with the cluster (None: unchecked)
        self._epoch = b""  # this node's database epoch: items of another are not applied
        self._foreign: set[bytes] = set()  # the other epochs heard on the bus (each logged once)
        self._differences: list[str] = []  # how the cluster's record differs from this node now (logged on change)
        # Wall-clock seconds since when both connections have been up without a break (None: not now):
        # what this node heard since then is all the others published (chatd.cluster.split).
        self.connected_since: float | None = None
        # The nodes heard on the bus (their notices: every node publishes a sync at its start and a probe
        # every PROBE_SECONDS), by node id; a few bytes per node that ever ran while this one did.
        self.heard: set[str] = set()

    @property
    def connected(self) -> bool:
        """Whether both connections to Redis are up (started, not reconnecting, not closed)."""
        return self._receiver is not None and not self._down

    # Bus

    async def start(self, receiver: Receiver, membership: Membership | None = None) -> None:
        """Connect, subscribe, and start delivering to ``receiver``. With ``membership``, first
        check it against the cluster's record (chatd.cluster.membership): ClusterMismatch if it
        differs; and from then on items of nodes on another database epoch are not applied."""
        if membership is not None:
            self._membership = membership
            self._epoch = membership.epoch.encode("ascii")
            self._origin = self.node.encode("ascii") + EPOCH_MARK + self._epoch
        try:
            subscriber = await self._connect("sub")
            await self._subscribe(subscriber)
            publisher = await self._connect("pub")
            differences = await self._check(publisher)
            if differences:
                differences = await self._outwait(publisher, differences)
        except (RedisError, OSError) as e:
            await self._disconnect()
            advice = password_advice("bus_password_file", BUS_PASSWORD_ENV) if refused_password(e) else ""
            raise BusUnavailable(f"cannot reach the bus at {self._where}: {e}{advice}") from None
        if differences:
            await self._disconnect()
            raise ClusterMismatch(mismatch(self._where, differences))
        self._receiver = receiver
        self.connected_since = time.time()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read(subscriber), name="chatd-bus-read"),
                       loop.create_task(self._write(publisher), name="chatd-bus-write"),
                       loop.create_task(self._probe(), name="chatd-bus-probe")]
        for task in self._tasks:
            task.add_done_callback(_ended)
        log.info("bus: Redis pub/sub channel %s at %s, node %s", self.channel, self._where, self.node)

    def publish(self, item: Delivery | Notice) -> None:
        """Deliver ``item`` here at once, and queue it for the other nodes."""
        receiver = self._receiver
        if receiver is None:
            return  # not started, or closed
        if type(item) is Delivery:
            receiver.delivery(item)
        else:
            item = item._replace(origin=self.node)
            receiver.notice(item)
        if len(self._outbox) >= OUTBOX_MAX:
            if not self._dropped:
                log.error("bus: %d items wait for Redis; dropping more until it is back (every node then reads "
                          "what it missed from the store)", OUTBOX_MAX)
            self._dropped += 1
            return
        self._outbox.append(item)
        self._empty.clear()
        self._queued.set()

    async def close(self, flush: float = CLOSE_FLUSH) -> None:
        """Send what is queued (for at most ``flush`` seconds, CLOSE_FLUSH at most), then
        disconnect. The connections are closed however the wait ends, also when the caller
        cancels it (a stop out of time): the process may go on without this node."""
        try:
            async with asyncio.timeout(min(flush, CLOSE_FLUSH)):
                await self._empty.wait()
        except TimeoutError:
            log.warning("bus: %d items not sent to Redis at close; the other nodes read them from the store at "
                        "the next message of their channel", len(self._outbox))
        finally:
            self._receiver = None
            for task in self._tasks:
                task.cancel()
            if self._tasks:  # bounded: a task that outlived its cancel must not hold the stop
                await asyncio.wait(self._tasks, timeout=CLOSE_FLUSH)
            await self._disconnect()

    # Connections

    async def _connect(self, role: str) -> AbstractConnection:
        kwargs = {**self._pool.connection_kwargs, "client_name": f"chatd-{self.node}-{role}"}
        connection = self._connections[role] = self._pool.connection_class(**kwargs)
        await connection.connect()
        return connection

    async def _disconnect(self) -> None:
        # Taken first: a connection made or dropped while one of these awaits changes the dict.
        connections, self._connections = list(self._connections.values()), {}
        await asyncio.gather(*(connection.disconnect() for connection in connections), return_exceptions=True)

    async def _subscribe(self, connection: AbstractConnection) -> None:
        await connection.send_command("SUBSCRIBE", self.channel)
        reply = await connection.read_response(timeout=REPLY_SECONDS, push_request=True)
        if not reply or reply[0] != b"subscribe":
            raise RedisError(f"SUBSCRIBE {self.channel} was answered with {reply!r}")

    async def _reconnect(self, role: str, error: BaseException, subscribe: bool = False) -> AbstractConnection:
        """A connection again after ``error``, however long it takes (logged once each way)."""
        lost_at = time.monotonic()
        self._down.add(role)
        self.connected_since = None
        self.cause = (str(error) if error else "") or "no answer from Redis"
        log.warning("bus: lost the %s connection to %s (%s); reconnecting", role, self._where, error or "timeout")
        wait = RECONNECT_FIRST
        while True:
            await asyncio.sleep(wait * random.uniform(0.5, 1.0))
            wait = min(wait * 2, RECONNECT_MAX)
            try:
                connection = await self._connect(role[:3])
                if subscribe:
                    await self._subscribe(connection)
            except (RedisError, OSError) as e:
                self.cause = str(e) or type(e).__name__
                if not self._refused and refused_password(e):  # its password changed under it: no retry will do
                    self._refused = True
                    log.error("bus: Redis at %s refuses this node's password (%s)%s; the node keeps trying, "
                              "with the password it started with: restart it once the password is right",
                              self._where, e, password_advice("bus_password_file", BUS_PASSWORD_ENV))
                continue
            log.info("bus: %s connection to %s back after %.1f s", role, self._where, time.monotonic() - lost_at)
            self._refused = False
            self._down.discard(role)
            if not self._down:
                self.connected_since = time.time()
                self.cause = None
            return connection

    # Sending

    async def _write(self, connection: AbstractConnection) -> None:
        """Send the outbox in order, a batch per round trip; a batch whose
        answer did not come is sent again (the receivers drop what they have)."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._outbox or self._dropped:
                batch = list(itertools.islice(self._outbox, BATCH_MAX))
                payloads = self._payloads(batch)
                told = self._dropped if len(batch) == len(self._outbox) else 0
                if told:  # after what was kept: every node reads what the dropped items held from the store
                    payloads.append(encode(Notice(LOST, {"dropped": told}), self._origin))
                try:
                    await self._send(connection, payloads)
                except (RedisError, OSError) as e:
                    await connection.disconnect()
                    connection = await self._reconnect("publishing", e)
                    continue
                for _ in batch:
                    self._outbox.popleft()
                if told:
                    log.warning("bus: told every node to read %d dropped items from the store", told)
                    self._dropped -= told
            self._empty.set()

    def _payloads(self, items: list[Delivery | Notice]) -> list[bytes]:
        """``items`` as payloads, in order: each run of Deliveries as batches of up to
        PAYLOAD_BYTES of frames (a lone one as itself), each Notice on its own. An item
        that cannot be encoded (a bug: a notice body JSON cannot hold) is logged and left out."""
        payloads: list[bytes] = []
        run: list[Delivery] = []
        size = 0

        def close_run() -> None:
            if run:
                payloads.append(encode(run[0], self._origin) if len(run) == 1 else encode_batch(run, self._origin))
                run.clear()

        for item in items:
            if type(item) is not Delivery:
                close_run()
                try:
                    payloads.append(encode(item, self._origin))
                except (TypeError, ValueError):
                    log.exception("bus: a %s notice cannot be encoded; not sent", item.kind)
                continue
            if size + len(item.data) > PAYLOAD_BYTES:
                close_run()
            if not run:
                size = 0
            run.append(item)
            size += len(item.data)
        close_run()
        return payloads

    async def _send(self, connection: AbstractConnection, payloads: list[bytes]) -> None:
        commands = [("PUBLISH", self.channel, payload) for payload in payloads]
        await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        for _ in commands:
            if await connection.read_response(timeout=REPLY_SECONDS) is None:
                raise TimeoutError(f"no answer from Redis within {REPLY_SECONDS:g} s")

    # Receiving

    async def _read(self, connection: AbstractConnection) -> None:
        """Hand every item of the other nodes to the receiver; ping when quiet;
        after a reconnection, tell the receiver items may have been lost."""
        pinged = False
        while True:
            try:
                # RESP3 (redis-py's default): what a subscription brings are pushes, asked for as such
                reply = await connection.read_response(timeout=QUIET_SECONDS, push_request=True)
                if reply is None:
                    if pinged:
                        raise TimeoutError(f"no answer to a ping within {QUIET_SECONDS:g} s")
                    await connection.send_command("PING")
                    pinged = True
                    continue
            except (RedisError, OSError) as e:
                await connection.disconnect()
                connection = await self._reconnect("subscribed", e, subscribe=True)
                pinged = False
                self._tell("lost")
                continue
            pinged = False
            if isinstance(reply, list) and reply[0] == b"message":
                self._receive(reply[2])

    async def _probe(self) -> None:
        """Every PROBE_SECONDS: a probe, and the cluster's record checked and renewed."""
        recorder: AbstractConnection | None = None
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            self.publish(Notice(PROBE, {"t": time.monotonic()}))
            if self._membership is None:
                continue
            try:
                recorder = recorder or await self._connect("record")
                self._compared(await self._check(recorder))
            except (RedisError, OSError) as e:  # an outage is logged by the bus's own connections
                log.debug("bus: checking the cluster's record failed: %s", e)
                if recorder is not None:
                    await recorder.disconnect()
                recorder = None

    async def _check(self, connection: AbstractConnection) -> list[str]:
        """Set the cluster's record if there is none; read it; renew it if it matches this node's
        → how it differs from this node ([] if it does not, or without a membership to check)."""
        if self._membership is None:
            return []
        key = self.channel + RECORD_SUFFIX
        mine = self._membership.record()
        commands = [("SET", key, mine, "NX", "EX", RECORD_TTL), ("GET", key)]
        await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        await self._answer(connection)
        differences = self._membership.differences(await self._answer(connection))
        if not differences:
            await connection.send_command("EXPIRE", key, RECORD_TTL)
            await self._answer(connection)
        return differences

    async def _outwait(self, connection: AbstractConnection, differences: list[str]) -> list[str]:
        """The cluster's record differs from this node at its start: a node that still runs with it
        renews it within PROBE_SECONDS, while a cluster stopped less than RECORD_TTL ago (to be
        started on a restored database, or with a new secret) left it to run out. → the
        differences as soon as a renewal shows a node runs with them; [] once the record ran out
        (this node's own then set), whichever comes first; at most RECORD_TTL seconds."""
        key = self.channel + RECORD_SUFFIX
        log.warning("bus: the cluster's record on %s differs from this node; waiting up to %d s for it to run out "
                    "(a cluster stopped just now) or be renewed (a node still runs with it)", self._where, RECORD_TTL)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + RECORD_TTL + PROBE_SECONDS
        await connection.send_command("PTTL", key)
        left = await self._answer(connection)
        while left >= 0 and loop.time() < give_up:
            await asyncio.sleep(RECORD_LOOK)  # what Redis holds: no event announces an expiry to a client
            await connection.send_command("PTTL", key)
            now = await self._answer(connection)
            if now > left:  # renewed: a node runs with it
                return differences
            left = now
        return await self._check(connection)

    @staticmethod
    async def _answer(connection: AbstractConnection) -> Any:
        """The next reply on ``connection`` (None is a reply here: a nil). Not read_response's own
        timeout: it answers None then too, and leaves the late reply to be read as the next one's."""
        try:
            # Not wait_for: on Python 3.11 it returns the result and drops a cancel that lands as the
            # reply comes (gh-86296), and the probe, cancelled by close(), then went on for ever.
            async with asyncio.timeout(REPLY_SECONDS):
                return await connection.read_response()
        except TimeoutError:
            await connection.disconnect()
            raise TimeoutError(f"no answer from Redis within {REPLY_SECONDS:g} s") from None

    def _compared(self, differences: list[str]) -> None:
        """Say when the cluster's record starts or stops differing from this node (a node of
        another database or secret started while the record was gone: Redis restarted empty)."""
        if differences != self._differences:
            if differences:
                log.error("bus: %s; this node goes on, and applies nothing from nodes of another database",
                          mismatch(self._where, differences))
            else:
                log.warning("bus: the cluster's record on %s matches this node again", self._where)
        self._differences = differences

    def _receive(self, payload: bytes) -> None:
        sender = origin(payload)
        if sender == self._origin:  # delivered here when it was published; a probe is timed
            if kind(payload) == NOTICE:  # notices are few: decoding each of ours costs nothing to speak of
                self._timed(payload)
            return
        if self._epoch and EPOCH_MARK in sender and not self._same_epoch(sender):
            return
        try:
            items = decode_batch(payload) if kind(payload) == BATCH else [decode(payload)]
        except BadItem as e:
            self._bad_items += 1
            if self._bad_items == 1:  # a node of another version, or not chatd: say it once
                log.error("bus: an item on %s this node cannot read (%s); are nodes of different chatd versions "
                          "on one bus?", self.channel, e)
            return
        for item in items:
            self._heard(item)

    def _same_epoch(self, sender: bytes) -> bool:
        """Whether ``sender`` (an origin: node id, EPOCH_MARK, epoch) is on this node's database
        epoch; an item of another would mean other users and messages by the same ids here."""
        node, _, epoch = sender.partition(EPOCH_MARK)
        if epoch == self._epoch:
            return True
        if epoch not in self._foreign:
            self._foreign.add(epoch)
            log.error("bus: node %s on %s is on another database (epoch %s; this node's is %s): nothing it "
                      "publishes is applied here; every node of a cluster needs the same database "
                      "(docs/operations.md, \"What must match\")", node.decode("ascii", "replace"), self.channel,
                      epoch.decode("ascii", "replace"), self._epoch.decode("ascii"))
        return False

    def _heard(self, item: Delivery | Notice) -> None:
        if type(item) is Delivery:
            self._tell("delivery", item)
            return
        node = item.origin.partition(EPOCH_MARK.decode())[0]
        self.heard.add(node)
        if item.kind == LOST:
            self._tell("lost")
        elif item.kind != PROBE:  # named by its node id alone, as the cluster names nodes
            self._tell("notice", item._replace(origin=node))

    def _timed(self, payload: bytes) -> None:
        """One of this node's notices is back from Redis: a probe says how long it took."""
        try:
            item = decode(payload)
            if item.kind == PROBE:
                metrics.bus_latency(time.monotonic() - float(item.body["t"]))
        except (BadItem, KeyError, TypeError, ValueError):
            pass  # ours, so readable; were it not, nothing of it is needed

    def _tell(self, method: str, *args: Any) -> None:
        """Call the receiver's ``method`` (a Receiver method's name): a failure there must not stop the bus."""
        receiver = self._receiver
        if receiver is None:
            return
        try:
            getattr(receiver, method)(*args)
        except Exception:
            log.exception("bus: the receiver failed on %s", method)
