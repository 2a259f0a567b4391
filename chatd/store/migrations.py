"""How a database gets to the schema of ``chatd.store.schema``: created, or migrated from an older chatd's.

The schema version lives in the ``meta`` table. ``migrate(db)`` creates a
new database at ``SCHEMA_VERSION``, or brings an older one up to it one
step at a time, each step in its own transaction (on SQLite with foreign
keys checked at its end, not per statement, so a step may rebuild a
table), so a database written by an older chatd opens in a newer one. To
change the schema: change the models, append a step to ``MIGRATIONS``
(using ``playhouse.migrate`` through ``migrator(db)``, so that the step
runs on both dialects), and add a test that opens a database of the
previous version.

A PostgreSQL database is always created at the version of the chatd that
creates it (version 6 or later): the steps up to version 6 are SQLite's
alone. Every database has an epoch (``chatd.epoch``) in ``meta``, made
with it. The rooms' look-alike keys are remade whenever the key version
changes (``fill_room_keys``), and so are the admin accounts'
(``fill_admin_keys``). They run with the models bound to ``db``
(``db.bind_ctx(MODELS)``, as ``chatd.store.base`` opens a store).

    version = migrate(db)               # SCHEMA_VERSION, or SchemaError
    clashes = fill_room_keys(db)        # [(room, older room it looks like)]
    clashes = fill_admin_keys(db)       # [(account, older account it looks like)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peewee import Database
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator

from chatd.epoch import PRE_EPOCH, Epoch
from chatd.names import keys_version, name_keys
from chatd.store import searchindex
from chatd.store.schema import (
    MESSAGE_REV,
    MESSAGE_REV_INDEX,
    MODELS,
    PG_ROOM_NAME_INDEX,
    PRIVATE_INDEXES,
    PRIVATE_SENDER_INDEX,
    ROOM_NAME_INDEX,
    AdminAccount,
    AdminAccountKey,
    AdminSession,
    ApiIdempotency,
    ApiKey,
    AuditLog,
    Ban,
    Bot,
    BotRoom,
    Conversation,
    Counter,
    Message,
    Meta,
    Mute,
    NameHold,
    Reaction,
    ReservedName,
    Room,
    RoomKey,
    RoomMember,
    RoomRead,
    SignIn,
    StoredEvent,
    Traffic,
    Upload,
    UploadChunk,
    is_postgres,
)


def migrator(db: Database) -> SchemaMigrator:
    """The ``playhouse.migrate`` migrator for ``db``'s dialect, for steps of ``MIGRATIONS``."""
    return PostgresqlMigrator(db) if is_postgres(db) else SqliteMigrator(db)


def write_meta(rows: dict[str, str]) -> None:
    """Set meta rows (key → value), replacing those that exist."""
    for key, value in rows.items():
        Meta.insert(key=key, value=value).on_conflict(conflict_target=[Meta.key],
                                                      update={Meta.value: value}).execute()


def _create(db: Database) -> None:
    """A new database, at the current version."""
    db.create_tables(MODELS)
    db.execute_sql(PG_ROOM_NAME_INDEX if is_postgres(db) else ROOM_NAME_INDEX)
    db.execute_sql(PRIVATE_SENDER_INDEX)
    for index in PRIVATE_INDEXES:
        db.execute_sql(index)
    _start_revisions(db)
    searchindex.create_index(db)
    write_meta(Epoch.create().to_meta())


def _v2_user_ids_never_reused_and_epoch(db: Database) -> None:
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


def _v3_room_keys(db: Database) -> None:
    """Rooms get their look-alike keys (UTS #39 skeletons): filled right after
    migrating, by ``fill_room_keys``, as the key version is unset."""
    db.create_tables([RoomKey])


def _v4_sign_ins(db: Database) -> None:
    """Tokens can be revoked: users get a token generation, and sign-ins are
    kept. Tokens issued before have no sign-in; the first resume with one
    makes it (``SignIn.legacy``), so they keep working and can be signed out."""
    db.execute_sql('ALTER TABLE "user" ADD COLUMN "token_generation" INTEGER NOT NULL DEFAULT 0')
    db.create_tables([SignIn])


def _v5_room_creator(db: Database) -> None:
    """Rooms remember who created them (``rooms.max_per_creator``); rooms
    from before have no creator and count for nobody."""
    db.execute_sql('ALTER TABLE "room" ADD COLUMN "creator_id" INTEGER REFERENCES "user" ("id")')
    db.execute_sql('CREATE INDEX "room_creator_id" ON "room" ("creator_id")')  # as a new database has it


def _v6_private_sender_index(db: Database) -> None:
    """Find a user's last private message at once (the ``prev`` of a cluster's inbox channel)."""
    db.execute_sql(PRIVATE_SENDER_INDEX)


