"""What is at the configured SQLite ``database`` path, asked before chatd's own connection
touches it: a chatd database, none yet, or a file chatd must leave as it is.

    check("/var/lib/chatd/chatd.db", create=True)    # None, or DatabaseRefused(why, what to do)
    check("/var/lib/chatd/chatd.db", create=False)   # also NoDatabase when there is none yet

chatd's connection sets ``journal_mode=wal``, which rewrites the file's header, and then
makes its tables: opened blind, another application's SQLite file would become half
chatd's. So this looks first, reading only (``connect_reading``, by which every command
that only reads opens the database: it changes no file, nor what lies beside it):

- nothing there, a zero-length file, an SQLite file without tables: no chatd database
  yet. One is made there by what makes one (``create``: ``chatd start``, ``apikey create``,
  ``admin create``: SQLite makes a database of an empty file, so ``touch``, ``chown`` and
  then a first start works); any other command makes nothing (``NoDatabase``).
- a chatd database of a schema newer than this chatd: ``DatabaseRefused``, as the store's
  migration would (``chatd.store.migrations.migrate``), but before anything is made.
- a directory, a FIFO, socket or device, a file that is not SQLite's (its first 16 bytes are not SQLite's header,
  sqlite.org/fileformat.html#magic_header_string), one SQLite cannot read (damaged), one
  holding tables but no chatd ``meta`` table (another application's): ``DatabaseRefused``,
  the file untouched; ``NotChatd`` for those that are none of chatd's at all (not the
  damaged one: ``chatd restore`` replaces that, and only that).

A file SQLite cannot open at all (no permission, locked past the busy timeout) is left to
the store's own connection, whose error is an outage (``DatabaseUnreachable``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import struct
import urllib.parse
from typing import Any

from chatd.store.migrations import SCHEMA_VERSION, newer_schema
from chatd.store.rows import DatabaseRefused, NoDatabase, NotChatd

MAGIC = b"SQLite format 3\x00"  # the first bytes of every SQLite database file
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # a -wal file's first bytes (either checksum order)
# A -wal's header (sqlite.org/fileformat.html#wal_file_format): 32 bytes, of them the page size (bytes 8-11)
# and the two salts (16-23); and each frame's header: 24 bytes, of them the salts again (8-15), as a frame
# written since the log last started over has them.
WAL_HEADER = struct.Struct(">8xI4x8s8x")
FRAME_HEADER = struct.Struct(">8x8s8x")
SHOWN_BYTES = 16  # bytes of a foreign file's start quoted in the refusal
SHOWN_TABLES = 3  # tables of another application's database named in the refusal
# A database up to this size is read whole (PRAGMA quick_check, sqlite.org/pragma.html#pragma_quick_check)
# before any command uses it, so that damage past its first page refuses every command alike, in
# well under a second; a larger one is left to what its use finds (a whole read would cost too much).
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024
LEAVE = "chatd leaves it as it is: set `database` to another path, or move the file away"
# The kinds of file no database can be, as the refusal names them (stat.S_IS*).
SPECIAL_FILES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"))
MAKE = "`chatd start` makes one there, or set `database` to the database's path"


def check(path: str, create: bool) -> None:
    """DatabaseRefused if ``path`` holds something that is not a chatd database; NoDatabase
    if it holds no database and not ``create``; None when chatd may open it."""
    if os.path.isdir(path):
        raise NotChatd(f"it is a directory; {LEAVE}")
    kind = _special(path)
    if kind:  # (opening a FIFO waits for a writer: no command would ever answer)
        raise NotChatd(f"it is {kind}, not a file; {LEAVE}")
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except FileNotFoundError:
        return _none("there is no database there", create)
    except OSError:
        return  # (unreadable: the store's connection says why)
    if head and head != MAGIC:
        raise NotChatd(f"it is not an SQLite database (it begins with {head[:SHOWN_BYTES]!r}); {LEAVE}")
    if not head and not _size(path + "-wal"):  # (a new database's first pages may be in its WAL alone)
        return _none("it is an empty file, no database yet", create)
    found = _tables(path)
    if found is None:
        return
    tables, version = found
    if not tables:
        return _none("it is an SQLite database without tables, no chatd database yet", create)
    if version is not None and version > SCHEMA_VERSION:
        raise DatabaseRefused(newer_schema(version))
    if version is None:
        shown = ", ".join(sorted(tables)[:SHOWN_TABLES]) + (", ..." if len(tables) > SHOWN_TABLES else "")
        raise NotChatd(f"it is another application's SQLite database (tables {shown}; no "
                              f"schema version in a chatd `meta` table); {LEAVE}")


def _special(path: str) -> str | None:
    """What ``path`` is when it is there but neither a regular file nor a directory (a FIFO, a
    socket, a device; a symbolic link is followed), e.g. "a FIFO"; None otherwise."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # (none there, or unreadable: said where it is opened)
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((name for test, name in SPECIAL_FILES if test(mode)), "a special file")


