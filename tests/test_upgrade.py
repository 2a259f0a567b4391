"""The /ws handshake (chatd.web.upgrade): the origin check docs/protocol.md
promises; clients that leave mid-handshake; and the private IOStream
attributes the take-over reads, still there and still meaning what they
meant in the installed Tornado. pyproject.toml bounds Tornado to the
versions where these passed; moving that bound starts here. (The handshake
end to end, early frames included: test_connection.py.)"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import socket
import struct

import pytest
import tornado
from tornado.iostream import IOStream
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler, WebSocketProtocol13

from chatd.metrics import RATE_LIMITED
from chatd.web.handshake import take_socket
from chatd.web.upgrade import ChatUpgrade
from tests.conftest import until

HANDSHAKE = ("GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")


async def handshake_status(port: int, extra: str = "") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HANDSHAKE.format(host=f"127.0.0.1:{port}", extra=extra).encode())
        async with asyncio.timeout(10):
            status = await reader.readline()
        return int(status.split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize(("origin", "status"), [
    (None, 101),  # no Origin: not a browser, accepted
    ("http://127.0.0.1:{port}", 101),  # the page's own origin
    ("https://127.0.0.1:{port}", 101),  # the scheme is not compared (TLS ends at the proxy)
    ("http://evil.example", 403),
    ("http://127.0.0.1:1", 403),  # another port is another origin
    ("null", 403),  # sandboxed frames and file: pages
])
async def test_foreign_origins_are_refused_with_403(server, origin, status):
    extra = "" if origin is None else f"Origin: {origin.format(port=server.port)}\r\n"
    assert await handshake_status(server.port, extra) == status


# What take_socket reads and writes on Tornado's IOStream, none of it public.
PRIVATE_STREAM_ATTRIBUTES = {"_read_buffer": bytearray, "_read_buffer_size": int, "_state": (int, type(None))}
# Hooks the take-over relies on (public or documented-by-use in Tornado).
HOOKS = [(WebSocketHandler, "get_websocket_protocol"), (RequestHandler, "detach"),
         (WebSocketProtocol13, "compute_accept_value")]
REQUEST = b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"
EARLY = b"\x81\x85early"  # a frame the client sent right behind its request


def _moved(what: str) -> str:
    return (f"tornado {tornado.version}: {what}. chatd.web.handshake.take_socket depends on it: "
            "adapt it, then widen the tornado bound in pyproject.toml")


async def stream_after_request(early: bytes) -> tuple[IOStream, socket.socket]:
    """A real IOStream that has read an HTTP request head, ``early`` behind it."""
    ours, theirs = socket.socketpair()
    theirs.sendall(REQUEST + early)  # in the socket before the first read: one recv takes both
    stream = IOStream(ours)
    # As Tornado's HTTP server does: with a close callback, an idle stream keeps
    # its socket watched (to notice a close), so take_socket has a handler to remove.
    stream.set_close_callback(lambda: None)
    assert await stream.read_until(b"\r\n\r\n") == REQUEST
    return stream, theirs


async def test_the_private_stream_attributes_are_still_there():
    stream, peer = await stream_after_request(EARLY)
    for name, kind in PRIVATE_STREAM_ATTRIBUTES.items():
        assert hasattr(stream, name), _moved(f"IOStream.{name} is gone")
        assert isinstance(getattr(stream, name), kind), _moved(f"IOStream.{name} changed type")
    stream.close()
    peer.close()


@pytest.mark.parametrize("early", [EARLY, b""], ids=["frame-behind-request", "nothing-behind"])
async def testtake_socket_returns_what_was_read_past_the_request_and_unwatches_it(early):
    stream, peer = await stream_after_request(early)
    assert take_socket(stream) == early, _moved(
        "IOStream._read_buffer[:_read_buffer_size] no longer holds the bytes read past the request")
    assert stream._state is None
    # asyncio's remove_reader says whether anyone still watched the socket: Tornado must not.
    assert not asyncio.get_running_loop().remove_reader(stream.socket.fileno()), _moved(
        "the IOLoop still watches the socket after take_socket cleared IOStream._state")
    stream.socket.close()
    peer.close()


@pytest.mark.parametrize(("cls", "name"), HOOKS, ids=[f"{c.__name__}.{n}" for c, n in HOOKS])
def test_the_hooks_are_still_there(cls, name):
    assert callable(getattr(cls, name, None)), _moved(f"{cls.__name__}.{name} is gone")


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    sock.close()


async def _leave_mid_handshake(port: int, how: str) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = HANDSHAKE.format(host=f"127.0.0.1:{port}", extra="").encode()
    if how == "half-request":
        await loop.sock_sendall(sock, request[: len(request) // 2])
        sock.close()
        return
    await loop.sock_sendall(sock, request)
    if how == "after-101":
        assert (await loop.sock_recv(sock, 1024)).startswith(b"HTTP/1.1 101")
    _reset(sock)


async def test_clients_leaving_mid_handshake_cost_nothing_and_log_no_error(server, user, caplog):
    hows = ["half-request", "before-101", "after-101"] * 20
    await asyncio.gather(*(_leave_mid_handshake(server.port, how) for how in hows))
    alice = await user("alice", "lobby")  # the server still serves
    assert (await alice.say("lobby", "still here"))["type"] == "ack"
    # The server learns of the resets from its loop: no event to await.
    await until(lambda: len(server.sockets) <= 1, 10, "the resets")
    addresses = server.chat.admission.addresses
    assert addresses.open_connections(addresses.key("127.0.0.1")) == 1, "each leaver gave its address's count back"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() + "\n" + (r.exc_text or "") for r in errors]


async def test_a_taken_over_handshake_leaves_no_cycle_for_the_collector(server, user):
    """Tornado keeps a WebSocketHandler's own cycle after a 101 until the WebSocket closes,
    which a taken-over socket never does in Tornado's eyes; the take-over breaks it, so the
    handshake's objects go by reference counting, not in the collector's full collections."""
    gc.collect()
    gc.disable()
    try:
        alice = await user("alice", "lobby")
        assert (await alice.say("lobby", "here"))["type"] == "ack"
        assert not [o for o in gc.get_objects() if isinstance(o, ChatUpgrade)], "left for the collector"
    finally:
        gc.enable()


async def _raw_handshake(port: int, extra: str = "") -> bytes:
    """The answer's head (status line and headers) to HANDSHAKE + ``extra``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(HANDSHAKE.format(host=f"127.0.0.1:{port}", extra=extra).encode())
        async with asyncio.timeout(10):
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()


