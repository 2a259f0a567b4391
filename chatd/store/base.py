"""The store's interface: the ``Store`` base class.

``chatd.store.sqlite`` and ``chatd.store.postgres`` implement it; what
they do alike is here; what it hands out (rows, pages) is ``chatd.store.rows``.
Models of ``chatd.store.schema`` are bound to no database: a query names the
store's own (``.execute(self.db)``), so several stores may live in one
process (several nodes in a test) without one writing through another's
connection.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any

from peewee import Database, IntegrityError
from peewee import DatabaseError as PeeweeDatabaseError

from chatd.epoch import META_RESTORED, Epoch
from chatd.names import name_keys
from chatd.store.admins import AdminStore
from chatd.store.apikeys import ApiKeyStore
from chatd.store.audit import AuditStore
from chatd.store.bots import BotStore
from chatd.store.changes import ChangeStore, decorate
from chatd.store.events import EventStore
from chatd.store.health import Health, reason_of
from chatd.store.living import living
from chatd.store.members import MemberStore
from chatd.store.migrations import SchemaError, fill_admin_keys, fill_room_keys, migrate
from chatd.store.moderation import ModerationStore
from chatd.store.nameholds import NameHoldStore
from chatd.store.outage import Outage
from chatd.store.readstate import ReadStateStore
from chatd.store.reserved import ReservedStore
from chatd.store.rows import (
    SELECT,
    DatabaseRefused,
    DatabaseUnreachable,
    Draft,
    MessageRow,
    Once,
    Page,
    ReusedKey,
    RoomExists,
    RoomUse,
    Stored,
)
from chatd.store.savepoint import OneChange
from chatd.store.schema import MODELS, Meta, Room, RoomKey, User, now_ms, pair_key
from chatd.store.search import SearchStore
from chatd.store.signins import SignInStore
from chatd.store.traffic import TrafficStore
from chatd.store.uploads import UploadStore, attach
from chatd.store.writer import Done, Writer

READ_THREADS = 2
SECRET_BYTES = 32  # of a token secret chatd makes (chatd.auth.secret.SECRET_MIN_BYTES: all it asks)
# A new room and its name keys, as SQL rather than built by peewee per call (profiled: peewee
# took ~185 µs to build and run the two, 15 µs as SQL; a storm makes a room per 10 clients).
_ROOM = ('INSERT INTO "room" ("name", "topic", "created", "creator_id", "members_only", "archived", '
         '"announcement") VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "id"')
_ROOM_KEYS = 'INSERT INTO "room_key" ("key", "room_id") VALUES '
# The schema code binds the models to one database at a time (peewee's bind_ctx is
# global): stores of one process opening at once take turns.
_BINDING = threading.Lock()

log = logging.getLogger("chatd.store")


# The messages of a room (its id), and of a user's inbox (its id twice): the history reads' conditions.
ROOM_WHERE = "m.room_id = ?"
INBOX_WHERE = "(m.recipient_id = ? OR (m.sender_id = ? AND m.recipient_id IS NOT NULL))"

# SQL here is written with "?" for parameters (Store._q) and "user" quoted: a reserved word in PostgreSQL.
TEXT = MessageRow._fields.index("text")


class Store:
    """What both stores do alike; each kind adds its hot path (``save_message``),
    its sequence (``_read_newest_id``), ``stats`` and ``backup``."""

    # Whether the database is a server to ask, while it is down, whether it is back (chatd.store.outage).
    probed = False
    # How a write on a user's behalf, and the user's erasure, lock its row (chatd.store.living):
    # nothing where one writer writes at a time (SQLite).
    share_user = ""
    update_user = ""

    def __init__(self, db: Database, batch_max: int, failures: tuple[type[BaseException], ...]):
        """``failures``: the driver's exceptions that mean the database failed (``chatd.store.health``)."""
        self.db = db
        self.health = Health(failures)  # the outage under way, if any: chatd status, /healthz
        # The outage as the loop sees it: probed while it lasts, awaited by the feed's fills.
        self.outage = Outage(self.health, self._probe if self.probed else None)
        self._batch_max = batch_max
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="chatd-read")
        self._reads: list[tuple[Callable[[], Any], asyncio.Future]] = []  # asked during this loop pass
        self.writer: Writer | None = None
        self.epoch: Epoch | None = None
        self.restored: dict[str, Any] | None = None  # the record of the restore that made this epoch
        # The highest message id known to be handed out. The writer thread raises
        # it on each insert (before the commit: a higher value only means an id
        # about to exist); newest() rereads it when it is not high enough.
        self.newest_id = 0
        self.sign_ins = SignInStore(self)  # users' sign-ins and token generations
        self.members = MemberStore(self)  # members-only rooms and their members
        self.api_keys = ApiKeyStore(self)  # the HTTP API's keys
        self.bots = BotStore(self)  # bots: their webhooks and rooms
        self.events = EventStore(self)  # users' stored notifications
        self.moderation = ModerationStore(self)  # tombstones, mutes and bans
        self.changes = ChangeStore(self)  # edits, reactions, what replies quote, the change counter
        self.search = SearchStore(self)  # full-text search and the filtered reads of messages
        self.reserved = ReservedStore(self)  # names nobody may take
        self.audit = AuditStore(self)  # the audit log of admin and moderator actions
        self.admins = AdminStore(self)  # admin accounts and the admin page's sessions
        self.traffic = TrafficStore(self)  # connections and messages per minute (the admin dashboard)
        self.name_holds = NameHoldStore(self)  # the names held for users across a restart
        self.uploads = UploadStore(self)  # uploaded files, and their bytes
        self.read_state = ReadStateStore(self)  # rooms followed, conversations, how far each is read

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Create or migrate the schema, read the epoch, and start the writer thread.
        DatabaseUnreachable (the driver's reason) if the database cannot be opened,
        DatabaseRefused if it is none chatd may use (``_opening``)."""
        with self._opening():
            self._migrate()
            meta = {row.key: row.value for row in Meta.select()}
            self.newest_id = self._read_newest_id()
        self.epoch = Epoch.from_meta(meta)
        self.restored = json.loads(meta[META_RESTORED]) if META_RESTORED in meta else None
        self.health.watch = functools.partial(_on_loop, loop, self.outage.changed)
        self.writer = self._make_writer(loop)
        self.writer.start()
        self.search.indexer.start(loop)

    def ensure_schema(self) -> None:
        """Create or migrate the schema, as ``open`` does, and nothing else: for a command
        that works on the database while a server may run (``chatd apikey``).
        DatabaseUnreachable (the driver's reason) if the database cannot be opened,
        DatabaseRefused if it is none chatd may use."""
        with self._opening():
            self._migrate()

    @contextmanager
    def _opening(self) -> Iterator[None]:
        """The database connected, with the models bound and the schema lock held, for ``open``
        and ``ensure_schema``; what is there looked at first (``_check_file``). Its failures as
        an operator reads them: DatabaseUnreachable for an outage (the driver's reason);
        DatabaseRefused for a database chatd must not use — a schema newer than this chatd, or
        one the driver cannot read (a damaged file: the driver's plain DatabaseError, never an
        outage's or a bug's subclass of it)."""
        self._check_file()
        try:
            with _BINDING, self.db.connection_context(), self.db.bind_ctx(MODELS), self._schema_lock():
                yield
        except SchemaError as e:
            raise DatabaseRefused(str(e)) from e
        except Exception as e:
            if self.health.is_failure(e):
                raise DatabaseUnreachable(reason_of(e)) from e
            if type(e) is PeeweeDatabaseError:
                raise DatabaseRefused(f"it cannot be read ({reason_of(e)}): it is damaged; `chatd restore` puts "
                                      f"a backup in its place") from e
            raise

    def _migrate(self) -> None:
        migrate(self.db)
        for room, like in fill_room_keys(self.db):
            log.warning("room %r looks like the older room %r; both stay, but no new room may look like "
                        "either", room, like)
        for account, like in fill_admin_keys(self.db):
            log.warning("admin account %r looks like the older account %r; both stay, but no new account may "
                        "look like either", account, like)

    def close(self, timeout: float | None = None) -> None:
        """Commit what is queued, then stop the writer and readers."""
        self.outage.close()
        self.search.indexer.stop()
        if self.writer:
            self.writer.close(timeout)
        self._readers.shutdown(wait=True, cancel_futures=True)

    # What each kind of store says for itself.

    def _check_file(self) -> None:
        """DatabaseRefused if what is at the database's place is none chatd may open (a
        store of files looks before its connection touches them: ``chatd.store.sqlitefile``)."""

    def _schema_lock(self) -> AbstractContextManager:
        """Held while the schema is made or migrated: other processes wait meanwhile."""
        return nullcontext()

    def _make_writer(self, loop: asyncio.AbstractEventLoop) -> Writer:
        return Writer(self.db, loop, self.health, self._batch_max)

    def _q(self, sql: str) -> str:
        """``sql`` (written with "?") with the driver's parameter marker."""
        return sql

    def _read_newest_id(self) -> int:
        """The highest message id ever handed out (by any process; a restore may have raised it past the rows)."""
        raise NotImplementedError

    def event_keys(self, user_id: int | None) -> tuple[int, ...]:
        """The lock keys a write of the user's events holds (``Writer.submit``; ``user_id`` None:
        the purge of expired ones): none where one writer writes (one SQLite process, or
        several taking the file's lock in turn)."""
        return ()

    def names_keys(self) -> tuple[int, ...]:
        """The lock keys a write of the bots' names holds, so that two nodes never give two
        bots names alike (``chatd.store.bots``): none where one writer writes."""
        return ()

    def quota_keys(self, user_id: int) -> tuple[int, ...]:
        """The lock keys a write of the user's uploads holds, so that two nodes never pass its
        quota together (``chatd.store.uploads``): none where one writer writes."""
        return ()

    def save_message(self, draft: Draft, done: Done) -> None:
        """Store a message; ``done(Stored, error)`` runs on the loop after commit.

        A draft whose (sender, cid) is already stored is not stored again:
        the result is the stored message with ``duplicate`` True. NoSuchUser
        if the recipient does not exist.
        """
        raise NotImplementedError

    def _job(self, draft: Draft) -> Callable[[], Stored]:
        """The writer's job that stores ``draft``: ``_insert``, or, with ``draft.once``, ``_insert_once``;
        with ``draft.attachments``, that and ``_attach``."""
        insert = self._insert if draft.once is None else self._insert_once
        if draft.attachments:
            return lambda: self._attach(draft, insert)
        return lambda: insert(draft)

    def _attach(self, draft: Draft, insert: Callable[[Draft], Stored]) -> Stored:
        """``insert(draft)`` and its attachments claimed (``chatd.store.uploads.attach``) in one
        savepoint: AttachmentRefused stores nothing. A retry (``duplicate``) claims nothing again."""
        with self.db.atomic():
            stored = insert(draft)
            if stored.duplicate:
                return stored
            text = attach(self, stored.row.id, draft.sender_id, draft.attachments)
            return stored._replace(row=stored.row._replace(attachments=text))

    def _insert(self, draft: Draft) -> Stored:
        """Store ``draft`` (in the writer thread, inside its transaction)."""
        raise NotImplementedError

    def _insert_once(self, d: Draft) -> Stored:
        """``_insert`` unless ``d.once`` was seen: then the message it stored, as a duplicate
        (not published again), or ReusedKey if it came with another request. The key and the
        message are stored together or not at all (a savepoint), so a retry after any failure
        stores it. Two at once (two nodes) with one key: the second insert of the key waits for
        the first's commit and fails, and the second then finds the first's message."""
        once = d.once
        self.db.execute_sql(self._q("DELETE FROM api_idempotency WHERE created < ?"), (once.oldest,))
        found = self._once_found(once)
        if found is None:
            try:
                with self.db.atomic():
                    stored = self._insert(d)
                    self.db.execute_sql(self._q(
                        "INSERT INTO api_idempotency (api_key_id, key, fingerprint, message_id, created) "
                        "VALUES (?, ?, ?, ?, ?)"), (once.api_key_id, once.key, once.fingerprint, stored.row.id,
                                                   stored.row.ts))
                return stored
            except IntegrityError:
                found = self._once_found(once)
                if found is None:
                    raise
        fingerprint, message_id = found
        if fingerprint != once.fingerprint:
            raise ReusedKey(once.key)
        row = self.db.execute_sql(self._q(SELECT + " WHERE m.id = ?"), (message_id,)).fetchone()
        return Stored(MessageRow(*row), True, d.channels(), None)

    def _once_found(self, once: Once) -> tuple[str, int] | None:
        """(fingerprint, message id) stored under ``once``'s key, or None."""
        return self.db.execute_sql(self._q("SELECT fingerprint, message_id FROM api_idempotency "
                                           "WHERE api_key_id = ? AND key = ?"), (once.api_key_id, once.key)).fetchone()

    def stats(self) -> asyncio.Future:
        """→ {"messages": count, "database_bytes": size on disk}."""
        raise NotImplementedError

    def backup(self, target: str) -> asyncio.Future:
        """Copy the live database to the file ``target``; StoreUnavailable where the store cannot."""
        raise NotImplementedError

    # Start-up (before serving; these block).

    def secret(self) -> bytes:
        """The key that signs resume tokens, created on first use and kept here."""
        return self.stored_secret() or self.keep_secret(secrets.token_bytes(SECRET_BYTES))

    def stored_secret(self) -> bytes | None:
        """The key that signs resume tokens, if one is kept here; writes nothing (a start that may
        yet be refused reads it, and keeps one only once past its checks: ``keep_secret``)."""
        with self.db.connection_context():
            value = Meta.select(Meta.value).where(Meta.key == "token_secret").scalar(self.db)
        return bytes.fromhex(value) if value else None

    def keep_secret(self, secret: bytes) -> bytes:
        """Keep ``secret`` as the key that signs resume tokens unless one is kept already;
        → the one kept. (Another process may make it at the same moment: the first one stays.)"""
        with self.db.connection_context():
            Meta.insert(key="token_secret", value=secret.hex()).on_conflict_ignore().execute(self.db)
            value = Meta.select(Meta.value).where(Meta.key == "token_secret").scalar(self.db)
        return bytes.fromhex(value)

    def rooms(self) -> list[tuple[int, str, str]]:
        """(id, name, topic) of every room."""
        with self.db.connection_context():
            return list(Room.select(Room.id, Room.name, Room.topic).order_by(Room.id).tuples().execute(self.db))

    def room_rows(self) -> list[tuple[int, str, str, int | None, bool, bool, bool]]:
        """(id, name, topic, creator id, members only, archived, announcement) of every room;
        for ``read`` (a reader thread)."""
        rows = self.db.execute_sql("SELECT id, name, topic, creator_id, members_only, archived, announcement "
                                   "FROM room ORDER BY id")
        return [(*row[:4], *map(bool, row[4:])) for row in rows.fetchall()]

    def room_uses(self) -> dict[int, RoomUse]:
        """Room id → RoomUse, for every room."""
        with self.db.connection_context():
            # One index probe per room (message (room_id, id)), not a scan of the messages.
            rows = self.db.execute_sql("SELECT r.id, r.creator_id, EXISTS (SELECT 1 FROM message m "
                                       "WHERE m.room_id = r.id), r.members_only, r.archived, r.announcement "
                                       "FROM room r").fetchall()
        return {room_id: RoomUse(creator, *map(bool, flags)) for room_id, creator, *flags in rows}

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

    def rename_user(self, user_id: int, name: str) -> asyncio.Future:
        """UserDeleted: the user was deleted meanwhile, and keeps its anonymous name (``chatd.store.living``)."""
        assert self.writer

        def rename() -> int:
            living(self, user_id)
            return User.update(name=name).where(User.id == user_id).execute(self.db)

        return self.writer.run(rename)

    def create_room(self, name: str, topic: str, creator_id: int | None = None,
                    members_only: bool = False) -> asyncio.Future:
        """→ the new room's id; RoomExists if a room has this name or one
        that looks like it (``chatd.names.name_keys``); UserDeleted if its creator was deleted
        meanwhile (``chatd.store.living``)."""
        assert self.writer

        def create() -> int:
            if creator_id is not None:
                living(self, creator_id)
            return self._insert_room(name, topic, creator_id, members_only)

        return self.writer.run(create)

    def delete_room(self, room_id: int) -> asyncio.Future:
        """Delete a room that holds no message, with its name keys; → True (also
        when it is gone already: another node removed it), or False if it holds
        a message after all (it then stays): a message is never lost to a
        room's removal."""
        assert self.writer

        def delete() -> bool:
            self.db.execute_sql(self._q("DELETE FROM room WHERE id = ? AND NOT EXISTS "
                                        "(SELECT 1 FROM message WHERE room_id = ?)"), (room_id, room_id))
            return self.db.execute_sql(self._q("SELECT 1 FROM room WHERE id = ?"), (room_id,)).fetchone() is None

        return self.writer.run(delete)

    def _insert_room(self, name: str, topic: str, creator_id: int | None, members_only: bool = False) -> int:
        keys = sorted(name_keys(name))
        try:
            with OneChange(self.db):  # the room and its keys, or neither
                room_id = self.db.execute_sql(self._q(_ROOM), (
                    name, topic, now_ms(), creator_id, members_only, False, False)).fetchone()[0]
                self.db.execute_sql(self._q(_ROOM_KEYS + ", ".join(["(?, ?)"] * len(keys))),
                                    [value for key in keys for value in (key, room_id)])
                return room_id
        except IntegrityError:
            existing = (Room.select(Room.name).join(RoomKey).where(RoomKey.key.in_(keys)).scalar(self.db)
                        or Room.select(Room.name).where(Room.name == name).scalar(self.db))
            raise RoomExists(existing or name) from None

    # Reads (in the reader pool).

    async def newest(self, at_least: int = 0) -> int:
        """The highest message id handed out here, reread from the database if below ``at_least``."""
        if at_least > self.newest_id:
            stored = await self.read(self._read_newest_id)
            self.newest_id = max(self.newest_id, stored)
        return self.newest_id

    def read(self, fn: Callable[[], Any]) -> asyncio.Future:
        """→ ``fn()``, run in a reader thread with that thread's own connection.
        DatabaseUnreachable if the database fails. A read whose connection turns
        out dead (a server restart, a terminated backend: found only when used)
        runs once more on a new one.

        The reads asked during one pass of the event loop go to the reader threads
        together at its end, shared among at most ``READ_THREADS`` jobs: a handover
        to a thread and back costs more than a small read (profiled: a connection
        storm spent a sixth of its time in them, six reads per client)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._reads.append((fn, future))
        if len(self._reads) == 1:
            loop.call_soon(self._start_reads, loop)
        return future

    def _start_reads(self, loop: asyncio.AbstractEventLoop) -> None:
        reads, self._reads = self._reads, []
        jobs = min(len(reads), READ_THREADS)
        for share in (reads[i::jobs] for i in range(jobs)):
            futures = [future for _, future in share]
            try:
                job = loop.run_in_executor(self._readers, self._read_all, [fn for fn, _ in share])
            except RuntimeError as e:  # the store closed (its readers shut down) within this pass
                job = loop.create_future()
                job.set_exception(e)
            job.add_done_callback(functools.partial(_settle, futures))

    def _probe(self) -> asyncio.Future:
        """The cheapest read that needs the database server: DatabaseUnreachable while it is down."""
        return self.read(lambda: self.db.execute_sql("SELECT 1").fetchone())

    def _read_all(self, fns: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """In a reader thread: each read, in order → (True, its result) or (False, its error)."""
        outcomes: list[tuple[bool, Any]] = []
        for fn in fns:
            try:
                outcomes.append((True, self._read_one(fn)))
            except Exception as e:  # noqa: BLE001 - the read's caller gets it
                outcomes.append((False, e))
        return outcomes

    def _read_one(self, fn: Callable[[], Any]) -> Any:
        try:
            self._reader_connection()
            try:
                result = fn()
            except Exception as e:
                if not self.health.is_failure(e) or self.db.is_connection_usable():
                    raise
                self.db.close()  # dead: a read changes nothing, so it is safe to do again
                self._reader_connection()
                result = fn()
        except Exception as e:
            if self.health.is_failure(e):
                raise self.health.failed(e) from e
            raise
        self.health.answered()
        return result

    def _reader_connection(self) -> None:
        """Connect this reader thread, or keep its connection: one per thread, kept."""
        self.db.connect(reuse_if_open=True)

    def user_name(self, user_id: int) -> asyncio.Future:
        """→ the user's current name, or None if there is no such user."""
        return self.read(lambda: (found := self._user_row(user_id)) and found[0])

    def user_kind(self, user_id: int) -> asyncio.Future:
        """→ (name, kind) of the user now (kind ``chatd.store.userdata.DELETED``: its deletion erased
        it, and nothing may act as it), or None if there is no such user."""
        return self.read(lambda: self._user_row(user_id))

    def _user_row(self, user_id: int) -> tuple[str, str] | None:
        row = self.db.execute_sql(self._q('SELECT name, kind FROM "user" WHERE id = ?'), (user_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    # Pages of messages. Each takes ``before``, ``after`` (message ids or None), ``limit``
    # (most rows) and ``max_chars``; see ``page``.

    def room_history(self, room_id: int, **page: Any) -> asyncio.Future:
        """→ a Page of the room's messages."""
        return self.read(lambda: self.page(ROOM_WHERE, (room_id,), **page))

    def conversation_history(self, a: int, b: int, **page: Any) -> asyncio.Future:
        """→ a Page of the private messages between users ``a`` and ``b``."""
        return self.read(lambda: self.page("m.pair = ?", (pair_key(a, b),), **page))

    def private_history(self, user_id: int, **page: Any) -> asyncio.Future:
        """→ a Page of the private messages to or from a user, all conversations together."""
        return self.read(lambda: self.page(INBOX_WHERE, (user_id, user_id), **page))

    def page(self, where: str, params: tuple, before: int | None, after: int | None, limit: int,
             max_chars: int | None = None) -> Page:
        """In a reader or writer thread: a Page of the messages passing ``where`` (``ROOM_WHERE``,
        ``INBOX_WHERE``, … with ``params``). With ``after``: the first rows above it; else the latest below ``before``
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
        sql, tail = self._page_query(" AND ".join(clauses), "ASC" if forward else "DESC", limit + 1, max_chars)
        cursor = self.db.execute_sql(self._q(sql), (*args, *tail))
        rows: list[MessageRow] = []
        chars, more = 0, False
        for row in cursor:  # what is not wanted is never read (sqlite3 steps row by row)
            if len(rows) == limit or (max_chars is not None and chars > max_chars):
                more = True
                break
            rows.append(MessageRow(*row))
            chars += len(row[TEXT])
        cursor.close()
        if not forward:
            rows.reverse()
        return Page(decorate(self, rows), more, forward)

    def _page_query(self, where: str, order: str, rows: int, max_chars: int | None) -> tuple[str, tuple]:
        """The query of a page: at most ``rows`` rows, by id in ``order``, each
        passing ``where``; → (SQL, the parameters that follow those of ``where``)."""
        return f"{SELECT} WHERE {where} ORDER BY m.id {order} LIMIT ?", (rows,)


def _settle(futures: list[asyncio.Future], job: asyncio.Future) -> None:
    """On the loop: the outcomes of a reader job (``Store._read_all``) to the reads' futures."""
    if job.cancelled():  # the store closed before the job ran
        for future in futures:
            future.cancel()
        return
    error = job.exception()
    for future, (ok, value) in zip(futures, [(False, error)] * len(futures) if error else job.result(), strict=True):
        if not future.done():  # a caller may have stopped waiting
            future.set_result(value) if ok else future.set_exception(value)


def _on_loop(loop: asyncio.AbstractEventLoop, callback: Callable[[bool], None], down: bool) -> None:
    """``callback(down)`` on ``loop``, from any thread; nothing once the loop is closed."""
    with suppress(RuntimeError):  # the loop is closed: the server has stopped
        loop.call_soon_threadsafe(callback, down)
