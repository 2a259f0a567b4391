"""Who may connect and send: the limits per address and per user.

Per address (``chatd.abuse``): open connections (WebSockets, and the others
apart), new connections, messages, new guests and new rooms. Per user:
messages, all its connections together (``limits.user_rate_*``). On one
node they are counted in this process. On a cluster (a Redis bus) the rates
are buckets on Redis shared by every node (``chatd.cluster.limits``), and
the open connections are still counted by each node; while Redis is out,
this process counts alone. The per-connection bucket is the connection's
own (``chatd.web.connection``).

    admission = Admission(lambda: config, clock, buckets)   # buckets: SharedBuckets, or None (one node)
    refusal = await admission.connect(address)              # None (counted until disconnect), or a Refusal
    refusal = await admission.address_admit(Kind.GUEST, address)
    why = admission.message_take(session, address, now)     # one node: None, or (why not, seconds to wait, which limit)
    why = await admission.message_admit(session, address)   # a cluster: the same on Redis
    admission.disconnect(address); admission.forget(user_id)
    refusal = admission.arrive(address)                     # accepted, not yet a WebSocket; depart(address)

docs/protocol.md, "Rate limits"; docs/operations.md, "Limits per address".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chatd import metrics
from chatd.abuse import AddressLimits, Kind, Refusal
from chatd.cluster.limits import SharedBuckets
from chatd.protocol.codes import LIMIT_USER
from chatd.ratelimit import TokenBucket
from chatd.session import Session

log = logging.getLogger("chatd.chat")  # the name these lines always had: log filters keep working
USER_FLOOD = "too many messages from this user, all its connections together; slow down"


class Admission:
    def __init__(self, config: Callable[[], Any], clock: Callable[[], float], buckets: SharedBuckets | None):
        """``config``: the config in effect (it changes on reload); ``clock``: seconds;
        ``buckets``: the cluster's buckets on Redis, None on one node."""
        self._config = config
        self._clock = clock
        self.addresses = AddressLimits(lambda: config().address)
        self.buckets = buckets
        self._user_buckets: dict[int, TokenBucket] = {}

    async def connect(self, address: str | None) -> Refusal | None:
        """A new connection from ``address`` (a key of ``chatd.abuse``): None
        when let in (it counts until ``disconnect``), else why not. On a
        cluster the rate of new connections is counted on Redis, the open
        connections by each node."""
        if self.buckets is None:
            return self._logged(self.addresses.connect(address, self._clock()), address)
        refusal = self._logged(self.addresses.connect(address, self._clock(), rate=False), address)
        if refusal is None:
            refusal = await self.address_admit(Kind.CONNECT, address)
            if refusal is not None:
                self.addresses.disconnect(address)
        return refusal

    def disconnect(self, address: str | None) -> None:
        """A connection ``connect`` let in has closed."""
        self.addresses.disconnect(address)

    def arrive(self, address: str | None) -> Refusal | None:
        """A connection from ``address`` accepted, not yet a WebSocket (``chatd.web.pending``):
        None when let in (it counts until ``depart``), else why not. Counted by each node."""
        return self._logged(self.addresses.arrive(address, self._clock()), address)

    def depart(self, address: str | None) -> None:
        """A connection ``arrive`` let in has closed or become a WebSocket."""
        self.addresses.depart(address)

    def forget(self, user_id: int) -> None:
        """The user's last connection here has closed: its bucket goes."""
        self._user_buckets.pop(user_id, None)

    def address_take(self, kind: Kind, address: str | None) -> Refusal | None:
        """Count one ``kind`` for ``address`` in this process: None when allowed, else why not."""
        return self._logged(self.addresses.take(kind, address, self._clock()), address)

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
        return self._logged(self.addresses.refusal(kind, address, wait, self._clock()), address) if wait else None

    def message_take(self, session: Session, address: str | None, now: float) -> tuple[str, float, str] | None:
        """Charge one message to the user's bucket (once identified), then the
        address's, in this process: None when both had a token, else (why not,
        seconds until one is back, which limit). docs/protocol.md, "Rate limits"."""
        user = session.user
        if user is not None:
            bucket = self.user_bucket(user.id)
            if not bucket.take(now):
                metrics.rate_limited("user")
                return USER_FLOOD, bucket.wait(now), LIMIT_USER
        if address is None:  # exempt (address.exempt): no bucket to take from, as address_take would find
            return None
        refusal = self._logged(self.addresses.take(Kind.MESSAGE, address, now), address)  # at the same ``now``
        return (refusal.message, refusal.retry_after, refusal.limit) if refusal is not None else None

    async def message_admit(self, session: Session, address: str | None) -> tuple[str, float, str] | None:
        """``message_take`` on a cluster: the user's and the address's buckets
        on Redis, taken together or not at all; in this process while Redis is out."""
        limits, buckets = self._config().limits, []
        if session.user is not None:
            buckets.append((f"user:{session.user.id}", limits.user_rate_per_second, limits.user_rate_burst))
        if address is not None:
            buckets.append((f"{Kind.MESSAGE}:{address}", *self.addresses.rule(Kind.MESSAGE)))
        answer = await self.buckets.take(buckets) if buckets else (0.0, -1)
        if answer is None:
            return self.message_take(session, address, self._clock())
        wait, which = answer
        if not wait:
            return None
        if session.user is not None and which == 0:
            metrics.rate_limited("user")
            return USER_FLOOD, wait, LIMIT_USER
        refusal = self._logged(self.addresses.refusal(Kind.MESSAGE, address, wait, self._clock()), address)
        return refusal.message, refusal.retry_after, refusal.limit

    @staticmethod
    def _logged(refusal: Refusal | None, address: str | None) -> Refusal | None:
        if refusal is not None:
            metrics.rate_limited(str(refusal.kind))
        if refusal is not None and refusal.report:
            log.warning("address %s is over its limit of %s (%s); docs/operations.md, \"Limits per address\"",
                        address, refusal.kind, refusal.settings())
        return refusal

    def user_bucket(self, user_id: int) -> TokenBucket:
        """The rate limit shared by all of a user's connections."""
        limits = self._config().limits
        bucket = self._user_buckets.get(user_id)
        if bucket is None:
            bucket = self._user_buckets[user_id] = TokenBucket(limits.user_rate_per_second, limits.user_rate_burst)
        bucket.rate, bucket.burst = limits.user_rate_per_second, limits.user_rate_burst
        return bucket
