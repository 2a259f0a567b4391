"""Everything chatd keeps: users, rooms, messages, in one SQLite file.

Writes go through one writer thread (``chatd.store.writer``) and are
committed in groups; reads run in a small thread pool with connections of
their own (WAL lets them read while the writer writes). The event loop
never touches SQLite.

    store = Store("chatd.db")
    store.open(loop)                      # migrate, read the epoch, start the writer
    store.epoch                           # chatd.epoch.Epoch: which database this is
    await store.newest(at_least=1207)     # the highest message id handed out here
    store.save_message(draft, on_stored)  # on_stored(Stored, error) after commit
    page = await store.room_history(room_id, before=None, after=None, limit=50)  # a Page of MessageRows
    await store.delete_room(room_id)      # True, or False when it holds messages (then it stays)
    store.close()
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sqlite3
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from peewee import IntegrityError, SqliteDatabase

from chatd.bus import room_channel, user_channel
from chatd.epoch import META_RESTORED, Epoch
from chatd.names import name_keys
from chatd.store.schema import Meta, Room, RoomKey, User, database, fill_room_keys, migrate, now_ms, pair_key
from chatd.store.signins import SignInStore
from chatd.store.writer import Done, Writer, WriterClosed

__all__ = ["Store", "Draft", "MessageRow", "Stored", "Page", "RoomUse", "NoSuchUser", "RoomExists", "WriterClosed",
           "now_ms"]

READ_THREADS = 2

log = logging.getLogger("chatd.store")


class NoSuchUser(Exception):
    pass


class RoomExists(Exception):
    """A room with this name, or one that looks like it, exists: ``existing`` is its name."""

    def __init__(self, existing: str):
        super().__init__(existing)
        self.existing = existing


@dataclass(slots=True)
class Draft:
    """A message on its way to the store: a room id or a recipient id."""

    sender_id: int
    sender_name: str
    text: str
    cid: str | None = None
    room_id: int | None = None
    room_name: str | None = None
    recipient_id: int | None = None


class MessageRow(NamedTuple):
    """One stored message as the store hands it out; ``chatd.protocol`` makes frames of it.

    A tuple, so that reading a page or storing a message costs one allocation per row.
    """

    id: int
    room: str | None  # the room's name; None for a private message
    sender_id: int
    sender_name: str
    recipient_id: int | None  # None for a room message
    recipient_name: str | None
    text: str
    ts: int  # when it was stored: milliseconds since the Unix epoch, UTC


class Stored(NamedTuple):
    """What ``save_message`` gives back once the message is committed."""

    row: MessageRow
    duplicate: bool  # this (sender, cid) was stored before: ``row`` is that message, not published again
    channels: tuple[str, ...]  # the bus channels it belongs to (chatd.bus): its room, or both users' inboxes
    # Per channel, the id of the message before it there (0: none), when the store is
    # shared with other processes; None otherwise (one writer: commit order is id order).
    prev: tuple[int, ...] | None


@dataclass(slots=True)
class Page:
    """Messages of one channel, read from a cursor: up from ``after`` (``forward``), or
    down from ``before`` or the newest."""

    rows: list[MessageRow]  # oldest first
    more: bool  # other rows exist beyond the far end from the cursor: newer if forward, else older
    forward: bool


class RoomUse(NamedTuple):
    """What the limits on rooms need to know of a stored room."""

    creator_id: int | None  # None: a rooms.default room, or one from before creators were kept
    messaged: bool  # it holds a message


# In MessageRow order.
_COLUMNS = "m.id, r.name, m.sender_id, m.sender_name, m.recipient_id, m.recipient_name, m.text, m.ts"
_SELECT = f"SELECT {_COLUMNS} FROM message m LEFT JOIN room r ON r.id = m.room_id"
_TEXT = MessageRow._fields.index("text")


def _prev_in_room(sql: sqlite3.Connection, room_id: int, before: int) -> int:
    """The id of the room's last message below ``before`` (0: none): one probe of index (room_id, id)."""
    return sql.execute("SELECT coalesce(max(id), 0) FROM message WHERE room_id = ? AND id < ?",
                       (room_id, before)).fetchone()[0]


