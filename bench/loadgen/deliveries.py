"""Which client got which message, once, in order, and how late: the load
generator's receiving side (fanout, rooms, latency), run once per delivery.

Every message in flight knows the clients that still miss it (a set, copied
from its room's members when it is sent) and the time it was sent. A delivery
takes its client out of that set: one dict look-up and one set removal,
touching the few sets of the messages in flight rather than a growing set of
keys per client (1,000 sets of ~1,300 keys each in fanout-1000, which cost
cache misses on every delivery). From them, exactly:

- a **duplicate** is a message a client gets when it is no longer missing it:
  the message is in flight and the client a receiver not in its set, or the
  message is already complete (every receiver had it);
- a **loss** is a client left in a set at the end (``lost`` = expected − unique);
- **out of order**: a client gets a sender's message while still missing that
  sender's previous one, which later reaches it (a previous message never
  delivered is a loss, counted as such). Any order other than the sent one
  has such a pair, so every reordering is seen;
- **latency**: receive time − the send time kept with the message (the same
  ``time.monotonic_ns()`` that message_text writes into the text), for every
  unique delivery;
- **misdelivered**: a message of this run to a client that was not among its
  receivers; **strays**: a message this tracker never sent (a warm-up phase's
  straggler, or a text not made by message_text).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Collection, Hashable

from loadgen.metrics import KEY_DIGITS, latency_summary, message_text

_now = time.monotonic_ns


class _InFlight:
    __slots__ = ("missing", "receivers", "before", "sent_at", "done")

    def __init__(self, receivers: Collection, before: set, sent_at: int, done: Callable[[], None] | None):
        self.missing = set(receivers)  # receivers (clients) that have not got it yet
        self.receivers = receivers
        self.before = before  # the sender's previous message's `missing` (the same set object)
        self.sent_at = sent_at  # monotonic ns
        self.done = done


_NOTHING_BEFORE: frozenset = frozenset()


class Deliveries:
    """Counts what receivers got against what was sent to them.

    ``text = expect(key, receivers, sender, done)`` registers a message that
    every client of ``receivers`` should receive and gives its text (with its
    send time); ``done()`` is called when the last of them has it, which is how
    senders keep a bounded window of messages in flight. ``on_delivery(client,
    key)`` is the client's hook (client.ChatClient.on_delivery).
    """

    def __init__(self) -> None:
        self.sent = 0
        self.expected = 0
        self.duplicates = 0
        self.misdelivered = 0
        self.strays = 0
        # ns, one per unique delivery: an array, which the garbage collector does not walk through
        # (a list of 1.3 M ints was walked in every full collection)
        self.latencies = array("q")
        self.first_send = 0
        self.last_delivery = 0
        # Keyed by the message's key as its text writes it (KEY_DIGITS ASCII digits), which is
        # what a receiver reads (client.ChatClient.on_ws_frame)
        self.inflight: dict[bytes, _InFlight] = {}
        self.complete: set[bytes] = set()  # keys every receiver has
        self._last_of: dict[Hashable, set] = {}  # sender → its last message's `missing`
        self._early: list[tuple[object, set]] = []  # (client, set it was still in when a later message came)

    def expect(self, key: int, receivers: Collection, sender: Hashable,
               done: Callable[[], None] | None = None) -> str:
        """Register message ``key`` of ``sender`` for ``receivers`` (clients); return its text."""
        now = _now()
        if not self.first_send:
            self.first_send = now
        self.sent += 1
        self.expected += len(receivers)
        entry = _InFlight(receivers, self._last_of.get(sender, _NOTHING_BEFORE), now, done)
        self._last_of[sender] = entry.missing
        text = message_text(key, now)
        self.inflight[text[:KEY_DIGITS].encode()] = entry
        return text

    def on_delivery(self, client, key: bytes) -> None:
        """The hot path: called for every ``message`` frame any client receives."""
        now = _now()
        try:
            entry = self.inflight[key]
            entry.missing.remove(client)
        except KeyError:
            self._not_missing(client, key)
            return
        if client in entry.before:
            self._early.append((client, entry.before))
        self.latencies.append(now - entry.sent_at)
        self.last_delivery = now
        if not entry.missing:
            del self.inflight[key]
            self.complete.add(key)
            if entry.done is not None:
                entry.done()

    def _not_missing(self, client, key: bytes) -> None:
        """A delivery of a message the client does not miss: see the module's docstring."""
        entry = self.inflight.get(key)
        if key in self.complete or (entry is not None and client in entry.receivers):
            self.duplicates += 1
        elif entry is not None:
            self.misdelivered += 1
        else:
            self.strays += 1

    @property
    def received(self) -> int:
        """Every message frame, duplicates and strays included."""
        return len(self.latencies) + self.duplicates + self.misdelivered + self.strays

    @property
    def unique(self) -> int:
        return len(self.latencies)

    def out_of_order(self) -> int:
        """Deliveries that overtook the sender's previous message, which then came too."""
        return sum(client not in before for client, before in self._early)

    def summary(self) -> dict:
        elapsed = (self.last_delivery - self.first_send) / 1e9 if self.last_delivery else 0.0
        return {
            "messages_sent": self.sent,
            "deliveries": self.unique,
            "deliveries_per_s": round(self.unique / elapsed) if elapsed > 0 else 0,
            "seconds": round(elapsed, 3),
            "lost": self.expected - self.unique,
            "duplicated": self.duplicates,
            "out_of_order": self.out_of_order(),
            "misdelivered": self.misdelivered,
            "strays": self.strays,
            **latency_summary(self.latencies),
        }
