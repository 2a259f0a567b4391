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

from chatd.web.chunked import CHUNK_LINE_MAX, CRLF, TRAILER_MAX, is_last_chunk, size_line, trailer_section
from chatd.web.headers import closing_answer

LINGER_SECONDS = 5.0  # from the answer until the socket is closed, if the client has not closed its side
# Of the client's bytes dropped after the answer, at most: then the socket is closed. A client that
# writes its whole body before it reads (Python's urllib) sees the answer only if the body is drained:
# a black-box tester's 4-60 MB bodies refused 413 were lost to a reset with 1 MiB here.
LINGER_BYTES = 64 << 20
_READ = 65536  # bytes read at once while dropping them
BARE_400 = b"HTTP/1.1 400 Bad Request\r\n\r\n"  # what Tornado's HTTP1Connection writes for an HTTPInputError
REASON_MAX = 200  # characters of Tornado's reason said (it may quote the client's header field)
# Header fields of one request, at most (Apache's LimitRequestFields): Tornado parses a head of 64 KiB
# holding 13,000 of them in 70-190 ms of the loop, during which no other client is served.
FIELDS_MAX = 100


def answer_431(head_max: int) -> bytes:
    """The answer's bytes: a plain-text body saying the limit (``head_max`` bytes)."""
    return closing_answer("431 Request Header Fields Too Large",
                          f"the request's head (its start line and header fields) is larger than {head_max} bytes; "
                          "send fewer or shorter header fields (cookies, for one)")


def answer_431_fields(fields: int) -> bytes:
    """The answer's bytes for a head of ``fields`` header fields, over ``FIELDS_MAX``."""
    return closing_answer("431 Request Header Fields Too Large",
                          f"the request has {fields} header fields; at most {FIELDS_MAX} are read")


def answer_400(reason: str) -> bytes:
    """The answer's bytes: a plain-text body saying why the request was refused (``reason``:
    Tornado's ``HTTPInputError``, cut to ``REASON_MAX`` characters)."""
    if len(reason) > REASON_MAX:
        reason = reason[:REASON_MAX] + "…"
    return closing_answer("400 Bad Request", f"the request is not valid HTTP/1.1: {reason}")


