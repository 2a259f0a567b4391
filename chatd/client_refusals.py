"""The refusals a client is told (not a command's) whose detail is data as well as words
(docs/protocol.md, "error"): one constructor for each, so that every place that refuses says
it alike, with the same fields, and a client words it in its own language (the page:
static/refusals.js). ``refusal_of`` is the one reading of the store's exceptions as
refusals, for the WebSocket and the HTTP API alike.

    raise forbidden(CREATE_OFF, "this server does not let users create rooms")
    # → error frame {"code": "forbidden", "reason": "create_off", "message": ...}
"""

from __future__ import annotations

from typing import Any

from chatd.protocol.codes import ATTACHMENTS_TOO_MANY, DATABASE_UNREACHABLE, Code, ProtocolError
from chatd.store import DatabaseUnreachable, NoSuchUser, RecipientDeleted, UserDeleted, WriterClosed
from chatd.store.uploads import AttachmentRefused

# Why the server cannot answer now: ``unavailable``'s ``cause``. A closed set, each worded by clients.
DATABASE, SHUTTING_DOWN, NOT_STORED = "database", "shutting_down", "not_stored"
UNAVAILABLE_WORDS = {
    DATABASE: DATABASE_UNREACHABLE,
    SHUTTING_DOWN: "the server is shutting down; try again shortly",
    NOT_STORED: "it could not be stored; try again later",  # an unexpected failure, logged where it is met
}
UNAVAILABLE_CAUSES = tuple(UNAVAILABLE_WORDS)

# Why a request is not allowed: ``forbidden``'s ``reason``. A closed set, each worded by clients.
CREATE_OFF = "create_off"  # rooms.allow_create is false
MEMBERS_ONLY = "members_only"  # a members-only room is the web app's to make (HTTP API)
DEFAULT_ROOM = "default_room"  # a rooms.default room is not deleted (with ``room``)
ROLE = "role"  # a moderator's or admin's request by someone without the role (with ``role``)
SELF = "self"  # a moderator acting on themselves
RANK = "rank"  # on someone not below them (with ``user`` and ``rank``)
PRIVATE_MESSAGE = "private_message"  # a moderator's delete of a private message: admins only
AUTHOR_ONLY = "author_only"  # an edit of someone else's message
AUTHOR_OR_MODERATOR = "author_or_moderator"  # a delete of someone else's message, by no moderator
BOT = "bot"  # a bot is deleted through the HTTP API (DELETE /bots)
APP_NAME = "app_name"  # a rename of a user whose name the web app gives
SCOPE = "scope"  # the HTTP API key lacks the operation's scope (with ``scope``)
BOUND_KEY = "bound_key"  # an HTTP API key bound to one user acts as that user only (with ``user``)
ORIGIN = "origin"  # the admin API takes a change from its own page's origin only
FORBIDDEN_REASONS = (CREATE_OFF, MEMBERS_ONLY, DEFAULT_ROOM, ROLE, SELF, RANK, PRIVATE_MESSAGE, AUTHOR_ONLY,
                     AUTHOR_OR_MODERATOR, BOT, APP_NAME, SCOPE, BOUND_KEY, ORIGIN)

# Why a say's attachment is refused: ``bad_attachment``'s ``cause``: the store's (chatd.store.uploads,
# with ``attachment``, the upload's id) and the protocol's (too many, with ``limit``).
ATTACHMENT_CAUSES = (*AttachmentRefused.CAUSES, ATTACHMENTS_TOO_MANY)


def forbidden(reason: str, message: str, cid: str | None = None, **fields: Any) -> ProtocolError:
    """``forbidden`` for ``reason`` (one of FORBIDDEN_REASONS), with the fields it names."""
    assert reason in FORBIDDEN_REASONS, reason
    return ProtocolError(Code.FORBIDDEN, message, cid, details={"reason": reason, **fields})


