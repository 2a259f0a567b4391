"""Protocol parsing and encoding, without a server."""

from __future__ import annotations

import json

import pytest

from chatd.protocol import Code, ProtocolError, Request, check_text, clean_name, encode, parse, room_name_problem
from chatd.wsframe import text_frame, wire


def refused(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as e:
        parse(text)
    return e.value


def test_parse_valid_say():
    req = parse('{"type": "say", "room": "lobby", "text": "hi", "cid": "c1"}')
    assert req == Request("say", "c1", {"room": "lobby", "text": "hi"})


def test_null_optional_fields_count_as_absent():
    assert parse('{"type": "join", "room": "lobby", "since": null}').fields == {"room": "lobby"}
    assert parse('{"type": "rooms", "cid": null}').cid is None
    e = refused('{"type": "join", "room": null, "cid": "k"}')  # a required field set to null is missing
    assert (e.code, e.cid) == (Code.BAD_FRAME, "k") and "'room' is required" in e.message


def test_unknown_fields_are_ignored():
    assert parse('{"type": "join", "room": "lobby", "colour": "red", "text": 5}') == Request("join", None,
                                                                                              {"room": "lobby"})


def test_wrong_type_names_the_field_and_keeps_the_cid():
    e = refused('{"type": "history", "room": "lobby", "before": "x", "cid": "k"}')
    assert (e.code, e.cid) == (Code.BAD_FRAME, "k") and "'before'" in e.message


@pytest.mark.parametrize("text", ['{"type": "identify"}', '{"type": "say", "text": "x"}',
                                  '{"type": "history", "room": "a", "with": 3}'])
def test_field_combinations(text):
    assert refused(text).code == Code.BAD_FRAME


def test_bools_are_not_numbers():
    assert refused('{"type": "join", "room": "a", "since": true}').code == Code.BAD_FRAME


def test_unknown_type_and_bad_cid():
    assert refused('{"type": "shout"}').code == Code.UNKNOWN_TYPE
    assert refused('{"type": "rooms", "cid": 5}').code == Code.BAD_FRAME
    assert refused('{"type": "rooms", "cid": "' + "c" * 65 + '"}').code == Code.BAD_FRAME


def test_binary_is_refused():
    with pytest.raises(ProtocolError) as e:
        parse(b"{}")
    assert e.value.code == Code.BAD_FRAME


@pytest.mark.parametrize("name", ["lobby", "Room-2", "a.b_c", "café", "x" * 32])
def test_good_room_names(name):
    assert room_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "-x", ".hidden", "_x", "a b", "x" * 33, "a/b", "@me", "#x"])
def test_bad_room_names(name):
    assert room_name_problem(name)


def test_clean_name_normalises_and_refuses_control_characters():
    assert clean_name("  Ame\u0301lie ") == "Amélie"
    for bad in ["", "  ", "a\x00b", "a\u200bb", "line\u2028break", "x" * 33]:
        with pytest.raises(ProtocolError) as e:
            clean_name(bad)
        assert e.value.code == Code.BAD_NAME


def test_check_text():
    check_text("hello", 5)
    with pytest.raises(ProtocolError) as e:
        check_text("hello!", 5)
    assert e.value.code == Code.TEXT_TOO_LONG
    with pytest.raises(ProtocolError) as e:
        check_text(" \n\t", 5)
    assert e.value.code == Code.EMPTY_TEXT


def test_encode_is_compact_utf8():
    assert encode({"type": "x", "text": "né"}) == '{"type":"x","text":"né"}'.encode()


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
