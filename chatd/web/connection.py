"""One client's WebSocket connection, after the handshake: an asyncio
protocol with a small, fixed set of fields.

The HTTP upgrade (``chatd.web.handshake``, at the request's headers) hands the
socket over. From there a ``ChatConnection`` reads frames
(``chatd.wsframe.FrameReader``), rate-limits them, hands each request to
``Chat`` — one at a time, in order — and writes prebuilt frames gathered
per loop pass (``chatd.web.outbox``) straight to the transport. No Future
or Task per frame sent, none per request answered from memory, one timer
for the pings of all connections (``chatd.web.keepalive``).

The attributes ``chatd connections`` shows: ``session``, ``remote_ip``,
``connected_at``, ``frames_in/out``, ``bytes_in/out``, ``queued_bytes()``.
``address`` is the key ``remote_ip`` is limited under (``chatd.abuse``);
the handshake counted the connection for it, and closing it releases it.

**Pipelined requests.** A client may send many requests without waiting for
the answers; each answer can be a page of ``history.page_bytes``. While more
than 1/REQUEST_HIGH_WATER_SHARE of ``limits.send_queue_bytes`` waits to be
sent to the client, the next request is not started (the transport's
high-water mark; ``resume_writing`` carries on once the client has read), so
answers reach the client as fast as it reads them and never pile up into a
slow-reader cut-off (chatd.paging explains the shares). Live frames are
queued regardless, and a client that stops reading is still cut off by them.

**The slow-reader cut-off, within one frame.** A client is cut off once more
than ``limits.send_queue_bytes`` wait unsent to it (queued here, or held by
the transport because the kernel took no more). Checking only when a pass's
frames are written would let one pass overshoot by all it queues: a committed
batch of up to ``store.batch_max`` messages, a read of thousands of pings. So
each write records how much more may be queued before the limit could be
passed (``_room``: the limit less what the transport then held; the transport
only drains until the next write), and a frame that takes the queued bytes
past it has everything written at once and the limit checked: the cut-off
comes with at most that one frame past the limit, whatever kind of frames
filled the queue. It costs one compare per frame queued; the write it causes
happens only when a pass's output outgrows what the transport left room for.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import socket
import time
from collections.abc import Awaitable
from typing import Any

from chatd import metrics
from chatd.chat import Chat
from chatd.client_refusals import refusal_of
from chatd.paging import REQUEST_HIGH_WATER_SHARE, SEND_BUFFER_SHARE
from chatd.protocol.codes import LIMIT_CONNECTION, CloseCode, Code, ProtocolError
from chatd.protocol.frames import error_frame, refusal_frame
from chatd.protocol.requests import parse
from chatd.ratelimit import TokenBucket
from chatd.session import Session
from chatd.web.outbox import Outbox
from chatd.wsframe import FrameError, FrameReader, Opcode, close_frame, frame, parse_close, text_of, wire

log = logging.getLogger("chatd.connection")
_session_ids = itertools.count(1)
CLOSE_WAIT = 5.0  # seconds from our close frame until the socket is dropped, if the client has not closed its side
INBOX_MAX = 32  # requests queued behind a slow one before we stop reading from the client
# One receive buffer for every connection: what a read brings is copied into
# that connection's FrameReader before the next read can happen.
_RECEIVED = memoryview(bytearray(65536))


class ChatConnection(asyncio.BufferedProtocol):
    __slots__ = (
        "chat", "registry", "outbox", "remote_ip", "address", "session", "connected_at", "last_heard", "pinged",
        "frames_in", "frames_out", "bytes_in", "bytes_out", "closed", "closing", "_session_over",
        "_ended", "_transport", "_reader", "_bucket", "_strikes", "_out", "_out_bytes", "_inbox", "_busy",
        "_high_water", "_limit", "_room", "_close_timer", "written_in",
    )

    def __init__(self, chat: Chat, registry: set, outbox: Outbox, remote_ip: str, address: str | None):
        self.chat = chat
        self.registry = registry
        self.outbox = outbox
        self.remote_ip = remote_ip
        self.address = address
        self.session = Session(f"s{next(_session_ids)}", self.write_wire, self.close, remote_ip)
        self.connected_at = time.time()
        self.last_heard = time.monotonic()
        self.pinged = False
        self.frames_in = self.frames_out = self.bytes_in = self.bytes_out = 0
        self.closed = False  # the socket is gone
        self.closing = False  # our close frame is sent: nothing more goes out
        self._ended = False  # our side of TCP is shut after the close frame: nothing more is read
        self._session_over = False  # chat.session_over ran: at the close's start, or when the socket went
        self._transport: asyncio.Transport | None = None
        self._reader = FrameReader(chat.config.limits.max_frame_bytes)
        limits = chat.config.limits
        self._bucket = TokenBucket(limits.rate_per_second, limits.rate_burst)
        self._strikes = 0  # rate_limited errors in a row
        self._out: list[bytes] = []  # frames waiting for this pass's write
        self._out_bytes = 0
        self.written_in = 0  # the outbox's pass in which this was last written mid-pass (chatd.web.outbox)
        self._inbox: collections.deque[str | bytes] | None = None  # requests behind a busy one
        self._busy: asyncio.Future | None = None  # the request being carried out, if it waits
        # Unsent bytes above which no request is started; fixed for the connection's life,
        # as the transport's high-water mark must agree with it.
        self._high_water = limits.send_queue_bytes // REQUEST_HIGH_WATER_SHARE
        # The cut-off's limit, fixed for the connection's life as that mark is (docs/configuration.md).
        self._limit = limits.send_queue_bytes
        # Bytes that may be queued before the limit must be checked (see "The slow-reader
        # cut-off" above): the limit less what the transport held unsent at the last write.
        self._room = self._limit
        self._close_timer: asyncio.TimerHandle | None = None  # drops a client that never answers our close

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._transport.set_write_buffer_limits(high=self._high_water)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # the kernel's share of the queue (chatd.paging)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._limit // SEND_BUFFER_SHARE)
        self.registry.add(self)
        ban = self.chat.moderation.ban_of(None, self.remote_ip)
        if ban is not None:  # accepted, told why, closed: the page can show it (docs/protocol.md, "Banned")
            self.chat.moderation.shut(self.session, ban)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _RECEIVED

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(_RECEIVED[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Bytes from the client (also the bytes Tornado read past the handshake)."""
        if self._ended:
            return  # RFC 6455 §1.4, §7.1.7: after the closing handshake or a failure, input is discarded
        self.last_heard = time.monotonic()
        self.pinged = False
        try:
            for opcode, payload in self._reader.feed(data):
                if opcode == Opcode.CLOSE:
                    self._on_close_frame(payload)
                    return
                if self.closing:
                    continue  # we said goodbye: take no new work, only the client's close (§1.4)
                if opcode == Opcode.TEXT:
                    self._receive(text_of(payload))
                elif opcode == Opcode.BINARY:
                    self._receive(payload)
                elif opcode == Opcode.PING:
                    self.write_wire(frame(Opcode.PONG, payload))  # in order with the answers before it
                    if self.closing:
                        return  # cut off: a flood of pings whose pongs its sender does not read
        except FrameError as e:
            log.info("failing %s (%s): %s", self.session.id, self.remote_ip, e.reason)
            self.fail(e.code, e.reason)
        except Exception:
            # A bug met on this connection's input: it ends with 1011, the others go on.
            log.exception("failing %s (%s) on an internal error", self.session.id, self.remote_ip)
            self.fail(CloseCode.INTERNAL_ERROR, "internal error")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = self.closing = self.session.closing = True
        if self._close_timer is not None:
            self._close_timer.cancel()  # else it keeps this connection, its transport and socket for CLOSE_WAIT
        self._out.clear()
        self._inbox = None
        self.registry.discard(self)
        self._end_session()
        self.chat.disconnect(self)

    def _end_session(self) -> None:
        if not self._session_over:
            self._session_over = True
            self.chat.session_over(self)

    def resume_writing(self) -> None:
        """The transport's buffer has drained to its low-water mark: go on with
        requests that waited for the client to read."""
        if self._busy is None and not self.closing:
            self._next()

    # Requests, one at a time and in order

    def _receive(self, message: str | bytes) -> None:
        self.frames_in += 1
        self.bytes_in += len(message)
        if self._busy is not None or self._inbox or self.queued_bytes() > self._high_water:
            if self._inbox is None:
                self._inbox = collections.deque()
            self._inbox.append(message)
            if len(self._inbox) >= INBOX_MAX:
                self._transport.pause_reading()  # let TCP push back on a client that outruns us
            return
        self._handle(message)

    def _handle(self, message: str | bytes) -> None:
        refused = self._take_token()
        if refused is None and self.chat.admission.buckets is not None:  # a cluster: the user's and address's on Redis
            self._busy = asyncio.ensure_future(self._admit(message))
            return
        self._carry_out(message, refused)

    async def _admit(self, message: str | bytes) -> None:
        """``_carry_out`` once the cluster's buckets have answered (the next
        request waits meanwhile, so requests stay in order)."""
        try:
            refused = await self.chat.admission.message_admit(self.session, self.address)
        finally:
            self._busy = None
        if self.closing:
            return
        try:
            self._carry_out(message, refused)
        except Exception:
            log.exception("failing %s (%s) on an internal error", self.session.id, self.remote_ip)
            self.fail(CloseCode.INTERNAL_ERROR, "internal error")
            return
        if self._busy is None:
            self._next()

    def _carry_out(self, message: str | bytes, refused: tuple[str, float, str] | None) -> None:
        """Answer a message the buckets refused (``refused``: why, seconds until a
        token is back, which limit), or carry it out."""
        self._strikes = 0 if refused is None else self._strikes + 1
        if refused is not None:
            self._refuse_flood(message, *refused)
            return
        req = None
        try:
            req = parse(message)
            pending = self.chat.handle(self, req)
        except Exception as e:
            self._refuse(e, req)
            return
        if pending is not None:
            self._busy = asyncio.ensure_future(self._finish(pending, req))

    async def _finish(self, pending: Awaitable[None], req: Any) -> None:
        try:
            await pending
        except Exception as e:
            self._refuse(e, req)
        finally:
            self._busy = None
            self._next()

    def _next(self) -> None:
        while self._inbox and self._busy is None:
            if self.queued_bytes() > self._high_water:
                return  # send_queued or resume_writing goes on once the client has read
            self._handle(self._inbox.popleft())
        if not self._inbox and self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def _refuse(self, error: Exception, req: Any) -> None:
        """Answer a request that failed with an ``error`` frame. Cannot fail
        itself: ``error_frame`` builds a frame that always encodes."""
        refusal = refusal_of(error, getattr(req, "cid", None))
        if refusal is not None:
            frame_ = refusal_frame(refusal)
        else:
            log.error("request failed on %s", self.session.id, exc_info=error)
            frame_ = error_frame(Code.INTERNAL, "internal error; the request was not carried out",
                                 getattr(req, "cid", None))
        self.send(frame_)

    def _take_token(self) -> tuple[str, float, str] | None:
        """Charge one message to the connection's bucket, then (in one process)
        the user's, once identified, and the address's (docs/protocol.md, "Rate
        limits"): None when each had a token, else (why not, seconds until one
        is back, which limit). On a cluster ``Admission.message_admit`` takes the last two."""
        chat, bucket = self.chat, self._bucket
        limits = chat.config.limits
        now = chat.clock()
        bucket.rate, bucket.burst = limits.rate_per_second, limits.rate_burst
        if not bucket.take(now):
            metrics.rate_limited("connection")
            return "too many messages on this connection; slow down", bucket.wait(now), LIMIT_CONNECTION
        admission = chat.admission
        if admission.buckets is not None:
            return None
        return admission.message_take(self.session, self.address, now)

    def _refuse_flood(self, message: str | bytes, why: str, retry_after: float, limit: str) -> None:
        """Answer a message over the rate limit with ``rate_limited`` (with its
        cid when it has a valid one) saying ``why`` and when to retry, whatever
        it holds; the ``limits.flood_strikes``-th such answer in a row is
        followed at once by a close with 1008."""
        try:
            cid = parse(message).cid
        except ProtocolError as e:
            cid = e.cid
        self.send(error_frame(Code.RATE_LIMITED, why, cid, retry_after, {"limit": limit}))
        if self._strikes >= self.chat.config.limits.flood_strikes:
            log.warning("closing %s (%s): kept flooding", self.session.id, self.remote_ip)
            self.close(CloseCode.POLICY_VIOLATION, "flooding")

    # Outbound

    def send(self, message: dict[str, Any]) -> None:
        self.write_wire(wire(message))

    def write_wire(self, data: bytes) -> None:
        """Queue one prebuilt frame, to be written at the end of this loop pass
        or sooner, in order either way (``chatd.web.outbox``); written at once
        when it takes the queue past the room left under the limit, so that a
        client that does not read is cut off with at most this frame past it."""
        if self.closing:
            return
        out = self._out
        out.append(data)
        size = len(data)
        queued = self._out_bytes + size
        self._out_bytes = queued
        self.frames_out += 1
        self.bytes_out += size
        if len(out) == 1:
            self.outbox.queue(self)  # it may write what is queued at once (then send_now finds nothing below)
        if queued > self._room:
            self.send_now()

    def send_queued(self) -> int:
        """Write every queued frame in one call (``send_now``), then go on with
        requests that waited for the client to read. → the number of frames written."""
        frames = len(self._out)
        if frames and not self.send_now():
            return frames
        # Also when nothing was left to write: frames written mid-pass (write_wire) may have
        # made room that no resume_writing will announce, the transport never having paused.
        if self._inbox and self._busy is None and not self.closing:
            self._next()
        return frames

    def send_now(self) -> bool:
        """Write every queued frame in one call; cut the connection off if the
        kernel has refused more than ``limits.send_queue_bytes``: its reader
        is not keeping up. → False if it was cut off (or is gone)."""
        out = self._out
        if not out:  # gone meanwhile (connection_lost), or closed (close wrote it)
            return False
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()  # the same list from pass to pass: one fewer object per connection and pass
        self._out_bytes = 0
        transport = self._transport
        if transport is None or self.closed:
            return False
        transport.write(data)
        # Once per member of a room for each message under light load: when the kernel took
        # everything (the usual case) the room is the whole limit.
        unread = transport.get_write_buffer_size()
        room = self._limit - unread
        if room < 0:
            self._cut_off(unread)
            return False
        self._room = room
        return True

    def _cut_off(self, unread: int) -> None:
        """Drop a client that leaves ``unread`` bytes, more than the limit, unread: from
        now on nothing is queued, written, read or carried out for it."""
        log.warning("cutting off %s (%s): %d bytes unread", self.session.id, self.remote_ip, unread)
        metrics.slow_reader_cut_off()
        # The socket goes at once, but connection_lost comes a pass later: meanwhile the rest of
        # this pass's frames (a batch) must not reach the aborted transport (asyncio logs each).
        self.closing = self._ended = True
        self._inbox = None
        self.abort()

    def has_inbox(self) -> bool:
        """Whether requests wait to be carried out (``chatd.web.outbox`` writes such a connection last)."""
        return bool(self._inbox)

    def _write(self, data: bytes) -> None:
        """Write a control frame (ping, close) past the queue, taking it from the room."""
        if self._transport is not None and not self.closed:
            self._transport.write(data)
            self._room -= len(data)

    def queued_bytes(self) -> int:
        """Bytes accepted for this client that the kernel has not taken yet."""
        if self._transport is None or self.closed:
            return self._out_bytes
        return self._out_bytes + self._transport.get_write_buffer_size()

    def ping(self) -> None:
        self._write(frame(Opcode.PING, b""))
        self.pinged = True

    # Closing

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake (RFC 6455 §7.1.2): send what was queued,
        then a close frame; from then on take no new request and wait for the
        client's close frame. The socket is dropped if the connection has not
        ended within CLOSE_WAIT seconds."""
        if self.closing:
            return
        self.closing = self.session.closing = True  # first: no request waiting in the inbox is started now
        self.send_queued()  # what was queued before the close frame goes before it
        self._inbox = None  # no answer could reach the client now: carry out nothing more it asked for
        self._write(close_frame(code, reason))
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()  # (paused by a full inbox) the client's close must be seen
        loop = asyncio.get_running_loop()
        self._close_timer = loop.call_later(CLOSE_WAIT, self.abort)
        # Its session ends now, not once the client answers: no longer online, in no room. At the
        # next pass, not here: a cut-off comes in the middle of a fan-out over a room's sessions.
        loop.call_soon(self._end_session)

    def fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send a close frame with
        ``code`` unless one went out already, and end the connection at once
        without reading anything more, not even the client's answering close."""
        self.close(code, reason)
        self._end()

    def _on_close_frame(self, payload: bytes) -> None:
        """The client's close frame, valid (the reader checked it): answer it
        if we had not sent ours, echoing its code and reason, 1000 when it gave
        none (§5.5.1: 1005 is never sent); the handshake is then complete."""
        if not self.closing:
            code, reason = parse_close(payload)
            self.close(CloseCode.NORMAL if code is None else code, reason)
        self._end()

    def _end(self) -> None:
        """Shut our side of TCP right behind the close frame (the server closes
        first, §7.1.1) and discard whatever the client still sends (§1.4); the
        socket goes when the client closes its side, which it does on seeing
        the end of the stream, or at the latest after CLOSE_WAIT seconds.

        A half-close rather than a close: closing a socket that holds unread
        bytes (the rest of an oversized message, a frame sent after a close)
        makes the kernel answer with a reset, which may destroy the close
        frame before the client has read it."""
        if self._ended:
            return
        self._ended = True
        if self._transport is not None and not self.closed:
            try:
                self._transport.write_eof()  # sent once the close frame is written
            except OSError:  # the client reset the connection first (a closed tab): nothing is left to shut
                self._transport.abort()

    def abort(self) -> None:
        """Drop the connection at once, without a close handshake."""
        if self._transport is not None and not self.closed:
            self._transport.abort()
