"""chatd.yaml as chatd reads it, and its values as it spells them back, for the
messages that name a value of the config: ``null``, ``true``, ``2024-01-01``,
``"x"``, ``[1, null]``, not Python's ``None``, ``True``,
``datetime.date(2024, 1, 1)``, ``'x'``.

    >>> yaml_load("workers: 12:30")
    {'workers': '12:30'}

    >>> yaml_text(None), yaml_text(False), yaml_text(1.5), yaml_text("12")
    ('null', 'false', '1.5', '"12"')
    >>> yaml_text(["lobby", None])
    '["lobby", null]'
    >>> yaml_kind([1])
    'a list'

Strings are always double-quoted (YAML §7.3.1, which is JSON's form too):
a plain ``x`` would not tell a string from a number, a date or a word of the
message around it, and control characters and line breaks come out escaped,
so a value takes one line.
"""

from __future__ import annotations

import datetime
import io
import math
from collections.abc import Callable
from typing import Any

import yaml

_DOCUMENT_END = "\n..."  # what PyYAML writes after a document that is a plain scalar


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, strings double-quoted."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"'))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without the numbers of YAML 1.1 that YAML 1.2 reads
    otherwise or not at all: base 60 (``12:30`` is 750), octal with a leading
    zero (``012`` is 10; 12 in YAML 1.2) and binary (``0b11``). Such a scalar stays
    a string, so a key that wants a number refuses it by name instead of taking a
    number nobody meant.
    And a key given twice in one mapping is an error (YAML 1.2 §3.2.1.1: keys are
    unique), not the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                first = seen.setdefault(key_node.value, key_node.start_mark)
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key_node.value!r} is given twice, on line {first.line + 1} and",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def _yaml_1_1_int(text: str) -> bool:
    digits = text.lstrip("+-").replace("_", "")  # YAML 1.1 allows _ anywhere: 0_17 is octal there too
    return ":" in digits or digits[:2] in ("0b", "0B") or (digits[:1] == "0" and digits[1:2].isdigit())


def _only_as_yaml_1_2(construct: Any, yaml_1_1: Callable[[str], bool]) -> Any:
    def number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        return loader.construct_scalar(node) if yaml_1_1(node.value) else construct(loader, node)
    return number


_Loader.add_constructor("tag:yaml.org,2002:int", _only_as_yaml_1_2(yaml.SafeLoader.construct_yaml_int, _yaml_1_1_int))
_Loader.add_constructor("tag:yaml.org,2002:float",
                        _only_as_yaml_1_2(yaml.SafeLoader.construct_yaml_float, lambda text: ":" in text))


def yaml_load(text: str, name: str = "<text>") -> Any:
    """The value of one YAML document, as ``yaml.safe_load`` gives it but for
    base-60 numbers, which stay strings, and keys given twice, which are refused.
    Raises ``yaml.YAMLError``, whose message names ``name`` (the file) and the line."""
    stream = io.StringIO(text)
    stream.name = name  # what PyYAML's marks call the stream
    return yaml.load(stream, Loader=_Loader)  # noqa: S506 - a SafeLoader


def yaml_text(value: Any) -> str:
    """``value`` (as ``yaml.safe_load`` gives it) as YAML writes it, on one line
    (collections in flow style). A value YAML cannot write (no config holds one)
    is shown as Python's repr."""
    try:
        text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, allow_unicode=True, width=math.inf)
    except yaml.YAMLError:
        return repr(value)
    text = text.strip()
    if text.endswith(_DOCUMENT_END):
        text = text[:-len(_DOCUMENT_END)]
    return " ".join(text.splitlines())  # a !!binary block, the one form left on several lines


# A value's kind, in YAML's terms, by its Python type: bool before int (a bool is an int).
_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"), (bool, "true or false"), (int, "a whole number"), (float, "a number"),
    (str, "a string"), (datetime.datetime, "a date and time"), (datetime.date, "a date"), (list, "a list"),
    (dict, "a mapping"), ((bytes, bytearray), "binary data"),
)


def yaml_kind(value: Any) -> str:
    """What ``value`` is in YAML's terms: ``a list``, ``a string``, ``null``, ..."""
    return next((kind for python_type, kind in _KINDS if isinstance(value, python_type)), type(value).__name__)
