"""Every refusal that does not depend on a request's body (a method the path does not take, a path
no route serves, no session, a body over the size by its Content-Length) is answered at the
request's headers, with ``Connection: close``, its body never read (bb22): every route of the
running server's table, the HTTP API and the admin API included, is sent the methods it does not
take with a body still pending. Real server, raw sockets."""

from __future__ import annotations

import asyncio
import json

from chatd.admin.base import BODY_MAX
from tests.adminclient import admin_login
from tests.apiclient import api_key
from tests.rawhttp import RawHTTP, request
from tests.test_plain_refusals import PLAIN_TEXT, route_paths

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO")  # FOO: no method
PENDING = 50_000_000  # bytes a request says its body has; a few are sent, the rest never come
# Seconds waited for an answer: the body never comes, so any answer was given at the headers; one
# after the body never comes (the body timeout, 60 s, ends such a connection without one). A bound
# far above the milliseconds it takes, not a measure of them.
AT_HEADERS = 30.0
JSON_PREFIXES = ("/api", "/admin/api", "/files/", "/upload")  # the rest answer in plain text


def head(method: str, path: str, length: int | str, extra: str = "") -> bytes:
    """A request's head saying ``length`` (a number: Content-Length; "chunked": a chunked body), with
    the header lines ``extra`` ("Cookie: ...\\r\\n")."""
    framing = "Transfer-Encoding: chunked" if length == "chunked" else f"Content-Length: {length}"
    return f"{method} {path} HTTP/1.1\r\nHost: chatd\r\n{extra}{framing}\r\n\r\n".encode()


def signed_in(admin) -> str:
    """The header lines of a request in ``admin``'s session (its cookie and CSRF token)."""
    return f"Cookie: chatd_admin={admin.cookie}\r\nX-CSRF-Token: {admin.csrf}\r\n"


async def pending(server, method: str, path: str, extra: str = "", length: int | str = PENDING):
    """The answer to ``method path`` whose body has barely begun, or a line saying what is wrong
    with it (no answer at the headers, no Connection: close, the wrong kind of body)."""
    http = await RawHTTP.open(server.port)
    try:
        http.send(head(method, path, length, extra) + (b"5\r\n{\"a\":" if length == "chunked" else b"{\"a\":"))
        try:
            async with asyncio.timeout(AT_HEADERS):
                got = await http.answer(to_head=method == "HEAD")
        except (TimeoutError, asyncio.IncompleteReadError):
            return f"{method} {path}: no answer at the headers"
    finally:
        http.close()
    kind = got.headers.get("content-type", "")
    json_expected = path.startswith(JSON_PREFIXES)
    if got.headers.get("connection") != "close":
        return f"{method} {path}: {got.status} without Connection: close"
    if json_expected != kind.startswith("application/json") or not json_expected and kind != PLAIN_TEXT:
        return f"{method} {path}: {got.status} in {kind}"
    return got


async def allowed(server, path: str, extra: str = "") -> set[str]:
    """The methods ``path`` takes, as its 405 to a method nobody takes names them (none: a 404)."""
    http = await RawHTTP.open(server.port)
    try:
        http.send(head("FOO", path, 0, extra))
        got = await http.answer()
    finally:
        http.close()
    return {m.strip() for m in got.headers.get("allow", "").split(",") if m.strip()}


async def refusals(server, paths: list[str], extra: str = "") -> list[str]:
    """What is wrong with the answers to each method ``paths`` do not take, sent with a pending body."""
    wrong = []
    for path in paths:
        takes = await allowed(server, path, extra)
        answers = await asyncio.gather(*(pending(server, m, path, extra) for m in METHODS if m not in takes))
        wrong += [a for a in answers if isinstance(a, str)]
        wrong += [f"{path}: {a.status}" for a in answers if not isinstance(a, str) and a.status not in (401, 404, 405)]
    return wrong


async def test_every_route_refuses_a_method_it_does_not_take_at_the_headers(server):
    api_key(server, "read")  # the API on: its paths answer as they do in use, not all 404 api_off
    assert (await pending(server, "GET", "/api/v1/nope")).status == 404  # now known to be on, before any check
    paths = route_paths(server)[::2]  # (route_paths gives each path, then it made not UTF-8)
    wrong = await refusals(server, paths)
    admin = await admin_login(server)  # with a session: the admin API's 405s, its 404s, not its 401s
    wrong += await refusals(server, [p for p in paths if p.startswith("/admin")], signed_in(admin))
    assert not wrong, "\n".join(wrong)


