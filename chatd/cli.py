"""The ``chatd`` command: start, stop, reload, restart, status, connections,
backup and check-config. ``chatd --help`` and ``chatd COMMAND --help`` say
the rest; docs/operations.md is the manual.

    chatd start [-c chatd.yaml] [-d]
    chatd status [--json]; echo $?        # 0 running, 3 not running (LSB)

``main(argv, env, stdout, stderr)`` takes its arguments, environment and
streams as parameters so tests can run it in-process. Exit statuses are the
``ExitStatus`` enum. Commands other than ``start`` talk to the running
server over its control socket (``chatd.control``) and find it, and the
pidfile, through the config file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

import yaml

from chatd import __version__
from chatd.config import Config, ConfigError, build_config, find_config_file, load_config
from chatd.control import ControlUnavailable, ask
from chatd.daemon import READY_TIMEOUT, running_pid, wait_stopped


class ExitStatus(IntEnum):
    OK = 0  # done; for `status`: running
    ERROR = 1  # the command failed; the message says why
    USAGE = 2  # bad command-line arguments (argparse's own status)
    NOT_RUNNING = 3  # no server runs for this config (LSB "program is not running")
    UNKNOWN = 4  # the pidfile is locked but the server does not answer (LSB "status unknown")
    ALREADY_RUNNING = 5  # `start` while a server holds the pidfile
    CONFIG = 78  # EX_CONFIG: the configuration file is invalid


EXIT_HELP = """exit status:
  0   success; for status: running
  1   the command failed (the message says why)
  2   bad command-line arguments
  3   chatd is not running (status, connections, reload, restart)
  4   chatd holds its pidfile but does not answer on its control socket
  5   start: chatd is already running
  78  the configuration file is invalid (start, check-config, reload, restart)
"""
STOP_GRACE = 2.0  # seconds `stop` waits past the timeout before it sends SIGKILL
RESTART_WAIT = READY_TIMEOUT + 30  # the successor's start-up plus the old one's stop


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="A self-hosted chat server.", epilog=EXIT_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"chatd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, description: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=f"{help_text}. {description}".strip(),
                                  epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("-c", "--config", metavar="PATH", help="config file (default: $CHATD_CONFIG or ./chatd.yaml)")
        return sub

    start = command("start", "run the server",
                    "In the foreground unless -d. Prints a banner once it serves.")
    start.add_argument("-d", "--daemon", action="store_true",
                       help="run in the background, logging to `logfile`; returns once serving "
                            "(ignored under systemd, when $NOTIFY_SOCKET is set)")
    stop = command("stop", "stop the running server",
                   "Stops accepting, closes WebSockets with 1001, commits queued messages and exits "
                   "within the timeout; killed if it has not. Not running is not an error.")
    stop.add_argument("-g", "--graceful", action="store_true",
                      help="first wait for clients to leave, up to the timeout")
    stop.add_argument("--timeout", type=_seconds, metavar="S", help="seconds to take at most (default: stop_timeout)")
    command("reload", "apply the config file to the running server without dropping anyone",
            "Same as SIGHUP; also reopens the log file. An invalid file is refused and the server "
            "keeps its configuration.")
    command("restart", "replace the running server by a new process without downtime",
            "The new process (new code, new config) inherits the listening socket; clients are "
            "closed with 1012, reconnect and resume. Same as SIGUSR2.")
    for name, text in (("status", "say whether the server runs, with live figures"),
                       ("connections", "list the open connections")):
        command(name, text).add_argument("--json", action="store_true", help="print JSON")
    backup = command("backup", "copy the database to PATH, whether the server runs or not",
                     "Uses SQLite's online backup API; PATH is replaced atomically.")
    backup.add_argument("path", metavar="PATH")
    command("check-config", "validate the config file and exit")
    return parser


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    env = dict(os.environ) if env is None else env
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return int(e.code or 0)
    path = find_config_file(args.config, env)
    if args.command == "start":
        from chatd import lifecycle  # tornado and the rest load only for a server

        return lifecycle.start(str(path) if path else None, args.daemon, env, stdout, stderr)
    if args.command == "check-config":
        try:
            load_config(path)
        except ConfigError as e:
            print(f"chatd: invalid configuration:\n{e}", file=stderr)
            return ExitStatus.CONFIG
        print(f"{path or 'built-in defaults'}: configuration is valid", file=stdout)
        return ExitStatus.OK
    config, problem = locate(path)
    if problem and args.command not in ("reload", "restart"):  # those two get the server's own verdict
        print("chatd: warning: the configuration is invalid (see `chatd check-config`); "
              "using its pidfile and control_socket as far as they can be read", file=stderr)
    command = COMMANDS[args.command]
    return command(args, config, stdout, stderr)


def locate(path: Path | None) -> tuple[Config, str | None]:
    """The config, or if it is invalid, as much of it as finds the server
    (pidfile, control_socket, database) — an operator can still stop or
    inspect a server whose file they just broke. → (config, problem)."""
    try:
        return load_config(path), None
    except ConfigError as e:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            data = None
        wanted = ("pidfile", "control_socket", "database")
        raw = {k: data[k] for k in wanted if isinstance(data, dict) and isinstance(data.get(k), str)}
        return build_config(raw, Path(path).absolute()), str(e)


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
    rows = [
        ("version", s["version"]),
        ("state", s["state"]),
        ("uptime", _duration(s["uptime_seconds"])),
        ("listen", s["listen"]),
        ("connections", s["connections"]),
        ("users online", s["users_online"]),
        ("rooms", s["rooms"]),
        ("messages", f"{s['messages_stored']} stored, {s['messages_since_start']} since start, "
                     f"{s['messages_per_second']:.2f}/s over the last minute"),
        ("memory", f"{_size(s['rss_bytes'])} RSS"),
        ("database", f"{s['database']} ({_size(s['database_bytes'])})"),
        ("config", s["config"]),
        ("log", s["logfile"]),
    ]
    print(f"chatd is running (pid {s['pid']})", file=stdout)
    for name, value in rows:
        print(f"  {name:<13} {value}", file=stdout)
    return ExitStatus.OK


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
    table = [("ID", "USER", "ADDRESS", "ROOMS", "CONNECTED", "FRAMES IN/OUT", "BYTES IN/OUT", "QUEUED")]
    for r in rows:
        user = f"{r['user']['name']} ({r['user']['id']})" if r["user"] else "-"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["connected_at"]))
        table.append((r["id"], user, r["remote_address"], ",".join(r["rooms"]) or "-", since,
                      f"{r['frames_in']}/{r['frames_out']}", f"{_size(r['bytes_in'])}/{_size(r['bytes_out'])}",
                      _size(r["queued_bytes"])))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=stdout)
    print(f"{len(rows)} connection{'s' if len(rows) != 1 else ''}", file=stdout)
    return ExitStatus.OK


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
    target = os.path.abspath(args.path)
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


COMMANDS = {"status": cmd_status, "connections": cmd_connections, "reload": cmd_reload,
            "restart": cmd_restart, "stop": cmd_stop, "backup": cmd_backup}


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
