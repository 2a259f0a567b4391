"""Moderation in the store, SQLite or PostgreSQL: tombstones, mutes and bans
(``chatd.moderation`` has the rules, ``chatd.sanctions`` the cache each node keeps).

A deleted message stays a row with its id (resume and history stay exact):
its text becomes ``''``, its files are deleted (``chatd.store.uploads``) and
``deleted`` the time it was deleted; the search index follows the text by
itself (``chatd.store.search``). ``tombstone`` runs
inside a writer job, so that the caller's other changes (the audit row, a
user's whole data) commit with it.

Writes go through the writer thread, reads through the reader pool; each
write that is a moderator's action commits its audit row in the same
transaction (``chatd.store.audit.insert``).

    rows = tombstone(store, [12, 13], now_ms())        # in a writer job: the rows that became tombstones
    rows = await store.moderation.delete(12, entry)    # → [MessageRow] (empty: missing or deleted already)
    placed = await store.moderation.mute(user_id, room_id, until, reason, entry)   # → Placed(mute, kept)
    mutes, bans = await store.moderation.active(now_ms())

**A mute or a ban never shortens one in force** of the same user in the same place (a room,
everywhere) or of the same user or network: a new one that ends no earlier replaces it (its
reason too); one that would end sooner leaves it in place, and the caller is told (``Placed.kept``),
so that a moderator's 1-second ban never silently lets out a user an admin banned for good. Only
lifting it (``unmute``, ``unban``: an explicit act, with its own audit row) ends one early. The
rule is applied in the write's transaction; should two nodes on PostgreSQL ban one user in the
same instant, both rows may stay, and every node holds the longer (``chatd.sanctions``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from chatd.store.admins import end_user_sessions
from chatd.store.changes import next_rev
from chatd.store.living import RecipientDeleted, living
from chatd.store.rows import SELECT, MessageRow
from chatd.store.schema import now_ms
from chatd.store.uploads import delete_of_messages

if TYPE_CHECKING:
    from chatd.store.base import Store

# Ids per statement of a tombstone: far below SQLite's 32766 parameters and PostgreSQL's 65535.
TOMBSTONE_BATCH = 500


class Mute(NamedTuple):
    """A user who may not ``say``: in room ``room_id``, or everywhere (None), until ``until``
    (ms since the epoch) or until unmuted (None)."""

    id: int
    user_id: int
    room_id: int | None
    until: int | None
    reason: str
    created: int


class Ban(NamedTuple):
    """A user (``user_id``) or an address or CIDR network (``network``, canonical text) kept
    out, until ``until`` (ms since the epoch) or for good (None)."""

    id: int
    user_id: int | None
    network: str | None
    until: int | None
    reason: str
    created: int


class Placed(NamedTuple):
    """What a new mute or ban left in force: ``sanction``, the new one, or (``kept``) the one
    that was in force and ends later, left as it was (the module: a sanction never shortens one)."""

    sanction: Mute | Ban
    kept: bool


def outlasts(until: int | None, other: int | None) -> bool:
    """Whether a sanction ending at ``until`` (ms since the epoch; None: no end) ends later than
    one ending at ``other``."""
    return other is not None and (until is None or until > other)


_MUTE_COLUMNS = "id, user_id, room_id, until, reason, created"
_BAN_COLUMNS = "id, user_id, network, until, reason, created"


def tombstone(store: Store, ids: Sequence[int], when: int) -> list[MessageRow]:
    """Inside a writer job: make the messages ``ids`` tombstones, deleted at ``when`` (ms since
    the epoch): text ``''``, its files deleted, ``deleted`` set, a change number (``rev``) drawn,
    reactions dropped,     the row and its id kept. → the rows that became
    tombstones now, as they read now, by id; those missing or deleted already are left out (two
    moderators deleting one message at once: one of them gets it). Any number of ids."""
    db, q = store.db, store._q
    done: list[int] = []
    for start in range(0, len(ids), TOMBSTONE_BATCH):
        chunk = list(ids[start:start + TOMBSTONE_BATCH])
        marks = ", ".join("?" * len(chunk))
        # Each its own change number (chatd.store.changes): one per id from the lowest to the highest.
        low = min(chunk)
        last = next_rev(store, max(chunk) - low + 1)
        # RETURNING: the rows this statement changed, not those another writer changed first.
        cursor = db.execute_sql(q(f"UPDATE message SET text = '', attachments = NULL, deleted = ?, rev = ? + id "
                                  f"WHERE id IN ({marks}) AND deleted IS NULL RETURNING id"),
                                (when, last - max(chunk), *chunk))
        changed = [row[0] for row in cursor.fetchall()]
        if changed:  # a tombstone keeps no reactions (its files: delete_of_messages below)
            db.execute_sql(q(f"DELETE FROM reaction WHERE message_id IN ({', '.join('?' * len(changed))})"),
                           tuple(changed))
        done += changed
    done.sort()
    delete_of_messages(store, done)  # its files go with its text
    rows: list[MessageRow] = []
    for start in range(0, len(done), TOMBSTONE_BATCH):
        chunk = done[start:start + TOMBSTONE_BATCH]
        marks = ", ".join("?" * len(chunk))
        cursor = db.execute_sql(q(f"{SELECT} WHERE m.id IN ({marks}) ORDER BY m.id"), tuple(chunk))
        rows += [MessageRow(*row) for row in cursor.fetchall()]
    return rows


class ModerationStore:
    """``store.moderation``: tombstones, mutes and bans of one store."""

    def __init__(self, store: Store):
        self._store = store

    def _write(self, change: Callable[[], Any],
               entry: dict[str, Any] | Callable[[Any], dict[str, Any] | None] | None) -> asyncio.Future:
        """Run ``change`` in the writer, with the audit row ``entry`` (None: none; or made from
        ``change``'s result) in the same transaction."""
        store = self._store

        def job() -> Any:
            with store.db.atomic():
                result = change()
                _audit(store, entry(result) if callable(entry) else entry)
                return result

        return store.writer.run(job)

    def delete(self, message_id: int, entry: dict[str, Any] | None = None) -> asyncio.Future:
        """Make message ``message_id`` a tombstone now; → [its row] (a tombstone), or [] when
        there is no such message or it is deleted already (then no audit row is written)."""
        store = self._store

        def job() -> list[MessageRow]:
            with store.db.atomic():
                rows = tombstone(store, [message_id], now_ms())
                if rows:
                    _audit(store, entry)
                return rows

        return store.writer.run(job)

    def message(self, message_id: int) -> asyncio.Future:
        """→ the MessageRow of ``message_id`` (perhaps a tombstone), or None."""
        store = self._store

        def query() -> MessageRow | None:
            row = store.db.execute_sql(store._q(f"{SELECT} WHERE m.id = ?"), (message_id,)).fetchone()
            return None if row is None else MessageRow(*row)

        return store.read(query)

    def user(self, user_id: int) -> asyncio.Future:
        """→ (name, roles) of the user, roles a frozenset (from its last app token), or None."""
        store = self._store

        def query() -> tuple[str, frozenset[str]] | None:
            row = store.db.execute_sql(store._q('SELECT name, roles FROM "user" WHERE id = ?'), (user_id,)).fetchone()
            return None if row is None else (row[0], frozenset(json.loads(row[1] or "[]")))

        return store.read(query)

    def names(self, user_ids: set[int]) -> asyncio.Future:
        """→ {user id: name} of those of ``user_ids`` that exist."""
        store = self._store

        def query() -> dict[int, str]:
            ids = sorted(user_ids)
            found: dict[int, str] = {}
            for start in range(0, len(ids), TOMBSTONE_BATCH):
                chunk = ids[start:start + TOMBSTONE_BATCH]
                marks = ", ".join("?" * len(chunk))
                found.update(store.db.execute_sql(store._q(f'SELECT id, name FROM "user" WHERE id IN ({marks})'),
                                                  tuple(chunk)).fetchall())
            return found

        return store.read(query)

    # Mutes

    def mute(self, user_id: int, room_id: int | None, until: int | None, reason: str,
             entry: dict[str, Any] | None = None) -> asyncio.Future:
        """Mute the user in room ``room_id`` (None: everywhere) until ``until`` (ms; None: until
        unmuted), replacing its mute there unless that one ends later (the module); → Placed(Mute).
        The audit row of a mute kept says so (``detail.kept``: the id of the one in force).
        RecipientDeleted: the user was deleted (``chatd.store.living``), nothing written."""
        store = self._store
        place = ("room_id IS NULL", ()) if room_id is None else ("room_id = ?", (room_id,))

        def change() -> Placed:
            db, q = store.db, store._q
            living(store, user_id, RecipientDeleted)  # its erasure took its mutes: none comes back
            created = now_ms()
            held = db.execute_sql(q(f"SELECT {_MUTE_COLUMNS} FROM mute WHERE user_id = ? AND {place[0]} "
                                    "AND (until IS NULL OR until > ?) ORDER BY id DESC"),
                                  (user_id, *place[1], created)).fetchone()
            if held is not None and outlasts(held[3], until):
                return Placed(Mute._make(held), True)
            _delete_mute(store, user_id, room_id)
            mute_id = db.execute_sql(q("INSERT INTO mute (user_id, room_id, until, reason, created) "
                                       "VALUES (?, ?, ?, ?, ?) RETURNING id"),
                                     (user_id, room_id, until, reason, created)).fetchone()[0]
            return Placed(Mute(mute_id, user_id, room_id, until, reason, created), False)

        return self._write(change, lambda placed: _noting_kept(entry, placed))

    def unmute(self, user_id: int, room_id: int | None, entry: dict[str, Any] | None = None) -> asyncio.Future:
        """Lift the user's mute in room ``room_id`` (None: the one everywhere); → whether there was one."""
        return self._write(lambda: _delete_mute(self._store, user_id, room_id) > 0, entry)

    def unmute_id(self, mute_id: int, entry: dict[str, Any] | None = None) -> asyncio.Future:
        """Lift the mute ``mute_id``; → the Mute lifted, or None when there is none such."""
        store = self._store

        def change() -> Mute | None:
            row = store.db.execute_sql(store._q(f"DELETE FROM mute WHERE id = ? RETURNING {_MUTE_COLUMNS}"),
                                       (mute_id,)).fetchone()
            return None if row is None else Mute._make(row)

        return self._write(change, entry)

    # Bans

    def ban(self, user_id: int | None, network: str | None, until: int | None, reason: str,
            entry: dict[str, Any] | None = None) -> asyncio.Future:
        """Ban the user ``user_id`` or the network ``network`` (canonical text: exactly one of
        them) until ``until`` (ms; None: for good), replacing a ban of the same user or network
        unless that one ends later (the module); → Placed(Ban). A banned user's admin-page
        sessions end with it. The audit row of a ban kept says so (``detail.kept``). RecipientDeleted:
        the user was deleted (``chatd.store.living``), nothing written."""
        assert (user_id is None) != (network is None)
        store = self._store
        whom = ("user_id = ?", user_id) if user_id is not None else ("network = ?", network)

        def change() -> Placed:
            db, q = store.db, store._q
            if user_id is not None:
                living(store, user_id, RecipientDeleted)  # its erasure took its bans: none comes back
            created = now_ms()
            held = db.execute_sql(q(f"SELECT {_BAN_COLUMNS} FROM ban WHERE {whom[0]} "
                                    "AND (until IS NULL OR until > ?) ORDER BY id DESC"),
                                  (whom[1], created)).fetchone()
            if held is not None and outlasts(held[3], until):
                return Placed(Ban._make(held), True)
            if user_id is not None:
                end_user_sessions(store, user_id)
            db.execute_sql(q(f"DELETE FROM ban WHERE {whom[0]}"), (whom[1],))
            ban_id = db.execute_sql(q("INSERT INTO ban (user_id, network, until, reason, created) "
                                      "VALUES (?, ?, ?, ?, ?) RETURNING id"),
                                    (user_id, network, until, reason, created)).fetchone()[0]
            return Placed(Ban(ban_id, user_id, network, until, reason, created), False)

        return self._write(change, lambda placed: _noting_kept(entry, placed))

    def unban(self, ban_id: int, entry: dict[str, Any] | None = None) -> asyncio.Future:
        """Lift the ban ``ban_id``; → the Ban lifted, or None when there is none such."""
        store = self._store

        def change() -> Ban | None:
            row = store.db.execute_sql(store._q(f"DELETE FROM ban WHERE id = ? RETURNING {_BAN_COLUMNS}"),
                                       (ban_id,)).fetchone()
            return None if row is None else Ban._make(row)

        return self._write(change, entry)

    def kick(self, user_id: int, entry: dict[str, Any] | None = None) -> asyncio.Future:
        """A kick's part in the store: the user's admin-page sessions end; → how many there were."""
        return self._write(lambda: end_user_sessions(self._store, user_id), entry)

    # Reads

    def active(self, now: int) -> asyncio.Future:
        """→ (mutes, bans) in force at ``now`` (ms since the epoch), each list by id: what
        every node keeps in memory (``chatd.sanctions``); ended ones stay in the tables, listed by none."""
        return self._store.read(lambda: self.active_now(now))

    def active_now(self, now: int) -> tuple[list[Mute], list[Ban]]:
        """``active``, blocking: for start-up and for ``read``."""
        db, q = self._store.db, self._store._q
        mutes = [Mute._make(r) for r in db.execute_sql(q(
            f"SELECT {_MUTE_COLUMNS} FROM mute WHERE until IS NULL OR until > ? ORDER BY id"), (now,)).fetchall()]
        bans = [Ban._make(r) for r in db.execute_sql(q(
            f"SELECT {_BAN_COLUMNS} FROM ban WHERE until IS NULL OR until > ? ORDER BY id"), (now,)).fetchall()]
        return mutes, bans


def _audit(store: Store, entry: dict[str, Any] | None) -> None:
    """Write the audit row ``entry`` inside the writer job under way (None: nothing)."""
    if entry is not None:
        store.audit.insert(entry)


def _noting_kept(entry: dict[str, Any] | None, placed: Placed) -> dict[str, Any] | None:
    """The audit row ``entry`` of a new mute or ban, its ``detail`` naming the one kept in force if any."""
    if entry is None or not placed.kept:
        return entry
    return {**entry, "detail": json.dumps({**json.loads(entry["detail"]), "kept": placed.sanction.id},
                                          ensure_ascii=False, separators=(",", ":"))}


def _delete_mute(store: Store, user_id: int, room_id: int | None) -> int:
    """Delete the user's mute in ``room_id`` (None: everywhere); → rows deleted."""
    if room_id is None:
        sql, args = "DELETE FROM mute WHERE user_id = ? AND room_id IS NULL", (user_id,)
    else:
        sql, args = "DELETE FROM mute WHERE user_id = ? AND room_id = ?", (user_id, room_id)
    return store.db.execute_sql(store._q(sql), args).rowcount
