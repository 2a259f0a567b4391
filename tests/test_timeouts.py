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
BODY_READER = "/admin/api/login"  # a POST whose handler Tornado runs once it has read the whole body


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
        http.send(request("POST", BODY_READER, b"x" * 100)[:-90])  # the head, and 10 of the 100 bytes
        with caplog.at_level(logging.INFO, logger="tornado.general"):
            assert await http.ended()
        assert f"no byte of a request's body for {SHORT:g} s from 127.0.0.1" in caplog.text
    finally:
        http.close()


async def test_a_client_that_sends_at_once_is_served_as_before(server):
    """A page, a request with a body, several on one connection, and a WebSocket."""
    http = await RawHTTP.open(server.port)
    try:
        http.send(request("GET", "/") + request("POST", BODY_READER, b"x" * 100) + request("GET", "/healthz"))
        assert [(await http.answer()).status for _ in range(3)] == [200, 415, 200]  # 415: the body is no JSON
    finally:
        http.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server))
    await switched(reader, writer)
    writer.close()


class Loop:
    """The clock and timers a BodyWatch uses, moved by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback) -> Timer:
        timer = Timer(when, callback, self.timers)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move the clock on, running each timer that comes due (as many as there are)."""
        self.now += seconds
        while due := [t for t in self.timers if t.when <= self.now]:
            self.timers.remove(due[0])
            due[0].callback()


class Timer:
    def __init__(self, when: float, callback, timers: list) -> None:
        self.when, self.callback, self._timers = when, callback, timers

    def cancel(self) -> None:
        if self in self._timers:
            self._timers.remove(self)


class Connection:
    context = "198.51.100.7"
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_body_is_cut_only_after_body_idle_without_progress():
    loop, connection = Loop(), Connection()
    watch = chatd.web.timeouts.BodyWatch(connection, loop)
    for _ in range(10):  # a slow link: a piece every 0.9 BODY_IDLE, for 9 BODY_IDLE in all
        loop.advance(0.9 * SHORT)
        watch.progress()
    assert not connection.closed
    loop.advance(0.9 * SHORT)
    assert not connection.closed
    loop.advance(0.2 * SHORT)
    assert connection.closed


async def test_the_time_chatd_takes_with_a_piece_is_not_the_clients():
    loop, connection = Loop(), Connection()
    watch = chatd.web.timeouts.BodyWatch(connection, loop)
    handler_done = asyncio.get_running_loop().create_future()
    pending = watch.waiting_on(handler_done)  # the handler's data_received (or prepare) still at work
    loop.advance(5 * SHORT)
    assert not connection.closed
    handler_done.set_result(None)
    await pending
    loop.advance(0.9 * SHORT)
    assert not connection.closed  # the idle time starts when chatd is done with the piece
    loop.advance(0.2 * SHORT)
    assert connection.closed
