"""Tornado's HTTP server, knowing which accepted connections a client still
waits on, so that a restart answers every client it accepted instead of
dropping some.

    http = ChatHTTPServer(app, chunk_size=4096, handshakes=app.handshakes)
    http.owing()            # connections whose client waits for an answer

A connection is **owing** from its accept until its first request is answered,
and again while a later request is under way (its headers have arrived). One
that waits between requests, kept alive after an answer, is **idle**: closing
it is the ordinary keep-alive race that clients retry (RFC 9112 §9.3.1, §9.6).
Closing an owing one is not: its client has sent, or is about to send, its
request, and sees the connection end without an answer — a WebSocket that never
opens, a 502 from nginx. During ``chatd restart`` new connections queue in the
kernel for the successor, but the ones this process accepted only this process
can answer; ``Server.stop`` waits for them (``owing() == 0``) before closing
the rest.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tornado import httputil
from tornado.httpserver import HTTPServer
from tornado.netutil import add_accept_handler

from chatd.web import timeouts
from chatd.web.arrivals import Arrivals
from chatd.web.early import has_body
from chatd.web.handshake import Handshakes
from chatd.web.timeouts import BodyWatch


class _Requests:
    """What one connection has carried: requests started, and whether the
    latest one's headers have arrived (it is under way)."""

    __slots__ = ("started", "under_way")

    def __init__(self) -> None:
        self.started = 0
        self.under_way = False


class _Watched(httputil.HTTPMessageDelegate):
    """Tornado's delegate for one request, passed through; notes when the request
    arrives, gives a WebSocket handshake to ``handshakes`` when it takes it, and
    watches that a body keeps coming (``chatd.web.timeouts``)."""

    __slots__ = ("_delegate", "_requests", "_connection", "_handshakes", "_body")

    def __init__(self, delegate: httputil.HTTPMessageDelegate, requests: _Requests,
                 connection: httputil.HTTPConnection, handshakes: Handshakes | None):
        self._delegate = delegate
        self._requests = requests
        self._connection = connection
        self._handshakes = handshakes
        self._body: BodyWatch | None = None

    def headers_received(self, start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
                         headers: httputil.HTTPHeaders) -> Awaitable[None] | None:
        self._requests.under_way = True
        handshakes = self._handshakes
        if handshakes is not None and handshakes.takes(start_line, headers):  # type: ignore[arg-type]
            # Before routing and a handler: the handshake detaches the connection,
            # or (a refusal) hands the request on to Tornado through refuse().
            return handshakes.take(self._connection, headers,
                                   lambda: self._delegate.headers_received(start_line, headers))
        if not has_body(headers):
            return self._delegate.headers_received(start_line, headers)
        self._body = BodyWatch(self._connection)
        return self._body.waiting_on(self._delegate.headers_received(start_line, headers))

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._body is None:
            return self._delegate.data_received(chunk)
        self._body.progress()
        return self._body.waiting_on(self._delegate.data_received(chunk))

    def finish(self) -> None:
        self._stop_watch()
        self._delegate.finish()

    def on_connection_close(self) -> None:
        self._stop_watch()
        self._delegate.on_connection_close()

    def _stop_watch(self) -> None:
        if self._body is not None:
            self._body.stop()
            self._body = None


class ChatHTTPServer(HTTPServer):
    """``tornado.httpserver.HTTPServer`` plus ``owing()``; with ``handshakes``,
    ``/ws`` handshakes are answered at their headers (``chatd.web.handshake``)."""

    def initialize(self, *args: Any, handshakes: Handshakes | None = None, **kwargs: Any) -> None:
        """HTTPServer's own arguments, and the application's ``Handshakes``. A request's head
        must come within ``chatd.web.timeouts.HEAD_TIMEOUT`` unless ``idle_connection_timeout``
        says otherwise (Tornado's default, an hour, lets a silent client hold its connection)."""
        kwargs.setdefault("idle_connection_timeout", timeouts.HEAD_TIMEOUT)
        super().initialize(*args, **kwargs)
        self._connections_seen: dict[object, _Requests] = {}
        self._handshakes = handshakes
        self.arrivals: Arrivals | None = None
        self._listening: list[tuple[socket.socket, Callable[[], None]]] = []  # (socket, its accept handler's remover)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Accept on ``sockets``: with ``handshakes`` (and no TLS), through
        ``chatd.web.arrivals``, which gives Tornado all but the handshakes it answers."""
        if self._handshakes is None or self.ssl_options is not None:
            super().add_sockets(sockets)
            return
        if self.arrivals is None:
            self.arrivals = Arrivals(self.handle_stream, {"max_buffer_size": self.max_buffer_size,
                                                           "read_chunk_size": self.read_chunk_size},
                                      self._handshakes)
        for sock in sockets:
            self._listening.append((sock, add_accept_handler(sock, self.arrivals.accepted)))

    def stop(self) -> None:
        """Stop accepting (``TCPServer.stop``); connections accepted go on."""
        listening, self._listening = self._listening, []
        for sock, remove in listening:
            remove()
            sock.close()
        super().stop()

    async def close_all_connections(self) -> None:
        if self.arrivals is not None:
            self.arrivals.close()
        await super().close_all_connections()

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection,
                      ) -> httputil.HTTPMessageDelegate:
        # Tornado calls this once per request a connection carries, before the request arrives.
        requests = self._connections_seen.get(server_conn)
        if requests is None:
            requests = self._connections_seen[server_conn] = _Requests()
        requests.started += 1
        requests.under_way = False
        return _Watched(super().start_request(server_conn, request_conn), requests, request_conn, self._handshakes)

    def on_close(self, server_conn: object) -> None:
        self._connections_seen.pop(server_conn, None)
        super().on_close(server_conn)

    def owing(self) -> int:
        """Connections whose client waits for an answer: none answered yet, or
        a request under way. A WebSocket handshake counts until its socket
        leaves Tornado (``chatd.web.handshake`` tracks it from there); one
        accepted but not yet Tornado's counts too (``Arrivals.pending``)."""
        pending = self.arrivals.pending() if self.arrivals is not None else 0
        return pending + sum(1 for r in self._connections_seen.values() if r.under_way or r.started == 1)
