"""The ``chatd`` commands that act on a running server: status,
connections, reload, restart, stop and backup. Each asks the server over
its control socket (``chatd.control``), after finding it through the
pidfile lock (``chatd.daemon.running_pid``). And ``restore`` and
``migrate-store``, which want the server stopped and hold the pidfile lock
meanwhile.

    status = cmd_status(args, config, stdout, stderr)   # args from chatd.cli's parser

``chatd.cli`` parses the command line and calls these; they print and
return an ``ExitStatus``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import time
from typing import Any, TextIO

from chatd.config import Config
from chatd.control import ControlUnavailable, ask
from chatd.daemon import READY_TIMEOUT, AlreadyRunning, PidFile, running_pid, wait_stopped
from chatd.dsn import DATABASE_PASSWORD_ENV, is_postgres, password_from, redacted, with_password
from chatd.status import ExitStatus

STOP_GRACE = 2.0  # seconds `stop` waits past the timeout before it sends SIGKILL
RESTART_WAIT = READY_TIMEOUT + 30  # the successor's start-up plus the old one's stop


def _ask(config: Config, command: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    return ask(config.control_socket, command, timeout, **args)


def _not_running(args: argparse.Namespace, stdout: TextIO) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"running": False}), file=stdout)
    else:
        print("chatd is not running", file=stdout)
    return ExitStatus.NOT_RUNNING


def _unanswered(pid: int, error: ControlUnavailable, stderr: TextIO) -> int:
    print(f"chatd: running (pid {pid}) but not answering: {error}", file=stderr)
    return ExitStatus.UNKNOWN


def cmd_status(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, stdout)
    try:
        s = _ask(config, "status")
    except ControlUnavailable as e:
        if args.json:
            print(json.dumps({"running": True, "pid": pid, "answering": False, "error": str(e)}), file=stdout)
        return _unanswered(pid, e, stderr)
    if args.json:
        s.pop("ok", None)
        print(json.dumps(s, indent=2), file=stdout)
        return ExitStatus.OK
    workers = s.get("workers")  # `workers` above 1: one row each, and the figures are the sums
    rows = [
        ("version", s["version"]),
        ("state", s["state"]),
        ("uptime", _duration(s["uptime_seconds"])),
        ("listen", s["listen"]),
        *([("workers", len(workers))] if workers else []),
        ("connections", s["connections"]),
        ("users online", s["users_online"]),
        ("rooms", s["rooms"]),
        ("messages", f"{s['messages_stored']} stored, {s['messages_since_start']} since start, "
                     f"{s['messages_per_second']:.2f}/s over the last minute"),
        ("memory", f"{_size(s['rss_bytes'])} RSS{', all processes' if workers else ''}"),
        ("database", f"{s['database']} ({_size(s['database_bytes'])})"),
        ("epoch", _epoch(s)),
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
    return (w["worker"], w["pid"], state, w["connections"], w["users_online"], _size(w["rss_bytes"]))


def cmd_connections(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, stdout)
    try:
        rows = _ask(config, "connections")["connections"]
    except ControlUnavailable as e:
        return _unanswered(pid, e, stderr)
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
                      f"{_size(r['bytes_in'])}/{_size(r['bytes_out'])}", _size(r["queued_bytes"])))
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
        return _not_running(args, stdout)
    try:
        reply = _ask(config, "reload")
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
    if reply["need_restart"]:
        print(f"  changed, applied by `chatd restart`: {', '.join(reply['need_restart'])}", file=stdout)
    return ExitStatus.OK


def cmd_restart(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        return _not_running(args, stdout)
    try:
        reply = _ask(config, "restart", timeout=RESTART_WAIT)
    except ControlUnavailable as e:
        return _unanswered(pid, e, stderr)
    if not reply.get("ok"):
        print(f"chatd: restart failed: {reply.get('error')}\nchatd (pid {pid}) keeps running", file=stderr)
        return reply.get("status", ExitStatus.ERROR)
    new = reply["pid"]
    deadline = time.monotonic() + RESTART_WAIT
    while time.monotonic() < deadline:  # returns once the new process answers, i.e. serves
        with contextlib.suppress(ControlUnavailable):
            if _ask(config, "status", timeout=5).get("pid") == new:
                print(f"chatd restarted: pid {pid} → {new}", file=stdout)
                return ExitStatus.OK
        time.sleep(0.05)
    print(f"chatd: the new process (pid {new}) did not answer within {RESTART_WAIT:g} s", file=stderr)
    return ExitStatus.ERROR


def cmd_stop(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    pid = running_pid(config.pidfile)
    if pid is None:
        print("chatd is not running", file=stdout)
        return ExitStatus.OK
    timeout = args.timeout or config.stop_timeout
    try:
        _ask(config, "stop", timeout=5, graceful=args.graceful, seconds=timeout)
    except ControlUnavailable:
        if not pid:
            print("chatd: the pidfile is locked but holds no pid; cannot stop", file=stderr)
            return ExitStatus.UNKNOWN
        os.kill(pid, signal.SIGTERM)  # stops with the server's own stop_timeout
    if wait_stopped(config.pidfile, pid, timeout + STOP_GRACE):
        print(f"chatd stopped (pid {pid})", file=stdout)
        return ExitStatus.OK
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_stopped(config.pidfile, pid, STOP_GRACE)
    print(f"chatd: pid {pid} did not stop within {timeout:g} s; killed it", file=stderr)
    return ExitStatus.ERROR


def cmd_backup(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    if is_postgres(config.database):
        return _postgres_refused("backup", stderr)
    target = os.path.abspath(args.path)
    problem = backup_target_problem(config.database, target)
    if problem:
        print(f"chatd: backup failed: {problem}", file=stderr)
        return ExitStatus.ERROR
    pid = running_pid(config.pidfile)
    if pid is not None:
        try:
            reply = _ask(config, "backup", timeout=3600, path=target)
        except ControlUnavailable as e:
            return _unanswered(pid, e, stderr)
        if not reply.get("ok"):
            print(f"chatd: backup failed: {reply.get('error')}", file=stderr)
            return ExitStatus.ERROR
        size = reply["bytes"]
    else:
        try:
            size = offline_backup(config.database, target)
        except (OSError, sqlite3.Error) as e:
            print(f"chatd: backup failed: {e}", file=stderr)
            return ExitStatus.ERROR
    print(f"backed up {config.database} to {target} ({_size(size)})", file=stdout)
    return ExitStatus.OK


def backup_target_problem(database: str, target: str) -> str | None:
    """Why ``target`` (absolute) cannot take a backup of ``database``, or None."""
    live = {os.path.realpath(database + suffix) for suffix in ("", "-wal", "-shm", "-journal")}
    if os.path.realpath(target) in live:
        return f"{target} is the live database itself; give another path"
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        return f"the directory {folder} does not exist"
    return None


def offline_backup(database: str, target: str) -> int:
    """Copy a database no server has open; → bytes written."""
    if not os.path.exists(database):
        raise FileNotFoundError(f"no database at {database}")
    partial = f"{target}.partial-{os.getpid()}"
    try:
        with contextlib.closing(sqlite3.connect(database)) as source, \
                contextlib.closing(sqlite3.connect(partial)) as dest:
            source.backup(dest)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return os.path.getsize(target)


def _lock_stopped(config: Config, stderr: TextIO, then: str) -> tuple[PidFile | None, int | None]:
    """Take the pidfile lock, which proves that no server runs and keeps one from starting
    meanwhile; → (the locked pidfile or None if its directory is gone, None), or
    (None, exit status) after saying why not. ``then``: the command, for the message."""
    pidfile = PidFile(config.pidfile)
    try:
        pidfile.acquire()
    except AlreadyRunning as e:
        print(f"chatd: chatd is running (pid {e.pid}): stop it first (`chatd stop`), then {then}", file=stderr)
        return None, ExitStatus.ALREADY_RUNNING
    except FileNotFoundError:
        return None, None  # its directory is gone (systemd removes /run/chatd on stop): nothing runs
    except OSError as e:
        print(f"chatd: cannot lock pidfile {config.pidfile}: {e.strerror or e}", file=stderr)
        return None, ExitStatus.ERROR
    return pidfile, None


def _release(pidfile: PidFile | None) -> None:
    if pidfile:
        pidfile.clear()
        pidfile.close()


def cmd_restore(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    if is_postgres(config.database):
        return _postgres_refused("restore", stderr)
    from chatd.store.restore import RestoreError, restore  # peewee loads only for this command

    pidfile, refused = _lock_stopped(config, stderr, "restore")
    if refused is not None:
        return refused
    try:
        record = restore(config.database, os.path.abspath(args.backup))
    except (RestoreError, OSError, sqlite3.Error) as e:
        print(f"chatd: restore failed: {e}\n{config.database} was not replaced", file=stderr)
        return ExitStatus.ERROR
    finally:
        _release(pidfile)
    for warning in record["warnings"]:
        print(f"chatd: warning: {warning}", file=stderr)
    print(f"restored {record['from']} to {config.database}\n"
          f"  epoch {record['epoch']} (backup's {record['backup_epoch']}, "
          f"replaced {record['replaced_epoch'] or 'unknown'})", file=stdout)
    return ExitStatus.OK


def cmd_migrate_store(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.store.transfer import TransferError, transfer  # psycopg and peewee load only for this command

    if is_postgres(config.database):
        print(f"chatd: migrate-store copies the configured SQLite database, but `database` is already "
              f"{redacted(config.database)}", file=stderr)
        return ExitStatus.ERROR
    pidfile, refused = _lock_stopped(config, stderr, "migrate the store")
    if refused is not None:
        return refused
    try:
        password = password_from(config.database_password_file, DATABASE_PASSWORD_ENV)
        counts = transfer(config.database, with_password(args.url, password))
    except (TransferError, OSError, ValueError) as e:
        print(f"chatd: migrate-store failed: {e}\nnothing was written to {redacted(args.url)}", file=stderr)
        return ExitStatus.ERROR
    finally:
        _release(pidfile)
    print(f"copied {config.database} to {redacted(args.url)}", file=stdout)
    for table, label in TRANSFER_LABELS.items():
        print(f"  {label:<13} {counts[table]}", file=stdout)
    print(f"The token secret and the epoch came along: tokens and clients' positions stay valid. Stop using "
          f"{config.database} (keep it as a backup), and put this line in {config.source or 'chatd.yaml'}:\n"
          f"database: {redacted(args.url)}", file=stdout)
    return ExitStatus.OK


TRANSFER_LABELS = {"user": "users", "sign_in": "sign-ins", "room": "rooms", "room_key": "room keys",
                   "message": "messages", "meta": "meta rows"}


def _postgres_refused(command: str, stderr: TextIO) -> int:
    from chatd.store.postgres import BACKUP_ADVICE, RESTORE_ADVICE

    print(f"chatd: {command}: {BACKUP_ADVICE if command == 'backup' else RESTORE_ADVICE}", file=stderr)
    return ExitStatus.ERROR


COMMANDS = {"status": cmd_status, "connections": cmd_connections, "reload": cmd_reload,
            "restart": cmd_restart, "stop": cmd_stop, "backup": cmd_backup, "restore": cmd_restore,
            "migrate-store": cmd_migrate_store}


def _epoch(status: dict[str, Any]) -> str:
    restored = status.get("restored")
    text = status.get("epoch") or "-"  # a server older than epochs has none
    return f"{text} (restored {restored['at']} from {restored['from']})" if restored else text


def _duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600}h {s % 3600 // 60:02d}m {s % 60:02d}s"
    return f"{days}d {text}" if days else text


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
