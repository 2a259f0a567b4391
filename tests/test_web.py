"""The HTTP side of chatd like a public site: the headers on every response,
caching of the page and the versioned static files, and malformed request
paths that are a 400 or 404, never a 500. Real server, real sockets."""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import socket
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatd.web.assets import REVALIDATE, VERSIONED_CACHE
from chatd.web.headers import SECURITY_HEADERS
from tests.ops_fixtures import Chatd

TIMEOUT = 10


def request(port: int, target: bytes, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """``GET target`` sent byte for byte (no client-side quoting or checks), the response read."""
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.body = response.read()
        return response


def version(port: int) -> str:
    page = request(port, b"/").body
    return re.search(rb'src="static/([0-9a-f]{16})/app\.js"', page)[1].decode()


async def fetch(server, target: str | bytes, **headers: str) -> http.client.HTTPResponse:
    target = target.encode() if isinstance(target, str) else target
    if b"{v}" in target:
        target = target.replace(b"{v}", (await asyncio.to_thread(version, server.port)).encode())
    return await asyncio.to_thread(request, server.port, target, headers)


# Every kind of response: the page, static (versioned, not, redirected, refused), health, errors, /ws refusals.
EVERY_KIND = [("/", 200), ("/static/{v}/app.js", 200), ("/static/style.css", 200), ("/static/index.html", 301),
              ("/static/0123456789abcdef/app.js", 404), ("/healthz", 200), ("/no-such-page", 404),
              ("/static/%00", 404), ("/static/%ff", 400), ("/ws", 400)]


@pytest.mark.parametrize(("target", "status"), EVERY_KIND)
async def test_every_response_carries_the_security_headers(server, target, status):
    response = await fetch(server, target)
    assert response.status == status
    for name, value in SECURITY_HEADERS.items():
        assert response.getheader(name) == value, name
    assert not re.search(r"\d", response.getheader("Server")), "no version in the Server header"


def test_the_policy_allows_websockets_to_the_page_s_own_host_only():
    directives = dict(d.strip().split(" ", 1) for d in SECURITY_HEADERS["Content-Security-Policy"].split(";"))
    assert directives["connect-src"] == "'self'"  # no ws:, wss: or any other host
    assert directives["frame-ancestors"] == "'none'" and "'unsafe-inline'" not in str(directives)


@pytest.mark.parametrize(("target", "cache_control", "content_type"), [
    ("/", REVALIDATE, "text/html; charset=utf-8"),  # the page always names the current version
    ("/static/{v}/app.js", VERSIONED_CACHE, "text/javascript; charset=utf-8"),
    ("/static/{v}/style.css", VERSIONED_CACHE, "text/css; charset=utf-8"),
    ("/static/app.js", REVALIDATE, "text/javascript; charset=utf-8"),  # unversioned: checked before each use
    ("/healthz", "no-store", "application/json; charset=UTF-8"),
])
async def test_caching_and_content_types(server, target, cache_control, content_type):
    response = await fetch(server, target)
    assert response.status == 200
    assert response.getheader("Cache-Control") == cache_control
    assert response.getheader("Content-Type") == content_type


async def test_a_revalidated_file_that_did_not_change_is_a_304(server):
    first = await fetch(server, "/static/app.js")
    again = await fetch(server, "/static/app.js", **{"If-None-Match": first.getheader("ETag")})
    assert again.status == 304 and again.body == b""


async def test_versioned_and_unversioned_urls_serve_the_same_bytes_and_the_page_is_the_static_page(server):
    versioned, plain = await fetch(server, "/static/{v}/client.js"), await fetch(server, "/static/client.js")
    assert versioned.body == plain.body and b"export" in plain.body
    moved = await fetch(server, "/static/index.html")
    assert moved.getheader("Location") == "../"  # → the page at /, whatever prefix a proxy serves it under


# Paths a scanner or a fuzzer sends, each as raw bytes on the wire.
MALFORMED = [
    b"/static/%00", b"/static/app.js%00", b"/static/\x00", b"/%00",
    b"/static/%C0%AE%C0%AE/%C0%AE%C0%AE/etc/passwd", b"/static/%E0%80%AE", b"/static/%ff", b"/static/\xc0\xae",
    b"/static/../chatd/config.py", b"/static/%2e%2e/chatd/config.py", b"/static/%2e%2e%2fchatd%2fconfig.py",
    b"/static/..%2F..%2Fetc%2Fpasswd", b"/static/%2F/etc/passwd", b"/static//etc/passwd", b"/static/./app.js",
    b"/static/..\\..\\chatd\\config.py", b"/static/..%5C..%5Cchatd", b"/static/C:%5Cwindows",
    b"/static/", b"/static", b"/static/%", b"/static/%zz", b"/static/%u002e%u002e", b"/ws/%00", b"/healthz/..",
    b"/static/{v}/../../chatd/config.py", b"/static/{v}/", b"/static/{v}/%00", b"/static/{v}/index.html",
    b"/static/" + b"a" * 8000, b"/static/" + b"%2e%2e/" * 2000, b"/" + b"%00" * 15000, b"/\t",
]


@pytest.mark.parametrize("target", MALFORMED)
async def test_malformed_paths_are_a_400_or_404(server, target, caplog):
    with caplog.at_level(logging.ERROR):
        response = await fetch(server, target)
    assert response.status in (400, 404)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "nothing logged as an error"


# A NUL in a query string: the handlers read no query, so it is ignored (a raw NUL is a 400).
NUL_QUERIES = [(b"/?x=%00", 200), (b"/static/app.js?v=%00", 200), (b"/healthz?%00=%00", 200), (b"/?\x00", 400),
               (b"/static/{v}/app.js?%00", 200)]


@pytest.mark.parametrize(("target", "status"), NUL_QUERIES)
async def test_a_nul_in_the_query_is_harmless(server, target, status, caplog):
    with caplog.at_level(logging.ERROR):
        assert (await fetch(server, target)).status == status
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_path_beyond_the_header_limit_is_refused_and_the_server_carries_on(server):
    """Tornado closes a connection whose request head exceeds 64 KiB, without a response."""
    try:
        response = await fetch(server, b"/static/" + b"a" * 70_000)
        assert response.status < 500
    except (ConnectionError, http.client.RemoteDisconnected):
        pass
    assert (await fetch(server, "/healthz")).status == 200


SEGMENTS = st.sampled_from(["..", ".", "", "%00", "%2f", "%2F", "%5c", "\\", "%c0%ae", "%ff", "%", "%e2%80%ae",
                            "static", "app.js", "index.html", "0123456789abcdef", "a" * 300])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segments=st.lists(st.one_of(SEGMENTS, st.text(max_size=20).map(quote)), max_size=8),
       query=st.one_of(st.none(), st.binary(max_size=30).map(lambda b: quote(b, safe=""))))
