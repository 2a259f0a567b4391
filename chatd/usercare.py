"""A user's data: its export and its deletion, from the admin page or the command line
(``chatd.store.userdata`` says what each holds and keeps; docs/operations.md, "User data").

Deleting a user, in this order, so that nothing it writes meanwhile escapes: its
identity is erased with the audit row (one transaction: tokens refused from then
on), its sessions end on every node (``kicked``, 4410) and it leaves the
members-only rooms everywhere, then its messages become tombstones a batch at a
time (``BATCH_ROWS``, pauses between), each batch's ``deleted`` frames going to
the sessions that have them (``chatd.moderation``). Bots are refused: the API
that made them deletes them.

A deletion cut off (the process killed, the database gone meanwhile) is
finished, not lost: deleting the user again (it is still found by its id, kind
``deleted``) redoes each step, which changes only what is left, and answers as
the first time; and every server start finishes, in the background and in the
same batches, the deletions the store says are unfinished (``resume``).

    care = UserCare(chat)
    users = await care.find("alice")                 # [(id, name, kind)]
    async for piece in care.export(actor, 42): ...   # JSON text; one audit row (user.export)
    await care.delete(actor, 42)                     # → messages made tombstones (again: the rest)
    care.resume()                                    # at start: finish cut-off deletions, in the background
    erase_blocking(store, 42, actor)                 # a command's first step, on the database (blocks) ...
    care.erased(42)                                  # ... the rest by the running server it asks (a task)
    tombstones_blocking(store, 42)                   # ... or by the command itself when none answers
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from chatd.audit import Actor, entry
from chatd.client_refusals import BOT as BOT_USER
from chatd.client_refusals import forbidden, no_such_user
from chatd.protocol.codes import KICK_DELETED
from chatd.session import BOT
from chatd.store import DatabaseUnreachable, Store, WriterClosed
from chatd.store.userdata import DELETED, erase_identity, export, find_users, tombstone_batch, unfinished

log = logging.getLogger("chatd.users")

BATCH_ROWS = 500  # messages made tombstones in one writer job
PAUSE_SECONDS = 0.05  # between two batches: the writer's other jobs go first
KICK_REASON = "this account was deleted"


def target(user_id: int) -> str:
    """How audit rows name a user (an id: the row outlives the name)."""
    return f"user:{user_id}"


class UserCare:
    def __init__(self, chat: Any):
        """``chat``: the ``chatd.chat.Chat`` (its store, cluster, room admin and moderation)."""
        self.chat = chat
        self.store: Store = chat.store
        self.resuming: asyncio.Task | None = None  # finishing cut-off deletions (``resume``)

    def find(self, ref: str) -> asyncio.Future:
        """→ [(id, name, kind)] of the users ``ref`` names (an id, or an exact name)."""
        return self.store.read(lambda: find_users(self.store, ref))

    async def export(self, actor: Actor, user_id: int) -> AsyncIterator[str]:
        """The user's JSON export in pieces, each read in the reader pool; its audit row first."""
        await self.store.audit.add(entry(actor, "user.export", target(user_id)))
        pieces = export(self.store, user_id)
        while True:
            piece = await self.store.read(lambda: next(pieces, None))
            if piece is None:
                return
            yield piece

    async def delete(self, actor: Actor, user_id: int, reason: str = "") -> int:
        """Delete the user (see the module), or finish its deletion; → messages made tombstones
        now. ProtocolError ``no_such_user``, or ``forbidden`` for a bot."""
        user = next(iter(await self.find(str(user_id))), None)
        if user is None:
            raise no_such_user(user_id)
        if user[2] == BOT:
            raise forbidden(BOT_USER, "this user is a bot: delete it through the HTTP API (DELETE /bots)")

        def erase() -> bool:
            with self.store.db.atomic():
                return _erased(self.store, user_id, actor, reason)

        if not await self.store.writer.run(erase):
            raise no_such_user(user_id)
        self.ended(user_id)
        return await self.tombstones(user_id)

    def resume(self) -> asyncio.Task:
        """Finish, in the background, every deletion the store says was cut off (``unfinished``),
        one user after another, batch by batch like ``delete``; → the task (it logs what it did).
        Run at each start: a stopping server leaves the rest to the next one."""
        self.resuming = asyncio.ensure_future(self._resume())
        self.resuming.add_done_callback(_finished)
        return self.resuming

    async def _resume(self) -> None:
        for user_id in await self.store.read(lambda: unfinished(self.store)):
            log.info("finishing the deletion of user %d, cut off before", user_id)
            self.ended(user_id)  # sessions another node may still hold from before the cut
            made = await self.tombstones(user_id)
            log.info("user %d deleted: %d more messages made tombstones", user_id, made)

    def erased(self, user_id: int) -> asyncio.Task:
        """A command erased the user in the database (``chatd.care_commands``): the rest of
        ``delete`` — its sessions end and it leaves its members-only rooms on every node, then
        its messages become tombstones here in the background, each batch's ``deleted`` and
        ``reactions`` frames going to every node, as the admin page's deletion sends them;
        → that task (→ messages made tombstones). A failure is logged; the next start
        finishes what it left (``resume``)."""
        self.ended(user_id)
        task = asyncio.ensure_future(self.tombstones(user_id))
        task.add_done_callback(_finished)
        return task

    def ended(self, user_id: int) -> None:
        """The user was erased (here, or by a command): its sessions end and it leaves its
        members-only rooms, here and on every node."""
        chat = self.chat
        chat.identity.erased(user_id)  # first: the sessions the kick ends hold no name
        chat.cluster.kick(user_id, KICK_REASON, KICK_DELETED, default=True)
        for room in list(chat.hub.rooms.values()):
            if user_id in room.allowed:
                chat.room_admin.member(room.id, user_id, False)

    async def tombstones(self, user_id: int) -> int:
        """Make the erased user's messages tombstones, a batch at a time; → how many."""
        made, more = 0, True
        while more:
            batch = await self.store.writer.run(lambda: tombstone_batch(self.store, user_id, BATCH_ROWS))
            self.chat.moderation.deleted(batch.tombstones)
            self.chat.changes.publish_reactions(batch.unreacted)
            made, more = made + len(batch.tombstones), batch.more
            if more:
                await asyncio.sleep(PAUSE_SECONDS)
        return made


