"""Read state in the store, SQLite or PostgreSQL: the rooms users follow and how far they read
them, their private conversations, notification levels, and the counts of unread messages and
mentions (``chatd.attention`` has the rules, docs/protocol.md "Read state" the contract).

Counts are bounded: each room or conversation reads at most ``UNREAD_MAX + 1`` of its newest
rows above ``last_read`` through the (room_id, id) or (pair, id) index, so a user's overview
costs one short index range per room followed and per conversation listed
(``CONVERSATIONS_MAX``), never a scan of the messages.

    state = store.read_state
    last_read = await state.follow(user_id, room_id)          # joined: its row (read up to now if new)
    changed = await state.mark(user_id, ROOM, room_id, 120)   # → whether last_read grew
    rooms, conversations = await state.overview(user_id)      # → [Unread], [Unread] (welcome)
    talking = await state.has_conversation(user_id, peer_id)  # → whether a private message went either way
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NamedTuple

from chatd.mentions import like, resolve, stored
from chatd.store.living import living
from chatd.store.schema import pair_key

if TYPE_CHECKING:
    from chatd.store import Store

UNREAD_MAX = 999  # counted at most; above it ``more`` says there are more
CONVERSATIONS_MAX = 200  # a user's conversations listed, the newest first
ROOM, PEER = "room", "peer"  # what a read state is of: a room id, or the other user's id
_TABLE = {ROOM: ("room_read", "room_id"), PEER: ("conversation", "peer_id")}

# The counts of one room (user, user, mention pattern, room, last_read, rows): the newest rows above
# last_read through the (room_id, id) index, at most UNREAD_MAX + 1; then those of others, not deleted.
ROOM_UNREAD = ("SELECT coalesce(sum(CASE WHEN sender_id <> ? AND deleted IS NULL THEN 1 ELSE 0 END), 0), "
               "coalesce(sum(CASE WHEN sender_id <> ? AND deleted IS NULL AND mentions LIKE ? THEN 1 ELSE 0 END), 0), "
               "count(*) FROM (SELECT sender_id, deleted, mentions FROM message WHERE room_id = ? AND id > ? "
               "ORDER BY id DESC LIMIT ?) newest")
# The same for a conversation (user, pair, last_read, rows), through the (pair, id) index.
PEER_UNREAD = ("SELECT coalesce(sum(CASE WHEN sender_id <> ? AND deleted IS NULL THEN 1 ELSE 0 END), 0), count(*) "
               "FROM (SELECT sender_id, deleted FROM message WHERE pair = ? AND id > ? "
               "ORDER BY id DESC LIMIT ?) newest")


class Unread(NamedTuple):
    """A room or conversation as a user stands with it."""

    key: int  # the room id, or the peer's user id
    name: str  # the room's name, or the peer's current name
    last_read: int
    notify: str | None  # None: the default level
    unread: int  # messages from others above last_read, at most UNREAD_MAX
    more: bool  # more than UNREAD_MAX
    mentions: int  # of those, the ones that mention the user (rooms; in a conversation, every one)
    last_id: int = 0  # a conversation's newest message


class ReadStateStore:
    def __init__(self, store: Store):
        self._store = store

    # In the writer's insert of a message (its transaction; ``conn`` is the driver's connection).

    def mentions_of(self, conn: Any, room_id: int, sender_id: int, text: str) -> str | None:
        """The stored ``mentions`` of a room message (``chatd.mentions``): its @names among the room's followers."""
        if "@" not in text:
            return None
        followers = conn.execute(self._store._q('SELECT u.id, u.name FROM room_read rr JOIN "user" u ON '
                                                'u.id = rr.user_id WHERE rr.room_id = ?'), (room_id,)).fetchall()
        return stored(resolve(text, followers, sender_id))

    def noted_private(self, conn: Any, sender_id: int, recipient_id: int, message_id: int) -> None:
        """A private message was stored: both ends' conversations have it as their newest; the
        sender has read it."""
        q = self._store._q
        conn.execute(q("INSERT INTO conversation (user_id, peer_id, last_id, last_read, hidden_upto) "
                       "VALUES (?, ?, ?, ?, 0) ON CONFLICT (user_id, peer_id) DO UPDATE SET "
                       "last_id = excluded.last_id, last_read = excluded.last_read"),
                     (sender_id, recipient_id, message_id, message_id))
        if recipient_id != sender_id:
            conn.execute(q("INSERT INTO conversation (user_id, peer_id, last_id, last_read, hidden_upto) "
                           "VALUES (?, ?, ?, 0, 0) ON CONFLICT (user_id, peer_id) DO UPDATE SET "
                           "last_id = excluded.last_id"), (recipient_id, sender_id, message_id))

    # Writes (the writer thread)

    def follow(self, user_id: int, room_id: int) -> asyncio.Future:
        """The user joined the room: → its ``last_read``; a room joined for the first time (or
        again after a leave) is read up to its newest message. UserDeleted: the user was deleted
        meanwhile (``chatd.store.living``: its erased read state must not come back)."""
        def job() -> int:
            q, db = self._store._q, self._store.db
            living(self._store, user_id)
            db.execute_sql(q("INSERT INTO room_read (user_id, room_id, last_read) SELECT ?, ?, "
                             "coalesce(max(id), 0) FROM message WHERE room_id = ? "
                             "ON CONFLICT (user_id, room_id) DO NOTHING"), (user_id, room_id, room_id))
            return db.execute_sql(q("SELECT last_read FROM room_read WHERE user_id = ? AND room_id = ?"),
                                  (user_id, room_id)).fetchone()[0]

        return self._store.writer.run(job)

    def unfollow(self, user_id: int, room_id: int) -> asyncio.Future:
        """The user left the room: no counts, no mentions there any more."""
        return self._write("DELETE FROM room_read WHERE user_id = ? AND room_id = ?", (user_id, room_id))

    def mark(self, user_id: int, kind: str, key: int, message_id: int) -> asyncio.Future:
        """Read up to ``message_id`` in the room or conversation (``kind`` ROOM or PEER, ``key`` its
        id): → whether ``last_read`` grew (it never goes back; False too when the user does not
        follow the room or has no such conversation)."""
        table, column = _TABLE[kind]
        return self._write(f"UPDATE {table} SET last_read = ? WHERE user_id = ? AND {column} = ? AND last_read < ?",
                           (message_id, user_id, key, message_id))

    def set_notify(self, user_id: int, kind: str, key: int, level: str | None) -> asyncio.Future:
        """The user's notification level of a room or conversation (None: the default): → whether the
        user follows the room or has the conversation."""
        table, column = _TABLE[kind]
        return self._write(f"UPDATE {table} SET notify = ? WHERE user_id = ? AND {column} = ?", (level, user_id, key))

    def close(self, user_id: int, peer_id: int) -> asyncio.Future:
        """Hide the conversation from the user's list until a newer message comes: → whether it exists."""
        return self._write("UPDATE conversation SET hidden_upto = last_id WHERE user_id = ? AND peer_id = ?",
                           (user_id, peer_id))

    def _write(self, sql: str, args: tuple) -> asyncio.Future:
        """→ whether ``sql`` changed a row."""
        return self._store.writer.run(lambda: self._store.db.execute_sql(self._store._q(sql), args).rowcount > 0)

    # Reads (the reader pool)

    def room(self, user_id: int, room_id: int) -> asyncio.Future:
        """→ the user's Unread of the room, or None if the user does not follow it."""
        def query() -> Unread | None:
            row = self._store.db.execute_sql(self._store._q(
                "SELECT rr.room_id, r.name, rr.last_read, rr.notify FROM room_read rr JOIN room r ON r.id = rr.room_id "
                "WHERE rr.user_id = ? AND rr.room_id = ?"), (user_id, room_id)).fetchone()
            return None if row is None else self._room_unread(user_id, *row)

        return self._store.read(query)

    def has_conversation(self, user_id: int, peer_id: int) -> asyncio.Future:
        """→ whether the two users have a conversation: a private message went one way or the other
        (closed or not; ``noted_private`` gives both ends their row)."""
        return self._store.read(lambda: self._store.db.execute_sql(self._store._q(
            "SELECT 1 FROM conversation WHERE user_id = ? AND peer_id = ?"), (user_id, peer_id)).fetchone() is not None)

    def overview(self, user_id: int) -> asyncio.Future:
        """→ (the Unread of each room the user follows, by name; of its newest ``CONVERSATIONS_MAX``
        conversations not closed, newest first)."""
        def query() -> tuple[list[Unread], list[Unread]]:
            db, q = self._store.db, self._store._q
            rooms = db.execute_sql(q("SELECT rr.room_id, r.name, rr.last_read, rr.notify FROM room_read rr "
                                     "JOIN room r ON r.id = rr.room_id WHERE rr.user_id = ? ORDER BY r.name"),
                                   (user_id,)).fetchall()
            peers = db.execute_sql(q('SELECT c.peer_id, u.name, c.last_read, c.notify, c.last_id FROM conversation c '
                                     'JOIN "user" u ON u.id = c.peer_id WHERE c.user_id = ? AND '
                                     'c.last_id > c.hidden_upto ORDER BY c.last_id DESC LIMIT ?'),
                                   (user_id, CONVERSATIONS_MAX)).fetchall()
            return ([self._room_unread(user_id, *row) for row in rooms],
                    [self._peer_unread(user_id, *row) for row in peers])

        return self._store.read(query)

    def _room_unread(self, user_id: int, room_id: int, name: str, last_read: int, notify: str | None) -> Unread:
        # The newest UNREAD_MAX + 1 rows above last_read, by the (room_id, id) index; then those of others.
        unread, mentions, scanned = self._store.db.execute_sql(self._store._q(ROOM_UNREAD), (
            user_id, user_id, like(user_id), room_id, last_read, UNREAD_MAX + 1)).fetchone()
        return Unread(room_id, name, last_read, notify, min(unread, UNREAD_MAX), scanned > UNREAD_MAX, mentions)

    def _peer_unread(self, user_id: int, peer_id: int, name: str, last_read: int, notify: str | None,
                     last_id: int) -> Unread:
        unread, scanned = self._store.db.execute_sql(self._store._q(PEER_UNREAD), (
            user_id, pair_key(user_id, peer_id), last_read, UNREAD_MAX + 1)).fetchone()
        unread = min(unread, UNREAD_MAX)
        return Unread(peer_id, name, last_read, notify, unread, scanned > UNREAD_MAX, unread, last_id)
