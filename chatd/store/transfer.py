"""``chatd migrate-store``: copy an SQLite database into an empty PostgreSQL database.

The server must not run: the caller holds the pidfile lock. Everything is
copied, so that nothing a client or a user holds stops working: the meta
table (token secret, epoch, schema and room-key versions), users, sign-ins,
rooms, room keys and messages with their ids and cids, uploaded files and
their bytes, and every other table (``TABLES``). Each sequence is
set past the highest id its table holds and past SQLite's own sequence, so
no id is ever handed out twice.

Steps: the SQLite file is brought to this chatd's schema (as ``chatd
start`` would), then read in one read transaction, table by table, a chunk
of rows at a time (a large database never sits in memory) and written with
COPY. On the PostgreSQL side it all happens in one transaction, under the
schema lock nodes take on start (``chatd.store.postgres``): on any failure
the target is left as empty as it was, and a node started meanwhile waits,
then finds the copy complete. The row counts are compared before commit.

    counts = transfer("/var/lib/chatd/chatd.db", "postgresql://chat@db/chatd")
    # {"user": 12, "sign_in": 30, "room": 4, "room_key": 9, "message": 120345}
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
from peewee import AutoField, CompositeKey, PeeweeException, SqliteDatabase

from chatd.dsn import redacted
from chatd.names import keys_version
from chatd.store import sqlitefile
from chatd.store.health import cannot_open, reason_of
from chatd.store.migrations import SCHEMA_VERSION, fill_admin_keys, fill_room_keys, migrate
from chatd.store.postgres import SCHEMA_LOCK, stored_cid
from chatd.store.restore import RestoreError, check_backup
from chatd.store.schema import MODELS, Meta, PostgresDatabase, UploadChunk

CHUNK_ROWS = 5000  # rows read from SQLite at a time
# Rows of upload_chunk (256 KiB each: chatd.store.uploads.CHUNK_BYTES) read at a time: a few MiB.
FILE_CHUNK_ROWS = 8
TABLES = [model for model in MODELS if model is not Meta]  # in the order foreign keys need
# Columns whose values PostgreSQL keeps in another form (chatd.store.postgres).
CONVERSIONS: dict[tuple[str, str], Callable[[Any], Any]] = {("message", "cid"): stored_cid}


class TransferError(Exception):
    """The copy was refused or failed; nothing was written to the target. str() says why."""


def transfer(source: str, url: str) -> dict[str, int]:
    """Copy the SQLite database ``source`` into the empty PostgreSQL database at ``url``;
    → rows copied per table (table name → count). TransferError if refused or failed."""
    target = PostgresDatabase(url)
    try:  # first: an unreachable target leaves the source as it was
        target.connect()
    except (psycopg.Error, PeeweeException) as e:
        raise TransferError(cannot_open(redacted(url), "the migrate-store target", reason_of(e))) from None
    try:
        if check_backup(source, source) < SCHEMA_VERSION or not _keys_current(source):
            _upgrade(source)
        with contextlib.closing(sqlitefile.connect_reading(source)) as reader:
            return _copy(reader, target, url)
    except RestoreError as e:
        raise TransferError(str(e)) from None
    except (psycopg.Error, PeeweeException, sqlite3.Error) as e:
        raise TransferError(f"{type(e).__name__}: {str(e).strip()}") from None
    finally:
        target.close()


def _keys_current(source: str) -> bool:
    """Whether the room and admin name keys of the SQLite file are this chatd's (``fill_room_keys``)."""
    with contextlib.closing(sqlitefile.connect_reading(source)) as db:
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('room_keys', 'admin_keys')").fetchall())
    return meta.get("room_keys") == meta.get("admin_keys") == keys_version()


def _upgrade(source: str) -> None:
    """The SQLite file at this chatd's schema and name-key version, as a start would leave it (the only
    step that writes it: one already there is only read, its files left as they are)."""
    db = SqliteDatabase(source, pragmas={"foreign_keys": 1})
    with db.bind_ctx(MODELS), db.connection_context():
        migrate(db)
        fill_room_keys(db)
        fill_admin_keys(db)


def _copy(reader: sqlite3.Connection, target: PostgresDatabase, url: str) -> dict[str, int]:
    reader.execute("BEGIN")  # one snapshot of every table
    with target.connection_context(), target.bind_ctx(MODELS), target.atomic():
        target.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        present = target.get_tables()
        if present:
            raise TransferError(f"{redacted(url)} is not empty (it has the tables {', '.join(present)}): "
                                f"migrate-store copies into an empty database only; create one (createdb) "
                                f"or drop its tables")
        migrate(target)  # the tables at this chatd's version; its new meta rows give way to the copied ones
        target.execute_sql("DELETE FROM meta")
        target.execute_sql("DELETE FROM counter")  # and its counters (chatd.store.changes) too
        conn = target.connection()
        counts = {"meta": _copy_table(reader, conn, Meta)}
        for model in TABLES:
            try:
                counts[model._meta.table_name] = _copy_table(reader, conn, model)
            except psycopg.Error as e:
                raise TransferError(f"copying table {model._meta.table_name}: {str(e).strip()}") from None
            _raise_sequence(reader, conn, model)
        for table, copied in counts.items():
            (source_rows,) = reader.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            (target_rows,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            if not source_rows == copied == target_rows:
                raise TransferError(f"table {table}: {source_rows} rows in SQLite, {copied} copied, "
                                    f"{target_rows} in PostgreSQL")
    return counts


def _copy_table(reader: sqlite3.Connection, conn: psycopg.Connection, model: type) -> int:
    """Every row of the model's table, in primary key order; → rows copied."""
    table = model._meta.table_name
    columns = [field.column_name for field in model._meta.sorted_fields]
    convert = [CONVERSIONS.get((table, column)) for column in columns]
    names = ", ".join(f'"{c}"' for c in columns)
    rows = reader.execute(f'SELECT {names} FROM "{table}" ORDER BY {_key_columns(model)}')
    copied, per_read = 0, FILE_CHUNK_ROWS if model is UploadChunk else CHUNK_ROWS
    with conn.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        while chunk := rows.fetchmany(per_read):
            for row in chunk:
                copy.write_row([f(v) if f else v for f, v in zip(convert, row, strict=True)])
            copied += len(chunk)
    return copied


def _key_columns(model: type) -> str:
    """The model's primary key columns, quoted, for ORDER BY (a composite key has several)."""
    key = model._meta.primary_key
    fields = [model._meta.fields[name] for name in key.field_names] if isinstance(key, CompositeKey) else [key]
    return ", ".join(f'"{field.column_name}"' for field in fields)


def _raise_sequence(reader: sqlite3.Connection, conn: psycopg.Connection, model: type) -> None:
    """The table's next id past its highest row and past SQLite's AUTOINCREMENT sequence
    (ids of rows deleted since, or raised by a restore, were handed out too)."""
    if not isinstance(model._meta.primary_key, AutoField):
        return  # a key that is no sequence of ids: room_key's
    table = model._meta.table_name
    (highest,) = reader.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()
    found = reader.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    highest = max(highest, found[0] if found else 0)
    if highest:
        conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", (f'"{table}"', highest))
