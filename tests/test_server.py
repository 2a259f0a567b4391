"""``chatd.server.Server`` stopping: what a restart owes the clients this
process had accepted, and when it may let its successor write. In process,
on a free port, with real sockets and a real SQLite file."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatd.protocol.codes import CloseCode
from chatd.server import STORE_CLOSED, Server
from tests.conftest import make_config, until

GENEROUS = 30.0  # seconds: far more than any step below takes, however loaded the machine


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv = Server(make_config(tmp_path))
    await srv.start()
    yield srv
    await srv.stop(timeout=5)  # a second stop does nothing more


async def accepted_connection(server: Server) -> socket.socket:
    """A TCP connection this server has accepted, its request not sent yet:
    a client caught by the restart between its connect and its request."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setblocking(False)
    await until(lambda: server.http.owing() == 1, GENEROUS, "the accept")
    return sock


def restart(server: Server, timeout: float = GENEROUS) -> asyncio.Future:
    """What the old process does in ``chatd restart``, without the successor."""
    return asyncio.ensure_future(server.stop(CloseCode.SERVICE_RESTART, timeout, answer_accepted=True))


async def test_a_websocket_accepted_before_a_restart_opens_and_is_told_to_reconnect(server):
    url = f"ws://127.0.0.1:{server.port}/ws"
    sock = await accepted_connection(server)
    stopping = restart(server)
    await until(lambda: server.listening[0].fileno() == -1, GENEROUS, "accepting to stop")
    async with connect(url, sock=sock, open_timeout=GENEROUS) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == CloseCode.SERVICE_RESTART, "1012: reconnect at once, to the successor"
    await stopping


async def test_a_request_accepted_before_a_restart_is_answered(server):
    reader, writer = await asyncio.open_connection(sock=await accepted_connection(server))
    stopping = restart(server)
    await until(lambda: server.listening[0].fileno() == -1, GENEROUS, "accepting to stop")
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: chatd\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
    await stopping
    writer.close()


async def test_a_restart_does_not_wait_for_a_connection_idle_between_requests(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: chatd\r\n\r\n")
    assert (await reader.readline()).startswith(b"HTTP/1.1 200 ")
    await reader.readuntil(b"}")  # the whole answer; the connection is kept alive, idle
    await until(lambda: server.http.owing() == 0, GENEROUS, "the answer to be done")
    # Were it waited for, the stop would take the whole of its timeout.
    async with asyncio.timeout(GENEROUS):
        await restart(server, timeout=4 * GENEROUS)
    assert await reader.read() == b"", "closed: a client retries a request it sends on it (RFC 9112 §9.3.1)"
    writer.close()


async def test_nothing_says_the_writer_is_drained_while_it_may_still_commit(server):
    stuck = threading.Event()
    server.store.writer.submit(stuck.wait, lambda result, error: None)  # a commit that hangs (a stalled disk)
    drained: list[bool] = []
    try:
        await server.stop(CloseCode.SERVICE_RESTART, timeout=1, on_drained=lambda: drained.append(True))
        assert drained == [], "a successor told to write now would write alongside this writer"
    finally:
        stuck.set()


async def test_the_writer_is_drained_once_its_last_commit_is_done(server):
    drained: list[bool] = []
    await server.stop(CloseCode.SERVICE_RESTART, timeout=GENEROUS, on_drained=lambda: drained.append(True))
    assert drained == [True]


async def test_status_is_answered_once_stopped(server):
    """`chatd status` reaches a server in its stop (Service._stop keeps its control socket
    until the end; a restart's last answers): its figures read the closed store and the
    closed listening sockets (EBADF), and the status failed with an error in the log."""
    address = server.address
    await server.stop(CloseCode.SERVICE_RESTART, GENEROUS)
    stats = await server.stats()
    assert stats["listen"] == address
    assert stats["messages_stored"] is None and stats["database_unreachable"] == STORE_CLOSED


async def test_a_room_made_while_the_start_reads_the_rooms_does_not_stop_it(tmp_path: Path, monkeypatch):
    """The start reads the rooms' uses, then the rooms: one made in between (by another node, or by
    a restart's old process) had no use, and the start died on a KeyError naming its id."""
    first = Server(make_config(tmp_path))
    await first.start()
    try:
        made = await first.chat.room_admin.create("garden", "plants")
    finally:
        await first.stop(timeout=GENEROUS)
    read = first.store.__class__.room_uses
    monkeypatch.setattr(first.store.__class__, "room_uses",
                        lambda store: {k: v for k, v in read(store).items() if k != made.id})  # not made yet
    again = Server(make_config(tmp_path))
    await again.start()
    try:
        assert "lobby" in again.hub.rooms
        await again.chat.rooms.resync(again.chat.clock())  # what a hand-over does next (chatd.service)
        assert "garden" in again.hub.rooms
    finally:
        await again.stop(timeout=GENEROUS)
