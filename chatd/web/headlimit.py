"""A request head past Tornado's ``max_header_size`` (64 KiB unless set)
answered ``431 Request Header Fields Too Large`` (RFC 6585 §5) rather than
with a connection reset, and a malformed request with a 400 that says why.

Tornado reads a request's head with ``IOStream.read_until_regex(...,
max_bytes=max_header_size)``; past it, the stream fails the read
(``UnsatisfiableReadError``) and closes its socket at once with the rest of
the head unread, which makes the kernel send a reset: the client is told
nothing, on ``/ws`` as on any page. ``HeadLimitStream`` is Tornado's
``IOStream`` (``chatd.web.arrivals`` makes every server stream) whose
``close_fd`` (the method a stream class gives for closing its descriptor)
does not close such a socket: it answers 431 with ``Connection: close``, ends
its side (a half-close), and reads and drops what the client still sends
until the client closes its side, for at most ``LINGER_SECONDS`` and
``LINGER_BYTES``; only then is the socket closed. Closing with unread bytes
would reset the connection, which may destroy the answer before the client
reads it (the lingering close of RFC 9112 §9.6).

A request Tornado cannot parse (two ``Content-Length`` fields, a malformed
request line or header field: its ``HTTPInputError``) it answers with a bare
``400 Bad Request``, no body, and closes the socket with the rest unread. The
stream answers it instead with a 400 whose body says Tornado's reason, closed
as the 431 is (RFC 9110 §15.5.1: the answer should explain the error).

    stream = HeadLimitStream(sock, lingering, closed, max_buffer_size=..., read_chunk_size=...)
    # lingering: a set of the tasks still draining such sockets (cancelled at stop)
    # closed(sock): called once the socket is closed, whichever way (chatd.web.pending's settle)
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.httputil import HTTPInputError
from tornado.iostream import IOStream, UnsatisfiableReadError
from tornado.log import access_log

from chatd.web.headers import closing_answer

LINGER_SECONDS = 5.0  # from the answer until the socket is closed, if the client has not closed its side
LINGER_BYTES = 1 << 20  # of the client's bytes dropped after the answer, at most: then the socket is closed
_READ = 65536  # bytes read at once while dropping them
BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"  # what Tornado's HTTP1Connection writes for an HTTPInputError
REASON_MAX = 200  # characters of Tornado's reason said (it may quote the client's header field)


def answer_431(head_max: int) -> bytes:
    """The answer's bytes: a plain-text body saying the limit (``head_max`` bytes)."""
    return closing_answer("431 Request Header Fields Too Large",
                          f"the request's head (its start line and header fields) is larger than {head_max} bytes; "
                          "send fewer or shorter header fields (cookies, for one)")


def answer_400(reason: str) -> bytes:
    """The answer's bytes: a plain-text body saying why the request was refused (``reason``:
    Tornado's ``HTTPInputError``, cut to ``REASON_MAX`` characters)."""
    if len(reason) > REASON_MAX:
        reason = reason[:REASON_MAX] + "…"
    return closing_answer("400 Bad Request", f"the request is not valid HTTP/1.1: {reason}")


class HeadLimitStream(IOStream):
    """Tornado's ``IOStream``, answering a head past its limit (see the module).
    ``lingering``: where the tasks that answer and drain such sockets are kept
    (asyncio keeps only a weak reference to a task); ``closed(sock)``: told
    when the socket is closed (not when it is taken from the stream:
    ``chatd.web.handshake.take_socket``)."""

    def __init__(self, sock: socket.socket, lingering: set[asyncio.Task],
                 closed: Callable[[socket.socket], None], **options: Any):
        super().__init__(sock, **options)
        self._lingering = lingering
        self._socket_closed = closed
        self._head_max: int | None = None  # the limit of the read under way, if it reads a head
        self._answer: bytes | None = None  # a malformed request's 400, sent at the close

    # Tornado's HTTP1Connection reads a head, and only a head, with read_until_regex; the
    # one other read with a limit is a chunk's size line (read_until, 64 bytes), refused
    # alike but not with a 431: its connection is closed as before.
    def read_until_regex(self, regex: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        self._head_max = max_bytes
        return super().read_until_regex(regex, max_bytes)

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        self._head_max = None
        return super().read_until(delimiter, max_bytes)

    def write(self, data: bytes | memoryview, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        """Tornado's, but its bare 400 for a request it could not parse is kept for ``close_fd``,
        told Tornado's reason: the ``HTTPInputError`` it is handling as it writes the 400."""
        error = sys.exc_info()[1]
        if isinstance(error, HTTPInputError) and data == BARE_400:
            self._answer = answer_400(str(error))
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return super().write(data, *args, **kwargs)

    def close_fd(self) -> None:
        """Tornado's, but for a socket whose head was past the limit, or whose request was
        malformed (``close`` has set ``error`` and let go of the descriptor): answered and
        drained before it is closed."""
        sock = self.socket
        answer, note = self._answer, "400 malformed request"
        if answer is None and self._head_max is not None and isinstance(self.error, UnsatisfiableReadError):
            answer, note = answer_431(self._head_max), f"431 request head over {self._head_max} bytes"
        if answer is None:
            try:
                super().close_fd()
            finally:
                self._socket_closed(sock)
            return
        self.socket = None
        task = asyncio.get_running_loop().create_task(_refuse(sock, answer, note))
        self._lingering.add(task)

        def done(task: asyncio.Task) -> None:
            self._lingering.discard(task)
            self._socket_closed(sock)  # _refuse closes it, answered or cancelled

        task.add_done_callback(done)


async def _refuse(sock: socket.socket, answer: bytes, note: str) -> None:
    """Send ``answer``, then drain and close (the module's lingering close); ``note``: the log's."""
    loop = asyncio.get_running_loop()
    try:
        peer = sock.getpeername()[0] if sock.family in (socket.AF_INET, socket.AF_INET6) else "unix"
        access_log.warning("%s (%s)", note, peer)  # as Tornado logs a 4xx
        async with asyncio.timeout(LINGER_SECONDS):
            await loop.sock_sendall(sock, answer)
            sock.shutdown(socket.SHUT_WR)
            dropped = 0
            while dropped < LINGER_BYTES and (data := await loop.sock_recv(sock, _READ)):
                dropped += len(data)
    except (OSError, TimeoutError):
        pass  # the client reset the connection, or is still sending: nothing more to do for it
    finally:
        sock.close()
