"""One worker process as its supervisor (``chatd.workers``) sees it:
starting it, asking it things over its link, and its end.

    child = await Child.spawn(1, listening, env, False, "auto")   # python -m chatd.worker
    reply = await child.request("status", timeout=10)            # WorkerGone once it has ended
    child.kill()
    code = await child.exited                                    # its exit status (-9: SIGKILL)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import subprocess
import sys
import time
from typing import Any

from chatd.link import Link
from chatd.worker import WORKER_VAR, WorkerStart

log = logging.getLogger("chatd")
ANSWER_TIMEOUT = 5.0  # seconds a serving worker may take to answer status, connections or reload: within
# the 10 s `chatd status` waits, so that a worker that hangs shows as "not answering"


class WorkerGone(Exception):
    """The worker ended before it answered."""


class Child:
    """A worker process and its link."""

    def __init__(self, number: int, proc: asyncio.subprocess.Process, link: Link):
        self.number = number  # its place in the set, from 1
        self.proc = proc
        self.pid = proc.pid
        self.link = link
        self.started_at = time.monotonic()
        self.state = "starting"  # → serving (the set sets it)
        self.config: Any = None  # the config it runs with (the set's, at open or at its last reload)
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._gone = False
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def spawn(cls, number: int, listening: list[socket.socket], env: dict[str, str], daemon: bool,
                    event_loop: str) -> Child:
        """Start ``python -m chatd.worker`` with the listening sockets and one end
        of a new link, on the event loop the config names (``chatd.loops``); OSError if it cannot be started."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        start = WorkerStart(listen=[s.fileno() for s in listening], link=theirs.fileno(), daemon=daemon,
                            event_loop=event_loop)
        try:
            # -P: not the working directory first on the import path (a folder named chatd there would be imported)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-P", "-m", "chatd.worker", env={**env, WORKER_VAR: start.encode()},
                pass_fds=start.fds(), stdin=subprocess.DEVNULL)
            try:
                link = await Link.open(ours)
            except BaseException:  # cancelled (a stop): a worker nobody can ask must not stay
                proc.kill()
                raise
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker has its copy
        return cls(number, proc, link)

    async def request(self, command: str, timeout: float = ANSWER_TIMEOUT, **args: Any) -> dict[str, Any]:
        """Ask the worker; → its answer. WorkerGone if it ends first,
        TimeoutError if it does not answer within ``timeout`` seconds."""
        if self._gone:
            raise WorkerGone(f"worker {self.number} (pid {self.pid}) has ended")
        key = next(self._ids)
        answer = self._pending[key] = asyncio.get_running_loop().create_future()
        self.link.send({"id": key, "command": command, **args})
        try:
            async with asyncio.timeout(timeout):
                return await answer
        finally:
            self._pending.pop(key, None)

    async def _read(self) -> None:
        try:
            while (message := await self.link.receive()) is not None:
                answer = self._pending.get(message.pop("id", None))
                if answer is not None and not answer.done():
                    answer.set_result(message)
        except ValueError as e:  # not JSON, or a line past the limit: a worker that lost its way
            log.error("worker %d (pid %d) said something unreadable (%s); killing it", self.number, self.pid, e)
            self.kill()
        self._gone = True
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(WorkerGone(f"worker {self.number} (pid {self.pid}) ended"))
        await self.link.close()
        self.exited.set_result(await self.proc.wait())

    def kill(self) -> None:
        """SIGKILL, if it still runs (``exited`` tells when it has gone)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                self.proc.kill()
