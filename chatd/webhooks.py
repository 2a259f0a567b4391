"""Outgoing webhook calls: signed JSON POSTs, queued, bounded, retried.

Bots (``chatd.bots``) and the app webhooks (``chatd.appwebhooks``) hand a
call to ``Webhooks.send``; it returns at once. Calls wait in one queue of at
most ``webhooks.queue_max`` (retries waiting for their turn count too); a
call that finds it full is dropped, counted (``chatd status``:
``webhooks.dropped``) and logged, at most once a minute per kind of trouble.
At most ``webhooks.concurrency`` calls are under way at once, each with a
timeout of ``webhooks.timeout_seconds``; the event loop never waits on one.

A call that fails for a reason a retry may cure (no connection, a timeout,
HTTP 429 or 5xx) is tried again up to ``webhooks.retries`` times, after
``webhooks.backoff_seconds`` · 2^(try − 1) seconds, times a random factor
between 0.5 and 1.5 (jitter: endpoints that failed together are not hit
together again), capped at ``BACKOFF_MAX``. Other 4xx answers, a refused
address and a redirect are final. Redirects are never followed (a redirect
to an internal address would skip the SSRF guard, ``chatd.egress``).

**Signature** (docs/api.md, "Webhooks"): each request carries
``Chatd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``,
the scheme of Stripe's and Slack's webhooks: the receiver recomputes the
HMAC over the timestamp, a dot and the raw body, compares in constant time,
and refuses a timestamp older than a few minutes (a replayed request).
``Chatd-Delivery`` is the same on every try of one call (the receiver may
dedupe on it); ``Chatd-Event`` names what happened.

    hooks = Webhooks(lambda: config)
    hooks.send(url, secret, "bot.message", {"text": ...}, answered=lambda body: ...)  # False: dropped
    hooks.stats()          # {"sent", "failed", "dropped", "queued", "running"}
    await hooks.close()
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from chatd import __version__, metrics
from chatd.egress import Allowance, GuardedResolver, RefusedAddress

log = logging.getLogger("chatd.webhooks")

SIGNATURE_HEADER = "Chatd-Signature"
EVENT_HEADER = "Chatd-Event"
DELIVERY_HEADER = "Chatd-Delivery"
SIGNATURE_VERSION = "v1"
SIGNATURE_TOLERANCE = 300  # seconds a receiver should accept a timestamp for (docs/api.md)
RESPONSE_MAX_BYTES = 64 * 1024  # a bot's answer is a chat message: more is refused, not read
BACKOFF_MAX = 300.0  # seconds: the longest wait before a retry
JITTER = (0.5, 1.5)  # the random factor on each wait
LOG_EVERY = 60.0  # seconds between two log lines of the same kind of trouble
CONNECTIONS_MAX = 256  # the HTTP client's own cap; webhooks.concurrency (at most this) is the one that bites
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

Answered = Callable[[bytes], None]  # the body of a 2xx answer


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Chatd-Signature`` value of ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{SIGNATURE_VERSION}={mac}"


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance: float = SIGNATURE_TOLERANCE) -> bool:
    """Whether ``header`` (a ``Chatd-Signature`` value) signs ``body`` with ``secret`` and
    its timestamp is within ``tolerance`` seconds of ``now``: what a receiver checks."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rpartition("=")[2]
    return hmac.compare_digest(expected, fields.get(SIGNATURE_VERSION, ""))


