"""The ``chatd`` commands that copy the database: ``backup`` (the running
server copies it, or this process when none runs), ``restore`` (a backup
replaces the database, with the server stopped) and ``migrate-store`` (an
SQLite database copied into an empty PostgreSQL one, with the server
stopped). A PostgreSQL store is backed up and restored with pg_dump and
pg_restore: backup and restore say so.

    status = cmd_backup(args, config, stdout, stderr)   # args from chatd.cli's parser
    COMMANDS["restore"](args, config, stdout, stderr)

``chatd.cli`` parses the command line and calls these; they print and
return an ``ExitStatus``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import stat
from typing import TextIO

from chatd.atomic import replaced
from chatd.commands import ask_server, size_text, unanswered
from chatd.config import Config
from chatd.control import ControlUnavailable
from chatd.daemon import AlreadyRunning, PidFile, running_pid
from chatd.dblock import DatabaseHeld, DatabaseLock, Holder, held_message
from chatd.dsn import (
    DATABASE_PASSWORD_ENV,
    POSTGRES_SCHEMES,
    is_postgres,
    password_from,
    redacted,
    url_problem,
    with_password,
)
from chatd.status import ExitStatus
from chatd.writable import own_file

BACKUP_WAIT = 3600  # seconds a backup by the running server may take


def cmd_backup(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    if is_postgres(config.database):
        return _postgres_refused("backup", stderr)
    target = os.path.abspath(args.path)
    problem = backup_target_problem(config, target)
    if problem:
        print(f"chatd: backup failed: {problem}", file=stderr)
        return ExitStatus.ERROR
    pid = running_pid(config.pidfile)
    if pid is not None:
        try:
            reply = ask_server(config, "backup", BACKUP_WAIT, path=target)
        except ControlUnavailable as e:
            return unanswered(pid, e, stderr)
        if not reply.get("ok"):
            print(f"chatd: backup failed: {reply.get('error')}", file=stderr)
            return ExitStatus.ERROR
        size = reply["bytes"]
    else:
        from chatd.store import DatabaseRefused  # peewee loads only for this command
        from chatd.store.health import database_refusal

        try:
            size = offline_backup(config.database, target)
        except DatabaseRefused as e:  # none there, or none of chatd's: no copy of it is a backup
            print(f"chatd: backup failed: {database_refusal(config.database, e)}", file=stderr)
            return ExitStatus.ERROR
        except (OSError, sqlite3.Error) as e:
            print(f"chatd: backup failed: {e}", file=stderr)
            return ExitStatus.ERROR
    print(f"backed up {config.database} to {target} ({size_text(size)})", file=stdout)
    return ExitStatus.OK


def backup_target_problem(config: Config, target: str) -> str | None:
    """Why ``target`` (absolute) cannot take a backup of ``config``'s database, or None. A backup
    replaces only a regular file (an older backup), and none of chatd's own."""
    own = own_file(config, target)
    if own:
        return f"{target} is {own}; give another path"
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(target).st_mode):
            return f"{target} is there and is not a regular file; chatd replaces only a file (an older backup)"
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        return f"the directory {folder} does not exist"
    if not os.access(folder, os.W_OK):  # also a read-only file system (EROFS), even for root
        return f"cannot write in the directory {folder}"
    return None


def offline_backup(database: str, target: str) -> int:
    """Copy a database no server has open, the copy read whole, the database's files left as they
    were (``sqlitefile.connect_reading``); → bytes written. DatabaseRefused
    (NoDatabase) if there is no chatd database at ``database`` (``chatd.store.sqlitefile``), or
    if the copy is damaged (then no file is left at ``target``)."""
    from chatd.store import sqlitefile

    sqlitefile.check(database, create=False)
    with replaced(target) as partial, contextlib.closing(sqlitefile.connect_reading(database)) as source:
        sqlitefile.copy_whole(source, partial)
    return os.path.getsize(target)


def _lock_stopped(config: Config, stderr: TextIO, then: str,
                  command: str) -> tuple[contextlib.ExitStack | None, int | None]:
    """Take the pidfile lock and the database's (``chatd.dblock``, exclusive), which
    prove that no server runs on either and keep one from starting meanwhile;
    → (what to release with ``_release``, None), or (None, exit status) after
    saying why not. ``then``: what to do once stopped, ``command``: this command's name."""
    held = contextlib.ExitStack()
    pidfile = PidFile(config.pidfile)
    try:
        pidfile.acquire()
    except AlreadyRunning as e:
        print(f"chatd: chatd is running (pid {e.pid}): stop it first (`chatd stop`), then {then}", file=stderr)
        return None, ExitStatus.ALREADY_RUNNING
    except FileNotFoundError:
        pass  # its directory is gone (systemd removes /run/chatd on stop): no server of this config runs
    except OSError as e:
        print(f"chatd: cannot lock pidfile {config.pidfile}: {e.strerror or e}", file=stderr)
        return None, ExitStatus.ERROR
    else:
        held.callback(pidfile.abandon)  # as it was: removed if this command made it
    # A server started with another pidfile (the config's changed since) still serves the database.
    dblock = DatabaseLock(config.database, shared=False)
    try:
        dblock.acquire(Holder(pid=os.getpid(), role=command), create=False)  # no database: nothing to hold
    except DatabaseHeld as e:
        print(f"chatd: {held_message(e)}: stop it first, then {then}", file=stderr)
        held.close()
        return None, ExitStatus.ALREADY_RUNNING
    except FileNotFoundError:
        pass  # the database's directory is gone: nothing serves it (the command says what is missing)
    except OSError as e:
        print(f"chatd: cannot lock database {config.database}: {e.strerror or e}", file=stderr)
        held.close()
        return None, ExitStatus.ERROR
    else:
        held.callback(dblock.abandon)  # its record taken out again: the disk as it was found
    return held, None


