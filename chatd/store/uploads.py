"""Uploaded files in the store, SQLite or PostgreSQL (``chatd.web.uploads`` takes and serves them).

A file lives in the database, not in a folder: its row in ``upload`` and its
bytes in ``upload_chunk``, CHUNK_BYTES a row (SQLite BLOB, PostgreSQL bytea),
so every node of a cluster serves any file, a backup or ``chatd migrate-store``
carries them, and a file is sent a chunk at a time, never held whole.

A file belongs to its owner until a message of the owner's attaches it
(``attach``, in the message's own insert: both or neither); it then lives as
long as the message: a tombstone deletes it (``delete_of_messages``, called by
``chatd.store.moderation.tombstone``, which every deletion path uses) and a
message deleted outright (retention, a room's removal) takes it along by
ON DELETE CASCADE, its chunks likewise. One never attached is purged after
``uploads.unattached_hours`` (``purge_unattached``, from ``chatd.retention``).

    row = await store.uploads.save(owner_id, "cat.png", "image/png", data, 640, 480, thumb, quota)
    row = await store.uploads.get(upload_id)          # UploadRow or None
    piece = await store.uploads.chunk(upload_id, FILE, 0)   # bytes or None
    text = attach(store, message_id, owner_id, ids)   # in the message's writer job → the message's JSON
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from chatd.store.living import living
from chatd.store.schema import now_ms

if TYPE_CHECKING:
    from chatd.store.base import Store

CHUNK_BYTES = 256 * 1024  # a row of upload_chunk: a few of them read and sent at a time
FILE, THUMB = 0, 1  # upload_chunk.part: the file, its thumbnail
ID_BYTES = 16  # 128 random bits: an upload's id is the secret of its URL
BATCH = 500  # ids per statement: far below either database's parameter limits
COLUMNS = "id, owner_id, name, type, size, sha256, width, height, thumb_size, created, message_id"


class UploadRow(NamedTuple):
    id: str
    owner_id: int
    name: str
    type: str
    size: int  # bytes
    sha256: str  # hex
    width: int | None  # pixels (images only)
    height: int | None
    thumb_size: int | None  # bytes of its WebP thumbnail; None: none
    created: int  # ms since the epoch
    message_id: int | None  # None: not attached yet

    def shown(self) -> dict[str, Any]:
        """What a message keeps of it (``message.attachments``) and ``POST /upload`` answers, before
        ``chatd.protocol.frames.attachment_ref`` adds its URLs: ``{id, name, type, size, width?, height?, thumb}``."""
        item: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type, "size": self.size}
        if self.width is not None:
            item["width"], item["height"] = self.width, self.height
        item["thumb"] = self.thumb_size is not None
        return item


class QuotaExceeded(Exception):
    """The owner's files would pass ``uploads.quota_bytes``: ``used`` and ``quota`` in bytes."""

    def __init__(self, used: int, quota: int):
        super().__init__(used, quota)
        self.used, self.quota = used, quota


class AttachmentRefused(Exception):
    """A message's attachments are not all the sender's own unattached uploads: ``upload_id``, the
    first that is not, and ``cause``, why (one of ``CAUSES``); str() says both."""

    UNKNOWN, NOT_YOURS, ATTACHED = "unknown", "not_yours", "attached"
    CAUSES = (UNKNOWN, NOT_YOURS, ATTACHED)
    WORDS = {UNKNOWN: "does not exist (or was purged, never sent within uploads.unattached_hours)",
             NOT_YOURS: "is another user's", ATTACHED: "is attached to a message already"}

    def __init__(self, upload_id: str, cause: str):
        super().__init__(upload_id, cause)
        self.upload_id, self.cause = upload_id, cause

    def __str__(self) -> str:
        return f"the upload {self.upload_id!r} {self.WORDS[self.cause]}: attach only your own uploads not sent yet"


def new_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