def _none(what: str, create: bool) -> None:
    if not create:
        raise NoDatabase(f"{what}; this command reads or changes a database and makes none: {MAKE}")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def connect_reading(path: str, **options: Any) -> sqlite3.Connection:
    """A connection to the database at ``path`` for a command that only reads it: it sees every
    commit, its -wal's too, and changes no file — neither the database nor what lies beside it
    (``options``: sqlite3.connect's, e.g. ``timeout``). SQLite's own open would, at the last
    connection's close, apply the -wal to the database and delete it (a -wal that is none, or
    another database's: deleted, or its pages written into this one) and rewrite or delete a -shm:
    so it opens read-only, and by what lies beside it (sqlite.org/wal.html#readonly):

    - a -wal and a -shm (a server's, running or killed): with the -shm read-only, locking as
      SQLite does (a running server's commits are seen as they come);
    - a -wal holding a frame, no -shm (nothing has it open): the WAL read into this connection's
      memory (locking_mode exclusive, which no -shm needs), taking no lock (the "unix-none" VFS:
      a read-only file cannot take the exclusive one) — a close then cannot apply it;
    - no -wal, or none SQLite would read anything from (empty, not a WAL, no whole frame of its
      header's salts): the database file alone, as immutable (no lock, no side file)."""
    where = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    wal, shm = os.path.exists(path + "-wal"), os.path.exists(path + "-shm")
    if wal and shm:
        return sqlite3.connect(f"{where}&readonly_shm=1", uri=True, **options)
    if not (wal and _holds_frames(path + "-wal")):
        return sqlite3.connect(f"{where}&immutable=1", uri=True, **options)
    db = sqlite3.connect(f"{where}&vfs=unix-none", uri=True, **options)
    db.execute("PRAGMA locking_mode = exclusive")  # before the first read: the WAL's index in memory
    return db


def _holds_frames(wal: str) -> bool:
    """Whether the file at ``wal`` is a write-ahead log SQLite would read a page from: a WAL header
    (its magic number, sqlite.org/fileformat.html#wal_file_format) followed by a whole frame of the
    header's salts. (SQLite reads nothing of one that is not; it deletes it at the last close.)"""
    try:
        with open(wal, "rb") as f:
            head = f.read(WAL_HEADER.size + FRAME_HEADER.size)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    if len(head) < WAL_HEADER.size + FRAME_HEADER.size or head[:len(WAL_MAGIC[0])] not in WAL_MAGIC:
        return False
    page_size, salts = WAL_HEADER.unpack_from(head)
    frame_salts = FRAME_HEADER.unpack_from(head, WAL_HEADER.size)[0]
    return frame_salts == salts and size >= WAL_HEADER.size + FRAME_HEADER.size + page_size


def copy_whole(source: sqlite3.Connection, target: str) -> None:
    """Copy the database open on ``source`` into the file ``target`` (SQLite's online backup API),
    then read the copy whole (``damage``): it wrote every page anyway, and so damage is found where
    nobody read before (a database past QUICK_CHECK_MAX_BYTES; pages a running server never read).
    DatabaseRefused if the copy is damaged, and then no backup (the caller keeps no file at
    ``target``: ``chatd.atomic.replaced``); sqlite3.Error if the copy fails."""
    with contextlib.closing(sqlite3.connect(target)) as dest:
        source.backup(dest)
        problem = damage(dest)
    if problem:
        raise DatabaseRefused(f"SQLite cannot read it (database disk image is malformed: {problem}): it is "
                              f"damaged, and no copy of it is a backup; `chatd restore` puts a backup in its place")


def damage(db: sqlite3.Connection) -> str | None:
    """The first damage SQLite finds reading all of ``db`` (PRAGMA quick_check), on one line; None
    if none. Reads every page: QUICK_CHECK_MAX_BYTES says when a command may afford it."""
    problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    if problem == "ok":
        return None
    return " ".join(str(problem).replace("*** in database main ***", "").split())


def _version(db: sqlite3.Connection) -> int | None:
    """The schema version the ``meta`` table of ``db`` holds; None if none (another application's)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # a `meta` of other columns
        return None
    return int(row[0]) if row and str(row[0]).isdigit() else None


def _tables(path: str) -> tuple[set[str], int | None] | None:
    """The tables in the database at ``path``, and the chatd schema version it records (every
    chatd database does: ``chatd.store.migrations``), or None; None when SQLite cannot open it
    (the store's own connection then says why). DatabaseRefused if SQLite finds it damaged."""
    try:
        with contextlib.closing(connect_reading(path)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            found = tables, _version(db) if "meta" in tables else None
            if tables and _size(path) <= QUICK_CHECK_MAX_BYTES:
                problem = damage(db)
                if problem:
                    raise sqlite3.DatabaseError(f"database disk image is malformed: {problem}")
            return found
    except sqlite3.OperationalError:
        return None  # no permission, locked, gone meanwhile: the store's connection says why
    except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
        raise DatabaseRefused(f"SQLite cannot read it ({e}): it is damaged; `chatd restore` puts a backup in "
                              f"its place") from None
