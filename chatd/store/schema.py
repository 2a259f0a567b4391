"""The database schema, as peewee models, and its migrations.

The schema version lives in the ``meta`` table. ``migrate(db)`` brings any
older database up to ``SCHEMA_VERSION`` one step at a time, each step in
its own transaction, so a database written by an older chatd opens in a
newer one. To change the schema: change the models, append a step to
``MIGRATIONS`` (using ``playhouse.migrate`` for ALTERs), and add a test
that opens a database of the previous version.
"""

from __future__ import annotations

from collections.abc import Callable

from peewee import (
    CharField,
    DatabaseProxy,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)
from playhouse.sqlite_ext import AutoIncrementField

database = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database


class Meta(BaseModel):
    """Key/value facts about this database: schema version, token secret."""

    key = CharField(primary_key=True)
    value = TextField()


class User(BaseModel):
    name = TextField()
    created = IntegerField()  # ms since the epoch


class Room(BaseModel):
    name = TextField(unique=True, collation="NOCASE")
    topic = TextField(default="")
    created = IntegerField()


class Message(BaseModel):
    # AUTOINCREMENT: ids never go back, even if the newest rows are deleted.
    id = AutoIncrementField()
    room = ForeignKeyField(Room, null=True, on_delete="CASCADE")
    sender = ForeignKeyField(User)
    sender_name = TextField()
    recipient = ForeignKeyField(User, null=True)
    recipient_name = TextField(null=True)
    pair = TextField(null=True)  # "lo:hi" user ids of a private conversation
    text = TextField()
    ts = IntegerField()
    cid = TextField(null=True)

    class Meta:
        indexes = (
            (("room", "id"), False),
            (("pair", "id"), False),
            (("recipient", "id"), False),
            (("sender", "id"), False),
            (("sender", "cid"), True),  # a retried say is found, not stored twice
        )


MODELS = (Meta, User, Room, Message)


def _create_v1(db: SqliteDatabase) -> None:
    db.create_tables(MODELS)


MIGRATIONS: list[Callable[[SqliteDatabase], None]] = [_create_v1]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    pass


def schema_version(db: SqliteDatabase) -> int:
    if not db.table_exists("meta"):
        return 0
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row else 0


def migrate(db: SqliteDatabase) -> int:
    """Apply missing migrations; return the version the database is now at."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {version} is newer than this chatd understands "
            f"({SCHEMA_VERSION}); upgrade chatd or restore a backup"
        )
    for step in range(version, SCHEMA_VERSION):
        with db.atomic():
            MIGRATIONS[step](db)
            Meta.replace(key="schema_version", value=str(step + 1)).execute()
    return SCHEMA_VERSION


def pair_key(a: int, b: int) -> str:
    """The key of the private conversation between users a and b."""
    return f"{min(a, b)}:{max(a, b)}"
