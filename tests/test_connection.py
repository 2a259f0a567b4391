"""The WebSocket connection after the handshake, spoken to at the byte level."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest

from chatd.web.connection import ChatConnection
from chatd.wsframe import FrameReader, Opcode
from tests.test_wsframe import client_frame

HANDSHAKE = ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


class RawClient:
    """A WebSocket client with nothing between the test and the bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.frames = ServerFrameReader()

    @classmethod
    async def connect(cls, port: int, early: bytes = b"") -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HANDSHAKE.format(port=port).encode() + early)  # frames may follow the request at once
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"Sec-Websocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        return cls(reader, writer)

    def send(self, opcode: int, payload: bytes, **kwargs) -> None:
        self.writer.write(client_frame(opcode, payload, **kwargs))

    def send_json(self, message: dict) -> None:
        self.send(Opcode.TEXT, json.dumps(message).encode())

    async def next_frame(self) -> tuple[int, bytes]:
        async with asyncio.timeout(10):
            while not self.frames.ready:
                data = await self.reader.read(65536)
                if not data:
                    raise EOFError
                self.frames.feed(data)
        return self.frames.ready.pop(0)

    async def next_json(self) -> dict:
        opcode, payload = await self.next_frame()
        assert opcode == Opcode.TEXT
        return json.loads(payload)

    def close(self) -> None:
        self.writer.close()


class ServerFrameReader:
    """Server frames are unmasked: re-mask nothing, reuse the reader's length logic by hand."""

    def __init__(self):
        self.buffer = b""
        self.ready: list[tuple[int, bytes]] = []

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            n, start = self.buffer[1] & 0x7F, 2
            if n == 126:
                n, start = int.from_bytes(self.buffer[2:4], "big"), 4
            elif n == 127:
                n, start = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < start + n:
                return
            self.ready.append((self.buffer[0] & 0x0F, self.buffer[start:start + n]))
            self.buffer = self.buffer[start + n:]


@pytest.fixture
async def raw(server):
    clients = []

    async def connect(early: bytes = b"") -> RawClient:
        client = await RawClient.connect(server.port, early)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


async def test_frames_sent_with_the_handshake_are_not_lost(raw):
    early = client_frame(Opcode.TEXT, b'{"type": "identify", "name": "eager"}')
    client = await raw(early)
    assert (await client.next_json())["type"] == "welcome"


async def test_ping_is_answered_with_pong(raw):
    client = await raw()
    client.send(Opcode.PING, b"are you there")
    assert await client.next_frame() == (Opcode.PONG, b"are you there")


async def test_fragmented_message_is_one_request(raw):
    client = await raw()
    client.send(Opcode.TEXT, b'{"type": "iden', fin=False)
    client.send(Opcode.CONTINUATION, b'tify", "name": "frag"}')
    assert (await client.next_json())["user"]["name"] == "frag"


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"opcode": Opcode.TEXT, "payload": b"{}", "masked": False}, 1002),
    ({"opcode": Opcode.TEXT, "payload": b'"\xff\xfe"'}, 1007),
    ({"opcode": 3, "payload": b""}, 1002),
])
async def test_protocol_violations_close_with_their_code(raw, kwargs, code):
    client = await raw()
    client.send(**kwargs)
    opcode, payload = await client.next_frame()
    assert opcode == Opcode.CLOSE and int.from_bytes(payload[:2], "big") == code


async def test_client_close_is_answered_and_the_session_forgotten(raw, server):
    client = await raw()
    client.send_json({"type": "identify", "name": "leaver"})
    await client.next_json()
    client.send(Opcode.CLOSE, (1000).to_bytes(2, "big"))
    opcode, payload = await client.next_frame()
    assert opcode == Opcode.CLOSE and payload[:2] == (1000).to_bytes(2, "big")
    assert await client.reader.read() == b""  # then the server closes the socket
    assert not server.hub.users


async def test_a_closed_connection_is_freed_at_once(raw, server):
    """Nothing keeps a connection once its socket is gone: not the timer that would
    have dropped a client not answering our close, not the writer thread once it has
    handed over a batch (under churn either held closed connections, transports
    and sockets)."""
    for i in range(3):
        client = await raw()
        client.send_json({"type": "identify", "name": "leaver"})
        await client.next_json()
        client.send_json({"type": "join", "room": "lobby"})
        client.send_json({"type": "say", "room": "lobby", "text": f"bye {i}", "cid": "bye"})
        while (await client.next_json()).get("cid") != "bye":
            pass  # joined, then the ack
        client.send(Opcode.CLOSE, (1000).to_bytes(2, "big"))
        while (await client.next_frame())[0] != Opcode.CLOSE:
            pass  # the room's copy of the message
        assert await client.reader.read() == b""  # the server has closed the socket
    assert not server.sockets
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, ChatConnection) and o.registry is server.sockets]


@pytest.mark.parametrize("config_overrides", [{"websocket": {"ping_interval": 0.2, "ping_timeout": 0.3}}])
async def test_client_that_ignores_pings_is_dropped(raw, config_overrides):
    client = await raw()
    opcode, _ = await client.next_frame()
    assert opcode == Opcode.PING  # sent once the connection has been quiet for ping_interval
    with pytest.raises(EOFError):
        await client.next_frame()  # never answered: dropped after ping_timeout


# A long timeout: a pong that a busy machine delays must not decide this test.
# Each new ping shows the pong before it counted (one ping is out at a time).
@pytest.mark.parametrize("config_overrides", [{"websocket": {"ping_interval": 0.2, "ping_timeout": 60}}])
async def test_client_that_answers_pings_stays(raw, config_overrides):
    client = await raw()
    for _ in range(4):
        opcode, payload = await client.next_frame()
        assert opcode == Opcode.PING
        client.send(Opcode.PONG, payload)
    client.send_json({"type": "identify", "name": "alive"})
    assert (await client.next_json())["type"] == "welcome"


def test_server_frame_reader_matches_reader_lengths():
    # the helper above must itself be right for the tests to mean anything
    reader = ServerFrameReader()
    reader.feed(b"\x81\x7e\x00\x80" + b"a" * 128)
    assert reader.ready == [(1, b"a" * 128)]
    assert FrameReader(10).feed(client_frame(Opcode.TEXT, b"ok")) == [(Opcode.TEXT, b"ok")]
