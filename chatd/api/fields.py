"""What an HTTP API request may carry, declared once: each ``Schema`` both checks a request's
arguments and is the JSON Schema of the OpenAPI document. Pure: no I/O.

The checks are the WebSocket's (``chatd.protocol.fields``): room names NFC-normalised and
checked by ``room_name_problem``, message text free of control characters, user
and message ids in the protocol's ranges. Strings that UTF-8 cannot encode never
get this far: the body is read by ``chatd.strictjson`` and refused whole
(``chatd.web.jsonbody``).

    SEND = Schema({"room": Field(ROOM, doc="..."), "text": Field(TEXT, required=True)}, one_of=[("room", "to")])
    args = SEND.check({"room": "lobby", "text": "hi"})        # or Invalid("'text' is required")
    SEND.json_schema()                                         # {"type": "object", "properties": ...}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatd.protocol.codes import MAX_ID, ROOM_MAX, Code, ProtocolError
from chatd.protocol.fields import _free_text, _message_id, _room, _user_id


class Invalid(Exception):
    """An argument is refused; ``code`` the stable error code (``bad_request`` unless the
    WebSocket has a closer one, e.g. ``bad_room``), str() names the field and the problem;
    ``details``, the WebSocket refusal's fields (a room name's broken ``rule``, ...)."""

    def __init__(self, message: str, code: str = "bad_request", details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class Kind:
    """One kind of value: ``check`` returns it (normalised) or raises ValueError /
    ProtocolError; ``schema`` is its JSON Schema; ``parse_text`` reads it from a path or
    query string."""

    check: Callable[[Any], Any]
    schema: dict[str, Any]
    parse_text: Callable[[str], Any] = lambda text: text


def _whole(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError("must be a whole number")
    # More digits than any id: beyond every range, which the kind then names (not read: a
    # number of thousands of digits would cost time quadratic in them).
    return MAX_ID + 1 if len(text) > len(str(MAX_ID)) else int(text)


EXACT_FLOAT_MAX = 2**53  # from it on, a JSON number with a fraction part may not be the integer it spells


def whole(kind_check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``kind_check`` taking an integral JSON number written with a fraction part (``458.0``, what
    PHP's json_encode writes for a float) as the integer: JSON Schema's "integer" is any number
    with a zero fraction part (JSON Schema 2020-12 validation §6.1.1), and the OpenAPI document
    says "integer"."""

    def check(v: Any) -> Any:
        # Above MAX_ID, a float is out of every range: the kind says so (it may have been written as an
        # integer: chatd.strictjson reads a literal of more than 20 digits as a float).
        if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_ID:
            if abs(v) >= EXACT_FLOAT_MAX:  # 2**53 + 1 is read as 2**53: from it on, a float may be another number
                raise ValueError("is too large to be exact with a fraction part; write it as a whole number")
            v = int(v)
        return kind_check(v)

    return check


