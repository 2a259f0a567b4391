"""Members-only rooms in the store, SQLite or PostgreSQL: the rooms' flag and
topic as the web app sets them, who is a member of which, and the app's
deletion of a room (``chatd.roommembers`` has the rules).

A user is a member of a room while it has a ``room_member`` row of either
source: "api" (kept until the API removes it) or "token" (the ``rooms`` claim
of its last app token, replaced by the next one). Writes go through the
writer thread, reads through the reader pool: nothing here blocks the loop.

    members = store.members
    added = await members.add(room_id, [7, 8], "api")            # → {7} if 8 was a member already
    still = await members.remove(room_id, 8, "api")              # → True if 8 stays a member (a "token" row)
    gained, lost = await members.set_token_rooms(7, {room_id})   # → room ids 7 became / stopped being a member of
    await members.room_members(room_id, after=0, limit=100)      # → ([(user id, name, [sources])], more)
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from chatd.store.living import RecipientDeleted, living
from chatd.store.schema import Room, RoomMember, User, now_ms

if TYPE_CHECKING:
    from chatd.store import Store

SOURCES = ("api", "token")
RETENTION_GLOBAL = -1  # a room's retention_days set back to history.retention_days (NULL in the column)
MEMBERS_PAGE = 1000  # members in one answer of room_members, by default


class MemberStore:
    def __init__(self, store: Store):
        self._store = store

    # Writes (the writer thread)

    def update_room(self, room_id: int, topic: str | None, members_only: bool | None, audit: dict | None = None,
                    **flags: Any) -> asyncio.Future:
        """Set the room's topic, members-only flag and ``flags`` (``archived``, ``announcement``,
        ``retention_days``: columns of ``Room``; ``RETENTION_GLOBAL`` sets it back to NULL), each
        None: unchanged; with ``audit``, its row (``chatd.audit.entry``) in the same transaction.
        → whether the room exists."""
        values = {"topic": topic, "members_only": members_only, **flags}
        changes = {getattr(Room, column): (None if value == RETENTION_GLOBAL else value)
                   for column, value in values.items() if value is not None}

        def job() -> bool:
            db = self._store.db
            with db.atomic():
                if changes:
                    found = Room.update(changes).where(Room.id == room_id).execute(db) > 0
                else:
                    found = Room.select().where(Room.id == room_id).exists(db)
                if found and audit is not None:
                    self._store.audit.insert(audit)
            return found

        return self._store.writer.run(job)

    def delete_room(self, room_id: int, audit: dict | None = None) -> asyncio.Future:
        """Delete the room with its messages, members and name keys, as the web app
        (or an admin) asked (unlike the removal of an unused room, which keeps a room
        holding a message); with ``audit``, its row in the same transaction. → whether it existed."""
        def job() -> bool:
            db, q = self._store.db, self._store._q
            with db.atomic():
                # Explicit: the store does not rely on the connection's foreign key enforcement.
                for table in ("message", "room_member", "room_key", "room_read"):
                    db.execute_sql(q(f"DELETE FROM {table} WHERE room_id = ?"), (room_id,))
                found = db.execute_sql(q("DELETE FROM room WHERE id = ?"), (room_id,)).rowcount > 0
                if found and audit is not None:
                    self._store.audit.insert(audit)
            return found

        return self._store.writer.run(job)

    def add(self, room_id: int, user_ids: list[int], source: str) -> asyncio.Future:
        """Make the users members of the room with ``source``; → the set of those
        who were no member before (of either source). NoSuchUser, or RecipientDeleted
        (``chatd.store.living``), for the lowest id that names nobody or a deleted user:
        then nobody is added."""
        assert source in SOURCES

        def job() -> set[int]:
            db = self._store.db
            wanted = set(user_ids)
            with db.atomic():
                for user_id in sorted(wanted):  # in this transaction: a deletion is wholly before or after
                    living(self._store, user_id, RecipientDeleted)
                before = self._members_among(room_id, wanted)
                now = now_ms()
                RoomMember.insert_many([(room_id, uid, source, now) for uid in sorted(wanted)],
                                       fields=[RoomMember.room, RoomMember.user, RoomMember.source,
                                               RoomMember.added]).on_conflict_ignore().execute(db)
            return wanted - before

        return self._store.writer.run(job)

    def remove(self, room_id: int, user_id: int, source: str | None) -> asyncio.Future:
        """Take away the user's membership of ``source`` (None: of both); → whether
        it is still a member (by the other source). Removing what is not there is no error."""
        def job() -> bool:
            db = self._store.db
            query = RoomMember.delete().where(RoomMember.room == room_id, RoomMember.user == user_id)
            if source is not None:
                query = query.where(RoomMember.source == source)
            query.execute(db)
            return bool(self._members_among(room_id, {user_id}))

        return self._store.writer.run(job)

    def set_token_rooms(self, user_id: int, room_ids: set[int]) -> asyncio.Future:
        """Replace the user's "token" memberships with ``room_ids`` (rooms that do
        not exist are skipped); → (room ids it became a member of, room ids it
        is no member of any more), both sets. UserDeleted: the user was deleted
        (its app token's claim must not bring back the memberships its erasure took)."""
        def job() -> tuple[set[int], set[int]]:
            db = self._store.db
            with db.atomic():
                living(self._store, user_id)
                before = self._rooms_of(user_id)
                RoomMember.delete().where(RoomMember.user == user_id, RoomMember.source == "token").execute(db)
                existing = {rid for (rid,) in Room.select(Room.id).where(Room.id.in_(room_ids)).tuples().execute(db)}
                now = now_ms()
                RoomMember.insert_many([(rid, user_id, "token", now) for rid in sorted(existing)],
                                       fields=[RoomMember.room, RoomMember.user, RoomMember.source,
                                               RoomMember.added]).on_conflict_ignore().execute(db)
                after = self._rooms_of(user_id)
            return after - before, before - after

        return self._store.writer.run(job)

    def _members_among(self, room_id: int, user_ids: set[int]) -> set[int]:
        query = RoomMember.select(RoomMember.user).where(RoomMember.room == room_id, RoomMember.user.in_(user_ids))
        return {uid for (uid,) in query.tuples().execute(self._store.db)}

    def _rooms_of(self, user_id: int) -> set[int]:
        query = RoomMember.select(RoomMember.room).where(RoomMember.user == user_id)
        return {rid for (rid,) in query.tuples().execute(self._store.db)}

    # Reads (the reader pool)

    def is_member(self, room_id: int, user_id: int) -> asyncio.Future:
        """→ whether the user is a member of the room (of either source)."""
        return self._store.read(lambda: bool(self._members_among(room_id, {user_id})))

    def room_members(self, room_id: int, after: int = 0, limit: int = MEMBERS_PAGE) -> asyncio.Future:
        """→ ([(user id, name, sorted sources)], more): the room's members with ids above
        ``after``, by id, at most ``limit`` of them; ``more``: others follow."""
        def query() -> tuple[list[tuple[int, str, list[str]]], bool]:
            # A member has a row per source: limit users take at most that many rows each, plus one to see more.
            rows = self._store.db.execute_sql(self._store._q(
                'SELECT m.user_id, u.name, m.source FROM room_member m JOIN "user" u ON u.id = m.user_id '
                "WHERE m.room_id = ? AND m.user_id > ? ORDER BY m.user_id, m.source LIMIT ?"),
                (room_id, after, limit * len(SOURCES) + 1)).fetchall()
            members: dict[int, tuple[str, list[str]]] = {}
            for uid, name, source in rows:
                members.setdefault(uid, (name, []))[1].append(source)
            page = [(uid, name, sources) for uid, (name, sources) in members.items()]
            return page[:limit], len(page) > limit

        return self._store.read(query)

    def users_by_sub(self, subs: list[str]) -> asyncio.Future:
        """→ {sub: user id} of the app users (``external_id``) among ``subs`` that exist."""
        def query() -> dict[str, int]:
            rows = User.select(User.external_id, User.id).where(User.external_id.in_(subs)).tuples()
            return dict(rows.execute(self._store.db))

        return self._store.read(query)

    def memberships(self) -> dict[int, set[int]]:
        """Room id → its members' user ids, for every members-only room (also one
        without members); blocking: for start-up and for ``read``."""
        db = self._store.db
        rooms: dict[int, set[int]] = defaultdict(set)
        for (room_id,) in db.execute_sql(self._store._q("SELECT id FROM room WHERE members_only = ?"), (True,)):
            rooms[room_id] = set()
        for room_id, user_id in db.execute_sql("SELECT room_id, user_id FROM room_member"):
            if room_id in rooms:
                rooms[room_id].add(user_id)
        return dict(rooms)
