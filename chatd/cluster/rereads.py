"""What a node reads again from the store when another node changed it, or when
the bus may have lost the notice that said so: the rooms, the bots, the mutes
and bans, the reserved names.

A read that fails (the database is down) is owed: nothing else would ask for it
again before the next change, which may never come, and until then this node
would let in a user banned elsewhere, or a guest by a bot's name. So each owed
read is tried again at each tick of the cluster (``cluster.heartbeat_interval``)
until one succeeds. The first failure is logged, then the success; not each
retry of one outage.

    rereads = Rereads({"the bots": bots.reload, "the mutes and bans": moderation.changed})
    rereads.ask("the bots")          # another node changed them
    rereads.ask(*rereads.reads)      # the bus may have lost notices
    rereads.tick()                   # every heartbeat: what is owed, again
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("chatd.cluster")

Read = Callable[[], Awaitable[object] | None]  # starts a read; None: nothing to read (that part is not set up)


class Rereads:
    def __init__(self, reads: dict[str, Read]):
        """``reads``: what is read (its name in the log) → the callable that starts the read;
        the awaitable it returns fails if the read does."""
        self.reads = reads
        self._owed: set[str] = set()  # failed, tried again at the next tick
        self._failing: set[str] = set()  # failed since the last success: logged once
        self._running: set[asyncio.Future] = set()

    def ask(self, *whats: str) -> None:
        """Start reading each of ``whats`` again."""
        for what in whats:
            started = self.reads[what]()
            if started is None:
                continue
            future = asyncio.ensure_future(started)
            self._running.add(future)
            future.add_done_callback(lambda done, what=what: self._done(what, done))

    def tick(self) -> None:
        """Try again what failed."""
        owed, self._owed = self._owed, set()
        self.ask(*sorted(owed))

    def _done(self, what: str, done: asyncio.Future) -> None:
        self._running.discard(done)
        if done.cancelled():  # the node stops
            return
        error = done.exception()
        if error is None:
            if what in self._failing:
                self._failing.discard(what)
                log.info("read %s again", what)
            return
        self._owed.add(what)
        if what not in self._failing:
            self._failing.add(what)
            log.error("reading %s again failed: %r; trying again at each heartbeat", what, error)
