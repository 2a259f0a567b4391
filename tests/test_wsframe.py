"""WebSocket framing without a socket: the reader a hostile client meets first."""

from __future__ import annotations

import json
import os
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatd.protocol.codes import CloseCode
from chatd.web.keepalive import sweep
from chatd.wsframe import (
    FrameError,
    FrameReader,
    Opcode,
    close_code_allowed,
    close_frame,
    frame,
    parse_close,
    text_frame,
    text_of,
    unmask,
    wire,
)

MASKS = random.Random("test_wsframe")


def client_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv: int = 0,
                 length_bits: int | None = None) -> bytes:
    """A frame as a client sends it: masked with a random key (from a seeded generator, so
    that pytest-xdist's workers collect the same test ids); its length in the shortest form,
    or in the 16- or 64-bit one as ``length_bits`` says."""
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if length_bits == 16:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    elif length_bits == 64:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    elif n < 126:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return header + payload
    key = MASKS.randbytes(4)
    return header + key + unmask(payload, key)


def read_all(reader: FrameReader, data: bytes) -> list[tuple[int, bytes]]:
    return list(reader.feed(data))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 100_000])
def test_messages_of_every_length_class_round_trip(size):
    payload = os.urandom(size)
    assert read_all(FrameReader(200_000), client_frame(Opcode.BINARY, payload)) == [(Opcode.BINARY, payload)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_a_text_frame_is_what_frame_makes_at_every_length_class(size):
    # text_frame writes its header from a table (short) or by hand (medium): the same bytes
    payload = os.urandom(size)
    assert text_frame(payload) == frame(Opcode.TEXT, payload)
    assert text_frame(payload)[:2] == bytes((0x81, min(size, 126) if size < 65536 else 127))


@pytest.mark.parametrize("c_function", [True, False])
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 65536, 100_001])
def test_unmasking_is_a_xor_with_the_key_repeated_with_or_without_tornados_c_function(size, c_function, monkeypatch):
    import chatd.wsframe

    if not c_function:
        monkeypatch.setattr(chatd.wsframe, "_c_mask", None)
    data, key = os.urandom(size), os.urandom(4)
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert unmask(data, key) == expected
    assert unmask(memoryview(bytearray(data)), key) == expected  # as the reader hands it its buffer


def test_bytes_arriving_one_at_a_time():
    data = client_frame(Opcode.TEXT, b"hello") + client_frame(Opcode.TEXT, b"world")
    reader = FrameReader(1000)
    got = [m for i in range(len(data)) for m in reader.feed(data[i:i + 1])]
    assert got == [(Opcode.TEXT, b"hello"), (Opcode.TEXT, b"world")]


def test_fragments_are_joined_and_control_frames_may_interleave():
    data = (client_frame(Opcode.TEXT, b"he", fin=False) + client_frame(Opcode.PING, b"p")
            + client_frame(Opcode.CONTINUATION, b"llo"))
    assert read_all(FrameReader(1000), data) == [(Opcode.PING, b"p"), (Opcode.TEXT, b"hello")]


def close_body(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@pytest.mark.parametrize(("data", "code"), [
    (client_frame(Opcode.TEXT, b"x", masked=False), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x", rsv=0x40), CloseCode.PROTOCOL_ERROR),
    (client_frame(3, b"x"), CloseCode.PROTOCOL_ERROR),
    (client_frame(0xB, b"x"), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.PING, b"x" * 126), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.PING, b"x", fin=False), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.CLOSE, close_body(1000, b"x" * 124)), CloseCode.PROTOCOL_ERROR),  # 126 bytes: too long
    (client_frame(Opcode.CLOSE, close_body(1000), fin=False), CloseCode.PROTOCOL_ERROR),  # a fragmented close
    (client_frame(Opcode.CLOSE, b"\x03"), CloseCode.PROTOCOL_ERROR),  # half a status code
    (client_frame(Opcode.CLOSE, close_body(1005)), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.CLOSE, close_body(1000, b"\xff")), CloseCode.INVALID_DATA),
    (client_frame(Opcode.CONTINUATION, b"x"), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"a", fin=False) + client_frame(Opcode.TEXT, b"b"), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x" * 1001), CloseCode.MESSAGE_TOO_BIG),
    (bytes([0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]) + b"mask", CloseCode.PROTOCOL_ERROR),  # 64-bit length, top bit set
    # a length not in the shortest form (§5.2): 16 bits for ≤ 125, 64 bits for ≤ 65,535
    (client_frame(Opcode.TEXT, b"x", length_bits=16), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x" * 125, length_bits=16), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.PING, b"", length_bits=16), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x", length_bits=64), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x" * 126, length_bits=64), CloseCode.PROTOCOL_ERROR),
    (client_frame(Opcode.TEXT, b"x" * 600, fin=False) + client_frame(Opcode.CONTINUATION, b"x" * 600),
     CloseCode.MESSAGE_TOO_BIG),
])
def test_violations_name_their_close_code(data, code):
    with pytest.raises(FrameError) as e:
        read_all(FrameReader(1000), data)
    assert e.value.code == code


