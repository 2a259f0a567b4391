"""The ``chatd`` command: start, stop, reload, restart, status, connections,
backup, restore, migrate-store, apikey, admin, purge, user and check-config.
``chatd --help`` and ``chatd COMMAND --help`` say the rest; docs/operations.md is the manual.

    chatd start [-c chatd.yaml] [-d] [--workers N]
    chatd status [--json]; echo $?        # 0 running, 3 not running (LSB)

``main(argv, env, stdout, stderr)`` takes its arguments, environment and
streams as parameters so tests can run it in-process. Exit statuses are
``chatd.status.ExitStatus``. ``start`` is ``chatd.lifecycle``; the commands
that act on a running server are ``chatd.commands``, those that copy the
database ``chatd.database_commands``, the API keys ``chatd.apikey_commands``, the admin accounts
``chatd.admin_commands``, old messages and users' data ``chatd.care_commands``; they load only when used, so
``--help`` stays quick. Only the entry points (the console script
and ``python -m chatd``) import this module.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from chatd import __version__
from chatd.commands import STOP_GRACE
from chatd.config import DEFAULTS, Config, ConfigError, build_config, find_config_file, load_config
from chatd.refusal import CommandRefused, store_refusal
from chatd.status import ExitStatus
from chatd.writable import DAEMON_WRITES, unwritable, unwritable_message
from chatd.yamltext import yaml_load

EXIT_HELP = """exit status:
  0   success; for status: running
  1   the command failed (the message says why)
  2   bad command-line arguments
  3   chatd is not running (status, connections, reload, restart)
  4   chatd holds its pidfile but does not answer on its control socket, or
      serves the database under another pidfile (the config's changed)
  5   start, restore, migrate-store: chatd is running (or serves the database)
  78  the configuration file is invalid (start, check-config, reload, restart)
"""


CONFIG_HELP = "config file (default: $CHATD_CONFIG or ./chatd.yaml)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatd", description="A self-hosted chat server.", epilog=EXIT_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"chatd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, description: str = "") -> argparse.ArgumentParser:
        text = textwrap.fill(f"{help_text[0].upper()}{help_text[1:]}. {description}".strip(), 78)
        sub = commands.add_parser(name, help=help_text, description=text,
                                  epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("-c", "--config", metavar="PATH", help=CONFIG_HELP)
        return sub

    start = command("start", "run the server",
                    "In the foreground unless -d. Prints a banner once it serves.")
    start.add_argument("-d", "--daemon", action="store_true",
                       help="run in the background, logging to `logfile`; returns once serving "
                            "(ignored under systemd, when $NOTIFY_SOCKET is set)")
    start.add_argument("--workers", type=int, metavar="N",
                       help="server processes sharing the port, instead of the config's `workers` "
                            "(more than 1 needs a `bus`)")
    stop = command("stop", "stop the running server",
                   "Stops accepting, closes WebSockets with 1001, commits queued messages and exits "
                   "within the timeout; killed if it has not. Not running is not an error. Asked "
                   "through the control socket; when that does not take the request, SIGTERM is sent "
                   "instead, and a signal carries no argument: the server then stops within its own "
                   "stop_timeout and without -g, and this command still kills it if it is there "
                   f"{STOP_GRACE:g} s after the timeout.")
    stop.add_argument("-g", "--graceful", action="store_true",
                      help="first wait for clients to leave, up to the timeout (not by SIGTERM: see above)")
    stop.add_argument("--timeout", type=_seconds, metavar="S",
                      help="seconds to take at most (default: stop_timeout); by SIGTERM the server paces "
                           "its stop by its own stop_timeout, and is killed if still there after S + "
                           f"{STOP_GRACE:g} s")
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
    restore = command("restore", "replace the database with a backup, while the server is stopped",
                      "The restored database gets a new epoch: ids are never handed out twice, tokens of "
                      "users the backup does not have stop working, and clients reload what they show. "
                      "Revocations and sanctions of the replaced database are kept (revoked API keys, removed "
                      "admin accounts, deleted users, bans...); every admin session ends.")
    restore.add_argument("backup", metavar="BACKUP", help="a file written by `chatd backup`")
    move = command("migrate-store", "copy the SQLite database into an empty PostgreSQL database, while the "
                   "server is stopped",
                   "Copies every table (users, sign-ins, rooms, messages with their ids, uploads, bans, mutes, "
                   "admin accounts..., the token secret and the epoch) and lists each with its rows, so that "
                   "tokens and clients' positions keep working; then prints the `database:` "
                   "line for chatd.yaml. The password may come from `database_password_file` or "
                   "$CHATD_DATABASE_PASSWORD.")
    move.add_argument("url", metavar="URL", help="postgresql://USER@HOST[:PORT]/DATABASE, an empty database")
    apikey = command("apikey", "create, list or revoke keys of the HTTP API (/api/v1/, docs/api.md)",
                     "Works on the configured database whether the server runs or not; a running server "
                     "takes a new key, and refuses a revoked one, from its next request on.")
    actions = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, within: Any = actions) -> argparse.ArgumentParser:
        sub = within.add_parser(name, help=help_text)
        # -c after the action too (`chatd apikey create x --scope read -c f.yaml`); SUPPRESS keeps one given before it.
        sub.add_argument("-c", "--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
        return sub

    create = action("create", "make a key and print it (the only time it is shown)")
    create.add_argument("name", metavar="NAME", help="what the key is for: letters, digits, '_', '.', '-'")
    create.add_argument("--scope", action="append", choices=("publish", "read", "manage"), required=True,
                        help="what the key may do (repeat for several): publish = post messages and events, "
                             "read = history and who is online, manage = disconnect users, rooms, bots")
    create.add_argument("--user", type=int, metavar="ID", help="bind the key to this user: it acts as that "
                                                              "user only (a bot's key)")
    action("list", "list the keys (never their secrets)").add_argument(
        "--json", action="store_true", help="print JSON")
    action("revoke", "revoke a key at once").add_argument("which", metavar="NAME|ID")
    admin = command("admin", "create, list, remove admin page accounts or change their passwords (/admin)",
                    "Works on the configured database whether the server runs or not; removing an account or "
                    "changing its password ends its sessions at once.")
    admin_actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text in (("create", "make an account (the password is asked twice)"),
                            ("passwd", "set an account's password; its sessions end")):
        sub = action(name, help_text, admin_actions)
        sub.add_argument("name", metavar="NAME", help="the account: letters, digits, '_', '.', '-'")
        sub.add_argument("--password-stdin", action="store_true",
                         help="read the password from the first line of standard input (for scripts)")
    action("list", "list the accounts", admin_actions).add_argument("--json", action="store_true", help="print JSON")
    action("remove", "remove an account; its sessions end", admin_actions).add_argument("name", metavar="NAME")
    purge = command("purge", "remove messages older than their retention (history.retention_days, or a room's "
                             "own days)", "Works on the configured database whether the server runs or not, in "
                             "small batches. Writes an audit row.")
    purge.add_argument("--dry-run", action="store_true", help="only say what would go: per room, the messages and "
                                                              "the oldest kept")
    purge.add_argument("--json", action="store_true", help="print JSON")
    user = command("user", "export or delete a user's data (docs/operations.md, \"User data\")",
                   "Works on the configured database whether the server runs or not; a deletion asks a running "
                   "server to end the user's sessions. Each writes an audit row.")
    user_actions = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("export", "print the user's data as JSON: profile, memberships, messages sent, "
                                  "private conversations"),
                       ("delete", "delete the user: messages become tombstones, nothing identifying stays")):
        sub = action(name, text, user_actions)
        sub.add_argument("user", metavar="ID|NAME", help="the user's id, or its exact name")
        if name == "export":
            sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
        else:
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            sub.add_argument("--reason", metavar="TEXT", help="kept in the audit row")
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
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr  # sys.stdout is None under >&-
    shown = io.StringIO()  # argparse drops what it cannot write: --help and --version are written out below
    try:
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(stderr):
            args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        out, status = stdout or _Closed(), int(e.code or 0)

        def show() -> int:
            if shown.getvalue():
                out.write(shown.getvalue())
            return status

        return _answered(show, out, stderr)
    path = find_config_file(args.config, env)
    if args.command == "start":
        from chatd import lifecycle  # tornado and the rest load only for a server

        overrides = {"workers": args.workers} if args.workers is not None else {}
        return lifecycle.start(str(path) if path else None, args.daemon, env, stdout, stderr, overrides)
    stdout = stdout or _Closed()  # a server's banner may go nowhere; a command's answer may not
    if args.command == "check-config":
        return _answered(lambda: _check_config(path, stdout, stderr), stdout, stderr)
    config, problem = locate(path)
    if problem and args.command not in ("reload", "restart"):  # those two get the server's own verdict
        print("chatd: warning: the configuration is invalid (see `chatd check-config`); "
              "using its pidfile and control_socket as far as they can be read", file=stderr)
    from chatd import admin_commands, apikey_commands, care_commands, commands, database_commands

    run = {**commands.COMMANDS, **database_commands.COMMANDS, **apikey_commands.COMMANDS,
           **admin_commands.COMMANDS, **care_commands.COMMANDS}[args.command]
    named = command_path(args)  # what every line below begins with, after "chatd: "
    try:
        with _terminable():
            return _answered(lambda: run(args, config, stdout, stderr), stdout, stderr)
    except CommandRefused as e:
        print(f"chatd: {named}: {e}", file=stderr)
        return e.status
    except Exception as e:
        refused = store_refusal(e)
        if refused is None:
            raise
        from chatd.store.health import database_refusal

        print(f"chatd: {named}: {database_refusal(config.database, refused)}", file=stderr)
        return ExitStatus.ERROR
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Terminated) else signal.SIGINT
        print(f"chatd: {named}: stopped by {signal.Signals(signum).name} before it finished", file=stderr)
        return 128 + signum  # the shell's status for a command a signal ended


def command_path(args: argparse.Namespace) -> str:
    """The command as typed, without its options and arguments, as its refusals name it:
    "admin list", "user export", "purge"."""
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else args.command


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken as Ctrl-C is: the command's clean-up runs (a partial file removed, a
    transaction rolled back, its locks released), then it ends with one line, not a traceback."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _terminable():
    """SIGTERM raises Terminated while the block runs (in the main thread: only it takes signals;
    main() also runs inside tests), then the handler before is put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _check_config(path: Path | None, stdout: TextIO, stderr: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as e:
        print(f"chatd: invalid configuration:\n{e}", file=stderr)
        return ExitStatus.CONFIG
    # What `chatd start` would refuse, in its words; the log file only a daemon writes.
    problems = unwritable(config)
    if problems:
        print(f"chatd: {unwritable_message(problems)}", file=stderr)
    else:
        problems = _unusable_database(config)
        for problem in problems:
            print(f"chatd: {problem}", file=stderr)
    for problem in unwritable(config, DAEMON_WRITES):
        print(f"chatd: warning: {problem} (`chatd start -d` would refuse to start; a start in the "
              f"foreground logs to standard error)", file=stderr)
    if problems:
        return ExitStatus.CONFIG
    print(f"{path or DEFAULTS}: configuration is valid", file=stdout)
    return ExitStatus.OK


def _unusable_database(config: Config) -> list[str]:
    """What `chatd start` says of a file at ``database`` that is no database chatd may use
    (``chatd.store.sqlitefile``): [] when it may be used, or there is none yet."""
    from chatd.dsn import is_postgres

    if is_postgres(config.database):
        return []
    from chatd.store import DatabaseRefused, sqlitefile  # peewee loads only for this
    from chatd.store.health import database_refusal

    try:
        sqlitefile.check(config.database, create=True)
    except DatabaseRefused as e:
        return [f"start would refuse: {database_refusal(config.database, e)}"]
    return []


def _answered(command: Callable[[], int], stdout: TextIO, stderr: TextIO) -> int:
    """``command()``'s status, its output written out: status 1, without a traceback, when
    standard output cannot take it — a reader gone (`chatd status | head -1`), a full disk,
    or none at all (``>&-``: ``_Closed``)."""
    try:
        status = command()
        stdout.flush()
    except BrokenPipeError:  # the reader has gone: nothing more to say
        _silence(stdout)
        return ExitStatus.ERROR
    except OSError as e:
        if not _is_output_error(e):
            raise
        _silence(stdout)
        print(f"chatd: cannot write the output: {e.strerror or e}", file=stderr)
        return ExitStatus.ERROR
    return status


def _is_output_error(error: OSError) -> bool:
    """An error of writing standard output (a full disk, an I/O error, none open), not one a command met."""
    return error.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF)


class _Closed(io.TextIOBase):
    """Standard output when there is none (``>&-``): writing to it is an error, as to a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def _silence(stream: TextIO | None) -> None:
    """Point ``stream``'s descriptor at /dev/null, so that Python's flush at exit does not
    raise again (the Python docs' "Note on SIGPIPE", in the signal module)."""
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def locate(path: Path | None) -> tuple[Config, str | None]:
    """The config, or if it is invalid, as much of it as finds the server
    (pidfile, control_socket, database) — an operator can still stop or
    inspect a server whose file they just broke. → (config, problem)."""
    try:
        return load_config(path), None
    except ConfigError as e:
        try:
            data = yaml_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            data = None
        wanted = ("pidfile", "control_socket", "database")
        raw = {k: data[k] for k in wanted if isinstance(data, dict) and isinstance(data.get(k), str)}
        return build_config(raw, Path(path).absolute()), str(e)