def test_no_path_makes_a_500(chatd_daemon: Chatd, segments, query):
    target = ("/static/" + "/".join(segments) + (f"?{query}" if query is not None else "")).encode()
    assert request(chatd_daemon.port, target).status in (200, 301, 400, 404), target


def test_no_path_made_the_log_say_error(chatd_daemon: Chatd):
    for target in MALFORMED + [target for target, _ in NUL_QUERIES]:
        request(chatd_daemon.port, target.replace(b"{v}", version(chatd_daemon.port).encode()))
    assert request(chatd_daemon.port, b"/healthz").status == 200
    log = chatd_daemon.log()
    assert "Traceback" not in log and " ERROR " not in log


def get_then_head_then_get(port: int, path: str) -> list[tuple[int, dict[str, str], bytes]]:
    """GET, HEAD, GET on one keep-alive connection (http.client): (status, headers,
    body) each. Had the HEAD answer carried body bytes, the second GET would
    read them as its status line and fail."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    answers = []
    try:
        for method in ("GET", "HEAD", "GET"):
            conn.request(method, path)
            response = conn.getresponse()
            answers.append((response.status, dict(response.getheaders()), response.read()))
    finally:
        conn.close()
    return answers


@pytest.mark.parametrize("path", ["/", "/static/{v}/app.js", "/static/style.css", "/healthz"])
async def test_head_answers_like_get_without_a_body(server, path):
    """Uptime monitors ask with HEAD (RFC 9110 §9.3.2): not a 405."""
    if "{v}" in path:
        path = path.replace("{v}", await asyncio.to_thread(version, server.port))
    (get_status, get_headers, body), (status, headers, head_body), (again, _, _) = await asyncio.to_thread(
        get_then_head_then_get, server.port, path)
    assert get_status == status == again == 200
    assert body and head_body == b""
    for name in ("Content-Type", "Cache-Control", "Content-Security-Policy"):
        assert headers[name] == get_headers[name], name
    assert int(headers["Content-Length"]) == len(body), "HEAD tells the size GET sends"


async def test_head_of_an_unknown_path_is_a_404(server):
    def head() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
        try:
            conn.request("HEAD", "/no/such/page")
            return conn.getresponse().status
        finally:
            conn.close()

    assert await asyncio.to_thread(head) == 404


APP_ORIGIN = "https://app.example.org"


@pytest.mark.parametrize("config_overrides", [{"allowed_origins": [APP_ORIGIN]}])
@pytest.mark.parametrize(("target", "origin", "allowed"), [
    ("/static/chatd-client.js", APP_ORIGIN, True),  # the public client, unversioned
    ("/static/{v}/connection.js", APP_ORIGIN, True),  # a module it imports, versioned
    ("/static/chatd-client.js", "https://evil.example", False),  # an origin not in allowed_origins
    ("/static/chatd-client.js", None, False),  # no Origin: nothing to allow
    ("/static/app.js", APP_ORIGIN, False),  # the page's own modules: same origin only
])
async def test_other_origins_may_import_the_public_client(server, target, origin, allowed):
    response = await fetch(server, target, **({"Origin": origin} if origin else {}))
    assert response.status == 200
    assert response.getheader("Access-Control-Allow-Origin") == (origin if allowed else None)
    if "app.js" not in target:
        assert response.getheader("Vary") == "Origin"  # a cache keeps one answer per origin


@pytest.mark.parametrize("config_overrides", [{"identity": {"avatar_hosts": ["cdn.example.com"]}}])
async def test_the_page_may_show_images_of_the_avatar_hosts_only(server):
    def img_src(response: http.client.HTTPResponse) -> str:
        policy = dict(d.strip().split(" ", 1) for d in response.getheader("Content-Security-Policy").split(";"))
        return policy["img-src"]

    assert img_src(await fetch(server, "/")) == "'self' data: cdn.example.com"
    assert img_src(await fetch(server, "/static/app.js")) == "'self' data:"  # no other response needs it
