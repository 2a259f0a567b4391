"""The cluster's Redis for what must hold across nodes besides the bus:
name claims (``chatd.cluster.names``) and rate limits
(``chatd.cluster.limits``).

Redis is a help here, never a condition: when it cannot be reached, each
call answers None at once, the caller falls back to what this node knows
(its own buckets, the names it has heard of), and one warning is logged.
After a failure Redis is left alone for ``RETRY_AFTER`` seconds, so an
outage costs one timeout, not one per message. A connection Redis dropped
(Redis restarted, or closed it as idle) is no outage: the command that finds
it dead is sent once more on a new connection (redis-py's ``Retry``) before
the call fails open.

    shared = SharedRedis(bus_url(config))
    held = await shared.run("claiming a name", lambda r: script(keys=[...], args=[...], client=r))
    await shared.close()     # once the calls under way are over: no call is started after
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as ConnectionLost
from redis.exceptions import RedisError

from chatd.bus.redis import refused_password
from chatd.dsn import BUS_PASSWORD_ENV, password_advice, redacted

log = logging.getLogger("chatd.cluster")

TIMEOUT = 0.5  # seconds a command may take: a message waits for it (chatd.cluster.limits)
# Connections to Redis at once. A call finding them all busy waits for one (up to TIMEOUT) rather
# than failing: redis-py's default pool refuses the 101st concurrent call (MaxConnectionsError),
# which a connection storm's name claims reached, and which failed the names and limits open.
POOL_MAX = 32
RETRY_AFTER = 5.0  # seconds Redis is left alone after a failure
# Sends of a command after the first that failed on a connection error (not a timeout: a Redis that
# is slow or unreachable would make a message wait twice as long for nothing). Should the first
# have run before its connection broke, the second runs it again: a name claim is the same claim,
# a rate-limit token is taken twice (one message counted twice, rarely: the harmless side).
RESENDS = 1

# Seconds close() waits for the calls under way: each ends within its timeouts (a connect and a
# reply of TIMEOUT, sent at most 1 + RESENDS times), or fails open. Closing the connections under
# them instead would make them reconnect (RESENDS) after the close, and leave those sockets open.
CLOSE_WAIT = 2 * TIMEOUT * (1 + RESENDS)

T = TypeVar("T")


class SharedRedis:
    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic):
        self._where = redacted(url)
        self.redis = redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_MAX, timeout=TIMEOUT, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), RESENDS, supported_errors=(ConnectionLost,))))
        self._clock = clock
        self._down_until: float | None = None  # clock reading until which Redis is not tried
        self._calls = 0  # under way
        self._idle = asyncio.Event()  # set while no call is under way
        self._idle.set()
        self._closing = False

    async def run(self, what: str, call: Callable[[redis.Redis], Awaitable[T]]) -> T | None:
        """``call(client)``'s answer, or None when Redis failed (logged) or
        failed less than RETRY_AFTER seconds ago. ``what`` names the job for the log."""
        if self._closing or self._down_until is not None and self._clock() < self._down_until:
            return None
        self._calls += 1
        self._idle.clear()
        try:
            answer = await call(self.redis)
        except (RedisError, OSError, TimeoutError) as e:
            if self._down_until is None:
                # A password Redis refuses (changed under a running node) says where chatd's came from.
                advice = password_advice("bus_password_file", BUS_PASSWORD_ENV) if refused_password(e) else ""
                log.warning("Redis failed while %s (%s, at %s%s): names and rate limits hold per node until it "
                            "is back; docs/operations.md, \"Cluster state\"", what, str(e) or type(e).__name__,
                            self._where, advice)
            self._down_until = self._clock() + RETRY_AFTER
            return None
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()
        if self._down_until is not None:
            log.warning("Redis is back: names and rate limits hold across nodes again")
            self._down_until = None
        return answer

    async def close(self) -> None:
        """Disconnect, once the calls under way are over (at most CLOSE_WAIT seconds)."""
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_WAIT):
                await self._idle.wait()
        await self.redis.aclose()
