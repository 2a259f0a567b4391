"""Token buckets: how chatd tells a chatty client from a flooding one.

    >>> bucket = TokenBucket(rate=10, burst=20)
    >>> bucket.take(now=0.0)
    True

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second;
each frame takes one. Rate and burst are read on every call, so a reload
that changes the limits applies to existing connections at once.
"""

from __future__ import annotations

import time


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp: float | None = None

    def take(self, now: float | None = None) -> bool:
        """Take one token if there is one."""
        now = time.monotonic() if now is None else now
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
