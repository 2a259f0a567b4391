"""``chatd apikey create|list|revoke``: the HTTP API's keys (``chatd.auth.apikeys``).

They work on the configured database itself (SQLite or PostgreSQL), whether a server
runs or not: a running server reads a key's row on every request, so a new key works
and a revoked one is refused at once, on every node and worker.

    chatd apikey create shop --scope publish --scope read      # prints the key, once
    chatd apikey create helpdesk-bot --scope publish --user 42 # bound: acts as user 42 only
    chatd apikey list [--json]
    chatd apikey revoke shop                                   # by name or public id
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TextIO

from chatd.auth.apikeys import SCOPES, name_problem, new_key, scope_problem
from chatd.config import Config
from chatd.refusal import CommandRefused
from chatd.status import ExitStatus


def _when(ms: int | None) -> str:
    return "-" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def cmd_apikey(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.command_store import command_store  # (its refusals are said by chatd.cli)
    from chatd.store import NoSuchUser, UserDeleted
    from chatd.store.apikeys import NameTaken

    if args.action == "create":
        problem = (name_problem(args.name) and f"the name {args.name!r} {name_problem(args.name)}"
                   or scope_problem(args.scope or []))
        if problem:
            raise CommandRefused(problem, ExitStatus.USAGE)
    try:
        # (a key may be made before the first start; a list changes nothing)
        keys = command_store(config, create=args.action == "create", read_only=args.action == "list").api_keys
        if args.action == "create":
            key, public_id, digest = new_key()
            scopes = [s for s in SCOPES if s in args.scope]

            def show() -> None:  # the one time the key is seen: an output that cannot take it keeps no key
                print(key, file=stdout)
                stdout.flush()

            keys.create(args.name, public_id, digest, scopes, args.user, show)
            print(f"chatd: created API key {args.name!r} (id {public_id}, scopes {' '.join(scopes)}"
                  f"{f', acting as user {args.user}' if args.user else ''}). This is the only time the key is "
                  "shown: store it now.", file=stderr)
        elif args.action == "list":
            _list(keys.list(), args.json, stdout)
        else:
            row = keys.revoke(args.which)
            if row is None:
                raise CommandRefused(f"no API key is named {args.which!r} or has that id")
            print(f"revoked API key {row.name!r} (id {row.public_id}) at {_when(row.revoked)}", file=stdout)
    except NameTaken:
        raise CommandRefused(f"a key named {args.name!r} exists (revoked keys keep their names)") from None
    except NoSuchUser:
        raise CommandRefused(f"there is no user {args.user}") from None
    except UserDeleted:
        raise CommandRefused(f"user {args.user} was deleted: no key acts as it") from None
    return ExitStatus.OK


def _list(rows: list, as_json: bool, stdout: TextIO) -> None:
    if as_json:
        print(json.dumps([{"name": r.name, "id": r.public_id, "scopes": list(r.scopes), "user": r.user_id,
                           "created": r.created, "last_used": r.last_used, "revoked": r.revoked} for r in rows],
                         indent=2), file=stdout)
        return
    table = [("NAME", "ID", "SCOPES", "USER", "CREATED", "LAST USED", "REVOKED")]
    table += [(r.name, r.public_id, ",".join(r.scopes), r.user_id or "-", _when(r.created), _when(r.last_used),
               _when(r.revoked)) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=stdout)
    print(f"{len(rows)} key{'s' if len(rows) != 1 else ''}", file=stdout)


COMMANDS = {"apikey": cmd_apikey}
