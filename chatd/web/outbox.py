"""Writes coalesced per connection and per pass of the event loop, started
early when coalescing gains nothing.

A writer-thread batch can carry a hundred messages for the same room; sent
one by one that is a hundred ``send()`` calls per member. Connections
instead queue frames and register here once; at the end of the loop pass
each writes everything it has in one call. (A connection whose queue outgrows
the room left under its ``limits.send_queue_bytes`` writes by itself, at once,
to check the slow-reader cut-off: ``chatd.web.connection``. It stays
registered, and its ``send_queued`` at the end of the pass may find nothing.)

**Early, while nothing is coalesced.** Under light load a pass carries one
message to each member of a room; waiting for the end of the pass then gains
nothing, and the first of 1,000 members' sends waited until all 1,000 were
queued (~1 ms of the 1.5–1.8 ms between a say's arrival and the first send,
bench latency case: 1,000 members × 20 msgs/s). So while ``early`` is set,
every ``EARLY_CHUNK`` connections queued are written at once, in the middle
of the pass. A connection so written that gets another frame in the same pass
(``passes`` tells passes apart) costs one ``send()`` more than waiting would
have: the ``EARLY_EXTRA``-th and first more of them in a pass turns ``early``
off at once, so the rest of a burst is coalesced; a flush in which no
connection had more than one frame turns it on again.

Nor are they made while the store's writer hands the loop a batch of several
results (``more_follow``): the second message of a batch into a room of 1,000
would otherwise cost each member a ``send()`` more.

A connection whose requests wait behind its unsent bytes (``has_inbox``) is
left for the end of the pass: writing it mid-pass would start its next
request inside whatever code is queueing frames (a fan-out going through a
room's sessions, another connection's request).

    outbox = Outbox()
    outbox.queue(connection)     # the connection has frames waiting (call once per pass)
    # ...later in the same pass, once: connection.send_queued() for each
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

# Connections queued before a mid-pass write while ``early``: the first send of a
# fan-out waits for this many to be queued (~1 µs each), and their queueing and
# writing stay in runs (measured: writing each as it was queued cost ~0.35 µs more
# per member, the syscall between two members' Python evicting it from the cache).
EARLY_CHUNK = 64
# Connections written mid-pass that got another frame in the same pass, above which the
# outbox goes back to waiting for the end of passes: a sender's ack and its own message
# are one; a burst into rooms is hundreds.
EARLY_EXTRA = 16


class Flushable(Protocol):
    written_in: int  # the ``passes`` in which it was last written mid-pass

    def has_inbox(self) -> bool: ...

    def send_queued(self) -> int: ...

    def send_now(self) -> None: ...


class Outbox:
    __slots__ = ("_waiting", "_held", "early", "passes", "_again", "_counting", "_due", "_more_follow")

    def __init__(self, more_follow: Callable[[], bool] = lambda: False) -> None:
        # → whether more fan-outs follow in this pass (a writer batch of several messages
        # being delivered): the first one's members are then not written early.
        self._more_follow = more_follow
        self._waiting: list[Flushable] = []  # queued since the last write
        self._held: list[Flushable] = []  # passed over by mid-pass writes (has_inbox)
        self.early = True
        self.passes = 1  # passes in which a mid-pass write happened, counted (connections start at 0)
        self._again = 0  # connections written mid-pass, then queued again in this pass
        self._counting = False  # the end of this pass will count it
        self._due = False  # the end of this pass will flush

    def queue(self, connection: Flushable) -> None:
        """Write ``connection``'s frames at the end of this loop pass, or sooner
        (see "Early" above); call once per pass, after queueing its first frame."""
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self.flush)
        waiting = self._waiting
        waiting.append(connection)
        if connection.written_in == self.passes:
            self._again += 1
            if self._again > EARLY_EXTRA:
                self.early = False  # at once: the rest of a burst's pass is coalesced
        if self.early and len(waiting) >= EARLY_CHUNK and not self._more_follow():
            self._write_early()

    def _write_early(self) -> None:
        """The connections queued so far, written now (mid-pass)."""
        waiting, self._waiting = self._waiting, []
        passes = self.passes
        for connection in waiting:
            if connection.has_inbox():
                self._held.append(connection)
            else:
                connection.written_in = passes
                connection.send_now()
        if not self._counting:
            self._counting = True
            asyncio.get_running_loop().call_soon(self._count_pass)

    def _count_pass(self) -> None:
        self._counting = False
        self.passes += 1

    def flush(self) -> None:
        """At the end of the pass: every queued connection's frames in one write each."""
        waiting = self._held + self._waiting if self._held else self._waiting
        self._waiting, self._held, self._due = [], [], False
        frames = 0
        for connection in waiting:
            frames += connection.send_queued()
        if not self.early and self._again <= EARLY_EXTRA:
            self.early = frames == len(waiting)
        self._again = 0
