"""Awaiting one coroutine and reads already under way, in the caller's task.

    state, (caught, page) = await alongside(attention.joined(user_id, room), catch_up(...))

``asyncio.gather(coroutine, future)`` wraps the coroutine in a Task of its own:
one more object, one more loop pass before it starts, and its store read then
goes to the reader threads a pass after the future's, in a batch of its own.
Here the coroutine runs at once in the caller's task, so its first read joins
the same batch (``Store.read``), and the futures are awaited after it (one per
identify and one per join: a 5,000-client storm, 447 → 408 µs of server CPU per
client, 4 alternating runs).

As with ``gather`` (``return_exceptions`` false): the first error is raised, the
other futures run on, and their errors are marked retrieved (asyncio logs none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def alongside(first: Awaitable[Any], *started: asyncio.Future) -> tuple[Any, ...]:
    """→ (``first``'s result, each of ``started``'s), ``first`` awaited before the futures."""
    waiting = list(started)
    try:
        results = [await first]
        while waiting:
            results.append(await waiting[0])
            waiting.pop(0)
    except BaseException:
        for future in waiting:
            future.add_done_callback(_retrieved)
        raise
    return tuple(results)


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
