"""The WebSocket connection after the handshake, spoken to at the byte level."""

from __future__ import annotations

import asyncio
import collections
import errno
import gc
import json
import logging
from types import SimpleNamespace

import pytest

from chatd.protocol.codes import CloseCode
from chatd.web.connection import CLOSE_WAIT, ChatConnection
from chatd.web.outbox import Outbox
from chatd.wsframe import FrameReader, Opcode
from tests.conftest import make_config, until
from tests.test_wsframe import ALLOWED_CLOSE_CODES, FORBIDDEN_CLOSE_CODES, client_frame, close_body

PROMPTLY = CLOSE_WAIT / 2  # "well before the server would give up on the client": no tight timing

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

    async def expect_close(self) -> tuple[int | None, bytes]:
        """The next frame, which must be a close frame: its code and reason bytes."""
        opcode, payload = await self.next_frame()
        assert opcode == Opcode.CLOSE, (opcode, payload)
        return (int.from_bytes(payload[:2], "big") if payload else None), payload[2:]

    async def server_closes_tcp(self) -> None:
        """The server ends the TCP connection (a FIN, not a reset) well before
        CLOSE_WAIT, with nothing more sent."""
        async with asyncio.timeout(PROMPTLY):
            rest = await self.reader.read()
        assert rest == b"" and not self.frames.buffer and not self.frames.ready

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


# Closing (RFC 6455 §5.5.1, §7): every kind of close ends with the server's
# close frame carrying the right code, then TCP closed well before CLOSE_WAIT.

FAILURES = [  # (what the client sends, the code the server fails the connection with)
    pytest.param(client_frame(Opcode.TEXT, b"{}", masked=False), CloseCode.PROTOCOL_ERROR, id="unmasked"),
    pytest.param(client_frame(Opcode.TEXT, b"{}", rsv=0x40), CloseCode.PROTOCOL_ERROR, id="reserved-bits"),
    pytest.param(client_frame(3, b""), CloseCode.PROTOCOL_ERROR, id="unknown-opcode"),
    pytest.param(client_frame(Opcode.CONTINUATION, b"x"), CloseCode.PROTOCOL_ERROR, id="continuation-alone"),
    pytest.param(client_frame(Opcode.PING, b"x", fin=False), CloseCode.PROTOCOL_ERROR, id="ping-not-final"),
    pytest.param(client_frame(Opcode.CLOSE, close_body(1000), fin=False) + client_frame(Opcode.CONTINUATION, b""),
                 CloseCode.PROTOCOL_ERROR, id="close-fragmented"),
    pytest.param(client_frame(Opcode.CLOSE, close_body(1000, b"x" * 124)), CloseCode.PROTOCOL_ERROR,
                 id="close-too-long"),
    pytest.param(client_frame(Opcode.PING, b"x", length_bits=16), CloseCode.PROTOCOL_ERROR, id="length-16-bit-for-1"),
    pytest.param(client_frame(Opcode.TEXT, b"{}" * 100, length_bits=64), CloseCode.PROTOCOL_ERROR,
                 id="length-64-bit-for-200"),
    pytest.param(client_frame(Opcode.TEXT, b'"\xff\xfe"'), CloseCode.INVALID_DATA, id="text-not-utf8"),
    pytest.param(client_frame(Opcode.TEXT, b"x" * 70_000), CloseCode.MESSAGE_TOO_BIG, id="too-big"),
    pytest.param(client_frame(Opcode.TEXT, b"x" * 40_000, fin=False) + client_frame(Opcode.CONTINUATION, b"x" * 40_000),
                 CloseCode.MESSAGE_TOO_BIG, id="too-big-in-fragments"),
]


@pytest.mark.parametrize("answers", [True, False], ids=["client-answers", "client-silent"])
@pytest.mark.parametrize(("data", "code"), FAILURES)
async def test_a_failed_connection_gets_its_code_and_is_closed_at_once(raw, server, data, code, answers):
    client = await raw()
    client.writer.write(data)
    assert (await client.expect_close())[0] == code
    if answers:
        client.send(Opcode.CLOSE, close_body(code))  # not read by the server (RFC 6455 §7.1.7)
    await client.server_closes_tcp()
    await forgotten(server, client)


async def forgotten(server, client: RawClient) -> None:
    """Once the client has closed its end too, the server lets go of the
    connection (its session with it) well before CLOSE_WAIT."""
    client.close()
    await until(lambda: not server.sockets, PROMPTLY, "the server to let go")  # no event tells of it
    assert not server.hub.users


