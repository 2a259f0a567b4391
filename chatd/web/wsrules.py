"""What a ``/ws`` handshake's headers must hold (RFC 6455 §4.1, §4.2.1, and
chatd's Origin rule), and the refusal of one that does not hold it: the
status and the one line of plain text telling the client's developer what
is wrong and, where it is the server's setting, what to change.

    refusal = handshake_refusal(headers, allowed_origins)   # None, or Refused(status, text, fields)
    key_problem(headers.get("Sec-WebSocket-Key", ""))       # None, or the 400's text

One list for both ways a handshake is answered: ``chatd.web.handshake``
answers 101 at the headers only to what this refuses nothing, and
``chatd.web.upgrade`` (Tornado's way) answers every refusal with it, before
Tornado's ``WebSocketHandler.get`` could answer one its own way (a 426
without a body, HTML bodies). The checks come in Tornado's order.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import NamedTuple, Protocol

from chatd.origins import for_log, normalize_origin, origin_allowed

VERSION = "13"  # the only Sec-WebSocket-Version there is (RFC 6455 §4.2.1)
HTTP_VERSION_PROBLEM = "WebSocket handshakes need HTTP/1.1 or later (RFC 6455 §4.1)"
KEY_MISSING = "Sec-WebSocket-Key is missing"
KEY_MALFORMED = "Sec-WebSocket-Key must be one header holding 16 bytes in base64"
ORIGIN_SETTING = "allowed_origins"  # the configuration key that lets another page's origin in


class Headers(Protocol):
    """Tornado's ``HTTPHeaders`` or ``chatd.web.wshead.Fields``: names in any case."""

    def get(self, name: str, default: str | None = None) -> str | None: ...

    def get_list(self, name: str) -> list[str]: ...


class Refused(NamedTuple):
    status: int  # 400, 403 or 426
    text: str  # the body's one line (no newline)
    fields: Mapping[str, str] = {}  # header fields the answer carries besides the security headers


def key_problem(key: str) -> str | None:
    """Why ``key`` (the ``Sec-WebSocket-Key`` value, several headers joined by
    commas) is not the base64 of 16 bytes RFC 6455 §4.2.1 asks for, or None.
    A 101 to any other key carries an Accept no client can check. ~0.2 µs."""
    if not key:
        return KEY_MISSING
    try:
        if len(key) == 24 and len(binascii.a2b_base64(key, strict_mode=True)) == 16:
            return None
    except ValueError:  # binascii.Error, or a character outside ASCII
        pass
    return KEY_MALFORMED


def _wrong(name: str, wanted: str, values: list[str]) -> str | None:
    """Why the header ``name``, given as ``values``, is not ``wanted``, or None."""
    if not values:
        return f"{name} must be {wanted} (RFC 6455 §4.2.1); it is missing"
    if len(values) > 1:
        return f"{name} must be {wanted} (RFC 6455 §4.2.1); it is given {len(values)} times"
    return f"{name} must be {wanted} (RFC 6455 §4.2.1); got {for_log(values[0])}"


def origin_refusal(origin: str) -> str:
    """The 403's text for an ``Origin`` the rule refused: the origin, and what to change."""
    normal = normalize_origin(origin)
    if normal is None:  # null (sandboxed frames, file: pages), or no origin at all
        return (f"Origin {for_log(origin)} may not open a WebSocket here: it is no origin like "
                f"https://app.example.org, so neither the page's own host nor the server's {ORIGIN_SETTING} "
                "setting can allow it")
    return (f"Origin {for_log(origin)} may not open a WebSocket here: it is not the page's own host; "
            f"to allow it, add {normal} to the server's {ORIGIN_SETTING} setting")


def handshake_refusal(headers: Headers, allowed_origins: list[str]) -> Refused | None:
    """The refusal of a ``GET /ws`` whose headers are no handshake chatd answers
    with 101, or None (the HTTP version, and the address's limits, aside).
    ``allowed_origins``: the live setting. ~1 µs for a browser's handshake."""
    if (headers.get("Upgrade") or "").lower() != "websocket":
        return Refused(400, _wrong("Upgrade", "websocket", headers.get_list("Upgrade")))
    if "upgrade" not in (token.strip().lower() for token in (headers.get("Connection") or "").split(",")):
        return Refused(400, "Connection must include upgrade (RFC 6455 §4.2.1); got "
                            f"{for_log(headers.get('Connection') or '')}")
    origin = headers.get("Origin")
    if origin is not None and not origin_allowed(origin, headers.get("Host"), allowed_origins):
        return Refused(403, origin_refusal(origin))
    versions = headers.get_list("Sec-WebSocket-Version")
    if versions != [VERSION]:
        # RFC 6455 §4.4: 426, naming the versions the server speaks.
        return Refused(426, _wrong("Sec-WebSocket-Version", VERSION, versions), {"Sec-WebSocket-Version": VERSION})
    problem = key_problem(headers.get("Sec-WebSocket-Key") or "")
    return None if problem is None else Refused(400, problem)
