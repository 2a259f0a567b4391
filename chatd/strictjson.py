"""JSON text from clients, decoded strictly. Pure: no I/O.

Python's ``json`` module accepts more than JSON (RFC 8259) and returns
values the rest of chatd cannot use. ``loads`` closes each gap:

- ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259 §6): NotJSON.
- An integer literal of any length is JSON; Python's ``int()`` refuses one
  over 4300 digits and spends time quadratic in the digits below that.
  Literals longer than ``INT_DIGITS_MAX`` become floats (``inf`` when
  huge), which no integer field of the protocol accepts.
- Nesting depth is only bounded by the recursion limit, which differs
  from process to process; RFC 8259 §9 lets a parser set a limit, and
  ``NESTING_MAX`` is ours, the same everywhere: NotJSON beyond it.
- The names in an object SHOULD be unique (RFC 8259 §4) and parsers
  disagree about which of two wins; a frame holding both is ambiguous:
  DuplicateName.
- A text refused only for a constant or a repeated name is still read as
  far as it can be (``Refused.salvaged``), so the caller can answer with
  what is unambiguous in it (chatd.protocol.requests: the frame's ``cid``).
- A ``\\uD83D`` escape without its partner is valid JSON (RFC 8259 §8.2)
  and gives a string that cannot be encoded as UTF-8, so it cannot be
  stored or sent to anyone. ``ill_formed`` finds the first such string,
  value or name, at any depth.

    >>> ill_formed(loads('{"type": "say", "text": "hi \\\\ud83d"}'))
    "'text' holds an unpaired UTF-16 surrogate (U+D83D) at character 3"
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

# Longest integer literal kept as an int: 2**63 - 1, the largest id, has 19 digits.
INT_DIGITS_MAX = 20
# Deepest nesting of arrays and objects accepted; a protocol frame needs 2.
NESTING_MAX = 32
# Longest field path quoted in an error message: replies stay small whatever the keys.
PATH_MAX = 60


class Refused(Exception):
    """A text ``loads`` refuses; str() says where and why. ``salvaged``: the
    value read leniently when the text is JSON syntax refused only for
    ``NaN``/``Infinity`` (read as None) or a repeated name (the last one
    kept, and the object a ``Salvaged`` listing it in ``repeated``); None
    when the text cannot be read at all (bad syntax, nesting too deep)."""

    salvaged: Any = None


class NotJSON(Refused):
    """The text is not JSON."""


class DuplicateName(Refused):
    """One object names the same field twice; str() says which."""


class Salvaged(dict):
    """An object of a refused text; ``repeated``: its names that appear more than once."""

    repeated: frozenset[str] = frozenset()


def _lenient_object(pairs: list[tuple[str, Any]]) -> Salvaged:
    obj = Salvaged(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        obj.repeated = frozenset(name for name in obj if names.count(name) > 1)
    return obj


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateName(f"field {_quote((name,))} appears twice in one object")
            seen.add(name)
    return obj


def _integer(literal: str) -> int | float:
    return int(literal) if len(literal) <= INT_DIGITS_MAX else float(literal)


def _constant(name: str) -> Any:
    raise NotJSON(f"{name} is not a JSON value")


# Built once: json.loads with options builds a decoder per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_integer, parse_constant=_constant)
# Its scanner alone: what decode() runs for a text with no whitespace around it (a frame as
# clients send it), without decode()'s and raw_decode()'s two regex matches and calls (~0.3 µs).
_SCAN = _DECODER.scan_once
_LENIENT = json.JSONDecoder(object_pairs_hook=_lenient_object, parse_int=_integer, parse_constant=lambda name: None)
# What nesting depends on: a whole string (possessive, so a long one is read
# once), a quote that starts no whole string (the text is not JSON), a bracket.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*+"|"|[][{}]')


def _too_deep(text: str) -> bool:
    """Whether ``text`` nests arrays and objects deeper than NESTING_MAX.
    Linear in the text; costs two counts when it has few brackets."""
    if text.count("[") + text.count("{") <= NESTING_MAX:
        return False
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > NESTING_MAX:
                return True
        elif token in ("]", "}"):
            depth -= 1
        elif token == '"':
            return False  # an unterminated string: the decoder stops there, no deeper than we counted
    return False


def loads(text: str) -> Any:
    """The value of one JSON text; NotJSON or DuplicateName when it is refused
    (with ``salvaged`` when it can be read: ``Refused``)."""
    if _too_deep(text):
        raise NotJSON(f"arrays and objects nest more than {NESTING_MAX} levels deep")
    try:
        if text[:1] == "{" and text[-1:] == "}":
            try:
                value, end = _SCAN(text, 0)  # as decode() would, from the same first character
            except StopIteration:  # no value where one must be: decode() below says where
                end = -1
            if end == len(text):
                return value
        return _DECODER.decode(text)  # whitespace around it, or more after it ("Extra data")
    except json.JSONDecodeError as e:
        raise NotJSON(str(e)) from None  # "Expecting value: line 1 column 6 (char 5)"
    except Refused as e:  # a constant or a repeated name stopped the decoder: read the rest, if it is JSON
        with contextlib.suppress(json.JSONDecodeError):  # bad syntax after it: nothing can be read without doubt
            e.salvaged = _LENIENT.decode(text)
        raise


def surrogate_at(s: str) -> int | None:
    """Index of the first character of ``s`` that UTF-8 cannot encode (an
    unpaired surrogate: the only such characters), or None."""
    if s.isascii():  # O(1) in CPython: the common case costs nothing
        return None
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def may_be_ill_formed(text: str) -> bool:
    """False when no string decoded from the JSON ``text`` can be ill formed:
    it holds no surrogate itself and no ``\\u`` escape that could make one.
    A cheap test that spares most frames the walk of ``ill_formed``."""
    return "\\u" in text or surrogate_at(text) is not None


def ill_formed(value: Any) -> str | None:
    """Why ``value`` (a decoded JSON value) cannot be encoded as UTF-8, naming
    the first offending string or field name in document order; None when
    every string in it is well formed. Iterative: nesting depth costs no stack."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            at = surrogate_at(item)
            if at is not None:
                return f"{_quote(path)} {_holds(item, at)}"
        elif isinstance(item, dict):
            children = []
            for name, child in item.items():
                at = surrogate_at(name)
                if at is not None:
                    return f"the field name {_quote((*path, name))} {_holds(name, at)}"
                children.append(((*path, name), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))
    return None


def _holds(s: str, at: int) -> str:
    return f"holds an unpaired UTF-16 surrogate (U+{ord(s[at]):04X}) at character {at}"


def displayable(s: str, limit: int) -> str:
    """``s`` made safe to put in a reply: unpaired surrogates written as
    ``\\udXXX`` escapes, cut to ``limit`` characters."""
    if surrogate_at(s) is not None:
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _quote(path: tuple[str | int, ...]) -> str:
    """A field path as error messages show it: 'room', 'meta.tags[2]'."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return "'" + displayable(text or "(frame)", PATH_MAX) + "'"