def _v7_app_users(db: Database) -> None:
    """Users of a web app (app tokens): a kind (guest, app, bot), the app's user
    id (``external_id``, unique: two devices of one app user are one chatd user),
    roles and an avatar. Every user so far is a guest."""
    for column in ("\"kind\" TEXT NOT NULL DEFAULT 'guest'", '"external_id" TEXT',
                   "\"roles\" TEXT NOT NULL DEFAULT '[]'", '"avatar" TEXT'):
        db.execute_sql(f'ALTER TABLE "user" ADD COLUMN {column}')
    db.execute_sql('CREATE UNIQUE INDEX "user_external_id" ON "user" ("external_id")')  # as a new database has it


def _v8_room_members(db: Database) -> None:
    """Members-only rooms: a flag on each room (every existing room is open)
    and who is a member of which, from the API or from an app token."""
    migrate_steps = migrator(db)
    migrate_steps.add_column("room", "members_only", Room.members_only).run()
    db.create_tables([RoomMember])


def _v9_api_keys(db: Database) -> None:
    """The HTTP API: its keys, and the Idempotency-Keys of the messages it stored."""
    db.create_tables([ApiKey, ApiIdempotency])


def _v10_events(db: Database) -> None:
    """Notifications kept for users until they expire (``chatd.events``)."""
    db.create_tables([StoredEvent])


def _v11_bots(db: Database) -> None:
    """Bots: the users whose messages go to a webhook, and the rooms each is in."""
    db.create_tables([Bot, BotRoom])


def _v12_admin_accounts(db: Database) -> None:
    """Administration: the audit log, admin accounts and the admin page's sessions."""
    db.create_tables([AuditLog, AdminAccount, AdminAccountKey, AdminSession])


def _v13_moderation(db: Database) -> None:
    """Moderation: a message may be a tombstone (``message.deleted``, its text gone), and
    users are muted and users or addresses banned (``chatd.moderation``)."""
    migrator(db).add_column("message", "deleted", Message.deleted).run()
    db.create_tables([Mute, Ban])


def _v14_traffic(db: Database) -> None:
    """Connections and messages per minute and process, for the admin dashboard's charts."""
    db.create_tables([Traffic])


def _v15_search_index(db: Database) -> None:
    """Full-text search (``chatd.store.searchindex``): the index, and what keeps it following
    the messages, built for the messages stored so far in batches."""
    searchindex.create_index(db, fill=True)


def _v16_rooms_care(db: Database) -> None:
    """Rooms get their care: archived (read-only), announcement (moderators post), their own
    retention; and names nobody may take. Every existing room stays as it was."""
    steps = migrator(db)
    for column in ("archived", "announcement", "retention_days"):
        steps.add_column("room", column, getattr(Room, column)).run()
    db.create_tables([ReservedName])


def _v17_uploads(db: Database) -> None:
    """Files users upload, kept in the database (``chatd.store.uploads``), and what a message
    shows of those attached to it. Messages so far have none."""
    migrator(db).add_column("message", "attachments", Message.attachments).run()
    db.create_tables([Upload, UploadChunk])


def _start_revisions(db: Database) -> None:
    """The change counter of messages (``chatd.store.changes``) at 0, and the index of changed messages."""
    db.execute_sql(MESSAGE_REV_INDEX)
    Counter.insert(name=MESSAGE_REV, value=0).on_conflict_ignore().execute(db)


def _v18_edits(db: Database) -> None:
    """Messages are edited, deleted by their authors, replied to and reacted to (``chatd.changes``):
    when last edited, what it replies to, its last change's number; and the reactions."""
    steps = migrator(db)
    for column in ("edited", "reply_to", "rev"):
        steps.add_column("message", column, getattr(Message, column)).run()
    db.create_tables([Reaction, Counter])
    _start_revisions(db)


def _v19_read_state(db: Database) -> None:
    """Read state and mentions (``chatd.attention``): the rooms users follow and how far they read
    them, their private conversations (one row per end, made from the private messages stored so
    far, which count as read), and the users each message mentions."""
    migrator(db).add_column("message", "mentions", Message.mentions).run()
    db.create_tables([RoomRead, Conversation])
    db.execute_sql(
        "INSERT INTO conversation (user_id, peer_id, last_id, last_read, hidden_upto) "
        "SELECT user_id, peer_id, max(id), max(id), 0 FROM ("
        " SELECT sender_id AS user_id, recipient_id AS peer_id, id FROM message WHERE recipient_id IS NOT NULL"
        " UNION ALL SELECT recipient_id, sender_id, id FROM message WHERE recipient_id IS NOT NULL) ends "
        "GROUP BY user_id, peer_id")


