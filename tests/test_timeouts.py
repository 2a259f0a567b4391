"""chatd.web.timeouts: a connection that does not send its request's head in
time — a part of it, nothing, or nothing more after an answer — is closed, and
so is one whose body stops coming; a client that sends at once is served as
before. Real server, raw sockets; the timeouts made short here (a black-box
tester saw such connections stay open for minutes, Tornado's default being an hour)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import chatd.web.arrivals
import chatd.web.timeouts
from tests.rawhttp import RawHTTP, request
from tests.test_arrivals import handshake, switched

SHORT = 0.5  # seconds: the timeouts in these tests (the server reads them when it starts)


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch) -> None:
    """Before the server starts (autouse fixtures come first): its HTTP server reads HEAD_TIMEOUT then."""
    monkeypatch.setattr(chatd.web.timeouts, "HEAD_TIMEOUT", SHORT)
    monkeypatch.setattr(chatd.web.timeouts, "BODY_IDLE", SHORT)
    monkeypatch.setattr(chatd.web.arrivals, "PEEK_WAIT", SHORT / 10)  # a silent one reaches Tornado soon


@pytest.mark.parametrize("sent", [
    b"GET /ws HTTP/1.1\r\nHost: x\r\n",  # the tester's slowloris: no final CRLF, ever
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a",
    b"",  # nothing at all
])
async def test_a_connection_that_does_not_finish_its_head_is_closed_unanswered(server, sent):
    http = await RawHTTP.open(server.port)
    try:
        http.send(sent)
        assert await http.ended()  # within GENEROUS: without a head timeout, after an hour
    finally:
        http.close()


async def test_a_kept_alive_connection_idle_after_its_answer_is_closed(server):
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("GET", "/healthz"))
        answer = await http.answer()
        assert answer.status == 200 and answer.headers.get("connection") != "close"
        assert await http.ended()
    finally:
        http.close()


async def test_a_body_that_stops_coming_has_its_connection_closed(server, caplog):
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("POST", "/healthz", b"x" * 100)[:-90])  # the head, and 10 of the 100 bytes
        with caplog.at_level(logging.INFO, logger="tornado.general"):
            assert await http.ended()
        assert f"no byte of a request's body for {SHORT:g} s from 127.0.0.1" in caplog.text
    finally:
        http.close()


async def test_a_client_that_sends_at_once_is_served_as_before(server):
    """A page, a request with a body, several on one connection, and a WebSocket."""
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("GET", "/") + request("POST", "/healthz", b"x" * 100) + request("GET", "/healthz"))
        assert [(await http.answer()).status for _ in range(3)] == [200, 405, 200]
    finally:
        http.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server))
    await switched(reader, writer)
    writer.close()
