"""The ``/ws`` handshake taken as soon as its headers are read, and the
socket's hand-over to a ``ChatConnection``.

    handshakes = Handshakes(chat, registry, handing, outbox)
    handshakes.takes(start_line, headers)         # a handshake chatd would answer 101?
    await handshakes.take(request_conn, headers, refuse)
    await handshakes.open(sock, key, remote_ip, address)  # chatd.web.arrivals: one taken at the accept

Tornado's way to a 101 costs more than the rest of a client's arrival does:
an ``HTTPServerRequest``, routing, a ``WebSocketHandler`` and a Task to run
it, a close callback that registers the socket with epoll, ``finish()``
formatting the reply header by header, and unregistering the socket again
before asyncio registers it for the ``ChatConnection``. ``ChatHTTPServer``
(``chatd.web.httpserver``) therefore asks ``takes`` at ``headers_received``,
before any of that: a request Tornado and ``ChatUpgrade`` would answer with
101 is answered here, with the same bytes (the ``Date`` aside). Everything
else — another method, a bad or missing header, a foreign Origin, an HTTP/1.0
request, one with a body or a query string — goes the way it always went, so every refusal
keeps its status, body and log line (``chatd.web.upgrade``).

What ``takes`` accepts is what ``ChatUpgrade`` accepts: a handshake
``chatd.web.wsrules`` refuses nothing (RFC 6455 §4.2.1: ``Upgrade:
websocket``, ``upgrade`` among the ``Connection`` tokens,
``Sec-WebSocket-Version: 13``, a ``Sec-WebSocket-Key`` that is the base64 of
16 bytes; an ``Origin`` only if ``chatd.origins`` allows it), with a ``Host``
as Tornado's request takes it (no comma, no character outside RFC 3986's). ``Sec-Fetch-Site``
is not consulted, with an Origin or without (see ``ChatUpgrade.prepare``).

A handshake that passes is counted for its address (``chatd.abuse``) here; if
the address is over a limit, the refusal goes with the request to Tornado,
whose ``ChatUpgrade`` answers it (429, Retry-After) without counting again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import weakref
from collections.abc import Awaitable, Callable

from tornado import httputil
from tornado.iostream import IOStream, StreamClosedError
from tornado.log import access_log
from tornado.websocket import WebSocketProtocol13

from chatd.abuse import Refusal
from chatd.chat import Chat
from chatd.proxies import request_address
from chatd.web.connection import ChatConnection
from chatd.web.headers import SECURITY_HEADERS
from chatd.web.outbox import Outbox
from chatd.web.pending import Pending
from chatd.web.wshead import Fields
from chatd.web.wsrules import handshake_refusal

PATH = "/ws"
# Host values Tornado's request takes (a subset of its RFC 3986 pattern, no comma: several
# Host headers): any other goes Tornado's way, which answers 400 to what it refuses.
_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:]+")
# The 101 as Tornado writes it for ChatUpgrade: its header order and its spelling of the names.
_BEFORE_DATE = f"HTTP/1.1 101 Switching Protocols\r\nServer: {SECURITY_HEADERS['Server']}\r\nDate: ".encode()
_AFTER_DATE = "".join(
    ["\r\n", *(f"{name}: {value}\r\n" for name, value in SECURITY_HEADERS.items() if name != "Server"),
     "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-Websocket-Accept: "]).encode()
_END = b"\r\n\r\n"


class Handshakes:
    """What every ``/ws`` handshake shares: the server's ``Chat``, the
    ``registry`` of open connections, the set of connections ``handing`` over
    (between the 101 and the registry), the ``outbox``; and the refusals on
    their way to ``ChatUpgrade``."""

    def __init__(self, chat: Chat, registry: set, handing: set, outbox: Outbox):
        self.chat = chat
        self.registry = registry
        self.handing = handing
        self.outbox = outbox
        self.pending = Pending(chat)  # the connections not yet WebSockets, per address
        # request connection -> the refusal ChatUpgrade is to answer it with (weak: a client
        # leaving before Tornado routes its request takes its entry along)
        self.refused: weakref.WeakKeyDictionary[object, Refusal] = weakref.WeakKeyDictionary()
        # IOStream -> the refusal chatd.web.arrivals counted before handing its socket to
        # Tornado, which take() answers instead of counting the address again
        self.prejudged: weakref.WeakKeyDictionary[IOStream, Refusal] = weakref.WeakKeyDictionary()
        self._date = (0, b"")  # (unix second, its Date header value)

    def takes(self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders) -> bool:
        """Whether this request is a handshake ``take`` answers (see the module's docstring)."""
        if start_line.method != "GET" or start_line.version != "HTTP/1.1" or start_line.path != PATH:
            return False  # a query string too: Tornado refuses some (400) that it parses
        return self.accepts(headers)

    def accepts(self, headers: httputil.HTTPHeaders | Fields) -> bool:
        """Whether the headers of a ``GET /ws HTTP/1.1`` are a handshake's ``take`` answers."""
        # Expect (100-continue) too: Tornado answers "100 (Continue)" before its 101.
        if ("Content-Length" in headers or "Transfer-Encoding" in headers or "Expect" in headers
                or not _HOST.fullmatch(headers.get("Host") or "")):
            return False
        return handshake_refusal(headers, self.chat.config.allowed_origins) is None

    async def take(self, request_conn: httputil.HTTPConnection, headers: httputil.HTTPHeaders,
                   refuse: Callable[[], Awaitable[None] | None]) -> None:
        """Answer a handshake ``takes`` accepted: 101 and the hand-over, or, when its
        address is over a limit, ``refuse()`` (Tornado's way, the refusal noted for ``ChatUpgrade``)."""
        started = time.time()
        remote_ip = request_address(request_conn.context.remote_ip or "", headers,  # type: ignore[attr-defined]
                                    self.chat.config.trusted_proxies)
        address = self.chat.admission.addresses.key(remote_ip)
        refusal = self.prejudged.pop(request_conn.stream, None) if self.prejudged else None  # type: ignore[attr-defined]
        if refusal is None:
            refusal = await self.chat.admission.connect(address)
        if refusal is not None:
            self.refused[request_conn] = refusal
            pending = refuse()
            if pending is not None:
                await pending
            return
        stream = request_conn.detach()  # type: ignore[attr-defined]
        await self.hand_over(stream, headers["Sec-WebSocket-Key"], remote_ip, address)
        log_switched(remote_ip, started)

    async def open(self, sock: socket.socket, key: str, remote_ip: str, address: str | None) -> None:
        """Write the 101 for ``key`` on ``sock`` (a socket no one watches, its
        request head read) and give it to a new ``ChatConnection``; the
        address's count as ``hand_over``'s."""
        connection = ChatConnection(self.chat, self.registry, self.outbox, remote_ip, address)
        try:
            reply = self._switching(key)
            try:
                sent = sock.send(reply, socket.MSG_DONTWAIT)  # an empty send buffer: all of it, always
                if sent < len(reply):
                    sock.setblocking(False)
                    await asyncio.get_running_loop().sock_sendall(sock, reply[sent:])
            except OSError:
                sock.close()  # the client left before its 101 went out
                return
            await self._connect(connection, sock)
        finally:
            self._made_or_not(connection, address, sock)

    async def hand_over(self, stream: IOStream, key: str, remote_ip: str, address: str | None) -> None:
        """Write the 101 for ``key`` on ``stream`` (detached from Tornado's HTTP
        machinery) and give its socket to a new ``ChatConnection``. The address's
        count (``address``) is that connection's from here: ``connection_lost``
        gives it back once the connection was made, this method if it never is."""
        connection = ChatConnection(self.chat, self.registry, self.outbox, remote_ip, address)
        early = b""
        sock = stream.socket  # None once Tornado closes it
        try:
            try:
                await stream.write(self._switching(key))  # out before the socket changes hands
            except StreamClosedError:
                return  # the client left before its 101 went out; Tornado has closed the socket
            if stream.closed():
                return  # it left while the 101 went out (Tornado saw the reset first)
            early = take_socket(stream)
            if not await self._connect(connection, stream.socket):
                return
        finally:
            self._made_or_not(connection, address, sock)
        if early:
            connection.data_received(early)

    async def _connect(self, connection: ChatConnection, sock: socket.socket) -> bool:
        """Give ``sock``, its 101 sent, to ``connection`` (asyncio's transport);
        False if the client left first."""
        # Neither Tornado's nor yet in the registry: a stopping server must know
        # it is here, or it would exit under a client that got its 101.
        self.handing.add(connection)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: connection, sock)
        except OSError:
            sock.close()  # gone during the handshake
            return False
        return True

    def _made_or_not(self, connection: ChatConnection, address: str | None, sock: socket.socket) -> None:
        self.handing.discard(connection)  # in the registry now (connection_made), or gone
        self.pending.settle(sock)  # a WebSocket's now, or closed: counted as such, or not at all
        if connection not in self.registry and not connection.closed:
            self.chat.admission.disconnect(address)  # never made: connection_lost will not come

    def _switching(self, key: str) -> bytes:
        """The 101 answering ``Sec-WebSocket-Key: key``."""
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, httputil.format_timestamp(now).encode())
        accept = WebSocketProtocol13.compute_accept_value(key).encode()
        return b"".join((_BEFORE_DATE, self._date[1], _AFTER_DATE, accept, _END))


def log_switched(remote_ip: str, started: float) -> None:
    """The access log's line for a 101 chatd wrote (``started``: time.time() at the request)."""
    if access_log.isEnabledFor(logging.INFO):  # as Tornado logs a request it answered (debug level)
        access_log.info("101 GET %s (%s) %.2fms", PATH, remote_ip, 1000 * (time.time() - started))


def take_socket(stream: IOStream) -> bytes:
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
