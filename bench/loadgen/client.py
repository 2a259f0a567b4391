"""One simulated chat user: a picows WebSocket client speaking chatd's JSON
protocol, either as plain text frames (chatd, ws, tornado, floor) or
wrapped in Socket.IO (``flavour="sio"``).

picows parses frames in C and calls ``on_ws_frame`` with no Task or Future
per frame, which is what keeps the load generator's cost per delivery
(~1 µs when frames come several a read, ~2.2 µs one a read; see the README)
below the servers'.

    client = await connect(url, "ws"); client.on_delivery = tracker.on_delivery
    welcome = await client.request({"type": "identify", "name": "u1"})
    client.send({"type": "say", "room": "r0", "text": "hi"})

Socket.IO path: a minimal Engine.IO v4 / Socket.IO v5 client over the
WebSocket transport only: wait for the Engine.IO ``0{...}`` open packet,
send ``40`` (connect to namespace "/"), wait for ``40{...}``; answer
Engine.IO pings ``2`` with ``3``; chat frames travel as the event
``42["chat",{...}]`` (see peers/socketio_node.js).

A Socket.IO client resuming as Socket.IO's tutorial does (peers/socketio_sqlite.js)
connects with ``auth``, sent in the CONNECT packet: ``40{"serverOffset":N,"rooms":[...]}``;
the server replays what it stored since as ordinary ``message`` frames, whose
keys such a client keeps in ``replayed_keys`` (time of the last in ``replayed_at``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import orjson
from picows import WSCloseCode, WSListener, WSMsgType, WSTransport, ws_connect

from loadgen.metrics import KEY_DIGITS

_cids = itertools.count(1)
_TEXT = WSMsgType.TEXT
_CLOSE = WSMsgType.CLOSE
_SIO_EVENT = b'42["chat",'
_MESSAGE = b'{"type":"message",'
_ACK = b'{"type":"ack",'
_TEXT_FIELD = b'"text":"'
_KEY_AT = len(_TEXT_FIELD)  # the key's first digit, from where _TEXT_FIELD starts


class ChatError(Exception):
    """The server answered a request with an ``error`` frame."""


def _ignore(client: ChatClient, key: bytes) -> None:
    pass


def _keep_replayed(client: ChatClient, key: bytes) -> None:
    """The delivery hook of a client connected with ``auth``: the messages it gets are its replay
    (the reconnect case says nothing while clients resume)."""
    client.replayed_keys.append(int(key))
    client.replayed_at = time.monotonic_ns()


class ChatClient(WSListener):
    def __init__(self, flavour: str, auth: dict | None = None):
        super().__init__()
        self.sio = flavour == "sio"
        self.auth = auth  # Socket.IO only: the CONNECT packet's payload
        self._message_prefix = _SIO_EVENT + _MESSAGE if self.sio else _MESSAGE
        self._ack_prefix = _SIO_EVENT + _ACK if self.sio else _ACK
        self.transport: WSTransport | None = None
        self.pending: dict[str, asyncio.Future] = {}  # cid -> answer
        # The hot path: called for every message frame with (client, the message's key as its
        # text has it: KEY_DIGITS ASCII digits, bytes; see metrics.message_text).
        self.on_delivery: Callable[[ChatClient, bytes], None] = _keep_replayed if auth else _ignore
        self.replayed_keys: list[int] = []  # with auth: keys of the messages replayed on connect, as they came
        self.replayed_at = 0  # monotonic ns of the last of them
        self.on_ack: Callable[[ChatClient, dict], None] | None = None  # acks not awaited by request()
        # error frames no request() was waiting for (a refused say), after counting them in ``errors``
        self.on_error: Callable[[ChatClient, dict], None] | None = None
        # Set, every frame is decoded and handed to it first, in arrival order, message frames
        # included (then not given to on_delivery): the slow path of community.py, which reads ids.
        self.on_frame: Callable[[ChatClient, dict], None] | None = None
        self.presence = 0  # presence frames received (counted, otherwise ignored)
        self.errors = 0  # error frames no request() was waiting for
        self.replayed: list[dict] = []  # messages of the last `joined`
        self.index = 0  # the client's number in its population
        self.room = ""
        self.token = ""
        self.user_id = 0  # from the welcome of population.bring_online
        self.last_id = 0
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()  # set once the client may send chat frames
        self.gone = loop.create_future()  # set when the connection is closed

    # picows callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if not self.sio:
            self.ready.set_result(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        for future in (self.ready, self.gone, *self.pending.values()):
            if not future.done():
                future.set_exception(ConnectionError("connection closed"))
        self.pending.clear()
        self.gone.exception()  # mark retrieved: a closed client is not an error by itself

    def on_ws_frame(self, transport: WSTransport, frame) -> None:
        data = frame.get_payload_as_bytes()
        if self.on_frame is None and data.startswith(self._message_prefix):
            # The hot path, one call per delivery: take the key out of the text
            # ("KEY:T:padding", KEY of KEY_DIGITS digits: see metrics.message_text)
            # without decoding the JSON; the text is the only field holding '"text":"'.
            # Its digits are the key as they are (int() would cost ~100 ns a delivery);
            # the send time is not read: the tracker kept it (deliveries.Deliveries).
            start = data.find(_TEXT_FIELD) + _KEY_AT
            self.on_delivery(self, data[start:start + KEY_DIGITS])
            return
        if not self.pending and self.on_ack is None and self.on_frame is None and data.startswith(self._ack_prefix):
            return  # the ack of a say no one waits for (fanout, rooms: one a message), dropped undecoded
        if frame.msg_type is not _TEXT:
            if frame.msg_type is _CLOSE:
                transport.disconnect()
            return
        if self.sio:
            if not data.startswith(_SIO_EVENT):
                self._sio_control(data)
                return
            obj = orjson.loads(data[2:])[1]
        else:
            obj = orjson.loads(data)
        kind = obj["type"]
        if self.on_frame is not None:
            self.on_frame(self, obj)
            if kind == "message":
                return
        if kind == "message":  # a server that does not put "type" first
            self.on_delivery(self, obj["text"][:KEY_DIGITS].encode())
        elif kind == "presence":
            self.presence += 1
        elif kind == "ack" and self.on_ack is not None:
            self.on_ack(self, obj)
        else:
            future = self.pending.pop(obj.get("cid"), None)
            if future is not None and not future.done():
                future.set_result(obj)
            elif kind == "error":
                self.errors += 1
                if self.on_error is not None:
                    self.on_error(self, obj)

    def _sio_control(self, data: bytes) -> None:
        if data == b"2":  # Engine.IO ping from the server
            self.transport.send(_TEXT, b"3")
        elif data.startswith(b"0{"):  # Engine.IO open: connect to the default namespace
            self.transport.send(_TEXT, b"40" + orjson.dumps(self.auth) if self.auth else b"40")
        elif data.startswith(b"40") and not self.ready.done():
            self.ready.set_result(None)
        elif data.startswith(b"44") and not self.ready.done():
            self.ready.set_exception(ConnectionError(f"Socket.IO connect refused: {data[:200]!r}"))
        elif data.startswith(b"41"):
            self.transport.disconnect()

    # Sending

    def send(self, obj: dict[str, Any]) -> None:
        payload = orjson.dumps(obj)
        self.transport.send(_TEXT, _SIO_EVENT + payload + b"]" if self.sio else payload)

    async def request(self, obj: dict[str, Any], timeout: float = 30.0) -> dict:
        """Send a request with a fresh cid; return its answer, raise ChatError for an error frame."""
        cid = obj["cid"] = f"q{next(_cids)}"
        future = self.pending[cid] = asyncio.get_running_loop().create_future()
        self.send(obj)
        async with asyncio.timeout(timeout):
            answer = await future
        if answer["type"] == "error":
            raise ChatError(f"{obj['type']}: {answer.get('code')}: {answer.get('message')}")
        return answer

    def drop(self) -> None:
        """Close the TCP connection at once, without a WebSocket close handshake."""
        if self.transport is not None:
            self.transport.disconnect(graceful=False)

    def close(self) -> None:
        """Close cleanly: a close frame (1001, a page going away), then the connection."""
        if self.transport is not None:
            self.transport.send_close(WSCloseCode.GOING_AWAY)
            self.transport.disconnect()

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.gone.done()


def endpoint(base: str, flavour: str) -> str:
    """The WebSocket URL for a server's base URL ``ws://host:port``."""
    return base + ("/socket.io/?EIO=4&transport=websocket" if flavour == "sio" else "/ws")


async def connect(base: str, flavour: str, timeout: float = 30.0, auth: dict | None = None) -> ChatClient:
    """Open one connection and wait until chat frames may be sent (``auth``: see the module's docstring)."""
    _, client = await ws_connect(lambda: ChatClient(flavour, auth), endpoint(base, flavour),
                                 websocket_handshake_timeout=timeout, read_buffer_init_size=4096,
                                 use_aiofastnet=False)  # uvloop's own transports connect ~15% faster
    async with asyncio.timeout(timeout):
        await client.ready
    return client
