"""WebSocket framing (RFC 6455), both ways, with no I/O.

Server frames are built once and written as they are: a server frame is
never masked (§5.1), so the same bytes are right for every recipient of a
broadcast.

    >>> wire({"type": "rooms", "rooms": []})[:2]
    b'\\x81\\x1b'

Client frames come in through a ``FrameReader``: feed it bytes as they
arrive, iterate the whole messages and control frames they complete; a
protocol violation raises ``FrameError`` carrying the close code to fail
the connection with, once the frames before it have been yielded.

    reader = FrameReader(max_message=65536)
    for opcode, payload in reader.feed(data):
        ...

Closing (RFC 6455 §5.5.1, §7.4): ``parse_close`` checks a client's close
frame, ``close_frame`` builds the server's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from enum import IntEnum
from typing import Any

from chatd.protocol.codes import CloseCode
from chatd.protocol.frames import encode

try:  # Tornado's C extension (in its binary wheels): XOR in C, a few times faster than ours below
    from tornado.speedups import websocket_mask as _c_mask
except ImportError:  # built without it, or a platform without a wheel
    _c_mask = None


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_FIN = 0x80
_MASKED = 0x80
# The opcodes as plain ints for the reader's per-frame checks: an IntEnum member costs an
# attribute lookup on its class each time it is named (~55 ns; a dozen per frame).
_CONTINUATION, _CLOSE = int(Opcode.CONTINUATION), int(Opcode.CLOSE)
_DATA_OPCODES = frozenset({_CONTINUATION, int(Opcode.TEXT), int(Opcode.BINARY)})
_CONTROL_OPCODES = frozenset({_CLOSE, int(Opcode.PING), int(Opcode.PONG)})
_CONTROL_MAX = 125  # payload bytes of a control frame (§5.5)
_PARTIAL = (-1, b"")  # FrameReader._take_frame's answer while a frame is incomplete
_NOT_MINIMAL = "a length of {} in the {}-bit form: the shortest form must be used (§5.2)"
_CODE_BYTES = 2
_REASON_MAX = _CONTROL_MAX - _CODE_BYTES  # a close reason's bytes: 123
# The codes an endpoint may put in a close frame (§7.4.1, §7.4.2, IANA registry): the
# assigned ones but 1004 (reserved), 1005, 1006 and 1015 (only reported, never sent),
# and the application range. 1016-2999 are unassigned; below 1000 and from 5000 unused.
_ASSIGNED_CLOSE_CODES = frozenset({
    CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA,
    CloseCode.INVALID_DATA, CloseCode.POLICY_VIOLATION, CloseCode.MESSAGE_TOO_BIG, CloseCode.MANDATORY_EXTENSION,
    CloseCode.INTERNAL_ERROR, CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER, CloseCode.BAD_GATEWAY,
})


class FrameError(Exception):
    """The client broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def frame(opcode: Opcode, payload: bytes) -> bytes:
    """An unmasked, final frame (what a server sends)."""
    n = len(payload)
    first = _FIN | opcode
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    """A text frame carrying ``payload`` (UTF-8 JSON): the bytes ``frame(Opcode.TEXT, payload)`` gives."""
    n = len(payload)
    if n < 126:  # an ack, most errors: the header is one of 126 made at import
        return _TEXT_SHORT[n] + payload
    if n < 1 << 16:  # most messages
        return _TEXT_MEDIUM + n.to_bytes(2, "big") + payload
    return frame(Opcode.TEXT, payload)


# text_frame's headers: each frame of every message and ack has one (0.21 -> 0.06 µs for an ack's, timeit).
_TEXT_SHORT = tuple(frame(Opcode.TEXT, bytes(n))[:2] for n in range(126))
_TEXT_MEDIUM = bytes((_FIN | Opcode.TEXT, 126))


def close_code_allowed(code: int) -> bool:
    """Whether ``code`` may be sent in a close frame (RFC 6455 §7.4.1-§7.4.2):
    1000-1003, 1007-1014 and 3000-4999."""
    return code in _ASSIGNED_CLOSE_CODES or CloseCode.APPLICATION_FIRST <= code <= CloseCode.APPLICATION_LAST


def close_frame(code: int, reason: str = "") -> bytes:
    """The server's close frame: ``code`` then ``reason`` in UTF-8, cut to the
    123 bytes a control frame leaves for it (§5.5) at a character boundary,
    never inside a multi-byte sequence. Raises ValueError for a code no
    endpoint may send (1005, 1006, 1015, ...: §7.4.1)."""
    if not close_code_allowed(code):
        raise ValueError(f"close code {code} may not be sent (RFC 6455 §7.4)")
    data = reason.encode("utf-8", "replace")
    if len(data) > _REASON_MAX:
        data = data[:_REASON_MAX].decode("utf-8", "ignore").encode()  # drops only the sequence the cut split
    return frame(Opcode.CLOSE, struct.pack("!H", code) + data)


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """The status code and reason of a client's close frame: ``(None, "")``
    when the payload is empty (the code then reported is 1005, §7.1.5).

    Raises FrameError: 1002 for a one-byte payload (§5.5.1: a body starts with
    a 2-byte code) or a code no endpoint may send (§7.4); 1007 for a reason
    that is not UTF-8 (§5.5.1, §8.1)."""
    if not payload:
        return None, ""
    if len(payload) < _CODE_BYTES:
        raise FrameError(CloseCode.PROTOCOL_ERROR, "close frame body of 1 byte: a status code takes 2")
    code = struct.unpack("!H", payload[:_CODE_BYTES])[0]
    if not close_code_allowed(code):
        raise FrameError(CloseCode.PROTOCOL_ERROR, f"close code {code} may not be sent (RFC 6455 §7.4)")
    try:
        reason = bytes(payload[_CODE_BYTES:]).decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None
    return code, reason


