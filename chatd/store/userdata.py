"""A user's data in the store, SQLite or PostgreSQL: finding a user, its export as
JSON, and its deletion (``chatd.usercare`` runs them; docs/operations.md, "User data").

**Export** is a generator of JSON text pieces, read a page (``PAGE_ROWS`` rows)
at a time: a user with a million messages never sits in memory. Each piece is
read by one ``next()``, which the server runs in its reader pool
(``Store.read``), a command in its own thread.

**Deletion** keeps every row that other rows or users' positions point at,
and nothing that says who the user was. The user row stays (messages refer
to their sender by id, and ids are never handed out again) with its name made
``ANONYMOUS``, kind ``"deleted"``, no app id (``external_id``: the app's next
token for that user makes a new user), no roles, no avatar, and its token
generation raised (every token refused). Its sign-ins, memberships, stored
notifications, API keys bound to it, mutes, bans and uploaded files go; rooms it created forget it. Then,
in batches: each message it sent becomes a tombstone (``chatd.store.moderation``)
with its sender's name ``ANONYMOUS``; messages others sent it keep their text
(their words) with the recipient's name ``ANONYMOUS``, and its reactions are taken
back (each message drawing a change number, as ``chatd.store.changes`` does).

A deletion cut off (a crash, a kill, a database error) is finished by running it
again: the deleted user stays found by its id (kind ``"deleted"``), the identity
step does nothing new, and the batches pick up what is left. ``unfinished``
lists the deleted users with messages left to make anonymous: the server
finishes them at start (``chatd.usercare``).

    found = find_users(store, "alice")          # [(id, name, kind)]: by id if digits, else by name
    unfinished(store)                           # [user ids]: deletions to finish
    for piece in export(store, 42): ...         # JSON text pieces
    erase_identity(store, 42)                   # in a writer job: the user row and what hangs on it → kind
    batch = tombstone_batch(store, 42, 500)     # in a writer job, until ``batch.more`` is False
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from chatd.protocol.frames import attachment_ref
from chatd.store.changes import decorate, next_rev
from chatd.store.living import DELETED
from chatd.store.moderation import tombstone
from chatd.store.rows import SELECT, USER_ID_MAX, MessageRow
from chatd.store.schema import now_ms
from chatd.store.uploads import COLUMNS as UPLOAD_COLUMNS
from chatd.store.uploads import UploadRow

if TYPE_CHECKING:
    from chatd.store import Store

ANONYMOUS = "[deleted]"  # the name a deleted user's row and messages keep
PAGE_ROWS = 1000  # messages read per page of an export
FIND_MAX = 20  # users listed for one name


class Batch(NamedTuple):
    """What one ``tombstone_batch`` did, as clients are to be told."""

    tombstones: list[MessageRow]  # the user's messages that became tombstones now
    unreacted: list[MessageRow]  # messages whose reactions lost the user's (with their reactions now)
    more: bool  # something was left to do: call again


def find_users(store: Store, ref: str) -> list[tuple[int, str, str]]:
    """(id, name, kind) of the user ``ref`` names: an id (ASCII digits; a deleted user too, kind
    ``DELETED``, so that its deletion can be run again; none above ``USER_ID_MAX``), or a name
    (exact, every user called so, at most ``FIND_MAX``; deleted users are all ``ANONYMOUS`` and
    are not found by name). Blocking."""
    db, q = store.db, store._q
    if ref.isdigit() and ref.isascii():
        # No user has a larger id, and the database may not take one (int() refuses 4300 digits).
        if len(ref) > len(str(USER_ID_MAX)) or not 1 <= int(ref) <= USER_ID_MAX:
            return []
        sql, args = 'SELECT id, name, kind FROM "user" WHERE id = ?', (int(ref),)
    else:
        sql, args = 'SELECT id, name, kind FROM "user" WHERE name = ? AND kind <> ? ORDER BY id LIMIT ?', \
            (ref, DELETED, FIND_MAX)
    return [tuple(row) for row in db.execute_sql(q(sql), args).fetchall()]


def unfinished(store: Store) -> list[int]:
    """The ids of the deleted users whose deletion was cut off: messages they sent that are no
    anonymous tombstone yet, messages to them still naming them, or reactions they gave
    (``tombstone_batch`` does all three), ascending. Blocking; reads each deleted user's
    messages and reactions through their indexes."""
    db, q = store.db, store._q
    return [row[0] for row in db.execute_sql(q(
        'SELECT u.id FROM "user" u WHERE u.kind = ? AND ('
        "EXISTS (SELECT 1 FROM message m WHERE m.sender_id = u.id AND (m.deleted IS NULL OR m.sender_name <> ?)) "
        "OR EXISTS (SELECT 1 FROM message m WHERE m.recipient_id = u.id AND m.recipient_name <> ?) "
        "OR EXISTS (SELECT 1 FROM reaction r WHERE r.user_id = u.id)) ORDER BY u.id"),
        (DELETED, ANONYMOUS, ANONYMOUS)).fetchall()]


def export(store: Store, user_id: int) -> Iterator[str]:
    """The user's data as one JSON object, in pieces: ``{"user": profile, "memberships": [...],
    "rooms_created": [...], "uploads": [files, as message attachments show them, with ``created``
    and ``message``], "reactions": [{message, emoji, ts}], "messages": [room messages sent],
    "private": [private messages to or from the user]}``, each message ``{id, ts, text, deleted}``
    and its room, or its ``from`` and ``to`` (docs/operations.md, "User data").
    Nothing if the user does not exist."""
    db, q = store.db, store._q
    row = db.execute_sql(q('SELECT id, name, kind, created, external_id, roles, avatar FROM "user" WHERE id = ?'),
                         (user_id,)).fetchone()
    if row is None:
        return
    uid, name, kind, created, external_id, roles, avatar = row
    profile = {"id": uid, "name": name, "kind": kind, "created": created, "external_id": external_id,
               "roles": json.loads(roles or "[]"), "avatar": avatar}
    memberships = [{"room": room, "source": source, "added": added} for room, source, added in db.execute_sql(q(
        "SELECT r.name, m.source, m.added FROM room_member m JOIN room r ON r.id = m.room_id "
        "WHERE m.user_id = ? ORDER BY r.name, m.source"), (user_id,)).fetchall()]
    created_rooms = [{"room": room, "created": made} for room, made in db.execute_sql(q(
        "SELECT name, created FROM room WHERE creator_id = ? ORDER BY id"), (user_id,)).fetchall()]
    uploads = [{**attachment_ref(upload.shown()), "created": upload.created, "message": upload.message_id}
               for upload in (UploadRow(*row) for row in db.execute_sql(q(
                   f"SELECT {UPLOAD_COLUMNS} FROM upload WHERE owner_id = ? ORDER BY created, id"), (user_id,)))]
    reactions = [{"message": message, "emoji": emoji, "ts": ts} for message, emoji, ts in db.execute_sql(q(
        "SELECT message_id, emoji, ts FROM reaction WHERE user_id = ? ORDER BY id"), (user_id,)).fetchall()]
    yield (f'{{"user": {json.dumps(profile)}, "memberships": {json.dumps(memberships)}, '
           f'"rooms_created": {json.dumps(created_rooms)}, "uploads": {json.dumps(uploads)}, '
           f'"reactions": {json.dumps(reactions)}, "messages": [')
    yield from _messages(store, "m.sender_id = ? AND m.room_id IS NOT NULL", (user_id,))
    yield '], "private": ['
    yield from _messages(store, "(m.recipient_id = ? OR (m.sender_id = ? AND m.recipient_id IS NOT NULL))",
                         (user_id, user_id))
    yield "]}\n"


def _messages(store: Store, where: str, args: tuple) -> Iterator[str]:
    """The messages passing ``where``, by id, as JSON objects joined by commas, a page per piece."""
    after, first = 0, True
    while True:
        rows = store.db.execute_sql(store._q(f"{SELECT} WHERE {where} AND m.id > ? ORDER BY m.id LIMIT ?"),
                                    (*args, after, PAGE_ROWS)).fetchall()
        if not rows:
            return
        shown = [json.dumps(_shown(MessageRow(*row))) for row in rows]
        yield ("" if first else ", ") + ", ".join(shown)
        first, after = False, rows[-1][0]


def _shown(row: MessageRow) -> dict:
    # "deleted" as the chat log's export says it (chatd.admin.log): a tombstone's text is "", and so
    # may be the text of a message that holds only files; the flag tells them apart.
    message = {"id": row.id, "ts": row.ts, "text": row.text, "deleted": row.deleted is not None}
    if row.room is not None:
        return {**message, "room": row.room}
    return {**message, "from": {"id": row.sender_id, "name": row.sender_name},
            "to": {"id": row.recipient_id, "name": row.recipient_name}}


def erase_identity(store: Store, user_id: int) -> str | None:
    """In a writer job: anonymise the user row and remove what hangs on it (see the module);
    → the kind the user had (``DELETED``: it was deleted before, and this finishes the job),
    or None if there is no such user."""
    db, q = store.db, store._q
    with db.atomic():
        # FOR UPDATE (PostgreSQL): a write on the user's behalf in flight commits first (chatd.store.living).
        row = db.execute_sql(q('SELECT kind FROM "user" WHERE id = ?') + store.update_user, (user_id,)).fetchone()
        if row is None:
            return None
        db.execute_sql(q('UPDATE "user" SET name = ?, kind = ?, external_id = NULL, roles = ?, '
                         "avatar = NULL, token_generation = token_generation + 1 WHERE id = ?"),
                       (ANONYMOUS, DELETED, "[]", user_id))
        for table in ("sign_in", "room_member", "event", "api_key", "mute", "ban", "room_read", "conversation",
                      "name_hold"):
            db.execute_sql(q(f"DELETE FROM {table} WHERE user_id = ?"), (user_id,))
        db.execute_sql(q("UPDATE room SET creator_id = NULL WHERE creator_id = ?"), (user_id,))
        db.execute_sql(q("DELETE FROM upload WHERE owner_id = ?"), (user_id,))  # its files, sent or not
    return row[0]


def tombstone_batch(store: Store, user_id: int, limit: int) -> Batch:
    """In a writer job: at most ``limit`` more of the user's messages made anonymous tombstones, at
    most as many messages to it made anonymous, and its reactions taken back from at most as many
    messages; → the Batch (call again until its ``more`` is False)."""
    db, q = store.db, store._q
    with db.atomic():
        ids = [row[0] for row in db.execute_sql(q(
            "SELECT id FROM message WHERE sender_id = ? AND (deleted IS NULL OR sender_name <> ?) "
            "ORDER BY id LIMIT ?"), (user_id, ANONYMOUS, limit)).fetchall()]
        rows = tombstone(store, ids, now_ms())
        if ids:
            marks = ", ".join("?" * len(ids))
            db.execute_sql(q(f"UPDATE message SET sender_name = ? WHERE id IN ({marks})"), (ANONYMOUS, *ids))
        received = db.execute_sql(q(
            "UPDATE message SET recipient_name = ? WHERE id IN (SELECT id FROM message "
            "WHERE recipient_id = ? AND recipient_name <> ? ORDER BY id LIMIT ?)"),
            (ANONYMOUS, user_id, ANONYMOUS, limit)).rowcount
        unreacted = _unreact_all(store, user_id, limit)
    return Batch([row._replace(sender_name=ANONYMOUS) for row in rows], unreacted,
                 bool(ids) or received > 0 or bool(unreacted))


def _unreact_all(store: Store, user_id: int, limit: int) -> list[MessageRow]:
    """Inside a writer job: the user's reactions to at most ``limit`` messages taken back, each
    message drawing a change number; → those messages as they are now."""
    db, q = store.db, store._q
    ids = [row[0] for row in db.execute_sql(q(
        "SELECT DISTINCT message_id FROM reaction WHERE user_id = ? ORDER BY message_id LIMIT ?"),
        (user_id, limit)).fetchall()]
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    db.execute_sql(q(f"DELETE FROM reaction WHERE user_id = ? AND message_id IN ({marks})"), (user_id, *ids))
    last = next_rev(store, len(ids))
    for rev, message_id in enumerate(ids, last - len(ids) + 1):
        db.execute_sql(q("UPDATE message SET rev = ? WHERE id = ?"), (rev, message_id))
    rows = db.execute_sql(q(f"{SELECT} WHERE m.id IN ({marks}) ORDER BY m.id"), ids).fetchall()
    return decorate(store, [MessageRow(*row) for row in rows])