def backoff(attempt: int, base: float, rand: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` ≥ 1 tries made):
    exponential from ``base``, with jitter, capped at BACKOFF_MAX."""
    return min(BACKOFF_MAX, base * 2 ** (attempt - 1) * rand(*JITTER))


class Throttled:
    """Log lines of one kind at most once per ``every`` seconds, saying how many were held back."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic):
        self._log, self._every, self._clock = logger, every, clock
        self._last: dict[str, float] = {}
        self._held: collections.Counter[str] = collections.Counter()

    def warning(self, kind: str, message: str) -> None:
        now = self._clock()
        if now - self._last.get(kind, -self._every) < self._every:
            self._held[kind] += 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        self._log.warning("%s%s", message, f" ({held} more like it not logged)" if held else "")


@dataclass(slots=True)
class Call:
    url: str
    secret: bytes
    event: str
    body: bytes  # JSON, UTF-8
    delivery: str  # the same on every try
    answered: Answered | None
    attempt: int = 0  # tries made


class Webhooks:
    def __init__(self, config: Callable[[], Any], clock: Callable[[], float] = time.time):
        """``config``: → the Config in effect (its ``webhooks`` keys are read per call:
        a reload applies them); ``clock``: Unix seconds, for the signature."""
        self._config = config
        self._clock = clock
        self.sent = self.failed = self.dropped = 0
        self._queue: collections.deque[Call] = collections.deque()
        self._waiting = 0  # calls waiting out a backoff: they hold their place in the cap
        self._running: set[asyncio.Task] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._client: SimpleAsyncHTTPClient | None = None
        self._warn = Throttled(log)

    def send(self, url: str, secret: bytes, event: str, payload: dict[str, Any],
             answered: Answered | None = None) -> bool:
        """Queue a signed POST of ``payload`` (JSON) to ``url``; ``answered(body)``
        runs on the loop with the body of its 2xx answer. → False when the queue
        is full: the call is dropped (counted and logged)."""
        settings = self._config().webhooks
        if len(self._queue) + self._waiting >= settings.queue_max:
            self.dropped += 1
            metrics.webhook_call("dropped")
            self._warn.warning("dropped", f"webhook queue full ({settings.queue_max} calls): a {event} call to "
                                          f"{url} was dropped (webhooks.queue_max)")
            return False
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self._queue.append(Call(url, secret, event, body, secrets.token_hex(16), answered))
        self._pump()
        return True

    def stats(self) -> dict[str, int]:
        """Figures for ``chatd status``."""
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "queued": len(self._queue) + self._waiting, "running": len(self._running)}

    async def close(self) -> None:
        """Stop: calls queued or waiting to retry are given up (webhooks are not kept across a restart)."""
        for timer in self._timers:
            timer.cancel()
        self._queue.clear()
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        if self._client is not None:
            self._client.close()

    def _pump(self) -> None:
        while self._queue and len(self._running) < self._config().webhooks.concurrency:
            task = asyncio.ensure_future(self._call(self._queue.popleft()))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._pump()

    def _http(self) -> SimpleAsyncHTTPClient:
        if self._client is None:  # made on the loop, on first use
            resolver = GuardedResolver(allowance=lambda: Allowance.parse(tuple(self._config().webhooks.allowed_hosts)))
            self._client = SimpleAsyncHTTPClient(force_instance=True, resolver=resolver, max_clients=CONNECTIONS_MAX,
                                                 max_body_size=RESPONSE_MAX_BYTES)
        return self._client

    async def _call(self, call: Call) -> None:
        settings = self._config().webhooks
        call.attempt += 1
        now = int(self._clock())
        request = HTTPRequest(
            call.url, method="POST", body=call.body, follow_redirects=False,
            connect_timeout=settings.timeout_seconds, request_timeout=settings.timeout_seconds,
            headers={"Content-Type": "application/json", "User-Agent": f"chatd/{__version__}",
                     SIGNATURE_HEADER: sign(call.secret, now, call.body), EVENT_HEADER: call.event,
                     DELIVERY_HEADER: call.delivery})
        try:
            response: HTTPResponse = await self._http().fetch(request, raise_error=False)
        except RefusedAddress as e:
            return self._give_up(call, str(e))
        except Exception as e:  # no answer (timeout, refused, reset, too large): what a stranger's server
            # makes the client raise is open-ended, and none may escape
            return self._failed(call, f"{type(e).__name__}: {e}", retry=True)
        if 200 <= response.code < 300:
            self.sent += 1
            metrics.webhook_call("sent")
            if call.answered is not None:
                self._answer(call, response.body or b"")
        elif 300 <= response.code < 400:
            self._give_up(call, f"answered HTTP {response.code} (redirects are not followed)")
        else:
            self._failed(call, f"answered HTTP {response.code}", retry=response.code in RETRY_STATUSES)

    def _answer(self, call: Call, body: bytes) -> None:
        try:
            call.answered(body)
        except Exception:  # a bug in what handles answers must not stop the calls
            log.exception("handling the answer of a %s call to %s failed", call.event, call.url)

    def _failed(self, call: Call, why: str, retry: bool) -> None:
        settings = self._config().webhooks
        if not retry or call.attempt > settings.retries:
            return self._give_up(call, why)
        self._waiting += 1
        timer = asyncio.get_running_loop().call_later(backoff(call.attempt, settings.backoff_seconds),
                                                      lambda: self._retry(call, timer))
        self._timers.add(timer)

    def _retry(self, call: Call, timer: asyncio.TimerHandle) -> None:
        self._timers.discard(timer)
        self._waiting -= 1
        self._queue.append(call)
        self._pump()

    def _give_up(self, call: Call, why: str) -> None:
        self.failed += 1
        metrics.webhook_call("failed")
        self._warn.warning(f"failed {call.url}", f"{call.event} webhook to {call.url} failed after {call.attempt} "
                                                 f"tries: {why}")
