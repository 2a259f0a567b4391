"""What chatd's logs say of a request: its path and the names of its query and
path parameters, never their values, and no value of a header field. A client
may send an API key or a token as ``?api_key=`` or ``;api_key=`` (docs/api.md
warns against it), or a key file saved with CRLF line ends may put a ``\r`` in
``Authorization``; the refusal must not then copy the secret into a log file.

    logged_target("/api/v1/messages", "api_key=chatd_x&room=lobby")  # → "/api/v1/messages?api_key=…&room=…"
    logged_target("/api/v1/rooms;api_key=chatd_x", "")               # → "/api/v1/rooms;api_key=…"
    logged_reason("Invalid header value 'Bearer chatd_x\\r'")        # → "Invalid header value: …"
    hide_malformed_values()  # Tornado's "Malformed HTTP message" log line says logged_reason's
"""

from __future__ import annotations

import logging
import re

from tornado.log import gen_log

HIDDEN = "…"  # stands for a value the log leaves out
# A path parameter (RFC 3986 §3.3: ";name=value" within a segment): its ";", its name, and its "=" if it
# has a value. Its ";" and "=" percent-encoded count too, however often: a client that encodes an
# address holding "?api_key=" sends "%3Fapi_key%3D", or "%253Fapi_key%253D" encoding it twice (bb22, bb23).
_PARAMETER = re.compile(r"(;|%(?:25)*3[Bb])([^/;=%]*)(=|%(?:25)*3[Dd])?(?:[^/;%]|%(?!(?:25)*3[Bb]))*")
_ENCODED_QUERY = re.compile(r"(%(?:25)*3[Ff]).*")  # a "?" percent-encoded: what follows is hidden whole
# Where Tornado's reason for refusing a malformed request starts to quote the client's bytes:
# its HTTPInputErrors say "<what>: <value>" or "<what> '<value>'" (a repr, of str or bytes).
_VALUE_STARTS = re.compile(r""":\s|\s*b?['"]|(?<=Transfer-Encoding)\s""")
_MALFORMED = "Malformed HTTP message from %s: %s"  # tornado.http1connection's log line


def logged_target(path: str, query: str) -> str:
    """``path`` with each path parameter's value, and ``query`` (as received, without its
    "?") reduced to its names, each value replaced by ``HIDDEN``; a part without "=" is a
    value alone and is hidden whole."""
    path = _ENCODED_QUERY.sub(lambda query: query[1] + HIDDEN, path)
    path = _PARAMETER.sub(lambda part: f"{part[1]}{part[2]}{part[3]}{HIDDEN}" if part[3] else f"{part[1]}{HIDDEN}",
                          path)
    if not query:
        return path
    parts = (part.partition("=") for part in query.split("&"))
    return f"{path}?" + "&".join(f"{name}={HIDDEN}" if equals else (HIDDEN if name else "")
                                 for name, equals, _ in parts)


def logged_reason(reason: str) -> str:
    """Tornado's reason for refusing a malformed request (an ``HTTPInputError``'s text), with
    the client's bytes it quotes (a header field's value, a request line) replaced by ``HIDDEN``."""
    value = _VALUE_STARTS.search(reason)
    return reason if value is None else f"{reason[:value.start()]}: {HIDDEN}"


def _hide_values(record: logging.LogRecord) -> bool:
    if record.msg == _MALFORMED and isinstance(record.args, tuple) and len(record.args) == 2:
        record.args = (record.args[0], logged_reason(str(record.args[1])))
    return True


def hide_malformed_values() -> None:
    """Make Tornado's info line for a request it cannot parse say ``logged_reason`` (idempotent).
    The client's 400 still quotes its own bytes (``chatd.web.headlimit``): it shows the stray
    ``\r`` to the one who sent it."""
    gen_log.addFilter(_hide_values)
