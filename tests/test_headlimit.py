"""chatd.web.headlimit: a request head past Tornado's limit (64 KiB) is answered
431 with Connection: close and the connection ended cleanly, on a page request
as on a /ws handshake. Real server, real sockets."""

from __future__ import annotations

import asyncio

import pytest

import chatd.web.headlimit
from tests.conftest import until
from tests.rawhttp import RawHTTP, refused_as_malformed
from tests.test_upgrade import HANDSHAKE

HEAD_MAX = 65536  # Tornado's max_header_size, which chatd leaves as it is
STARTS = {
    "page": "GET / HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n",
    "handshake": HANDSHAKE,
}


def head(server, kind: str, size: int) -> bytes:
    """A request head of ``kind`` with a header field making it at least ``size`` bytes."""
    return STARTS[kind].format(host=f"127.0.0.1:{server.port}", extra=f"X-Big: {'a' * size}\r\n").encode()


@pytest.mark.parametrize("kind", STARTS)
@pytest.mark.parametrize("size", [HEAD_MAX + 1, 5 * HEAD_MAX])
async def test_a_head_past_the_limit_is_answered_431_and_the_connection_ended_without_a_reset(server, kind, size):
    # A black-box tester saw a reset, told nothing, on both paths.
    http = await RawHTTP.open(server.port)
    try:
        http.send(head(server, kind, size))
        answer = await http.answer()
        assert (answer.status, answer.headers["connection"]) == (431, "close")
        assert f"larger than {HEAD_MAX} bytes".encode() in answer.body
        assert answer.headers["x-content-type-options"] == "nosniff"  # chatd.web.headers, as every answer
        assert await http.ended()  # a FIN: reading raises ConnectionResetError after a reset
    finally:
        http.close()
    await until(lambda: not server.http.arrivals.lingering(), 30, "the socket closed once the client closed its side")


@pytest.mark.parametrize("kind", STARTS)
async def test_a_head_within_the_limit_is_served(server, kind):
    http = await RawHTTP.open(server.port)
    try:
        http.send(head(server, kind, HEAD_MAX - 1024))
        if kind == "page":
            assert (await http.answer()).status == 200
        else:
            async with asyncio.timeout(30):
                assert (await http.reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    finally:
        http.close()


async def test_a_client_that_never_closes_its_side_is_closed_after_the_linger(server, monkeypatch):
    monkeypatch.setattr(chatd.web.headlimit, "LINGER_SECONDS", 0.2)
    http = await RawHTTP.open(server.port)
    try:
        http.send(head(server, "page", HEAD_MAX + 1))
        assert (await http.answer()).status == 431
        assert await http.ended()
        await until(lambda: not server.http.arrivals.lingering(), 30, "the socket closed after the linger")
    finally:
        http.close()


# A request Tornado refuses before any handler runs → the reason its 400 must say. To a path whose
# handler reads the body whole before it runs: one that refuses at the headers (another method,
# the HTTP API's refusals) is answered that refusal instead (docs/api.md, "Errors").
MALFORMED = {
    "two Content-Length": ("POST /admin/api/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n"
                           "Content-Length: 3\r\n\r\n{{}}", "Multiple unequal Content-Lengths"),
    "a request line of two words": ("GET /\r\nHost: {host}\r\n\r\n", "Malformed HTTP request line"),
    "a field with no colon": ("GET / HTTP/1.1\r\nHost: {host}\r\nno colon here\r\n\r\n", "no colon in header line"),
    "a Content-Length not a number": ("POST /admin/api/login HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1x\r\n\r\n",
                                      "Only integer Content-Length is allowed"),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_request_tornado_cannot_parse_is_answered_400_saying_why(server, case):
    # bb19: two Content-Length fields got Tornado's bare 400, no body, then a close with the body unread.
    request, reason = MALFORMED[case]
    answer = await refused_as_malformed(server.port, request.format(host=f"127.0.0.1:{server.port}").encode())
    assert reason.encode() in answer.body
    await until(lambda: not server.http.arrivals.lingering(), 30, "the socket closed once the client closed its side")
    http = await RawHTTP.open(server.port)  # and the server goes on serving
    try:
        http.send(b"GET /healthz HTTP/1.1\r\nHost: chatd\r\n\r\n")
        assert (await http.answer()).status == 200
    finally:
        http.close()


def test_a_long_reason_is_cut():
    body = chatd.web.headlimit.answer_400("Invalid header value " + "x" * 5000).split(b"\r\n\r\n", 1)[1]
    assert len(body) < 300 and body.endswith("…\n".encode())


MALFORMED["a folded field among 100"] = (  # bb21: its continuation lines were counted as fields → 431
    "GET / HTTP/1.1\r\nHost: {host}\r\n" + "X-A: b\r\n" * 98 + "X-Folded: a\r\n" + " b\r\n\tc\r\n" * 3 + "\r\n",
    "folding not supported")
MALFORMED["a chunk-size line ending in a bare LF"] = (  # more in tests/test_chunked.py
    "POST /admin/api/login HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n96\n"
    + "x" * 150 + "\n0\n\n",
    "a chunk's size line ends in a bare LF, not CRLF")


@pytest.mark.parametrize("kind", STARTS)
@pytest.mark.parametrize("fields", [chatd.web.headlimit.FIELDS_MAX, chatd.web.headlimit.FIELDS_MAX + 1, 5_000])
async def test_a_head_of_too_many_fields_is_answered_431_before_tornado_parses_them(server, kind, fields):
    # bb20: 13,000 one-byte fields (64 KiB) took the loop 70-190 ms each to parse; 80 such heads slowed
    # everyone's /healthz to 0.6 s. Fields past FIELDS_MAX are refused whole, unparsed.
    host = f"127.0.0.1:{server.port}"
    start = STARTS[kind].format(host=host, extra="")
    others = start.count("\n") - 2  # the fields the request has without the extra ones
    extra = "".join(f"X-{i}: b\r\n" for i in range(fields - others))
    http = await RawHTTP.open(server.port)
    try:
        http.send(STARTS[kind].format(host=host, extra=extra).encode())
        if fields <= chatd.web.headlimit.FIELDS_MAX:
            if kind == "page":
                assert (await http.answer()).status == 200
            else:
                async with asyncio.timeout(30):
                    assert (await http.reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
            return
        answer = await http.answer()
        assert (answer.status, answer.headers["connection"]) == (431, "close")
        assert f"the request has {fields} header fields; at most 100".encode() in answer.body
        assert await http.ended()
    finally:
        http.close()
