"""The ``/ws`` endpoint: Tornado checks the WebSocket handshake, then the
socket leaves Tornado for a lean ``ChatConnection``.

Tornado's ``WebSocketHandler`` validates the request (Upgrade and
Connection headers, the version, and the Origin through our
``check_origin``: ``chatd.origins``); its
``get_websocket_protocol`` hook is where we take over: answer 101, detach
the stream from Tornado's HTTP machinery and give the socket to asyncio.
Tornado's per-connection objects (request, headers, handler, IOStream,
WebSocketProtocol, ping timer) are then freed: a connected client costs a
transport and one ``ChatConnection``.
"""

from __future__ import annotations

import asyncio
import logging

from tornado.iostream import IOStream
from tornado.websocket import WebSocketHandler, WebSocketProtocol13

from chatd.chat import Chat
from chatd.origins import for_log, origin_allowed
from chatd.web.connection import ChatConnection
from chatd.web.headers import SecurityHeaders
from chatd.web.outbox import Outbox

log = logging.getLogger("chatd.upgrade")


class ChatUpgrade(SecurityHeaders, WebSocketHandler):
    """``initialize`` gets the server's ``Chat``, the ``registry`` of open
    connections (closed by hand on shutdown), the set of sockets ``handing``
    from Tornado to their connection, and the shared ``outbox``."""

    def initialize(self, chat: Chat, registry: set, handing: set, outbox: Outbox) -> None:
        self.chat = chat
        self.registry = registry
        self.handing = handing
        self.outbox = outbox

    def check_origin(self, origin: str) -> bool:
        """Tornado calls this when the handshake has an Origin header; False → 403."""
        if origin_allowed(origin, self.request.headers.get("Host"), self.chat.config.allowed_origins):
            return True
        log.info("refused a WebSocket from %s: origin %s is not the page's own host nor in allowed_origins",
                 self.request.remote_ip, for_log(origin))
        return False

    def get_websocket_protocol(self) -> _TakeOver | None:
        if self.request.headers.get("Sec-WebSocket-Version") != "13":
            return None  # Tornado answers 426 Upgrade Required
        return _TakeOver()


class _TakeOver:
    """Stands in for Tornado's WebSocketProtocol for the length of the handshake."""

    async def accept_connection(self, handler: ChatUpgrade) -> None:
        key = handler.request.headers.get("Sec-WebSocket-Key")
        if not key:
            handler.set_status(400)
            handler.finish("Sec-WebSocket-Key is missing")
            return
        handler.clear_header("Content-Type")
        handler.set_status(101)
        handler.set_header("Upgrade", "websocket")
        handler.set_header("Connection", "Upgrade")
        handler.set_header("Sec-WebSocket-Accept", WebSocketProtocol13.compute_accept_value(key))
        await handler.finish()  # the 101 is written out before the socket changes hands
        stream = handler.detach()
        connection = ChatConnection(handler.chat, handler.registry, handler.outbox, handler.request.remote_ip)
        early = _take_socket(stream)
        # Neither Tornado's nor yet in the registry: a stopping server must know
        # it is here, or it would exit under a client that got its 101.
        handler.handing.add(connection)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: connection, stream.socket)
        except OSError:
            stream.socket.close()  # gone during the handshake
            return
        finally:
            handler.handing.discard(connection)  # in the registry now (connection_made), or gone
        if early:
            connection.data_received(early)

    def on_connection_close(self) -> None:
        """Tornado's handler calls this if the client leaves mid-handshake."""


def _take_socket(stream: IOStream) -> bytes:
    """Stop Tornado watching the stream's socket; return what it had read
    past the HTTP request (a client may send frames before seeing the 101)."""
    early = bytes(stream._read_buffer[: stream._read_buffer_size])
    if stream._state is not None:
        stream.io_loop.remove_handler(stream.socket)
        stream._state = None
    return early
