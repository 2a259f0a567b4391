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

Before the 101, the client's address must be allowed another connection
(``chatd.abuse``: open connections and new ones per second, per address);
if not, the answer is **429 Too Many Requests** with ``Retry-After``
(RFC 6585 §4): refused before the upgrade, a flood of handshakes costs no
WebSocket state at all.
"""

from __future__ import annotations

import asyncio
import logging

from tornado.iostream import IOStream, StreamClosedError
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

    def prepare(self) -> None:
        """The Origin rule for every handshake that names an origin. Tornado 6.6
        skips ``check_origin`` when ``Sec-Fetch-Site`` says same-origin; a header
        any non-browser client can write must not overrule the Origin."""
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            self.set_status(403)
            self.finish("Cross origin websockets not allowed")

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
        chat, remote_ip = handler.chat, handler.request.remote_ip
        address = chat.admission.addresses.key(remote_ip)
        refusal = await chat.admission.connect(address)
        if refusal is not None:
            handler.set_status(429)
            handler.set_header("Retry-After", str(refusal.seconds))
            handler.set_header("Content-Type", "text/plain; charset=utf-8")
            handler.finish(refusal.message + "\n")
            return
        handler.clear_header("Content-Type")
        handler.set_status(101)
        handler.set_header("Upgrade", "websocket")
        handler.set_header("Connection", "Upgrade")
        handler.set_header("Sec-WebSocket-Accept", WebSocketProtocol13.compute_accept_value(key))
        # From here the address's count is this connection's: ChatConnection.connection_lost
        # gives it back once the connection was made, the finally clause if it never is.
        connection = ChatConnection(chat, handler.registry, handler.outbox, remote_ip, address)
        early = b""
        try:
            try:
                await handler.finish()  # the 101 is written out before the socket changes hands
            except StreamClosedError:
                return  # the client left before its 101 went out; Tornado has closed the socket
            stream = handler.detach()
            if stream.closed():
                return  # it left while the 101 went out (Tornado saw the reset first)
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
            if connection not in handler.registry and not connection.closed:
                chat.admission.disconnect(address)  # never made: connection_lost will not come
            # Tornado's WebSocketHandler keeps its handler <-> ui cycle after a 101 until the
            # WebSocket closes, which a socket taken over never does in Tornado's eyes: broken
            # here, the handshake's objects (handler, request, connection, stream, task: ~60)
            # go by reference counting, not in the collector's full collections (measured: a
            # 3,000-client storm's run left ~436,000 such objects to them).
            handler.ui = None
        if early:
            connection.data_received(early)

    def on_connection_close(self) -> None:
        """Tornado's handler calls this if the client leaves mid-handshake."""


def _take_socket(stream: IOStream) -> bytes:
    """Stop Tornado watching the stream's socket; return what it had read
    past the HTTP request (a client may send frames before seeing the 101).

    Tornado has no public way to do this: it reads IOStream's private
    ``_read_buffer``, ``_read_buffer_size`` and ``_state``. pyproject.toml
    bounds Tornado to the versions tests/test_upgrade.py passed on, and that
    test names whichever attribute a new version moves."""
    early = bytes(stream._read_buffer[: stream._read_buffer_size])
    if stream._state is not None:
        stream.io_loop.remove_handler(stream.socket)
        stream._state = None
    return early