CLIENT_CLOSES = [  # (the client's close frame body, the code the server answers with)
    *[pytest.param(close_body(code, "au revoir ✓".encode()), code, id=f"echo-{code}") for code in ALLOWED_CLOSE_CODES],
    pytest.param(b"", CloseCode.NORMAL, id="no-code"),  # answered with 1000: 1005 is never sent
    *[pytest.param(close_body(code), CloseCode.PROTOCOL_ERROR, id=f"forbidden-{code}")
      for code in FORBIDDEN_CLOSE_CODES],
    pytest.param(b"\x03", CloseCode.PROTOCOL_ERROR, id="one-byte"),
    pytest.param(close_body(1000, b"\xff"), CloseCode.INVALID_DATA, id="reason-not-utf8"),
    pytest.param(close_body(1000, "é".encode() * 61 + b"\xc3"), CloseCode.INVALID_DATA, id="reason-cut-in-a-character"),
    pytest.param(close_body(4000, "é".encode() * 61 + b"x"), 4000, id="reason-of-123-bytes"),
]


@pytest.mark.parametrize(("body", "answer"), CLIENT_CLOSES)
async def test_client_close_is_answered_then_tcp_closed(raw, server, body, answer):
    client = await raw()
    client.send_json({"type": "identify", "name": "leaver"})
    await client.next_json()
    client.send(Opcode.CLOSE, body)
    code, reason = await client.expect_close()
    assert code == answer
    if body[:2] == close_body(answer):
        assert reason == body[2:]  # echoed whole
    await client.server_closes_tcp()
    await forgotten(server, client)


async def test_frames_after_a_client_close_are_not_read(raw):
    client = await raw()
    client.writer.write(client_frame(Opcode.CLOSE, close_body(1000))
                        + client_frame(Opcode.TEXT, b'{"type": "identify", "name": "late"}')
                        + client_frame(Opcode.TEXT, b"{}", masked=False))  # not a violation: never read
    assert await client.expect_close() == (1000, b"")
    client.send(Opcode.TEXT, b'{"type": "rooms"}')  # even after the server's answer: discarded, not reset
    client.send(Opcode.CLOSE, close_body(1000))
    await client.server_closes_tcp()  # no welcome, no 1002, no reset


@pytest.mark.parametrize("code", [CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.POLICY_VIOLATION])
async def test_after_the_server_closes_only_the_clients_close_is_read(raw, server, code):
    client = await raw()
    client.send_json({"type": "identify", "name": "stayer"})
    await client.next_json()
    next(iter(server.sockets)).close(code, "goodbye ✓")  # as chatd stop / restart / the flood limit do
    assert await client.expect_close() == (code, "goodbye ✓".encode())
    client.send_json({"type": "rooms", "cid": "late"})  # ignored: the server said goodbye
    client.send(Opcode.PING, b"late")  # no pong either
    client.send(Opcode.CLOSE, close_body(CloseCode.NORMAL))
    await client.server_closes_tcp()
    await forgotten(server, client)


async def test_an_internal_error_closes_only_that_connection_with_1011(raw, monkeypatch):
    client = await raw()

    def broken(self, message):
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(ChatConnection, "_receive", broken)
        client.send_json({"type": "identify", "name": "unlucky"})
        assert (await client.expect_close())[0] == CloseCode.INTERNAL_ERROR
    await client.server_closes_tcp()
    other = await raw()
    other.send_json({"type": "identify", "name": "lucky"})
    assert (await other.next_json())["type"] == "welcome"


async def test_a_client_gone_before_the_server_shuts_tcp_is_not_an_error(raw, server, monkeypatch, caplog):
    """A browser tab closing sends its close frame and resets the connection at
    once: shutting our side then fails with ENOTCONN. That is the client's
    goodbye, not a bug: no 1011, no ERROR, and the session ends."""
    client = await raw()
    client.send_json({"type": "identify", "name": "tab"})
    await client.next_json()
    transport = next(iter(server.sockets))._transport
    if type(transport).__module__.startswith("uvloop"):  # $CHATD_TEST_EVENT_LOOP=uvloop (tests/ops_fixtures.py)
        pytest.skip("uvloop's transports are C types: their write_eof cannot be replaced")

    def reset(*_):
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    monkeypatch.setattr(transport, "write_eof", reset)
    client.send(Opcode.CLOSE, close_body(CloseCode.GOING_AWAY))
    await forgotten(server, client)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# limits.flood_strikes = 3 and no refill to speak of: the first 2 frames pass, every later one is over the limit.
