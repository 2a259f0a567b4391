"""The ``chatd`` commands that act on a running server: status,
connections, reload, restart and stop. Each asks the server over its
control socket (``chatd.control``), after finding it through the pidfile
lock (``chatd.daemon.running_pid``) — or, when that names none, through the
lock on its SQLite database (``chatd.dblock``): a server whose config's
``pidfile`` changed since it started is never "not running". The commands that copy the database
(backup, restore, migrate-store) are ``chatd.database_commands``.

    status = cmd_status(args, config, stdout, stderr)   # args from chatd.cli's parser
    COMMANDS["reload"](args, config, stdout, stderr)

``chatd.cli`` parses the command line and calls these; they print and
return an ``ExitStatus``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any, TextIO

from chatd.config import Config
from chatd.control import ControlUnavailable, ask
from chatd.daemon import READY_TIMEOUT, running_pid, wait_stopped
from chatd.dblock import SERVER, Holder, describe, holders, same_path, unrecorded, unrecorded_message
from chatd.settings import RESTART_KEEPS
from chatd.status import ExitStatus

STOP_GRACE = 2.0  # seconds `stop` waits past the timeout before it sends SIGKILL
STOP_ASK = 5.0  # seconds `stop` waits at most for the server to take the request, before SIGTERM
RESTART_WAIT = READY_TIMEOUT + 30  # the successor's start-up plus the old one's stop


def ask_server(config: Config, command: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    """Ask the server of ``config`` — the one its pidfile names — on the config's control socket;
    or, when nothing answers there or another process does (the config's ``control_socket``
    changed since it started, maybe to another chatd's), on the one the server recorded in its
    database's lock. Who answers is asked first (``status``), so a command never reaches another
    server. → the reply; ControlUnavailable: none answered, or only others did."""
    pid = running_pid(config.pidfile)
    refusal: ControlUnavailable | None = None
    for path in _control_sockets(config, pid):
        try:
            status = ask(path, "status", timeout)
            if pid is not None and status.get("pid") not in (pid, running_pid(config.pidfile)):  # a restart: either
                raise ControlUnavailable(f"{path} is answered by pid {status.get('pid')}, not by pid {pid}, which "
                                         f"holds {config.pidfile} (another chatd's control socket?)")
            return status if command == "status" and not args else ask(path, command, timeout, **args)
        except ControlUnavailable as e:
            refusal = refusal or e
    assert refusal is not None  # the config's socket is always tried
    raise refusal


def _control_sockets(config: Config, pid: int | None) -> Iterator[str]:
    """The config's control socket, then the one its server (``pid``) recorded, if another."""
    yield config.control_socket
    yield from {h.control_socket for h in holders(config.database)
                if pid and h.pid == pid and h.control_socket != config.control_socket}


def _not_running(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    """The pidfile names no server: say so — unless a server holds the database's
    lock all the same (its pidfile is another), which is then "unknown" (4)."""
    owner = _owner(config)
    if owner is None and unrecorded(config.database):
        print(f"chatd: {unrecorded_message(config.database)}", file=stderr)
        return ExitStatus.UNKNOWN
    if owner:
        if getattr(args, "json", False):
            print(json.dumps({"running": True, "pid": owner.pid, "answering": False, "database": config.database,
                              "pidfile": owner.pidfile, "control_socket": owner.control_socket}), file=stdout)
        print(f"chatd: {elsewhere(config, owner)}", file=stderr)
        return ExitStatus.UNKNOWN
    if getattr(args, "json", False):
        print(json.dumps({"running": False}), file=stdout)
    else:
        print("chatd is not running", file=stdout)
    _note_others(config, stderr)
    return ExitStatus.NOT_RUNNING


def _owner(config: Config) -> Holder | None:
    """The server of ``config``, found through its database's lock: the one that owns
    the database (no bus), or the cluster node started with the same config file;
    None when none is."""
    servers = [h for h in holders(config.database) if h.role == SERVER]
    same_file = str(config.source or "")
    return next((h for h in servers if not h.shared or (same_file and h.config == same_file)), None)


def _note_others(config: Config, stderr: TextIO) -> None:
    """Name whoever else uses the database: cluster nodes with other pidfiles, a restore."""
    for holder in holders(config.database):
        print(f"chatd: note: {config.database} is in use by {describe(holder)}", file=stderr)


def elsewhere(config: Config, owner: Holder) -> str:
    """Why the server ``owner`` serves ``config``'s database though ``config``'s pidfile names none."""
    if owner.config and not (config.source and same_path(owner.config, str(config.source))):
        why = f"it was started with another config file, {owner.config}, whose pidfile is not this one's"
    elif owner.pidfile != config.pidfile:
        why = f"the config's pidfile changed since it started, to {config.pidfile}"
    else:
        why = f"its pidfile {owner.pidfile} was removed or replaced"
    return (f"chatd is running as pid {owner.pid} on {config.database}, with pidfile {owner.pidfile} and control "
            f"socket {owner.control_socket} ({why}); `chatd stop` stops it (or `kill -TERM {owner.pid}`), "
            f"then `chatd start` starts it with this config")


def unanswered(pid: int, error: ControlUnavailable, stderr: TextIO) -> int:
    """Say that the server ``pid`` holds the pidfile but its control socket did not answer."""
    print(f"chatd: running (pid {pid}) but not answering: {error}", file=stderr)
    return ExitStatus.UNKNOWN


def cmd_status(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, config, stdout, stderr)
    try:
        s = ask_server(config, "status")
    except ControlUnavailable as e:
        if args.json:
            print(json.dumps({"running": True, "pid": pid, "answering": False, "error": str(e)}), file=stdout)
        return unanswered(pid, e, stderr)
    if not s.get("ok"):  # the server could not put its figures together
        if args.json:
            print(json.dumps({"running": True, "pid": pid, "answering": True, "error": s.get("error")}), file=stdout)
        print(f"chatd: running (pid {pid}) but its status failed: {s.get('error')}", file=stderr)
        return ExitStatus.ERROR
    if args.json:
        s.pop("ok", None)
        print(json.dumps(s, indent=2), file=stdout)
        return ExitStatus.OK
    workers = s.get("workers")  # `workers` above 1: one row each, and the figures are the sums
    rows = [
        ("version", s["version"]),
        *([("event loop", s["event_loop"])] if s.get("event_loop") else []),  # (a server from before 13 has none)
        ("state", s["state"]),
        ("uptime", _duration(s["uptime_seconds"])),
        ("listen", s["listen"]),
        *([("workers", len(workers))] if workers else []),
        ("connections", s["connections"]),
        ("users online", users_online(s)),
        ("rooms", s["rooms"]),
        ("messages", f"{_unknown(s['messages_stored'])} stored, {s['messages_since_start']} since start, "
                     f"{s['messages_per_second']:.2f}/s over the last minute"),
        ("memory", f"{size_text(s['rss_bytes'])} RSS{', all processes' if workers else ''}"),
        ("database", _database(s)),
        ("epoch", _epoch(s)),
        *([("bus", _bus(s["bus"]))] if "bus" in s else []),  # (a server older than the key has none)
        *([("webhooks", _webhooks(s["webhooks"]))] if s.get("webhooks") else []),
        ("config", s["config"]),
        ("log", s["logfile"]),
    ]
    print(f"chatd is running (pid {s['pid']})", file=stdout)
    for name, value in rows:
        print(f"  {name:<13} {value}", file=stdout)
    if workers:
        _print_table([("WORKER", "PID", "STATE", "CONNECTIONS", "USERS", "RSS")] + [worker_row(w) for w in workers],
                     stdout, indent="  ")
    return ExitStatus.OK


def worker_row(w: dict[str, Any]) -> tuple:
    """One worker's row of `chatd status` (number, pid, state, connections,
    users, RSS) from its entry in the status answer's ``workers``."""
    state = w["state"]
    if "restart_in_seconds" in w:
        state = f"restarting in {w['restart_in_seconds']:g} s"
    if "connections" not in w:
        return (w["worker"], w["pid"] or "-", state, "-", "-", "-")
    return (w["worker"], w["pid"], state, w["connections"], w["users_online"], size_text(w["rss_bytes"]))


def cmd_connections(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, config, stdout, stderr)
    try:
        rows = ask_server(config, "connections")["connections"]
    except ControlUnavailable as e:
        return unanswered(pid, e, stderr)
    if args.json:
        print(json.dumps(rows, indent=2), file=stdout)
        return ExitStatus.OK
    workers = any("worker" in r for r in rows)  # `workers` above 1: which process holds each
    table = [("ID", *(("WORKER",) if workers else ()), "USER", "ADDRESS", "ROOMS", "CONNECTED", "FRAMES IN/OUT",
              "BYTES IN/OUT", "QUEUED")]
    for r in rows:
        user = f"{r['user']['name']} ({r['user']['id']})" if r["user"] else "-"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["connected_at"]))
        table.append((r["id"], *((r["worker"],) if workers else ()), user, r["remote_address"],
                      ",".join(r["rooms"]) or "-", since, f"{r['frames_in']}/{r['frames_out']}",
                      f"{size_text(r['bytes_in'])}/{size_text(r['bytes_out'])}", size_text(r["queued_bytes"])))
    _print_table(table, stdout)
    print(f"{len(rows)} connection{'s' if len(rows) != 1 else ''}", file=stdout)
    return ExitStatus.OK


