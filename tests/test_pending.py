"""chatd.web.pending: the connections one address has open that are not
WebSockets are counted from the accept and capped (address.max_http_connections);
over the cap, refused at once with 429. The count goes down on every way such a
connection ends or becomes a WebSocket. A trusted proxy's connections are not
counted. Real server, raw sockets from several loopback addresses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

import chatd.web.arrivals
from chatd.protocol.codes import CloseCode
from tests.conftest import until
from tests.rawhttp import GENEROUS, RawHTTP, request
from tests.test_arrivals import handshake, switched

CAP = 3
HOSTILE, OTHER, PROXY = "127.0.0.2", "127.0.0.3", "127.0.0.1"  # 127.0.0.1: a trusted proxy (the default)

pytestmark = pytest.mark.parametrize("config_overrides", [{"address": {"max_http_connections": CAP}}])


async def connect(server, source: str) -> RawHTTP:
    return RawHTTP(*await asyncio.open_connection("127.0.0.1", server.port, local_addr=(source, 0)))


def counted(server, source: str) -> int:
    return server.chat.admission.addresses.http_connections(source)


def tracked(server) -> int:
    """Sockets the count holds, every address together."""
    return len(server.http.request_callback.handshakes.pending)


async def test_an_address_over_its_cap_is_refused_at_once_and_others_are_not(server):
    held = [await connect(server, HOSTILE) for _ in range(CAP)]  # silent: the slowloris
    await until(lambda: counted(server, HOSTILE) == CAP, GENEROUS, "the accepts")
    extra = await connect(server, HOSTILE)
    answer = await extra.answer()
    assert (answer.status, answer.headers["retry-after"], answer.headers["connection"]) == (429, "30", "close")
    assert b"too many connections from your network address" in answer.body
    assert await extra.ended()
    extra.close()
    assert counted(server, HOSTILE) == CAP
    # Another address is served, its WebSocket too.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port, local_addr=(OTHER, 0))
    writer.write(handshake(server))
    await switched(reader, writer)
    writer.close()
    # A trusted proxy speaks for many clients: more than the cap, all served.
    through_proxy = [await connect(server, PROXY) for _ in range(CAP + 2)]
    for http in through_proxy:
        http.send(request("GET", "/healthz"))
        assert (await http.answer()).status == 200
        http.close()
    # Once its connections are closed, the address is served again.
    for http in held:
        http.close()
    await until(lambda: counted(server, HOSTILE) == 0, GENEROUS, "the closes")
    again = await connect(server, HOSTILE)
    again.send(request("GET", "/healthz"))
    assert (await again.answer()).status == 200
    again.close()
    await until(lambda: tracked(server) == 0, GENEROUS, "every socket let go")


async def websocket_at_the_accept(server, http: RawHTTP) -> None:
    http.send(handshake(server))
    await switched(http.reader, http.writer)
    a_websocket(server)


def a_websocket(server) -> None:
    """Counted with the address's WebSockets now, no more with the others."""
    assert counted(server, HOSTILE) == 0 and server.chat.admission.addresses.open_connections(HOSTILE) == 1


async def websocket_through_tornado(server, http: RawHTTP) -> None:
    http.send(handshake(server)[:20])  # a head in two parts: Tornado's, then detached
    await until(lambda: counted(server, HOSTILE) and not server.http.arrivals.pending(), GENEROUS, "Tornado's")
    http.send(handshake(server)[20:])
    await switched(http.reader, http.writer)
    a_websocket(server)


async def websocket_through_its_handler(server, http: RawHTTP) -> None:
    """Tornado's whole way: routed to ChatUpgrade, whose take-over detaches the stream."""
    http.send(handshake(server, "Expect: 100-continue\r\n"))
    async with asyncio.timeout(GENEROUS):
        assert await http.reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 (Continue)\r\n\r\n"
    await switched(http.reader, http.writer)
    a_websocket(server)


async def handshake_refused(server, http: RawHTTP) -> None:
    http.send(handshake(server, "Origin: https://evil.example\r\n"))
    assert (await http.answer()).status == 403  # kept alive: counted until the client closes


async def page_answered(server, http: RawHTTP) -> None:
    http.send(request("GET", "/healthz"))
    assert (await http.answer()).status == 200


async def silent(server, http: RawHTTP) -> None:
    """Closed by the client while the accept waits for its first bytes."""
    assert server.http.arrivals.pending() == 1


async def head_too_large(server, http: RawHTTP) -> None:
    http.send(request("GET", "/", X_Big="a" * 70_000))
    assert (await http.answer()).status == 431


@pytest.mark.parametrize("way", [websocket_at_the_accept, websocket_through_tornado, websocket_through_its_handler,
                                 handshake_refused,
                                 page_answered, silent, head_too_large])
async def test_the_count_goes_back_to_zero_whichever_way_a_connection_goes(
        server, way: Callable[..., Awaitable[None]]):
    for _ in range(2 * CAP):  # more than the cap: a count that leaked would refuse the last ones
        http = await connect(server, HOSTILE)
        await until(lambda: counted(server, HOSTILE) == 1, GENEROUS, "the accept")  # counted from there
        await way(server, http)
        http.close()
        await until(lambda: counted(server, HOSTILE) == 0, GENEROUS, "the count back to zero")
    await until(lambda: tracked(server) == 0, GENEROUS, "every socket let go")


async def test_connections_closed_by_the_head_timeout_are_counted_no_more(server, monkeypatch):
    monkeypatch.setattr(server.http.conn_params, "header_timeout", 1.0)  # chatd.web.timeouts.HEAD_TIMEOUT, as read
    monkeypatch.setattr(chatd.web.arrivals, "PEEK_WAIT", 0.02)
    held = [await connect(server, HOSTILE) for _ in range(CAP)]
    await until(lambda: counted(server, HOSTILE) == CAP, GENEROUS, "the accepts")
    for http in held:
        http.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    for http in held:
        assert await http.ended()
        http.close()
    await until(lambda: counted(server, HOSTILE) == 0 and tracked(server) == 0, GENEROUS, "the count back to zero")


async def test_a_stop_lets_go_of_the_count(server):
    held = [await connect(server, HOSTILE) for _ in range(CAP)]
    held[0].send(request("GET", "/healthz"))  # one Tornado's, kept alive; the others wait at the accept
    assert (await held[0].answer()).status == 200
    await until(lambda: counted(server, HOSTILE) == CAP, GENEROUS, "the accepts")
    await server.stop(CloseCode.GOING_AWAY, timeout=1)
    for http in held:
        assert await http.ended()
        http.close()
    assert counted(server, HOSTILE) == 0 and tracked(server) == 0