def _release(held: contextlib.ExitStack | None) -> None:
    if held:
        held.close()


def cmd_restore(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    if is_postgres(config.database):
        return _postgres_refused("restore", stderr)
    from chatd.store import sqlitefile
    from chatd.store.carryover import kept_text  # peewee loads only for this command
    from chatd.store.health import database_refusal
    from chatd.store.restore import RestoreError, restore
    from chatd.store.rows import DatabaseRefused, NotChatd

    held, refused = _lock_stopped(config, stderr, "restore", "restore")
    if refused is not None:
        return refused
    try:
        sqlitefile.check(config.database, create=True)  # (a damaged database, or a newer one, is replaced)
    except NotChatd as e:  # never chatd's: the backup does not take its place
        _release(held)
        print(f"chatd: restore: {database_refusal(config.database, e)}", file=stderr)
        return ExitStatus.ERROR
    except DatabaseRefused:
        pass
    try:
        record = restore(config.database, os.path.abspath(args.backup))
    except (RestoreError, OSError, sqlite3.Error) as e:
        print(f"chatd: restore failed: {e}\n{config.database} was not replaced", file=stderr)
        return ExitStatus.ERROR
    finally:
        _release(held)
    for warning in record["warnings"]:
        print(f"chatd: warning: {warning}", file=stderr)
    print(f"restored {record['from']} to {config.database}\n"
          f"  epoch {record['epoch']} (backup's {record['backup_epoch']}, "
          f"replaced {record['replaced_epoch'] or 'unknown'})", file=stdout)
    if record["kept"]:
        print(f"  kept from the replaced database: {kept_text(record['kept'])}", file=stdout)
    if record["kept"].get("users"):
        print("  the messages of the users deleted after the backup become tombstones when chatd starts", file=stdout)
    return ExitStatus.OK


def cmd_migrate_store(args: argparse.Namespace, config: Config, stdout: TextIO, stderr: TextIO) -> int:
    from chatd.store.transfer import TransferError, transfer  # psycopg and peewee load only for this command

    problem = url_problem(args.url, POSTGRES_SCHEMES)
    if problem:  # before anything is locked or read
        print(f"chatd: migrate-store copies into a PostgreSQL database: the target {problem}", file=stderr)
        return ExitStatus.USAGE
    if is_postgres(config.database):
        print(f"chatd: migrate-store copies the configured SQLite database, but `database` is already "
              f"{redacted(config.database)}", file=stderr)
        return ExitStatus.ERROR
    from chatd.store import DatabaseRefused, sqlitefile
    from chatd.store.health import database_refusal

    held, refused = _lock_stopped(config, stderr, "migrate the store", "migrate-store")
    if refused is not None:
        return refused
    try:
        sqlitefile.check(config.database, create=False)  # none there, or none of chatd's: nothing to copy
    except DatabaseRefused as e:
        _release(held)
        print(f"chatd: migrate-store: {database_refusal(config.database, e)}", file=stderr)
        return ExitStatus.ERROR
    try:
        # Not database_password_file: the config's database is an SQLite file, with which that key is refused.
        password = password_from("", DATABASE_PASSWORD_ENV)
        counts = transfer(config.database, with_password(args.url, password))
    except (TransferError, OSError, ValueError) as e:
        print(f"chatd: migrate-store failed: {e}\nnothing was written to {redacted(args.url)}", file=stderr)
        return ExitStatus.ERROR
    finally:
        _release(held)
    print(f"copied {config.database} to {redacted(args.url)}", file=stdout)
    width = max(map(len, TRANSFER_LABELS.values()))
    for table, count in counts.items():  # a table without a label (a bug) is still listed, by its name
        print(f"  {TRANSFER_LABELS.get(table, table):<{width}} {count}", file=stdout)
    print(f"The token secret and the epoch came along: tokens and clients' positions stay valid. Stop using "
          f"{config.database} (keep it as a backup), and put this line in {config.source or 'chatd.yaml'}:\n"
          f"database: {redacted(args.url)}", file=stdout)
    return ExitStatus.OK


# Every table migrate-store copies (chatd.store.transfer.TABLES and meta), as its summary names it, in its order.
TRANSFER_LABELS = {
    "meta": "meta rows", "user": "users", "sign_in": "sign-ins", "room": "rooms", "room_key": "room keys",
    "room_member": "room members", "message": "messages", "api_key": "API keys", "api_idempotency": "idempotency keys",
    "bot": "bots", "bot_room": "bot rooms", "event": "notifications", "audit_log": "audit log rows",
    "admin_account": "admin accounts", "admin_account_key": "admin account keys", "admin_session": "admin sessions",
    "mute": "mutes", "ban": "bans", "traffic": "traffic minutes", "reserved_name": "reserved names",
    "upload": "uploads", "upload_chunk": "upload chunks", "reaction": "reactions", "counter": "counters",
    "room_read": "read states", "conversation": "conversations", "name_hold": "name holds",
}


def _postgres_refused(command: str, stderr: TextIO) -> int:
    from chatd.store.postgres import BACKUP_ADVICE, RESTORE_ADVICE

    print(f"chatd: {command}: {BACKUP_ADVICE if command == 'backup' else RESTORE_ADVICE}", file=stderr)
    return ExitStatus.ERROR


COMMANDS = {"backup": cmd_backup, "restore": cmd_restore, "migrate-store": cmd_migrate_store}
