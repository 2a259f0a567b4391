"""Protocol v1: client frames in, server frames out. Pure: no I/O.

``parse`` turns the text of one client frame into a ``Request`` or raises
``ProtocolError`` with a stable code; ``encode`` turns a server frame into
the UTF-8 bytes sent on the wire, once, however many recipients get it.
docs/protocol.md is the contract this module implements.

    >>> parse('{"type": "say", "room": "lobby", "text": "hi", "cid": "c1"}')
    Request(type='say', cid='c1', fields={'room': 'lobby', 'text': 'hi'})
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

VERSION = 1
NAME_MAX = 32
ROOM_MAX = 32
TOPIC_MAX = 200
CID_MAX = 64
MAX_ID = 2**63 - 1


class Code(StrEnum):
    """Error codes of ``error`` frames; stable, clients switch on them."""

    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    NOT_IDENTIFIED = "not_identified"
    ALREADY_IDENTIFIED = "already_identified"
    BAD_NAME = "bad_name"
    NAME_TAKEN = "name_taken"
    BAD_TOKEN = "bad_token"
    BAD_ROOM = "bad_room"
    NO_SUCH_ROOM = "no_such_room"
    ROOM_EXISTS = "room_exists"
    TOO_MANY_ROOMS = "too_many_rooms"
    FORBIDDEN = "forbidden"
    NOT_IN_ROOM = "not_in_room"
    NO_SUCH_USER = "no_such_user"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class CloseCode:
    """WebSocket close codes (RFC 6455 §7.4.1, and 1012-1014 from the IANA
    registry). Which of them may appear in a close frame is a framing rule:
    ``chatd.wsframe.close_code_allowed``."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server stopping
    PROTOCOL_ERROR = 1002  # broken WebSocket framing, or a close frame that breaks the rules
    UNSUPPORTED_DATA = 1003
    RESERVED = 1004  # reserved, meaning still undefined: never in a close frame
    NO_STATUS = 1005  # what a close frame without a code reports: never in a close frame
    ABNORMAL = 1006  # what a connection lost without a close frame reports: never in a close frame
    INVALID_DATA = 1007  # a text frame or a close reason that is not UTF-8
    POLICY_VIOLATION = 1008  # kept flooding
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011  # a bug in chatd met while reading this connection
    SERVICE_RESTART = 1012  # chatd restart
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015  # what a failed TLS handshake reports: never in a close frame
    APPLICATION_FIRST = 3000  # 3000-3999 registered by libraries and applications, 4000-4999 private use
    APPLICATION_LAST = 4999


