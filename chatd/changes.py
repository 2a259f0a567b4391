"""What users do to stored messages: edit and delete their own, reply, react
(docs/protocol.md, "Edits and reactions", "Replies").

**Own messages.** Its author may edit a message (``edit``) or delete it
(``delete``) for ``messages.edit_window_seconds`` after it was stored (0:
never). Nobody else edits it, not even an admin: moderators delete
(``chatd.moderation``, audited); an author's own deletion is not audited. A
tombstone cannot be edited. An edit is refused where a ``say`` would be (a
mute, an archived room) and its text is checked as a say's.

**Reactions.** ``react`` and ``unreact`` give or take back one emoji (RGI,
fully qualified: ``chatd.protocol.fields``) on a message the user can read: at most
``REACTIONS_PER_MESSAGE`` distinct emoji per message and
``REACTIONS_PER_USER`` per user and message. The ``reactions`` frame carries
the message's whole list, so receiving it twice changes nothing.

**Frames.** Each change goes to every session that would have got the
message, on every node, as a bus ``Delivery`` without a message id (as
``deleted`` does): a session whose channel is held gets it after the page.
Each carries ``rev``, the change's number.

**Resume.** ``catch_up`` reads, for a client resuming a channel with
``since`` and ``revised`` (the last change it saw there), the messages up to
``since`` changed after ``revised``: the ``changed`` list of ``joined`` and
``welcome``. More than ``history.replay_max`` of them, or more than half of
``history.page_bytes``: ``reset``, the client reloads that view. The channel's
page comes in the same read, after them.

    changes = Changes(hub, store, bus, moderation, lambda: config)
    chat._requests.update(changes.handlers())
    quote = await changes.quote(conn, reply_to, room, to, cid)     # say's reply_to → Draft.quote
    caught, page = await catch_up(store, ROOM_WHERE, (room.id,), since, revised, config.history)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from chatd.audit import MODERATOR
from chatd.bus import Bus, Delivery
from chatd.client_refusals import (
    AUTHOR_ONLY,
    AUTHOR_OR_MODERATOR,
    archived,
    forbidden,
    message_deleted,
    no_such_message,
)
from chatd.hub import Hub
from chatd.moderation import Moderation
from chatd.moderator_requests import actor_of
from chatd.protocol.codes import REACTIONS_PER_MESSAGE, REACTIONS_PER_USER, Code, ProtocolError
from chatd.protocol.fields import check_text
from chatd.protocol.frames import edited_frame, encode, message_frame, reactions_frame
from chatd.protocol.requests import Request
from chatd.replies import Connection, answer, opening_bounds
from chatd.session import Room
from chatd.store import MessageRow, Page, Store, now_ms
from chatd.store.changes import DELETED, PER_MESSAGE, TOO_MANY, Caps, changed_since, revision_now
from chatd.store.rows import QUOTE_CHARS, Quote
from chatd.wsframe import wire

Handler = Callable[[Connection, Request], Awaitable[None]]
CAPS = Caps(REACTIONS_PER_MESSAGE, REACTIONS_PER_USER)
MS_PER_SECOND = 1000


class Caught(NamedTuple):
    """What a resuming client is told of changes in one channel: the last change committed
    before its page was read (its ``revised`` from now on), the messages changed while it was
    away (``message`` frames), and whether there were too many (it then reloads the view)."""

    revision: int
    changed: list[dict[str, Any]]
    reset: bool
    bytes: int = 0  # of ``changed`` as the reply carries it: taken from the page's budget


def changed_fields(caught: Caught) -> dict[str, Any]:
    """The fields of ``joined`` or ``welcome`` that ``caught`` makes: ``revised``, and ``changed`` if any."""
    return {"revised": caught.revision, **({"changed": caught.changed} if caught.changed else {})}


def catch_up(store: Store, where: str, params: tuple, since: int | None, revised: int | None,
             history: Any) -> asyncio.Future:
    """→ (Caught, Page): the changes a client resuming a channel (``where`` and ``params``: its
    condition, as ``Store.page`` reads history) after message ``since`` and change ``revised``
    lacks, then the channel's opening page (``chatd.replies.opening_bounds``; the latest page
    if the Caught is ``reset``); ``history``: the config's section. One read, in this order:
    what changes after the revision read here reaches the (already subscribed) session live.
    One read rather than one after the other: a joining client waits one hand-off to a
    reader thread, not two (profiled: a connection storm's reads were a large share of it)."""
    return store.read(lambda: _caught_up(store, where, params, since, revised, history))


def _caught_up(store: Store, where: str, params: tuple, since: int | None, revised: int | None,
               history: Any) -> tuple[Caught, Page]:
    """In a reader thread: ``catch_up``'s answer."""
    caught = Caught(revision_now(store), [], False)
    if since is not None and revised is not None:
        rows, more = changed_since(store, where, params, since, revised, history.replay_max)
        frames = [message_frame(row) for row in rows]
        size = sum(len(encode(frame)) + 1 for frame in frames)  # each with its comma
        reset = more or size > history.page_bytes // 2
        caught = Caught(caught.revision, [], True) if reset else Caught(caught.revision, frames, False, size)
    return caught, store.page(where, params, **opening_bounds(None if caught.reset else since, history))


class Changes:
    def __init__(self, hub: Hub, store: Store, bus: Bus, moderation: Moderation, config: Callable[[], Any]):
        self.hub = hub
        self.store = store
        self.bus = bus
        self.moderation = moderation  # tombstones and the ``deleted`` frame; mutes; channels of a message
        self._config = config
        self.wall: Callable[[], int] = now_ms  # ms since the epoch; tests put a fake clock here

    def handlers(self) -> dict[str, Handler]:
        """Request type → handler, for ``chatd.chat.Chat``'s dispatch (``delete`` takes over the moderators')."""
        return {"edit": self._edit, "delete": self._delete, "react": self._react, "unreact": self._unreact}

    # Replies

    async def quote(self, conn: Connection, message_id: int, room: Room | None, to: int | None,
                    cid: str | None) -> Quote:
        """What a ``say`` with ``reply_to: message_id`` in ``room`` (or to user ``to``) quotes.
        ProtocolError ``no_such_message`` unless it is a message of that room or conversation,
        ``message_deleted`` for a tombstone."""
        row = await self.store.moderation.message(message_id)
        me = conn.session.user.id
        if row is None or (room is not None and row.room != room.name) or (
                room is None and (row.recipient_id is None or {row.sender_id, row.recipient_id} != {me, to})):
            raise no_such_message(message_id, cid, " here to reply to")
        if row.deleted is not None:
            raise message_deleted(message_id, cid)
        return Quote(row.id, row.sender_id, row.sender_name, row.text[:QUOTE_CHARS], False)

    # Own messages

    async def _edit(self, conn: Connection, req: Request) -> None:
        text = req.fields["text"]
        check_text(text, self._config().limits.max_text_chars)  # as say's: the same limits, the same codes
        row = await self._own(conn, req, "edit")
        room = self.hub.room(row.room) if row.room is not None else None
        self.moderation.check_say(conn.session.user.id, room, req.cid)
        if room is not None and room.archived:
            raise archived(room.name, req.cid)
        edited = await self.store.changes.edit(row.id, conn.session.user.id, text, self.wall())
        if edited is None:
            raise message_deleted(row.id, req.cid)
        self._publish(edited, edited_frame(edited))
        _done(conn, req)

    async def _delete(self, conn: Connection, req: Request) -> None:
        """The author's own deletion within the window; anyone else's (or later) is a moderator's.
        Someone else is told ``no_such_message`` for a message they do not read here, as ``edit``
        and ``react`` tell it (a moderator as ``Moderation.delete`` does), ``forbidden`` for
        another's they read."""
        message_id, user = req.fields["id"], conn.session.user
        row = await self.store.moderation.message(message_id)
        readable = row is not None and self._readable(conn, row)
        moderator = actor_of(conn).may(MODERATOR)
        if not readable and not moderator:
            raise no_such_message(message_id, req.cid)
        own = readable and row.sender_id == user.id
        if own and (self._in_window(row) or row.deleted is not None):
            if row.deleted is None:
                self.moderation.deleted(await self.store.moderation.delete(message_id))  # not audited: the author's
            _done(conn, req)
            return
        if not moderator:
            if own:
                raise self._window_passed(req.cid)
            raise forbidden(AUTHOR_OR_MODERATOR, "only its author or a moderator may delete a message", req.cid)
        await self.moderation.delete(actor_of(conn), message_id, req.fields.get("reason", ""))
        _done(conn, req)

    async def _own(self, conn: Connection, req: Request, what: str) -> MessageRow:
        """The message ``req`` names, if it is the user's own, still there and in the window;
        else ProtocolError ``no_such_message``, ``forbidden``, ``message_deleted`` or ``edit_window_passed``."""
        row = await self._readable_row(conn, req)
        if row.sender_id != conn.session.user.id:
            raise forbidden(AUTHOR_ONLY, f"only its author may {what} a message", req.cid)
        if row.deleted is not None:
            raise message_deleted(row.id, req.cid)
        if not self._in_window(row):
            raise self._window_passed(req.cid)
        return row

    def _in_window(self, row: MessageRow) -> bool:
        window = self._config().messages.edit_window_seconds
        return window > 0 and self.wall() - row.ts <= window * MS_PER_SECOND

    def _window_passed(self, cid: str | None) -> ProtocolError:
        window = self._config().messages.edit_window_seconds
        if window <= 0:
            return ProtocolError(Code.EDIT_WINDOW_PASSED, "messages cannot be edited or deleted by their authors "
                                                          "on this server", cid, details={"window_ms": 0})
        return ProtocolError(Code.EDIT_WINDOW_PASSED, f"messages can be edited or deleted for {window:g} seconds "
                                                      "after they are sent", cid,
                             details={"window_ms": round(window * MS_PER_SECOND)})

    # Reactions

    async def _react(self, conn: Connection, req: Request) -> None:
        row = await self._readable_row(conn, req)
        room = self.hub.room(row.room) if row.room is not None else None
        self.moderation.check_say(conn.session.user.id, room, req.cid)
        result = await self.store.changes.react(row.id, conn.session.user.id, req.fields["emoji"], self.wall(), CAPS)
        self._reacted(conn, req, result)

    async def _unreact(self, conn: Connection, req: Request) -> None:
        row = await self._readable_row(conn, req)
        result = await self.store.changes.unreact(row.id, conn.session.user.id, req.fields["emoji"])
        self._reacted(conn, req, result)

    def _reacted(self, conn: Connection, req: Request, result: Any) -> None:
        if result.refused == DELETED:
            raise message_deleted(req.fields["id"], req.cid)
        if result.refused in TOO_MANY:
            # Which cap it hit, in words and as ``cap``: both caps alone left the user guessing.
            words = (f"this message has as many different emoji as it can take ({CAPS.per_message}); you can "
                     "still add one already given" if result.refused == PER_MESSAGE else
                     f"you have given this message {CAPS.per_user} reactions, the most one person may give")
            raise ProtocolError(Code.TOO_MANY_REACTIONS, words, req.cid,
                                details={"per_message": CAPS.per_message, "per_user": CAPS.per_user,
                                         "cap": result.refused})
        if result.changed:
            self.publish_reactions([result.row])
        _done(conn, req)

    # Who reads what

    async def _readable_row(self, conn: Connection, req: Request) -> MessageRow:
        """The message ``req`` names, with its reactions, if the user reads it here (its room
        joined, or its conversation); else ProtocolError ``no_such_message``."""
        message_id = req.fields["id"]
        row = await self.store.changes.message(message_id)
        if row is None or not self._readable(conn, row):  # one answer for both: existence does not leak
            raise no_such_message(message_id, req.cid)
        return row

    def _readable(self, conn: Connection, row: MessageRow) -> bool:
        user_id = conn.session.user.id
        if row.recipient_id is not None:
            return user_id in (row.sender_id, row.recipient_id)
        room = self.hub.room(row.room) if row.room is not None else None
        return room is not None and room.key in conn.session.rooms

    def publish_reactions(self, rows: list[MessageRow]) -> None:
        """The reactions of ``rows`` changed (committed): their ``reactions`` frames to every
        session, on every node, that has their room or conversation."""
        for row in rows:
            self._publish(row, reactions_frame(row))

    def _publish(self, row: MessageRow, frame: dict[str, Any]) -> None:
        channels = self.moderation.channels(row)
        if channels:
            self.bus.publish(Delivery(channels, None, None, wire(frame)))


def _done(conn: Connection, req: Request) -> None:
    if not conn.closed:
        answer(conn, req, {"type": "done"})