def _without_date(head: bytes) -> list[bytes]:
    return [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")]


async def test_a_handshake_is_answered_at_its_headers_with_the_bytes_tornado_writes(server, monkeypatch):
    """chatd.web.handshake answers a valid handshake before routing and a handler exist;
    one it leaves to Tornado (here: one with a body) gets the same 101, the Date aside."""
    handlers = []
    monkeypatch.setattr(ChatUpgrade, "prepare", lambda self: handlers.append(self))
    taken = await _raw_handshake(server.port)
    assert handlers == [], "the handshake went through Tornado's routing and handler"
    through_tornado = await _raw_handshake(server.port, "Content-Length: 0\r\n")
    assert len(handlers) == 1
    assert taken.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert _without_date(taken) == _without_date(through_tornado)
    await until(lambda: not server.sockets, 10, "the two clients' close")


@pytest.mark.parametrize("config_overrides", [{"address": {"max_connections": 1}}])
async def test_a_handshake_refused_at_its_headers_is_answered_by_tornado_and_counted_once(server):
    refused = RATE_LIMITED.labels("connections")
    before = refused._value.get()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)  # the address's one connection
    writer.write(HANDSHAKE.format(host=f"127.0.0.1:{server.port}", extra="").encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    head = await _raw_handshake(server.port)
    assert head.startswith(b"HTTP/1.1 429 ") and b"\r\nRetry-After: 30\r\n" in head
    assert refused._value.get() == before + 1
    assert not server.http.request_callback.handshakes.refused, "ChatUpgrade took the refusal it was handed"
    addresses = server.chat.admission.addresses
    assert addresses.open_connections(addresses.key("127.0.0.1")) == 1
    writer.close()


@pytest.mark.parametrize("host", ["127.0.0.1, evil.example", "bad host", "caf\u00e9.example"])
async def test_a_handshake_with_a_host_tornado_refuses_is_refused_as_before(server, host):
    """Tornado answers 400 to a request whose Host it refuses (several Hosts, characters outside
    RFC 3986's); the handshake taken at its headers must not answer those with 101."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(HANDSHAKE.format(host=host, extra="").encode())
        async with asyncio.timeout(10):
            assert (await reader.readline()).startswith(b"HTTP/1.1 400 ")
    finally:
        writer.close()


# Each handshake below twice: answered at its headers (chatd.web.handshake), and with a body,
# even an empty one, which leaves it to Tornado's routing and ChatUpgrade.
PATHS = {"at-headers": "", "tornado": "Content-Length: 0\r\n"}


async def _answer(port: int, request: str) -> tuple[bytes, bytes]:
    """The status line of the answer to ``request`` and its body (by Content-Length; none for a 101)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode("latin-1"))
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
            body = await reader.readexactly(int(length[1])) if length else b""
        return head.split(b"\r\n", 1)[0], body
    finally:
        writer.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("version", "host", "status"), [
    ("HTTP/1.0", True, 400), ("HTTP/1.0", False, 400),  # RFC 6455 §4.1: HTTP/1.1 or later
    ("HTTP/1.2", True, 101),
])
async def test_a_handshake_needs_http_1_1_or_later(server, path, version, host, status):
    request = HANDSHAKE.format(host=f"127.0.0.1:{server.port}", extra=PATHS[path]).replace(" HTTP/1.1\r\n",
                                                                                           f" {version}\r\n")
    if not host:
        request = re.sub(r"Host: [^\r]*\r\n", "", request)
    status_line, body = await _answer(server.port, request)
    assert status_line.startswith(f"HTTP/1.1 {status} ".encode())
    if status == 400:
        assert body == "WebSocket handshakes need HTTP/1.1 or later (RFC 6455 §4.1)\n".encode()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("key", [
    "abc", "!" * 22 + "==", "A" * 1000, "A" * 24,  # the last decodes to 18 bytes
    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",  # two: Tornado joins them
], ids=["short", "not-base64", "1000-chars", "18-bytes", "two-headers"])
async def test_a_handshake_whose_key_is_not_16_bytes_in_base64_is_refused_with_400(server, path, key):
    request = HANDSHAKE.format(host=f"127.0.0.1:{server.port}", extra=PATHS[path])
    status_line, body = await _answer(server.port, request.replace("dGhlIHNhbXBsZSBub25jZQ==", key))
    assert status_line.startswith(b"HTTP/1.1 400 ")
    assert body == b"Sec-WebSocket-Key must be one header holding 16 bytes in base64\n"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "SAME-ORIGIN", "", "none",
                                        "same-origin\r\nSec-Fetch-Site: same-origin"],
                         ids=["cross-site", "same-site", "upper-case", "empty", "none", "two-headers"])
async def test_without_an_origin_sec_fetch_site_is_not_consulted(server, path, fetch_site, caplog, monkeypatch):
    """Browsers send an Origin with every WebSocket handshake: one without is no browser's,
    and a header any client writes decides nothing (docs/protocol.md, Transport)."""
    prepared = []
    prepare = ChatUpgrade.prepare
    monkeypatch.setattr(ChatUpgrade, "prepare", lambda self: (prepared.append(self), prepare(self))[1])
    extra = f"Sec-Fetch-Site: {fetch_site}\r\n" + PATHS[path]
    with caplog.at_level(logging.INFO, logger="chatd.upgrade"):
        status_line, _ = await _answer(server.port, HANDSHAKE.format(host=f"127.0.0.1:{server.port}", extra=extra))
    assert status_line.startswith(b"HTTP/1.1 101 ")
    assert len(prepared) == (path == "tornado"), "answered at its headers only without a body"
    assert not [r for r in caplog.records if r.name == "chatd.upgrade"]