class ProtocolError(Exception):
    """A request that is refused; becomes an ``error`` frame."""

    def __init__(self, code: Code, message: str, cid: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.cid = cid


@dataclass
class Request:
    type: str
    cid: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


# Field kinds: each validates one value and returns it (normalised) or raises ValueError.


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


def _message_id(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_ID:
        raise ValueError("must be a message id (a whole number ≥ 0)")
    return v


def _user_id(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_ID:
        raise ValueError("must be a user id (a whole number ≥ 1)")
    return v


def _limit(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError("must be a whole number ≥ 1")
    return v


def _room(v: Any) -> str:
    name = _string(v)
    problem = room_name_problem(name)
    if problem:
        raise ProtocolError(Code.BAD_ROOM, f"room name {problem}")
    return name


# type → {field: (kind, required)}
SCHEMAS: dict[str, dict[str, tuple[Any, bool]]] = {
    "identify": {"name": (_string, False), "token": (_string, False), "since": (_message_id, False)},
    "rooms": {},
    "join": {"room": (_room, True), "since": (_message_id, False)},
    "leave": {"room": (_room, True)},
    "create": {"room": (_room, True), "topic": (_string, False)},
    "say": {"room": (_room, False), "to": (_user_id, False), "text": (_string, True)},
    "history": {
        "room": (_room, False),
        "with": (_user_id, False),
        "before": (_message_id, False),
        "after": (_message_id, False),
        "limit": (_limit, False),
    },
}


def parse(text: str | bytes) -> Request:
    """Validate one client frame; raise ProtocolError naming the problem."""
    if isinstance(text, bytes):
        raise ProtocolError(Code.BAD_FRAME, "binary frames are not accepted; send JSON text")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(Code.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(Code.BAD_JSON, "frame must be a JSON object")
    cid = data.get("cid")
    if cid is not None and not (isinstance(cid, str) and 1 <= len(cid) <= CID_MAX):
        raise ProtocolError(Code.BAD_FRAME, f"'cid' must be a string of 1 to {CID_MAX} characters")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(Code.BAD_FRAME, "'type' is missing or not a string", cid)
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ProtocolError(Code.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}", cid)
    fields = {}
    for name, (check, required) in schema.items():
        if name not in data or data[name] is None:
            if required:
                raise ProtocolError(Code.BAD_FRAME, f"'{name}' is required for {kind}", cid)
            continue
        try:
            fields[name] = check(data[name])
        except ValueError as e:
            raise ProtocolError(Code.BAD_FRAME, f"'{name}' {e}", cid) from None
        except ProtocolError as e:
            e.cid = cid
            raise
    _check_combinations(kind, fields, cid)
    return Request(kind, cid, fields)


def _check_combinations(kind: str, fields: dict[str, Any], cid: str | None) -> None:
    if kind == "identify" and "name" not in fields and "token" not in fields:
        raise ProtocolError(Code.BAD_FRAME, "identify needs 'name' or 'token'", cid)
    if kind == "say" and ("room" in fields) == ("to" in fields):
        raise ProtocolError(Code.BAD_FRAME, "say needs exactly one of 'room' and 'to'", cid)
    if kind == "history" and "room" in fields and "with" in fields:
        raise ProtocolError(Code.BAD_FRAME, "history takes 'room' or 'with', not both", cid)
    if kind == "create" and len(fields.get("topic", "")) > TOPIC_MAX:
        raise ProtocolError(Code.BAD_FRAME, f"'topic' is longer than {TOPIC_MAX} characters", cid)


def _has_forbidden_chars(s: str) -> bool:
    # Cc control, Cf format (bidi overrides, zero-width), Cs/Co/Cn, Zl/Zp line breaks.
    return any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in s)


def clean_name(raw: str) -> str:
    """A user's display name, normalised, or ProtocolError(bad_name)."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise ProtocolError(Code.BAD_NAME, "name is empty")
    if len(name) > NAME_MAX:
        raise ProtocolError(Code.BAD_NAME, f"name is longer than {NAME_MAX} characters")
    if _has_forbidden_chars(name):
        raise ProtocolError(Code.BAD_NAME, "name contains control, format or line-break characters")
    return name


def name_key(name: str) -> str:
    """The key under which two names are the same (case-insensitive)."""
    return name.casefold()


_ROOM = re.compile(r"^[^\W_][\w.-]*$")


def room_name_problem(name: str) -> str | None:
    """Why a room name is invalid, or None when it is fine."""
    if not 1 <= len(name) <= ROOM_MAX:
        return f"must be 1 to {ROOM_MAX} characters"
    if not _ROOM.match(name):
        return "may hold only letters, digits, '_', '-' and '.', and must start with a letter or digit"
    return None


def check_text(text: str, max_chars: int) -> None:
    """Refuse empty or over-long message text."""
    if not text.strip():
        raise ProtocolError(Code.EMPTY_TEXT, "message text is empty")
    if len(text) > max_chars:
        raise ProtocolError(Code.TEXT_TOO_LONG, f"message text is longer than {max_chars} characters")


# Server frames.


def encode(frame: dict[str, Any]) -> bytes:
    """The wire bytes of one server frame."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()


def error_frame(code: Code, message: str, cid: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": str(code), "message": message}
    if cid is not None:
        frame["cid"] = cid
    return frame