FLOOD = {"limits": {"rate_per_second": 0.01, "rate_burst": 2, "flood_strikes": 3}}


@pytest.mark.parametrize("config_overrides", [FLOOD])
@pytest.mark.parametrize(("over", "closed"), [(2, False), (3, True), (4, True)], ids=["N-1", "N", "N+1"])
async def test_flood_strikes_rate_limited_errors_in_a_row_then_1008(raw, config_overrides, over, closed):
    client = await raw()
    for i in range(2 + over):  # not identified: the 2 that pass get not_identified, all of them cost a token
        client.send_json({"type": "rooms", "cid": f"c{i}"})
    client.send(Opcode.PING, b"still there?")  # control frames cost no token
    answers = []
    while (frame := await client.next_frame())[0] == Opcode.TEXT:
        answers.append(json.loads(frame[1]))
    strikes = FLOOD["limits"]["flood_strikes"]
    assert [(a["code"], a["cid"]) for a in answers] == [
        ("not_identified", "c0"), ("not_identified", "c1"),
        *[("rate_limited", f"c{i}") for i in range(2, 2 + min(over, strikes))]]
    if closed:
        assert frame == (Opcode.CLOSE, close_body(CloseCode.POLICY_VIOLATION, b"flooding"))
        client.send(Opcode.CLOSE, close_body(CloseCode.POLICY_VIOLATION))
        await client.server_closes_tcp()
    else:
        assert frame == (Opcode.PONG, b"still there?")


@pytest.mark.parametrize("config_overrides", [FLOOD])
async def test_over_limit_garbage_is_answered_rate_limited(raw, config_overrides):
    client = await raw()
    for data in (b"{nope", b"{nope", b"{nope"):
        client.send(Opcode.TEXT, data)
    answers = [await client.next_json() for _ in range(3)]
    assert [a["code"] for a in answers] == ["bad_json", "bad_json", "rate_limited"]  # a flood of garbage all the same
    assert answers[-1]["limit"] == "connection"


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
        client.send(Opcode.CLOSE, close_body(CloseCode.NORMAL))
        while (await client.next_frame())[0] != Opcode.CLOSE:
            pass  # the room's copy of the message
        await client.server_closes_tcp()
        await forgotten(server, client)
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
    # another ping may come first: 0.2 s is short on a busy machine
    while (frame := await client.next_frame())[0] == Opcode.PING:
        client.send(Opcode.PONG, frame[1])
    assert frame[0] == Opcode.TEXT and json.loads(frame[1])["type"] == "welcome"


def test_server_frame_reader_matches_reader_lengths():
    # the helper above must itself be right for the tests to mean anything
    reader = ServerFrameReader()
    reader.feed(b"\x81\x7e\x00\x80" + b"a" * 128)
    assert reader.ready == [(1, b"a" * 128)]
    assert list(FrameReader(10).feed(client_frame(Opcode.TEXT, b"ok"))) == [(Opcode.TEXT, b"ok")]


class KernelTakesAll:
    """A transport whose socket takes every byte at once (a client reading fast)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def resume_reading(self) -> None:
        pass


async def test_requests_waiting_for_the_client_go_on_after_a_frame_written_mid_pass(tmp_path, monkeypatch):
    """A frame past the room left under the limit is written at once (the cut-off check); if
    that makes room for requests waiting to be started, the end of the pass starts them, although
    nothing is left to write then and the transport, never paused, will not say so."""
    config = make_config(tmp_path)
    outbox = Outbox()
    conn = ChatConnection(SimpleNamespace(config=config), set(), outbox, "127.0.0.1", None)
    conn._transport = transport = KernelTakesAll()
    started: list[str] = []
    monkeypatch.setattr(ChatConnection, "_handle", lambda self, message: started.append(message))
    conn._inbox = collections.deque(["request"])  # waits: more than the high-water mark was queued
    conn.write_wire(b"x" * (config.limits.send_queue_bytes + 1))
    assert transport.written and not started  # written mid-pass; no request starts inside whoever queued it
    outbox.flush()  # the end of the pass
    assert started == ["request"]
