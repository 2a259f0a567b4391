"""Every refusal of a ``/ws`` handshake says what is wrong: a plain-text body
naming the problem (and, for a foreign Origin, the origin and the setting to
change), with the security headers, whichever way the handshake went — answered
at its headers (chatd.web.handshake) or, with a body, through Tornado's routing
and ChatUpgrade. docs/protocol.md, Transport."""

from __future__ import annotations

import re

import pytest

from chatd.web.headers import SECURITY_HEADERS
from tests.rawhttp import Answer, RawHTTP
from tests.test_upgrade import HANDSHAKE, PATHS

# id -> (what to do to HANDSHAKE: {header name: its new lines, "" to drop it}, status, the body's line)
REFUSALS = {
    "version-missing": ({"Sec-WebSocket-Version": ""}, 426,
                        "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.1); it is missing"),
    "version-8": ({"Sec-WebSocket-Version": "Sec-WebSocket-Version: 8"}, 426,
                  "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.1); got '8'"),
    "version-abc": ({"Sec-WebSocket-Version": "Sec-WebSocket-Version: abc"}, 426,
                    "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.1); got 'abc'"),
    "version-twice": ({"Sec-WebSocket-Version": "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13"}, 426,
                      "Sec-WebSocket-Version must be 13 (RFC 6455 §4.2.1); it is given 2 times"),
    "upgrade-missing": ({"Upgrade": ""}, 400, "Upgrade must be websocket (RFC 6455 §4.2.1); it is missing"),
    "upgrade-h2c": ({"Upgrade": "Upgrade: h2c"}, 400, "Upgrade must be websocket (RFC 6455 §4.2.1); got 'h2c'"),
    "connection-keep-alive": ({"Connection": "Connection: keep-alive"}, 400,
                              "Connection must include upgrade (RFC 6455 §4.2.1); got 'keep-alive'"),
    "key-missing": ({"Sec-WebSocket-Key": ""}, 400, "Sec-WebSocket-Key is missing"),
    "key-short": ({"Sec-WebSocket-Key": "Sec-WebSocket-Key: abc"}, 400,
                  "Sec-WebSocket-Key must be one header holding 16 bytes in base64"),
    "foreign-origin": ({"Origin": "Origin: http://evil.example"}, 403,
                       "Origin 'http://evil.example' may not open a WebSocket here: it is not the page's own "
                       "host; to allow it, add http://evil.example to the server's allowed_origins setting"),
    "null-origin": ({"Origin": "Origin: null"}, 403,
                    "Origin 'null' may not open a WebSocket here: it is no origin like https://app.example.org, "
                    "so neither the page's own host nor the server's allowed_origins setting can allow it"),
}


def _handshake(port: int, changes: dict[str, str], extra: str) -> bytes:
    request = HANDSHAKE.format(host=f"127.0.0.1:{port}", extra=extra)
    for name, lines in changes.items():
        line = re.compile(rf"{name}: [^\r]*\r\n")
        new = f"{lines}\r\n" if lines else ""
        request = line.sub(new, request) if line.search(request) else request.replace("\r\n", f"\r\n{new}", 1)
    return request.encode()


async def _refusal(port: int, request: bytes) -> Answer:
    """The answer to ``request``, checked to be a plain-text refusal with the security headers."""
    http = await RawHTTP.open(port)
    try:
        http.send(request)
        answer = await http.answer()
    finally:
        http.close()
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name.lower()] == value
    return answer


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("changes", "status", "text"), REFUSALS.values(), ids=REFUSALS.keys())
async def test_a_refused_handshake_is_told_what_is_wrong_in_plain_text(server, path, changes, status, text):
    answer = await _refusal(server.port, _handshake(server.port, changes, PATHS[path]))
    assert (answer.status, answer.body.decode()) == (status, text + "\n")
    if status == 426:  # RFC 6455 §4.4: the versions the server speaks
        assert answer.headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize("path", PATHS)
async def test_a_handshake_over_http_1_0_is_told_so_in_plain_text(server, path):
    request = _handshake(server.port, {}, PATHS[path]).replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1)
    answer = await _refusal(server.port, request)
    assert answer.status == 400
    assert answer.body.decode() == "WebSocket handshakes need HTTP/1.1 or later (RFC 6455 §4.1)\n"
