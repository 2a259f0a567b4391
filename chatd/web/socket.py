"""The WebSocket endpoint: one ``ChatSocket`` per browser tab or client.

It owns what is about the connection itself — parsing, rate limits, the
outbound byte cap, counters for ``chatd connections`` — and hands each
valid request to ``Chat``.

Frames go out as prebuilt wire bytes (``chatd.wsframe``), gathered per loop
pass (``chatd.web.outbox``) and written straight to the socket while
Tornado has nothing queued for it: one ``send()``, no Future, no callback.
Only what the kernel does not take goes through Tornado's IOStream.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from chatd.chat import Chat
from chatd.hub import Session
from chatd.protocol import CloseCode, Code, ProtocolError, error_frame, parse
from chatd.ratelimit import TokenBucket
from chatd.web.outbox import Outbox
from chatd.wsframe import wire

log = logging.getLogger("chatd.socket")
_session_ids = itertools.count(1)


class ChatSocket(WebSocketHandler):
    """Tornado handler for ``/ws``; ``initialize`` gets the server's ``Chat``,
    ``registry`` (a set of open sockets, closed by hand on shutdown) and
    ``outbox``."""

    def initialize(self, chat: Chat, registry: set, outbox: Outbox) -> None:
        self.chat = chat
        self.registry = registry
        self.outbox = outbox
        self.closed = False
        self._out: list[bytes] = []  # frames waiting for this pass's flush
        self._out_bytes = 0
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
        """Queue one prebuilt frame, to be written at the end of this loop pass."""
        if self.closed or self.ws_connection is None or self.ws_connection.stream.closed():
            return
        if not self._out:
            self.outbox.queue(self)
        self._out.append(data)
        self._out_bytes += len(data)
        self.frames_out += 1
        self.bytes_out += len(data)

    def send_queued(self) -> None:
        """Write every queued frame in one call (RequestHandler.flush is Tornado's);
        cut the connection off if the kernel has refused more than
        ``limits.send_queue_bytes``: its reader is not keeping up."""
        out = self._out
        if not out or self.ws_connection is None:
            return
        self._out, self._out_bytes = [], 0
        data = out[0] if len(out) == 1 else b"".join(out)
        stream = self.ws_connection.stream
        try:
            if type(stream) is IOStream and not stream._write_buffer and not stream.closed():
                sent = _send_some(stream, data)
                if sent == len(data):
                    return
                data = data[sent:]
            stream.write(data)
        except (StreamClosedError, WebSocketClosedError):
            return
        except Exception:  # never let one connection break a broadcast to the others
            log.exception("write to %s failed", self.session.id)
            self.abort()
            return
        unread = self.queued_bytes()
        if unread > self.chat.config.limits.send_queue_bytes:
            log.warning("cutting off %s (%s): %d bytes unread", self.session.id, self.remote_ip, unread)
            self.abort()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.send_queued()  # what was queued before the close frame goes before it
        super().close(code, reason)

    def queued_bytes(self) -> int:
        """Bytes accepted for this client that the kernel has not taken yet
        (Tornado keeps no public count of its own buffer)."""
        stream = self.ws_connection.stream if self.ws_connection else None
        if stream is None or stream.closed():
            return self._out_bytes
        return self._out_bytes + len(stream._write_buffer)

    def abort(self) -> None:
        """Drop the connection at once, without a close handshake."""
        if self.ws_connection is not None:
            self.ws_connection.stream.close()  # Tornado then calls on_close

    @property
    def remote_ip(self) -> str:
        return self.request.remote_ip


def _send_some(stream: IOStream, data: bytes) -> int:
    """Bytes of ``data`` the kernel took at once (0 if its buffer is full)."""
    try:
        return stream.socket.send(data)
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError:  # reset or broken pipe: the peer is gone; Tornado notices on its next read
        return len(data)