def unavailable(cause: str, cid: str | None = None) -> ProtocolError:
    """``unavailable`` for ``cause`` (one of UNAVAILABLE_CAUSES), in its words."""
    return ProtocolError(Code.UNAVAILABLE, UNAVAILABLE_WORDS[cause], cid, details={"cause": cause})


def no_such_user(user_id: int, cid: str | None = None, what: str = "user") -> ProtocolError:
    """``no_such_user`` for the id asked for (``user``); ``what`` the English calls it ("bot", ...)."""
    return ProtocolError(Code.NO_SUCH_USER, f"there is no {what} {user_id}", cid, details={"user": user_id})


def no_such_sub(sub: str) -> ProtocolError:
    """``no_such_user`` for the web app's user id asked for (``sub``: no user signed in with it)."""
    return ProtocolError(Code.NO_SUCH_USER, f"no user has signed in with the sub {sub!r} yet", details={"sub": sub})


def deleted_user(user_id: int, recipient: bool, refused: str = "nothing can be sent to it") -> ProtocolError:
    """The refusal of a write as (``user_deleted``) or to or about (``recipient``: ``recipient_deleted``) a
    deleted user, the user's id in ``user`` (docs/protocol.md, "error"); ``refused`` says what a
    ``recipient_deleted`` refused (a message to it, by default)."""
    if recipient:
        return ProtocolError(Code.RECIPIENT_DELETED, f"user {user_id} was deleted: {refused}",
                             details={"user": user_id})
    return ProtocolError(Code.USER_DELETED, f"user {user_id} was deleted: nothing is sent as it",
                         details={"user": user_id})


def archived(room: str, cid: str | None = None) -> ProtocolError:
    """The refusal of a change to the archived room ``room`` (a say, an edit: it is read-only)."""
    return ProtocolError(Code.ROOM_ARCHIVED, f"the room {room!r} is archived: it is read-only", cid,
                         details={"room": room})


def no_such_message(message_id: int, cid: str | None = None, where: str = " here") -> ProtocolError:
    """``no_such_message`` for the id asked for (``id``)."""
    return ProtocolError(Code.NO_SUCH_MESSAGE, f"there is no message {message_id}{where}", cid,
                         details={"id": message_id})


def message_deleted(message_id: int, cid: str | None = None) -> ProtocolError:
    """``message_deleted`` for the id asked for (``id``)."""
    return ProtocolError(Code.MESSAGE_DELETED, f"message {message_id} was deleted", cid, details={"id": message_id})


def bad_attachment(error: AttachmentRefused, cid: str | None = None) -> ProtocolError:
    """``bad_attachment`` for the store's refusal: which upload (``attachment``) and why (``cause``)."""
    return ProtocolError(Code.BAD_ATTACHMENT, str(error), cid,
                         details={"attachment": error.upload_id, "cause": error.cause})


def refusal_of(error: BaseException, cid: str | None = None) -> ProtocolError | None:
    """How a client is told of ``error``, met storing what it asked (a message, an event), or None
    for an unexpected failure (a bug: the caller logs it and answers ``internal`` or NOT_STORED)."""
    if isinstance(error, ProtocolError):
        if error.cid is None:  # checks deep in the chat logic do not know the cid; the request does
            error.cid = cid
        return error
    if isinstance(error, (UserDeleted, RecipientDeleted)):  # a deletion raced the request (chatd.store.living)
        refusal = deleted_user(error.args[0], isinstance(error, RecipientDeleted))
    elif isinstance(error, NoSuchUser):
        refusal = no_such_user(error.args[0])
    elif isinstance(error, AttachmentRefused):
        refusal = bad_attachment(error)
    elif isinstance(error, WriterClosed):
        refusal = unavailable(SHUTTING_DOWN)
    elif isinstance(error, DatabaseUnreachable):  # not a bug: logged once per outage (chatd.store.health)
        refusal = unavailable(DATABASE)
    else:
        return None
    refusal.cid = cid
    return refusal
