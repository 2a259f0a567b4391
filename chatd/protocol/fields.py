"""What each field of a client request may hold (docs/protocol.md, "Client → server"): the field
kinds, each of which checks one value and returns it normalised, and ``SCHEMAS``, each request
type's fields and whether they are required. ``checked_room`` and ``checked_topic`` check the same
values from elsewhere (the HTTP API, an app token's rooms); ``check_text`` a message's text against
the configured length, which no schema knows.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import emoji

from chatd.fulltext import QUERY_MAX
from chatd.names import Problem, bidi_problem
from chatd.protocol.codes import (
    ATTACHMENTS_MAX,
    ATTACHMENTS_TOO_MANY,
    EMOJI_MAX_CHARS,
    EPOCH_MAX,
    MAX_ID,
    REASON_MAX,
    ROOM_MAX,
    SANCTION_SECONDS_MAX,
    TOPIC_MAX,
    UPLOAD_ID,
    Code,
    ProtocolError,
)
from chatd.protocol.roomnames import room_name_problem

# Field kinds: each validates one value and returns it (normalised) or raises ValueError.


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("must be a string")
    return v


# Control characters (C0 but tab, line feed and carriage return; DEL; C1):
# nothing a person types, and in bots, terminals and log viewers they end
# strings (NUL) or start escape sequences (ESC, CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _free_text(v: Any) -> str:
    """Text people write (message text, room topic): any Unicode scalar value
    but the control characters above."""
    text = _string(v)
    bad = _CONTROL.search(text)
    if bad:
        raise ValueError(f"holds the control character U+{ord(bad.group()):04X} at character {bad.start()};"
                         " only tab, line feed and carriage return may appear")
    return text


def _topic(v: Any) -> str:
    """A room's topic: free text without bidirectional controls, as names refuse them
    (``chatd.names.bidi_problem``): a topic is shown by itself, beside the page's own words."""
    text = _free_text(v)
    problem = bidi_problem(text, "topic")
    if problem:
        raise ValueError(problem)
    return text


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


