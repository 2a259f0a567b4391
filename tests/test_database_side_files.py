"""End to end: a command that only reads the database leaves its files as it found them — the
database, and what lies beside it: a ``-wal`` that is none (SQLite deleted it at the last close),
the write-ahead log of another database (SQLite applied it, writing another database's pages into
chatd's), a stale ``-shm`` (SQLite rewrote or deleted it) — byte for byte, with nothing made beside
them (docs/operations.md, "The database file").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from chatd.status import ExitStatus
from tests.ops_fixtures import Chatd
from tests.test_lifecycle_refusals import snapshot

# Every command that opens the database and changes nothing in it (PATH: a backup's target, outside the
# directory compared). `status` asks a server only: here none runs.
READING = [("apikey", "list"), ("admin", "list"), ("purge", "--dry-run"),
           ("check-config",), ("backup", "PATH"), ("status",)]
WAL_PAGES = 20  # pages another database's write-ahead log holds


def _garbage_wal(database: Path, scratch: Path) -> None:
    Path(f"{database}-wal").write_bytes(b"not a write-ahead log\n" * 100)


def _other_wal(database: Path, scratch: Path, with_shm: bool = False) -> None:
    """The write-ahead log (and with it the -shm) of another database, its commits not yet in that database's
    file, beside chatd's: what a copy of files from elsewhere may leave."""
    other = scratch / "other.db"
    with contextlib.closing(sqlite3.connect(other, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = wal")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the commits stay in the WAL
        db.execute("CREATE TABLE songs (title TEXT)")
        db.executemany("INSERT INTO songs VALUES (?)", [("x" * 3000,)] * WAL_PAGES)
        Path(f"{database}-wal").write_bytes(Path(f"{other}-wal").read_bytes())
        if with_shm:
            Path(f"{database}-shm").write_bytes(Path(f"{other}-shm").read_bytes())


def _stale_shm(database: Path, scratch: Path) -> None:
    Path(f"{database}-shm").write_bytes(bytes(range(256)) * 128)


SIDE_FILES: dict[str, Callable[[Path, Path], None]] = {
    "garbage -wal": _garbage_wal,
    "another database's -wal": _other_wal,
    "another database's -wal and -shm": lambda database, scratch: _other_wal(database, scratch, with_shm=True),
    "stale -shm": _stale_shm,
}


def _made(d: Chatd) -> None:
    """A chatd database holding an API key, closed as every command leaves it (no -wal)."""
    result = d.cli("apikey", "create", "shop", "--scope", "read")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("side", SIDE_FILES)
def test_reading_commands_leave_the_database_and_its_side_files_as_found(chatd_install: Chatd, tmp_path: Path,
                                                                         side: str):
    d = chatd_install
    database = d.dir / "chatd.db"
    _made(d)
    SIDE_FILES[side](database, tmp_path)
    found = snapshot(d.dir)
    backup = d.dir.parent / f"{d.dir.name}-backup.db"
    for command in READING:
        result = d.cli(*(str(backup) if a == "PATH" else a for a in command))
        where = " ".join(command)
        assert "Traceback" not in result.stderr, (where, result.stderr)
        assert snapshot(d.dir) == found, f"{where}: the database and what lies beside it as they were"
        if "another database's" not in side:
            # (another database's log is read as this one's by SQLite: what the command says of it is unsure)
            expected = ExitStatus.NOT_RUNNING if command == ("status",) else ExitStatus.OK
            assert result.returncode == expected, (where, result.stderr)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(backup)
    listed = d.cli("apikey", "list")
    if side in ("garbage -wal", "stale -shm"):
        assert listed.returncode == 0 and "shop" in listed.stdout, listed.stderr


def test_a_reading_command_sees_the_commits_a_killed_server_left_in_its_wal(chatd_install: Chatd):
    """The -wal a server killed mid-run leaves holds commits not yet in the database file: a command
    that only reads sees them, and leaves both files as they were (the next start applies them)."""
    d = chatd_install
    database = d.dir / "chatd.db"
    _made(d)
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.execute("UPDATE api_key SET name = 'renamed'")  # a commit in the WAL alone
        files = {suffix: Path(f"{database}{suffix}").read_bytes() for suffix in ("", "-wal", "-shm")}
    for suffix, data in files.items():  # as a kill -9 leaves them: the close above applied the WAL
        Path(f"{database}{suffix}").write_bytes(data)
    for without_shm in (False, True):
        if without_shm:
            os.unlink(f"{database}-shm")
        found = snapshot(d.dir)
        result = d.cli("apikey", "list")
        assert result.returncode == 0 and "renamed" in result.stdout, result.stderr
        assert snapshot(d.dir) == found, "the database and its -wal as they were"


def test_a_reading_command_refuses_a_schema_it_would_have_to_upgrade(chatd_install: Chatd):
    """Upgrading writes: a command that only reads leaves that to `chatd start`, and says so in one line."""
    d = chatd_install
    database = d.dir / "chatd.db"
    _made(d)
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("UPDATE meta SET value = value - 1 WHERE key = 'schema_version'")
    found = snapshot(d.dir)
    result = d.cli("apikey", "list")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == ExitStatus.ERROR and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"chatd: apikey list: cannot open the database at {database} (key 'database'): "
                               f"its schema (version "), lines
    assert "`chatd start` upgrades it" in lines[0], lines
    assert snapshot(d.dir) == found


def test_reading_commands_see_what_is_committed_while_a_server_runs(chatd_install: Chatd):
    """A server's -wal and -shm are live: a reading command reads them (read-only) and sees every commit."""
    d = chatd_install
    _made(d)
    started = d.start()
    assert started.returncode == 0, started.stderr
    assert d.cli("apikey", "create", "later", "--scope", "read").returncode == 0  # a commit alongside the server
    listed = d.cli("apikey", "list")
    assert listed.returncode == 0 and "shop" in listed.stdout and "later" in listed.stdout, listed.stderr
    backup = d.dir.parent / f"{d.dir.name}-backup.db"
    for command in READING[1:-1]:  # (status: running)
        result = d.cli(*(str(backup) if a == "PATH" else a for a in command))
        assert result.returncode == 0, (command, result.stderr)
    os.unlink(backup)
    assert d.cli("status").returncode == 0