def _erased(store: Store, user_id: int, actor: Actor, reason: str) -> bool:
    """In a transaction: the user's identity erased (``erase_identity``) with its audit row, which
    says ``{"again": true}`` when the user was deleted before; → whether there is such a user."""
    kind = erase_identity(store, user_id)
    if kind is not None:
        store.audit.insert(entry(actor, "user.delete", target(user_id), reason,
                                 {"again": True} if kind == DELETED else None))
    return kind is not None


def _finished(task: asyncio.Task) -> None:
    """Log how a deletion's background part (``resume``, ``erased``) ended, if not well."""
    if task.cancelled():
        return
    error = task.exception()
    if isinstance(error, (WriterClosed, DatabaseUnreachable)):
        log.warning("finishing user deletions stopped (%s): the next start goes on", error or "stopping")
    elif error is not None:
        log.error("finishing user deletions failed: %r", error)


def erase_blocking(store: Store, user_id: int, actor: Actor, reason: str = "") -> bool:
    """``UserCare.delete``'s first step on the database alone, for a command (no writer
    thread): the user's identity erased with its audit row (``{"again": true}`` for a user
    deleted before, whose deletion this finishes); → whether there is such a user. The command
    then asks a running server for the rest (``UserCare.erased``: it ends the sessions and
    tells the open pages), or does it itself (``tombstones_blocking``). Blocks."""
    with store.db.connection_context(), store.db.atomic():
        return _erased(store, user_id, actor, reason)


def tombstones_blocking(store: Store, user_id: int) -> int:
    """``UserCare.tombstones`` on the database alone, for a command that no server answered
    (no session holds the messages: no frame to send); → messages made tombstones. Blocks."""
    made, more = 0, True
    with store.db.connection_context():
        while more:
            batch = tombstone_batch(store, user_id, BATCH_ROWS)
            made, more = made + len(batch.tombstones), batch.more
            if more:
                time.sleep(PAUSE_SECONDS)
    return made
