"""Calls to Redis asked for during one pass of the event loop, made together at its end.

A node asks Redis something for nearly every request (a rate-limit take per
message, a name claim per ``identify``). Each as its own command cost a round
trip through redis-py's Python per request, and as many pooled connections as
requests in flight; asked together, a pass's asks are one script call (of at
most ``most``), whose answers come back in the order asked.

    takes = PerPass(send, most=256)      # send(asks) -> one answer per ask, or None: Redis out
    answer = await takes.ask(buckets)    # this ask's answer, or None
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")


class PerPass(Generic[A, R]):
    def __init__(self, send: Callable[[list[A]], Awaitable[Sequence[R] | None]], most: int):
        """``send(asks)``: the answers to ``asks`` (at most ``most`` of them), in their order, or
        None when Redis failed (every ask then gets None)."""
        self._send = send
        self._most = most
        self._asked: list[tuple[A, asyncio.Future]] = []  # this pass's asks, sent at its end
        self._calls: set[asyncio.Task] = set()  # under way (the loop keeps only weak references to tasks)

    def ask(self, asked: A) -> asyncio.Future:
        """Awaitable: ``asked``'s answer (None: Redis out), once it and the pass's
        other asks have been sent together at the end of this pass of the loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._asked.append((asked, future))
        if len(self._asked) == 1:
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        asked, self._asked = self._asked, []
        for start in range(0, len(asked), self._most):
            call = asyncio.ensure_future(self._call(asked[start:start + self._most]))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _call(self, asked: list[tuple[A, asyncio.Future]]) -> None:
        try:
            answers = await self._send([ask for ask, _ in asked])
        except asyncio.CancelledError:  # the loop is closing
            for _, future in asked:
                future.cancel()
            raise
        except Exception as e:  # not Redis's failure (send answers None for those): a bug, each asker gets it
            for _, future in asked:
                if not future.done():
                    future.set_exception(e)
            return
        for i, (_, future) in enumerate(asked):
            if not future.done():  # its asker may have gone (a connection closed meanwhile)
                future.set_result(None if answers is None else answers[i])