def _print_table(table: list[tuple], stdout: TextIO, indent: str = "") -> None:
    """Columns as wide as their widest cell, two spaces apart."""
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print(indent + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=stdout)


def cmd_reload(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, config, stdout, stderr)
    try:
        reply = ask_server(config, "reload")
    except ControlUnavailable as e:
        if pid:
            os.kill(pid, signal.SIGHUP)
            print(f"chatd: sent SIGHUP to pid {pid}; the control socket did not answer ({e}), "
                  f"so the result is only in the log", file=stderr)
        return ExitStatus.UNKNOWN
    if not reply.get("ok"):
        print(f"chatd: reload refused: {reply.get('error')}\n"
              f"chatd (pid {pid}) keeps running with its previous configuration", file=stderr)
        return reply.get("status", ExitStatus.ERROR)
    print(f"chatd reloaded {reply['source']}", file=stdout)
    print(f"  applied: {', '.join(reply['applied']) or 'nothing changed'}", file=stdout)
    by_restart = [k for k in reply["need_restart"] if k not in RESTART_KEEPS]
    by_stop = [k for k in reply["need_restart"] if k in RESTART_KEEPS]
    if by_restart:
        print(f"  changed, applied by `chatd restart`: {', '.join(by_restart)}", file=stdout)
    if by_stop:
        print(f"  changed, applied only by `chatd stop` and `chatd start` (a restart keeps them): "
              f"{', '.join(by_stop)}", file=stdout)
    return ExitStatus.OK


