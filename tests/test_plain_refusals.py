"""No refusal chatd sends is Tornado's HTML error page: every route of the running server's
table (a route added later included) is sent every method and a path that is not UTF-8, and
each refusal is plain text naming the problem, or JSON under /api/, /admin/api/, /upload and
/files/; a 405 carries Allow (RFC 9110 §15.5.6). Real server, raw sockets."""

from __future__ import annotations

import asyncio
import re

from hypothesis import Phase, find, settings
from hypothesis import strategies as st

from tests.apiclient import api_key
from tests.rawhttp import RawHTTP, request

PLAIN_TEXT = "text/plain; charset=utf-8"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO")
PATH_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"  # what a path of each route is built of
NOT_UTF8 = "%ff"  # one byte that is no UTF-8, percent-encoded
# The first path hypothesis makes, the same every run: shrinking it to the least took 1 s a route.
FIRST_EXAMPLE = settings(phases=[Phase.generate], derandomize=True, database=None)


def route_paths(server) -> list[str]:
    """A path each rule of the server's routing table matches (``/static/0``), built from its
    pattern; then the same with its last group, or its end, made NOT_UTF8."""
    app = server.http.request_callback
    paths = []
    for rule in app.wildcard_router.rules:
        pattern = re.compile(rule.matcher.regex.pattern)
        path = find(st.from_regex(pattern, fullmatch=True, alphabet=PATH_CHARACTERS + "/"), lambda _: True,
                    settings=FIRST_EXAMPLE)
        match = pattern.fullmatch(path)
        groups = [i for i in range(1, (match.lastindex or 0) + 1) if match.group(i)]
        start, end = match.span(groups[-1]) if groups else (len(path), len(path))
        paths += [path, path[:start] + NOT_UTF8 + path[end:]]
    return paths


async def answer(server, method: str, path: str):
    http = await RawHTTP.open(server.port)
    try:
        http.send(request(method, path, Connection="close"))
        return await http.answer(to_head=method == "HEAD")
    finally:
        http.close()


async def test_no_route_refuses_in_html(server):
    api_key(server, "read")  # the API on: its paths answer as they do in use, not all 404 api_off
    wrong = []
    for path in route_paths(server):
        for method in METHODS:
            got = await answer(server, method, path)
            kind = got.headers.get("content-type", "")
            if got.status < 400:
                continue
            if not (kind == PLAIN_TEXT or kind.startswith("application/json")):
                wrong.append(f"{method} {path}: {got.status} {kind} {got.body[:60]!r}")
            elif got.status == 405 and not got.headers.get("allow"):
                wrong.append(f"{method} {path}: 405 without Allow")
            elif kind == PLAIN_TEXT and method != "HEAD" and got.body.count(b"\n") != 1:
                wrong.append(f"{method} {path}: not one line: {got.body[:60]!r}")
    assert not wrong, "\n".join(wrong)


async def test_refusals_name_the_problem(server):
    cases = {
        ("POST", "/ws"): (405, "GET", "POST is not allowed on /ws; use GET with a WebSocket upgrade\n"),
        ("POST", "/healthz"): (405, "GET, HEAD", "POST is not allowed on /healthz; use GET or HEAD\n"),
        ("PUT", "/"): (405, "GET, HEAD", "PUT is not allowed on /; use GET or HEAD\n"),
        ("GET", "/static/%ff"): (400, None, "the address is not UTF-8 once percent-decoded\n"),
        ("GET", "/admin/static/%ff"): (400, None, "the address is not UTF-8 once percent-decoded\n"),
        ("GET", "/%ff"): (404, None, "nothing is served at /%ff\n"),
        ("POST", "/ws/%ff"): (404, None, "nothing is served at /ws/%ff\n"),
        ("GET", "/static/nope.js"): (404, None, "there is no static file nope.js\n"),
    }
    for (method, path), (status, allow, text) in cases.items():
        got = await answer(server, method, path)
        assert (got.status, got.headers.get("allow"), got.body.decode()) == (status, allow, text), (method, path)
        assert got.headers["content-type"] == PLAIN_TEXT
    head = await answer(server, "HEAD", "/ws")
    assert (head.status, head.headers["allow"], head.headers["content-type"]) == (405, "GET", PLAIN_TEXT)


async def test_a_wrong_method_is_refused_at_its_headers_whatever_its_body(server):
    # bb21: the method is wrong whatever the size. Tornado read a body of up to 100 MB before the
    # 405, and answered a longer one 400 "Content-Length too long".
    for path, status in (("/healthz", 405), ("/ws", 405), ("/", 405), ("/no-such-page", 404)):
        http = await RawHTTP.open(server.port)
        try:
            http.send(f"POST {path} HTTP/1.1\r\nHost: chatd\r\nContent-Length: {2 << 30}\r\n\r\n".encode()
                      + bytes(1000))
            got = await http.answer()
            assert (got.status, got.headers["connection"], got.headers["content-type"]) == (status, "close",
                                                                                             PLAIN_TEXT), path
            assert await http.ended()
        finally:
            http.close()
    http = await RawHTTP.open(server.port)
    try:  # without a body, nothing is left to read: the connection goes on
        http.send(request("POST", "/healthz") + request("DELETE", "/nope") + request("GET", "/healthz"))
        assert [(await http.answer()).status for _ in range(3)] == [405, 404, 200]
    finally:
        http.close()


async def test_no_request_pipelined_behind_a_refusal_is_dropped_unsaid(server):
    """Each route is sent a method HTTP does not define, then GET /healthz on the same connection:
    the second is answered, or the first answer says ``Connection: close`` (RFC 9112 §9.6) and the
    connection ends. bb22: FOO on /nope, an API path and /upload ended it without saying so."""
    api_key(server, "read")
    dropped = []
    for path in route_paths(server):
        http = await RawHTTP.open(server.port)
        try:
            http.send(request("FOO", path) + request("GET", "/healthz"))
            first = await http.answer()
            if first.headers.get("connection") == "close":
                assert await http.ended(), path
            elif (await http.answer()).status != 200:
                dropped.append(path)
        except (ConnectionError, asyncio.IncompleteReadError):  # ended without a word
            dropped.append(path)
        finally:
            http.close()
    assert not dropped, dropped
