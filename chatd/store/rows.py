"""What a store hands out and takes in: message rows, pages, drafts, and its refusals.

Plain values, no database: ``chatd.store.base`` and its implementations make
them, ``chatd.chat``, ``chatd.paging`` and ``chatd.protocol.frames`` read them.

    draft = Draft(sender_id=7, sender_name="alice", text="hi", cid="c1", room_id=1)
    store.save_message(draft, done)   # done(Stored(row, duplicate, channels, prev), error)
    page.rows[0].text                 # a Page of MessageRows, oldest first
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from chatd.bus import room_channel, user_channel


class NoSuchUser(Exception):
    pass


class ReusedKey(Exception):
    """An Idempotency-Key (``Once``) came back with another request than the one it stored a message for."""


class RoomExists(Exception):
    """A room with this name, or one that looks like it, exists: ``existing`` is its name."""

    def __init__(self, existing: str):
        super().__init__(existing)
        self.existing = existing


class StoreUnavailable(Exception):
    """What was asked cannot be done on this kind of store; str() says what to do instead."""


class DatabaseUnreachable(Exception):
    """The database failed (unreachable, connection lost, disk full, locked): nothing
    was done, or a commit's outcome is unknown; try again shortly. str(): the
    driver's reason (``chatd.store.health``)."""


class DatabaseRefused(Exception):
    """What is at the configured ``database`` is not a database chatd may use, and is left
    as it is: not an SQLite file, another application's tables, damaged, a directory, or a
    schema newer than this chatd (``chatd.store.sqlitefile``). Not an outage: trying again
    changes nothing. str(): the problem and what to do; the caller names the key and the place."""


class NotChatd(DatabaseRefused):
    """What is there was never chatd's database (a directory, a file that is not SQLite's,
    another application's database): not even ``chatd restore`` replaces it."""


class NoDatabase(DatabaseRefused):
    """There is no chatd database at the configured place (nothing, an empty file, an SQLite
    file without tables), and the command only reads or changes what is there: it makes none."""


# The highest user id a store hands out, and so the highest a recipient can be: the
# PostgreSQL store's channel lock keys (2·id, 2·id + 1, chatd.store.postgres) must fit
# in a bigint. A larger id, which the protocol lets a client send, names no one.
USER_ID_MAX = 2**62 - 1


class Once(NamedTuple):
    """A message that may be stored once only (the HTTP API's ``Idempotency-Key``): a second draft
    with the same ``api_key_id`` and ``key`` is the first one's message (``Stored.duplicate``), or
    ReusedKey when its ``fingerprint`` (what was asked) differs."""

    api_key_id: int
    key: str
    fingerprint: str
    oldest: int  # ms since the epoch: keys seen before are forgotten (api.idempotency_hours)


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
    once: Once | None = None  # stored at most once under this key (the HTTP API's Idempotency-Key)
    source: str = "chat"  # who sent it: "chat" (a client's say), "bot" (a bot's reply), "api" (chatd.metrics)
    attachments: tuple[str, ...] = ()  # upload ids: the sender's own, not attached yet (chatd.store.uploads)
    quote: Quote | None = None  # the message it replies to, checked by chatd.changes (``reply_to``)

    def inbox_users(self) -> tuple[int, ...]:
        """A private message's users, whose inboxes it goes to: sender and recipient (once when the same)."""
        if self.sender_id == self.recipient_id:
            return (self.sender_id,)
        return (self.sender_id, self.recipient_id)

    def channels(self) -> tuple[str, ...]:
        """The bus channels it belongs to (chatd.bus): its room, or its users' inboxes."""
        if self.recipient_id is None:
            return (room_channel(self.room_id),)
        return tuple(map(user_channel, self.inbox_users()))


class Quote(NamedTuple):
    """What a reply shows of the message it replies to (docs/protocol.md, "Replies")."""

    id: int
    sender_id: int
    sender_name: str
    text: str  # its first QUOTE_CHARS characters; '' for a tombstone
    deleted: bool  # a tombstone, or purged: shown as deleted


