"""Running chatd as a service: start (foreground, daemon, or as the successor
of a restart), signals, reload, zero-downtime restart and stop.

    status = start("/etc/chatd/chatd.yaml", daemon=True, env=dict(os.environ),
                   stdout=sys.stdout, stderr=sys.stderr)

Everything that can fail — config, pidfile, port, control socket, log file —
is done before forking, so errors reach the terminal; the parent returns only
once the daemon reports that it serves. Signals: SIGTERM/SIGINT stop,
SIGHUP reloads, SIGUSR2 restarts. The control socket asks the same things.

A restart spawns ``python -m chatd start`` with the listening sockets, the
control socket and the locked pidfile as inherited descriptors
(``$CHATD_HANDOVER``). The successor opens the database and says "ready";
the old process stops accepting (the kernel queues new connections on the
shared socket), closes its WebSockets with 1012, commits its last messages,
says "go" and exits; the successor then accepts. No connection is refused
and no two processes ever serve clients at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any, TextIO

from chatd import __version__, logs
from chatd.cli import ExitStatus
from chatd.config import Config, ConfigError, load_config, parse_listen
from chatd.control import ControlServer, bind_control
from chatd.daemon import (
    HANDOVER_VAR,
    READY_TIMEOUT,
    AlreadyRunning,
    Channel,
    Handover,
    PidFile,
    fork_daemon,
    monotonic_usec,
    sd_notify,
)
from chatd.protocol import CloseCode
from chatd.server import Server, bind

log = logging.getLogger("chatd")
KILL_MARGIN = 1.0  # a stop this far past its timeout ends the process regardless


def start(config_path: str | None, daemon: bool, env: dict[str, str], stdout: TextIO, stderr: TextIO) -> int:
    """``chatd start``; returns the exit status."""
    handover = Handover.from_env(env)
    channel = Channel(socket.socket(fileno=handover.channel)) if handover else None
    try:
        config = load_config(config_path)
    except ConfigError as e:
        return _refuse(channel, ExitStatus.CONFIG, f"invalid configuration:\n{e}", stderr)
    if handover:
        env = {k: v for k, v in env.items() if k != HANDOVER_VAR}
        logs.setup(config.log_level, config.logfile if handover.daemon else None)
        service = Service(config, env, stdout, daemon=handover.daemon, **_inherit(config, handover))
        return service.main(successor=channel)
    if daemon and env.get("NOTIFY_SOCKET"):
        daemon = False  # systemd supervises this process itself; forking would lose it
    pidfile = PidFile(config.pidfile)
    try:
        pidfile.acquire()
    except AlreadyRunning as e:
        print(f"chatd: already running (pid {e.pid})", file=stderr)
        return ExitStatus.ALREADY_RUNNING
    except OSError as e:
        return _refuse(None, ExitStatus.ERROR, f"cannot lock pidfile {config.pidfile}: {e.strerror or e}", stderr)
    with contextlib.ExitStack() as undo:  # a step that fails closes what the earlier ones opened
        undo.callback(pidfile.close)
        try:
            listening = bind(config)
        except OSError as e:
            return _refuse(None, ExitStatus.ERROR, f"cannot listen on {config.listen}: {e.strerror or e}", stderr)
        for sock in listening:
            undo.callback(sock.close)
        try:
            control = bind_control(config.control_socket)
        except OSError as e:
            return _refuse(None, ExitStatus.ERROR,
                           f"cannot create control socket {config.control_socket}: {e.strerror or e}", stderr)
        undo.callback(control.close)
        try:
            if daemon and config.logfile:
                open(config.logfile, "a").close()  # fail here, on the terminal, not in the child
        except OSError as e:
            return _refuse(None, ExitStatus.ERROR, f"cannot open log file {config.logfile}: {e.strerror}", stderr)
        undo.pop_all()
    if daemon:
        is_parent, channel = fork_daemon()
        if is_parent:
            for sock in (*listening, control):
                sock.close()  # the child has them; the pidfile lock stays with the child too
            pidfile.close()
            return _await_daemon(channel, config, stdout, stderr)
        logs.setup(config.log_level, config.logfile)
    else:
        logs.setup(config.log_level)
    service = Service(config, env, stdout, daemon=daemon, listening=listening, control=control, pidfile=pidfile)
    return service.main(parent=channel)


def _refuse(channel: Channel | None, status: int, message: str, stderr: TextIO) -> int:
    print(f"chatd: {message}", file=stderr, flush=True)
    if channel:
        channel.send({"error": message, "status": int(status)})
    return status


def _inherit(config: Config, handover: Handover) -> dict[str, Any]:
    listening = [socket.socket(fileno=fd) for fd in handover.listen]
    control = socket.socket(fileno=handover.control)
    for sock in (*listening, control):
        sock.set_inheritable(False)  # the next restart passes them on explicitly
    host, port = listening[0].getsockname()[:2]
    want_host, want_port = parse_listen(config.listen)
    if want_port and (want_host, want_port) != (host, port):
        log.warning("listen changed to %s: a restart keeps the inherited socket; stop and start to move", config.listen)
    return {"listening": listening, "control": control, "pidfile": PidFile(config.pidfile, fd=handover.pidfile)}


def _await_daemon(channel: Channel, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    """In the parent of ``start -d``: wait for the child to serve or fail."""
    where = config.logfile or "the log"
    try:
        reply = channel.recv(READY_TIMEOUT)
    except TimeoutError:
        reply = {"error": f"the daemon was not ready within {READY_TIMEOUT:g} s; see {where}"}
    if reply is None:
        reply = {"error": f"the daemon exited during start-up; see {where}"}
    if "error" in reply:
        print(f"chatd: {reply['error']}", file=stderr)
        return reply.get("status", ExitStatus.ERROR)
    print(banner(reply["listen"], config, reply["ready"], daemon=True), file=stdout, flush=True)
    return ExitStatus.OK


def log_target(config: Config, daemon: bool) -> str:
    if not daemon:
        return "standard error"
    return config.logfile or "nowhere (logfile is empty)"


def banner(address: str, config: Config, pid: int, daemon: bool) -> str:
    return (f"chatd {__version__} on http://{address}/  database {config.database}  pid {pid}"
            f"  log {log_target(config, daemon)}")


class Service:
    """One running chatd process: the server, its control socket and signals."""

    def __init__(self, config: Config, env: dict[str, str], stdout: TextIO, *, daemon: bool,
                 listening: list[socket.socket], control: socket.socket, pidfile: PidFile):
        self.config = config
        self.env = env
        self.stdout = stdout
        self.daemon = daemon
        self.listening = listening
        self.control_sock = control
        self.control_path = control.getsockname()
        self.pidfile = pidfile
        self.server = Server(config)
        self.control: ControlServer | None = None
        self.state = "starting"
        self._done: asyncio.Future | None = None  # → ("stop" | "restart", parameters)
        self._successor: Channel | None = None
        self._tasks: set[asyncio.Task] = set()

    def main(self, parent: Channel | None = None, successor: Channel | None = None) -> int:
        """Serve until stopped; ``parent`` is told when serving (``start -d``),
        ``successor`` is the handover channel to the process being replaced."""
        return asyncio.run(self._run(parent, successor))

    async def _run(self, parent: Channel | None, successor: Channel | None) -> int:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        try:
            await self.server.open()
        except Exception as e:
            log.exception("start-up failed")
            self.server.store.close(1)
            return _refuse(parent or successor, ExitStatus.ERROR, f"cannot start: {e}", sys.stderr)
        if successor:
            await self._await_go(successor)
        self.server.serve(self.listening)
        self.pidfile.write(os.getpid())
        self.control = await ControlServer.start(self.control_sock, self._handlers())
        for sig, action in ((signal.SIGTERM, self._stop_signal), (signal.SIGINT, self._stop_signal),
                            (signal.SIGHUP, self.reload), (signal.SIGUSR2, self._restart_signal)):
            loop.add_signal_handler(sig, action)
        self.state = "serving"
        sd_notify(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=serving on {self.server.address}", self.env)
        print(banner(self.server.address, self.config, os.getpid(), self.daemon), file=self.stdout, flush=True)
        if parent:
            parent.send({"ready": os.getpid(), "listen": self.server.address})
            parent.close()
        kind, params = await self._done
        return await (self._hand_over() if kind == "restart" else self._stop(**params))

    async def _await_go(self, channel: Channel) -> None:
        channel.send({"ready": os.getpid()})
        try:
            await channel.arecv(READY_TIMEOUT)  # "go", or EOF if the old process died
        except TimeoutError:
            log.warning("the old process did not hand over within %g s; serving anyway", READY_TIMEOUT)
        channel.close()

    def _handlers(self) -> dict[str, Any]:
        async def reload(_: dict) -> dict:
            return self.reload()

        return {"status": self._status, "connections": self._connections, "reload": reload,
                "restart": self._restart, "stop": self._stop_request, "backup": self._backup}

    def _finish(self, kind: str, **params: Any) -> None:
        if self._done and not self._done.done():
            self._done.set_result((kind, params))

    # Control commands

    async def _status(self, _: dict) -> dict:
        stats = await self.server.stats()
        return {"ok": True, "running": True, "state": self.state, **stats,
                "config": str(self.config.source or "built-in defaults"),
                "logfile": log_target(self.config, self.daemon),
                "control_socket": self.control_path}

    async def _connections(self, _: dict) -> dict:
        return {"ok": True, "connections": self.server.connections()}

    async def _backup(self, request: dict) -> dict:
        path = request.get("path")
        if not isinstance(path, str) or not os.path.isabs(path):
            return {"ok": False, "error": "backup wants an absolute path"}
        size = await self.server.backup(path)
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

    def reload(self) -> dict:
        """Re-read the config file and apply what can change live (SIGHUP)."""
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec()}", self.env)
        try:
            reopened = logs.reopen()  # first, so what follows lands in the new file
            source = str(self.config.source or "built-in defaults")
            try:
                new = load_config(self.config.source)
            except ConfigError as e:
                log.error("reload refused, the running configuration stays:\n%s", e)
                return {"ok": False, "status": int(ExitStatus.CONFIG), "error": str(e), "source": source}
            applied, later = self.server.reload(new)
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
        task = asyncio.ensure_future(self._restart({}))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, _: dict) -> dict:
        if self.state != "serving":
            return {"ok": False, "error": f"cannot restart while {self.state}"}
        self.state = "restarting"
        ours, theirs = Channel.pair()
        handover = Handover(listen=[s.fileno() for s in self.listening], control=self.control_sock.fileno(),
                            pidfile=self.pidfile.fd, channel=theirs.fileno(), daemon=self.daemon)
        argv = [sys.executable, "-m", "chatd", "start"]
        if self.config.source:
            argv += ["-c", str(self.config.source)]
        log.info("restarting: starting a new process")
        try:
            proc = subprocess.Popen(argv, env={**self.env, HANDOVER_VAR: handover.encode()},
                                    pass_fds=handover.fds(), stdin=subprocess.DEVNULL)
        except OSError as e:
            self.state = "serving"
            return {"ok": False, "error": f"cannot start a new process: {e}"}
        finally:
            theirs.close()
        try:
            reply = await ours.arecv(READY_TIMEOUT)
        except TimeoutError:
            reply = {"error": f"the new process was not ready within {READY_TIMEOUT:g} s"}
        if not reply or "ready" not in reply:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await asyncio.get_running_loop().run_in_executor(None, proc.wait)
            ours.close()
            self.state = "serving"
            error = (reply or {}).get("error") or f"the new process exited with status {code} before it was ready"
            log.error("restart failed, still serving: %s", error)
            return {"ok": False, "status": (reply or {}).get("status", int(ExitStatus.ERROR)), "error": error}
        sd_notify(f"MAINPID={proc.pid}", self.env)
        self._successor = ours
        self._finish("restart")
        return {"ok": True, "pid": proc.pid, "old_pid": os.getpid()}

    async def _hand_over(self) -> int:
        assert self._successor is not None
        channel = self._successor
        if self.control:
            self.control.close()  # the successor answers from now on (the socket is shared)
        await self.server.stop(CloseCode.SERVICE_RESTART, self.config.stop_timeout,
                               on_drained=lambda: channel.send({"go": True}))
        channel.close()
        log.info("handed over; exiting")  # the pidfile and control socket now belong to the successor
        return ExitStatus.OK

    # Stop

    async def _stop(self, graceful: bool, timeout: float) -> int:
        self.state = "stopping"
        sd_notify("STOPPING=1", self.env)
        log.info("stopping%s (timeout %g s)", " gracefully" if graceful else "", timeout)
        watchdog = threading.Timer(timeout + KILL_MARGIN, self._overrun)
        watchdog.daemon = True
        watchdog.start()
        await self.server.stop(CloseCode.GOING_AWAY, timeout, graceful=graceful)
        if self.control:
            self.control.close()
        with contextlib.suppress(OSError):
            os.unlink(self.control_path)  # still ours: we hold the pidfile lock until exit
        self.pidfile.clear()
        watchdog.cancel()
        return ExitStatus.OK

    def _overrun(self) -> None:
        log.error("stop overran its timeout; exiting now")
        logging.shutdown()
        os._exit(ExitStatus.ERROR)
