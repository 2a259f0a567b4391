"""WebSocket framing (RFC 6455), both ways, with no I/O.

Server frames are built once and written as they are: a server frame is
never masked (§5.1), so the same bytes are right for every recipient of a
broadcast.

    >>> wire({"type": "rooms", "rooms": []})[:2]
    b'\\x81\\x1b'

Client frames come in through a ``FrameReader``: feed it bytes as they
arrive, get back whole messages and control frames; a protocol violation
raises ``FrameError`` carrying the close code to fail the connection with.

    reader = FrameReader(max_message=65536)
    for opcode, payload in reader.feed(data):
        ...
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Any

from chatd.protocol import CloseCode, encode


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_FIN = 0x80
_MASKED = 0x80
_CONTROL_MAX = 125


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
    """A text frame carrying ``payload`` (UTF-8 JSON)."""
    return frame(Opcode.TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(Opcode.CLOSE, struct.pack("!H", code) + reason.encode()[:_CONTROL_MAX - 2])


def wire(message: dict[str, Any]) -> bytes:
    """A server frame as the bytes written to the socket."""
    return text_frame(encode(message))


def unmask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (one big-int XOR: fast in CPython)."""
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class FrameError(Exception):
    """The client broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class FrameReader:
    """Turns the bytes a client sends into (opcode, payload) pairs: whole
    messages (fragments joined) and control frames (which may arrive
    between fragments). ``max_message`` bounds a message's size; a larger
    one is refused from its header, before its payload is buffered."""

    __slots__ = ("_buffer", "_max", "_fragments", "_fragment_opcode", "_fragment_size")

    def __init__(self, max_message: int):
        self._buffer = bytearray()
        self._max = max_message
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._fragment_size = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buffer
        buf += data
        out: list[tuple[int, bytes]] = []
        while len(buf) >= 2:
            first, second = buf[0], buf[1]
            if first & 0x70:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension was agreed)")
            if not second & _MASKED:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "client frames must be masked")
            fin, opcode, length, start = first & _FIN, first & 0x0F, second & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    break
                length, start = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length, start = int.from_bytes(buf[2:10], "big"), 10
            self._check_header(fin, opcode, length)
            end = start + 4 + length
            if len(buf) < end:
                break
            payload = unmask(memoryview(buf)[start + 4:end], bytes(buf[start:start + 4]))
            del buf[:end]
            message = self._assemble(fin, opcode, payload)
            if message is not None:
                out.append(message)
        return out

    def _check_header(self, fin: int, opcode: int, length: int) -> None:
        if opcode >= Opcode.CLOSE:
            if opcode not in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if length > _CONTROL_MAX or not fin:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "control frames must be final and at most 125 bytes")
        elif opcode not in (Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY):
            raise FrameError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode}")
        elif self._fragment_size + length > self._max:
            raise FrameError(CloseCode.MESSAGE_TOO_BIG, f"message larger than {self._max} bytes")

    def _assemble(self, fin: int, opcode: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode >= Opcode.CLOSE:
            return opcode, payload
        if opcode == Opcode.CONTINUATION:
            if not self._fragments:
                raise FrameError(CloseCode.PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif self._fragments:
            raise FrameError(CloseCode.PROTOCOL_ERROR, "new message before the last one was finished")
        else:
            self._fragment_opcode = opcode
        if fin and not self._fragments:
            return opcode, payload
        self._fragments.append(payload)
        self._fragment_size += len(payload)
        if not fin:
            return None
        message = b"".join(self._fragments)
        self._fragments, self._fragment_size = [], 0
        return self._fragment_opcode, message


def parse_close(payload: bytes) -> int:
    """The close code of a client's close frame (1005: none given)."""
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else CloseCode.NO_STATUS
