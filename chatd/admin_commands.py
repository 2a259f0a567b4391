"""``chatd admin create|list|remove|passwd``: the admin page's accounts (``chatd.auth.admins``).

They work on the configured database itself (SQLite or PostgreSQL), whether a server
runs or not: a running server reads the account at each login and the session on
every request, so a removed account or a changed password ends that account's
sessions at once, on every node and worker. Each change writes an audit row
(``admin.create``, ``admin.remove``, ``admin.passwd``) naming the operating-system user.

    chatd admin create root                   # the password is asked twice (not echoed)
    printf '%s\n' "$PW" | chatd admin create ci --password-stdin
    chatd admin list [--json]
    chatd admin passwd root                   # a new password; its sessions end
    chatd admin remove root                   # gone; its sessions end
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from typing import TextIO

from chatd.audit import cli_actor, entry
from chatd.auth.admins import account_key, hash_password, name_problem, password_problem
from chatd.config import Config
from chatd.refusal import CommandRefused
from chatd.status import ExitStatus


def _when(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def new_password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or asked twice on the terminal. Refused if bad."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            password = getpass.getpass("New password: ")
            again = getpass.getpass("The same again: ")
        except (EOFError, KeyboardInterrupt):
            raise CommandRefused("no password given") from None
        if password != again:
            raise CommandRefused("the two passwords differ")
    problem = password_problem(password)
    if problem:
        raise CommandRefused(f"the password {problem}")
    return password


def cmd_admin(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.command_store import command_store  # (its refusals are said by chatd.cli)
    from chatd.store.admins import NameTaken

    try:  # (its refusals are said by chatd.cli: CommandRefused)
        if args.action == "create" and name_problem(args.name):
            raise CommandRefused(f"the name {args.name!r} {name_problem(args.name)}")
        password = new_password(args.password_stdin) if args.action in ("create", "passwd") else ""
        # (an account may be made before the first start; a list changes nothing)
        store = command_store(config, create=args.action == "create", read_only=args.action == "list")
        admins = store.admins
        if args.action == "create":
            admins.create(args.name, account_key(args.name), hash_password(password))
            store.audit.add_now(entry(cli_actor(), "admin.create", f"admin:{args.name}"))
            print(f"created admin account {args.name!r}: sign in at /admin", file=stdout)
        elif args.action == "list":
            _list(admins.list(), args.json, stdout)
        else:
            change = admins.remove if args.action == "remove" else admins.set_password
            row = change(account_key(args.name), *([hash_password(password)] if args.action == "passwd" else []))
            if row is None:
                raise CommandRefused(f"there is no admin account {args.name!r}")
            store.audit.add_now(entry(cli_actor(), f"admin.{args.action}", f"admin:{row.name}"))
            done = "removed" if args.action == "remove" else "changed the password of"
            print(f"{done} admin account {row.name!r}; {row.sessions} session(s) ended", file=stdout)
    except NameTaken as e:
        raise CommandRefused(taken(args.name, str(e))) from None
    return ExitStatus.OK


def taken(name: str, existing: str) -> str:
    """Why the account ``name`` cannot be made while the account ``existing`` exists."""
    if account_key(name) == account_key(existing):
        return f"an admin account named {existing!r} exists"
    return f"the name {name!r} looks like the admin account {existing!r}, which exists: choose another"


def _list(rows: list, as_json: bool, stdout: TextIO) -> None:
    if as_json:
        print(json.dumps([{"name": r.name, "created": r.created, "password_changed": r.changed,
                           "sessions": r.sessions} for r in rows], indent=2), file=stdout)
        return
    table = [("NAME", "CREATED", "PASSWORD CHANGED", "SESSIONS")]
    table += [(r.name, _when(r.created), _when(r.changed), r.sessions) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=stdout)
    print(f"{len(rows)} account{'s' if len(rows) != 1 else ''}", file=stdout)


COMMANDS = {"admin": cmd_admin}
