"""The database schema, as peewee models, and its migrations.

The schema version lives in the ``meta`` table. ``migrate(db)`` creates a
new database at ``SCHEMA_VERSION``, or brings an older one up to it one
step at a time, each step in its own transaction with foreign keys checked
at its end (not per statement, so a step may rebuild a table), so a
database written by an older chatd opens in a newer one. To change the
schema: change the models, append a step to ``MIGRATIONS`` (using
``playhouse.migrate`` for ALTERs), and add a test that opens a database of
the previous version.

Every database has an epoch (``chatd.epoch``) in ``meta``, made with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from peewee import (
    SQL,
    CharField,
    DatabaseProxy,
    ForeignKeyField,
    IntegerField,
    Model,
    SqliteDatabase,
    TextField,
)
from playhouse.sqlite_ext import AutoIncrementField

from chatd.epoch import PRE_EPOCH, Epoch
from chatd.names import keys_version, name_keys


class OpenDatabase(DatabaseProxy):
    """The models' database: of those ``initialize``d, the one open in the
    calling thread (else the last one).

    peewee binds models to one database per process, and chatd runs one
    Store per process; but the cluster tests run several nodes, each with its
    Store of the same file, in one process. A Store uses its database from
    its own threads (writer, readers), and from the loop's thread only inside
    ``connection_context`` at start-up, so the database open in a thread is
    its Store's. With one Store this is the plain proxy."""

    __slots__ = ("_databases",)

    def __init__(self) -> None:
        object.__setattr__(self, "_databases", [])
        super().__init__()

    def __setattr__(self, attr: str, value: object) -> None:
        object.__setattr__(self, attr, value)

    def initialize(self, obj: SqliteDatabase | None) -> None:
        if obj is not None and obj not in self._databases:
            self._databases.append(obj)
        for callback in self._callbacks:
            callback(obj)

    @property
    def obj(self) -> SqliteDatabase | None:  # what the proxy passes everything through to
        databases = self._databases
        if len(databases) < 2:
            return databases[0] if databases else None
        return next((db for db in reversed(databases) if not db.is_closed()), databases[-1])

    def forget(self, obj: SqliteDatabase) -> None:
        """``obj``'s Store is closed: it is not a candidate any more."""
        if obj in self._databases:
            self._databases.remove(obj)


database = OpenDatabase()


class BaseModel(Model):
    class Meta:
        database = database


class Meta(BaseModel):
    """Key/value facts about this database: schema version, token secret, epoch."""

    key = CharField(primary_key=True)
    value = TextField()


class User(BaseModel):
    # AUTOINCREMENT: an id is never given to a second user, even across a
    # restore (chatd.store.restore raises the sequence).
    id = AutoIncrementField()
    name = TextField()
    created = IntegerField()  # ms since the epoch
    # Raised by "sign out everywhere": tokens issued in an older generation are refused.
    token_generation = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])


class SignIn(BaseModel):
    """One browser or device a user signed in on: the tokens renewed from its
    first one all carry its id, so signing out ends it and no other
    (``chatd.auth.revocation``). Kept once signed out (``revoked``), so that its
    tokens stay refused; AUTOINCREMENT, so an id never means a second sign-in."""

    id = AutoIncrementField()
    user = ForeignKeyField(User, on_delete="CASCADE")
    created = IntegerField()  # ms since the epoch
    revoked = IntegerField(null=True)  # ms since the epoch it was signed out; None while it holds
    # For the sign-in of a token from before sign-ins: the token's digest (chatd.auth.tokens.Claim.legacy).
    legacy = TextField(null=True, unique=True)

    class Meta:
        table_name = "sign_in"


class Room(BaseModel):
    name = TextField(unique=True, collation="NOCASE")
    topic = TextField(default="")
    created = IntegerField()
    # Who created it: the limit on rooms per creator holds across restarts.
    # Null for rooms.default rooms and rooms made before version 4.
    creator = ForeignKeyField(User, null=True, column_name="creator_id")


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


# A sender's private messages, so that the last one is found without reading its room
# messages (chatd.store: the previous message in an inbox). peewee's Meta.indexes
# cannot say WHERE: made by _create and _v6_private_sender_index.
PRIVATE_SENDER_INDEX = ('CREATE INDEX IF NOT EXISTS "message_private_sender" ON "message" ("sender_id", "id") '
                        'WHERE "recipient_id" IS NOT NULL')


MODELS = (Meta, User, SignIn, Room, RoomKey, Message)


