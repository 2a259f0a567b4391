"""End to end: what is at the configured ``database`` that chatd must not use — a text file,
another application's SQLite database, a damaged one, a directory, a FIFO, a chatd database of a newer
schema — refuses ``chatd start`` (foreground and ``-d``) and every command that opens the
store, in one line naming the key, the file and the problem, with no traceback, the file left
as it was and nothing made beside it; and the commands that only read or change what is there
refuse where there is no database, making none (docs/operations.md, "The database file").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from chatd.status import ExitStatus
from chatd.store import open_store
from chatd.store.sqlitefile import QUICK_CHECK_MAX_BYTES
from tests.ops_fixtures import Chatd
from tests.test_lifecycle_refusals import snapshot

# Every command that opens the store, as an operator types it (PATH: a backup's target).
COMMANDS = [("start",), ("start", "-d"), ("apikey", "list"), ("apikey", "create", "shop", "--scope", "read"),
            ("apikey", "revoke", "shop"), ("admin", "list"), ("admin", "remove", "root"), ("purge",),
            ("purge", "--dry-run"), ("user", "export", "1"), ("user", "delete", "1", "--yes"), ("backup", "PATH"),
            ("migrate-store", "postgresql://chatd@127.0.0.1:1/chatd")]  # (refused before any connection)
BALLAST_PAGES = 200  # pages of a table a running server never reads (one row each)
# A few of them, one of each way in, for the kinds of file past the first.
SOME = [("start",), ("start", "-d"), ("apikey", "create", "shop", "--scope", "read"), ("user", "export", "1"),
        ("backup", "PATH")]
STORE_COMMANDS = ("apikey", "admin", "purge", "user")  # those that open the store (chatd.command_store)
# The commands that only read, or change what is there: none of them makes a database.
NEEDING_ONE = [c for c in COMMANDS if c[0] not in ("start",) and c[:2] not in (("apikey", "create"),)]


def _text(path: Path) -> None:
    path.write_text("these are my notes, not a database\n" * 20)


def _other_application(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
        db.execute("CREATE TABLE meta (name TEXT, size INTEGER)")  # a `meta` that is not chatd's
        db.execute("INSERT INTO songs VALUES ('a')")
    db.close()


def _damaged(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x TEXT)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 100,)] * 500)
    db.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's tree: sqlite_master unreadable
    path.write_bytes(bytes(data))


def _damaged_inside(path: Path) -> None:
    """A chatd database whose header and schema read well, pages 2-4 overwritten: only a start
    read far enough to find it (the others ran, printed tracebacks, or backed it up)."""
    open_store(str(path), shared=False, synchronous="normal", batch_max=1).ensure_schema()
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")  # the page size (sqlite.org/fileformat.html#page_size)
    data[page:4 * page] = b"\xff" * (3 * page)
    path.write_bytes(bytes(data))


def _directory(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_text("kept")


def _fifo(path: Path) -> None:
    os.mkfifo(path)  # opened as a file, it waits for a writer: every command hung


def _newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    db.close()


KINDS = {"text": (_text, "it is not an SQLite database"),
         "another application's": (_other_application, "another application's SQLite database"),
         "damaged": (_damaged, "it is damaged"),
         "damaged inside": (_damaged_inside, "it is damaged"),
         "directory": (_directory, "it is a directory"),
         "FIFO": (_fifo, "it is a FIFO, not a file"),
         "newer schema": (_newer_schema, "newer than this chatd")}


def _tree(directory: Path) -> dict[str, bytes | str]:
    """``snapshot`` reaching into directories too (a FIFO noted, never read: that waits)."""
    return {str(p.relative_to(directory)): "dir" if p.is_dir() else "fifo" if p.is_fifo() else p.read_bytes()
            for p in sorted(directory.rglob("*")) if not p.is_socket()}


def _named(command: tuple[str, ...]) -> str:
    """The command as its refusals name it: whole, without options and arguments ("admin list", "purge")."""
    return " ".join(command[:1] if command[0] == "purge" else command[:2])


def _run(d: Chatd, command: tuple[str, ...]):
    return d.cli(*(str(d.dir.parent / f"{d.dir.name}-backup.db") if a == "PATH" else a for a in command))


@pytest.mark.parametrize("kind", KINDS)
def test_what_is_not_a_chatd_database_is_refused_in_one_line_and_left_as_it_is(chatd_install: Chatd, kind: str):
    d = chatd_install
    database = d.dir / "chatd.db"
    make, problem = KINDS[kind]
    make(database)
    found = _tree(d.dir)
    for command in COMMANDS if kind in ("text", "damaged inside") else SOME:
        result = _run(d, command)
        where = " ".join(command)
        assert result.returncode == ExitStatus.ERROR, (where, result.stderr)
        if command[0] == "start" and kind == "directory":  # said before anything, as check-config says it
            assert f"key 'database': cannot write {database}: it is a directory" in result.stderr, result.stderr
            assert "Traceback" not in result.stderr
            continue
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("chatd: "), (where, result.stderr)
        assert "key 'database'" in lines[0] and str(database) in lines[0] and problem in lines[0], (where, lines[0])
        assert _tree(d.dir) == found, f"{where}: the file as it was, nothing made beside it"
        assert not (d.dir.parent / f"{d.dir.name}-backup.db").exists(), where


@pytest.mark.parametrize("there", ["nothing", "an empty file"])
def test_commands_that_need_a_database_make_none(chatd_install: Chatd, there: str):
    d = chatd_install
    database = d.dir / "chatd.db"
    if there == "an empty file":
        database.touch()  # what a start would make a database of; these commands do not
    found = snapshot(d.dir)
    for command in NEEDING_ONE:
        result = _run(d, command)
        where = " ".join(command)
        assert result.returncode == ExitStatus.ERROR, (where, result.stdout, result.stderr)
        assert f"cannot open the database at {database} (key 'database'): " in result.stderr, (where, result.stderr)
        if command[0] in STORE_COMMANDS:  # (the others name what failed: "backup failed: ...")
            assert result.stderr.startswith(f"chatd: {_named(command)}: cannot open"), (where, result.stderr)
        assert "makes none" in result.stderr and "Traceback" not in result.stderr, (where, result.stderr)
        assert snapshot(d.dir) == found, f"{where} made nothing"
        assert not (d.dir.parent / f"{d.dir.name}-backup.db").exists(), f"{where}: no backup of nothing"
    # What a first start would find may be made before it: an API key (and then the database).
    result = d.cli("apikey", "create", "shop", "--scope", "read")
    assert result.returncode == 0, result.stderr
    assert d.cli("apikey", "list").returncode == 0


@pytest.mark.parametrize("kind", ["text", "another application's", "directory", "FIFO"])
def test_a_restore_replaces_no_file_that_was_never_chatds(chatd_install: Chatd, tmp_path: Path, kind: str):
    """A damaged chatd database is what a restore is for; a file that was never one is not
    replaced by the backup."""
    d = chatd_install
    backup = tmp_path / "backup.db"
    open_store(str(backup), shared=False, synchronous="normal", batch_max=1).ensure_schema()
    database = d.dir / "chatd.db"
    make, problem = KINDS[kind]
    make(database)
    found = _tree(d.dir)
    result = d.cli("restore", str(backup))
    assert result.returncode == ExitStatus.ERROR, result.stderr
    assert f"chatd: restore: cannot open the database at {database} (key 'database'): " in result.stderr
    assert problem in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert _tree(d.dir) == found, "the file as it was, nothing made beside it"


def test_check_config_says_what_start_would(chatd_install: Chatd):
    d = chatd_install
    assert d.cli("check-config").returncode == 0, "no database yet: start makes one"
    _fifo(d.dir / "chatd.db")
    result = d.cli("check-config")
    assert result.returncode == ExitStatus.CONFIG and "it is a FIFO, not a file" in result.stderr, result.stderr
    assert d.cli("status").returncode == ExitStatus.NOT_RUNNING, "said at once: nothing serves it"
    os.unlink(d.dir / "chatd.db")
    _other_application(d.dir / "chatd.db")
    result = d.cli("check-config")
    assert result.returncode == ExitStatus.CONFIG, result.stderr
    assert (f"chatd: start would refuse: cannot open the database at {d.dir / 'chatd.db'} (key 'database'): it is "
            f"another application's SQLite database") in result.stderr, result.stderr
    os.unlink(d.dir / "chatd.db")
    _damaged_inside(d.dir / "chatd.db")
    result = d.cli("check-config")
    assert result.returncode == ExitStatus.CONFIG and "it is damaged" in result.stderr, result.stderr


def test_check_config_leaves_a_foreign_wal_beside_a_good_database(chatd_install: Chatd):
    """A look changes nothing: SQLite ignores a -wal that is no write-ahead log as it reads the
    database, and the last connection's close deleted it (check-config did)."""
    d = chatd_install
    database = d.dir / "chatd.db"
    open_store(str(database), shared=False, synchronous="normal", batch_max=1).ensure_schema()
    Path(f"{database}-wal").write_bytes(b"garbage\n")
    found = snapshot(d.dir)
    result = d.cli("check-config")
    assert result.returncode == 0, result.stderr
    assert snapshot(d.dir) == found, "the database and its -wal as they were"


