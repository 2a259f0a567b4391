"""How fast the admin login may be tried: token buckets per address and per account name.

Every login attempt (a password, or a chat account's token) takes one token
from its address's bucket and, for a password, one from the account name's
bucket; each holds ``admin.login_attempts`` and gains one every
``admin.login_refill_seconds``. An attempt that finds either empty is refused
with 429 and Retry-After before any password is checked. So a guesser gets
``login_attempts`` tries at once, then one per refill interval, from each
address and against each account, whichever it spreads them over. The account
bucket is why an attacker with many addresses is slowed too; its price is
that they can hold the account's real owner back as long as they keep
guessing (docs/operations.md, "Administration" says what to do then).

IPv6 addresses count by their network (``address.ipv6_prefix``, as the other
per-address limits). With a Redis bus the buckets are on Redis
(``chatd.cluster.limits``), shared by every node and worker; when Redis cannot
be reached, each process counts by itself until it is back.

    logins = Logins(settings, shared_buckets_or_None)
    wait = await logins.take(address_key, account_key)   # 0.0: go on; else seconds to wait
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chatd.cluster.limits import SharedBuckets
from chatd.ratelimit import BucketTable

KEYS_MAX = 100_000  # buckets kept in one process (chatd.ratelimit.BucketTable)
LOGIN_LIMIT = "logins"  # the ``limit`` of a login's ``rate_limited`` refusal (docs/protocol.md, "error")


class Logins:
    def __init__(self, settings: Callable[[], Any], shared: SharedBuckets | None,
                 clock: Callable[[], float] = time.monotonic):
        """``settings``: the config in force (read per call); ``shared``: Redis's buckets, or None."""
        self._settings = settings
        self._shared = shared
        self._local = BucketTable(KEYS_MAX)
        self.clock = clock

    async def take(self, address: str, account: str | None) -> float:
        """Take an attempt for ``address`` (its key) and ``account`` (a case-folded account name; None
        for a chat-account sign-in); → 0.0 when allowed, else the seconds until one is."""
        admin = self._settings().admin
        rate, burst = 1 / admin.login_refill_seconds, admin.login_attempts
        keys = [f"admin-login:address:{address}"] + ([f"admin-login:account:{account}"] if account is not None
                                                     else [])
        if self._shared is not None:
            answer = await self._shared.take([(key, rate, burst) for key in keys])
            if answer is not None:
                return answer[0]
        # Here each bucket is taken from on its own (Redis's script takes from all or none): when the
        # account's is empty, the address's still loses a token. The harmless side: a guesser loses one more.
        waits = [self._local.take(key, rate, burst, self.clock()) for key in keys]
        return max(waits)
