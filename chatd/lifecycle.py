"""``chatd start``: everything before serving — config, pidfile, the
database's lock (``chatd.dblock``), port, control socket, log file, and
forking a daemon — or, for the successor of a restart, taking those over
from the process it replaces.

    status = start("/etc/chatd/chatd.yaml", daemon=True, env=dict(os.environ),
                   stdout=sys.stdout, stderr=sys.stderr)

Everything that can fail is done before forking, so errors reach the
terminal with a non-zero exit; the parent of ``-d`` returns only once the
daemon reports that it serves. ``chatd.service`` is what then runs.

A start that is refused or fails leaves the disk as it found it
(docs/operations.md, "Starting"): what can be asked without making anything
is asked first, and what a later step's failure finds made is undone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from typing import Any, TextIO

from chatd import logs, procfs
from chatd.config import Config, ConfigError, load_config
from chatd.control import ControlUnavailable, ask, bind_control, check_control
from chatd.daemon import (
    HANDOVER_VAR,
    READY_TIMEOUT,
    AlreadyRunning,
    Channel,
    Handover,
    PidFile,
    fork_daemon,
    open_made,
    pid_running,
    running_pid,
    same_file,
)
from chatd.dblock import DatabaseHeld, DatabaseLock, held_message, holders, server_record
from chatd.dsn import is_postgres
from chatd.server import bind, socket_address
from chatd.service import Service, banner, refuse
from chatd.settings import parse_listen
from chatd.status import ExitStatus
from chatd.store import DatabaseRefused, sqlitefile
from chatd.store.health import database_refusal
from chatd.writable import DAEMON_WRITES, WRITTEN_AT_START, unwritable, unwritable_message

log = logging.getLogger("chatd")
CONTROL_NAME_SECONDS = 2.0  # how long a refused start waits for the chatd on the control socket to say who it is


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
    dblock = DatabaseLock.for_config(config)
    # Who serves already, the port, the control socket: asked before anything is made, so that
    # a refused start leaves the disk as it found it. Each is asked again as it is taken below
    # (another start may take it meanwhile): a step that fails then undoes what the earlier
    # ones made (PidFile.abandon, DatabaseLock.abandon).
    refused = _serving(config, dblock, stderr) or _unusable(config, stderr)
    if refused is not None:
        return refused
    try:
        listening = bind(config)
    except OSError as e:
        return refuse(None, ExitStatus.ERROR, _port_refusal(config, e), stderr)
    with contextlib.ExitStack() as undo:  # a step that fails closes what the earlier ones opened
        for sock in listening:
            undo.callback(sock.close)
        try:
            check_control(config.control_socket)
        except OSError as e:
            return refuse(None, ExitStatus.ERROR, _control_refusal(config, e), stderr)
        try:
            pidfile.acquire(write=False)  # its pid goes in once nothing can refuse this start
        except AlreadyRunning as e:
            return _already_running(config, e.pid, stderr)
        except OSError as e:
            return refuse(None, ExitStatus.ERROR, f"cannot lock pidfile {config.pidfile}: {e.strerror or e}", stderr)
        undo.callback(pidfile.abandon)
        # Before the control socket: a second server on the same database, started with
        # another pidfile, must neither serve nor take over the first one's control socket.
        if dblock:
            try:
                dblock.acquire()  # its record too goes in once nothing can refuse this start
            except DatabaseHeld as e:
                print(f"chatd: already running: {held_message(e)}", file=stderr)
                return ExitStatus.ALREADY_RUNNING
            except OSError as e:
                return refuse(None, ExitStatus.ERROR, f"cannot lock database {config.database}: {e.strerror or e}",
                              stderr)
            undo.callback(dblock.abandon)
        try:
            control = bind_control(config.control_socket)
        except OSError as e:
            return refuse(None, ExitStatus.ERROR, _control_refusal(config, e), stderr)
        undo.callback(control.close)
        undo.callback(_unlink, config.control_socket)  # a start that fails leaves no socket behind
        log_made = False  # this start made the log file: one that fails removes it (Service._abandon)
        try:
            if daemon and config.logfile:  # fail here, on the terminal, not in the child
                fd, log_made = open_made(config.logfile, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
                os.close(fd)
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
    # Nothing refuses this start any more. The locks are this process's (a -d child's) from
    # here on, and its start-up may take a while (the database opened, migrated): it names
    # itself first, before anything that can wait. Should that start-up fail, it takes both
    # names back (chatd.service).
    pidfile.write(os.getpid())
    if dblock:
        dblock.record(server_record(config, os.getpid()))
    logs.setup(config.log_level, config.logfile if daemon else None)
    service = Service(config, env, stdout, daemon=daemon, listening=listening, control=control, pidfile=pidfile,
                      dblock=dblock, overrides=overrides, log_made=log_made)
    return service.main(parent=channel)


def _serving(config: Config, dblock: DatabaseLock | None, stderr: TextIO) -> int | None:
    """Whether a server already runs on ``config``'s pidfile or database, asked without
    making or changing anything: None if not, else the exit status after saying who."""
    with contextlib.suppress(OSError):  # (unreadable: the start's own steps say why)
        pid = running_pid(config.pidfile)
        if pid and pid_running(pid):
            return _already_running(config, pid, stderr)
    if dblock:
        try:
            dblock.check()
        except DatabaseHeld as e:
            print(f"chatd: already running: {held_message(e)}", file=stderr)
            return ExitStatus.ALREADY_RUNNING
    return None


def _unusable(config: Config, stderr: TextIO) -> int | None:
    """Whether ``config``'s SQLite database is none chatd may use (not SQLite's, another
    application's, damaged, a directory, a newer schema: ``chatd.store.sqlitefile``), asked
    without making or changing anything: None if it may be used, else the exit status after
    saying why. (The store looks again as it opens it: a -d child says what it finds then.)"""
    if is_postgres(config.database):
        return None
    try:
        sqlitefile.check(config.database, create=True)
    except DatabaseRefused as e:
        return refuse(None, ExitStatus.ERROR, f"cannot start: {database_refusal(config.database, e)}", stderr)
    return None


def _already_running(config: Config, pid: int, stderr: TextIO) -> int:
    """Say who holds the pidfile: its server's ``pid`` — or, when it holds one without a
    pid (0: a start under way, which writes it only once nothing can refuse it, and may
    yet be refused), the server the database's lock names, if one does."""
    found = holders(config.database) if not pid else []
    if pid:
        print(f"chatd: already running (pid {pid})", file=stderr)
    elif found:
        print(f"chatd: already running: {held_message(DatabaseHeld(config.database, found))}", file=stderr)
    else:
        print(f"chatd: already starting: {config.pidfile} is locked by another `chatd start`, which has not "
              f"written its pid in it yet", file=stderr)
    return ExitStatus.ALREADY_RUNNING


