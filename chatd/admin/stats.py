"""The dashboard tab's endpoint: live figures and the per-minute series of the last hours.

    GET /admin/api/stats?hours=6&today=MS
    → {"now": ms, "minute_ms": 60000, "since": ms,
       "figures": {"connections", "users_online", "rooms", "messages_today", "writer_commit_ms",
                   "loop_lag_ms", "bus": "in-process" | "connected" | "disconnected", "bus_latency_ms",
                   "webhook_queue"},
       "series": [[minute ms, connections, messages], ...]}     (minutes nobody wrote are missing: 0)

The live figures are this server's metrics (``chatd.metrics.snapshot``: every worker
added up); users online count the whole cluster. The series and ``messages_today`` come
from the traffic minutes of every process of every node (``chatd.store.traffic``), up to
the last whole minute. ``today`` is the viewer's midnight (ms), which only the browser
knows. The latencies are means over the time since the previous look of any admin of
this process (``Recent``): a mean since start would hide this minute's trouble.
"""

from __future__ import annotations

import time

from chatd import metrics
from chatd.admin.base import API, AdminHandler
from chatd.store.traffic import KEEP_MS, MINUTE_MS

HOURS_DEFAULT = 6
HOURS_MAX = KEEP_MS // 3_600_000  # what the store keeps
MS_MAX = 2**53  # a time in ms from a browser: at most what JavaScript counts exactly
HISTOGRAMS = {"writer_commit_ms": "chatd_writer_commit_seconds", "loop_lag_ms": "chatd_event_loop_lag_seconds",
              "bus_latency_ms": "chatd_bus_latency_seconds"}


class Recent:
    """Means of histograms over the time between two looks (their ``_sum`` and ``_count`` deltas)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def means_ms(self, samples: dict[str, float]) -> dict[str, float | None]:
        """figure → mean in ms since the previous call (since start the first time); None without observations."""
        means: dict[str, float | None] = {}
        for figure, name in HISTOGRAMS.items():
            total, count = samples.get(f"{name}_sum", 0.0), samples.get(f"{name}_count", 0.0)
            was_total, was_count = self._last.get(f"{name}_sum", 0.0), self._last.get(f"{name}_count", 0.0)
            if count < was_count:  # counters went back (a worker's files gone): start over
                was_total = was_count = 0.0
            seen = count - was_count
            means[figure] = round((total - was_total) / seen * 1000, 3) if seen else None
        self._last = samples
        return means


class StatsHandler(AdminHandler):
    recent = Recent()  # per process: the dashboard's looks come every few seconds

    async def get(self) -> None:
        args = self.query(("hours", "today"))
        hours = self.number(args, "hours", 1, HOURS_MAX) or HOURS_DEFAULT
        now = int(time.time() * 1000)
        today = self.number(args, "today", 0, MS_MAX)
        today = now - now % 86_400_000 if today is None else today
        since = (now - hours * 3_600_000) // MINUTE_MS * MINUTE_MS
        rows = await self.chat.store.traffic.series(min(since, today))
        samples = metrics.snapshot()
        bus = "in-process" if self.chat.cluster.alone else "connected" if self.chat.bus.connected else "disconnected"
        figures = {
            "connections": int(samples.get("chatd_connections", 0)),
            "users_online": self.chat.cluster.online_count(),
            "rooms": len(self.chat.hub.rooms),
            "messages_today": sum(messages for minute, _, messages in rows if minute >= today),
            "bus": bus,
            "webhook_queue": int(samples.get("chatd_webhook_queue", 0)),
            **self.recent.means_ms(samples),
        }
        self.reply({"now": now, "minute_ms": MINUTE_MS, "since": since, "figures": figures,
                    "series": [list(row) for row in rows if row[0] >= since]})


def routes() -> list[tuple[str, type]]:
    return [(rf"{API}/stats", StatsHandler)]