def test_a_backup_of_a_large_damaged_database_is_refused_and_leaves_no_copy(chatd_install: Chatd):
    """Past QUICK_CHECK_MAX_BYTES the look before a command does not read the whole file; a
    backup reads its copy whole (it wrote every page anyway) and keeps none of a damaged one."""
    d = chatd_install
    database = d.dir / "chatd.db"
    _damaged_inside(database)
    with contextlib.closing(sqlite3.connect(database)) as db:  # past the size read whole before
        db.execute("CREATE TABLE ballast (b BLOB)")
        db.execute("INSERT INTO ballast VALUES (zeroblob(?))", (QUICK_CHECK_MAX_BYTES,))
        db.commit()
    result = _run(d, ("backup", "PATH"))
    assert result.returncode == ExitStatus.ERROR, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatd: backup failed: ") and "it is damaged" in lines[0], lines
    assert not list(d.dir.parent.glob(f"{d.dir.name}-backup.db*")), "no copy of a damaged file"


def test_damage_past_the_size_read_before_is_said_in_one_line(chatd_install: Chatd):
    """Past QUICK_CHECK_MAX_BYTES the damage is found where a command reads it: still one line, which names
    the command as every refusal does, whole ("admin list", not "admin")."""
    d = chatd_install
    database = d.dir / "chatd.db"
    _damaged_inside(database)
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE ballast (b BLOB)")
        db.execute("INSERT INTO ballast VALUES (zeroblob(?))", (QUICK_CHECK_MAX_BYTES,))
        db.commit()
    for command in (("admin", "list"), ("apikey", "create", "shop", "--scope", "read")):
        result = d.cli(*command)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == ExitStatus.ERROR and len(lines) == 1, (command, result.stderr)
        assert lines[0].startswith(f"chatd: {_named(command)}: cannot open the database at {database}"), lines
        assert "it is damaged" in lines[0], lines


