"""WebSocket framing without a socket: the reader a hostile client meets first."""

from __future__ import annotations

import os
import struct

import pytest

from chatd.protocol import CloseCode
from chatd.web.keepalive import sweep
from chatd.wsframe import FrameError, FrameReader, Opcode, close_frame, frame, parse_close, text_frame, unmask


def client_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv: int = 0) -> bytes:
    """A frame as a client sends it: masked with a random key."""
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + unmask(payload, key)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 100_000])
def test_messages_of_every_length_class_round_trip(size):
    payload = os.urandom(size)
    assert FrameReader(200_000).feed(client_frame(Opcode.BINARY, payload)) == [(Opcode.BINARY, payload)]


def test_bytes_arriving_one_at_a_time():
    data = client_frame(Opcode.TEXT, b"hello") + client_frame(Opcode.TEXT, b"world")
    reader = FrameReader(1000)
    got = [m for i in range(len(data)) for m in reader.feed(data[i:i + 1])]
    assert got == [(Opcode.TEXT, b"hello"), (Opcode.TEXT, b"world")]


def test_fragments_are_joined_and_control_frames_may_interleave():
    data = (client_frame(Opcode.TEXT, b"he", fin=False) + client_frame(Opcode.PING, b"p")
            + client_frame(Opcode.CONTINUATION, b"llo"))
    assert FrameReader(1000).feed(data) == [(Opcode.PING, b"p"), (Opcode.TEXT, b"hello")]


@pytest.mark.parametrize(("data", "code"), [
    (client_frame(Opcode.TEXT, b"x", masked=False), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x", rsv=0x40), CloseCode.PROTOCOL_ERROR),
    (client_frame(3, b"x"), CloseCode.PROTOCOL_ERROR),
    (client_frame(0xB, b"x"), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.PING, b"x" * 126), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.PING, b"x", fin=False), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.CONTINUATION, b"x"), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.TEXT, b"b"), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x" * 1001), CloseCode.MESSAGE_TOO_BIG),
    (client_frame(Opcode.TEXT, b"x" * 600, fin=False) + client_frame(Opcode.CONTINUATION, b"x" * 600),
     CloseCode.MESSAGE_TOO_BIG),
])
def test_violations_name_their_close_code(data, code):
    with pytest.raises(FrameError) as e:
        FrameReader(1000).feed(data)
    assert e.value.code == code


def test_oversized_message_is_refused_from_its_header_alone():
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 2**40)  # claims a terabyte, sends none of it
    with pytest.raises(FrameError):
        FrameReader(65536).feed(header)


def test_server_frames_are_unmasked_and_final():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert frame(Opcode.PING, b"") == b"\x89\x00"
    assert close_frame(1012, "restart")[:4] == b"\x88\x09\x03\xf4"
    assert parse_close(close_frame(1012)[2:]) == 1012
    assert parse_close(b"") == CloseCode.NO_STATUS


class FakeConnection:
    def __init__(self, last_heard: float, pinged: bool = False):
        self.last_heard, self.pinged, self.closing = last_heard, pinged, False
        self.pings = self.aborts = 0

    def ping(self):
        self.pings += 1
        self.pinged = True

    def abort(self):
        self.aborts += 1


def test_keepalive_pings_the_quiet_and_drops_the_unresponsive():
    busy, quiet, gone = FakeConnection(99), FakeConnection(80), FakeConnection(50, pinged=True)
    assert sweep([busy, quiet, gone], interval=10, timeout=20, now=100) == 1
    assert (busy.pings, quiet.pings, gone.aborts) == (0, 1, 1)
    assert sweep([quiet], interval=10, timeout=20, now=105) == 0 and quiet.pings == 1  # one ping out at a time
