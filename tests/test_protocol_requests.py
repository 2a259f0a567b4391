"""Client frames in, without a server: ``parse`` (chatd.protocol.requests) and the field checks it
applies (chatd.protocol.fields)."""

from __future__ import annotations

import json

import pytest

from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.fields import SCHEMAS, check_text
from chatd.protocol.requests import Request, parse


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


SURROGATE = "x\ud83d"


@pytest.mark.parametrize(("kind", "name"), [(k, f) for k, schema in SCHEMAS.items() for f in schema])
def test_ill_formed_string_in_any_field_is_refused_naming_it_with_the_cid(kind, name):
    e = refused(json.dumps({"type": kind, name: SURROGATE, "cid": "k"}))
    assert (e.code, e.cid) == (Code.BAD_FRAME, "k")
    assert e.message == f"'{name}' holds an unpaired UTF-16 surrogate (U+D83D) at character 1"


@pytest.mark.parametrize("frame", [{"type": "rooms", "x": SURROGATE}, {"type": "rooms", SURROGATE: 1},
                                   {"type": "rooms", "x": {"y": [SURROGATE]}}, {"type": SURROGATE},
                                   {"type": "nope", "x": SURROGATE}])
def test_ill_formed_strings_anywhere_are_refused_before_anything_else(frame):
    e = refused(json.dumps({**frame, "cid": "k"}))
    assert (e.code, e.cid) == (Code.BAD_FRAME, "k") and "unpaired UTF-16 surrogate" in e.message


def test_ill_formed_cid_is_refused_without_a_cid():
    e = refused(json.dumps({"type": "say", "room": "lobby", "text": "hi", "cid": SURROGATE}))
    assert (e.code, e.cid) == (Code.BAD_FRAME, None) and e.message.startswith("'cid' holds")


@pytest.mark.parametrize("field", ["text", "topic"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b"])
def test_control_characters_in_free_text_are_refused(field, char):
    frame = {"type": "say", "room": "lobby", "text": "a" + char} if field == "text" else \
        {"type": "create", "room": "r", "topic": "a" + char}
    e = refused(json.dumps({**frame, "cid": "k"}))
    assert (e.code, e.cid) == (Code.BAD_FRAME, "k")
    assert e.message.startswith(f"'{field}' holds the control character U+{ord(char):04X} at character 1")


def test_free_text_takes_every_other_scalar_value():
    text = "tab\tline\nCR\r 😀 \U0001F469\u200D\U0001F4BB \uffff\ufffe\ufdd0\U0010ffff \u202e \u2028 \ue000 e\u0301"
    assert parse(json.dumps({"type": "say", "room": "lobby", "text": text})).fields["text"] == text


@pytest.mark.parametrize("number", ["1e400", "9" * 5000, "1.0", "-1", str(2**63)])
def test_numbers_no_id_can_be_are_refused_naming_the_field(number):
    e = refused('{"type": "join", "room": "lobby", "since": ' + number + "}")
    assert e.code == Code.BAD_FRAME and e.message.startswith("'since' must be a message id")


@pytest.mark.parametrize("number", ["1e400", "9" * 5000, "1" + "0" * 20, "1.0", "0", "-1", str(2**63), str(2**64)])
@pytest.mark.parametrize("kind", ["history", "search"])
def test_a_limit_out_of_range_is_refused_whatever_its_digits(kind, number):
    """A limit from 1 to 2^63-1 is taken (a larger one than the server gives as its most);
    outside, refused as such: 2^63 was taken as a page, 10^20 called "not a whole number"."""
    e = refused('{"type": "' + kind + '", "room": "lobby", "q": "a", "limit": ' + number + "}")
    assert (e.code, e.message) == (Code.BAD_FRAME, "'limit' must be a whole number from 1 to 2^63-1")
    assert parse(f'{{"type": "{kind}", "room": "lobby", "q": "a", "limit": {2**63 - 1}}}').fields["limit"] == 2**63 - 1


def test_nan_is_not_json_and_a_duplicate_field_is_a_bad_frame():
    assert refused('{"type": "rooms", "x": NaN}').code == Code.BAD_JSON
    assert refused('{"type": "say", "room": "lobby", "text": "a", "text": "b"}').code == Code.BAD_FRAME


def test_a_room_name_typed_decomposed_is_the_composed_room():
    assert parse('{"type": "join", "room": "cafe\\u0301"}').fields["room"] == "caf\u00e9"


def test_check_text():
    check_text("hello", 5)
    with pytest.raises(ProtocolError) as e:
        check_text("hello!", 5)
    assert e.value.code == Code.TEXT_TOO_LONG
    with pytest.raises(ProtocolError) as e:
        check_text(" \n\t", 5)
    assert e.value.code == Code.EMPTY_TEXT


@pytest.mark.parametrize("text, code", [
    ('{"type": "ping", "x": 1, "x": 2, "cid": "D1"}', Code.BAD_FRAME),  # a field named twice
    ('{"cid": "D1", "type": "say", "meta": {"a": 1, "a": 2}}', Code.BAD_FRAME),  # ... at any depth
    ('{"type": "say", "text": "a", "text": "b", "cid": "D1"}', Code.BAD_FRAME),
    ('{"type": "rooms", "x": NaN, "cid": "D1"}', Code.BAD_JSON),
    ('{"type": "rooms", "cid": "D1", "x": [Infinity, -Infinity]}', Code.BAD_JSON),
])
def test_a_frame_refused_as_a_whole_keeps_its_cid_when_it_can_be_read(text, code):
    e = refused(text)
    assert (e.code, e.cid) == (code, "D1")


@pytest.mark.parametrize("text, code", [
    ('{"type": "ping", "cid": "D1", "cid": "D2"}', Code.BAD_FRAME),  # which one? neither
    ('{"type": "ping", "cid": "D1", "cid": "D1"}', Code.BAD_FRAME),
    ('{"type": "ping", "cid": "D1", "x": 1, "x": 2, "cid": "D2"}', Code.BAD_FRAME),
    ('{"type": "ping", "cid": NaN, "x": 1, "x": 2}', Code.BAD_JSON),  # NaN stops the reading first
    ('{"type": "ping", "x": NaN, "cid": "' + "c" * 65 + '"}', Code.BAD_JSON),
    ('{"type": "ping", "x": NaN, "cid": "\\ud83d"}', Code.BAD_JSON),
    ('{"type": "ping", "cid": "D1", "x": NaN, ', Code.BAD_JSON),  # cut short: not JSON at all
    ('{"type": "ping", "cid": "D1", "x": 1,}', Code.BAD_JSON),
    ('[{"type": "ping", "cid": "D1"}]', Code.BAD_JSON),
    ('{"cid": "D1", "x": ' + "[" * 40 + "]" * 40 + "}", Code.BAD_JSON),  # nests too deep to be read
])
def test_a_frame_whose_cid_cannot_be_read_without_doubt_is_refused_without_one(text, code):
    e = refused(text)
    assert (e.code, e.cid) == (code, None)