def _prev_in_inbox(sql: sqlite3.Connection, user_id: int, before: int) -> int:
    """The id of the last private message to or from the user below ``before`` (0: none):
    one probe each of index (recipient_id, id) and the partial index of private senders."""
    return sql.execute(
        "SELECT max(coalesce((SELECT max(id) FROM message WHERE recipient_id = ?1 AND id < ?2), 0), "
        "coalesce((SELECT max(id) FROM message WHERE sender_id = ?1 AND recipient_id IS NOT NULL AND id < ?2), 0))",
        (user_id, before)).fetchone()[0]


# File → the peewee database of the shared stores of this process on it (see Store).
_SHARED_DATABASES: weakref.WeakValueDictionary[str, SqliteDatabase] = weakref.WeakValueDictionary()


class Store:
    def __init__(self, path: str, synchronous: str = "normal", batch_max: int = 512, shared: bool = False):
        self.path = path
        # Other processes write this database too (a bus is configured): each
        # write transaction takes the write lock at its start (BEGIN IMMEDIATE), so
        # the ``prev`` it reads is still the channel's last message when it commits.
        self.shared = shared
        pragmas = {"journal_mode": "wal", "synchronous": synchronous, "foreign_keys": 1, "busy_timeout": 5000}
        if shared:
            # The models are bound to one database object per process (schema.database), so
            # stores of one process on the same file (several nodes in one test) share it:
            # peewee keeps a connection per thread, so each writer keeps its own.
            key = os.path.realpath(path)
            self.db = _SHARED_DATABASES.get(key) or _SHARED_DATABASES.setdefault(key, SqliteDatabase(path, pragmas))
        else:
            self.db = SqliteDatabase(path, pragmas=pragmas)
        self._batch_max = batch_max
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="chatd-read")
        self.writer: Writer | None = None
        self.epoch: Epoch | None = None
        self.restored: dict[str, Any] | None = None  # the record of the restore that made this epoch
        # The highest message id known to be handed out. The writer thread raises
        # it on each insert (before the commit: a higher value only means an id
        # about to exist); newest() rereads it when it is not high enough.
        self.newest_id = 0
        self.sign_ins = SignInStore(self)  # users' sign-ins and token generations

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Create or migrate the schema, read the epoch, and start the writer thread."""
        database.initialize(self.db)
        with self.db.connection_context():
            migrate(self.db)
            for room, like in fill_room_keys(self.db):
                log.warning("room %r looks like the older room %r; both stay, but no new room may look like "
                            "either", room, like)
            meta = {row.key: row.value for row in Meta.select()}
            self.newest_id = self._read_newest_id()
        self.epoch = Epoch.from_meta(meta)
        self.restored = json.loads(meta[META_RESTORED]) if META_RESTORED in meta else None
        self.writer = Writer(self.db, loop, self._batch_max, begin="IMMEDIATE" if self.shared else None)
        self.writer.start()

    def close(self, timeout: float | None = None) -> None:
        """Commit what is queued, then stop the writer and readers."""
        if self.writer:
            self.writer.close(timeout)
        self._readers.shutdown(wait=True, cancel_futures=True)

    # Start-up (before serving; these block).

    def secret(self) -> bytes:
        """The key that signs resume tokens, created on first use and kept here."""
        with self.db.connection_context(), self.db.atomic():
            row = Meta.get_or_none(Meta.key == "token_secret")
            if row is None:
                row = Meta.create(key="token_secret", value=secrets.token_hex(32))
        return bytes.fromhex(row.value)

    def rooms(self) -> list[tuple[int, str, str]]:
        """(id, name, topic) of every room."""
        with self.db.connection_context():
            return [(r.id, r.name, r.topic) for r in Room.select().order_by(Room.id)]

    def room_rows(self) -> list[tuple[int, str, str, int | None]]:
        """(id, name, topic, creator id) of every room; for ``read`` (a reader thread)."""
        return self.db.execute_sql("SELECT id, name, topic, creator_id FROM room ORDER BY id").fetchall()

    def room_uses(self) -> dict[int, RoomUse]:
        """Room id → RoomUse, for every room."""
        with self.db.connection_context():
            # One index probe per room (message (room_id, id)), not a scan of the messages.
            rows = self.db.execute_sql("SELECT r.id, r.creator_id, EXISTS (SELECT 1 FROM message m "
                                       "WHERE m.room_id = r.id) FROM room r").fetchall()
        return {room_id: RoomUse(creator, bool(messaged)) for room_id, creator, messaged in rows}

    def ensure_rooms(self, names: list[str]) -> list[tuple[str, str]]:
        """Create the rooms that do not exist; returns (name, existing room)
        for each one not created because another room's name looks like it."""
        refused = []
        with self.db.connection_context(), self.db.atomic():
            for name in names:
                try:
                    self._insert_room(name, "", None)
                except RoomExists as e:
                    if e.existing.casefold() != name.casefold():
                        refused.append((name, e.existing))
        return refused

    # Writes (through the writer thread).

    def save_message(self, draft: Draft, done: Done) -> None:
        """Store a message; ``done(Stored, error)`` runs on the loop after commit.

        A draft whose (sender, cid) is already stored is not stored again:
        the result is the stored message with ``duplicate`` True.
        """
        assert self.writer
        self.writer.submit(lambda: self._insert(draft), done)

    def _insert(self, d: Draft) -> Stored:
        sql = self.db.connection()  # sqlite3 itself: this is the hottest write
        recipient_name = pair = None
        if d.recipient_id is not None:
            found = sql.execute("SELECT name FROM user WHERE id = ?", (d.recipient_id,)).fetchone()
            if found is None:
                raise NoSuchUser(d.recipient_id)
            recipient_name = found[0]
            pair = pair_key(d.sender_id, d.recipient_id)
            users = (d.sender_id,) if d.sender_id == d.recipient_id else (d.sender_id, d.recipient_id)
            channels = tuple(map(user_channel, users))
        else:
            channels = (room_channel(d.room_id),)
        ts = now_ms()
        cursor = sql.execute(
            "INSERT INTO message (room_id, sender_id, sender_name, recipient_id, recipient_name, pair, text, ts, cid)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sender_id, cid) DO NOTHING",
            (d.room_id, d.sender_id, d.sender_name, d.recipient_id, recipient_name, pair, d.text, ts, d.cid),
        )
        if cursor.rowcount == 0:  # this (sender, cid) is stored already: a retry
            row = sql.execute(_SELECT + " WHERE m.sender_id = ? AND m.cid = ?", (d.sender_id, d.cid)).fetchone()
            return Stored(MessageRow._make(row), True, channels, None)
        new_id = cursor.lastrowid
        self.newest_id = new_id  # one writer thread: ids arrive in order
        row = MessageRow(new_id, d.room_name, d.sender_id, d.sender_name, d.recipient_id, recipient_name, d.text, ts)
        prev = None
        if self.shared:  # under the write lock: nothing can come between these and the insert
            prev = (_prev_in_room(sql, d.room_id, new_id),) if pair is None else tuple(
                _prev_in_inbox(sql, uid, new_id) for uid in users)
        return Stored(row, False, channels, prev)

    def rename_user(self, user_id: int, name: str) -> asyncio.Future:
        assert self.writer
        return self.writer.run(lambda: User.update(name=name).where(User.id == user_id).execute())

    def create_room(self, name: str, topic: str, creator_id: int | None = None) -> asyncio.Future:
        """→ the new room's id; RoomExists if a room has this name or one
        that looks like it (``chatd.names.name_keys``)."""
        assert self.writer
        return self.writer.run(lambda: self._insert_room(name, topic, creator_id))

    def delete_room(self, room_id: int) -> asyncio.Future:
        """Delete a room that holds no message, with its name keys; → True (also
        when it is gone already: another process removed it), or False if it
        holds a message after all (it then stays): a message is never lost to
        a room's removal."""
        assert self.writer

        def delete() -> bool:
            self.db.execute_sql("DELETE FROM room WHERE id = ? AND NOT EXISTS "
                                "(SELECT 1 FROM message WHERE room_id = ?)", (room_id, room_id))
            return self.db.execute_sql("SELECT 1 FROM room WHERE id = ?", (room_id,)).fetchone() is None

        return self.writer.run(delete)

    def _insert_room(self, name: str, topic: str, creator_id: int | None) -> int:
        keys = sorted(name_keys(name))
        try:
            with self.db.atomic():  # a savepoint: the room and its keys, or neither
                room_id = Room.insert(name=name, topic=topic, created=now_ms(), creator=creator_id).execute()
                RoomKey.insert_many([(key, room_id) for key in keys], fields=[RoomKey.key, RoomKey.room]).execute()
                return room_id
        except IntegrityError:
            existing = (Room.select(Room.name).join(RoomKey).where(RoomKey.key.in_(keys)).scalar()
                        or Room.select(Room.name).where(Room.name == name).scalar())
            raise RoomExists(existing or name) from None

    # Reads (in the reader pool).

    def _read_newest_id(self) -> int:
        """The highest message id ever handed out here (a restore may have raised it past the rows)."""
        row = self.db.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = 'message'").fetchone()
        return row[0] if row else 0

    async def newest(self, at_least: int = 0) -> int:
        """The highest message id handed out here, reread from the database if below ``at_least``."""
        if at_least > self.newest_id:
            stored = await self.read(self._read_newest_id)
            self.newest_id = max(self.newest_id, stored)
        return self.newest_id

    def read(self, fn: Callable[[], Any]) -> asyncio.Future:
        """→ ``fn()``, run in a reader thread with that thread's own connection."""
        def in_thread() -> Any:
            self.db.connect(reuse_if_open=True)  # one connection per reader thread, kept
            return fn()

        return asyncio.get_running_loop().run_in_executor(self._readers, in_thread)

    def user_name(self, user_id: int) -> asyncio.Future:
        """→ the user's current name, or None if there is no such user."""

        def query() -> str | None:
            row = self.db.execute_sql("SELECT name FROM user WHERE id = ?", (user_id,)).fetchone()
            return row[0] if row else None

        return self.read(query)

    # Pages of messages. Each takes ``before``, ``after`` (message ids or None), ``limit``
    # (most rows) and ``max_chars``; see ``_page``.

    def room_history(self, room_id: int, **page: Any) -> asyncio.Future:
        """→ a Page of the room's messages."""
        return self.read(lambda: self._page("m.room_id = ?", (room_id,), **page))

    def conversation_history(self, a: int, b: int, **page: Any) -> asyncio.Future:
        """→ a Page of the private messages between users ``a`` and ``b``."""
        return self.read(lambda: self._page("m.pair = ?", (pair_key(a, b),), **page))

    def private_history(self, user_id: int, **page: Any) -> asyncio.Future:
        """→ a Page of the private messages to or from a user, all conversations together."""
        where = "(m.recipient_id = ? OR (m.sender_id = ? AND m.recipient_id IS NOT NULL))"
        return self.read(lambda: self._page(where, (user_id, user_id), **page))

    def _page(self, where: str, params: tuple, before: int | None, after: int | None, limit: int,
              max_chars: int | None = None) -> Page:
        """With ``after``: the first rows above it; else the latest below ``before``
        (or the latest of all). At most ``limit`` rows, and reading stops after the row
        whose text takes the texts read past ``max_chars`` characters (None: no such
        bound), so a caller cutting a page to a size never has more than that in memory.
        """
        clauses, args = [where], list(params)
        if before is not None:
            clauses.append("m.id < ?")
            args.append(before)
        if after is not None:
            clauses.append("m.id > ?")
            args.append(after)
        forward = after is not None
        order = "ASC" if forward else "DESC"
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY m.id {order} LIMIT ?"
        cursor = self.db.execute_sql(sql, (*args, limit + 1))
        rows: list[MessageRow] = []
        chars, more = 0, False
        for row in cursor:  # sqlite3 steps one row at a time: what is not wanted is never read
            if len(rows) == limit or (max_chars is not None and chars > max_chars):
                more = True
                break
            rows.append(MessageRow._make(row))
            chars += len(row[_TEXT])
        cursor.close()
        if not forward:
            rows.reverse()
        return Page(rows, more, forward)

    def stats(self) -> asyncio.Future:
        """→ {"messages": count, "database_bytes": size of the file and its WAL}."""

        def query() -> dict[str, int]:
            count = self.db.execute_sql("SELECT count(*) FROM message").fetchone()[0]
            pages = self.db.execute_sql("PRAGMA page_count").fetchone()[0]
            page_size = self.db.execute_sql("PRAGMA page_size").fetchone()[0]
            return {"messages": count, "database_bytes": pages * page_size}

        return self.read(query)

    def backup(self, target: str) -> asyncio.Future:
        """Copy the live database to ``target`` with SQLite's online backup API."""

        def copy() -> None:
            source = self.db.connection()
            with sqlite3.connect(target) as dest:
                source.backup(dest)
            dest.close()

        return self.read(copy)
