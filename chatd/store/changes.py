"""Changes to stored messages in the store, SQLite or PostgreSQL: edits, reactions, what
replies quote, and the change counter a resuming client catches up with
(``chatd.changes`` has the rules; docs/protocol.md, "Edits and reactions").

Every change of a message (an edit, a deletion, a reaction given or taken back) draws
the next number of the ``message_rev`` counter and keeps it in ``message.rev``. The
counter is one row updated in the change's transaction: its row lock is held until
commit, so on PostgreSQL changes from every node take their numbers in commit order,
and a client that saw change R has seen every change below it in its channels.

Reads of messages go through ``decorate``: the quote of each reply and the reactions
of each message ever changed are read in one query each, so a page of messages no one
changed costs nothing more.

    rows = decorate(store, rows)                                   # in a reader or writer thread
    row = await store.changes.edit(12, 7, "new text", now_ms())    # → the row, or None: a tombstone
    done = await store.changes.react(12, 7, "👍", now_ms(), caps)   # → Reacting
    rows, more = changed_since(store, ROOM_WHERE, (room_id,), since, revised, limit)  # in a reader thread
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from chatd.protocol.codes import REACTORS_SHOWN
from chatd.store.living import living
from chatd.store.rows import QUOTE_CHARS, SELECT, MessageRow, Quote, Reacted
from chatd.store.schema import MESSAGE_REV

if TYPE_CHECKING:
    from chatd.store.base import Store

# Ids per statement of a read by ids: far below SQLite's 32766 parameters and PostgreSQL's 65535.
IDS_BATCH = 500

# Why a reaction is refused (chatd.changes turns them into error codes).
DELETED = "deleted"  # the message is a tombstone
# ... past a cap, named as the Caps field it is (the error's ``cap``: docs/protocol.md, "error").
PER_MESSAGE = "per_message"  # the message has its most different emoji
PER_USER = "per_user"  # the user has given it its most
TOO_MANY = (PER_MESSAGE, PER_USER)


class Caps(NamedTuple):
    """The most reactions a message may have: distinct emoji, and emoji of one user."""

    per_message: int
    per_user: int


class Reacting(NamedTuple):
    """What a reaction request did: the message as it is now (None: there is none), whether
    its reactions changed (False: the user had given, or had not given, that emoji), and why
    it was refused (DELETED, PER_MESSAGE, PER_USER; None: it was not)."""

    row: MessageRow | None
    changed: bool
    refused: str | None = None


def next_rev(store: Store, count: int = 1) -> int:
    """Inside a writer job: draw ``count`` change numbers; → the last of them (the first is
    ``last - count + 1``). The counter's row stays locked until the job's transaction commits."""
    return store.db.execute_sql(store._q("UPDATE counter SET value = value + ? WHERE name = ? RETURNING value"),
                                (count, MESSAGE_REV)).fetchone()[0]


def revision_now(store: Store) -> int:
    """In a reader or writer thread: the number of the last change committed (0: none yet)."""
    return store.db.execute_sql(store._q("SELECT value FROM counter WHERE name = ?"), (MESSAGE_REV,)).fetchone()[0]


def changed_since(store: Store, where: str, params: tuple, up_to: int, revised: int,
                  limit: int) -> tuple[list[MessageRow], bool]:
    """In a reader or writer thread: (rows, more), the messages passing ``where`` (a channel's
    condition, as the history reads take it) with an id up to ``up_to`` changed after change
    ``revised``, by change, at most ``limit`` of them (``more``: others were changed too)."""
    rows = store.db.execute_sql(store._q(f"{SELECT} WHERE {where} AND m.rev > ? AND m.id <= ? ORDER BY m.rev LIMIT ?"),
                                (*params, revised, up_to, limit + 1)).fetchall()
    return decorate(store, [MessageRow(*row) for row in rows[:limit]]), len(rows) > limit


def _in_batches(store: Store, sql: str, ids: Sequence[int]) -> list[tuple]:
    """The rows of ``sql`` (with ``{marks}`` where the ids go) for every id of ``ids``."""
    found: list[tuple] = []
    for start in range(0, len(ids), IDS_BATCH):
        chunk = tuple(ids[start:start + IDS_BATCH])
        marks = ", ".join("?" * len(chunk))
        found += store.db.execute_sql(store._q(sql.format(marks=marks)), chunk).fetchall()
    return found


def reactions_of(store: Store, ids: Sequence[int]) -> dict[int, tuple[Reacted, ...]]:
    """Message id → its reactions, emoji in the order they were first given (ids without any left out)."""
    rows = _in_batches(store, 'SELECT x.message_id, x.emoji, x.user_id, u.name FROM reaction x JOIN "user" u '
                              "ON u.id = x.user_id WHERE x.message_id IN ({marks}) ORDER BY x.message_id, x.id", ids)
    grouped: dict[int, dict[str, list[tuple[int, str]]]] = {}
    for message_id, emoji, user_id, name in rows:
        grouped.setdefault(message_id, {}).setdefault(emoji, []).append((user_id, name))
    return {message_id: tuple(Reacted(emoji, len(users), tuple(users[:REACTORS_SHOWN]))
                              for emoji, users in by_emoji.items())
            for message_id, by_emoji in grouped.items()}


def quotes_of(store: Store, ids: Sequence[int]) -> dict[int, Quote]:
    """Message id → what a reply to it shows; an id no message has (purged) is shown as deleted."""
    rows = _in_batches(store, f"SELECT id, sender_id, sender_name, substr(text, 1, {QUOTE_CHARS}), deleted "
                              "FROM message WHERE id IN ({marks})", ids)
    found = {row[0]: Quote(row[0], row[1], row[2], row[3], row[4] is not None) for row in rows}
    return {i: found.get(i) or Quote(i, 0, "", "", True) for i in ids}


def decorate(store: Store, rows: list[MessageRow]) -> list[MessageRow]:
    """``rows`` with what replies quote and the reactions of those ever changed (``rev`` set)."""
    replies = sorted({row.reply_to for row in rows if row.reply_to is not None and row.deleted is None})
    changed = [row.id for row in rows if row.rev is not None and row.deleted is None]
    if not replies and not changed:
        return rows  # the common page: nothing to read
    quotes = quotes_of(store, replies) if replies else {}
    reactions = reactions_of(store, changed) if changed else {}
    return [row._replace(quote=quotes.get(row.reply_to), reactions=reactions.get(row.id, ()))
            if row.id in reactions or row.reply_to in quotes else row for row in rows]


def _row(store: Store, message_id: int) -> MessageRow | None:
    found = store.db.execute_sql(store._q(f"{SELECT} WHERE m.id = ?"), (message_id,)).fetchone()
    return None if found is None else decorate(store, [MessageRow(*found)])[0]


class ChangeStore:
    """``store.changes``: edits, reactions and the change counter of one store."""

    def __init__(self, store: Store):
        self._store = store

    def message(self, message_id: int) -> asyncio.Future:
        """→ the MessageRow of ``message_id`` with its quote and reactions, or None."""
        return self._store.read(lambda: _row(self._store, message_id))

    def edit(self, message_id: int, author_id: int, text: str, when: int) -> asyncio.Future:
        """Its author ``author_id`` gives message ``message_id`` the text ``text``, edited at ``when``
        (ms since the epoch); → its row as it is now, or None when it is a tombstone (deleted
        meanwhile) or gone. UserDeleted: the author was deleted meanwhile (``chatd.store.living``)."""
        store = self._store

        def job() -> MessageRow | None:
            with store.db.atomic():
                living(store, author_id)
                rev = next_rev(store)
                done = store.db.execute_sql(store._q("UPDATE message SET text = ?, edited = ?, rev = ? "
                                                     "WHERE id = ? AND deleted IS NULL RETURNING id"),
                                            (text, when, rev, message_id)).fetchone()
                return None if done is None else _row(store, message_id)

        return store.writer.run(job)

    def react(self, message_id: int, user_id: int, emoji: str, when: int, caps: Caps) -> asyncio.Future:
        """User ``user_id`` reacts to message ``message_id`` with ``emoji`` at ``when``; → Reacting.
        UserDeleted: the user was deleted meanwhile (``chatd.store.living``)."""
        store = self._store

        def job() -> Reacting:
            db, q = store.db, store._q
            with db.atomic():
                living(store, user_id)
                rev = next_rev(store)  # first: the counter's lock keeps two nodes from passing a cap together
                row = _row(store, message_id)
                if row is None or row.deleted is not None:
                    return Reacting(row, False, None if row is None else DELETED)
                if db.execute_sql(q("SELECT 1 FROM reaction WHERE message_id = ? AND user_id = ? AND emoji = ?"),
                                  (message_id, user_id, emoji)).fetchone():
                    return Reacting(row, False)
                mine = db.execute_sql(q("SELECT count(*) FROM reaction WHERE message_id = ? AND user_id = ?"),
                                      (message_id, user_id)).fetchone()[0]
                new_emoji = all(r.emoji != emoji for r in row.reactions)
                if mine >= caps.per_user:
                    return Reacting(row, False, PER_USER)
                if new_emoji and len(row.reactions) >= caps.per_message:
                    return Reacting(row, False, PER_MESSAGE)
                db.execute_sql(q("INSERT INTO reaction (message_id, user_id, emoji, ts) VALUES (?, ?, ?, ?)"),
                               (message_id, user_id, emoji, when))
                db.execute_sql(q("UPDATE message SET rev = ? WHERE id = ?"), (rev, message_id))
                return Reacting(_row(store, message_id), True)

        return store.writer.run(job)

    def unreact(self, message_id: int, user_id: int, emoji: str) -> asyncio.Future:
        """User ``user_id`` takes back its reaction ``emoji`` to message ``message_id``; → Reacting."""
        store = self._store

        def job() -> Reacting:
            db, q = store.db, store._q
            with db.atomic():
                rev = next_rev(store)
                gone = db.execute_sql(q("DELETE FROM reaction WHERE message_id = ? AND user_id = ? AND emoji = ? "
                                        "RETURNING id"), (message_id, user_id, emoji)).fetchone()
                if gone is not None:
                    db.execute_sql(q("UPDATE message SET rev = ? WHERE id = ?"), (rev, message_id))
                row = _row(store, message_id)
                return Reacting(row, gone is not None, DELETED if row is not None and row.deleted else None)

        return store.writer.run(job)