def _port_refusal(config: Config, error: OSError) -> str:
    """Why ``listen`` cannot be bound; when the port is taken, who holds it: a chatd (its pid
    and config, as it answers on its control socket), or another program (its pid and name,
    when this user can see it: ``chatd.procfs``)."""
    said = f"cannot listen on {config.listen}: {error.strerror or error}"
    if error.errno != errno.EADDRINUSE:
        return said
    pids = sorted(procfs.port_listeners(parse_listen(config.listen)[1]))
    for pid in pids:
        status = _chatd_status(pid)
        if status:
            return (f"{said}: chatd pid {status['pid']} (config {status.get('config')}, database "
                    f"{status.get('database')}) listens on it; stop it, or set `listen` to another port")
    if pids:
        named = ", ".join(f"pid {pid} ({procfs.command_line(pid).split(' ', 1)[0] or 'unknown'})" for pid in pids)
        return f"{said}: another program listens on it ({named}), not a chatd; set `listen` to another port"
    return (f"{said}: another program listens on it (one this user cannot see: `ss -ltnp` as root names it); "
            f"set `listen` to another port")


def _chatd_status(pid: int) -> dict[str, Any] | None:
    """The status of process ``pid`` if it is a chatd that answers on a control socket it
    listens on; None otherwise (a program that is no chatd is never sent a request)."""
    if "chatd" not in procfs.command_line(pid):
        return None
    for path in procfs.unix_listeners(pid):
        with contextlib.suppress(ControlUnavailable):
            status = ask(path, "status", timeout=CONTROL_NAME_SECONDS)
            if status.get("pid"):
                return status
    return None


def _control_refusal(config: Config, error: OSError) -> str:
    """Why the control socket cannot be had; when a process listens on it, the chatd that
    answers there if one does (its pid and database: the server that holds it)."""
    if error.errno == errno.EADDRINUSE:
        with contextlib.suppress(ControlUnavailable):
            status = ask(config.control_socket, "status", timeout=CONTROL_NAME_SECONDS)
            if status.get("pid"):
                return (f"cannot create control socket {config.control_socket}: chatd pid {status['pid']} "
                        f"(database {status.get('database')}) listens on it")
    return f"cannot create control socket {config.control_socket}: {error.strerror or error}"


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