class Reacted(NamedTuple):
    """One emoji's reactions to a message: how many, and the first of those who gave it."""

    emoji: str
    count: int
    users: tuple[tuple[int, str], ...]  # (id, name), in the order they reacted (chatd.protocol.codes.REACTORS_SHOWN)


QUOTE_CHARS = 200  # characters of the quoted text a reply carries


class MessageRow(NamedTuple):
    """One stored message as the store hands it out; ``chatd.protocol.frames`` makes frames of it.

    A tuple, so that reading a page or storing a message costs one allocation per row.
    """

    id: int
    room: str | None  # the room's name; None for a private message
    sender_id: int
    sender_name: str
    recipient_id: int | None  # None for a room message
    recipient_name: str | None
    text: str  # '' once deleted
    ts: int  # when it was stored: milliseconds since the Unix epoch, UTC
    deleted: int | None = None  # a tombstone: ms since the epoch a moderator deleted it (chatd.moderation)
    attachments: str | None = None  # JSON: its files as frames show them (chatd.store.uploads); None: none

    edited: int | None = None  # ms since the epoch its author last edited it (chatd.changes)
    rev: int | None = None  # the number of its last change (edit, deletion, reaction); None: never changed
    reply_to: int | None = None  # the id of the message it replies to
    mentions: str | None = None  # the users its @names mention, as stored: ",3,17," (chatd.mentions)
    # Read apart from the row (chatd.store.changes.decorate): what it quotes, and its reactions.
    quote: Quote | None = None
    reactions: tuple[Reacted, ...] = ()


# A NamedTuple made from the tuple of all its fields, in order, without its Python-level __new__
# (keywords, defaults): for the writer thread's one row and one Stored per message (0.76 + 0.29 →
# 0.25 + 0.13 µs, timeit). tests/test_store.py holds what they make equal to the keyword-built ones.
_whole = tuple.__new__


def new_row(message_id: int, d: Draft, recipient_name: str | None, ts: int, mentions: str | None) -> MessageRow:
    """The row of ``d`` just stored as ``message_id`` at ``ts`` (ms since the epoch), mentioning
    ``mentions`` (chatd.mentions' stored form)."""
    quote = d.quote
    return _whole(MessageRow, (message_id, d.room_name, d.sender_id, d.sender_name, d.recipient_id, recipient_name,
                               d.text, ts, None, None, None, None, quote.id if quote else None, mentions, quote, ()))


# A row of them is ``MessageRow(*row)`` (quote and reactions are read apart).
COLUMNS = ("m.id, r.name, m.sender_id, m.sender_name, m.recipient_id, m.recipient_name, m.text, m.ts, m.deleted, "
           "m.attachments, m.edited, m.rev, m.reply_to, m.mentions")
SELECT = f"SELECT {COLUMNS} FROM message m LEFT JOIN room r ON r.id = m.room_id"


class Stored(NamedTuple):
    """What ``save_message`` gives back once the message is committed."""

    row: MessageRow
    duplicate: bool  # this (sender, cid) was stored before: ``row`` is that message, not published again
    channels: tuple[str, ...]  # the bus channels it belongs to (chatd.bus): its room, or both users' inboxes
    # Per channel, the id of the message before it there (0: none), when the store is
    # shared with other processes; None otherwise (one writer: commit order is id order).
    prev: tuple[int, ...] | None


def newly_stored(row: MessageRow, channels: tuple[str, ...], prev: tuple[int, ...] | None) -> Stored:
    """``Stored(row, False, channels, prev)``: a message stored now, not a retry's."""
    return _whole(Stored, (row, False, channels, prev))


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
    members_only: bool = False  # seen and joined only by its members (chatd.roommembers)
    archived: bool = False  # read-only (chatd.roomcare)
    announcement: bool = False  # only moderators post (chatd.roomcare)
