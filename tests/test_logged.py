"""No value of a request's query string, path parameters or header fields reaches chatd's logs
(``chatd.web.logged``): a key sent as ``?api_key=`` is refused 401, and the access log then held it
in full (black-box tester bb20); one sent as ``;api_key=``, or with a stray ``\r`` from a key file
saved with CRLF line ends, was logged too (bb21). The log still says what was asked: the path and
the names of the query and of the path parameters."""

from __future__ import annotations

import logging

import pytest

import chatd.web
from tests.apiclient import api_key
from tests.rawhttp import RawHTTP, request

SECRET = "chatd_7cccTOPSECRETnSg"


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="tornado.access")  # every access line, 2xx included
    caplog.set_level(logging.INFO)
    return caplog


async def ask(server, method: str, target: str) -> int:
    """One request on a connection of its own (a refusal may end it); → its status."""
    http = await RawHTTP.open(server.port)
    try:
        http.send(request(method, target, b""))
        return (await http.answer()).status
    finally:
        http.close()


@pytest.mark.parametrize("target, shown", [
    (f"/api/v1/messages?api_key={SECRET}", "/api/v1/messages?api_key=…"),  # 404 api_off, then 401 below
    (f"/api/v1/rooms/%ff%fe?access_token={SECRET}", "/api/v1/rooms/%ff%fe?access_token=…"),
    (f"/?token={SECRET}&lang=en", "/?token=…&lang=…"),
    (f"/upload?name={SECRET}", "/upload?name=…"),
    (f"/files/nothing/here?{SECRET}", "/files/nothing/here?…"),  # a value without a name
    (f"/ws?access_token={SECRET}", "/ws?access_token=…"),  # not a handshake: Tornado's 400
    (f"/admin/api/rooms?key={SECRET}", "/admin/api/rooms?key=…"),
    (f"/nowhere?key={SECRET}", "/nowhere?key=…"),
    (f"/api/v1/rooms;api_key={SECRET}", "/api/v1/rooms;api_key=…"),  # a path parameter
    (f"/api/v1/rooms/lobby;{SECRET}/history?limit=1", "/api/v1/rooms/lobby;…/history?limit=…"),
    # The address encoded twice (bb22): ";", "=" and "?" percent-encoded.
    (f"/api/v1/rooms%3Bapi_key%3D{SECRET}", "/api/v1/rooms%3Bapi_key%3D…"),
    (f"/nowhere%3bkey={SECRET}", "/nowhere%3bkey=…"),
    (f"/api/v1/rooms%3Fapi_key%3D{SECRET}", "/api/v1/rooms%3F…"),
    (f"/api/v1/rooms%253Fapi_key={SECRET}", "/api/v1/rooms%253F…"),  # bb23: "%" encoded again
    (f"/nowhere%253Bkey%253D{SECRET}", "/nowhere%253Bkey%253D…"),
])
async def test_the_access_log_names_the_path_and_the_query_s_names_only(server, logged, target, shown):
    method = "POST" if target.startswith("/api/v1/messages") else "GET"
    await ask(server, method, target)  # the API off: 404 api_off
    api_key(server, "read")
    await ask(server, method, target)  # the API on: the key refused (401), or the path
    assert shown in logged.text
    assert SECRET not in logged.text


async def test_an_absolute_form_target_is_logged_alike(server, logged):
    assert await ask(server, "GET", f"http://127.0.0.1:{server.port}/healthz?token={SECRET}") == 200
    assert "/healthz?token=…" in logged.text and SECRET not in logged.text


async def test_an_internal_error_s_log_names_no_query_value(server, logged, monkeypatch):
    def broken(handler: chatd.web.HealthHandler) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(chatd.web.HealthHandler, "get", broken)
    assert await ask(server, "GET", f"/healthz?token={SECRET}") == 500
    assert "a bug" in logged.text and "/healthz?token=…" in logged.text
    assert SECRET not in logged.text


# Tornado refuses these before chatd sees the request, and logs its reason at info: the reason
# quoted the field's value (bb21: "Invalid header value 'Bearer chatd_…\\r'").
MALFORMED = {
    "a stray CR in Authorization": f"Authorization: Bearer {SECRET}\r\r\n",
    "a control character in a cookie": f"Cookie: chatd_admin={SECRET}\x01\r\n",
    "a field name with a space": f"X {SECRET}: 1\r\n",
    "a second Host": f"Host: {SECRET}\r\n",
    "a Content-Length not a number": f"Content-Length: {SECRET}\r\n",
    "two unequal Content-Lengths": f"Content-Length: 1, 2{SECRET[:0]}\r\nContent-Length: 3\r\n",
    "a Transfer-Encoding not chunked": f"Transfer-Encoding: {SECRET}\r\n",
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_request_s_log_line_names_no_value_of_its_fields(server, logged, case):
    http = await RawHTTP.open(server.port)
    try:
        http.send(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{MALFORMED[case]}\r\n".encode())
        answer = await http.answer()
        assert answer.status == 400
        assert SECRET.encode() in answer.body or case == "two unequal Content-Lengths"  # its sender is told
    finally:
        http.close()
    assert "Malformed HTTP message" in logged.text
    assert SECRET not in logged.text and "1, 2" not in logged.text


FORMS = ["application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "multipart/form-data"]


@pytest.mark.parametrize("content_type", FORMS)
@pytest.mark.parametrize("method, target, status", [
    ("GET", "/healthz", 200), ("GET", "/", 200), ("POST", "/api/v1/nope", 404), ("POST", "/admin/api/nope", 401),
])
async def test_a_form_content_type_changes_nothing_and_its_coding_is_not_logged(server, logged, content_type,
                                                                                method, target, status):
    """chatd reads no form fields. Tornado parsed form bodies anyway: one with a Content-Encoding
    was refused 400 with the coding, key and all, in the log (bb22), as was a GET saying
    multipart/form-data with no boundary, and a body of 1,001 fields."""
    for body in (b"", b"a&" * 1_200):
        http = await RawHTTP.open(server.port)
        try:
            http.send(request(method, target, body if method == "POST" else None, Content_Type=content_type,
                              Content_Encoding=f"gzip; key={SECRET}"))
            assert (await http.answer()).status == status
        finally:
            http.close()
    assert SECRET not in logged.text
