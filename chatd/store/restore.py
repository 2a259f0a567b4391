"""``chatd restore``: put a backup in the database's place, as a new epoch.

The server must not run: the caller holds the pidfile lock. In order:

1. Copy the backup (with a ``-wal`` beside it, if there is one) to
   ``<database>.restoring`` in the database's directory, never writing
   beside the backup; check that the copy is a sound chatd database no
   newer than this chatd.
2. Read what the current database has handed out — its highest user,
   sign-in and message ids (AUTOINCREMENT sequences included), its epoch,
   and its sign-outs — through SQLite, which includes the WAL; then
   checkpoint it, so that its main file holds every commit and its ``-wal``
   can go without losing one. Migrate the copy to this chatd's schema.
3. In the copy: what the replaced database revoked and sanctioned
   (``chatd.store.carryover``: revoked keys, removed admin accounts, bans...;
   every admin session ends), a new epoch (``Epoch.restored``), the sequences
   raised past every id the replaced database handed out, the replaced
   database's sign-outs (a restore must not bring a signed-out token back),
   and the record of this restore (``META_RESTORED``, with what was kept).
   Then make it one self-contained file (rollback journal, no ``-wal``) and
   fsync it.
4. Remove the database's ``-wal``, ``-shm`` and ``-journal``, rename the
   copy over it, fsync the directory.

A crash at any point leaves one usable database and never a mix: up to
the rename, the old one (complete without its ``-wal`` since step 2);
from it on, the new one. A leftover copy is removed by the next restore.

    record = restore("/var/lib/chatd/chatd.db", "/var/backups/chatd/monday.db")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from peewee import DatabaseError as PeeweeDatabaseError
from peewee import SqliteDatabase

from chatd.dblock import SIDE_FILES, same_path
from chatd.epoch import META_EPOCH, META_RESTORED, Epoch
from chatd.store import sqlitefile
from chatd.store.carryover import carry_over
from chatd.store.migrations import SCHEMA_VERSION, SchemaError, migrate
from chatd.store.schema import MODELS

TEMP_SUFFIX = ".restoring"
CHATD_TABLES = {"meta", "user", "room", "message"}
BUSY_TIMEOUT = 5.0  # seconds to wait for another process that holds the database (as chatd's busy_timeout)


class RestoreError(Exception):
    """The restore was refused or failed before the database was replaced; str() says why."""


@dataclass
class Replaced:
    """What the database being replaced had handed out."""

    epoch: Epoch | None  # None: unknown (no database, one from before epochs, or unreadable)
    users: int  # highest user id
    messages: int  # highest message id
    problem: str | None = None  # why it could not be read
    sign_ins: int = 0  # highest sign-in id
    revoked: list[tuple] = field(default_factory=list)  # signed-out sign-ins: (id, user, created, legacy, revoked)
    generations: list[tuple[int, int]] = field(default_factory=list)  # (user, token generation) above 0


def restore(database: str, backup: str) -> dict[str, Any]:
    """Replace ``database`` by a copy of ``backup`` with a new epoch; → the record of
    the restore (also stored in the new database's meta table: ``kept`` counts what the replaced
    database's revocations and sanctions changed, ``chatd.store.carryover.KEPT``), with ``warnings``.
    RestoreError (or OSError) if it refused or failed: the database is then unchanged."""
    if any(same_path(backup, database + end) for end in ("", *SIDE_FILES)):
        raise RestoreError(f"{backup} is the database itself, not a backup of it; give a backup file")
    temp = database + TEMP_SUFFIX
    _remove(temp)  # a copy an interrupted restore left
    try:
        _copy(backup, temp)
        check_backup(temp, backup)
        replaced = read_replaced(database)
        _migrate(temp)
        # Missing or unreadable: nothing to keep (the warning below says so).
        kept, own = _carry_over(temp, database) if replaced.problem is None else ({}, True)
        record = _renew(temp, os.path.abspath(backup), replaced, database, kept)
        _install(temp, database)
    except BaseException:
        _remove(temp)
        raise
    record["warnings"] = [replaced.problem] if replaced.problem else []
    if not own:
        record["warnings"].append(f"{database} was not this backup's own database (another token secret, an "
                                  f"unrelated epoch): of what it revoked and sanctioned, only revoked API keys, "
                                  f"address bans and reserved names were kept")
    return record


def read_replaced(database: str) -> Replaced:
    """Step 2: the highest ids and the epoch of the current database, checkpointed."""
    if not os.path.exists(database):
        return Replaced(None, 0, 0, f"there was no database at {database}, so the ids it handed out are unknown")
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=BUSY_TIMEOUT)) as db:
            meta = _meta(db)
            epoch = Epoch.from_meta(meta) if META_EPOCH in meta else None
            users, messages, sign_ins = (_high_water(db, t) for t in ("user", "message", "sign_in"))
            sign_outs = _sign_outs(db)
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise RestoreError(f"{database} is in use by another process; stop it first")
    except (sqlite3.Error, ValueError) as e:
        if getattr(e, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise RestoreError(f"{database} is in use by another process ({e}); stop it first") from None
        return Replaced(None, 0, 0, f"the current database could not be read ({e}), so the ids it handed out "
                                    f"after the backup are unknown")
    return Replaced(epoch, users, messages, None, sign_ins, *sign_outs)


def check_backup(path: str, shown_as: str) -> int:
    """Step 1: that ``path`` is a sound chatd database this chatd can open; → its schema
    version. RestoreError naming ``shown_as`` otherwise."""
    try:  # (read: the backup, or a database migrate-store copies, and their -wal, -shm left as they are)
        with contextlib.closing(sqlitefile.connect_reading(path)) as db:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            meta = _meta(db) if "meta" in tables else {}
    except sqlite3.DatabaseError as e:
        raise RestoreError(f"{shown_as} is not an SQLite database ({e})") from None
    if verdict != "ok":
        raise RestoreError(f"{shown_as} is damaged: {verdict}")
    missing = CHATD_TABLES - tables
    if missing or not meta.get("schema_version", "").isdigit():
        what = f"no {', '.join(sorted(missing))} table" if missing else "no schema version"
        raise RestoreError(f"{shown_as} is an SQLite database but not a chatd one ({what})")
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise RestoreError(f"{shown_as} has schema version {version}, newer than this chatd understands "
                           f"({SCHEMA_VERSION}): restore it with the chatd that wrote it")
    return version


def _copy(backup: str, temp: str) -> None:
    if os.path.isdir(backup):
        raise RestoreError(f"{backup} is a directory; give the backup file in it")
    if not os.path.isfile(backup):
        raise RestoreError(f"no backup file at {backup}")
    shutil.copyfile(backup, temp)
    with contextlib.suppress(FileNotFoundError):
        if os.path.getsize(backup + "-wal"):  # a copy of a live database: its last commits are in the WAL
            shutil.copyfile(backup + "-wal", temp + "-wal")


def _migrate(temp: str) -> None:
    db = SqliteDatabase(temp, pragmas={"foreign_keys": 1})
    try:
        with db.bind_ctx(MODELS), db.connection_context():
            migrate(db)
    except SchemaError as e:
        raise RestoreError(str(e)) from None


def _carry_over(temp: str, database: str) -> tuple[dict[str, int], bool]:
    """Step 3's first part (``chatd.store.carryover``): → (what was kept, whether the replaced
    database was the backup's own). RestoreError if the replaced database, readable in step 2,
    fails now: installing the backup without its revocations would let back in what they shut
    out, so the operator decides (moving it aside restores without them)."""
    try:
        return carry_over(temp, database)
    except (sqlite3.DatabaseError, PeeweeDatabaseError) as e:
        raise RestoreError(f"what {database} revoked and sanctioned since the backup could not be read ({e}); "
                           f"to restore without keeping it, move {database} aside first") from None


def _renew(temp: str, backup: str, replaced: Replaced, database: str, kept: dict[str, int]) -> dict[str, Any]:
    """Step 3, after ``carry_over``: the new epoch, the raised sequences, the record (with
    ``kept``); the file made whole."""
    with contextlib.closing(sqlite3.connect(temp)) as db:
        backup_epoch = Epoch.from_meta(_meta(db))
        users, messages = _high_water(db, "user"), _high_water(db, "message")
        epoch = backup_epoch.restored(users, messages, replaced.messages, replaced.epoch)
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "from": backup,
                  "backup_epoch": backup_epoch.id, "replaced_epoch": replaced.epoch and replaced.epoch.id,
                  "epoch": epoch.id, "kept": kept}
        with db:  # one transaction
            rows = {**epoch.to_meta(), META_RESTORED: json.dumps(record)}
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows.items())
            _raise_sequence(db, "user", max(users, replaced.users))
            _raise_sequence(db, "message", max(messages, replaced.messages))
            _raise_sequence(db, "sign_in", max(_high_water(db, "sign_in"), replaced.sign_ins))
            _keep_sign_outs(db, replaced)
        db.execute("PRAGMA journal_mode = DELETE")  # one file: nothing beside it to lose in the rename
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(database)
        os.chmod(temp, st.st_mode & 0o777)
        if os.geteuid() == 0:  # root restoring for the chatd user: the file stays the chatd user's
            os.chown(temp, st.st_uid, st.st_gid)
    _fsync(temp)
    return record


def _install(temp: str, database: str) -> None:
    """Step 4. The side files go first: the old database is whole without them
    (step 2), and a -wal left beside the new one would be replayed into it."""
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(database + suffix)
    os.replace(temp, database)
    _fsync(os.path.dirname(os.path.abspath(database)))


def _meta(db: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError:  # no meta table
        return {}


def _high_water(db: sqlite3.Connection, table: str) -> int:
    """The highest id ``table`` has handed out: its AUTOINCREMENT sequence or its
    highest row, whichever is higher (a database of schema version 1 has no
    sequence for users)."""
    highest = 0
    for sql in (f'SELECT max(id) FROM "{table}"', "SELECT max(seq) FROM sqlite_sequence WHERE name = ?"):
        try:
            row = db.execute(sql, (table,) if "?" in sql else ()).fetchone()
        except sqlite3.OperationalError:  # no such table
            continue
        highest = max(highest, row[0] or 0)
    return highest


def _sign_outs(db: sqlite3.Connection) -> tuple[list[tuple], list[tuple[int, int]]]:
    """The signed-out sign-ins and the raised token generations of a database
    (none in one from before sign-ins): see ``Replaced``."""
    try:
        revoked = db.execute("SELECT id, user_id, created, legacy, revoked FROM sign_in "
                             "WHERE revoked IS NOT NULL").fetchall()
        generations = db.execute("SELECT id, token_generation FROM user WHERE token_generation > 0").fetchall()
    except sqlite3.OperationalError:  # no such table or column
        return [], []
    return revoked, generations


def _keep_sign_outs(db: sqlite3.Connection, replaced: Replaced) -> None:
    """What the replaced database's users signed out stays signed out, for the
    users the backup has: a token refused before the restore is refused after."""
    for sign_in_id, user_id, created, legacy, revoked in replaced.revoked:
        db.execute("INSERT INTO sign_in (id, user_id, created, legacy, revoked) SELECT ?, ?, ?, ?, ? "
                   "WHERE EXISTS (SELECT 1 FROM user WHERE id = ?) ON CONFLICT DO NOTHING",
                   (sign_in_id, user_id, created, legacy, revoked, user_id))
        db.execute("UPDATE sign_in SET revoked = coalesce(revoked, ?) WHERE id = ? OR legacy = ?",
                   (revoked, sign_in_id, legacy))
    db.executemany("UPDATE user SET token_generation = max(token_generation, ?) WHERE id = ?",
                   [(generation, user_id) for user_id, generation in replaced.generations])


def _raise_sequence(db: sqlite3.Connection, table: str, floor: int) -> None:
    """Make ``table``'s next AUTOINCREMENT id larger than ``floor`` (sqlite.org/autoinc.html:
    sqlite_sequence may be changed with ordinary statements)."""
    if floor <= 0:
        return  # no id handed out: nothing to stay above
    if db.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (floor, table)).rowcount == 0:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, floor))


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: str) -> None:
    for name in (path, *(path + s for s in SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
