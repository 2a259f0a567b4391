"""Server-to-client WebSocket frames, built once and written as they are.

Tornado's ``write_message`` frames a message per call; a broadcast to a
thousand members would frame (and schedule) the same text a thousand
times. ``wire`` builds the complete frame once: a server frame is never
masked (RFC 6455 §5.1), so the same bytes are right for every recipient.

    >>> wire({"type": "rooms", "rooms": []})[:2]
    b'\\x81\\x1b'
"""

from __future__ import annotations

import struct
from typing import Any

from chatd.protocol import encode

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", _FIN_TEXT, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, n)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, n)
    return header + payload


def wire(frame: dict[str, Any]) -> bytes:
    """A server frame as the bytes written to the socket."""
    return text_frame(encode(frame))
