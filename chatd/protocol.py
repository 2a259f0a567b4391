"""Protocol v1: client frames in, server frames out. Pure: no I/O.

``parse`` turns the text of one client frame into a ``Request`` or raises
``ProtocolError`` with a stable code; ``encode`` turns a server frame into
the UTF-8 bytes sent on the wire, once, however many recipients get it.
docs/protocol.md is the contract this module implements.

    >>> parse('{"type": "say", "room": "lobby", "text": "hi", "cid": "c1"}')
    Request(type='say', cid='c1', fields={'room': 'lobby', 'text': 'hi'})
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring as _string_json  # a str as _ENCODER writes it (quotes, escapes)
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from chatd.store import MessageRow
    from chatd.store.events import EventRow

import emoji

from chatd import metrics
from chatd.fulltext import QUERY_MAX
from chatd.mentions import listed
from chatd.names import Problem, bidi_problem, characters_problem, describe
from chatd.strictjson import DuplicateName, NotJSON, displayable, ill_formed, loads, may_be_ill_formed, surrogate_at

VERSION = 1
ROOM_MAX = 32
TOPIC_MAX = 200
CID_MAX = 64
EPOCH_MAX = 64
MAX_ID = 2**63 - 1
ERROR_MESSAGE_MAX = 300  # characters of an error frame's message: a reply stays small
# The message of an `unavailable` answer to a request that met a database failure (docs/protocol.md, "Errors").
DATABASE_UNREACHABLE = "the database is unreachable; try again shortly"
# Moderation requests (docs/protocol.md, "Moderation"): a reason's characters (the API's kick
# reason has the same bound), and the longest timed mute or ban (longer: leave ``seconds`` out).
REASON_MAX = 200
SANCTION_SECONDS_MAX = 10 * 366 * 86400
# A say's attachments (docs/protocol.md, "Messages"): at most this many upload ids, each as
# chatd.store.uploads makes them (128 bits, URL-safe base64); served under FILES_PATH.
ATTACHMENTS_MAX = 10
ATTACHMENTS_TOO_MANY = "too_many"  # the ``cause`` of a ``bad_attachment`` past ATTACHMENTS_MAX (chatd.client_refusals)
UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{22}")
FILES_PATH = "/files/"
# Reactions (chatd.changes): distinct emoji on one message, and emoji one user gives one message.
REACTIONS_PER_MESSAGE = 20
REACTIONS_PER_USER = 10
# Users a message frame names per emoji of its reactions (the first who gave it), and across all
# its emoji (each emoji's first ones, evenly).
REACTORS_SHOWN = 20
REACTORS_LISTED = 40
EMOJI_MAX_CHARS = 16  # code points of the longest RGI emoji (a family of four with joiners is 11)
# Which limit a ``rate_limited`` error names in its ``limit`` field (docs/protocol.md, "error"); the
# address's (``address``, ``new_users``, ``new_rooms``) are ``chatd.abuse.LIMITS``'.
LIMIT_CONNECTION, LIMIT_USER, LIMIT_SEARCHES, LIMIT_UPLOADS = "connection", "user", "searches", "uploads"
# Who ended a user's sessions, as a ``kicked`` frame's ``cause`` says (a client words it itself).
KICK_MODERATOR, KICK_APP, KICK_DELETED = "moderator", "app", "account_deleted"
KICK_CAUSES = (KICK_MODERATOR, KICK_APP, KICK_DELETED)
RETRY_ROUNDING_MS = 1e-6  # 0.1 s is 100.00000000000001 ms in floating point: still 100


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
    # App tokens (chatd.auth.apptokens): which check refused the web app's JWT.
    TOKEN_EXPIRED = "token_expired"
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"
    BAD_APP_TOKEN = "bad_app_token"
    GUESTS_OFF = "guests_off"
    BAD_ROOM = "bad_room"
    NO_SUCH_ROOM = "no_such_room"
    ROOM_EXISTS = "room_exists"
    TOO_MANY_ROOMS = "too_many_rooms"
    FORBIDDEN = "forbidden"
    ROOM_ARCHIVED = "room_archived"  # say in an archived (read-only) room
    MODERATORS_ONLY = "moderators_only"  # say in an announcement room by a user who is no moderator
    NAME_RESERVED = "name_reserved"  # a user or room name the operator reserved (chatd.reserved)
    NOT_IN_ROOM = "not_in_room"
    NO_SUCH_USER = "no_such_user"
    # A deleted user (chatd.usercare): the one a request acts as (its deletion raced the request),
    # and the one a private message is to.
    USER_DELETED = "user_deleted"
    RECIPIENT_DELETED = "recipient_deleted"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    RATE_LIMITED = "rate_limited"
    # Moderation (chatd.moderation): a say by a muted user (with retry_ms when the mute ends by
    # itself); an identify by a banned user.
    MUTED = "muted"
    BANNED = "banned"
    # Uploads (chatd.web.uploads, and say's attachments): a say's upload that is not the sender's own
    # unattached one; a file over uploads.max_bytes, of a kind not in uploads.types, an image that does
    # not decode or is over uploads.max_pixels, and a user over uploads.quota_bytes.
    BAD_ATTACHMENT = "bad_attachment"
    FILE_TOO_LARGE = "file_too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    BAD_IMAGE = "bad_image"
    IMAGE_TOO_LARGE = "image_too_large"
    QUOTA_EXCEEDED = "quota_exceeded"
    NO_SUCH_MESSAGE = "no_such_message"  # an id no message the user may read has (delete, edit, react, reply_to)
    # Changes to messages (chatd.changes): an edit or own delete after messages.edit_window_seconds;
    # an edit of, or reaction to, a deleted message; a reaction past a message's caps.
    EDIT_WINDOW_PASSED = "edit_window_passed"
    MESSAGE_DELETED = "message_deleted"
    TOO_MANY_REACTIONS = "too_many_reactions"
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
    # The connection's sign-in was signed out (docs/protocol.md, "Signing out"); 4000-4999 are for
    # applications, and 4401 echoes HTTP's 401 as other WebSocket protocols do (graphql-ws).
    SIGNED_OUT = 4401
    # Kicked by the web app (HTTP API disconnect) or a moderator: the page shows the reason and does not
    # reconnect by itself (docs/protocol.md, "Kicked"); 4410 echoes HTTP's 410 Gone.
    KICKED = 4410
    # Banned (docs/protocol.md, "Banned"): after the ``banned`` frame; the page shows the reason
    # and until when, and does not reconnect by itself. 4403 echoes HTTP's 403 Forbidden.
    BANNED = 4403


class ProtocolError(Exception):
    """A request that is refused; becomes an ``error`` frame. ``retry_after``:
    seconds until the same request may be let through (``rate_limited``). ``details``: the
    frame's fields that say in data what the message says in English (the room and reason
    of a ``muted``, ...: docs/protocol.md, "error"), so that a client words it in its language."""

    def __init__(self, code: Code, message: str, cid: str | None = None, retry_after: float | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.cid = cid
        self.retry_after = retry_after
        self.details = details


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
    "history": {
        "room": (_room, False),
        "with": (_user_id, False),
        "before": (_message_id, False),
        "after": (_message_id, False),
        "limit": (_limit, False),
        "epoch": (_epoch, False),
        "around": (_message_id, False),
    },
    "search": {
        "q": (_query, True),
        "room": (_room, False),
        "with": (_user_id, False),
        "before": (_message_id, False),
        "limit": (_limit, False),
    },
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


def parse(text: str | bytes) -> Request:
    """Validate one client frame; raise ProtocolError naming the problem.

    Every string in the frame — values and field names, known and unknown
    fields, at any depth — is checked here, once: one that UTF-8 cannot
    encode (an unpaired surrogate escape) is refused with bad_frame, and the
    rest of chatd only ever sees strings it can store and send.

    The error carries the frame's cid whenever it can be read without doubt
    (docs/protocol.md, "JSON the server accepts"): the frame is a JSON object
    (also one refused for ``NaN`` or a repeated name elsewhere in it) whose
    ``cid`` appears once and is a valid cid (``readable_cid``).
    """
    if isinstance(text, bytes):
        raise ProtocolError(Code.BAD_FRAME, "binary frames are not accepted; send JSON text")
    try:
        data = loads(text)
    except NotJSON as e:
        raise ProtocolError(Code.BAD_JSON, f"frame is not valid JSON: {e}", readable_cid(e.salvaged)) from None
    except DuplicateName as e:
        raise ProtocolError(Code.BAD_FRAME, str(e), readable_cid(e.salvaged)) from None
    if not isinstance(data, dict):
        raise ProtocolError(Code.BAD_JSON, "frame must be a JSON object")
    cid = data.get("cid")
    if cid is not None:
        problem = _cid_problem(cid)
        if problem:
            raise ProtocolError(Code.BAD_FRAME, problem)
    problem = ill_formed(data) if may_be_ill_formed(text) else None
    if problem:
        raise ProtocolError(Code.BAD_FRAME, problem, cid)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(Code.BAD_FRAME, "'type' is missing or not a string", cid)
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ProtocolError(Code.UNKNOWN_TYPE, f"unknown frame type {kind[:40]!r}", cid)
    fields = checked_fields(kind, schema, data, cid)
    _check_combinations(kind, fields, cid)
    return Request(kind, cid, fields)


def checked_fields(kind: str, schema: dict[str, tuple[Any, bool]], data: dict[str, Any],
                   cid: str | None = None) -> dict[str, Any]:
    """The fields of ``data`` that ``schema`` (one of SCHEMAS, or one made of their kinds) names,
    each checked and normalised; others are left out. ProtocolError ``bad_frame`` (or the kind's
    own code, e.g. ``bad_room``) naming the field and what is wrong with it."""
    fields = {}
    for name, (check, required) in schema.items():
        value = data.get(name)  # absent or null: the same
        if value is None:
            if required:
                raise ProtocolError(Code.BAD_FRAME, f"'{name}' is required for {kind}", cid)
            continue
        try:
            fields[name] = check(value)
        except ValueError as e:
            raise ProtocolError(Code.BAD_FRAME, f"'{name}' {e}", cid) from None
        except ProtocolError as e:
            e.cid = cid
            raise
    return fields


def readable_cid(frame: Any) -> str | None:
    """The cid of a (decoded, possibly salvaged) frame if it is unambiguous and
    valid: ``frame`` is an object whose ``cid`` appears once and is a string
    of 1 to CID_MAX well-formed characters; else None."""
    if not isinstance(frame, dict) or "cid" in getattr(frame, "repeated", ()):
        return None
    cid = frame.get("cid")
    return cid if cid is not None and _cid_problem(cid) is None else None


def _cid_problem(cid: Any) -> str | None:
    if not (isinstance(cid, str) and 1 <= len(cid) <= CID_MAX):
        return f"'cid' must be a string of 1 to {CID_MAX} characters"
    return ill_formed({"cid": cid}) if surrogate_at(cid) is not None else None


def _check_combinations(kind: str, fields: dict[str, Any], cid: str | None) -> None:
    if kind == "identify":
        if "app_token" in fields and ("name" in fields or "token" in fields):
            raise ProtocolError(Code.BAD_FRAME, "identify takes 'app_token' alone: not with 'name' or 'token'", cid)
        if not fields.keys() & {"name", "token", "app_token"}:
            raise ProtocolError(Code.BAD_FRAME, "identify needs 'name', 'token' or 'app_token'", cid)
    if kind == "say" and ("room" in fields) == ("to" in fields):
        raise ProtocolError(Code.BAD_FRAME, "say needs exactly one of 'room' and 'to'", cid)
    if kind in ("history", "search") and "room" in fields and "with" in fields:
        raise ProtocolError(Code.BAD_FRAME, f"{kind} takes 'room' or 'with', not both", cid)
    if kind in ("read", "notify", "typing") and ("room" in fields) == ("with" in fields):
        raise ProtocolError(Code.BAD_FRAME, f"{kind} needs exactly one of 'room' and 'with'", cid)
    if kind == "history" and "around" in fields:
        if fields.keys() & {"before", "after"}:
            raise ProtocolError(Code.BAD_FRAME, "history takes 'around' alone: not with 'before' or 'after'", cid)
        if not fields.keys() & {"room", "with"}:
            raise ProtocolError(Code.BAD_FRAME, "history 'around' needs 'room' or 'with'", cid)
    if kind == "create" and len(fields.get("topic", "")) > TOPIC_MAX:
        raise ProtocolError(Code.BAD_FRAME, f"'topic' is longer than {TOPIC_MAX} characters", cid)


ROOM_PUNCTUATION = "_.-"
# Joiners Sinhala and Indic conjuncts need; where they may stand is characters_problem's rule.
ROOM_JOINERS = "\u200c\u200d"
# The rules of room names alone (``Problem.fields["rule"]``; the others are names': chatd.names):
# the length, a character no room name holds, and a character a room name holds but not first.
ROOM_LENGTH, ROOM_CHARACTERS, ROOM_START = "room_length", "room_characters", "room_start"
ROOM_RULES = (ROOM_LENGTH, ROOM_CHARACTERS, ROOM_START)


def _room_char(c: str) -> bool:
    """Letters, digits, ``ROOM_PUNCTUATION``, joiners, and the marks that scripts
    such as Devanagari write their vowels with (Unicode categories Mn, Mc)."""
    return c.isalnum() or c in ROOM_PUNCTUATION or c in ROOM_JOINERS or unicodedata.category(c) in ("Mn", "Mc")


def room_name_problem(name: str) -> Problem | None:
    """Why a room name is invalid, or None when it is fine. Whether it looks like
    another room's name is ``chatd.names.name_keys``' business."""
    if not 1 <= len(name) <= ROOM_MAX:
        return Problem(f"must be 1 to {ROOM_MAX} characters", ROOM_LENGTH, limit=ROOM_MAX)
    # Names' rules first, so an invisible or bidirectional character is refused as it is for a user
    # name, naming it (``char``); they also catch invisible letters such as U+3164 HANGUL FILLER.
    problem = characters_problem(name)
    if problem:
        return problem
    wrong = next((c for c in name if not _room_char(c)), None)
    if wrong is not None:
        return Problem(f"contains {describe(wrong)}: room names may hold only letters (with their marks), "
                       "digits, '_', '-' and '.'", ROOM_CHARACTERS, char=describe(wrong))
    if not name[0].isalnum():  # a character it may hold, in the one place it may not stand
        return Problem(f"starts with {describe(name[0])}: a room name must start with a letter or digit",
                       ROOM_START, char=describe(name[0]))
    return None


def check_text(text: str, max_chars: int, attachments: int = 0) -> None:
    """Refuse over-long message text, or empty text with no ``attachments`` (how many)."""
    if not text.strip() and not attachments:
        raise ProtocolError(Code.EMPTY_TEXT, "message text is empty")
    if len(text) > max_chars:
        raise ProtocolError(Code.TEXT_TOO_LONG, f"message text is longer than {max_chars} characters",
                            details={"limit": max_chars})


# Server frames.


# Built once: json.dumps with options builds an encoder per call. Non-ASCII is
# sent as UTF-8, not escaped; the templates below write strings the same way.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# The frames every message costs, as templates of the bytes ``encode`` gives for them (the
# same keys in the same order): a say's ack and a plain message, the hottest frames there are.
_ACK = '{"type":"ack","id":%d,"ts":%d}'
_ACK_CID = '{"type":"ack","id":%d,"ts":%d,"cid":%s}'
_ROOM_MESSAGE = '{"type":"message","id":%d,"room":%s,"from":{"id":%d,"name":%s},"text":%s,"ts":%d}'
_PRIVATE_MESSAGE = ('{"type":"message","id":%d,"to":{"id":%d,"name":%s},"from":{"id":%d,"name":%s},'
                    '"text":%s,"ts":%d}')


def encode(frame: dict[str, Any]) -> bytes:
    """The wire bytes of one server frame."""
    return _ENCODER.encode(frame).encode()


def encode_ack(message_id: int, ts: int, cid: str | None) -> bytes:
    """The bytes of the ``ack`` to a say (docs/protocol.md, "ack"): the same as ``encode({"type": "ack",
    "id": message_id, "ts": ts, "cid": cid})``, without ``cid`` when it is None."""
    if cid is None:
        return (_ACK % (message_id, ts)).encode()
    return (_ACK_CID % (message_id, ts, _string_json(cid))).encode()


def encode_message(row: MessageRow) -> bytes:
    """The bytes of ``message_frame(row)``, the same as ``encode`` gives; a message with none of
    the optional fields (most of them) is written into a template, without building the frame."""
    plain = (row.deleted is None and row.attachments is None and row.edited is None and row.reply_to is None
             and not row.reactions and not row.mentions)
    if plain and row.recipient_id is None and row.room is not None:
        return (_ROOM_MESSAGE % (row.id, _string_json(row.room), row.sender_id, _string_json(row.sender_name),
                                 _string_json(row.text), row.ts)).encode()
    if plain and row.recipient_id is not None and row.recipient_name is not None:
        return (_PRIVATE_MESSAGE % (row.id, row.recipient_id, _string_json(row.recipient_name), row.sender_id,
                                    _string_json(row.sender_name), _string_json(row.text), row.ts)).encode()
    return encode(message_frame(row))


def message_frame(row: MessageRow) -> dict[str, Any]:
    """A stored message as the ``message`` frame clients get (docs/protocol.md, "Messages"); a
    tombstone (``row.deleted``) as ``deleted: true`` without text, and in a room without its author
    (docs/protocol.md, "Deleted messages")."""
    frame: dict[str, Any] = {"type": "message", "id": row.id}
    tombstone = row.deleted is not None
    if row.recipient_id is None:
        frame["room"] = row.room
    else:
        frame["to"] = {"id": row.recipient_id, "name": row.recipient_name}
    if not tombstone or row.recipient_id is not None:  # a private one keeps its two ends: its conversation
        frame["from"] = {"id": row.sender_id, "name": row.sender_name}
    if tombstone:
        frame["ts"] = row.ts
        frame["deleted"] = True
        return frame
    frame["text"] = row.text
    frame["ts"] = row.ts
    # Optional fields, absent when empty (docs/protocol.md, "Messages").
    if row.attachments is not None:
        frame["attachments"] = [attachment_ref(item) for item in json.loads(row.attachments)]
    if row.edited is not None:
        frame["edited"] = row.edited
    if row.reply_to is not None:
        frame["reply_to"] = quote_part(row)
    if row.reactions:
        frame["reactions"] = reactions_part(row)
    if row.mentions:  # a tombstone's are gone with its text
        frame["mentions"] = listed(row.mentions)
    return frame


def attachment_ref(item: dict[str, Any]) -> dict[str, Any]:
    """A stored upload as frames and ``POST /upload`` show it: ``item``
    (``chatd.store.uploads.UploadRow.shown``) with its ``url``, and ``thumb``'s URL when it has one
    (docs/protocol.md, "Attachments")."""
    base = f"{FILES_PATH}{item['id']}/"
    ref = {key: value for key, value in item.items() if key != "thumb"}
    ref["url"] = base + quote(item["name"], safe="")
    if item.get("thumb"):
        ref["thumb"] = base + "thumb"
    return ref


def quote_part(row: MessageRow) -> dict[str, Any]:
    """What a reply's frames carry of the message it replies to: its id, author and first
    characters, or ``deleted: true`` for a tombstone (or a message purged since)."""
    quote = row.quote
    if quote is None:  # read without its quote (not through chatd.store.changes.decorate)
        return {"id": row.reply_to}
    if quote.deleted:
        return {"id": quote.id, "deleted": True}
    return {"id": quote.id, "from": {"id": quote.sender_id, "name": quote.sender_name}, "text": quote.text}


def reactions_part(row: MessageRow) -> list[dict[str, Any]]:
    """A message's reactions as frames carry them: per emoji, in the order first given, the count
    and the first users who gave it — up to 20 (``REACTORS_SHOWN``), fewer when the message has so
    many emoji that REACTORS_LISTED names would be passed: every message frame stays small."""
    shown = min(REACTORS_SHOWN, max(1, REACTORS_LISTED // max(1, len(row.reactions))))
    return [{"emoji": r.emoji, "count": r.count, "users": [{"id": uid, "name": name} for uid, name in r.users[:shown]]}
            for r in row.reactions]


def _where(row: MessageRow) -> dict[str, Any]:
    """Where a message is, as its ``message`` frame named it: its room, or its ``to`` and ``from``."""
    if row.recipient_id is None:
        return {"room": row.room}
    return {"to": {"id": row.recipient_id, "name": row.recipient_name},
            "from": {"id": row.sender_id, "name": row.sender_name}}


def deleted_frame(row: MessageRow) -> dict[str, Any]:
    """The ``deleted`` frame: the message ``row`` is a tombstone now; its room, or for a private
    one its ``to`` and ``from``, as its ``message`` frame named them, and the change's number
    (docs/protocol.md, "Deleted messages")."""
    return {"type": "deleted", "id": row.id, **_where(row), **({"rev": row.rev} if row.rev is not None else {})}


def edited_frame(row: MessageRow) -> dict[str, Any]:
    """The ``edited`` frame: the message ``row`` has a new text (docs/protocol.md, "Edits and reactions")."""
    return {"type": "edited", "id": row.id, **_where(row), "text": row.text, "edited": row.edited, "rev": row.rev}


def reactions_frame(row: MessageRow) -> dict[str, Any]:
    """The ``reactions`` frame: all the reactions of the message ``row`` now (docs/protocol.md,
    "Edits and reactions")."""
    return {"type": "reactions", "id": row.id, **_where(row), "reactions": reactions_part(row), "rev": row.rev}


def kicked_frame(reason: str, cause: str | None = None, default: bool = False) -> dict[str, Any]:
    """The ``kicked`` frame a session gets before it is closed with ``CloseCode.KICKED``. ``cause``:
    who ended the sessions (``KICK_CAUSES``; None: not known, a node of an older version said so);
    ``default``: ``reason`` is the server's words for it, not the kicker's (docs/protocol.md, "kicked")."""
    frame: dict[str, Any] = {"type": "kicked", "reason": displayable(reason, ERROR_MESSAGE_MAX)}
    if cause is not None:
        frame["cause"] = cause
    if default:
        frame["default"] = True
    return frame


def banned_frame(reason: str, until: int | None) -> dict[str, Any]:
    """The ``banned`` frame a connection gets before it is closed with ``CloseCode.BANNED``;
    ``until``: ms since the epoch the ban ends, None for good."""
    return {"type": "banned", "reason": displayable(reason, ERROR_MESSAGE_MAX), "until": until}


def event_frame(name: str, data: Any, ts: int, room: str | None = None, event_id: int | None = None) -> dict[str, Any]:
    """A notification as the ``event`` frame clients get (docs/protocol.md, "Notifications"):
    ``room`` for one sent to a room, ``event_id`` (the user's event number) for a stored one."""
    frame: dict[str, Any] = {"type": "event", "name": name, "data": data, "ts": ts}
    if room is not None:
        frame["room"] = room
    if event_id is not None:
        frame["id"] = event_id
    return frame


def stored_event_frame(row: EventRow) -> dict[str, Any]:
    """A stored notification as its ``event`` frame (its data is kept as JSON text)."""
    return event_frame(row.name, json.loads(row.data), row.ts, event_id=row.id)


def error_body(code: str, message: str, retry_after: float | None = None,
               details: dict[str, Any] | None = None, message_max: int = ERROR_MESSAGE_MAX) -> dict[str, Any]:
    """What a refusal says, alike on every transport (docs/protocol.md, "error"; docs/api.md,
    "Errors"): ``code``; ``message``, cut to ``message_max`` characters with unpaired
    surrogates escaped; ``retry_ms`` from ``retry_after`` (seconds), whole milliseconds rounded
    up; then ``details`` (``ProtocolError``'s), their top-level strings well formed and bounded
    as the message is. The WebSocket's ``error`` frame is this with ``type`` and ``cid``; the
    HTTP API's, the admin API's and ``POST /upload``'s error body is ``{"error": this}``."""
    body: dict[str, Any] = {"code": str(code), "message": displayable(message, message_max)}
    if retry_after is not None:
        body["retry_ms"] = max(1, math.ceil(retry_after * 1000 - RETRY_ROUNDING_MS))
    for key, value in (details or {}).items():
        body[key] = displayable(value, message_max) if isinstance(value, str) else value
    return body


def error_frame(code: Code, message: str, cid: str | None = None, retry_after: float | None = None,
                details: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``error`` frame that always encodes: ``error_body``'s fields, and the cid unless it
    could not be echoed intact."""
    frame: dict[str, Any] = {"type": "error", **error_body(code, message, retry_after, details)}
    metrics.error_sent(frame["code"])  # built to be sent: every error frame is counted here, once
    if isinstance(cid, str) and surrogate_at(cid) is None:
        frame["cid"] = cid
    return frame


def refusal_frame(refusal: ProtocolError) -> dict[str, Any]:
    """The ``error`` frame of a refusal: its code, message, cid, wait and fields (``error_frame``)."""
    return error_frame(refusal.code, refusal.message, refusal.cid, refusal.retry_after, refusal.details)
