"""Bots in the store, SQLite or PostgreSQL: each a user, its webhook, its signing secret and its rooms.

Read once at start and after each change (``chatd.bots`` keeps them in
memory: nothing here is on the path of a message); written through the
writer thread.

    bots = store.bots
    user_id = await bots.create("helper", "https://bots.example/hook", secret_hex, [room_id], (public_id, digest))
    rows = bots.load()                       # [BotRow], at start-up (blocks)
    # NameClash("Helper") from create or update: another bot's name looks like the one asked for
    rows = await bots.all()                  # [BotRow]
    await bots.update(user_id, webhook_url=..., room_ids=[...], secret=...)   # → True, False: no such bot
    await bots.delete(user_id)               # → True, False: no such bot (its user and messages stay)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from chatd.names import name_keys
from chatd.session import BOT
from chatd.store.schema import ApiKey, Bot, BotRoom, User, now_ms

if TYPE_CHECKING:
    from chatd.store import Store


class NameClash(Exception):
    """Another bot's name (``args[0]``) looks like the one asked for (``chatd.names.name_keys``).
    Checked in the write, under a lock on the bots' names: of two bots named at once, one can."""


class BotRow(NamedTuple):
    user_id: int
    name: str
    webhook_url: str
    secret: str  # hex
    room_ids: tuple[int, ...]
    created: int  # ms since the epoch


_BOTS = 'SELECT b.user_id, u.name, b.webhook_url, b.secret, b.created FROM bot b JOIN "user" u ON u.id = b.user_id'


KEY_NAME = "bot-{}"  # the name of bot {user id}'s API key (`chatd apikey list` shows it)
KEY_SCOPES = "publish"  # a bot posts; bound to its user, it posts only as itself


class BotStore:
    def __init__(self, store: Store):
        self._store = store

    def rows(self) -> list[BotRow]:
        """Every bot, by user id; run in a reader thread (``all``) or at start-up."""
        db = self._store.db
        rooms: dict[int, list[int]] = {}
        for bot_id, room_id in db.execute_sql("SELECT bot_id, room_id FROM bot_room ORDER BY id").fetchall():
            rooms.setdefault(bot_id, []).append(room_id)
        return [BotRow(uid, name, url, secret, tuple(rooms.get(uid, ())), created)
                for uid, name, url, secret, created in db.execute_sql(_BOTS + " ORDER BY b.user_id").fetchall()]

    def load(self) -> list[BotRow]:
        """Every bot, read at start-up (this blocks)."""
        with self._store.db.connection_context():
            return self.rows()

    def all(self) -> asyncio.Future:
        """→ [BotRow]: every bot."""
        return self._store.read(self.rows)

    def create(self, name: str, webhook_url: str, secret: str, room_ids: Iterable[int],
               key: tuple[str, str]) -> asyncio.Future:
        """→ the new bot's user id: a user called ``name``, its webhook, its rooms and its API
        key (``key``: its public id and digest, ``chatd.auth.apikeys.new_key``), all or nothing.
        NameClash if another bot's name looks like ``name``."""
        def job() -> int:
            db, now = self._store.db, now_ms()
            self._check_name(name, None)
            with db.atomic():  # a savepoint: a writer job makes one change
                user_id = User.insert(name=name, created=now, kind=BOT).execute(db)
                Bot.insert(user=user_id, webhook_url=webhook_url, secret=secret, created=now).execute(db)
                self._set_rooms(user_id, room_ids)
                ApiKey.insert(name=KEY_NAME.format(user_id), public_id=key[0], secret_hash=key[1], scopes=KEY_SCOPES,
                              user=user_id, created=now).execute(db)
                return user_id

        return self._store.writer.run(job, self._store.names_keys())

    def update(self, user_id: int, *, name: str | None = None, webhook_url: str | None = None,
               secret: str | None = None, room_ids: Iterable[int] | None = None) -> asyncio.Future:
        """Change what is given (None: unchanged; ``room_ids`` replaces the rooms); → False if no such bot.
        NameClash if another bot's name looks like ``name``."""
        def job() -> bool:
            db = self._store.db
            with db.atomic():
                if not Bot.select().where(Bot.user == user_id).exists(db):
                    return False
                if name is not None:
                    self._check_name(name, user_id)
                    User.update(name=name).where(User.id == user_id).execute(db)
                fields = {k: v for k, v in (("webhook_url", webhook_url), ("secret", secret)) if v is not None}
                if fields:
                    Bot.update(**fields).where(Bot.user == user_id).execute(db)
                if room_ids is not None:
                    BotRoom.delete().where(BotRoom.bot == user_id).execute(db)
                    self._set_rooms(user_id, room_ids)
                return True

        return self._store.writer.run(job, self._store.names_keys() if name is not None else ())

    def _check_name(self, name: str, user_id: int | None) -> None:
        """In the writer, under the names' lock: NameClash if a bot other than ``user_id`` has a
        name like ``name`` (bots are few: their names are read whole)."""
        keys = name_keys(name)
        for other_id, other in self._store.db.execute_sql(
                'SELECT b.user_id, u.name FROM bot b JOIN "user" u ON u.id = b.user_id').fetchall():
            if other_id != user_id and not keys.isdisjoint(name_keys(other)):
                raise NameClash(other)

    def delete(self, user_id: int) -> asyncio.Future:
        """No longer a bot: its rooms go, its API keys are revoked (the user and its messages
        stay); → False if no such bot."""
        def job() -> bool:
            db = self._store.db
            with db.atomic():  # its bot_room rows cascade
                ApiKey.update(revoked=now_ms()).where((ApiKey.user == user_id) & ApiKey.revoked.is_null()).execute(db)
                return Bot.delete().where(Bot.user == user_id).execute(db) > 0

        return self._store.writer.run(job)

    def _set_rooms(self, user_id: int, room_ids: Iterable[int]) -> None:
        rows = [(user_id, room_id) for room_id in dict.fromkeys(room_ids)]
        if rows:
            BotRoom.insert_many(rows, fields=[BotRoom.bot, BotRoom.room]).execute(self._store.db)