class UploadStore:
    """``store.uploads``: the files of one store."""

    def __init__(self, store: Store):
        self._store = store

    def save(self, owner_id: int, name: str, kind: str, data: bytes, width: int | None, height: int | None,
             thumb: bytes | None, quota: int) -> asyncio.Future:
        """Store a file of ``owner_id`` (``name`` and ``kind`` as ``chatd.filetypes`` made them; an
        image's size and thumbnail) → its UploadRow; QuotaExceeded when the owner's files would then
        pass ``quota`` bytes (0: no limit), nothing stored; UserDeleted: the owner was deleted meanwhile
        (``chatd.store.living``)."""
        store = self._store
        row = UploadRow(new_id(), owner_id, name, kind, len(data), hashlib.sha256(data).hexdigest(), width, height,
                        None if thumb is None else len(thumb), now_ms(), None)

        def job() -> UploadRow:
            db, q = store.db, store._q
            with db.atomic():  # a savepoint: the row and every chunk, or nothing
                living(store, owner_id)
                if quota:
                    used = db.execute_sql(q("SELECT coalesce(sum(size), 0) FROM upload WHERE owner_id = ?"),
                                          (owner_id,)).fetchone()[0]
                    if used + row.size > quota:
                        raise QuotaExceeded(used, quota)
                db.execute_sql(q(f"INSERT INTO upload ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), row)
                for part, content in ((FILE, data), (THUMB, thumb or b"")):
                    for seq, start in enumerate(range(0, len(content), CHUNK_BYTES)):
                        db.execute_sql(q("INSERT INTO upload_chunk (upload_id, part, seq, data) VALUES (?, ?, ?, ?)"),
                                       (row.id, part, seq, content[start:start + CHUNK_BYTES]))
            return row

        return store.writer.run(job, store.quota_keys(owner_id) if quota else ())

    def get(self, upload_id: str) -> asyncio.Future:
        """→ the UploadRow of ``upload_id``, or None."""
        store = self._store

        def query() -> UploadRow | None:
            found = store.db.execute_sql(store._q(f"SELECT {COLUMNS} FROM upload WHERE id = ?"),
                                         (upload_id,)).fetchone()
            return None if found is None else UploadRow._make(found)

        return store.read(query)

    def chunk(self, upload_id: str, part: int, seq: int) -> asyncio.Future:
        """→ the bytes of chunk ``seq`` of the upload's ``part`` (FILE, THUMB), or None past its end
        (or when the upload is gone meanwhile)."""
        store = self._store

        def query() -> bytes | None:
            found = store.db.execute_sql(store._q("SELECT data FROM upload_chunk WHERE upload_id = ? AND part = ? "
                                                  "AND seq = ?"), (upload_id, part, seq)).fetchone()
            return None if found is None else bytes(found[0])

        return store.read(query)

    def used(self, owner_id: int) -> asyncio.Future:
        """→ bytes of the owner's stored files (what ``uploads.quota_bytes`` bounds)."""
        store = self._store
        return store.read(lambda: store.db.execute_sql(
            store._q("SELECT coalesce(sum(size), 0) FROM upload WHERE owner_id = ?"), (owner_id,)).fetchone()[0])

    def purge_unattached(self, before: int, limit: int) -> asyncio.Future:
        """Delete at most ``limit`` uploads never attached and made before ``before`` (ms since the
        epoch), with their chunks; → how many."""
        store = self._store
        return store.writer.run(lambda: purge_unattached(store, before, limit))


def purge_unattached(store: Store, before: int, limit: int) -> int:
    """``UploadStore.purge_unattached`` inside a writer job (or a command's transaction)."""
    return store.db.execute_sql(store._q(
        "DELETE FROM upload WHERE id IN (SELECT id FROM upload WHERE message_id IS NULL AND created < ? "
        "ORDER BY created LIMIT ?)"), (before, limit)).rowcount


def attach(store: Store, message_id: int, owner_id: int, ids: Sequence[str]) -> str:
    """In the writer job that inserted message ``message_id``: the uploads ``ids`` become its own;
    → what the message keeps of them (JSON, in ``ids``' order), also written to its row.
    AttachmentRefused, the caller's savepoint then undoing the message too, when one is not
    ``owner_id``'s, is attached already, or does not exist. Two messages claiming one upload at
    once (two nodes): the second waits for the first's commit and finds it taken."""
    db, q = store.db, store._q
    marks = ", ".join("?" * len(ids))
    rows = db.execute_sql(q(f"UPDATE upload SET message_id = ? WHERE id IN ({marks}) AND owner_id = ? "
                            f"AND message_id IS NULL RETURNING {COLUMNS}"), (message_id, *ids, owner_id)).fetchall()
    found = {row[0]: UploadRow._make(row) for row in rows}
    missing = next((upload_id for upload_id in ids if upload_id not in found), None)
    if missing is not None:
        raise AttachmentRefused(missing, _why_refused(store, missing, owner_id))
    text = json.dumps([found[upload_id].shown() for upload_id in ids], ensure_ascii=False, separators=(",", ":"))
    db.execute_sql(q("UPDATE message SET attachments = ? WHERE id = ?"), (text, message_id))
    return text


def _why_refused(store: Store, upload_id: str, owner_id: int) -> str:
    """Why ``attach`` could not claim ``upload_id`` for ``owner_id`` (``AttachmentRefused.CAUSES``)."""
    row = store.db.execute_sql(store._q("SELECT owner_id, message_id FROM upload WHERE id = ?"),
                               (upload_id,)).fetchone()
    if row is None:
        return AttachmentRefused.UNKNOWN
    return AttachmentRefused.NOT_YOURS if row[0] != owner_id else AttachmentRefused.ATTACHED


def delete_of_messages(store: Store, message_ids: Sequence[int]) -> int:
    """Inside a writer job: delete the files attached to ``message_ids`` (any number), with their
    chunks (ON DELETE CASCADE); → how many files."""
    deleted = 0
    for start in range(0, len(message_ids), BATCH):
        chunk = message_ids[start:start + BATCH]
        marks = ", ".join("?" * len(chunk))
        deleted += store.db.execute_sql(store._q(f"DELETE FROM upload WHERE message_id IN ({marks})"),
                                        tuple(chunk)).rowcount
    return deleted
