"""``workers: N`` (``chatd start --workers N``): N server processes behind
one port, and the supervisor that runs them.

    workers = WorkerSet(config, listening, env, daemon=False)
    await workers.open()             # start the workers; each opens the database
    await workers.serve(listening)   # all accept; once each says so, the set serves
    await workers.stats(); await workers.connections(); await workers.reload(new); await workers.backup(path)
    await workers.stop(CloseCode.GOING_AWAY, timeout=10)

``chatd.service.Service`` drives a WorkerSet in place of a ``Server`` when
``workers`` is above 1: the Service process is then the supervisor. It
holds the pidfile, the control socket and the listening socket, answers
the commands (asking each worker over its link, ``chatd.link``), and
restarts a worker that dies; each worker (``chatd.worker``) is a Server
of its own, accepting on the supervisor's listening socket.

**One listening socket, inherited by every worker; no SO_REUSEPORT.** All
workers accept from the same kernel queue; whichever is free takes the
next connection. With SO_REUSEPORT each worker would have a socket and a
queue of its own, the kernel picking the queue by a hash of the client's
address: the connections waiting in the queue of a worker that stops — a
restart, a crash, ``kill -9`` — are reset (Linux moves them to another
socket only with the ``net.ipv4.tcp_migrate_req`` sysctl), and a worker
that hangs keeps its share of new connections waiting forever. With one
queue, a worker that stops only stops taking from it, and ``chatd
restart`` stays the handover of one socket that a single process does
(``chatd.service``): the successor supervisor inherits the socket, starts
its N workers, each opens the database, and the old set stops accepting,
closes its WebSockets with 1012, commits, and answers what it accepted,
while the connections that arrive meanwhile wait in the queue for the new
set. The cost: the kernel wakes every idle worker for a new connection and
the first to run takes it, so under light load the spread of connections
over workers is uneven; a busy worker is slower to take, which evens it
out under load.

The workers' Prometheus figures add up to the server's (``chatd.metrics``):
the set makes a private directory for their metric files, hands it to each
as PROMETHEUS_MULTIPROC_DIR, marks a worker that exits as dead there, and
removes it when the set stops.

A worker that dies is started again; one that dies young waits longer each
time (``chatd.supervision``), so one that cannot start never spins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

from chatd import __version__, metrics
from chatd.child import Child, WorkerGone
from chatd.cluster.membership import ClusterMismatch
from chatd.config import Config, config_values, reload_split
from chatd.daemon import KILL_MARGIN, READY_TIMEOUT
from chatd.dsn import redacted
from chatd.loops import loop_name
from chatd.protocol.codes import CloseCode
from chatd.server import rss_bytes, socket_address
from chatd.store import DatabaseRefused, StoreUnavailable
from chatd.supervision import STABLE_SECONDS, combine, exit_reason, respawn_delay

log = logging.getLogger("chatd")
BACKUP_TIMEOUT = 3600.0  # as `chatd backup` waits


class WorkerSet:
    """N worker processes on one listening socket, with the interface of a
    ``chatd.server.Server`` that ``chatd.service.Service`` uses."""

    def __init__(self, config: Config, listening: list[socket.socket], env: dict[str, str], daemon: bool):
        self.config = config
        self.listening = listening
        self.env = {k: v for k, v in env.items() if k != "NOTIFY_SOCKET"}  # only the supervisor speaks to systemd
        self.metrics_dir = metrics.private_dir()  # the workers' metric files: one scrape reads them all
        self.env[metrics.MULTIPROC_ENV] = self.metrics_dir
        self.daemon = daemon
        self.started_at = time.time()
        self.state = "starting"  # → serving → stopping
        self.children: list[Child | None] = [None] * config.workers  # by slot; None: not running
        self._quick_deaths = [0] * config.workers
        self._respawns: set[asyncio.Task] = set()  # tasks starting a worker again, waiting or under way
        self._respawn_at: dict[int, float] = {}  # slot → when (time.time()) its worker starts again, while waiting

    @property
    def address(self) -> str:
        return socket_address(self.listening[0])

    # Starting

    async def open(self) -> None:
        """Start every worker and have it open the database: the first alone,
        since it may create or migrate the schema, then the others together.
        If one fails, every worker is stopped and the error rises."""
        try:
            await self._start(0)
            await asyncio.gather(*(self._start(slot) for slot in range(1, len(self.children))))
        except BaseException:
            await self._kill_all()
            metrics.remove_dir(self.metrics_dir)
            raise

    async def _start(self, slot: int) -> Child:
        """A new worker in ``slot``, its database open, not yet accepting."""
        child = await Child.spawn(slot + 1, self.listening, self.env, self.daemon, self.config.event_loop)
        self.children[slot] = child
        child.exited.add_done_callback(lambda _: self._exited(slot, child))
        try:
            reply = await child.request("open", READY_TIMEOUT, config=config_values(self.config),
                                        source=str(self.config.source) if self.config.source else None)
            if not reply.get("ok"):
                # unlike its cluster (chatd.cluster.membership): a configuration error, as in one process
                refusal = ClusterMismatch if reply.get("mismatch") else RuntimeError
                raise refusal(f"worker {slot + 1}: {reply.get('error')}")
            child.config = self.config
        except BaseException:
            child.kill()  # its exit is what starts another, if the set serves
            raise
        log.info("worker %d (pid %d) started", slot + 1, child.pid)
        return child

    async def serve(self, sockets: list[socket.socket]) -> None:
        """Have every worker accept on ``sockets`` (the listening sockets it
        inherited); returns once each has said it does."""
        self.listening = sockets
        self.state = "serving"
        await asyncio.gather(*(self._serve(slot) for slot in range(len(self.children))))
        log.info("chatd %s serving on %s with %d workers", __version__, self.address, len(self.children))

    async def _serve(self, slot: int) -> None:
        child = self.children[slot]
        if child is None:  # died before it could serve: start another
            self._respawn(slot, 0.0)
            return
        try:
            await child.request("serve")
            child.state = "serving"
        except (WorkerGone, TimeoutError) as e:
            log.error("worker %d (pid %d) did not start serving: %s", slot + 1, child.pid, e)
            child.kill()  # its exit starts another

    # A worker that ends

    def _exited(self, slot: int, child: Child) -> None:
        metrics.worker_gone(self.metrics_dir, child.pid)
        if self.children[slot] is child:
            self.children[slot] = None
        reason = exit_reason(child.exited.result())
        if self.state != "serving":
            log.info("worker %d (pid %d) %s", slot + 1, child.pid, reason)
            return
        lived = time.monotonic() - child.started_at
        if lived >= STABLE_SECONDS:
            self._quick_deaths[slot] = 0
        delay = respawn_delay(self._quick_deaths[slot])
        self._quick_deaths[slot] += 1
        log.error("worker %d (pid %d) %s after %.1f s; starting another %s", slot + 1, child.pid, reason, lived,
                  f"in {delay:g} s" if delay else "now")
        self._respawn(slot, delay)

    def _respawn(self, slot: int, delay: float) -> None:
        if slot not in self._respawn_at:  # else one already waits to start
            self._respawn_at[slot] = time.time() + delay
            task = asyncio.ensure_future(self._start_again(slot, delay))
            self._respawns.add(task)
            task.add_done_callback(self._respawns.discard)

    async def _start_again(self, slot: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            del self._respawn_at[slot]  # from here, the exit of the worker it starts is what starts another
        try:
            child = await self._start(slot)
            if child.config is not self.config:  # a reload came while it started
                await child.request("reload", config=config_values(self.config))
            await child.request("serve")
            child.state = "serving"
            log.info("worker %d (pid %d) serving", slot + 1, child.pid)
        except (RuntimeError, WorkerGone, TimeoutError) as e:
            log.error("worker %d could not start: %s", slot + 1, e)  # its exit starts another, later
        except OSError as e:  # no process at all: nothing will exit, so try again from here
            log.error("cannot start worker %d: %s", slot + 1, e)
            self._quick_deaths[slot] += 1
            self._respawn(slot, respawn_delay(self._quick_deaths[slot]))

    # What the commands ask

    def serving(self) -> list[Child]:
        return [c for c in self.children if c is not None and c.state == "serving"]

    async def stats(self) -> dict[str, Any]:
        """``Server.stats`` of the whole set, plus ``workers``: one row per worker."""
        children = self.serving()
        answers = await asyncio.gather(*(c.request("status") for c in children), return_exceptions=True)
        figures = dict(zip((c.pid for c in children), answers, strict=True))
        rows, good = [], []
        for slot, child in enumerate(self.children):
            row: dict[str, Any] = {"worker": slot + 1, "pid": child.pid if child else None,
                                   "state": child.state if child else "restarting"}
            answer = figures.get(row["pid"])
            if isinstance(answer, dict) and answer.get("ok"):
                good.append(answer)
                row.update({k: answer[k] for k in ("connections", "users_online", "rss_bytes", "uptime_seconds",
                                                   "messages_since_start", "event_loop")})
            elif child is None:
                row["restart_in_seconds"] = round(max(0.0, self._respawn_at.get(slot, 0) - time.time()), 1)
            elif child.state == "serving":
                row["state"] = "not answering"
            rows.append(row)
        own = {"version": __version__, "pid": os.getpid(), "started_at": self.started_at, "event_loop": loop_name(),
               "uptime_seconds": time.time() - self.started_at, "listen": self.address,
               "database": redacted(self.config.database), "rss_bytes": rss_bytes()}
        return {**combine(own, good), "workers": rows}

    async def connections(self) -> list[dict[str, Any]]:
        """``Server.connections`` of every worker, each row with ``worker``: its pid."""
        children = self.serving()
        answers = await asyncio.gather(*(c.request("connections") for c in children), return_exceptions=True)
        rows = [{**row, "worker": child.pid} for child, answer in zip(children, answers, strict=True)
                if isinstance(answer, dict) for row in answer.get("connections", [])]
        return sorted(rows, key=lambda r: r["connected_at"])

    async def reload(self, new: Config) -> tuple[list[str], list[str]]:
        """``Server.reload`` for every worker: (keys applied, keys changed that
        only a restart applies). ``new`` is valid (the supervisor checked it,
        once); the workers apply it one after another, since each may create
        the new ``rooms.default`` rooms in the database they share."""
        self.config, live, later = reload_split(self.config, new)
        values = config_values(self.config)
        for child in self.serving():
            try:
                reply = await child.request("reload", config=values)
            except (WorkerGone, TimeoutError) as e:  # it starts again with the new config
                reply = {"error": str(e) or "no answer"}
            if reply.get("ok"):
                child.config = self.config
            else:
                log.error("worker %d (pid %d) did not reload: %s", child.number, child.pid, reply.get("error"))
        return live, later

    async def user_deleted(self, user_id: int) -> int | None:
        """``Server.user_deleted`` by one worker: workers share a bus, and it tells the others.
        RuntimeError when none serves, or it failed: the command then makes the tombstones itself."""
        children = self.serving()
        if not children:
            raise RuntimeError("no worker is serving")
        reply = await children[0].request("user_deleted", user=user_id)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error"))
        return reply.get("tombstones")

    async def backup(self, path: str) -> int:
        """``Server.backup`` by one worker (they share the database); → bytes.
        StoreUnavailable where the store is not backed up by chatd, DatabaseRefused if the copy
        is damaged, else OSError."""
        children = self.serving()
        if not children:
            raise OSError("no worker is serving")
        reply = await children[0].request("backup", BACKUP_TIMEOUT, path=path)
        if not reply.get("ok"):
            refusal = (StoreUnavailable if reply.get("unavailable") else DatabaseRefused if reply.get("damaged")
                       else OSError)
            raise refusal(reply.get("error"))
        return reply["bytes"]

    # Stopping

    async def handed_over(self) -> None:
        """Nothing to read again after a restart's hand-over: the workers are nodes of a bus,
        told by its notices what the old ones changed (``Server.handed_over``)."""

    async def stop(self, close_code: int = CloseCode.GOING_AWAY, timeout: float = 10.0, *, graceful: bool = False,
                   answer_accepted: bool = False, on_drained: Any = None) -> None:
        """``Server.stop`` for the set: every worker stops with these; ``on_drained``
        runs once none of them writes any more. Returns once every worker has
        exited, within about ``timeout`` seconds: those still there are killed."""
        deadline = time.monotonic() + timeout
        self.state = "stopping"
        for task in self._respawns:  # waiting, or starting a worker (which its cancellation kills)
            task.cancel()
        children = [c for c in self.children if c is not None]
        starting = [c for c in children if c.state != "serving"]
        for child in starting:  # accepted nobody yet: nothing to close or answer
            child.kill()

        async def drained(child: Child) -> bool:
            try:
                reply = await child.request("stop", timeout + KILL_MARGIN, code=int(close_code), seconds=timeout,
                                            graceful=graceful, answer_accepted=answer_accepted)
            except WorkerGone:
                await child.exited  # ended: it writes nothing more
                return True
            return bool(reply.get("drained"))

        waits = [asyncio.ensure_future(drained(c)) for c in children if c not in starting]
        waits += [asyncio.ensure_future(asyncio.shield(c.exited)) for c in starting]
        done, pending = await asyncio.wait(waits, timeout=max(0.0, deadline - time.monotonic())) if waits else ((), ())
        if not pending and all(t.exception() is None and t.result() for t in done):
            if on_drained:
                on_drained()
        else:
            log.error("not every worker finished its last commits within the stop timeout (%g s)", timeout)
        await self._await_exits(deadline + KILL_MARGIN / 2)
        for task in pending:
            task.cancel()
        metrics.remove_dir(self.metrics_dir)
        log.info("chatd stopped")

    async def _await_exits(self, deadline: float) -> None:
        """Wait for every worker to exit until ``deadline`` (monotonic); kill those left."""
        children = [c for c in self.children if c is not None]
        if children:
            _, left = await asyncio.wait([asyncio.shield(c.exited) for c in children],
                                         timeout=max(0.0, deadline - time.monotonic()))
            if left:
                await self._kill_all()

    async def _kill_all(self) -> None:
        children = [c for c in self.children if c is not None]
        for child in children:
            log.warning("killing worker %d (pid %d)", child.number, child.pid)
            child.kill()
        if children:  # SIGKILL cannot be refused: this is only the kernel's time to tear them down
            await asyncio.wait([asyncio.shield(c.exited) for c in children], timeout=KILL_MARGIN / 4)