def _true_false(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("must be true or false")
    return text == "true"


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


# JSON Schema patterns (ECMA-262 with Unicode property escapes, JSON Schema 2020-12 §6.3.3) saying
# in the OpenAPI document what the checks below refuse, so that a request built from the document
# is accepted. The checks stay the authority: they also refuse what no pattern says (invisible
# letters in room names, chatd.names.characters_problem).
_CONTROLS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"  # chatd.protocol.fields._CONTROL
FREE_TEXT_PATTERN = f"^[^{_CONTROLS}]*$"
NOT_BLANK_PATTERN = f"^[^{_CONTROLS}]*[^\\s{_CONTROLS}][^{_CONTROLS}]*$"  # chatd.protocol.fields.check_text
# chatd.protocol.roomnames.room_name_problem: a letter or digit, then letters, digits, marks but the enclosing
# ones (\p{Me}, spelled out: Unicode 14; not every pattern engine knows the Mn/Mc/Me classes), "_.-"
# and joiners.
ENCLOSING_MARKS = r"\u0488\u0489\u1abe\u20dd-\u20e0\u20e2-\u20e4\ua670-\ua672"
ROOM_PATTERN = rf"^(?!.*[{ENCLOSING_MARKS}])[\p{{L}}\p{{N}}][\p{{L}}\p{{N}}\p{{M}}_.\-\u200c\u200d]*$"


def string(max_chars: int, min_chars: int = 1) -> Kind:
    """A string of ``min_chars`` to ``max_chars`` characters, control characters refused."""

    def check(v: Any) -> str:
        text = _free_text(v)
        if not min_chars <= len(text) <= max_chars:
            raise ValueError(f"must be {min_chars} to {max_chars} characters")
        return text

    return Kind(check, {"type": "string", "minLength": min_chars, "maxLength": max_chars,
                        "pattern": FREE_TEXT_PATTERN})


def integer(lo: int, hi: int) -> Kind:
    def check(v: Any) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return v

    return Kind(whole(check), {"type": "integer", "minimum": lo, "maximum": hi}, lambda t: check(_whole(t)))


def one_of(*choices: str) -> Kind:
    def check(v: Any) -> str:
        if v not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return v

    return Kind(check, {"type": "string", "enum": list(choices)})


def list_of(kind: Kind, max_items: int, min_items: int = 1) -> Kind:
    """A JSON array of ``min_items`` to ``max_items`` values of ``kind``."""
    def check(v: Any) -> list:
        if not isinstance(v, list):
            raise ValueError("must be a list")
        if len(v) < min_items:
            raise ValueError(f"must hold at least {min_items} {'item' if min_items == 1 else 'items'}, not {len(v)}")
        if len(v) > max_items:
            raise ValueError(f"must hold at most {max_items} items, not {len(v)}")
        out = []
        for i, item in enumerate(v):
            try:
                out.append(kind.check(item))
            except ValueError as e:
                raise ValueError(f"item {i} {e}") from None
        return out

    return Kind(check, {"type": "array", "items": kind.schema, "minItems": min_items, "maxItems": max_items})


def _any_object(v: Any) -> dict:
    if not isinstance(v, dict):
        raise ValueError("must be a JSON object")
    return v


# Kinds the protocol defines (docs/protocol.md): the same checks as a WebSocket frame's fields.
ROOM = Kind(_room, {"type": "string", "minLength": 1, "maxLength": ROOM_MAX, "pattern": ROOM_PATTERN,
                    "description": "a room name: letters (with their marks), digits, '_', '-', '.'; refused "
                                   "(400 bad_room) beyond the pattern: invisible letters, a zero-width joiner "
                                   "or non-joiner not between two visible characters, too many marks on one "
                                   "character (docs/protocol.md, room names)"})
USER_ID = Kind(whole(_user_id), {"type": "integer", "minimum": 1, "maximum": MAX_ID}, lambda t: _user_id(_whole(t)))
MESSAGE_ID = Kind(whole(_message_id), {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                  lambda t: _message_id(_whole(t)))
TEXT = Kind(_free_text, {"type": "string", "pattern": NOT_BLANK_PATTERN,
                         "description": "message text; at most limits.max_text_chars characters, no control "
                                        "characters but tab and newlines"})
BOOLEAN = Kind(_boolean, {"type": "boolean"}, _true_false)
OBJECT = Kind(_any_object, {"type": "object"})


@dataclass(frozen=True)
class Field:
    kind: Kind
    required: bool = False
    doc: str = ""
    where: str = "body"  # "body", "path" or "query" (a batch operation carries them all in its "args")


@dataclass(frozen=True)
class Schema:
    """The arguments of an operation: named fields, each of a Kind. ``one_of``: groups of
    which exactly one field must be given; ``at_most_one``: groups of which at most one may."""

    fields: dict[str, Field] = field(default_factory=dict)
    one_of: tuple[tuple[str, ...], ...] = ()
    at_most_one: tuple[tuple[str, ...], ...] = ()

    def check(self, data: Any, where: str = "") -> dict[str, Any]:
        """The checked arguments of ``data`` (a decoded JSON object), fields given as null
        left out; Invalid naming the first problem. Unknown fields are refused: a typo
        must not pass silently."""
        if not isinstance(data, dict):
            raise Invalid(f"{where or 'the body'} must be a JSON object")
        unknown = [name for name in data if name not in self.fields]
        if unknown:
            raise Invalid(f"unknown field {_quote(where, unknown[0])}; the fields are "
                          f"{', '.join(self.fields) or 'none'}")
        args: dict[str, Any] = {}
        for name, f in self.fields.items():
            value = data.get(name)
            if value is None:
                if f.required:
                    raise Invalid(f"{_quote(where, name)} is required")
                continue
            args[name] = _checked(f.kind.check, value, _quote(where, name))
        self._check_groups(args, where)
        return args

    def check_text(self, values: dict[str, str]) -> dict[str, Any]:
        """Path and query arguments (strings) read by their kinds; the rest is ``check``'s."""
        data = {}
        for name, text in values.items():
            f = self.fields.get(name)
            data[name] = _checked(f.kind.parse_text, text, _quote("", name)) if f else text
        return data

    def _check_groups(self, args: dict[str, Any], where: str) -> None:
        for group in self.one_of:
            if sum(name in args for name in group) != 1:
                raise Invalid(f"give exactly one of {', '.join(_quote(where, n) for n in group)}")
        for group in self.at_most_one:
            if sum(name in args for name in group) > 1:
                raise Invalid(f"give at most one of {', '.join(_quote(where, n) for n in group)}")

    def needs_body(self) -> bool:
        """Whether a request without a body is refused: a body field is required, or one of a group."""
        body = self.where("body")
        return any(f.required for f in body.values()) or any(all(n in body for n in g) for g in self.one_of)

    def where(self, place: str) -> dict[str, Field]:
        return {name: f for name, f in self.fields.items() if f.where == place}

    def json_schema(self, place: str | None = "body") -> dict[str, Any]:
        """The JSON Schema of the fields in ``place`` (None: all, as a batch operation's "args")."""
        fields = self.fields if place is None else self.where(place)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: {**_nullable(f), **({"description": f.doc} if f.doc else {})}
                           for name, f in fields.items()},
            "additionalProperties": False,
        }
        required = [name for name, f in fields.items() if f.required]
        if required:
            schema["required"] = required
        # A field given as null counts as absent (check, and docs/protocol.md), in these rules too.
        rules = [{"oneOf": [_given(name) for name in g]} for g in self.one_of if all(n in fields for n in g)]
        rules += [{"not": {"allOf": [_given(a), _given(b)]}} for g in self.at_most_one if all(n in fields for n in g)
                  for i, a in enumerate(g) for b in g[i + 1:]]
        if len(rules) == 1:
            schema.update(rules[0])
        elif rules:
            schema["allOf"] = rules
        return schema


def _nullable(f: Field) -> dict[str, Any]:
    """An optional field's JSON Schema takes null too: ``Schema.check`` reads null as absent."""
    return f.kind.schema if f.required else {"anyOf": [f.kind.schema, {"type": "null"}]}


def _given(name: str) -> dict[str, Any]:
    """JSON Schema of "``name`` is given": present and not null."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _checked(check: Callable[[Any], Any], value: Any, label: str) -> Any:
    try:
        return check(value)
    except ValueError as e:
        raise Invalid(f"{label} {e}") from None
    except ProtocolError as e:  # a kind of the protocol with a code of its own (bad_room)
        raise Invalid(f"{label}: {e.message}", str(e.code) if e.code != Code.BAD_FRAME else "bad_request",
                      e.details) from None


def _quote(where: str, name: str) -> str:
    return f"'{where}.{name}'" if where else f"'{name}'"
