"""Retention: messages older than their channel's days are purged, a small batch at a
time (``chatd.store.retention`` says which; docs/operations.md, "Retention").

The server purges every ``PURGE_EVERY`` seconds; ``chatd purge`` does it at once,
or with ``--dry-run`` only says what would go. Each batch is one writer job of at
most ``BATCH_ROWS`` deletions, and a pause of ``PAUSE_SECONDS`` follows it, so the
messages users send meanwhile wait for one small job at most, never for the purge.
A purge that removed anything writes one audit row (``retention.purge``).
Each purge also removes the uploads never attached to a message within
``uploads.unattached_hours`` (``chatd.store.uploads``), in batches the same way;
files of purged messages go with them (ON DELETE CASCADE).

Resume stays exact: ids are never handed out again (``chatd.store.schema.IdField``)
and the newest id handed out is read from the sequence, not the rows, so a
position from before a purge still means the same place (no ``reset``); a
client resuming from it is sent the kept messages after it, and ``history``
before the oldest kept answers an empty page with ``more: false``.

    retention = Retention(store, lambda: config)
    channels = await retention.plan()             # [chatd.store.retention.Channel]
    removed = await retention.purge(actor)        # {"rooms": {name: n}, "private": n, "messages": total}
    removed = purge_blocking(store, channels, actor)   # the same, for a command (blocks)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from chatd.audit import Actor, entry
from chatd.store import Store, now_ms
from chatd.store.retention import Channel, delete_batch, plan

log = logging.getLogger("chatd.retention")

BATCH_ROWS = 500  # deletions in one writer job: a few ms, the wait a message sent meanwhile may see
PAUSE_SECONDS = 0.05  # between two batches: the writer's other jobs go first
PURGE_EVERY = 600  # seconds between the server's purges
HOUR_MS = 3_600_000


class Retention:
    def __init__(self, store: Store, config: Callable[[], Any]):
        self.store = store
        self._config = config  # → the current Config (history.retention_days is live)
        self._running: asyncio.Task | None = None

    def plan(self) -> asyncio.Future:
        """→ what a purge now would remove, per channel (the reader pool)."""
        days = self._config().history.retention_days
        return self.store.read(lambda: plan(self.store, days, now_ms()))

    async def purge(self, actor: Actor, channels: list[Channel] | None = None) -> dict:
        """Remove what ``channels`` (None: ``plan()`` now) count, in batches; → what went
        (``removed``'s shape). One audit row if anything did."""
        if channels is None:
            channels = await self.plan()
        counts: dict[Channel, int] = {}
        for channel in channels:
            counts[channel] = 0
            while counts[channel] < channel.count:
                n = await self.store.writer.run(lambda c=channel: delete_batch(self.store, c, BATCH_ROWS))
                counts[channel] += n
                if n < BATCH_ROWS:
                    break  # what is left went another way (a room deleted, another node's purge)
                await asyncio.sleep(PAUSE_SECONDS)
        result = removed(counts)
        if result["messages"]:
            await self.store.audit.add(audit_row(actor, result))
            log.info("retention: %d messages purged", result["messages"])
        before = unattached_cutoff(self._config())
        while await self.store.uploads.purge_unattached(before, BATCH_ROWS) == BATCH_ROWS:
            await asyncio.sleep(PAUSE_SECONDS)
        return result

    def tick(self, actor: Actor) -> None:
        """The server's periodic purge: one at a time; failures are logged, the next tick tries again."""
        if self._running is not None and not self._running.done():
            return
        self._running = asyncio.ensure_future(self.purge(actor))
        self._running.add_done_callback(_logged)


def unattached_cutoff(config: Any) -> int:
    """ms since the epoch: uploads made before and never attached are purged (``uploads.unattached_hours``)."""
    return now_ms() - int(config.uploads.unattached_hours * HOUR_MS)


def _logged(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("retention: the purge failed: %r", task.exception())


def removed(counts: dict[Channel, int]) -> dict:
    """What a purge removed: ``{"rooms": {name: n}, "private": n, "messages": total}``."""
    rooms = {c.room: n for c, n in counts.items() if c.room is not None and n}
    private = sum(n for c, n in counts.items() if c.room is None)
    return {"rooms": rooms, "private": private, "messages": sum(rooms.values()) + private}


def audit_row(actor: Actor, result: dict) -> dict:
    """The audit row of a purge that removed ``result`` (``removed``'s shape)."""
    return entry(actor, "retention.purge", "history", detail=result)


def purge_blocking(store: Store, channels: list[Channel], actor: Actor) -> dict:
    """``Retention.purge`` for a command working on the database itself (no writer thread):
    each batch its own transaction, with the same pause between. Blocks."""
    db = store.db
    counts: dict[Channel, int] = {}
    with db.connection_context():
        for channel in channels:
            counts[channel] = 0
            while counts[channel] < channel.count:
                with db.atomic():
                    n = delete_batch(store, channel, BATCH_ROWS)
                counts[channel] += n
                if n < BATCH_ROWS:
                    break
                time.sleep(PAUSE_SECONDS)
        result = removed(counts)
        if result["messages"]:
            with db.atomic():
                store.audit.insert(audit_row(actor, result))
    return result
