"""A protocol client for tests, written from docs/protocol.md only.

    async with ChatClient.connect(url) as alice:
        welcome = await alice.identify(name="alice")
        joined = await alice.request("join", room="lobby")
        msg = await alice.expect("message")
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TIMEOUT = 10.0
_cids = itertools.count(1)


class ChatClient:
    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.backlog: list[dict[str, Any]] = []  # frames received but not yet expected
        self.largest_frame = 0  # bytes of the largest frame received

    @classmethod
    def connect(cls, url: str, **kwargs: Any) -> _Connecting:
        return _Connecting(url, kwargs)

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def expect(self, kind: str, timeout: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The next frame of type ``kind`` whose fields equal ``match``; other
        frames received meanwhile are kept for later calls."""
        return await self._first(lambda f: f["type"] == kind and all(f.get(k) == v for k, v in match.items()), timeout)

    async def expect_cid(self, cid: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The frame answering the request with this cid (its answer or an error)."""
        return await self._first(lambda f: f.get("cid") == cid, timeout)

    async def _first(self, wanted: Any, timeout: float) -> dict[str, Any]:
        for i, frame in enumerate(self.backlog):
            if wanted(frame):
                return self.backlog.pop(i)
        async with asyncio.timeout(timeout):
            while True:
                data = await self.ws.recv(decode=False)
                self.largest_frame = max(self.largest_frame, len(data))
                frame = json.loads(data)
                if wanted(frame):
                    return frame
                self.backlog.append(frame)

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a request with a cid; return the frame answering it (its answer
        or an error — every answer carries the request's cid)."""
        cid = fields.pop("cid", None) or f"t{next(_cids)}"
        await self.send({"type": kind, "cid": cid, **fields})
        return await self.expect_cid(cid)

    async def identify(self, **fields: Any) -> dict[str, Any]:
        return await self.request("identify", **fields)

    async def enter(self, *rooms: str, **identify: Any) -> ChatClient:
        """Identify (``name=`` or ``token=``; the welcome is kept as ``.welcome``),
        then join ``rooms``; asserts each answer is the expected one."""
        self.welcome = await self.identify(**identify)
        assert self.welcome["type"] == "welcome", self.welcome
        for room in rooms:
            joined = await self.request("join", room=room)
            assert joined["type"] == "joined", joined
        return self

    async def say(self, room: str, text: str, **fields: Any) -> dict[str, Any]:
        return await self.request("say", room=room, text=text, **fields)

    async def close(self) -> None:
        await self.ws.close()


class _Connecting:
    def __init__(self, url: str, kwargs: dict[str, Any]):
        self._url, self._kwargs = url, kwargs
        self._client: ChatClient | None = None

    def __await__(self):
        return self._open().__await__()

    async def _open(self) -> ChatClient:
        # max_queue=None: tests often leave frames unread; a bounded queue would stop
        # reading the socket and stall the close handshake.
        ws = await connect(self._url, open_timeout=TIMEOUT, max_queue=None, **self._kwargs)
        self._client = ChatClient(ws)
        return self._client

    async def __aenter__(self) -> ChatClient:
        return await self._open()

    async def __aexit__(self, *exc: Any) -> None:
        await self._client.close()
