"""``chatd purge`` and ``chatd user export|delete``: old messages and users' data
(``chatd.retention``, ``chatd.usercare``; docs/operations.md, "Retention", "User data").

They work on the configured database itself (SQLite or PostgreSQL), whether a server
runs or not; each writes its audit row as the ``cli`` actor. A deletion erases the
user's identity, then asks a running server (its control socket) for the rest: it ends
the user's sessions and makes its messages tombstones, every open page on every node
told (``chatd.usercare``); with no server answering, the command makes them itself.

    chatd purge --dry-run [--json]       # per channel: messages that would go, the oldest kept
    chatd purge                          # does it, in batches
    chatd user export 42 -o alice.json   # by id, or by name (exact)
    chatd user delete alice [--yes]      # asks first unless --yes
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TextIO

from chatd.atomic import replaced
from chatd.config import Config
from chatd.durations import counted
from chatd.refusal import CommandRefused
from chatd.status import ExitStatus
from chatd.writable import own_file

EXPORT_MODE = 0o600  # a user's export file: its owner's alone (private messages)
KICK_TIMEOUT = 10.0  # seconds the running server has to end a deleted user's sessions


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def cmd_purge(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.audit import cli_actor
    from chatd.command_store import command_store  # (its refusals are said by chatd.cli)
    from chatd.retention import purge_blocking
    from chatd.store import now_ms
    from chatd.store.retention import plan

    days = config.history.retention_days
    store = command_store(config, create=False, read_only=args.dry_run)  # (none there: nothing to purge)
    with store.db.connection_context():
        channels = plan(store, days, now_ms())
    if not args.dry_run:
        purge_blocking(store, channels, cli_actor())
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "channels": [c.shown() for c in channels],
                          "messages": sum(c.count for c in channels)}, indent=2), file=stdout)
        return ExitStatus.OK
    if not channels:
        print("nothing to purge: messages are kept for ever (history.retention_days is 0 and no room has "
              "days of its own)", file=stdout)
        return ExitStatus.OK
    for c in channels:
        where = f"room {c.room}" if c.room is not None else "private messages"
        kept = c.oldest_kept
        oldest = "none kept" if kept is None else f"oldest kept #{kept[0]} of {_when(kept[1])}"
        print(f"{where}: {counted(c.count, 'message')} older than {counted(c.days, 'day')}; {oldest}", file=stdout)
    total = sum(c.count for c in channels)
    print(f"{'would remove' if args.dry_run else 'removed'} {counted(total, 'message')}", file=stdout)
    return ExitStatus.OK


def cmd_user(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.command_store import command_store  # (its refusals are said by chatd.cli)
    from chatd.store.userdata import find_users

    if args.action == "export" and args.output not in (None, "-"):
        own = own_file(config, os.path.abspath(args.output))  # before the database is opened (own_file says why)
        if own:
            raise CommandRefused(f"{os.path.abspath(args.output)} is {own}; give another path")
    store = command_store(config, create=False)  # (none there: no user to export or delete)
    with store.db.connection_context():
        found = find_users(store, args.user)
    if not found:
        raise CommandRefused(f"there is no user {args.user!r}")
    if len(found) > 1:
        raise CommandRefused("\n".join([f"{len(found)} users are called {args.user!r}; give an id:",
                                         *(f"  {uid}  {name}  ({kind})" for uid, name, kind in found)]))
    user_id, name, kind = found[0]
    if args.action == "export":
        return _export(store, user_id, args.output, stdout, stderr)
    return _delete(store, config, (user_id, name, kind), args, stdout)


def _export(store, user_id: int, output: str | None, stdout: TextIO, stderr: TextIO) -> int:
    """The user's data as JSON to standard output, or to the file ``output`` (checked by cmd_user not
    to be one of chatd's own) written whole or not at all (``chatd.atomic``), readable by its owner
    only: it holds the user's private messages."""
    if output in (None, "-"):
        return _write_export(store, user_id, stdout)
    path = os.path.abspath(output)
    try:
        if os.path.exists(path) and not os.path.isfile(path):  # a device or a pipe (/dev/null): written in place
            with open(path, "w", encoding="utf-8") as out:
                _write_export(store, user_id, out)
        else:
            with replaced(path) as partial, open(partial, "x", encoding="utf-8", opener=_private) as out:
                _write_export(store, user_id, out)
    except OSError as e:
        raise CommandRefused(f"cannot write {path}: {e.strerror or e}") from None
    print(f"exported user {user_id} to {path}", file=stderr)
    return ExitStatus.OK


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, EXPORT_MODE)


def _write_export(store, user_id: int, out: TextIO) -> int:
    from chatd.audit import cli_actor, entry
    from chatd.store.userdata import export
    from chatd.usercare import target

    store.audit.add_now(entry(cli_actor(), "user.export", target(user_id)))
    with store.db.connection_context():
        for piece in export(store, user_id):
            out.write(piece)
    return ExitStatus.OK


def _delete(store, config: Config, user: tuple[int, str, str], args: argparse.Namespace, stdout: TextIO) -> int:
    from chatd.audit import cli_actor
    from chatd.commands import ask_server
    from chatd.control import ControlUnavailable
    from chatd.session import BOT
    from chatd.usercare import erase_blocking, tombstones_blocking

    user_id, name, kind = user
    if kind == BOT:
        raise CommandRefused(f"user {user_id} is a bot: delete it through the HTTP API (DELETE /bots)")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandRefused("not confirmed: pass --yes (nothing was deleted)", ExitStatus.USAGE)
        answer = input(f"Delete user {user_id} ({name}, {kind}): their messages become tombstones and nothing "
                       "identifying stays. This cannot be undone. Type the id to confirm: ")
        if answer.strip() != str(user_id):
            raise CommandRefused("not confirmed (nothing was deleted)")
    if not erase_blocking(store, user_id, cli_actor(), args.reason or ""):
        raise CommandRefused(f"there is no user {user_id}")
    # The running server does the rest, so that open pages see the messages and reactions go
    # (chatd.usercare.UserCare.erased); with none, this command does it (no page is open).
    try:
        reply = ask_server(config, "user_deleted", KICK_TIMEOUT, user=user_id)
    except ControlUnavailable:
        reply = {"error": None}
    if reply.get("ok") and reply.get("tombstones") is None:
        print(f"deleted user {user_id}: its sessions ended; the server goes on making its messages tombstones "
              "(open pages see them go)", file=stdout)
        return ExitStatus.OK
    if reply.get("ok"):
        made, sessions = reply["tombstones"], "its sessions ended"
    else:
        made = tombstones_blocking(store, user_id)
        sessions = (f"the server said: {reply['error']}" if reply["error"]
                    else "no server answered (none runs: no session to end)")
    print(f"deleted user {user_id}: {counted(made, 'message')} made tombstones; {sessions}", file=stdout)
    return ExitStatus.OK


COMMANDS = {"purge": cmd_purge, "user": cmd_user}
