"""Client frames in (docs/protocol.md, "JSON the server accepts" and "Client → server"): ``parse``
turns the text of one client frame into a ``Request`` or raises ``ProtocolError`` with a stable
code, the frame's cid whenever it can be read without doubt; its fields are checked against
``chatd.protocol.fields.SCHEMAS``.

    >>> parse('{"type": "say", "room": "lobby", "text": "hi", "cid": "c1"}')
    Request(type='say', cid='c1', fields={'room': 'lobby', 'text': 'hi'})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatd.protocol.codes import CID_MAX, TOPIC_MAX, Code, ProtocolError
from chatd.protocol.fields import SCHEMAS
from chatd.strictjson import DuplicateName, NotJSON, ill_formed, loads, may_be_ill_formed, surrogate_at


@dataclass
class Request:
    type: str
    cid: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


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
