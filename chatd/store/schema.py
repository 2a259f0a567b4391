"""The database schema, as peewee models, for SQLite and PostgreSQL.

What differs between the dialects is said here and nowhere else: ids
(SQLite AUTOINCREMENT, PostgreSQL sequences: neither ever hands an id out
twice), 64-bit integers (PostgreSQL's INTEGER has 32 bits; times are
milliseconds), and room names unique ignoring case (SQLite's NOCASE
collation, a unique index on lower(name) on PostgreSQL). How a database
gets to this schema, from nothing or from an older chatd's, is
``chatd.store.migrations``.

    with db.bind_ctx(MODELS):
        Room.select(Room.name).where(Room.id == room_id).scalar()
"""

from __future__ import annotations

import time

from peewee import (
    SQL,
    AutoField,
    BlobField,
    BooleanField,
    CharField,
    CompositeKey,
    Database,
    ForeignKeyField,
    IntegerField,
    Model,
    NodeList,
    PostgresqlDatabase,
    TextField,
)

from chatd.session import APP, BOT, GUEST  # noqa: F401  (the kinds of users, kept in User.kind)

# A setting of the SQL context (peewee's ``ctx.state``) that PostgresDatabase sets:
# the DDL of the fields below says what it must to each dialect.
_ON_POSTGRES = "chatd_postgres"


class PostgresDatabase(PostgresqlDatabase):
    """PostgreSQL through psycopg 3, with the column types chatd's data needs."""

    # Times are milliseconds since 1970 and ids may pass 2**31: every integer is 64 bits.
    field_types = {**PostgresqlDatabase.field_types, "AUTO": "BIGSERIAL", "INT": "BIGINT"}

    def __init__(self, url: str, **kwargs):
        super().__init__(url, prefer_psycopg3=True, **kwargs)

    def get_context_options(self) -> dict:
        return {**super().get_context_options(), _ON_POSTGRES: True}


def is_postgres(db: Database) -> bool:
    return isinstance(db, PostgresqlDatabase)


class IdField(AutoField):
    """A primary key that never hands an id out twice, even once the row of
    the highest is gone: SQLite's AUTOINCREMENT (a plain rowid would reuse
    it, and ``chatd.store.restore`` raises its sequence); on PostgreSQL the
    column's sequence, which never goes back by itself."""

    def ddl(self, ctx):
        nodes = super().ddl(ctx)
        return nodes if getattr(ctx.state, _ON_POSTGRES) else NodeList((nodes, SQL("AUTOINCREMENT")))


class CaselessTextField(TextField):
    """Text compared ignoring (ASCII) case on SQLite: its NOCASE collation.
    PostgreSQL has none such; ``_create`` gives it what the column needs there."""

    def ddl(self, ctx):
        nodes = super().ddl(ctx)
        return nodes if getattr(ctx.state, _ON_POSTGRES) else NodeList((nodes, SQL("COLLATE NOCASE")))


class BaseModel(Model):
    """Bound to no database: a query names its store's (``.execute(db)``), and the
    schema code below runs under ``db.bind_ctx(MODELS)`` (``chatd.store``)."""


class Meta(BaseModel):
    """Key/value facts about this database: schema version, token secret, epoch."""

    key = CharField(primary_key=True)
    value = TextField()


class User(BaseModel):
    # An id is never given to a second user, even across a restore (chatd.store.restore raises the sequence).
    id = IdField()
    name = TextField()
    created = IntegerField()  # ms since the epoch
    # Raised by "sign out everywhere": tokens issued in an older generation are refused.
    token_generation = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    # GUEST, APP (a web app's user, found by its `sub`) or BOT (chatd.bots).
    kind = TextField(default=GUEST, constraints=[SQL(f"DEFAULT '{GUEST}'")])
    # An app user's `sub` (chatd.auth.apptokens): one user per sub. None for guests.
    external_id = TextField(null=True, unique=True)
    roles = TextField(default="[]", constraints=[SQL("DEFAULT '[]'")])  # JSON list, from the app token
    avatar = TextField(null=True)  # an http(s) URL from the app token, shown only from identity.avatar_hosts