def cmd_restart(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, config, stdout, stderr)
    try:
        reply = ask_server(config, "restart", timeout=RESTART_WAIT)
    except ControlUnavailable as e:
        return unanswered(pid, e, stderr)
    if not reply.get("ok"):
        kept = "" if reply.get("stopping") else f"\nchatd (pid {pid}) keeps running"
        print(f"chatd: restart failed: {reply.get('error')}{kept}", file=stderr)
        return reply.get("status", ExitStatus.ERROR)
    new = reply["pid"]
    deadline = time.monotonic() + RESTART_WAIT
    while time.monotonic() < deadline:  # returns once the new process answers, i.e. serves
        with contextlib.suppress(ControlUnavailable):
            if ask_server(config, "status", timeout=5).get("pid") == new:
                print(f"chatd restarted: pid {pid} → {new}", file=stdout)
                for key, values in reply.get("kept", {}).items():
                    print(f"  not applied: {key} stays {values['serving']} (the config says {values['config']}); "
                          f"`chatd stop` and `chatd start` apply it", file=stdout)
                return ExitStatus.OK
        time.sleep(0.05)
    print(f"chatd: the new process (pid {new}) did not answer within {RESTART_WAIT:g} s", file=stderr)
    return ExitStatus.ERROR


def cmd_stop(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    owner = _owner(config) if pid is None else None
    if pid is None and owner is None:
        if unrecorded(config.database):  # a server, but none this command can name: not "not running"
            print(f"chatd: {unrecorded_message(config.database)}", file=stderr)
            return ExitStatus.UNKNOWN
        print("chatd is not running", file=stdout)
        _note_others(config, stderr)
        return ExitStatus.OK
    if owner:  # found through the database's lock: stop it where it started, its own socket and pidfile
        print(elsewhere(config, owner), file=stdout)
        pid = owner.pid
    timeout = args.timeout or config.stop_timeout
    deadline = time.monotonic() + timeout + STOP_GRACE  # the documented bound, whatever the server does
    # A hung server accepts the connection and never answers: its wait counts in the bound.
    ask_seconds = min(STOP_ASK, timeout)
    # A restart's old process refuses it, letting go of the socket: control.ask asks again, its successor answers.
    stop = {"timeout": ask_seconds, "graceful": args.graceful, "seconds": timeout}
    try:
        if owner is None:
            reply = ask_server(config, "stop", **stop)
        elif ask(owner.control_socket, "status", timeout=ask_seconds).get("pid") != pid:
            raise ControlUnavailable(f"another process answers on {owner.control_socket}")  # then a signal to pid
        else:
            reply = ask(owner.control_socket, "stop", **stop)
        if not reply.get("ok"):
            raise ControlUnavailable(f"the server refused it: {reply.get('error')}")
        pid = reply.get("pid") or pid  # the successor's, when it was the one to take it
    except ControlUnavailable as e:
        if not pid:
            print("chatd: the pidfile is locked but holds no pid; cannot stop", file=stderr)
            return ExitStatus.UNKNOWN
        os.kill(pid, signal.SIGTERM)
        print(f"chatd: sent SIGTERM to pid {pid}: its control socket did not take the stop request ({e})",
              file=stderr)
        note = signalled_note(args, config, pid, timeout)
        if note:
            print(f"chatd: {note}", file=stderr)
    else:
        if owner:
            print(f"stopping pid {pid} through {owner.control_socket}", file=stdout)
    # One found through the database's lock may have no pidfile left: then the process itself.
    watched = None if owner else config.pidfile
    if wait_stopped(watched, pid, max(0.0, deadline - time.monotonic())):
        print(f"chatd stopped (pid {pid})", file=stdout)
        return ExitStatus.OK
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_stopped(watched, pid, STOP_GRACE)
    print(f"chatd: pid {pid} did not stop within {timeout:g} s; killed it", file=stderr)
    return ExitStatus.ERROR


def signalled_note(args: argparse.Namespace, config: Config, pid: int, timeout: float) -> str | None:
    """What a stop by SIGTERM does not do of what ``args`` asked: a signal carries no argument,
    so the server stops as SIGTERM says (within its own ``stop_timeout``, not gracefully). The
    bound holds all the same: the command kills it STOP_GRACE seconds after ``timeout``. None
    when that is what was asked."""
    if not args.graceful and timeout == config.stop_timeout:
        return None
    graceful = ", without waiting for clients to leave (-g)" if args.graceful else ""
    return (f"a signal carries no timeout: pid {pid} stops within its own stop_timeout (the config says "
            f"{config.stop_timeout:g} s){graceful}, not as asked; this command kills it if it is still there "
            f"{STOP_GRACE:g} s after --timeout {timeout:g} s")


COMMANDS = {"status": cmd_status, "connections": cmd_connections, "reload": cmd_reload,
            "restart": cmd_restart, "stop": cmd_stop}


def _unknown(figure: Any) -> str:
    """A figure the server could not read (None: its database is unreachable) as "-"."""
    return "-" if figure is None else str(figure)


def _database(status: dict[str, Any]) -> str:
    """The database row: where it is and its size, or that it is unreachable and why."""
    unreachable = status.get("database_unreachable")  # a server older than the key has none
    if unreachable:
        return f"{status['database']}: unreachable ({unreachable})"
    size = status["database_bytes"]
    return f"{status['database']} ({'size unknown' if size is None else size_text(size)})"


def users_online(status: dict[str, Any]) -> str:
    """The users-online row: this server's (node's) users, and on a cluster every node's as it knows them."""
    cluster = status.get("users_online_cluster")  # None in one process (and from a server older than the key)
    if cluster is None:
        return str(status["users_online"])
    return f"{status['users_online']} on this node, {cluster} on the whole cluster"


def _bus(bus: dict[str, Any] | None) -> str:
    """The bus row: in-process, or where Redis is and whether this server is connected to it."""
    if bus is None:
        return "in-process (one node, no cluster)"
    if bus["connected"]:
        return f"{bus['url']}: connected"
    cause = (bus.get("cause") or "").rstrip(".")  # (a server older than the key has none)
    return (f"{bus['url']}: NOT connected ({f'{cause}; ' if cause else ''}reconnecting; the other nodes do not "
            "hear this one meanwhile, and /readyz answers 503)")


def _webhooks(figures: dict[str, int]) -> str:
    return (f"{figures['sent']} sent, {figures['failed']} failed, {figures['dropped']} dropped (queue full), "
            f"{figures['queued']} queued")


def _epoch(status: dict[str, Any]) -> str:
    restored = status.get("restored")
    text = status.get("epoch") or "-"  # a server older than epochs has none
    return f"{text} (restored {restored['at']} from {restored['from']})" if restored else text


def _duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"
    return f"{days}d {text}" if days else text


def size_text(n: int) -> str:
    """``n`` bytes for people: ``"512 B"``, ``"1.5 KiB"``, up to GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
