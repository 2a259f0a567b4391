"""Retention in the store, SQLite or PostgreSQL: which messages are past their days,
and their deletion in batches (``chatd.retention`` runs it; docs/operations.md, "Retention").

A channel is a room, or every private conversation together (``room_id`` None).
Its messages are kept ``days`` days: the room's own ``retention_days`` if set,
else ``history.retention_days``; 0 keeps them for ever. "Older than the cutoff"
is taken by id, not by time: the ``boundary`` is the first message id stored at
or after the cutoff (ids grow with time; found by bisecting the ids, a few index
probes), and a channel's messages below it go. So a plan counts exactly what
its purge removes — ids below a boundary are never handed out again — and
every deletion walks the ``(room_id, id)`` index.

Everything here blocks: call it in a reader thread (``plan``), a writer job
(``delete_batch``), or from a command working on the database.

    channels = plan(store, global_days=30, now=now_ms())     # [Channel]
    removed = delete_batch(store, channels[0], limit=500)    # rows deleted, at most limit
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from chatd.store import Store

DAY_MS = 86_400_000


class Channel(NamedTuple):
    room_id: int | None  # None: the private messages
    room: str | None  # the room's name; None: the private messages
    days: int  # kept this many days
    boundary: int  # the first message id kept: those below it go
    count: int  # messages below the boundary (what a purge removes)
    oldest_kept: tuple[int, int] | None  # (id, ts ms) of the oldest message kept; None: none is

    def shown(self) -> dict:
        """As ``chatd purge --json`` and the admin page show it."""
        oldest = None if self.oldest_kept is None else {"id": self.oldest_kept[0], "ts": self.oldest_kept[1]}
        return {"room": self.room, "private": self.room is None, "days": self.days, "before_id": self.boundary,
                "messages": self.count, "oldest_kept": oldest}


def plan(store: Store, global_days: int, now: int) -> list[Channel]:
    """Every channel with a retention (rooms by id, then the private messages), with what
    it would lose at ``now`` (ms); channels kept for ever are left out."""
    db, q = store.db, store._q
    rooms = db.execute_sql("SELECT id, name, retention_days FROM room ORDER BY id").fetchall()
    wanted: list[tuple[int | None, str | None, int]] = [
        (room_id, name, global_days if days is None else days) for room_id, name, days in rooms]
    wanted.append((None, None, global_days))
    boundaries: dict[int, int] = {}
    channels = []
    for room_id, name, days in wanted:
        if days <= 0:
            continue
        if days not in boundaries:
            boundaries[days] = _first_id_since(store, now - days * DAY_MS)
        boundary = boundaries[days]
        where, args = _channel(room_id)
        count = db.execute_sql(q(f"SELECT count(*) FROM message WHERE {where} AND id < ?"), (*args, boundary))
        oldest = db.execute_sql(q(f"SELECT id, ts FROM message WHERE {where} AND id >= ? ORDER BY id LIMIT 1"),
                                (*args, boundary)).fetchone()
        channels.append(Channel(room_id, name, days, boundary, count.fetchone()[0],
                                None if oldest is None else tuple(oldest)))
    return channels


def delete_batch(store: Store, channel: Channel, limit: int) -> int:
    """Delete at most ``limit`` of the channel's messages below its boundary, oldest first;
    → how many. Rows referring to them go with them (foreign keys ON DELETE CASCADE)."""
    where, args = _channel(channel.room_id)
    q = store._q
    cursor = store.db.execute_sql(q(f"DELETE FROM message WHERE id IN (SELECT id FROM message WHERE {where} "
                                    "AND id < ? ORDER BY id LIMIT ?)"), (*args, channel.boundary, limit))
    return cursor.rowcount


def _channel(room_id: int | None) -> tuple[str, tuple]:
    """The WHERE clause (and its parameters) of a channel's messages."""
    return ("room_id = ?", (room_id,)) if room_id is not None else ("room_id IS NULL", ())


def _first_id_since(store: Store, cutoff: int) -> int:
    """The first message id whose time is at or after ``cutoff`` (ms), or one above the highest
    id if none is: a bisection of the ids by their times, one primary-key probe per step."""
    db, q = store.db, store._q
    low, high = db.execute_sql("SELECT min(id), max(id) FROM message").fetchone()
    if low is None:
        return 1
    probe = q("SELECT id, ts FROM message WHERE id >= ? ORDER BY id LIMIT 1")
    high += 1  # the answer lies in [low, high]; high: no message is that recent
    while low < high:
        middle = (low + high) // 2
        found_id, ts = db.execute_sql(probe, (middle,)).fetchone()  # some id ≥ middle exists: max(id) ≥ middle
        if ts >= cutoff:
            high = middle
        else:
            low = found_id + 1
    return low
