"""The supervisor's rules for ``workers: N`` (``chatd.workers``), pure: when
a worker that died starts again, how to say how it ended, and the figures
of the whole set.

    respawn_delay(0) == 0.0; respawn_delay(3) == 4.0       # seconds
    exit_reason(-9) == "was killed by SIGKILL"
    combine(own, answers)                                  # `chatd status` of the set
"""

from __future__ import annotations

import signal
from typing import Any

STABLE_SECONDS = 30.0  # a worker that lived this long before dying is started again at once
RESPAWN_FIRST = 1.0  # seconds before a worker that died young is started again; doubles each time
RESPAWN_MAX = 60.0  # the longest wait before starting a worker again


def respawn_delay(quick_deaths: int) -> float:
    """Seconds to wait before starting a worker again, after ``quick_deaths``
    deaths in a row of workers in its place that each lived less than
    STABLE_SECONDS (0 the first time: a worker that had been serving)."""
    if quick_deaths <= 0:
        return 0.0
    return min(RESPAWN_FIRST * 2 ** (quick_deaths - 1), RESPAWN_MAX)


def exit_reason(returncode: int) -> str:
    """``-9`` → "was killed by SIGKILL"; ``1`` → "exited with status 1"."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


def combine(own: dict[str, Any], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of the whole set for ``chatd status``, from the
    supervisor's ``own`` (version, pid, started_at, uptime_seconds, listen,
    database, rss_bytes) and each serving worker's ``status`` answer.
    Counts add up; users online are the distinct users (one user may be on
    several workers); the database figures are any worker's, since they
    share it (None, and ``database_unreachable`` says why, when no worker
    could read them); memory is every process's, the supervisor's included."""
    total = {**own, "connections": 0, "messages_since_start": 0, "messages_per_second": 0.0, "rooms": 0,
             "messages_stored": None, "database_bytes": None, "database_unreachable": None, "epoch": None,
             "restored": None, "bus": None, "users_online_cluster": None}
    users: set[int] = set()
    for a in answers:
        for key in ("connections", "messages_since_start", "messages_per_second", "rss_bytes"):
            total[key] += a[key]
        total["rooms"] = max(total["rooms"], a["rooms"])
        for key in ("messages_stored", "database_bytes"):  # None from a worker that could not reach the database
            if a[key] is not None:
                total[key] = max(total[key] or 0, a[key])
        total["database_unreachable"] = total["database_unreachable"] or a["database_unreachable"]
        total["epoch"] = total["epoch"] or a["epoch"]
        total["restored"] = total["restored"] or a["restored"]
        users.update(a["user_ids"])
        if a.get("users_online_cluster") is not None:  # each worker knows the whole cluster: the most any knows
            total["users_online_cluster"] = max(total["users_online_cluster"] or 0, a["users_online_cluster"])
        if a.get("bus"):  # the workers' one bus: connected while every worker's connection is
            seen = total["bus"] or a["bus"]
            total["bus"] = {**a["bus"], "connected": a["bus"]["connected"] and seen["connected"],
                            "cause": seen.get("cause") or a["bus"].get("cause")}
    total["users_online"] = len(users)
    total["messages_per_second"] = round(total["messages_per_second"], 3)
    return total