def _message_id(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_ID:
        raise ValueError("must be a message id (a whole number from 0 to 2^63-1)")
    return v


def _user_id(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_ID:
        raise ValueError("must be a user id (a whole number from 1 to 2^63-1)")
    return v


def _epoch(v: Any) -> str:
    if not (isinstance(v, str) and 1 <= len(v) <= EPOCH_MAX and v.isascii() and v.isalnum()):
        raise ValueError(f"must be the epoch a welcome gave (1 to {EPOCH_MAX} letters and digits)")
    return v


def _emoji(v: Any) -> str:
    """One fully-qualified emoji of Unicode's RGI set (the ``emoji`` package's data: a single
    emoji, a keycap, a flag, a skin tone or a ZWJ sequence), as emoji pickers and keyboards
    send them."""
    if not (isinstance(v, str) and len(v) <= EMOJI_MAX_CHARS):
        raise ValueError("must be one emoji")
    found = emoji.EMOJI_DATA.get(v)
    if found is None or found["status"] != emoji.STATUS["fully_qualified"]:
        raise ValueError("must be one emoji, fully qualified (as an emoji picker sends it)")
    return v


def _limit(v: Any) -> int:
    """How many at most: 1 to 2^63-1, the range of every integer here (docs/protocol.md,
    "Frames"); a larger one than the server gives is taken as its most, by the caller."""
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_ID:
        raise ValueError("must be a whole number from 1 to 2^63-1")
    return v


def _seconds(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= SANCTION_SECONDS_MAX:
        raise ValueError(f"must be a whole number of seconds from 1 to {SANCTION_SECONDS_MAX} (ten years); "
                         "leave it out for no end")
    return v


def _reason(v: Any) -> str:
    text = _free_text(v).strip()
    if len(text) > REASON_MAX:
        raise ValueError(f"is longer than {REASON_MAX} characters")
    return text


def _query(v: Any) -> str:
    """A search query: any text people write, 1 to QUERY_MAX characters, not all white space
    (it finds nothing; chatd.fulltext)."""
    text = _free_text(v)
    if not text.strip():
        raise ValueError(f"is empty: give 1 to {QUERY_MAX} characters to find")
    if len(text) > QUERY_MAX:
        raise ValueError(f"is longer than {QUERY_MAX} characters")
    return text


def _attachments(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise ValueError(f"must be a list of at most {ATTACHMENTS_MAX} upload ids")
    if len(v) > ATTACHMENTS_MAX:
        raise ProtocolError(Code.BAD_ATTACHMENT, f"a message holds at most {ATTACHMENTS_MAX} attachments, not {len(v)}",
                            details={"cause": ATTACHMENTS_TOO_MANY, "limit": ATTACHMENTS_MAX})
    if not all(isinstance(i, str) and UPLOAD_ID.fullmatch(i) for i in v):
        raise ValueError("must hold upload ids, as POST /upload answers them")
    if len(set(v)) != len(v):
        raise ValueError("names an upload twice")
    return tuple(v)


NOTIFY_LEVELS = ("all", "mentions", "none")  # a room's or conversation's notification level (chatd.attention)


def _notify_level(v: Any) -> str:
    if v not in NOTIFY_LEVELS:
        raise ValueError(f"must be one of {', '.join(NOTIFY_LEVELS)}")
    return v


# Room names checked lately, as ``say`` after ``say`` names the same few rooms: the check walks
# every character through Unicode tables (a twentieth of a small room's message cost, profiled).
ROOM_CHECKS_KEPT = 4096
ROOM_CHECK_KEPT_MAX = 4 * ROOM_MAX  # longer strings are refused anyway, and must not fill the cache


@functools.lru_cache(maxsize=ROOM_CHECKS_KEPT)
def _room_check(raw: str) -> tuple[str, Problem | None]:
    """→ (the name, NFC; why it is invalid, or None). NFC: "café" typed as e + U+0301 (some
    keyboards do) is the room "café"."""
    name = unicodedata.normalize("NFC", raw)
    return name, room_name_problem(name)


def _room(v: Any) -> str:
    raw = _string(v)
    name, problem = (_room_check if len(raw) <= ROOM_CHECK_KEPT_MAX else _room_check.__wrapped__)(raw)
    if problem:
        raise ProtocolError(Code.BAD_ROOM, f"room name {problem}", details=problem.fields)
    return name


def checked_room(name: Any) -> str:
    """A room name from anywhere (the API, an app token) as ``join`` takes it: NFC;
    ProtocolError ``bad_room`` saying what is wrong."""
    try:
        return _room(name)
    except ValueError as e:  # not a string
        raise ProtocolError(Code.BAD_ROOM, f"room name {e}") from None


def checked_topic(topic: Any) -> str:
    """A room topic from anywhere as ``create`` takes it (at most TOPIC_MAX characters,
    no control characters, no bidirectional controls); ProtocolError ``bad_frame`` saying what is wrong."""
    try:
        text = _topic(topic)
    except ValueError as e:
        raise ProtocolError(Code.BAD_FRAME, f"'topic' {e}") from None
    if len(text) > TOPIC_MAX:
        raise ProtocolError(Code.BAD_FRAME, f"'topic' is longer than {TOPIC_MAX} characters")
    return text


# type → {field: (kind, required)}
SCHEMAS: dict[str, dict[str, tuple[Any, bool]]] = {
    "identify": {"name": (_string, False), "token": (_string, False), "app_token": (_string, False),
                 "since": (_message_id, False), "revised": (_message_id, False),
                 "epoch": (_epoch, False), "events_since": (_message_id, False)},
    "sign_out": {"everywhere": (_bool, False)},
    "rooms": {"after": (_room, False)},
    "ping": {},
    "join": {"room": (_room, True), "since": (_message_id, False), "epoch": (_epoch, False),
             "revised": (_message_id, False)},
    "leave": {"room": (_room, True)},
    "create": {"room": (_room, True), "topic": (_topic, False), "members_only": (_bool, False)},
    "say": {"room": (_room, False), "to": (_user_id, False), "text": (_free_text, True),
            "attachments": (_attachments, False),
            "reply_to": (_message_id, False)},
    # Changes to messages (chatd.changes): answered with ``done``.
    "edit": {"id": (_message_id, True), "text": (_free_text, True)},
    "react": {"id": (_message_id, True), "emoji": (_emoji, True)},
    "unreact": {"id": (_message_id, True), "emoji": (_emoji, True)},
    "history": {"room": (_room, False), "with": (_user_id, False), "before": (_message_id, False),
                "after": (_message_id, False), "limit": (_limit, False), "epoch": (_epoch, False),
                "around": (_message_id, False)},
    "search": {"q": (_query, True), "room": (_room, False), "with": (_user_id, False),
               "before": (_message_id, False), "limit": (_limit, False)},
    # Read state, notification levels, typing (chatd.attention): never answered but by errors.
    "read": {"room": (_room, False), "with": (_user_id, False), "id": (_message_id, True)},
    "notify": {"room": (_room, False), "with": (_user_id, False), "level": (_notify_level, True)},
    "close": {"with": (_user_id, True)},
    "typing": {"room": (_room, False), "with": (_user_id, False)},
    # Moderators' requests (chatd.moderation): answered with ``done``.
    "delete": {"id": (_message_id, True), "reason": (_reason, False)},
    "mute": {"user": (_user_id, True), "room": (_room, False), "seconds": (_seconds, False),
             "reason": (_reason, False)},
    "unmute": {"user": (_user_id, True), "room": (_room, False)},
    "kick": {"user": (_user_id, True), "reason": (_reason, False)},
    "ban": {"user": (_user_id, True), "seconds": (_seconds, False), "reason": (_reason, False)},
}


def check_text(text: str, max_chars: int, attachments: int = 0) -> None:
    """Refuse over-long message text, or empty text with no ``attachments`` (how many)."""
    if not text.strip() and not attachments:
        raise ProtocolError(Code.EMPTY_TEXT, "message text is empty")
    if len(text) > max_chars:
        raise ProtocolError(Code.TEXT_TOO_LONG, f"message text is longer than {max_chars} characters",
                            details={"limit": max_chars})
