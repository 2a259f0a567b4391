"""chatd.web.chunked: a chunked body's framing lines as RFC 9112 §7.1 has them. Extensions on a
size line and trailer fields after the last chunk are accepted (Tornado's parser refused them);
a line ended by a bare LF is refused at once with a 400 that says so (Tornado waited for the
CRLF until the 60 s body timeout: black-box tester bb21). Real server, real sockets."""

from __future__ import annotations

import pytest

from chatd.web.chunked import TRAILER_MAX
from tests.rawhttp import NOT_VALID, RawHTTP, refused_as_malformed
from tests.test_uploads import fetch, raw_upload

ANSWERED_WITHIN = 10  # seconds: far under the body timeout (60 s) a bare LF used to wait for


async def test_extensions_and_trailer_fields_are_accepted(server, user):
    token = (await user("alice")).welcome["token"]
    body = (b"5;name=value\r\nhello\r\n"
            b"6 ; a=\"quoted;value\"\r\n world\r\n"
            b"0;last\r\nX-Checksum: 1234\r\nX-Other: yes\r\n\r\n")
    status, answer = await raw_upload(server, token, "Transfer-Encoding: chunked", body)
    assert status == 201, answer
    assert (await fetch(server, answer["url"])).body == b"hello world"
    # And with no trailer field, the connection serving the next request.
    http = await RawHTTP.open(server.port)
    try:
        http.send(b"POST /admin/api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not (await http.answer()).body.startswith(b"the request is not valid HTTP/1.1")  # login refuses {}
        assert (await http.answer()).status == 200
    finally:
        http.close()


FRAMING = {  # a chunked body → the reason its 400 must say
    "a size line": (b"5\nhello\r\n0\r\n\r\n", "a chunk's size line ends in a bare LF"),
    "the last chunk's line (bb21)": (b"5\r\nhello\r\n0\n\n", "a chunk's size line ends in a bare LF"),
    "a trailer field": (b"0\r\nX-Checksum: 1\n\r\n", "a trailer line of a chunked body ends in a bare LF"),
    "the trailer section's end": (b"0\r\n\n", "a trailer line of a chunked body ends in a bare LF"),
    "trailer fields over the limit": (b"0\r\n" + b"X-Big: 1\r\n" * (TRAILER_MAX // 10 + 1),
                                      f"the trailer fields of a chunked body are over {TRAILER_MAX} bytes"),
    "a trailer line with no colon (bb22)": (b"0\r\nno colon\r\n\r\n", "a trailer field of a chunked body is malformed: "
                                                                       "no colon in header line"),
    "a folded trailer line": (b"0\r\nX-A: 1\r\n folded\r\n\r\n", "a trailer field of a chunked body is malformed: "
                                                                 "header line cannot start with whitespace"),
    "a NUL in a trailer field": (b"0\r\nX-A: a\x00b\r\n\r\n", "a trailer field of a chunked body is malformed: "
                                                             "Invalid header value"),
    "a space in a trailer field's name": (b"0\r\nX K: v\r\n\r\n", "a trailer field of a chunked body is malformed: "
                                                                   "Invalid header name"),
    "a size line over 64 bytes": (b"1" * 100, "a chunk's size line, extensions included, is over 64 bytes"),
    "a long extension": (b"5;n=" + b"v" * 70 + b"\r\nhello\r\n0\r\n\r\n", "a chunk's size line, extensions included, "
                                                                    "is over 64 bytes"),
}


@pytest.mark.parametrize("case", FRAMING)
async def test_a_malformed_framing_line_is_answered_400_at_once(server, case):
    body, reason = FRAMING[case]
    answer = await refused_as_malformed(
        server.port, b"POST /admin/api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
        within=ANSWERED_WITHIN)
    assert answer.body.decode().startswith(NOT_VALID + reason)
