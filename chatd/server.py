"""One chatd server: store, hub, chat logic and the HTTP listener, with a
start and a stop.

    server = Server(config)
    await server.start()                 # binds config.listen (or takes sockets)
    ...
    await server.stop(CloseCode.GOING_AWAY, timeout=10)

The CLI and the daemon code drive this; tests run it in-process on a free
port, or as a real process through the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from chatd import __version__
from chatd.chat import Chat
from chatd.config import Config, parse_listen
from chatd.hub import Hub
from chatd.protocol import CloseCode
from chatd.store import Store
from chatd.tokens import TokenSigner
from chatd.web import make_app

log = logging.getLogger("chatd")
DAY = 86400


def bind(config: Config) -> list[socket.socket]:
    """The listening sockets for ``config.listen``; OSError if the port is taken."""
    host, port = parse_listen(config.listen)
    return bind_sockets(port, host, reuse_port=False)


class Server:
    def __init__(self, config: Config):
        self.config = config
        self.hub = Hub()
        self.store = Store(config.database, config.store.synchronous, config.store.batch_max)
        self.sockets: set = set()  # open ChatSockets, closed by hand on stop
        self.chat: Chat | None = None
        self.http: HTTPServer | None = None
        self.started_at = time.time()
        self.listening: list[socket.socket] = []

    @property
    def port(self) -> int:
        return self.listening[0].getsockname()[1]

    async def start(self, sockets: list[socket.socket] | None = None) -> None:
        """Open the database and serve on ``sockets`` (bound from config if None)."""
        self.store.open(asyncio.get_running_loop())
        secret = self.config.identity.secret.encode() or self.store.secret()
        tokens = TokenSigner(secret, self.config.identity.token_ttl_days * DAY)
        self.chat = Chat(self.config, self.hub, self.store, tokens)
        self.load_rooms()
        self.listening = sockets if sockets is not None else bind(self.config)
        self.http = HTTPServer(make_app(self.chat, self.sockets, self.config))
        self.http.add_sockets(self.listening)
        log.info("chatd %s serving on %s, database %s", __version__, self.config.listen, self.config.database)

    def load_rooms(self) -> None:
        """Create the configured default rooms and put every stored room in the hub."""
        self.store.ensure_rooms(self.config.rooms.default)
        for room_id, name, topic in self.store.rooms():
            self.hub.add_room(room_id, name, topic)

    async def stop(self, close_code: int = CloseCode.GOING_AWAY, timeout: float = 10.0) -> None:
        """Stop accepting, close every WebSocket with ``close_code``, commit what
        is queued, close the database. Returns within about ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if self.http:
            self.http.stop()
        reason = "server restarting" if close_code == CloseCode.SERVICE_RESTART else "server stopping"
        for sock in list(self.sockets):
            sock.close(close_code, reason)
        while self.sockets and time.monotonic() < deadline - 1:
            await asyncio.sleep(0.05)  # polling a set is simplest; it empties within a round trip
        for sock in list(self.sockets):
            sock.abort()  # clients that never answered the close
        if self.http:
            await asyncio.wait_for(self.http.close_all_connections(), max(0.1, deadline - time.monotonic()))
        self.store.close(max(0.1, deadline - time.monotonic()))
        log.info("chatd stopped")
