"""The control channel: ``chatd status``, ``connections``, ``reload``,
``restart``, ``stop`` and ``backup`` ask the running server over a Unix
socket that only its owner (and root) can open — never over the network.

    sock = bind_control("/run/chatd/chatd.sock")    # before forking; caller holds the pidfile
    control = await ControlServer.start(sock, {"status": status})   # async handlers: dict → dict
    reply = ask("/run/chatd/chatd.sock", "status")  # blocking, from the CLI
    await control.close()

One request per connection: a JSON object with ``command`` and its
arguments on one line, answered by one JSON object on one line.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import stat
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("chatd.control")

NOT_A_SOCKET = "a file that is not a socket is there; chatd does not remove it"
LISTENED = "another process listens on it (another chatd's control socket?)"
PATH_MAX = 107  # bytes of a Unix socket's path: sun_path holds 108 with its NUL (unix(7))
TOO_LONG = f"the path is longer than {PATH_MAX} bytes, the most a Unix socket's address holds"
MAX_REQUEST = 64 * 1024
SOCKET_MODE = 0o600  # owner only
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlUnavailable(Exception):
    """Nothing answers on the control socket; ``str()`` says why."""


def bind_control(path: str) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600. A socket already there (left by a
    chatd that died) is replaced; OSError for any other kind of file, which is not
    chatd's to remove."""
    if check_control(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # never world-accessible, not even between bind and chmod
    try:
        sock.bind(path)
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old_umask)
    os.chmod(path, SOCKET_MODE)
    sock.listen(16)
    return sock


def check_control(path: str) -> bool:
    """Whether ``bind_control`` may bind at ``path``: False if nothing is there, True if a
    socket left by a process that died is (to be replaced). OSError if it may not: the path
    is too long, another kind of file is there, or a process listens on it. Changes nothing:
    a start asks this before it makes any file."""
    if len(os.fsencode(path)) > PATH_MAX:
        raise OSError(errno.ENAMETOOLONG, TOO_LONG)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, NOT_A_SOCKET)
    if _answered(path):
        raise OSError(errno.EADDRINUSE, LISTENED)
    return True


def _answered(path: str) -> bool:
    """Whether a process accepts connections on the Unix socket ``path`` (one left by a
    process that died refuses them: ECONNREFUSED)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


class ControlServer:
    def __init__(self, handlers: dict[str, Handler]):
        self._handlers = handlers
        self._server: asyncio.AbstractServer | None = None
        self._answering: set[asyncio.Task] = set()
        self._closing: str | None = None  # why this process closed its control socket (see close)

    @classmethod
    async def start(cls, sock: socket.socket, handlers: dict[str, Handler]) -> ControlServer:
        self = cls(handlers)
        # Python 3.13+ would unlink the path on close, but after a restart it is the successor's.
        keep = {"cleanup_socket": False} if sys.version_info >= (3, 13) else {}
        self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST, **keep)
        return self

    @property
    def answering(self) -> int:
        """How many accepted connections are being answered (their request read or awaited)."""
        return len(self._answering)

    @property
    def closing(self) -> bool:
        return self._closing is not None

    async def close(self, timeout: float = 2.0, why: str = "stopping") -> None:
        """Stop accepting, and let the answers under way reach their askers
        (e.g. ``restart``'s, sent just before this process exits).

        A request read from now on — on a connection accepted just before, whose
        request had not arrived — is refused, not handled: its handler would act on
        a process that is going (at a restart, the successor serves: a ``stop``
        answered here would stop nothing, a ``status`` would read a server whose
        sockets are closed). The refusal is ``{"ok": false, "closing": true,
        "error": "... pid N is <why>; ask again"}``."""
        self._closing = why
        if self._server is not None:
            self._server.close()
        if self._answering:
            await asyncio.wait(self._answering, timeout=timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._answering.add(task)
        try:
            # The file mode already keeps others out; this also holds if the
            # socket's directory or mode was loosened by hand.
            uid = _peer_uid(writer.get_extra_info("socket"))
            if uid not in (os.getuid(), 0):
                reply = {"ok": False, "error": "permission denied"}
            else:
                line = await reader.readline()
                reply = self._refusal() if self._closing else await self._answer(line)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError) as e:
            log.debug("control connection failed: %s", e)
        finally:
            writer.close()
            self._answering.discard(task)

    def _refusal(self) -> dict[str, Any]:
        return {"ok": False, "closing": True,
                "error": f"not answering: pid {os.getpid()} is {self._closing}; ask again"}

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        return await dispatch(self._handlers, request)


async def dispatch(handlers: dict[str, Handler], request: Any) -> dict[str, Any]:
    """The answer of ``handlers[request["command"]]`` to ``request``; a bad
    request, an unknown command or a handler's exception is an answer with
    ``ok: false`` and the error. Also how a worker answers its supervisor
    (``chatd.worker``)."""
    try:
        command = request["command"]
        handler = handlers.get(command)
    except (TypeError, KeyError):
        return {"ok": False, "error": "bad request: want one JSON object with a command"}
    if handler is None:
        return {"ok": False, "error": f"unknown command {command!r}"}
    try:
        return await handler(request)
    except Exception as e:
        log.exception("control command %s failed", command)
        return {"ok": False, "error": f"{command} failed: {e}"}


def ask(socket_path: str, command: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    """Send one command to the server at ``socket_path`` and return its answer (a dict).
    A process letting go of the socket refuses what it reads (``ControlServer.close``): at a
    restart its successor takes the next connection on the same socket, so the command is
    sent again, within ``timeout`` seconds in all. ControlUnavailable: no answer."""
    deadline = time.monotonic() + timeout
    while True:
        reply = _ask_once(socket_path, command, max(0.1, deadline - time.monotonic()), args)
        if not reply.get("closing") or time.monotonic() >= deadline:
            return reply


def _ask_once(socket_path: str, command: str, timeout: float, args: dict[str, Any]) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(json.dumps({"command": command, **args}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        raise ControlUnavailable(f"no answer on {socket_path} within {timeout:g} s") from None
    except OSError as e:
        raise ControlUnavailable(f"cannot reach {socket_path}: {e.strerror or e}") from None
    try:
        reply = json.loads(data)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise ControlUnavailable(f"no valid answer on {socket_path}")
    return reply
