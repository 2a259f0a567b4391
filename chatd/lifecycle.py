"""``chatd start``: everything before serving — config, pidfile, the
database's lock (``chatd.dblock``), port, control socket, log file, and
forking a daemon — or, for the successor of a restart, taking those over
from the process it replaces.

    status = start("/etc/chatd/chatd.yaml", daemon=True, env=dict(os.environ),
                   stdout=sys.stdout, stderr=sys.stderr)

Everything that can fail is done before forking, so errors reach the
terminal with a non-zero exit; the parent of ``-d`` returns only once the
daemon reports that it serves. ``chatd.service`` is what then runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any, TextIO

from chatd import logs
from chatd.config import Config, ConfigError, load_config
from chatd.control import bind_control
from chatd.daemon import HANDOVER_VAR, READY_TIMEOUT, AlreadyRunning, Channel, Handover, PidFile, fork_daemon
from chatd.dblock import STARTING, DatabaseHeld, DatabaseLock, held_message, same_file, server_record
from chatd.server import bind, socket_address
from chatd.service import Service, banner, refuse
from chatd.settings import parse_listen
from chatd.status import ExitStatus
from chatd.writable import DAEMON_WRITES, WRITTEN_AT_START, unwritable, unwritable_message

log = logging.getLogger("chatd")


def start(config_path: str | None, daemon: bool, env: dict[str, str], stdout: TextIO, stderr: TextIO,
          overrides: dict[str, Any] | None = None) -> int:
    """``chatd start``; ``overrides``: keys set on the command line (``{"workers": 4}``).
    Returns the exit status."""
    handover = Handover.from_env(env)
    channel = Channel(socket.socket(fileno=handover.channel)) if handover else None
    try:
        config = load_config(config_path, overrides)
    except ConfigError as e:
        return refuse(channel, ExitStatus.CONFIG, f"invalid configuration:\n{e}", stderr)
    if handover:
        env = {k: v for k, v in env.items() if k != HANDOVER_VAR}
        logs.setup(config.log_level, config.logfile if handover.daemon else None)
        try:
            inherited = _inherit(config, handover)
        except DatabaseHeld as e:
            return refuse(channel, ExitStatus.ALREADY_RUNNING, f"cannot restart: {held_message(e)}", stderr)
        except OSError as e:
            return refuse(channel, ExitStatus.ERROR, f"cannot lock database {config.database}: {e.strerror or e}",
                          stderr)
        service = Service(config, env, stdout, daemon=handover.daemon, overrides=overrides, **inherited)
        return service.main(successor=channel)
    if daemon and env.get("NOTIFY_SOCKET"):
        daemon = False  # systemd supervises this process itself; forking would lose it
    # First, and without making anything: the refusal check-config gives too (chatd.writable).
    problems = unwritable(config, WRITTEN_AT_START + (DAEMON_WRITES if daemon else ()))
    if problems:
        return refuse(None, ExitStatus.ERROR, unwritable_message(problems), stderr)
    pidfile = PidFile(config.pidfile)
    try:
        pidfile.acquire()
    except AlreadyRunning as e:
        print(f"chatd: already running (pid {e.pid})", file=stderr)
        return ExitStatus.ALREADY_RUNNING
    except OSError as e:
        return refuse(None, ExitStatus.ERROR, f"cannot lock pidfile {config.pidfile}: {e.strerror or e}", stderr)
    with contextlib.ExitStack() as undo:  # a step that fails closes what the earlier ones opened
        undo.callback(pidfile.close)
        undo.callback(pidfile.clear)  # first: a refused start leaves no pid of its own behind
        # Before the port and the control socket: a second server on the same database, started
        # with another pidfile, must neither serve nor take over the first one's control socket.
        dblock = DatabaseLock.for_config(config)
        if dblock:
            try:
                dblock.acquire(server_record(config, STARTING if daemon else os.getpid()))
            except DatabaseHeld as e:
                print(f"chatd: already running: {held_message(e)}", file=stderr)
                return ExitStatus.ALREADY_RUNNING
            except OSError as e:
                return refuse(None, ExitStatus.ERROR, f"cannot lock database {config.database}: {e.strerror or e}",
                              stderr)
            undo.callback(dblock.close)
        try:
            listening = bind(config)
        except OSError as e:
            return refuse(None, ExitStatus.ERROR, f"cannot listen on {config.listen}: {e.strerror or e}", stderr)
        for sock in listening:
            undo.callback(sock.close)
        try:
            control = bind_control(config.control_socket)
        except OSError as e:
            return refuse(None, ExitStatus.ERROR,
                           f"cannot create control socket {config.control_socket}: {e.strerror or e}", stderr)
        undo.callback(control.close)
        undo.callback(_unlink, config.control_socket)  # a start that fails leaves no socket behind
        try:
            if daemon and config.logfile:
                open(config.logfile, "a").close()  # fail here, on the terminal, not in the child
        except OSError as e:
            return refuse(None, ExitStatus.ERROR, f"cannot open log file {config.logfile}: {e.strerror}", stderr)
        undo.pop_all()
    if daemon:
        is_parent, channel = fork_daemon()
        if is_parent:
            for sock in (*listening, control):
                sock.close()  # the child has them; the pidfile lock stays with the child too
            pidfile.close()
            if dblock:
                dblock.close()
            return _await_daemon(channel, config, stdout, stderr)
        # The locks are this child's from here on, and its start-up may take a while (the
        # database opened, migrated): it names itself first, before anything that can wait.
        pidfile.write(os.getpid())
        if dblock:
            dblock.record(server_record(config, os.getpid()))
        logs.setup(config.log_level, config.logfile)
    else:
        logs.setup(config.log_level)
    service = Service(config, env, stdout, daemon=daemon, listening=listening, control=control, pidfile=pidfile,
                      dblock=dblock, overrides=overrides)
    return service.main(parent=channel)


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _inherit(config: Config, handover: Handover) -> dict[str, Any]:
    """What the successor of a restart takes over, as Service arguments. The
    listening socket, the control socket and the pidfile stay those of the
    process replaced: where the config names others, ``config`` is set back
    to what serves (so a later reload still says they differ) and ``kept``
    says so. DatabaseHeld or OSError if the database's lock cannot be had."""
    listening = [socket.socket(fileno=fd) for fd in handover.listen]
    control = socket.socket(fileno=handover.control)
    for sock in (*listening, control):
        sock.set_inheritable(False)  # the next restart passes them on explicitly
    kept: dict[str, dict[str, str]] = {}
    host, port = listening[0].getsockname()[:2]
    want_host, want_port = parse_listen(config.listen)
    if want_port and (want_host, want_port) != (host, port):
        kept["listen"] = {"serving": socket_address(listening[0]), "config": config.listen}
    if control.getsockname() != config.control_socket:
        kept["control_socket"] = {"serving": control.getsockname(), "config": config.control_socket}
    if not same_file(handover.pidfile, config.pidfile):
        with contextlib.suppress(OSError):
            kept["pidfile"] = {"serving": os.readlink(f"/proc/self/fd/{handover.pidfile}"), "config": config.pidfile}
    for key, values in kept.items():
        log.warning("%s changed to %s: a restart keeps %s; `chatd stop` and `chatd start` apply it",
                    key, values["config"], values["serving"])
        setattr(config, key, values["serving"])
    return {"listening": listening, "control": control, "pidfile": PidFile(config.pidfile, fd=handover.pidfile),
            "dblock": _inherit_dblock(config, handover.dblock if handover.dblock >= 0 else None), "kept": kept}


def _inherit_dblock(config: Config, fd: int | None) -> DatabaseLock | None:
    """The successor's database lock: the inherited one if ``database`` is the
    same file, else the new database's, taken afresh (the old process lets go
    of its own as it exits)."""
    dblock = DatabaseLock.for_config(config)
    if dblock and fd is not None and same_file(fd, dblock.database):
        dblock.adopt(fd, server_record(config, os.getpid()))
        return dblock
    if dblock:
        dblock.acquire(server_record(config, os.getpid()))
    if fd is not None:
        os.close(fd)
    return dblock


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