def _v20_lean_message_indexes(db: Database) -> None:
    """Messages lose the one-column indexes of room, sender and recipient, which the (room, id),
    (sender, id) and (recipient, id) indexes serve as well: three b-trees fewer for every insert
    (the store's hottest write; profiled in issue 13)."""
    for index in ("message_room_id", "message_sender_id", "message_recipient_id"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{index}"')


def _v21_private_indexes(db: Database) -> None:
    """The (pair, id) and (recipient, id) indexes of messages hold private messages only: a room
    message, which leaves both NULL, no longer writes an entry in either (profiled in issue 13)."""
    for index in ("message_pair_id", "message_recipient_id_id"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{index}"')
    for index in PRIVATE_INDEXES:
        db.execute_sql(index)


def _v22_name_holds(db: Database) -> None:
    """Names held across a restart (``chatd.store.nameholds``): empty, as nobody is online yet."""
    db.create_tables([NameHold])


# MIGRATIONS[i] brings a database of version i + 1 to version i + 2. Steps to version 6
# run on SQLite only (PostgreSQL databases start at 6 or later); later ones run on both.
MIGRATIONS: list[Callable[[Database], None]] = [_v2_user_ids_never_reused_and_epoch, _v3_room_keys,
                                                      _v4_sign_ins, _v5_room_creator, _v6_private_sender_index,
                                                      _v7_app_users, _v8_room_members, _v9_api_keys, _v10_events,
                                                      _v11_bots, _v12_admin_accounts, _v13_moderation, _v14_traffic,
                                                      _v15_search_index, _v16_rooms_care, _v17_uploads,
                                                      _v18_edits, _v19_read_state, _v20_lean_message_indexes,
                                                      _v21_private_indexes, _v22_name_holds]
SCHEMA_VERSION = len(MIGRATIONS) + 1


class SchemaError(Exception):
    pass


def schema_version(db: Database) -> int:
    if not db.table_exists("meta"):
        return 0
    row = Meta.get_or_none(Meta.key == "schema_version")
    return int(row.value) if row else 0


def newer_schema(version: int) -> str:
    """Why a database of schema ``version``, above SCHEMA_VERSION, is refused, and what to do."""
    return (f"database schema version {version} is newer than this chatd understands ({SCHEMA_VERSION}); "
            f"upgrade chatd or restore a backup")


def migrate(db: Database) -> int:
    """Create or upgrade the schema; return the version the database is now at.
    SchemaError if it is newer than this chatd, or a step breaks a foreign key.
    On PostgreSQL the caller holds the lock that keeps other nodes from migrating
    at the same time (chatd.store.postgres)."""
    searchindex.register(db)  # the search index's triggers call it (chatd.store.searchindex)
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaError(newer_schema(version))
    if version == 0:
        with db.atomic():
            _create(db)
            write_meta({"schema_version": str(SCHEMA_VERSION)})
        return SCHEMA_VERSION
    if version == SCHEMA_VERSION:
        return version
    if is_postgres(db):  # foreign keys are checked per statement there
        for step in range(version, SCHEMA_VERSION):
            with db.atomic():
                MIGRATIONS[step - 1](db)
                write_meta({"schema_version": str(step + 1)})
        return SCHEMA_VERSION
    db.pragma("foreign_keys", 0)  # a no-op inside a transaction, so before it
    try:
        for step in range(version, SCHEMA_VERSION):
            with db.atomic():
                MIGRATIONS[step - 1](db)
                broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise SchemaError(f"migration to version {step + 1} broke {len(broken)} foreign keys")
                write_meta({"schema_version": str(step + 1)})
    finally:
        db.pragma("foreign_keys", 1)
    return SCHEMA_VERSION


def fill_room_keys(db: Database) -> list[tuple[str, str]]:
    """Make ``room_key`` match the rooms under this chatd's key version, if it
    was made under another (or never). Older rooms keep their keys: returns
    (room, older room it looks like) for each room that lost one, which only
    a database from before look-alikes were refused can hold."""
    return _fill_keys(db, "room_keys", Room, RoomKey, RoomKey.room)


def fill_admin_keys(db: Database) -> list[tuple[str, str]]:
    """``fill_room_keys`` for the admin accounts' names (``admin_account_key``)."""
    return _fill_keys(db, "admin_keys", AdminAccount, AdminAccountKey, AdminAccountKey.account)


def _fill_keys(db: Database, meta_key: str, owners: type, keys: type, owner_field: Any) -> list[tuple[str, str]]:
    """Make the table ``keys`` hold the name keys of every row of ``owners`` (by id: the older
    keeps a key two share) under this chatd's key version, if ``Meta[meta_key]`` names another."""
    version = keys_version()
    row = Meta.get_or_none(Meta.key == meta_key)
    if row is not None and row.value == version:
        return []
    clashes: dict[str, str] = {}
    with db.atomic():
        keys.delete().execute()
        holders: dict[str, Any] = {}
        for owner in owners.select().order_by(owners.id):
            for key in sorted(name_keys(owner.name)):
                if key in holders:
                    clashes.setdefault(owner.name, holders[key].name)
                    continue
                holders[key] = owner
                keys.insert({keys.key: key, owner_field: owner.id}).execute()
        write_meta({meta_key: version})
    return list(clashes.items())
