"""One running chatd process: the server, its control socket, its signals,
and what they ask for — status, connections, backup, reload, a
zero-downtime restart (the handover to a successor) and a bounded stop.

    service = Service(config, env, stdout, daemon=False, listening=sockets,
                      control=control_socket, pidfile=pidfile)
    status = service.main()                  # serves until stopped or replaced

Signals: SIGTERM/SIGINT stop, SIGHUP reloads, SIGUSR2 restarts. The
control socket asks the same things (``chatd.commands`` is the client).
``chatd.lifecycle`` prepares what a Service is given.

With ``workers: 1`` (the default) the Service runs a ``chatd.server.Server``
in its own process, as it always has. With more, it runs a
``chatd.workers.WorkerSet`` instead — N worker processes on its listening
socket — and is their supervisor; everything below holds for the set as a
whole, through the same few calls (open, serve, stats, connections, reload,
backup, stop).

Restart: the successor (``python -m chatd start`` with $CHATD_HANDOVER)
opens the database and says "ready"; this process stops accepting — the
kernel queues new connections on the shared socket — closes its
WebSockets with 1012, commits its last messages, says "go", answers the
clients it had accepted already (a WebSocket handshake under way gets its
101, then 1012) and exits; the successor accepts from "go". No connection
is refused, and no two processes ever write at once: "go" waits for the
writer thread to end, and if it never does, the successor starts only once
this process has exited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable
from typing import Any, TextIO, TypeVar

from chatd import __version__, heap, logs
from chatd.cluster.membership import ClusterMismatch
from chatd.config import DEFAULTS, Config, ConfigError, load_config
from chatd.control import ControlServer
from chatd.daemon import (
    HANDOVER_VAR,
    READY_TIMEOUT,
    Channel,
    Handover,
    PidFile,
    monotonic_usec,
    sd_notify,
    watchdog,
)
from chatd.dblock import DatabaseLock
from chatd.dsn import redacted
from chatd.loops import loop_name, run
from chatd.protocol.codes import CloseCode
from chatd.server import START_REFUSALS, Server, log_start_failure
from chatd.status import ExitStatus
from chatd.store import DatabaseRefused, StoreUnavailable
from chatd.store.health import database_refusal
from chatd.workers import WorkerSet

log = logging.getLogger("chatd")
T = TypeVar("T")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def _settled(result: T | Awaitable[T]) -> T:
    """A Server answers serve, connections and reload at once; a WorkerSet
    asks its workers first, so it gives something to await."""
    return await result if isinstance(result, Awaitable) else result


def refuse(channel: Channel | None, status: int, message: str, stderr: TextIO) -> int:
    """Report a failed start on standard error and to whoever waits for it."""
    print(f"chatd: {message}", file=stderr, flush=True)
    if channel:
        channel.send({"error": message, "status": int(status)})
    return status


def log_target(config: Config, daemon: bool) -> str:
    if not daemon:
        return "standard error"
    return config.logfile or "nowhere (logfile is empty)"


def banner(address: str, config: Config, pid: int, daemon: bool) -> str:
    workers = f"  workers {config.workers}" if config.workers > 1 else ""
    return (f"chatd {__version__} on http://{address}/  database {redacted(config.database)}  pid {pid}{workers}"
            f"  log {log_target(config, daemon)}")


class Service:
    """One running chatd process: the server, its control socket and signals."""

    def __init__(self, config: Config, env: dict[str, str], stdout: TextIO, *, daemon: bool,
                 listening: list[socket.socket], control: socket.socket, pidfile: PidFile,
                 dblock: DatabaseLock | None = None, kept: dict[str, dict[str, str]] | None = None,
                 overrides: dict[str, Any] | None = None, log_made: bool = False):
        """``log_made``: this start made the log file (``chatd.lifecycle``): a start-up that fails
        for a reason the terminal is told removes it again (``_abandon``)."""
        self.config = config
        self.log_made = log_made
        self.overrides = overrides or {}  # keys the command line set (`start --workers N`): kept on reload, restart
        self.env = env
        self.stdout = stdout
        self.daemon = daemon
        self.listening = listening
        self.control_sock = control
        self.control_path = control.getsockname()
        self.pidfile = pidfile
        self.dblock = dblock  # held for as long as this process (or its successor) serves: chatd.dblock
        self.kept = kept or {}  # a restart successor: the keys it could not apply (chatd.lifecycle._inherit)
        self.server = WorkerSet(config, listening, env, daemon) if config.workers > 1 else Server(config)
        self.control: ControlServer | None = None
        self.state = "starting"
        self._done: asyncio.Future | None = None  # → ("stop" | "restart", parameters)
        self._successor: Channel | None = None
        self._spawned: subprocess.Popen | None = None  # a successor not yet handed over to
        self._tasks: set[asyncio.Task] = set()

    def main(self, parent: Channel | None = None, successor: Channel | None = None) -> int:
        """Serve until stopped; ``parent`` is told when serving (``start -d``),
        ``successor`` is the handover channel to the process being replaced."""
        return run(self._run(parent, successor), self.config.event_loop)

    async def _run(self, parent: Channel | None, successor: Channel | None) -> int:
        loop = asyncio.get_running_loop()
        log.info("event loop: %s (event_loop: %s)", loop_name(), self.config.event_loop)
        self._done = loop.create_future()
        # SIGTERM or SIGINT while the server opens (`chatd stop` finds the pid a -d child wrote
        # as it forked) calls the start off at its next wait, and the start cleans up after itself.
        opening = asyncio.ensure_future(self.server.open())
        # Noted apart from the cancellation: a library may end the cancelled wait with an error of
        # its own (redis-py's "Timeout reading from …"), and the start was still called off.
        stop_asked = asyncio.Event()

        def call_off() -> None:
            stop_asked.set()
            opening.cancel()

        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, call_off)
        try:
            await opening
        except (Exception, asyncio.CancelledError) as e:
            if not opening.cancelled() and not isinstance(e, Exception):
                raise  # this coroutine's own cancellation
            log_start_failure(e, stopping=stop_asked.is_set())
            if not successor:  # (a successor's files are those of the process it was to replace)
                # A bug's traceback is in the log alone: a log this start made is kept for it.
                self._abandon(keep_log=not (stop_asked.is_set() or isinstance(e, START_REFUSALS)))
            if stop_asked.is_set():  # what was asked for: not a failure of this process
                refuse(parent or successor, ExitStatus.ERROR, "stopped by a signal while starting", sys.stderr)
                return ExitStatus.OK
            # A node unlike its cluster (chatd.cluster.membership) is misconfigured, like a bad chatd.yaml.
            status = ExitStatus.CONFIG if isinstance(e, ClusterMismatch) else ExitStatus.ERROR
            return refuse(parent or successor, status, f"cannot start: {e}", sys.stderr)
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
        if successor:
            await self._await_go(successor)
            await self.server.handed_over()
        await _settled(self.server.serve(self.listening))
        self.pidfile.write(os.getpid())  # (a restart's successor: only now; a -d child wrote it as it forked)
        self.control = await ControlServer.start(self.control_sock, self._handlers())
        for sig, action in (*((sig, self._stop_signal) for sig in STOP_SIGNALS),
                            (signal.SIGHUP, self._reload_signal), (signal.SIGUSR2, self._restart_signal)):
            loop.add_signal_handler(sig, action)
        self.state = "serving"
        heap.settle()  # start-up's objects out of the collector's walks (chatd.heap)
        sd_notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=serving on {self.server.address}", self.env)
        print(banner(self.server.address, self.config, os.getpid(), self.daemon), file=self.stdout, flush=True)
        if parent:
            parent.send({"ready": os.getpid(), "listen": self.server.address})
            parent.close()
        kind, params = await self._done
        return await (self._hand_over() if kind == "restart" else self._stop(**params))

    def _abandon(self, keep_log: bool = False) -> None:
        """A start that failed leaves the disk as it found it (docs/operations.md, "Starting"):
        no control socket, no pid in the pidfile nor in the database's lock, no database if this
        start made it (chatd.daemon.PidFile.abandon, chatd.dblock.DatabaseLock.abandon), and no
        log file if it made it, unless ``keep_log`` (what it holds is told nowhere else)."""
        self.control_sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.control_path)  # ours: bound by this start, which ends here
        if self.log_made and not keep_log:
            with contextlib.suppress(OSError):
                os.unlink(self.config.logfile)
        if self.dblock:
            self.dblock.abandon()
        self.pidfile.abandon()

    async def _await_go(self, channel: Channel) -> None:
        channel.send({"ready": os.getpid(), "kept": self.kept})
        try:
            await channel.arecv(READY_TIMEOUT)  # "go", or EOF if the old process died
        except TimeoutError:
            log.warning("the old process did not hand over within %g s; serving anyway", READY_TIMEOUT)
        channel.close()

    def _handlers(self) -> dict[str, Any]:
        async def reload(_: dict) -> dict:
            return await self.reload()

        return {"status": self._status, "connections": self._connections, "reload": reload,
                "restart": self._restart, "stop": self._stop_request, "backup": self._backup,
                "user_deleted": self._user_deleted}

    def _finish(self, kind: str, **params: Any) -> None:
        if self._done and not self._done.done():
            self._done.set_result((kind, params))

    # Control commands

    async def _status(self, _: dict) -> dict:
        stats = await self.server.stats()
        return {"ok": True, "running": True, "state": self.state, **stats,
                "config": str(self.config.source or DEFAULTS),
                "logfile": log_target(self.config, self.daemon),
                "control_socket": self.control_path}

    async def _connections(self, _: dict) -> dict:
        return {"ok": True, "connections": await _settled(self.server.connections())}

    async def _user_deleted(self, request: dict) -> dict:
        """``chatd user delete`` erased a user in the database: the server does the rest (its
        sessions end, its messages become tombstones, every open page told, on every node);
        → ``tombstones``: how many, or null when they take longer (``Server.user_deleted``)."""
        user_id = request.get("user")
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            return {"ok": False, "error": "user_deleted wants a user id"}
        return {"ok": True, "tombstones": await self.server.user_deleted(user_id)}

    async def _backup(self, request: dict) -> dict:
        path = request.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            return {"ok": False, "error": "backup wants an absolute path"}
        if self.state == "stopping":  # its store closes under it: once stopped, `chatd backup` reads the file
            return {"ok": False, "error": f"pid {os.getpid()} is stopping: run the backup again once it has stopped"}
        try:
            size = await self.server.backup(path)
        except (OSError, sqlite3.Error) as e:  # the operator's path: not a bug in chatd
            log.warning("backup to %s failed: %s", path, e)
            return {"ok": False, "error": f"cannot write {path}: {e}"}
        except StoreUnavailable as e:  # this kind of store is not backed up by chatd (PostgreSQL: pg_dump)
            log.warning("backup to %s refused: %s", path, e)
            return {"ok": False, "error": str(e)}
        except DatabaseRefused as e:  # its copy is damaged: said as the offline backup says it
            log.error("backup to %s refused: %s", path, e)
            return {"ok": False, "error": database_refusal(self.config.database, e)}
        log.info("backed up the database to %s (%d bytes)", path, size)
        return {"ok": True, "path": path, "bytes": size}

    async def _stop_request(self, request: dict) -> dict:
        timeout = request.get("seconds")
        if timeout is None:
            timeout = self.config.stop_timeout
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            return {"ok": False, "error": f"bad timeout {timeout!r}"}
        self._finish("stop", graceful=bool(request.get("graceful")), timeout=float(timeout))
        return {"ok": True, "pid": os.getpid(), "timeout": timeout}

    def _stop_signal(self) -> None:
        self._finish("stop", graceful=False, timeout=float(self.config.stop_timeout))

    def _reload_signal(self) -> None:
        self._spawn(self.reload())

    async def reload(self) -> dict:
        """Re-read the config file and apply what can change live (SIGHUP);
        with workers, in every one of them. An invalid file changes nothing."""
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec()}", self.env)
        try:
            reopened = logs.reopen()  # first, so what follows lands in the new file
            source = str(self.config.source or DEFAULTS)
            try:
                new = load_config(self.config.source, self.overrides)
            except ConfigError as e:
                log.error("reload refused, the running configuration stays:\n%s", e)
                return {"ok": False, "status": int(ExitStatus.CONFIG), "error": str(e), "source": source}
            applied, later = await _settled(self.server.reload(new))
            self.config = self.server.config
            logs.set_level(self.config.log_level)
            log.info("reloaded %s: %s", source, ", ".join(applied) if applied else "no live changes")
            if later:
                log.warning("changed keys that take a restart to apply: %s", ", ".join(later))
            return {"ok": True, "source": source, "applied": applied, "need_restart": later,
                    "log_reopened": reopened}
        finally:
            sd_notify("READY=1", self.env)

    # Restart

    def _restart_signal(self) -> None:
        self._spawn(self._restart({}))

    def _spawn(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background (for a signal), holding on to it until done."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, _: dict) -> dict:
        if self.state != "serving":
            log.warning("restart refused: the server is %s", self.state)
            return {"ok": False, "error": f"cannot restart while {self.state}"}
        self.state = "restarting"
        ours, theirs = Channel.pair()
        handover = Handover(listen=[s.fileno() for s in self.listening], control=self.control_sock.fileno(),
                            pidfile=self.pidfile.fd, channel=theirs.fileno(), daemon=self.daemon,
                            dblock=self.dblock.fd if self.dblock and self.dblock.fd is not None else -1)
        # -P: not the working directory first on the import path (a folder named chatd there would be imported)
        argv = [sys.executable, "-P", "-m", "chatd", "start"]
        if self.config.source:
            argv += ["-c", str(self.config.source)]
        if "workers" in self.overrides:
            argv += ["--workers", str(self.overrides["workers"])]
        log.info("restarting: starting a new process")
        try:
            proc = subprocess.Popen(argv, env={**self.env, HANDOVER_VAR: handover.encode()},
                                    pass_fds=handover.fds(), stdin=subprocess.DEVNULL)
        except OSError as e:
            self.state = "serving"
            return {"ok": False, "error": f"cannot start a new process: {e}"}
        finally:
            theirs.close()
        self._spawned = proc
        try:
            reply = await ours.arecv(READY_TIMEOUT)
        except TimeoutError:
            reply = {"error": f"the new process was not ready within {READY_TIMEOUT:g} s"}
        stopping = self.state != "restarting"  # a stop came meanwhile: _stop killed the successor
        if stopping:
            reply = {"error": f"pid {os.getpid()} began to stop meanwhile; nothing was restarted"}
        if not reply or "ready" not in reply:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await asyncio.get_running_loop().run_in_executor(None, proc.wait)
            ours.close()
            self._spawned = None
            if self.state == "restarting":
                self.state = "serving"
            error = (reply or {}).get("error") or f"the new process exited with status {code} before it was ready"
            if stopping:  # what the operator asked for last: not a failure of the server's
                log.info("restart abandoned: %s", error)
            else:
                log.error("restart failed, still serving: %s", error)
            return {"ok": False, "status": (reply or {}).get("status", int(ExitStatus.ERROR)), "error": error,
                    "stopping": stopping}
        sd_notify(f"MAINPID={proc.pid}", self.env)
        self._successor, self._spawned = ours, None
        self._finish("restart")
        return {"ok": True, "pid": proc.pid, "old_pid": os.getpid(), "kept": reply.get("kept", {})}

    async def _hand_over(self) -> int:
        assert self._successor is not None
        channel = self._successor
        timeout = self.config.stop_timeout
        timer = watchdog(timeout)
        if self.control:
            # The successor answers from now on (the socket is shared); a request this process
            # accepted but had not read yet is refused (ControlServer.close), never handled here.
            await self.control.close(why="handing over to its successor (chatd restart)")
        went: list[bool] = []

        def go() -> None:
            channel.send({"go": True})
            went.append(True)
            # The successor holds the pidfile's and the database's locks on the same open files:
            # our copies go, or a stop of the successor would find the pidfile still locked (pid 0)
            # by this process, draining its clients for up to stop_timeout. Closing a descriptor of
            # the database drops this process's fcntl locks on it (SQLite's): harmless now, as its
            # writer has ended, and the successor's flock keeps every other chatd out.
            self.pidfile.close()
            if self.dblock:
                self.dblock.close()

        await self.server.stop(CloseCode.SERVICE_RESTART, timeout, answer_accepted=True, on_drained=go)
        if went:
            channel.close()
        else:
            # Our writer may still commit, and two writers must never overlap: the
            # channel's descriptor stays open until the kernel closes it as this
            # process ends, and only then does the successor see EOF and serve.
            channel.sock.detach()
            log.error("the successor serves once this process has exited")
        log.info("handed over; exiting")  # the pidfile and control socket now belong to the successor
        timer.cancel()
        return ExitStatus.OK

    # Stop

    async def _stop(self, graceful: bool, timeout: float) -> int:
        self.state = "stopping"
        sd_notify("STOPPING=1", self.env)
        log.info("stopping%s (timeout %g s)", " gracefully" if graceful else "", timeout)
        timer = watchdog(timeout)
        if self._spawned:  # a restart under way: its successor must not outlive us
            with contextlib.suppress(ProcessLookupError):
                self._spawned.kill()
        await self.server.stop(CloseCode.GOING_AWAY, timeout, graceful=graceful)
        if self.control:
            await self.control.close()
        with contextlib.suppress(OSError):
            os.unlink(self.control_path)  # still ours: we hold the pidfile lock until exit
        self.pidfile.clear()
        timer.cancel()
        return ExitStatus.OK
