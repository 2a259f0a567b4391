"""The lock on an SQLite database: which chatd serves it, whatever its
pidfile says.

    lock = DatabaseLock.for_config(config)   # None for a PostgreSQL database
    lock.acquire(record)                     # DatabaseHeld(holders) if a server has it
    holders("/var/lib/chatd/chatd.db")       # [Holder(pid, pidfile, control_socket, ...)] serving it

A pidfile finds the server of *one config file*; change the config's
``pidfile`` while chatd runs and the next ``chatd stop`` or ``start`` no
longer sees it — and a second server on the same SQLite file, without a
bus, would serve clients blind to the first one's messages. So the serving
process (the single process, or the supervisor with ``workers``) also
holds ``flock(2)`` on the database file itself for as long as it serves
(the file, not its name: a hard link or another path to it is the same lock,
and no file beside it can be deleted to lift it):

- **exclusive** when ``bus`` is "": one process owns the database;
- **shared** when a bus is configured: the nodes of a cluster on one
  machine share the file and tell each other over the bus
  (docs/operations.md, "Scaling out");
- the offline commands that write the database (``restore``,
  ``migrate-store``) take it exclusive for as long as they run.

``flock``, not ``fcntl``: closing *any* descriptor of a file drops the
process's fcntl locks on it, and SQLite opens and closes the database's
files at will; a flock belongs to its open file description, so — as with
the pidfile (``chatd.daemon.PidFile``) — a ``-d`` child and a ``chatd
restart`` successor that inherit the descriptor hold the same lock, and the
kernel drops it when the last holder dies, even by ``kill -9``.

Beside it, ``<database>.lock`` holds one JSON line per holder (its pid,
pidfile, control socket and what it is), so that a refusal can name who
holds it; only a record: the lock holds without it. A holder that finds the
lock free starts the file afresh; one that shares it adds its line. Lines of
processes that no longer run are ignored: a holder that is replaced (a
restart) or dies leaves its line behind until the next fresh start.

A start takes the lock before it knows it will serve (its port, its control
socket are taken after it), so it writes its line only once nothing can
refuse it (``chatd.lifecycle``): a start refused meanwhile is never named.
Until then a refusal says a chatd is starting (``held_message``). A start
that fails lets go as it found things (``abandon``): the records file as it
was, and no database if it made it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from chatd import procfs
from chatd.daemon import LOCK_RETRY_SECONDS, open_made, pid_running, same_file, write_whole
from chatd.dsn import is_postgres

LOCK_SUFFIX = ".lock"  # the holders' record is the database's path plus this
SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's companions of a database file (sqlite.org/tempfiles.html)
SERVER = "server"  # Holder.role of a serving chatd; otherwise the command's name ("restore")
# How the database file is opened to lock it: O_NONBLOCK so that a FIFO put at its place opens
# at once instead of waiting for a writer (chatd.store.sqlitefile refuses it; no effect on a file).
OPEN_DATABASE = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
MAX_RECORDS = 64 * 1024  # bytes of the lock file read: far more than any number of holders writes


@dataclass
class Holder:
    """One process that holds the lock, as it recorded itself."""

    pid: int
    role: str = SERVER  # "server", or the offline command ("restore", "migrate-store")
    pidfile: str = ""
    control_socket: str = ""
    shared: bool = False  # a cluster node (a bus is configured)
    config: str = ""  # the config file it started with: a node of a cluster is found by it


class DatabaseHeld(Exception):
    """The lock is taken; ``holders``: who holds it, as far as they are known
    (empty when the holder recorded nothing yet, or only looked)."""

    def __init__(self, database: str, holders: list[Holder]):
        pids = ", ".join(str(h.pid) for h in holders) or "unknown"
        super().__init__(f"{database} is in use (pid {pids})")
        self.database = database
        self.holders = holders


def lock_path(database: str) -> str:
    return database + LOCK_SUFFIX


def server_record(config: Any, pid: int) -> Holder:
    """The record of a server started with ``config``."""
    return Holder(pid=pid, pidfile=config.pidfile, control_socket=config.control_socket, shared=bool(config.bus),
                  config=str(config.source or ""))


class DatabaseLock:
    """``flock`` on the database file, exclusive or shared, with this holder's record."""

    def __init__(self, database: str, shared: bool, fd: int | None = None):
        self.database = database  # the file locked
        self.records = lock_path(database)
        self.shared = shared
        self.fd = fd  # an inherited, already locked descriptor (restart successor, -d child)
        self.made = False  # acquire() made the database file (a start that fails removes it)
        self._companions: set[str] = set()  # SQLite's files beside it that were there when it was made
        self._fresh = False  # nobody else held the lock when it was taken: the record starts the file afresh
        self._recorded: int | None = None  # the pid this holder recorded, if it did
        self._records_made = False  # recording made the records file
        self._records_before = b""  # what the records file held before a fresh record replaced it

    @classmethod
    def for_config(cls, config: Any, fd: int | None = None) -> DatabaseLock | None:
        """The lock ``config``'s database takes: None for PostgreSQL (its nodes
        run on several machines by design; the database itself arbitrates)."""
        if is_postgres(config.database):
            return None
        return cls(config.database, shared=bool(config.bus), fd=fd)

    def acquire(self, record: Holder | None = None, create: bool = True) -> None:
        """Take the lock and write ``record`` (a start writes its own later, once it can
        no longer be refused: ``record``). DatabaseHeld if a server or an offline
        command holds it (exclusive: anyone; shared: an exclusive holder); OSError if
        the database file cannot be opened. When there is none it is made, empty
        (SQLite makes a database of an empty file; ``made`` says so), unless not
        ``create`` (a restore onto no database): then there is nothing to hold."""
        while True:
            try:
                if create:
                    fd, made = open_made(self.database, OPEN_DATABASE)
                else:
                    fd, made = os.open(self.database, OPEN_DATABASE), False
            except FileNotFoundError:
                if create:
                    raise
                return
            fresh = self._wait(fd)
            if same_file(fd, self.database):
                break
            os.close(fd)  # removed by the failed start that made it (abandon): lock the file there now
        self.fd, self.made, self._fresh = fd, made, fresh
        if made:  # a -wal or -shm left by a database deleted since is not this start's to remove
            self._companions = {path for path in self._companion_paths() if os.path.lexists(path)}
        if record is not None:
            self.record(record)

    def check(self) -> None:
        """DatabaseHeld if ``acquire`` would be refused now; makes and changes nothing (no
        database file: nobody holds it). A start asks this before it binds anything."""
        try:
            fd = os.open(self.database, OPEN_DATABASE)
        except OSError:
            return  # none (nobody holds it), or unreadable: acquire says why
        self._wait(fd)
        os.close(fd)  # (and with it the lock)

    def _wait(self, fd: int) -> bool:
        """Lock ``fd`` as ``_take`` does, waiting out a look; → whether nobody else holds it.
        DatabaseHeld (``fd`` closed) if refused."""
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        while (fresh := self._take(fd)) is None:
            found = _live(_read(self.records))
            # A live holder is real. Otherwise the lock is most likely a
            # `chatd status` looking for a moment (holders() below).
            if found or time.monotonic() > deadline:
                found = found or _recorded_elsewhere(fd)
                os.close(fd)
                raise DatabaseHeld(self.database, found)
            time.sleep(0.02)
        return fresh

    def _take(self, fd: int) -> bool | None:
        """Lock ``fd``: True when nobody else holds it (the file starts afresh),
        False when shared with other holders, None when refused."""
        if _try(fd, fcntl.LOCK_EX):
            # Shared: convert. flock converts by letting go first, so another
            # may take it exclusively in between: then refused, as it should be.
            return True if not self.shared or _try(fd, fcntl.LOCK_SH) else None
        return False if self.shared and _try(fd, fcntl.LOCK_SH) else None

    def adopt(self, fd: int, record: Holder) -> None:
        """A restart successor's turn: keep the lock inherited on ``fd`` (the
        same file), converted if ``bus`` changed between exclusive and shared,
        and write ``record``. DatabaseHeld (the inherited lock kept as it was)
        if it must become exclusive while other nodes share it."""
        inherited_shared = not _try(fd, fcntl.LOCK_EX)  # others share it: we cannot be alone on it
        if inherited_shared:
            _try(fd, fcntl.LOCK_SH)  # the failed conversion let go of it (flock(2)): others share, so this works
        if inherited_shared and not self.shared:
            found = [h for h in _live(_read(self.records)) if h.pid not in (record.pid, os.getppid())]
            raise DatabaseHeld(self.database, found)
        if self.shared:
            _try(fd, fcntl.LOCK_SH)  # (a no-op if it already was)
        self.fd = fd
        self.record(record, fresh=not inherited_shared)

    def record(self, holder: Holder, fresh: bool | None = None) -> None:
        """Write this holder's line: the whole file when ``fresh`` (by default: whether
        nobody else held the lock when it was taken) or exclusive, else appended to the
        other holders' (a restart successor, a node joining a cluster)."""
        assert self.fd is not None
        fresh = self._fresh if fresh is None else fresh
        self._fresh = False  # (the -d child of a start records once more, its own pid)
        line = (json.dumps(asdict(holder)) + "\n").encode()
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_APPEND if self.shared and not fresh else 0)
        with contextlib.suppress(OSError):  # a record that cannot be written leaves the lock as it is
            records, made = open_made(self.records, flags)
            try:
                if self._recorded is None and not made and not flags & os.O_APPEND:
                    self._records_before = os.pread(records, MAX_RECORDS, 0)  # put back if the start fails
                self._records_made |= made
                self._recorded = holder.pid
                if flags & os.O_APPEND:
                    os.write(records, line)  # one small write, never torn by another holder's
                else:
                    write_whole(records, line)
            finally:
                os.close(records)

    def abandon(self) -> None:
        """A start that failed or was refused lets go, leaving the disk as it found it: the
        records file as it was before its record (removed if it made it and nobody else
        recorded since), and the database with the companions SQLite made beside it if this
        start made it and nobody else holds the lock (a node that joined meanwhile keeps
        them). Removed while still locked: a starter that opened it meanwhile
        finds it gone once it has the lock, and makes its own (``acquire``)."""
        if self.fd is None:
            return
        if self._recorded is not None:
            self._unrecord()
        # Alone on it: nobody else uses what this start made. (The companions of a database
        # that was there are SQLite's to manage: a -wal may hold commits not yet in the file.)
        if self.made and _try(self.fd, fcntl.LOCK_EX):
            for path in (*self._companion_paths(), self.database):
                if path not in self._companions:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
        self.close()

    def _unrecord(self) -> None:
        """Take this holder's lines out of the records file (abandon)."""
        with contextlib.suppress(OSError):
            with open(self.records, "rb") as f:
                lines = f.read(MAX_RECORDS).splitlines(keepends=True)
            others = [line for line in lines if _pid_of(line) != self._recorded]
            text = self._records_before + b"".join(others)
            if self._records_made and not text:
                os.unlink(self.records)
            else:
                with open(self.records, "wb") as f:
                    f.write(text)

    def _companion_paths(self) -> list[str]:
        return [self.database + suffix for suffix in SIDE_FILES]

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def same_path(a: str, b: str) -> bool:
    """Whether two paths name one file: by device and inode when both exist (a hard link
    too), else as resolved paths."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def describe(holder: Holder) -> str:
    """``holder`` for a message: "pid 42 (pidfile /run/chatd.pid, control socket /run/chatd.sock,
    config /etc/chatd/chatd.yaml)" (no config when it started without a file), or for an offline
    command "`chatd restore` (pid 42)"."""
    if holder.role != SERVER:
        return f"`chatd {holder.role}` (pid {holder.pid})"
    config = f", config {holder.config}" if holder.config else ""
    return f"pid {holder.pid} (pidfile {holder.pidfile}, control socket {holder.control_socket}{config})"


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read(path: str) -> list[Holder]:
    """The records in the file at ``path`` (none if it is gone); lines that are not one
    (torn, foreign) are skipped."""
    found = []
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_RECORDS).decode("utf-8", "replace")
    except OSError:
        return []
    for line in text.splitlines():
        with contextlib.suppress(ValueError, TypeError):
            found.append(Holder(**json.loads(line)))
    return found


def _pid_of(line: bytes) -> int | None:
    """The pid of one line of the records file, None if it is none."""
    with contextlib.suppress(ValueError, TypeError, KeyError):
        return json.loads(line)["pid"]
    return None


def _live(records: list[Holder]) -> list[Holder]:
    """The records of processes that run, the last of each pid."""
    by_pid = {h.pid: h for h in records if isinstance(h.pid, int) and h.pid > 0}
    return [h for h in by_pid.values() if pid_running(h.pid)]


def holders(database: str) -> list[Holder]:
    """Who holds the lock on ``database`` now: [] when nobody does (or it is
    PostgreSQL, or there is no database file). Only from a process that has
    no SQLite connection to it: closing a descriptor of a file drops the
    process's fcntl locks on it, SQLite's too."""
    if is_postgres(database) or not _locked(database):
        return []
    return _recorded(database)


def unrecorded(database: str) -> bool:
    """Whether someone holds the lock on ``database`` whom no record names: its
    ``DATABASE.lock`` was deleted (or the holder cannot be seen: another user's process)."""
    return not is_postgres(database) and _locked(database) and not _recorded(database)


def _recorded(database: str) -> list[Holder]:
    """The live holders the records name: those beside ``database``, else beside the path by
    which its holders reached the same file (``_recorded_elsewhere``)."""
    found = _live(_read(lock_path(database)))
    if found:
        return found
    with contextlib.suppress(OSError):
        fd = os.open(database, OPEN_DATABASE)
        try:
            return _recorded_elsewhere(fd)
        finally:
            os.close(fd)
    return []


def _recorded_elsewhere(fd: int) -> list[Holder]:
    """The live holders of the file open on ``fd`` that recorded themselves beside another path
    to it — a symbolic link, a hard link, another spelling — found as ``fuser`` finds them: the
    processes holding the same file open (``chatd.procfs.openers``), each named by the record
    beside the path it opened it by. [] when none is found."""
    try:
        by_path = procfs.openers(os.fstat(fd))
    except OSError:
        return []
    found = [h for path, pids in by_path.items() for h in _live(_read(lock_path(path))) if h.pid in pids]
    return list({h.pid: h for h in found}.values())


def unrecorded_message(database: str) -> str:
    return (f"{database} is locked by a process that left no record in {lock_path(database)}, nor beside another "
            f"path to the file (deleted, or a process of another user): find it with `fuser {database}`")


def _locked(database: str) -> bool:
    try:
        fd = os.open(database, OPEN_DATABASE)
    except OSError:
        return False
    try:
        if _try(fd, fcntl.LOCK_EX):  # free: nobody serves it, whatever the record says
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)


def held_message(error: DatabaseHeld) -> str:
    """What a refused start says: who holds ``error.database``."""
    if not error.holders:
        return (f"{error.database} is locked by another process, which recorded no pid yet in "
                f"{lock_path(error.database)}: another chatd is starting, or a command is using it")
    return f"{error.database} is in use by {'; '.join(describe(h) for h in error.holders)}"