async def test_the_refusals_bb22_named(server):
    api_key(server, "read")
    admin = await admin_login(server)
    cookie = signed_in(admin)
    cases = [("POST", "/api/v1/nope", "", 404, "not_found"),
             ("POST", "/api", "", 404, "not_found"),  # the APIs' own prefixes answer as the APIs do
             ("POST", "/admin/api", cookie, 404, "not_found"),
             # Without a session any method is a 401 first, one Tornado does not know too: a 405 and its
             # Allow would tell a stranger which admin endpoints exist (bb24).
             ("FOO", "/admin/api/users", "", 401, "unauthorized"),
             ("TRACE", "/admin/api/audit", "", 401, "unauthorized"),
             ("get", "/admin/api/users", "", 401, "unauthorized"),
             ("FOO", "/admin/api", "", 401, "unauthorized"),
             ("FOO", "/admin/api/users", cookie, 405, "method_not_allowed"),
             ("PUT", "/admin/api/login", "", 405, "method_not_allowed"),
             ("POST", "/admin/api/nope", "", 401, "unauthorized"),
             ("POST", "/admin/api/nope", cookie, 404, "not_found"),
             ("POST", "/admin/api/session", "", 401, "unauthorized"),
             ("POST", "/admin/api/session", cookie, 405, "method_not_allowed"),
             ("POST", "/files/a/b", "", 405, "method_not_allowed"),
             ("POST", "/files/a/thumb", "", 405, "method_not_allowed"),
             ("POST", "/api/v1/openapi.json", "", 405, "method_not_allowed"),
             ("POST", "/admin/api/login", "", 413, "payload_too_large")]
    for method, path, sent, status, code in cases:
        for length in (20, PENDING, 10 ** 9, "chunked"):
            if code == "payload_too_large" and length in (20, "chunked"):
                continue  # not over the size by what the head says
            got = await pending(server, method, path, sent, length)
            assert not isinstance(got, str), got
            assert (got.status, json.loads(got.body)["error"]["code"]) == (status, code), (method, path, length)
    for sent in ("", cookie):  # not under /admin/api/: the plain 404 of any path no route serves
        got = await pending(server, "POST", "/admin/nope", sent)
        assert not isinstance(got, str), got
        assert (got.status, got.body) == (404, b"nothing is served at /admin/nope\n")


async def test_an_admin_body_past_its_size_is_refused_as_it_comes(server):
    # A chunked body says no size: the admin API counts it as the HTTP API does, and stops at 64 KiB.
    http = await RawHTTP.open(server.port)
    try:
        chunk = b"x" * (BODY_MAX + 1)
        http.send(head("POST", "/admin/api/login", "chunked", "Content-Type: application/json\r\n")
                  + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        got = await http.answer()
        assert (got.status, got.headers["connection"], json.loads(got.body)["error"]["code"]) == (
            413, "close", "payload_too_large")
        assert await http.ended()
    finally:
        http.close()


async def test_a_refusal_of_a_request_without_a_body_keeps_the_connection(server):
    # Nothing is left to read: the refusal is given at the request's end, as the API gives any answer.
    api_key(server, "read")
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("GET", "/api/v1/online") + request("POST", "/admin/api/session")
                  + request("PUT", "/admin/api/login") + request("GET", "/healthz"))
        answers = [await http.answer() for _ in range(4)]
    finally:
        http.close()
    assert [(a.status, a.headers.get("connection"), a.headers.get("cache-control")) for a in answers[:3]] == [
        (401, None, "no-store"), (401, None, "no-store"), (405, None, "no-store")]
    assert answers[3].status == 200


async def test_a_path_that_is_not_utf8_is_refused_keeping_the_connection(server):
    # bb23: Tornado decodes the path before prepare; its refusal there ended the connection on
    # /files/ and the admin API, and the request pipelined behind was dropped.
    admin = await admin_login(server)
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("GET", "/files/%ff/x") + request("HEAD", "/files/a/%ff")
                  + request("PATCH", "/admin/api/rooms/%ff", b"", Cookie=f"chatd_admin={admin.cookie}",
                            X_CSRF_Token=admin.csrf)
                  + request("GET", "/healthz"))
        answers = [await http.answer(to_head=i == 1) for i in range(4)]
    finally:
        http.close()
    assert [(a.status, a.headers.get("connection")) for a in answers] == [(400, None)] * 3 + [(200, None)]
    assert json.loads(answers[2].body)["error"]["message"] == "the room in the address is not UTF-8, percent-encoded"


async def test_over_http_1_0_a_refusal_that_ends_the_connection_says_so(server):
    # bb23: a keep-alive HTTP/1.0 request refused at its headers was answered "Connection: Keep-Alive",
    # then the connection closed and the request pipelined behind it went unanswered.
    for refused in (request("FOO", "/nope", version="HTTP/1.0", Connection="keep-alive"),
                    request("POST", "/healthz", b"abc", version="HTTP/1.0", Connection="keep-alive"),
                    request("POST", "/api/v1/nope", b"abc", version="HTTP/1.0", Connection="keep-alive")):
        http = await RawHTTP.open(server.port)
        try:
            http.send(refused + request("GET", "/healthz", version="HTTP/1.0", Connection="keep-alive"))
            answer = await http.answer()
            assert answer.status in (404, 405) and answer.headers["connection"] == "close", refused
            assert await http.ended()
        finally:
            http.close()
