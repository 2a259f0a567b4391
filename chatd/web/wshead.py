"""A ``/ws`` handshake's request head read from the bytes a socket holds so
far, without I/O: the strict form ``chatd.web.arrivals`` answers before
Tornado sees the connection.

    head = parse_head(data)   # INCOMPLETE, None, or Head(length, fields)
    head.fields.get("Sec-WebSocket-Key")

``None`` means "not for the fast path": the socket goes to Tornado untouched,
which answers it as it always did. So the form taken is a subset of what
Tornado 6.6 parses the same way (``HTTP1Connection._read_message``,
``HTTPHeaders.parse``): the start line ``GET /ws HTTP/1.1`` exactly; header
lines ``name: value`` ended by CRLF, a token name, a value of visible ASCII
and spaces (no tab, no byte past 0x7E, no control), no line folding, each
name once, at most ``FIELDS_MAX`` of them (more: Tornado's path answers
431); the head ended by the first empty line. With every LF after a CR
and no empty line before the last, the first CRLFCRLF is where Tornado's
``\\r?\\n\\r?\\n`` ends the head too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from chatd.web.headlimit import FIELDS_MAX

MAX_HEAD = 4096  # bytes looked at: a browser's handshake is ~500; a longer head is Tornado's
_START = b"GET /ws HTTP/1.1\r\n"
_END = b"\r\n\r\n"
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_VALUE = rb"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?"
_LINE = re.compile(rb"(" + _TOKEN + rb"): *(" + _VALUE + rb") *\r\n")
_LINES = re.compile(rb"(?:" + _TOKEN + rb": *" + _VALUE + rb" *\r\n)*\r\n")
_BARE_LF = re.compile(rb"(?<!\r)\n")  # ends a line (or the head) for Tornado, not for us


class Fields(dict):
    """A head's header fields: lower-case name -> value (str). Read as Tornado's
    ``HTTPHeaders`` is (``get``, ``get_list``, ``in``), whatever the name's case."""

    __slots__ = ()

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return dict.get(self, name.lower(), default)

    def get_list(self, name: str) -> list[str]:
        value = dict.get(self, name.lower())
        return [] if value is None else [value]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())


class Head(NamedTuple):
    length: int  # bytes of the head, its empty line included
    fields: Fields


class _Incomplete:
    def __repr__(self) -> str:
        return "INCOMPLETE"


INCOMPLETE = _Incomplete()  # so far a prefix of a head this module could take: more bytes may finish it


def parse_head(data: bytes) -> Head | _Incomplete | None:
    """``data``: the first bytes a client sent (at most ``MAX_HEAD`` of them).
    → ``Head`` when they start with a complete head of the form above (any
    bytes after it are the client's early frames), ``INCOMPLETE`` when none
    is there yet but one may follow, else None. ~3 µs for a browser's head."""
    end = data.find(_END)
    if end < 0:
        if (len(data) >= MAX_HEAD or not _START.startswith(data[:len(_START)])
                or _BARE_LF.search(data) is not None):
            return None
        return INCOMPLETE
    length = end + len(_END)
    start = len(_START)
    if (not data.startswith(_START) or data.count(b"\n", start, length) - 1 > FIELDS_MAX
            or _LINES.fullmatch(data, start, length) is None):
        return None
    fields = Fields()
    for name, value in _LINE.findall(data, start, length):
        key = name.decode().lower()
        if key in fields:
            return None  # several: Tornado joins them its way
        fields[key] = value.decode()
    return Head(length, fields)
