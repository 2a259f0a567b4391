"""chatd.yamltext: config values as YAML spells them, on one line, read back as they were."""

from __future__ import annotations

import datetime

import pytest
import yaml

from chatd.yamltext import yaml_kind, yaml_load, yaml_text

VALUES = [
    (None, "null"), (True, "true"), (False, "false"), (3, "3"), (1.5, "1.5"), (float("inf"), ".inf"),
    ("x", '"x"'), ("12", '"12"'), ("", '""'), ("true", '"true"'), ("it's", '"it\'s"'),
    ("two\nlines", '"two\\nlines"'), ("café \x01", '"café \\x01"'),
    (datetime.date(2024, 5, 1), "2024-05-01"), (datetime.datetime(2024, 5, 1, 10, 30), "2024-05-01 10:30:00"),
    (["lobby", None, 1], '["lobby", null, 1]'), ({"a": [True]}, '{"a": [true]}'), ([], "[]"), ({}, "{}"),
]


@pytest.mark.parametrize(("value", "text"), VALUES)
def test_a_value_is_spelled_as_yaml_writes_it_and_reads_back_the_same(value, text):
    assert yaml_text(value) == text
    assert yaml.safe_load(text) == value


def test_binary_data_takes_one_line_too():
    assert "\n" not in yaml_text(b"\x00" * 200)


@pytest.mark.parametrize(("value", "kind"), [
    (None, "null"), (False, "true or false"), (1, "a whole number"), (1.0, "a number"), ("", "a string"),
    (datetime.date(2024, 5, 1), "a date"), (datetime.datetime(2024, 5, 1), "a date and time"), ([], "a list"),
    ({}, "a mapping"), (b"", "binary data"),
])
def test_kinds_are_named_in_yaml_terms(value, kind):
    assert yaml_kind(value) == kind


@pytest.mark.parametrize("text, value", [
    ("12:30", "12:30"), ("-1:00", "-1:00"), ("1:30.5", "1:30.5"), ("!!int 12:30", "12:30"),
    ("12", 12), ("0x1f", 31), ("1_000", 1000), ("1.5", 1.5), ("-.inf", float("-inf")), ("12:30:00 pm", "12:30:00 pm"),
    ("012", "012"), ("-010", "-010"), ("0b11", "0b11"), ("0_0_17", "0_0_17"), ("0_12", "0_12"),
    ("0", 0), ("0.5", 0.5), ("012.5", 12.5), ("-0", 0),
])
def test_yaml_1_1_only_numbers_stay_strings_and_other_numbers_are_read(text, value):
    assert yaml_load(text) == value


def test_a_key_given_twice_is_refused_naming_both_lines():
    with pytest.raises(yaml.YAMLError) as e:
        yaml_load("log_level: info\nworkers: 1\nlog_level: debug\n", "chatd.yaml")
    assert "the key 'log_level' is given twice, on line 1 and" in str(e.value)
    assert 'in "chatd.yaml", line 3' in str(e.value)
    assert yaml_load("a: {b: 1}\nc: {b: 2}\n") == {"a": {"b": 1}, "c": {"b": 2}}  # one per mapping
    assert yaml_load("base: &b {x: 1, y: 2}\nmore:\n  <<: *b\n  y: 3\n") == {"base": {"x": 1, "y": 2},
                                                                              "more": {"x": 1, "y": 3}}