def write_meta(rows: dict[str, str]) -> None:
    """Set meta rows (key → value), replacing those that exist."""
    for key, value in rows.items():
        Meta.replace(key=key, value=value).execute()


def _create(db: SqliteDatabase) -> None:
    """A new database, at the current version."""
    db.create_tables(MODELS)
    db.execute_sql(PRIVATE_SENDER_INDEX)
    write_meta(Epoch.create().to_meta())


def _v2_user_ids_never_reused_and_epoch(db: SqliteDatabase) -> None:
    """User ids become AUTOINCREMENT (a plain rowid hands the highest id out
    again once its row is gone, and a restore must be able to raise the
    sequence), and the database gets its epoch. Tokens and positions from
    before (``PRE_EPOCH``) are this same database's."""
    db.execute_sql('CREATE TABLE "user_v2" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
                   '"name" TEXT NOT NULL, "created" INTEGER NOT NULL)')
    db.execute_sql('INSERT INTO "user_v2" ("id", "name", "created") SELECT "id", "name", "created" FROM "user"')
    db.execute_sql('DROP TABLE "user"')  # the 12-step rebuild of sqlite.org/lang_altertable.html
    db.execute_sql('ALTER TABLE "user_v2" RENAME TO "user"')
    write_meta(Epoch.create(trusted={PRE_EPOCH: None}).to_meta())


def _v3_room_keys(db: SqliteDatabase) -> None:
    """Rooms get their look-alike keys (UTS #39 skeletons): filled right after
    migrating, by ``fill_room_keys``, as the key version is unset."""
    db.create_tables([RoomKey])


def _v4_sign_ins(db: SqliteDatabase) -> None:
    """Tokens can be revoked: users get a token generation, and sign-ins are
    kept. Tokens issued before have no sign-in; the first resume with one
    makes it (``SignIn.legacy``), so they keep working and can be signed out."""
    db.execute_sql('ALTER TABLE "user" ADD COLUMN "token_generation" INTEGER NOT NULL DEFAULT 0')
    db.create_tables([SignIn])


def _v5_room_creator(db: SqliteDatabase) -> None:
    """Rooms remember who created them (``rooms.max_per_creator``); rooms
    from before have no creator and count for nobody."""
    db.execute_sql('ALTER TABLE "room" ADD COLUMN "creator_id" INTEGER REFERENCES "user" ("id")')
    db.execute_sql('CREATE INDEX "room_creator_id" ON "room" ("creator_id")')  # as a new database has it


def _v6_private_sender_index(db: SqliteDatabase) -> None:
    """Find a user's last private message at once (the ``prev`` of a cluster's inbox channel)."""
    db.execute_sql(PRIVATE_SENDER_INDEX)


# MIGRATIONS[i] brings a database of version i + 1 to version i + 2.
MIGRATIONS: list[Callable[[SqliteDatabase], None]] = [_v2_user_ids_never_reused_and_epoch, _v3_room_keys,
                                                      _v4_sign_ins, _v5_room_creator, _v6_private_sender_index]
SCHEMA_VERSION = len(MIGRATIONS) + 1


class SchemaError(Exception):
    pass


def schema_version(db: SqliteDatabase) -> int:
    if not db.table_exists("meta"):
        return 0
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row else 0


def migrate(db: SqliteDatabase) -> int:
    """Create or upgrade the schema; return the version the database is now at.
    SchemaError if it is newer than this chatd, or a step breaks a foreign key."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {version} is newer than this chatd understands "
            f"({SCHEMA_VERSION}); upgrade chatd or restore a backup"
        )
    if version == 0:
        with db.atomic():
            _create(db)
            Meta.replace(key="schema_version", value=str(SCHEMA_VERSION)).execute()
        return SCHEMA_VERSION
    if version == SCHEMA_VERSION:
        return version
    db.pragma("foreign_keys", 0)  # a no-op inside a transaction, so before it
    try:
        for step in range(version, SCHEMA_VERSION):
            with db.atomic():
                MIGRATIONS[step - 1](db)
                broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise SchemaError(f"migration to version {step + 1} broke {len(broken)} foreign keys")
                Meta.replace(key="schema_version", value=str(step + 1)).execute()
    finally:
        db.pragma("foreign_keys", 1)
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


def now_ms() -> int:
    """The store's clock: milliseconds since the Unix epoch, UTC."""
    return int(time.time() * 1000)


def pair_key(a: int, b: int) -> str:
    """The key of the private conversation between users a and b."""
    return f"{min(a, b)}:{max(a, b)}"
