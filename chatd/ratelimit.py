"""Token buckets: how chatd tells a chatty client from a flooding one.

    >>> bucket = TokenBucket(rate=10, burst=20)
    >>> bucket.take(now=0.0)
    True

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second;
each frame takes one. Rate and burst are read on every call, so a reload
that changes the limits applies to existing connections at once.

``BucketTable`` keeps one bucket per key (a client address) in bounded
memory: a bucket that has refilled to its burst is the same as a new one
and is dropped, and past ``max_keys`` the least recently used goes first.
Clocks are the caller's (seconds, any origin): pure logic, no I/O.
"""

from __future__ import annotations

import collections
import time

# Buckets looked at for dropping per take: more than one, so the table shrinks
# whenever its oldest buckets are idle, however many takes add keys.
IDLE_CHECKS_PER_TAKE = 2


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp: float | None = None

    def _refill(self, now: float) -> None:
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, now: float | None = None, count: int = 1) -> bool:
        """Take ``count`` tokens if there are as many (all or none)."""
        now = time.monotonic() if now is None else now
        self._refill(now)
        if self._tokens >= count:
            self._tokens -= count
            return True
        return False

    def wait(self, now: float, count: int = 1) -> float:
        """Seconds from ``now`` until ``count`` tokens are there (0.0: they are)."""
        self._refill(now)
        return max(0.0, (count - self._tokens) / self.rate)

    def full(self, now: float) -> bool:
        """Refilled to its burst by ``now``: no different from a new bucket."""
        if self._stamp is None:
            return True
        return self._tokens + (now - self._stamp) * self.rate >= self.burst


class BucketTable:
    """Token buckets by key, at most ``max_keys`` of them.

        >>> table = BucketTable(max_keys=100_000)
        >>> table.take("203.0.113.9", rate=1, burst=2, now=0.0)
        0.0

    Memory stays bounded whoever calls: idle buckets (refilled to their
    burst) are dropped as takes go by, and a table full of buckets that are
    not idle forgets the least recently used. Forgetting a bucket only gives
    its key a fresh burst: what a client holding many keys has anyway.
    """

    def __init__(self, max_keys: int):
        self.max_keys = max_keys
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()  # least recent first

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, rate: float, burst: float, now: float, count: int = 1) -> float:
        """Take ``count`` tokens (at most ``burst``) from ``key``'s bucket, with the
        ``rate`` (tokens per second) and ``burst`` in force now; → 0.0 when taken,
        else the seconds until they are there."""
        self._drop_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.rate, bucket.burst = rate, burst
        return 0.0 if bucket.take(now, count) else bucket.wait(now, count)

    def _drop_idle(self, now: float) -> None:
        for _ in range(IDLE_CHECKS_PER_TAKE):
            if not self._buckets:
                return
            key, bucket = next(iter(self._buckets.items()))
            if not bucket.full(now):
                return
            del self._buckets[key]
