"""Server frames out (docs/protocol.md, "Server → client"): the builders of every frame the server
sends (``message_frame``, ``error_frame``, ``kicked_frame``, ...: the store never builds one), and
``encode``, a frame's UTF-8 wire bytes, made once however many recipients get them; a say's ack
and a plain message are written into byte templates (``encode_ack``, ``encode_message``).
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as _string_json  # a str as _ENCODER writes it (quotes, escapes)
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from chatd.store import MessageRow
    from chatd.store.events import EventRow

from chatd import metrics
from chatd.mentions import listed
from chatd.protocol.codes import ERROR_MESSAGE_MAX, FILES_PATH, REACTORS_LISTED, REACTORS_SHOWN, Code, ProtocolError
from chatd.strictjson import displayable, surrogate_at

RETRY_ROUNDING_MS = 1e-6  # 0.1 s is 100.00000000000001 ms in floating point: still 100

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