class HeadLimitStream(IOStream):
    """Tornado's ``IOStream``, answering what Tornado's HTTP1Connection refuses without a
    word (a head past its size or field limit, a malformed request or chunk line) and
    draining before it closes (see the module).
    ``lingering``: where the tasks that answer and drain such sockets are kept
    (asyncio keeps only a weak reference to a task); ``closed(sock)``: told
    when the socket is closed (not when it is taken from the stream:
    ``chatd.web.handshake.take_socket``)."""

    def __init__(self, sock: socket.socket, lingering: set[asyncio.Task],
                 closed: Callable[[socket.socket], None], **options: Any):
        super().__init__(sock, **options)
        self._lingering = lingering
        self._socket_closed = closed
        self._head_max: int | None = None  # the limit of the last head read
        self._past_limit = "head"  # what the last bounded read was reading: "head", "chunk" or "trailer"
        self._last_chunk = False  # the size line just read was the last chunk's (chatd.web.chunked)
        self._answer: bytes | None = None  # a malformed request's 400 (or 431), sent at the close
        self._note = ""  # what the log says of it
        # Set by a handler that answers before it has read the request's body (chatd.web.early):
        # the close drains what the client still sends, so that the answer is read, not reset.
        self.linger = False

    # Tornado's HTTP1Connection reads a head, and only a head, with read_until_regex; its other
    # reads with a limit are a chunk's size line and (chatd.web.chunked) the trailer section,
    # past which close_fd answers a 400, not a 431.
    def read_until_regex(self, regex: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        self._head_max, self._past_limit = max_bytes, "head"
        return _mapped(super().read_until_regex(regex, max_bytes), self._counted)

    def _counted(self, head: bytes) -> bytes:
        # Each line is a field but the start line, the blank line and a folded line's continuation
        # (refused by Tornado's parser for what it is: "folding not supported").
        fields = head.count(b"\n") - 2 - head.count(b"\n ") - head.count(b"\n\t")
        if fields > FIELDS_MAX:
            self._answer, self._note = answer_431_fields(fields), f"431 {fields} header fields"
            raise HTTPInputError(f"{fields} header fields, over {FIELDS_MAX}")
        return head

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        if delimiter == CRLF and max_bytes == CHUNK_LINE_MAX:  # Tornado reading a chunk's size line
            self._past_limit = "chunk"
            return _mapped(super().read_until(b"\n", max_bytes), self._size_line)
        self._past_limit = "trailer"  # (the one other bounded read_until: chatd.web.chunked's)
        return super().read_until(delimiter, max_bytes)

    def _size_line(self, line: bytes) -> bytes:
        line = size_line(line)
        self._last_chunk = is_last_chunk(line)
        return line

    def read_bytes(self, num_bytes: int, partial: bool = False) -> Awaitable[bytes]:
        if self._last_chunk:  # Tornado reading the CRLF after the last chunk: trailer fields may come first
            self._last_chunk = False
            return asyncio.ensure_future(trailer_section(self))
        return super().read_bytes(num_bytes, partial)

    def write(self, data: bytes | memoryview, *args: Any, **kwargs: Any) -> asyncio.Future[None]:
        """Tornado's, but its bare 400 for a request it could not parse is kept for ``close_fd``,
        told Tornado's reason: the ``HTTPInputError`` it is handling as it writes the 400."""
        error = sys.exc_info()[1]
        if isinstance(error, HTTPInputError) and data == BARE_400:
            if self._answer is None:  # (not a 431 of too many fields, raised as an HTTPInputError)
                self._answer, self._note = answer_400(str(error)), "400 malformed request"
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return super().write(data, *args, **kwargs)

    def close_fd(self) -> None:
        """Tornado's, but for a socket whose head was past the limit, or whose request was
        malformed (``close`` has set ``error`` and let go of the descriptor): answered and
        drained before it is closed."""
        sock = self.socket
        answer, note = self._answer, self._note
        if answer is None and isinstance(self.error, UnsatisfiableReadError):
            if self._past_limit == "head":
                answer, note = answer_431(self._head_max or 0), f"431 request head over {self._head_max} bytes"
            elif self._past_limit == "chunk":  # Tornado closes without a word, the client waiting for its answer
                note = "400 malformed chunked body"
                answer = answer_400(f"a chunk's size line, extensions included, is over {CHUNK_LINE_MAX} bytes "
                                    "or does not end in CRLF (RFC 9112 §7.1)")
            else:
                note = "400 chunked body's trailer over its limit"
                answer = answer_400(f"the trailer fields of a chunked body are over {TRAILER_MAX} bytes")
        if answer is None and self.linger and sock is not None:
            answer, note = b"", ""  # answered already (its Connection: close), the body unread
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
    """Send ``answer``, then drain and close (the module's lingering close); ``note``: the log's,
    none when the answer was written and logged already."""
    loop = asyncio.get_running_loop()
    try:
        if note:
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


def _mapped(source: Awaitable[bytes], fn: Callable[[bytes], bytes]) -> asyncio.Future[bytes]:
    """A future of ``fn(source's result)``, or of the ``HTTPInputError`` ``fn`` raises; a failed
    or cancelled ``source`` fails or cancels it alike."""
    mapped = asyncio.get_running_loop().create_future()

    def done(source: asyncio.Future[bytes]) -> None:
        if mapped.cancelled():
            return
        if source.cancelled():
            mapped.cancel()
        elif source.exception() is not None:
            mapped.set_exception(source.exception())
        else:
            try:
                mapped.set_result(fn(source.result()))
            except HTTPInputError as error:
                mapped.set_exception(error)

    asyncio.ensure_future(source).add_done_callback(done)
    return mapped