class SignIn(BaseModel):
    """One browser or device a user signed in on: the tokens renewed from its
    first one all carry its id, so signing out ends it and no other
    (``chatd.auth.revocation``). Kept once signed out (``revoked``), so that its
    tokens stay refused; an IdField, so an id never means a second sign-in."""

    id = IdField()
    user = ForeignKeyField(User, on_delete="CASCADE")
    created = IntegerField()  # ms since the epoch
    revoked = IntegerField(null=True)  # ms since the epoch it was signed out; None while it holds
    # For the sign-in of a token from before sign-ins: the token's digest (chatd.auth.tokens.Claim.legacy).
    legacy = TextField(null=True, unique=True)

    class Meta:
        table_name = "sign_in"


class NameHold(BaseModel):
    """A user's name as this process last told it (``chatd.store.nameholds``): online with it
    (``let_go`` None) or let go at ``let_go``, so that a process that starts after a restart or a
    crash holds it for the user (docs/protocol.md, "Names"). Rows let go longer ago than a hold
    are deleted as the process runs: the table is about as big as the users online."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    name = TextField()
    let_go = IntegerField(null=True)  # ms since the epoch; None: online with the name

    class Meta:
        table_name = "name_hold"
        primary_key = CompositeKey("user", "name")
        indexes = ((("let_go",), False),)


class Room(BaseModel):
    name = CaselessTextField()  # unique ignoring case: ROOM_NAME_INDEX
    topic = TextField(default="")
    created = IntegerField()
    # Who created it: the limit on rooms per creator holds across restarts.
    # Null for rooms.default rooms and rooms made before version 4.
    creator = ForeignKeyField(User, null=True, column_name="creator_id")
    # Seen, joined and read only by its members (RoomMember): a web app's room, made through the API.
    members_only = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    # Read-only: history stays readable, nobody posts (chatd.roomcare).
    archived = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    # Only moderators and admins post (chatd.roomcare).
    announcement = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    # Days its messages are kept; None: history.retention_days; 0: for ever (chatd.retention).
    retention_days = IntegerField(null=True)


class RoomKey(BaseModel):
    """The name keys of each room (``chatd.names.name_keys``): one room per key,
    so no two rooms have names that look alike. Made from the room names by
    ``chatd.store.migrations.fill_room_keys`` whenever ``Meta["room_keys"]`` names another key version."""

    key = TextField(primary_key=True)
    room = ForeignKeyField(Room, on_delete="CASCADE")

    class Meta:
        table_name = "room_key"


class RoomMember(BaseModel):
    """Who may see, join and read a members-only room, and why: ``source``
    "api" (added through the HTTP API, kept until removed there) or "token"
    (the ``rooms`` claim of the user's last app token, replaced by the next).
    A user is a member while it has a row of either source."""

    room = ForeignKeyField(Room, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    source = TextField()
    added = IntegerField()  # ms since the epoch

    class Meta:
        table_name = "room_member"
        primary_key = CompositeKey("room", "user", "source")
        indexes = ((("user",), False),)  # a user's rooms (the token claim's replacement)


class Message(BaseModel):
    # Ids never go back, even if the newest rows are deleted.
    id = IdField()
    # No index of its own for room, sender or recipient: the indexes below (and the partial ones,
    # PRIVATE_INDEXES) start with them and serve their lookups (and ON DELETE CASCADE); each index
    # more is a b-tree every insert writes.
    room = ForeignKeyField(Room, null=True, on_delete="CASCADE", index=False)
    sender = ForeignKeyField(User, index=False)
    sender_name = TextField()
    recipient = ForeignKeyField(User, null=True, index=False)
    recipient_name = TextField(null=True)
    pair = TextField(null=True)  # "lo:hi" user ids of a private conversation
    text = TextField()
    ts = IntegerField()
    cid = TextField(null=True)
    # A tombstone: ms since the epoch a moderator deleted it (its text is then ''); None: not deleted.
    deleted = IntegerField(null=True)
    # Its files (chatd.store.uploads): JSON, what its frames show of them, written with the message
    # so a page of history needs no other read; None: none (and once a tombstone).
    attachments = TextField(null=True)
    # ms since the epoch its author last edited it (chatd.changes); None: never edited.
    edited = IntegerField(null=True)
    # The message it replies to (an id in the same room or conversation; not a foreign key: the
    # original may be purged, and the reply then quotes it as deleted). None: no reply.
    reply_to = IntegerField(null=True)
    # The change counter (``Counter`` "message_rev") as of its last edit, deletion or reaction
    # change: a resuming client is sent the messages changed since the last change it saw
    # (docs/protocol.md, "Edits and reactions"). None: never changed.
    rev = IntegerField(null=True)
    # The users its @names mention (chatd.mentions): ",3,17," (commas around each id, so that a
    # count of a user's mentions matches ",3," with LIKE); None: nobody.
    mentions = TextField(null=True)

    class Meta:
        indexes = (
            (("room", "id"), False),
            (("sender", "id"), False),
            (("sender", "cid"), True),  # a retried say is found, not stored twice
        )


class RoomRead(BaseModel):
    """A room a user follows (joined and did not leave): how far the user read it, on any
    device, and how it notifies them (``chatd.store.readstate``). ``last_read`` only grows."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    room = ForeignKeyField(Room, on_delete="CASCADE")
    last_read = IntegerField(default=0)  # a message id: those up to it are read
    notify = TextField(null=True)  # "all", "mentions" or "none"; None: the default (chatd.attention)

    class Meta:
        table_name = "room_read"
        primary_key = CompositeKey("user", "room")
        indexes = ((("room",), False),)  # a room's followers: whom its @names may mention


class Conversation(BaseModel):
    """One end of a private conversation: user ``user`` with ``peer`` (both ends have a row,
    one when a user writes to itself), kept by the store of each private message, so that the
    list of a user's conversations is one indexed read (``chatd.store.readstate``)."""

    user = ForeignKeyField(User, on_delete="CASCADE")
    peer = ForeignKeyField(User, column_name="peer_id", on_delete="CASCADE")
    last_id = IntegerField()  # its newest message
    last_read = IntegerField(default=0)  # only grows
    notify = TextField(null=True)  # as RoomRead's
    hidden_upto = IntegerField(default=0)  # closed at this last_id: listed again once a newer message comes

    class Meta:
        table_name = "conversation"
        primary_key = CompositeKey("user", "peer")
        indexes = ((("user", "last_id"), False),)  # a user's conversations, newest first


class Bot(BaseModel):
    """A bot (``chatd.bots``): a user whose messages chatd hands to a webhook. Its
    ``secret`` signs the calls (HMAC-SHA256, ``chatd.webhooks``): chatd must sign
    with it, so it is kept as it is, not hashed."""

    user = ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    webhook_url = TextField()
    secret = TextField()  # hex
    created = IntegerField()  # ms since the epoch


class BotRoom(BaseModel):
    """The rooms a bot is in: where a mention of it calls its webhook."""

    id = IdField()
    bot = ForeignKeyField(Bot, on_delete="CASCADE", column_name="bot_id")
    room = ForeignKeyField(Room, on_delete="CASCADE")

    class Meta:
        table_name = "bot_room"
        indexes = ((("bot", "room"), True),)


class StoredEvent(BaseModel):
    """A notification kept for a user until it expires (``chatd.events``). ``seq`` counts
    the user's events 1, 2, 3... with no gap (the frame's ``id``; the bus's ``prev`` is
    ``seq - 1``): a user's newest row is kept when it expires (``chatd.store.events``),
    so a number is never handed out twice."""

    id = IdField()
    user = ForeignKeyField(User, on_delete="CASCADE")
    seq = IntegerField()
    name = TextField()
    data = TextField()  # the payload, as compact JSON
    ts = IntegerField()  # ms since the epoch it was stored
    expires = IntegerField()  # ms since the epoch it stops being delivered

    class Meta:
        table_name = "event"
        indexes = (
            (("user", "seq"), True),
            (("expires",), False),
        )


class Reaction(BaseModel):
    """One user's reaction with one emoji to one message (``chatd.changes``). Gone with the
    message, and when the message becomes a tombstone (``chatd.store.moderation.tombstone``)."""

    id = IdField()  # reactions are listed in the order they were first given
    message = ForeignKeyField(Message, on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    emoji = TextField()  # one fully-qualified emoji (chatd.protocol.fields, ``_emoji``)
    ts = IntegerField()  # ms since the epoch

    class Meta:
        table_name = "reaction"
        indexes = ((("message", "user", "emoji"), True),)


class Counter(BaseModel):
    """A number every node draws from in commit order: ``UPDATE ... RETURNING`` takes its row's
    lock until the transaction commits (``chatd.store.changes.next_rev``)."""

    name = TextField(primary_key=True)
    value = IntegerField()


MESSAGE_REV = "message_rev"  # the Counter of message changes (``Message.rev``)


# The messages changed since a client's last seen change (chatd.store.changes): only the
# few messages ever changed are indexed, so the index costs a plain insert nothing.
MESSAGE_REV_INDEX = 'CREATE INDEX IF NOT EXISTS "message_rev" ON "message" ("rev") WHERE "rev" IS NOT NULL'


# A sender's private messages, so that the last one is found without reading its room
# messages (chatd.store: the previous message in an inbox). peewee's Meta.indexes
# cannot say WHERE: made by chatd.store.migrations.
PRIVATE_SENDER_INDEX = ('CREATE INDEX IF NOT EXISTS "message_private_sender" ON "message" ("sender_id", "id") '
                        'WHERE "recipient_id" IS NOT NULL')

# A conversation's messages, and a user's received ones: private messages only (room messages,
# most of them, leave pair and recipient NULL), so a room message's insert writes neither
# b-tree (a bare insert 8.2 → 7.3 µs, issue 13). A query by ``pair = ?`` or ``recipient_id = ?``
# uses them as it would whole ones: both databases know that "=" implies IS NOT NULL.
PRIVATE_INDEXES = (
    'CREATE INDEX IF NOT EXISTS "message_pair_id" ON "message" ("pair", "id") WHERE "pair" IS NOT NULL',
    'CREATE INDEX IF NOT EXISTS "message_recipient_id_id" ON "message" ("recipient_id", "id") '
    'WHERE "recipient_id" IS NOT NULL',
)


# Room names are unique ignoring case: on SQLite the column's NOCASE collation does
# it (the index SQLite databases always had); PostgreSQL indexes the lower-case name.
ROOM_NAME_INDEX = 'CREATE UNIQUE INDEX "room_name" ON "room" ("name")'
PG_ROOM_NAME_INDEX = 'CREATE UNIQUE INDEX "room_name" ON "room" (lower("name"))'

class ApiKey(BaseModel):
    """A key of the HTTP API (``chatd.auth.apikeys``): ``chatd_<public_id>_<secret>``, of which only
    the sha256 of the secret is kept. Kept once revoked, so that it stays refused and listed."""

    id = IdField()
    name = TextField(unique=True)
    public_id = TextField(unique=True)  # the key's <id> part: finds the row, shown by `chatd apikey list`
    secret_hash = TextField()  # hex sha256 of the secret part
    scopes = TextField()  # space-separated: publish, read, manage
    # The user it acts as, if bound (a bot's key): it posts as that user only.
    user = ForeignKeyField(User, null=True, column_name="user_id", on_delete="CASCADE")
    created = IntegerField()  # ms since the epoch
    last_used = IntegerField(null=True)  # ms since the epoch, noted at most once a minute per process
    revoked = IntegerField(null=True)  # ms since the epoch it was revoked; None while it holds

    class Meta:
        table_name = "api_key"


class ApiIdempotency(BaseModel):
    """An ``Idempotency-Key`` of the HTTP API seen with a request that stored a message:
    a retry is answered from the message it stored (``chatd.store.base``, ``Draft.once``).
    Written in the transaction that stores the message, so both or neither exist."""

    id = IdField()
    api_key = ForeignKeyField(ApiKey, column_name="api_key_id", on_delete="CASCADE")
    key = TextField()  # the header's value
    fingerprint = TextField()  # hex sha256 of what the request asked (method, path, body)
    message = ForeignKeyField(Message, column_name="message_id", on_delete="CASCADE")
    created = IntegerField()  # ms since the epoch; removed api.idempotency_hours later

    class Meta:
        table_name = "api_idempotency"
        indexes = ((("api_key", "key"), True), (("created",), False))


class Mute(BaseModel):
    """A user who may not ``say`` (``chatd.moderation``): in one room, or everywhere (``room`` None),
    until a time or until unmuted (``until`` None). At most one per (user, room): a new mute replaces it."""

    id = IdField()
    user = ForeignKeyField(User, on_delete="CASCADE")
    room = ForeignKeyField(Room, null=True, on_delete="CASCADE")
    until = IntegerField(null=True)  # ms since the epoch it ends; None: until unmuted
    reason = TextField(default="")
    created = IntegerField()  # ms since the epoch

    class Meta:
        table_name = "mute"
        indexes = ((("user", "room"), False),)


class Ban(BaseModel):
    """A user, or an address or CIDR network, kept out (``chatd.moderation``): exactly one of
    ``user`` and ``network`` (canonical text, ``ipaddress.ip_network``), until a time or for
    good (``until`` None)."""

    id = IdField()
    user = ForeignKeyField(User, null=True, on_delete="CASCADE")
    network = TextField(null=True)
    until = IntegerField(null=True)  # ms since the epoch it ends; None: for good
    reason = TextField(default="")
    created = IntegerField()  # ms since the epoch

    class Meta:
        table_name = "ban"
        indexes = ((("user",), False), (("network",), False))


class ReservedName(BaseModel):
    """A user or room name nobody may take (``chatd.reserved``): a name, compared by its
    look-alike keys, or a pattern with ``*`` for any run of characters. ``scope`` says
    what it holds back: "user", "room" or "any"."""

    id = IdField()
    pattern = TextField(unique=True)
    scope = TextField()
    reason = TextField(default="")
    created = IntegerField()  # ms since the epoch

    class Meta:
        table_name = "reserved_name"


class AuditLog(BaseModel):
    """One admin or moderator action (``chatd.audit``): who, what, on what, when, why. Only ever
    inserted: nothing in chatd updates or deletes a row (the admin page shows them read-only)."""

    id = IdField()
    ts = IntegerField()  # ms since the epoch
    actor_kind = TextField()  # chatd.audit.Actor.kind: "admin" (an admin account), "user" (a chat user), "cli"...
    actor_id = IntegerField()  # the admin account's or user's id; 0 for the CLI and the server itself
    actor_name = TextField()  # as it was then
    action = TextField()  # dotted: "message.delete", "admin.login" (chatd.audit.ACTIONS)
    target = TextField(default="")  # what it was done to, as text: "message:1207", "user:42", "room:lobby"
    reason = TextField(default="")
    detail = TextField(default="{}")  # JSON object

    class Meta:
        table_name = "audit_log"
        # The admin page's filters, each read newest first (chatd.store.audit)
        indexes = ((("action", "id"), False), (("actor_name", "id"), False), (("target", "id"), False))


class AdminAccount(BaseModel):
    """An account of the admin page, made by ``chatd admin create`` (``chatd.auth.admins``)."""

    id = IdField()
    name = TextField()  # as given
    key = TextField(unique=True)  # the name case-folded: one account per name, whatever its case
    password_hash = TextField()  # "scrypt$n$r$p$salt$hash" (chatd.auth.admins)
    created = IntegerField()  # ms since the epoch
    changed = IntegerField()  # ms since the epoch the password was last set

    class Meta:
        table_name = "admin_account"


class AdminAccountKey(BaseModel):
    """The look-alike keys of each admin account's name (``chatd.names.name_keys``, as rooms'
    and users' names): one account per key, so no two accounts have names that look alike
    (``admin`` and ``аdmin`` in Cyrillic). Remade by ``chatd.store.migrations.fill_admin_keys``
    whenever ``Meta["admin_keys"]`` names another key version."""

    key = TextField(primary_key=True)
    account = ForeignKeyField(AdminAccount, on_delete="CASCADE")

    class Meta:
        table_name = "admin_account_key"


class AdminSession(BaseModel):
    """A signed-in admin page (``chatd.admin.sessions``): of an admin account, or of a chat user whose
    roles let them in (then also the user's sign-in and token generation, so that signing out of the
    chat, or losing the role, ends it). Only the sha256 of the cookie's token is kept."""

    id = IdField()
    token_hash = TextField(unique=True)  # hex sha256 of the cookie's value
    csrf = TextField()  # the token every state change must carry in X-CSRF-Token
    account = ForeignKeyField(AdminAccount, null=True, column_name="account_id", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, column_name="user_id", on_delete="CASCADE")
    sign_in = IntegerField(null=True)  # the chat sign-in it came from (a user's session)
    generation = IntegerField(null=True)  # the user's token generation then
    created = IntegerField()  # ms since the epoch: it ends admin.session_hours later
    seen = IntegerField()  # ms since the epoch of its last use: it ends admin.idle_minutes after
    address = TextField(default="")  # where it signed in from

    class Meta:
        table_name = "admin_session"
        indexes = ((("account",), False), (("user",), False), (("created",), False))


class Traffic(BaseModel):
    """What one process (a node of the cluster, a worker) saw in one minute: the admin
    dashboard's charts (``chatd.store.traffic``), summed over the nodes on read.
    Written once a minute per process, kept a day."""

    minute = IntegerField()  # ms since the epoch of the minute's start
    node = TextField()  # the bus's node id of the process (chatd.bus.new_node_id)
    connections = IntegerField()  # the most WebSocket connections open at once in the minute
    messages = IntegerField()  # messages the process stored in the minute

    class Meta:
        table_name = "traffic"
        primary_key = CompositeKey("minute", "node")


class Upload(BaseModel):
    """A file a user uploaded (``chatd.store.uploads``): kept in the database, so every node
    serves it and a backup carries it. Attached to at most one message, and deleted with it
    (ON DELETE CASCADE, and ``chatd.store.moderation.tombstone``); one never attached is purged
    after ``uploads.unattached_hours`` (``chatd.retention``)."""

    id = TextField(primary_key=True)  # 128 random bits, URL-safe base64: its URL is its secret
    owner = ForeignKeyField(User, on_delete="CASCADE")
    name = TextField()  # chatd.filetypes.safe_name
    type = TextField()  # told by content: one of chatd.filetypes.UPLOAD_TYPES
    size = IntegerField()  # bytes of the file as stored (an image: as encoded anew)
    sha256 = TextField()  # hex, of the stored file: its ETag
    width = IntegerField(null=True)  # an image's pixels, as shown; None for other files
    height = IntegerField(null=True)
    thumb_size = IntegerField(null=True)  # bytes of its thumbnail (WebP); None: it has none
    created = IntegerField()  # ms since the epoch
    message = ForeignKeyField(Message, null=True, on_delete="CASCADE")  # None: not attached yet

    class Meta:
        indexes = ((("owner", "created"), False), (("message", "created"), False))


class UploadChunk(BaseModel):
    """An upload's bytes, in pieces of ``chatd.store.uploads.CHUNK_BYTES``: read and sent one at a
    time, so serving a file never holds it whole. ``part`` 0 is the file, 1 its thumbnail."""

    upload = ForeignKeyField(Upload, on_delete="CASCADE")
    part = IntegerField()
    seq = IntegerField()
    data = BlobField()  # SQLite BLOB, PostgreSQL bytea

    class Meta:
        table_name = "upload_chunk"
        primary_key = CompositeKey("upload", "part", "seq")


MODELS = (Meta, User, SignIn, Room, RoomKey, RoomMember, Message, ApiKey, ApiIdempotency, Bot, BotRoom, StoredEvent,
          AuditLog, AdminAccount, AdminAccountKey, AdminSession, Mute, Ban, Traffic, ReservedName, Upload, UploadChunk,
          Reaction, Counter, RoomRead, Conversation, NameHold)


def now_ms() -> int:
    """The store's clock: milliseconds since the Unix epoch, UTC."""
    return int(time.time() * 1000)


def pair_key(a: int, b: int) -> str:
    """The key of the private conversation between users a and b."""
    return f"{min(a, b)}:{max(a, b)}"
