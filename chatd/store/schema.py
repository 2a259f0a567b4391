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

from chatd.names import keys_version, name_keys

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


class RoomKey(BaseModel):
    """The name keys of each room (``chatd.names.name_keys``): one room per key,
    so no two rooms have names that look alike. Made from the room names by
    ``fill_room_keys`` whenever ``Meta["room_keys"]`` names another key version."""

    key = TextField(primary_key=True)
    room = ForeignKeyField(Room, on_delete="CASCADE")

    class Meta:
        table_name = "room_key"


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


def _add_room_keys_v2(db: SqliteDatabase) -> None:
    # Filled right after migrating, by fill_room_keys: the key version is unset.
    db.create_tables([RoomKey])


MIGRATIONS: list[Callable[[SqliteDatabase], None]] = [_create_v1, _add_room_keys_v2]
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


def fill_room_keys(db: SqliteDatabase) -> list[tuple[str, str]]:
    """Make ``room_key`` match the rooms under this chatd's key version, if it
    was made under another (or never). Older rooms keep their keys: returns
    (room, older room it looks like) for each room that lost one, which only
    a database from before look-alikes were refused can hold."""
    version = keys_version()
    row = Meta.get_or_none(Meta.key == "room_keys")
    if row is not None and row.value == version:
        return []
    clashes: dict[str, str] = {}
    with db.atomic():
        RoomKey.delete().execute()
        owners: dict[str, Room] = {}
        for room in Room.select().order_by(Room.id):
            for key in sorted(name_keys(room.name)):
                if key in owners:
                    clashes.setdefault(room.name, owners[key].name)
                    continue
                owners[key] = room
                RoomKey.create(key=key, room=room)
        Meta.replace(key="room_keys", value=version).execute()
    return list(clashes.items())


def pair_key(a: int, b: int) -> str:
    """The key of the private conversation between users a and b."""
    return f"{min(a, b)}:{max(a, b)}"