def text_of(payload: bytes) -> str:
    """A text message's payload as a string. Raises FrameError(1007) when it
    is not UTF-8 (§5.6, §8.1)."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(CloseCode.INVALID_DATA, "text frame is not UTF-8") from None


def wire(message: dict[str, Any]) -> bytes:
    """A server frame as the bytes written to the socket."""
    return text_frame(encode(message))


def unmask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` (bytes) repeated: Tornado's C function when
    it is there, else one big-int XOR (the fastest way in pure CPython)."""
    n = len(data)
    if not n:
        return b""
    if _c_mask is not None:
        return _c_mask(mask, bytes(data))  # it reads only bytes, not a view of the reader's buffer
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class FrameReader:
    """Turns the bytes a client sends into (opcode, payload) pairs: whole
    messages (fragments joined) and control frames (which may arrive
    between fragments). ``max_message`` bounds a message's payload, all its
    fragments together; a larger one is refused from the header that would
    exceed it, before its payload is buffered.

    Reading ends at a close frame (RFC 6455 §1.4: data after it is
    discarded) and at the first violation (§7.1.7: nothing more is
    processed); bytes fed after either are dropped."""

    __slots__ = ("_buffer", "_max", "_fragments", "_fragment_opcode", "_fragment_size", "_done")

    def __init__(self, max_message: int):
        self._buffer = bytearray()
        self._max = max_message
        # A fragmented message's parts so far; () between messages (most never are: a list is 56 bytes)
        self._fragments: list[bytes] | tuple[()] = ()
        self._fragment_opcode = 0
        self._fragment_size = 0
        self._done = False

    def feed(self, data: bytes | memoryview) -> Iterator[tuple[int, bytes]]:
        """Take ``data`` (copied at once: the caller may reuse its buffer) and
        iterate the messages and control frames it completes, in wire order.
        A violation raises FrameError from the iteration, after the frames
        before it; a close frame's body is checked (``parse_close``) before
        it is yielded. Frames left unconsumed stay buffered for the next feed."""
        if not self._done:
            self._buffer += data
        return self._frames()

    def _frames(self) -> Iterator[tuple[int, bytes]]:
        try:
            while not self._done and (message := self._take_frame()) is not _PARTIAL:
                if message is None:
                    continue  # a fragment: its message is not whole yet
                if message[0] == _CLOSE:
                    parse_close(message[1])  # a close frame that breaks the rules is a violation too
                    self._stop()
                yield message
        except FrameError:
            self._stop()
            raise

    def _stop(self) -> None:
        self._done = True
        self._buffer.clear()
        self._fragments, self._fragment_size = (), 0

    def _take_frame(self) -> tuple[int, bytes] | None:
        """Remove one frame from the buffer: a whole message or control frame,
        None for a fragment, ``_PARTIAL`` when the buffer holds no whole frame."""
        buf = self._buffer
        if len(buf) < 2:
            return _PARTIAL
        first, second = buf[0], buf[1]
        if first & 0x70:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension was agreed)")
        if not second & _MASKED:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
        fin, opcode, length, start = first & _FIN, first & 0x0F, second & 0x7F, 2
        # §5.2: "the minimal number of bytes MUST be used to encode the length", and a
        # 64-bit length has its most significant bit 0.
        if length == 126:
            if len(buf) < 4:
                return _PARTIAL
            length, start = buf[2] << 8 | buf[3], 4
            if length < 126:
                raise FrameError(CloseCode.PROTOCOL_ERROR, _NOT_MINIMAL.format(length, 16))
        elif length == 127:
            if len(buf) < 10:
                return _PARTIAL
            length, start = int.from_bytes(buf[2:10], "big"), 10
            if length >> 63:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "a 64-bit length must have its top bit clear (§5.2)")
            if length < 1 << 16:
                raise FrameError(CloseCode.PROTOCOL_ERROR, _NOT_MINIMAL.format(length, 64))
        self._check_header(fin, opcode, length)
        end = start + 4 + length
        if len(buf) < end:
            return _PARTIAL
        payload = unmask(memoryview(buf)[start + 4:end], bytes(buf[start:start + 4]))
        del buf[:end]
        return self._assemble(fin, opcode, payload)

    def _check_header(self, fin: int, opcode: int, length: int) -> None:
        if opcode >= _CLOSE:
            if opcode not in _CONTROL_OPCODES:
                raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if length > _CONTROL_MAX or not fin:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "control frames must be final and at most 125 bytes")
        elif opcode not in _DATA_OPCODES:
            raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif self._fragment_size + length > self._max:
            raise FrameError(CloseCode.MESSAGE_TOO_BIG, f"message larger than {self._max} bytes")

    def _assemble(self, fin: int, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode >= _CLOSE:
            return opcode, payload
        if opcode == _CONTINUATION:
            if not self._fragments:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif self._fragments:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "new message before the last one was finished")
        else:
            self._fragment_opcode = opcode
        if fin and not self._fragments:
            return opcode, payload
        if self._fragments:
            self._fragments.append(payload)
        else:
            self._fragments = [payload]
        self._fragment_size += len(payload)
        if not fin:
            return None
        message = b"".join(self._fragments)
        self._fragments, self._fragment_size = (), 0
        return self._fragment_opcode, message