@pytest.mark.parametrize(("size", "bits"), [(125, 16), (0, 64), (65535, 64)])
def test_a_length_not_in_its_shortest_form_is_refused_from_its_header(size, bits):
    # RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length"
    header = client_frame(Opcode.BINARY, bytes(size), length_bits=bits)[:2 + bits // 8]
    with pytest.raises(FrameError) as e:
        read_all(FrameReader(200_000), header)  # before its mask and payload arrive
    assert e.value.code == CloseCode.PROTOCOL_ERROR
    assert "shortest form" in e.value.reason


def test_max_message_bounds_all_fragments_together():
    reader = FrameReader(1000)
    assert read_all(reader, client_frame(Opcode.TEXT, b"x" * 500, fin=False)) == []
    assert read_all(reader, client_frame(Opcode.CONTINUATION, b"x" * 500)) == [(Opcode.TEXT, b"x" * 1000)]
    with pytest.raises(FrameError) as e:
        read_all(reader, client_frame(Opcode.TEXT, b"x" * 999, fin=False) + client_frame(Opcode.CONTINUATION, b"xx"))
    assert e.value.code == CloseCode.MESSAGE_TOO_BIG


def test_frames_before_a_violation_come_first_and_nothing_after_it():
    reader = FrameReader(1000)
    frames = reader.feed(client_frame(Opcode.TEXT, b"first") + client_frame(Opcode.TEXT, b"x", masked=False))
    assert next(frames) == (Opcode.TEXT, b"first")
    with pytest.raises(FrameError):
        next(frames)
    assert read_all(reader, client_frame(Opcode.TEXT, b"later")) == []  # RFC 6455 §7.1.7


def test_nothing_after_a_close_frame_is_read():
    reader = FrameReader(1000)
    data = client_frame(Opcode.CLOSE, close_body(1000)) + client_frame(Opcode.TEXT, b"x", masked=False)
    assert read_all(reader, data) == [(Opcode.CLOSE, close_body(1000))]  # the broken frame after it is not seen
    assert read_all(reader, client_frame(Opcode.TEXT, b"later")) == []  # RFC 6455 §1.4


def test_a_close_frame_may_come_between_fragments():
    data = client_frame(Opcode.TEXT, b"he", fin=False) + client_frame(Opcode.CLOSE, close_body(1001))
    assert read_all(FrameReader(1000), data) == [(Opcode.CLOSE, close_body(1001))]


ALLOWED_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
FORBIDDEN_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", ALLOWED_CLOSE_CODES)
def test_allowed_close_codes_are_read_and_sent(code):
    assert close_code_allowed(code)
    assert parse_close(close_body(code, "adiós".encode())) == (code, "adiós")
    assert parse_close(close_frame(code, "bye")[2:]) == (code, "bye")


@pytest.mark.parametrize("code", FORBIDDEN_CLOSE_CODES)
def test_reserved_and_unassigned_close_codes_are_refused_both_ways(code):
    assert not close_code_allowed(code)
    with pytest.raises(FrameError) as e:
        parse_close(close_body(code))
    assert e.value.code == CloseCode.PROTOCOL_ERROR
    with pytest.raises(ValueError):
        close_frame(code)


@pytest.mark.parametrize(("body", "code"), [
    (b"\x03", CloseCode.PROTOCOL_ERROR),
    (close_body(1000, b"\xff\xfe"), CloseCode.INVALID_DATA),
    (close_body(1000, "é".encode()[:1]), CloseCode.INVALID_DATA),  # a reason cut inside a character
    (close_body(1000, b"\xed\xa0\x80"), CloseCode.INVALID_DATA),  # a surrogate is not UTF-8
])
def test_broken_close_bodies_are_refused(body, code):
    with pytest.raises(FrameError) as e:
        parse_close(body)
    assert e.value.code == code


def test_a_close_without_a_body_has_no_code():
    assert parse_close(b"") == (None, "")


def test_longest_close_reason_with_multibyte_characters_is_read_whole():
    reason = "é" * 61 + "x"  # 123 bytes: all a close frame holds
    data = client_frame(Opcode.CLOSE, close_body(4000, reason.encode()))
    assert read_all(FrameReader(1000), data) == [(Opcode.CLOSE, close_body(4000, reason.encode()))]
    assert parse_close(close_body(4000, reason.encode())) == (4000, reason)


@settings(deadline=None)  # a loaded machine must not fail it
@given(st.text())
def test_close_reasons_are_cut_at_a_character_boundary(reason):
    payload = close_frame(CloseCode.GOING_AWAY, reason)[2:]
    code, sent = parse_close(payload)  # raises if the cut split a character
    assert code == CloseCode.GOING_AWAY
    assert len(payload) <= 125
    encoded = reason.encode("utf-8", "replace")
    assert encoded.startswith(sent.encode())
    rest = encoded[len(sent.encode()):].decode("utf-8", "ignore")
    assert not rest or len(sent.encode()) + len(rest[0].encode()) > 123  # the longest prefix that fits


def test_oversized_message_is_refused_from_its_header_alone():
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 2**40)  # claims a terabyte, sends none of it
    with pytest.raises(FrameError):
        read_all(FrameReader(65536), header)


def test_text_must_be_utf8():
    assert text_of("héllo".encode()) == "héllo"
    with pytest.raises(FrameError) as e:
        text_of(b'"\xff"')
    assert e.value.code == CloseCode.INVALID_DATA


def test_server_frames_are_unmasked_and_final():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert frame(Opcode.PING, b"") == b"\x89\x00"
    assert close_frame(1012, "restart")[:4] == b"\x88\x09\x03\xf4"


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


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_header_lengths(size):
    payload = b"a" * size
    frame = text_frame(payload)
    assert frame[0] == 0x81 and frame.endswith(payload)
    header = len(frame) - size
    assert header == (2 if size < 126 else 4 if size < 65536 else 10)


def test_wire_round_trips():
    frame = wire({"type": "ack", "id": 1})
    assert json.loads(frame[2:]) == {"type": "ack", "id": 1}
