"""New connections, looked at before Tornado gets them: a valid ``/ws``
handshake is answered here, everything else goes to Tornado untouched.

    arrivals = Arrivals(http.handle_stream, {"max_buffer_size": ..., "read_chunk_size": ...}, handshakes)
    remove = add_accept_handler(listening_socket, arrivals.accepted)
    arrivals.pending()                         # sockets looked at, not yet anyone's
    arrivals.close()                           # at stop: those still waiting are closed

Through Tornado, each connection costs an ``IOStream``, an
``HTTP1ServerConnection`` and its Task, a header timeout, a read buffer and
the header parsing, before ``chatd.web.handshake`` answers at the headers and
detaches the socket again (~60 µs of the ~80 µs a storm's handshake took).
Here the socket's first bytes are peeked (``MSG_PEEK``, nothing consumed):
when they are a whole handshake in the strict form ``chatd.web.wshead``
parses, and ``Handshakes.accepts`` it (the checks ``takes`` makes at the
headers), exactly the head's bytes are read and the socket is answered 101
and given to its ``ChatConnection``. In every other case — another request,
a refusal, a head not all there after one wait, an error — the socket goes to
``HTTPServer.handle_stream`` as Tornado's own accept would give it, its bytes
unread, so every answer, log line and timeout stays Tornado's. A refusal for
the address (``chatd.abuse``) counted here is handed along
(``Handshakes.prejudged``) so that it is not counted twice.

A socket with no bytes yet is waited for once (the loop's reader: about half
of a storm's, looking a pass later finds no more); one that stays silent
``PEEK_WAIT`` seconds (a quarter more at most) goes to Tornado and its
timeouts (``chatd.web.timeouts``), so a silent client or a slowloris holds
nothing here for longer.

Before any of that, the connection counts for its address (``chatd.web.pending``)
until it is closed or a ``ChatConnection``'s; over the address's cap it is
answered 429 and closed at once.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from itertools import takewhile

from tornado.iostream import IOStream
from tornado.log import app_log

from chatd.abuse import Refusal
from chatd.proxies import request_address
from chatd.web.handshake import Handshakes, log_switched
from chatd.web.headlimit import HeadLimitStream
from chatd.web.pending import refuse
from chatd.web.wshead import INCOMPLETE, MAX_HEAD, Head, parse_head

PEEK_WAIT = 2.0  # seconds a connection may stay silent here before Tornado gets it
SWEEP_EVERY = PEEK_WAIT / 4  # seconds: so a silent one goes to Tornado within 1.25 PEEK_WAIT
_PEEK = socket.MSG_PEEK | socket.MSG_DONTWAIT
_INET = (socket.AF_INET, socket.AF_INET6)


class Arrivals:
    """``handle_stream``: where a socket not taken here goes (Tornado's
    ``HTTPServer.handle_stream``), ``stream_options``: the ``IOStream``
    arguments Tornado's accept would give it."""

    def __init__(self, handle_stream: Callable[[IOStream, tuple], object], stream_options: dict,
                 handshakes: Handshakes):
        self._handle_stream = handle_stream
        self._stream_options = stream_options
        self._handshakes = handshakes
        self._pending = handshakes.pending
        self._loop = asyncio.get_running_loop()
        # socket -> (its peer address, loop time when it goes to Tornado unread); in arrival order
        self._waiting: dict[socket.socket, tuple[tuple, float]] = {}
        self._taking: set[asyncio.Task] = set()  # handshakes answered here, until their ChatConnection is handing
        self._lingering: set[asyncio.Task] = set()  # heads past Tornado's limit, answered 431 (chatd.web.headlimit)
        self._sweep: asyncio.TimerHandle | None = None

    def pending(self) -> int:
        """Sockets accepted here that neither Tornado nor a ``ChatConnection`` has yet:
        their clients wait for an answer (``ChatHTTPServer.owing``)."""
        return len(self._waiting) + len(self._taking)

    def lingering(self) -> int:
        """Sockets answered 431 that wait for their client to close (``chatd.web.headlimit``)."""
        return len(self._lingering)

    def accepted(self, sock: socket.socket, address: tuple) -> None:
        """``add_accept_handler``'s callback: a new connection, counted for its address
        until it is closed or a WebSocket's (``chatd.web.pending``), or refused at once."""
        if sock.family in _INET:
            try:
                refusal = self._pending.arrive(sock, address[0])
            except Exception:  # a bug: the connection is served, uncounted
                app_log.error("Error in connection callback", exc_info=True)
                refusal = None
            if refusal is not None:
                refuse(sock, refusal)
                return
        self._look(sock, address, True)

    def close(self) -> None:
        """Close the sockets still waiting for their first bytes, and those answered 431
        and still draining (the server is stopping)."""
        for task in self._lingering:
            task.cancel()  # it closes its socket
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for sock in list(self._waiting):
            self._loop.remove_reader(sock.fileno())
            sock.close()
            self._pending.settle(sock)
        self._waiting.clear()

    def _look(self, sock: socket.socket, address: tuple, first: bool) -> None:
        try:
            head = self._judge(sock)
        except Exception:  # a bug: the socket still gets Tornado's answer
            app_log.error("Error in connection callback", exc_info=True)
            head = None
        if head is INCOMPLETE:
            if first:
                self._wait(sock, address)
            else:
                self._to_tornado(sock, address)
        elif isinstance(head, Head):
            task = self._loop.create_task(self._take(sock, address, head))
            self._taking.add(task)
            task.add_done_callback(self._taken)
        else:
            self._to_tornado(sock, address)

    def _judge(self, sock: socket.socket) -> Head | object | None:
        """→ the head of a handshake answered here, INCOMPLETE (no bytes yet, or
        not all), or None (Tornado's)."""
        try:
            data = sock.recv(MAX_HEAD, _PEEK)
        except BlockingIOError:
            return INCOMPLETE
        except OSError:
            return None  # reset, or the like: Tornado finds out and closes it as before
        if not data:
            return None  # the client closed: Tornado's to close
        head = parse_head(data)
        if isinstance(head, Head) and not self._handshakes.accepts(head.fields):
            return None
        return head

    def _wait(self, sock: socket.socket, address: tuple) -> None:
        self._waiting[sock] = (address, self._loop.time() + PEEK_WAIT)
        # By descriptor: given the socket, the selector formats its repr for a KeyError it
        # catches, in add_reader and again in remove_reader (~8 µs of the pair's ~15).
        self._loop.add_reader(sock.fileno(), self._readable, sock)
        if self._sweep is None:
            self._sweep = self._loop.call_at(self._loop.time() + PEEK_WAIT, self._silent)

    def _readable(self, sock: socket.socket) -> None:
        self._loop.remove_reader(sock.fileno())
        address, _ = self._waiting.pop(sock)
        self._look(sock, address, False)

    def _silent(self) -> None:
        """Give Tornado the sockets silent for ``PEEK_WAIT``: one timer for all, the
        oldest first (arrival order is deadline order), at most every ``SWEEP_EVERY``."""
        self._sweep = None
        now = self._loop.time()
        silent = list(takewhile(lambda item: item[1][1] <= now, self._waiting.items()))
        for sock, (address, _) in silent:
            self._loop.remove_reader(sock.fileno())
            del self._waiting[sock]
            self._to_tornado(sock, address)
        for _, until in self._waiting.values():  # the oldest left
            self._sweep = self._loop.call_at(max(until, now + SWEEP_EVERY), self._silent)
            break

    def _to_tornado(self, sock: socket.socket, address: tuple, refusal: Refusal | None = None) -> None:
        """As Tornado's ``TCPServer._handle_connection`` gives it an accepted socket;
        ``refusal``: the one counted here, for ``ChatUpgrade`` to answer."""
        try:
            stream = HeadLimitStream(sock, self._lingering, self._pending.settle, **self._stream_options)
            if refusal is not None:
                self._handshakes.prejudged[stream] = refusal
            self._handle_stream(stream, address)
        except Exception:
            app_log.error("Error in connection callback", exc_info=True)
            self._pending.settle(sock)  # no stream, or one Tornado does not serve: counted no more

    async def _take(self, sock: socket.socket, address: tuple, head: Head) -> None:
        started = time.time()
        handshakes = self._handshakes
        chat = handshakes.chat
        try:
            # The peer as Tornado's request context takes it (not an IP socket: "0.0.0.0").
            peer = address[0] if sock.family in _INET else "0.0.0.0"
            remote_ip = request_address(peer, head.fields, chat.config.trusted_proxies)
            key = chat.admission.addresses.key(remote_ip)
            refusal = await chat.admission.connect(key)
        except Exception:  # a bug: the socket still gets Tornado's answer
            app_log.error("Error in connection callback", exc_info=True)
            self._to_tornado(sock, address)
            return
        if refusal is not None:
            self._to_tornado(sock, address, refusal)  # ChatUpgrade answers it (429, Retry-After)
            return
        try:
            sock.recv(head.length, socket.MSG_DONTWAIT)  # the head only: frames behind it are the connection's
        except OSError:
            sock.close()  # the client left
            self._pending.settle(sock)
            chat.admission.disconnect(key)
            return
        await handshakes.open(sock, head.fields["sec-websocket-key"], remote_ip, key)
        log_switched(remote_ip, started)

    def _taken(self, task: asyncio.Task) -> None:
        self._taking.discard(task)
        if not task.cancelled() and task.exception() is not None:
            app_log.error("Error in connection callback", exc_info=task.exception())
