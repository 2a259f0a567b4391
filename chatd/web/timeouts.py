"""How long an HTTP client may take to send its request: a slow or silent
client (slowloris) must not hold a connection, and its descriptor, for ever.

- **The head** (start line and header fields) must be all there
  ``HEAD_TIMEOUT`` seconds after Tornado starts reading it: after the accept
  (``chatd.web.arrivals`` hands a connection silent for ``PEEK_WAIT`` on, so
  ``HEAD_TIMEOUT`` + 2.5 s from the accept at most), and after each answer on
  a kept-alive connection (the idle time between requests, one timer for
  both: Tornado's ``idle_connection_timeout``, its ``header_timeout``, which
  is an hour unless set). Then the connection is closed without an answer.
- **The body** must make progress: ``BODY_IDLE`` seconds without a byte
  while chatd waits for one, and the connection is closed (``BodyWatch``). A
  total would have to allow the largest upload (``uploads.max_bytes``, 10 MiB
  by default) on the slowest link; no progress is what tells a dead or
  dripping client from a slow one. A client dripping a byte now and then is
  bounded by the per-address cap on such connections (``chatd.web.pending``).

The values: nginx waits 60 s for a head (``client_header_timeout``) and 60 s
between two reads of a body (``client_body_timeout``); Node waits 60 s for a
head (``headersTimeout``) and keeps an idle connection 5 s
(``keepAliveTimeout``). A browser or an HTTP library sends a head in one
segment, at once; behind the shipped nginx (nginx/chatd.conf), chatd only sees
heads nginx already has, and bodies as nginx receives them (uploads are not
buffered there: ``proxy_request_buffering off``), so ``BODY_IDLE`` is nginx's
own, which never cuts a body nginx still waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from tornado import httputil
from tornado.log import gen_log

# Seconds for a whole request head, and the idle time allowed between requests: a head
# is one segment, sent at once; 15 s leaves a lossy mobile link several retransmissions.
HEAD_TIMEOUT = 15.0
BODY_IDLE = 60.0  # seconds a request's body may go without a byte while chatd waits for one (nginx's)


class BodyWatch:
    """Closes ``connection`` (Tornado's ``HTTP1Connection`` of one request) when
    its body makes no progress for ``BODY_IDLE`` seconds. ``progress`` on
    every piece of the body; ``waiting_on`` around what chatd does with it (an
    awaitable the request's handler returns: chatd is the slow one then, not
    the client); ``stop`` at the request's end."""

    __slots__ = ("_connection", "_loop", "_last", "_busy", "_timer")

    def __init__(self, connection: httputil.HTTPConnection, loop: asyncio.AbstractEventLoop | None = None):
        """``loop``: whose clock (seconds) and timers it uses; the running one unless given."""
        self._connection = connection
        self._loop = loop or asyncio.get_running_loop()
        self._last = self._loop.time()
        self._busy = 0  # the handler's awaitables still pending
        self._timer: asyncio.TimerHandle | None = self._loop.call_at(self._last + BODY_IDLE, self._check)

    def progress(self) -> None:
        """A piece of the body arrived (or chatd finished with one): the idle time starts again."""
        self._last = self._loop.time()

    def waiting_on(self, pending: Awaitable[None] | None) -> Awaitable[None] | None:
        """``pending`` (what a handler's ``headers_received`` or ``data_received`` returned),
        awaited as Tornado would, with the idle time stopped until it is done."""
        if pending is None:
            self.progress()
            return None
        self._busy += 1
        return self._done(pending)

    async def _done(self, pending: Awaitable[None]) -> None:
        try:
            await pending
        finally:
            self._busy -= 1
            self.progress()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        # One timer per body, moved on when it fires rather than on every piece.
        now = self._loop.time()
        due = self._last + BODY_IDLE
        if self._busy or now < due:
            self._timer = self._loop.call_at(now + BODY_IDLE if self._busy else due, self._check)
            return
        self._timer = None
        gen_log.info("no byte of a request's body for %g s from %s: connection closed",
                     BODY_IDLE, self._connection.context)  # type: ignore[attr-defined]
        self._connection.close()  # type: ignore[attr-defined]
