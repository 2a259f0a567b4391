"""chatd.web.arrivals: new connections looked at before Tornado has them. A
whole valid handshake is answered there; everything else — another request,
a refusal, a head in parts, a silent client — reaches Tornado untouched and is
answered as before. Real server, real sockets."""

from __future__ import annotations

import asyncio

import pytest

import chatd.web.arrivals
from chatd.protocol.codes import CloseCode
from tests.conftest import until
from tests.test_upgrade import HANDSHAKE

PING = b"\x89\x84\x00\x00\x00\x00ping"  # a client's ping (masked, with a zero mask): answered with PONG
PONG = b"\x8a\x04ping"
GENEROUS = 30.0  # seconds: far more than any step below takes


@pytest.fixture
def to_tornado(monkeypatch) -> list:
    """The streams chatd.web.arrivals gives Tornado, as they are made."""
    made: list = []
    real = chatd.web.arrivals.HeadLimitStream

    def making(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(chatd.web.arrivals, "HeadLimitStream", making)
    return made


def handshake(server, extra: str = "") -> bytes:
    return HANDSHAKE.format(host=f"127.0.0.1:{server.port}", extra=extra).encode()


async def switched(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the 101, then check the connection is a WebSocket (a ping answered)."""
    async with asyncio.timeout(GENEROUS):
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        writer.write(PING)
        assert await reader.readexactly(len(PONG)) == PONG


async def test_a_handshake_is_answered_without_tornado_and_the_frames_behind_it_are_read(server, to_tornado):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server) + PING)  # a frame right behind the request, in the same segment
    async with asyncio.timeout(GENEROUS):
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
        assert await reader.readexactly(len(PONG)) == PONG
    assert to_tornado == []
    assert len(server.sockets) == 1 and server.http.arrivals.pending() == 0
    writer.close()


async def test_a_head_in_two_parts_goes_to_tornado_which_answers_it(server, to_tornado):
    request = handshake(server)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request[:20])
    await until(lambda: to_tornado, GENEROUS, "the socket to reach Tornado after one wait")
    assert server.http.arrivals.pending() == 0 and server.http.owing() == 1
    writer.write(request[20:])
    await switched(reader, writer)
    writer.close()


async def test_a_silent_client_goes_to_tornado_after_the_wait_and_is_answered_there(server, to_tornado, monkeypatch):
    monkeypatch.setattr(chatd.web.arrivals, "PEEK_WAIT", 0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await until(lambda: to_tornado, GENEROUS, "the silent socket to reach Tornado")
    assert server.http.arrivals.pending() == 0
    writer.write(handshake(server))
    await switched(reader, writer)
    writer.close()


async def test_other_requests_are_tornados(server, to_tornado):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: chatd\r\n\r\n")
    async with asyncio.timeout(GENEROUS):
        assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
    assert len(to_tornado) == 1
    writer.close()


@pytest.mark.parametrize(("extra", "status"), [
    ("Origin: https://evil.example\r\n", 403),  # refused by the checks at the head
    ("X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n", 101),  # several of a header: Tornado joins them
    ("X: caf\u00e9\r\n", 101),  # outside the strict form
])
async def test_a_handshake_the_accept_does_not_take_is_answered_by_tornado(server, to_tornado, extra, status):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server, extra))
    async with asyncio.timeout(GENEROUS):
        assert (await reader.readline()).startswith(f"HTTP/1.1 {status} ".encode())
    assert len(to_tornado) == 1
    writer.close()


async def test_a_handshake_expecting_100_continue_gets_it_before_its_101(server, to_tornado):
    """As before the accept answered handshakes: Tornado's "100 (Continue)", then the 101."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server, "Expect: 100-continue\r\n"))
    async with asyncio.timeout(GENEROUS):
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 (Continue)\r\n\r\n"
    await switched(reader, writer)
    assert len(to_tornado) == 1
    writer.close()


@pytest.mark.parametrize("config_overrides", [{"address": {"max_connections": 1}}])
async def test_a_refusal_counted_at_the_accept_is_answered_by_tornado_and_not_counted_again(server, to_tornado):
    first_reader, first_writer = await asyncio.open_connection("127.0.0.1", server.port)
    first_writer.write(handshake(server))
    await switched(first_reader, first_writer)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server))
    async with asyncio.timeout(GENEROUS):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429 ") and b"\r\nRetry-After: 30\r\n" in head
    assert len(to_tornado) == 1
    assert not server.http.request_callback.handshakes.prejudged, "Tornado's take used the refusal it was handed"
    addresses = server.chat.admission.addresses
    assert addresses.open_connections(addresses.key("127.0.0.1")) == 1
    first_writer.close()
    writer.close()


async def test_a_socket_waiting_for_its_first_bytes_is_owed_an_answer_and_closed_at_the_end(server, to_tornado):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await until(lambda: server.http.arrivals.pending() == 1, GENEROUS, "the accept")
    assert server.http.owing() == 1 and to_tornado == []
    await server.stop(CloseCode.SERVICE_RESTART, timeout=1, answer_accepted=True)  # it never sends: all the timeout
    async with asyncio.timeout(GENEROUS):
        assert await reader.read() == b""
    assert server.http.arrivals.pending() == 0 and to_tornado == []
    writer.close()


async def test_a_fault_in_the_look_leaves_the_socket_to_tornado(server, to_tornado, monkeypatch, caplog):
    def broken(data: bytes):
        raise RuntimeError("a bug")

    monkeypatch.setattr(chatd.web.arrivals, "parse_head", broken)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(handshake(server))
    await switched(reader, writer)
    assert len(to_tornado) == 1 and "a bug" in caplog.text
    writer.close()