def test_a_running_servers_backup_of_a_damaged_database_is_refused_and_the_older_backup_kept(chatd_install: Chatd):
    backup_of_damage_under_a_running_server(chatd_install)


def backup_of_damage_under_a_running_server(d: Chatd) -> None:
    """The running server (its config's: one process, or workers) reads its copy whole too, as the offline
    backup does: a copy of damage it has not met yet (pages it never read, damaged under it) is refused in one
    line, and the older backup at PATH stays."""
    database = d.dir / "chatd.db"
    open_store(str(database), shared=False, synchronous="normal", batch_max=1).ensure_schema()
    with contextlib.closing(sqlite3.connect(database)) as db:  # the last pages: a table the server never reads
        db.execute("CREATE TABLE ballast (b BLOB)")
        db.executemany("INSERT INTO ballast VALUES (?)", [(b"\0" * 3000,)] * BALLAST_PAGES)
        db.commit()
    older = d.dir.parent / f"{d.dir.name}-backup.db"
    assert d.cli("backup", str(older)).returncode == 0  # a sound backup, made before the server starts
    kept = older.read_bytes()
    started = d.start()
    assert started.returncode == 0, started.stderr
    page = int.from_bytes(database.read_bytes()[16:18], "big")
    pages = database.stat().st_size // page
    with open(database, "r+b") as f:  # in place, under the running server: some of the ballast's pages
        f.seek((pages - BALLAST_PAGES // 2) * page)
        f.write(b"\xff" * (4 * page))
    looked = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)  # (the server's files untouched)
    with pytest.raises(sqlite3.DatabaseError, match="malformed"), contextlib.closing(looked):
        looked.execute("PRAGMA quick_check").fetchone()
    result = d.cli("backup", str(older))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == ExitStatus.ERROR and len(lines) == 1, (result.stdout, result.stderr)
    assert lines[0].startswith("chatd: backup failed: ") and "it is damaged" in lines[0], lines
    assert older.read_bytes() == kept, "the older backup as it was"
    assert list(d.dir.parent.glob(f"{d.dir.name}-backup.db*")) == [older], "no partial copy left"
    assert d.cli("status").returncode == 0, "the server serves on"
