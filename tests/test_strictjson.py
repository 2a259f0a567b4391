"""Strict decoding of client JSON, without a server."""

from __future__ import annotations

import json
import math

import pytest

from chatd import strictjson
from chatd.strictjson import (
    INT_DIGITS_MAX,
    NESTING_MAX,
    PATH_MAX,
    DuplicateName,
    NotJSON,
    displayable,
    ill_formed,
    loads,
    may_be_ill_formed,
)


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_nan_and_infinity_are_not_json(text):
    with pytest.raises(NotJSON, match="is not a JSON value"):
        loads(text)


def test_syntax_errors_say_where():
    with pytest.raises(NotJSON, match=r"\(char 5\)"):
        loads('{"a":}')


@pytest.mark.parametrize("depth", [NESTING_MAX + 1, 2000, 100_000])
def test_nesting_beyond_the_limit_is_refused_whatever_the_recursion_limit(depth):
    with pytest.raises(NotJSON, match=f"nest more than {NESTING_MAX} levels"):
        loads('{"a": ' + "[" * depth + "]" * depth + "}")


def test_nesting_up_to_the_limit_is_fine_and_brackets_in_strings_do_not_count():
    assert loads("[" * NESTING_MAX + "]" * NESTING_MAX)
    assert loads('{"a": "' + "[{" * 100 + '\\"", "b": ["\\\"[["]}')["b"] == ['"[[']


@pytest.mark.parametrize("text", ['"\\"' * 30_000 + "[" * 40, "[" * 40 + '"\\"' * 30_000, '"' + "[" * 60_000])
def test_nesting_check_is_linear_on_unterminated_strings(text):
    with pytest.raises(NotJSON):  # quadratic scanning would take minutes here
        loads(text)


def test_integers_longer_than_any_id_become_floats_whatever_their_length():
    assert loads("9" * INT_DIGITS_MAX) == int("9" * INT_DIGITS_MAX)
    assert isinstance(loads("1" * (INT_DIGITS_MAX + 1)), float)
    assert loads("9" * 5000) == math.inf  # int() would refuse more than 4300 digits
    assert loads("-" + "9" * 5000) == -math.inf
    assert loads("1e400") == math.inf  # valid JSON; no integer field accepts it


def test_a_name_twice_in_one_object_is_refused_at_any_depth():
    with pytest.raises(DuplicateName, match="'text' appears twice"):
        loads('{"text": "\\ud83d", "text": "fine"}')
    with pytest.raises(DuplicateName):
        loads('{"a": [{"k": 1, "k": 2}]}')


def test_well_formed_strings_pass():
    value = loads('{"a": "\\ud83d\\ude00 \\uffff \\u0000", "b": [{"\\u00e9": "é"}], "c": 1e400}')
    assert ill_formed(value) is None
    assert value["a"] == "😀 \uffff \x00"


@pytest.mark.parametrize(("text", "problem"), [
    ('{"text": "hi \\ud83d"}', "'text' holds an unpaired UTF-16 surrogate (U+D83D) at character 3"),
    ('{"t": "\\ude00\\ud83d"}', "'t' holds an unpaired UTF-16 surrogate (U+DE00) at character 0"),
    ('{"k\\udc00": 1}', "the field name 'k\\udc00' holds an unpaired UTF-16 surrogate (U+DC00) at character 1"),
    ('{"a": {"b": [0, ["x", "\\ud800"]]}}', "'a.b[1][1]' holds"),
    ('{"a": [{"\\udfff": null}]}', "the field name 'a[0].\\udfff' holds"),
])
def test_ill_formed_names_the_path(text, problem):
    assert ill_formed(loads(text)).startswith(problem)


def test_first_problem_in_document_order_is_named():
    assert ill_formed(loads('{"a": "\\ud800", "b": "\\ud800"}')).startswith("'a'")
    assert ill_formed(loads('{"a": ["ok", "\\ud800"], "b": "\\ud800"}')).startswith("'a[1]'")


def test_deep_nesting_costs_no_recursion():
    deep: list = ["\ud800"]
    for _ in range(10_000):
        deep = [deep]
    assert "holds an unpaired" in ill_formed(deep)


def test_long_field_names_are_cut_in_messages():
    problem = ill_formed({"x" * 10_000: "\ud800"})
    assert len(problem) < PATH_MAX + 100


def test_cheap_filter_never_misses_a_surrogate():
    assert not may_be_ill_formed('{"text": "héllo 😀"}')
    assert may_be_ill_formed('{"text": "\\ud83d"}')
    assert may_be_ill_formed('{"text": "\ud83d"}')  # a str holding the surrogate itself


def test_displayable_escapes_and_cuts():
    assert displayable("a\ud800b", 10) == "a\\ud800b"
    assert displayable("x" * 20, 10) == "x" * 9 + "…"
    displayable("\udfff" * 1000, 50).encode("utf-8")


@pytest.mark.parametrize("text", [
    '{"type":"say","room":"lobby","text":"hi","cid":"c1"}', ' {"a": 1} ', '{"a": 1}\n', '{"a": {"b": [1, 2]}}',
    '{}', '{"a":}', '{"a": [1, ]}', '{"a": 1} {"b": 2}', '{"a": 1}}', '{"a": 1, }', '{"a" 1}',
    '{"a": "\\u00e9"}', '{', '}', '{"a": 1]}', '[1, 2]', '"x"', '{"a": 1, "a": 2}', '{"a": NaN}',
    '{"n": ' + "9" * 30 + "}",
])
def test_a_frame_without_whitespace_around_it_reads_as_the_decoder_reads_it(text):
    """loads's shortcut for '{...}' (the scanner alone) gives the value or the error that the
    strict decoder's decode() gives, whether or not the shortcut applies (whitespace around,
    data after the object)."""

    def decoded(text: str) -> object:  # loads as it was before its shortcut
        try:
            return strictjson._DECODER.decode(text)
        except json.JSONDecodeError as e:
            raise NotJSON(str(e)) from None

    def outcome(read):
        try:
            return "value", read(text)
        except (NotJSON, DuplicateName) as e:
            return type(e).__name__, str(e)

    assert outcome(loads) == outcome(decoded)
