"""One worker process of ``workers: N``: a ``Server`` accepting on the
listening socket its supervisor bound (``chatd.workers``), doing what the
supervisor asks over their link (``chatd.link``). Only the supervisor
starts it:

    python -m chatd.worker     # $CHATD_WORKER = {"listen": [fd, ...], "link": fd, "daemon": false,
                               #                  "event_loop": "auto"}

Requests are JSON objects with an ``id`` and a ``command``; each is
answered once, with the same ``id``:

    open {config, source}   open the database (with the config the supervisor validated) → {pid}
    serve                   accept connections
    status, connections     this worker's figures (and its users' ids) and its connections
    reload {config}         apply the live keys of this config; reopen the log file
    backup {path}           → {bytes}, or {error, unavailable: true} for a store chatd does not back up,
                              or {error, damaged: true} for a damaged copy (none kept)
    stop {code, seconds, graceful, answer_accepted}
                            ``Server.stop`` with these; answered as soon as this worker
                            writes nothing more ({"drained": true}), or when its stop
                            is over ({"drained": false}); it exits once the stop is over

The supervisor gone (the link ends) or SIGTERM: stop with 1001 within
``stop_timeout``. SIGINT, SIGHUP and SIGUSR2 are the supervisor's to act
on (Ctrl-C in a terminal reaches the whole process group, and the
supervisor then stops its workers), so a worker ignores them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chatd import heap, logs
from chatd.cluster.membership import ClusterMismatch
from chatd.config import config_from_values
from chatd.control import dispatch
from chatd.daemon import watchdog
from chatd.link import Link
from chatd.loops import run
from chatd.protocol.codes import CloseCode
from chatd.server import Server, log_start_failure
from chatd.status import ExitStatus
from chatd.store import DatabaseRefused, StoreUnavailable

log = logging.getLogger("chatd")
WORKER_VAR = "CHATD_WORKER"  # env var naming the descriptors a worker inherits
ANSWER_GRACE = 1.0  # seconds a stopped worker still gives answers under way to reach the supervisor
STOP_UNOPENED = 1.0  # seconds a worker that never opened its database takes to stop: nothing to close


@dataclass
class WorkerStart:
    """What a worker inherits from its supervisor, passed in $CHATD_WORKER."""

    listen: list[int]
    link: int
    daemon: bool  # the supervisor is a daemon: log to the logfile
    event_loop: str = "auto"  # the config's: the loop runs before the worker is given its config

    def encode(self) -> str:
        return json.dumps(asdict(self))

    def fds(self) -> list[int]:
        return [*self.listen, self.link]

    @classmethod
    def from_env(cls, env: dict[str, str]) -> WorkerStart:
        return cls(**json.loads(env[WORKER_VAR]))


class Worker:
    """The worker's side of the link: a Server and the requests that drive it."""

    def __init__(self, link: Link, listening: list[socket.socket], daemon: bool):
        self.link = link
        self.listening = listening
        self.daemon = daemon
        self.server: Server | None = None
        self.state = "starting"
        self._drained = asyncio.Event()  # this worker writes nothing more
        self._stopping: asyncio.Task | None = None
        self._done: asyncio.Future[int] = asyncio.get_running_loop().create_future()  # → exit status
        self._answering: set[asyncio.Task] = set()
        self._handlers = {"open": self._open, "serve": self._serve, "status": self._status,
                          "connections": self._connections, "reload": self._reload, "backup": self._backup,
                          "stop": self._stop_request, "user_deleted": self._user_deleted}

    async def run(self) -> int:
        """Answer the supervisor until stopped; → the exit status."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop_default)
        reading = asyncio.ensure_future(self._read())
        status = await self._done
        reading.cancel()
        if self._answering:  # the answer to `stop` may still be on its way out
            await asyncio.wait(self._answering, timeout=ANSWER_GRACE)
        await self.link.close()
        return status

    async def _read(self) -> None:
        while (request := await self.link.receive()) is not None:
            task = asyncio.ensure_future(self._answer(request))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)
        self._stop_default()  # the supervisor is gone: nobody else will stop this worker

    async def _answer(self, request: dict[str, Any]) -> None:
        reply = await dispatch(self._handlers, request)
        self.link.send({"id": request.get("id"), **reply})

    def _finish(self, status: int) -> None:
        if not self._done.done():
            self._done.set_result(status)

    async def _open(self, request: dict[str, Any]) -> dict[str, Any]:
        source = request.get("source")
        config = config_from_values(request["config"], Path(source) if source else None)
        logs.setup(config.log_level, config.logfile if self.daemon else None)
        self.server = Server(config)
        try:
            await self.server.open()
        except Exception as e:
            log_start_failure(e, stopping=self._stopping is not None)
            self.server = None
            self._finish(ExitStatus.ERROR)
            return {"ok": False, "error": str(e), "mismatch": isinstance(e, ClusterMismatch)}
        return {"ok": True, "pid": os.getpid()}

    async def _serve(self, _: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None, "open first"
        if self.state == "starting":
            self.server.serve(self.listening)
            self.state = "serving"
            heap.settle()  # start-up's objects out of the collector's walks (chatd.heap)
        return {"ok": True, "address": self.server.address}

    async def _status(self, _: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None, "open first"
        stats = await self.server.stats()
        # Which users, not only how many: one user may be on several workers.
        users = sorted({row["user"]["id"] for row in self.server.connections() if row["user"]})
        return {"ok": True, **stats, "state": self.state, "user_ids": users}

    async def _connections(self, _: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None, "open first"
        return {"ok": True, "connections": self.server.connections()}

    async def _reload(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None, "open first"
        logs.reopen()
        applied, _ = self.server.reload(config_from_values(request["config"], self.server.config.source))
        logs.set_level(self.server.config.log_level)
        return {"ok": True, "applied": applied}

    async def _user_deleted(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None, "open first"
        return {"ok": True, "tombstones": await self.server.user_deleted(int(request["user"]))}

    async def _backup(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None, "open first"
        try:
            size = await self.server.backup(request["path"])
        except StoreUnavailable as e:  # not an error of this worker's: the supervisor says why
            return {"ok": False, "error": str(e), "unavailable": True}
        except DatabaseRefused as e:  # its copy is damaged: the supervisor says so
            return {"ok": False, "error": str(e), "damaged": True}
        return {"ok": True, "bytes": size}

    async def _stop_request(self, request: dict[str, Any]) -> dict[str, Any]:
        stopping = self._begin_stop(request.get("code", CloseCode.GOING_AWAY), float(request["seconds"]),
                                    graceful=bool(request.get("graceful")),
                                    answer_accepted=bool(request.get("answer_accepted")))
        drained = asyncio.ensure_future(self._drained.wait())
        await asyncio.wait([stopping, drained], return_when=asyncio.FIRST_COMPLETED)
        drained.cancel()
        return {"ok": True, "drained": self._drained.is_set()}

    def _stop_default(self) -> None:
        """Stop as `chatd stop` would: SIGTERM, or the supervisor gone."""
        self._begin_stop(CloseCode.GOING_AWAY, self.server.config.stop_timeout if self.server else STOP_UNOPENED)

    def _begin_stop(self, code: int, timeout: float, *, graceful: bool = False,
                    answer_accepted: bool = False) -> asyncio.Task:
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(code, timeout, graceful, answer_accepted))
        return self._stopping

    async def _stop(self, code: int, timeout: float, graceful: bool, answer_accepted: bool) -> None:
        self.state = "stopping"
        timer = watchdog(timeout)
        if self.server is not None:
            await self.server.stop(code, timeout, graceful=graceful, answer_accepted=answer_accepted,
                                   on_drained=self._drained.set)
        else:
            self._drained.set()  # never opened the database: never wrote
        timer.cancel()
        self._finish(ExitStatus.OK)


async def _run(start: WorkerStart) -> int:
    listening = [socket.socket(fileno=fd) for fd in start.listen]
    link = await Link.open(socket.socket(fileno=start.link))
    return await Worker(link, listening, start.daemon).run()


def main(env: dict[str, str]) -> int:
    """The worker process, from ``python -m chatd.worker``; → its exit status."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    start = WorkerStart.from_env(env)
    return run(_run(start), start.event_loop)


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
