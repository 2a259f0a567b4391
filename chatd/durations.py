"""How chatd words a length of time for people: the time left in a mute or
a ban, the wait before a refused request may be tried again. Pure.

The rule (docs/protocol.md, "Errors"): the time in whole seconds, a part of
a second counting as a whole one (so it is never "0 seconds", and a wait
said is never too short); then its largest unit and the next one down, when
that is not zero; smaller units are left out (rounded down). So 3 s is
"3 seconds", 61 s "1 minute 1 second", 3600 s "1 hour", 90061 s (1 day
1 hour 1 minute 1 second) "1 day 1 hour", and 86401 s "1 day".

    duration_text(90061)     # "1 day 1 hour"
    counted(0, "day")        # "0 days": a count as people say it, used for other nouns too
"""

from __future__ import annotations

import math
from http import HTTPStatus

UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
SHOWN_UNITS = 2  # the largest unit and the one below it: enough to tell, short enough to read
UNAVAILABLE_RETRY = 1.0  # seconds: a store outage or a stop is usually over soon; the client backs off itself
ROUNDING = 1e-6  # seconds: 1 / (2 / 3600) may come out a hair above 1800; nobody waits a second for that


def http_retry(status: int, retry_after: float | None) -> float | None:
    """The seconds an HTTP refusal with ``status`` asks the client to wait (its Retry-After):
    ``retry_after``, else UNAVAILABLE_RETRY for a 503, which always says when to try again
    (docs/api.md, "Errors"); None: no Retry-After."""
    if retry_after is None and status == HTTPStatus.SERVICE_UNAVAILABLE:
        return UNAVAILABLE_RETRY
    return retry_after


def whole_seconds(seconds: float) -> int:
    """``seconds`` rounded up to whole seconds, at least 1 (as HTTP Retry-After wants)."""
    return max(1, math.ceil(seconds - ROUNDING))


def duration_text(seconds: float) -> str:
    """``seconds`` (> 0) as people say it, by the module's rule: "3 seconds", "1 minute 1 second",
    "2 hours", "1 day 1 hour"."""
    left = whole_seconds(seconds)
    counts = []
    for size, _ in UNITS:
        count, left = divmod(left, size)
        counts.append(count)
    first = next(i for i, count in enumerate(counts) if count)
    shown = [(counts[i], UNITS[i][1]) for i in range(first, min(first + SHOWN_UNITS, len(UNITS))) if counts[i]]
    return " ".join(counted(count, name) for count, name in shown)


def counted(count: int, noun: str) -> str:
    """``count`` of ``noun`` (an English noun whose plural takes an s): "1 day", "0 days", "3 messages"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
