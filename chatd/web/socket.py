"""The WebSocket endpoint: one ``ChatSocket`` per browser tab or client.

It owns what is about the connection itself — parsing, rate limits, the
outbound byte cap, counters for ``chatd connections`` — and hands each
valid request to ``Chat``. Frames go out as prebuilt wire bytes written
straight to the stream (see ``chatd.wsframe``).
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from chatd.chat import Chat
from chatd.hub import Session
from chatd.protocol import CloseCode, Code, ProtocolError, error_frame, parse
from chatd.ratelimit import TokenBucket
from chatd.wsframe import wire

log = logging.getLogger("chatd.socket")
_session_ids = itertools.count(1)


class ChatSocket(WebSocketHandler):
    """Tornado handler for ``/ws``; ``initialize`` gets the server's ``Chat``
    and ``registry`` (a set of open sockets, closed by hand on shutdown)."""

    def initialize(self, chat: Chat, registry: set) -> None:
        self.chat = chat
        self.registry = registry
        self.closed = False
        self.session = Session(f"s{next(_session_ids)}", self.write_wire)
        self.connected_at = time.time()
        self.frames_in = self.frames_out = self.bytes_in = self.bytes_out = 0
        self._strikes = 0  # rate_limited errors in a row
        limits = chat.config.limits
        self._bucket = TokenBucket(limits.rate_per_second, limits.rate_burst)

    def open(self) -> None:
        self.registry.add(self)
        self.set_nodelay(True)

    # Inbound

    async def on_message(self, message: str | bytes) -> None:
        self.frames_in += 1
        self.bytes_in += len(message)
        allowed = self._take_token()
        req = None
        try:
            req = parse(message)
            if not allowed:
                raise ProtocolError(Code.RATE_LIMITED, "too many frames; slow down", req.cid)
            await self.chat.handle(self, req)
        except ProtocolError as e:
            # Checks deep in the chat logic do not know the cid; the request does.
            cid = e.cid if e.cid is not None or req is None else req.cid
            self.send(error_frame(e.code, e.message, cid))
        except Exception:
            log.exception("request failed on %s", self.session.id)
            self.send(error_frame(Code.INTERNAL, "internal error; the request was not carried out", req and req.cid))

    def _take_token(self) -> bool:
        """Charge one frame to the connection's and the user's buckets; close
        the connection after ``flood_strikes`` refusals in a row."""
        limits = self.chat.config.limits
        self._bucket.rate, self._bucket.burst = limits.rate_per_second, limits.rate_burst
        allowed = self._bucket.take()
        user = self.session.user
        if allowed and user is not None:
            allowed = self.chat.user_bucket(user.id).take()
        if allowed:
            self._strikes = 0
            return True
        self._strikes += 1
        if self._strikes >= limits.flood_strikes:
            log.warning("closing %s (%s): kept flooding", self.session.id, self.remote_ip)
            self.close(CloseCode.POLICY_VIOLATION, "flooding")
        return False

    def on_close(self) -> None:
        self.closed = True
        self.registry.discard(self)
        self.chat.disconnect(self)

    # Outbound

    def send(self, frame: dict[str, Any]) -> None:
        self.write_wire(wire(frame))

    def write_wire(self, data: bytes) -> None:
        """Queue one prebuilt frame; cut the connection off if its reader is
        so far behind that the queue passes ``limits.send_queue_bytes``."""
        if self.closed or self.ws_connection is None:
            return
        stream = self.ws_connection.stream
        if self.queued_bytes() + len(data) > self.chat.config.limits.send_queue_bytes:
            log.warning("cutting off %s (%s): %d bytes unread", self.session.id, self.remote_ip, self.queued_bytes())
            self.abort()
            return
        try:
            stream.write(data)
        except (StreamClosedError, WebSocketClosedError):
            return
        except Exception:  # never let one connection break a broadcast to the others
            log.exception("write to %s failed", self.session.id)
            self.abort()
            return
        self.frames_out += 1
        self.bytes_out += len(data)

    def queued_bytes(self) -> int:
        """Bytes written but not yet taken by the kernel (Tornado keeps no public count)."""
        stream = self.ws_connection.stream if self.ws_connection else None
        return len(stream._write_buffer) if stream is not None else 0

    def abort(self) -> None:
        """Drop the connection at once, without a close handshake."""
        if self.ws_connection is not None:
            self.ws_connection.stream.close()  # Tornado then calls on_close

    @property
    def remote_ip(self) -> str:
        return self.request.remote_ip
