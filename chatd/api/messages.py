"""``POST /api/v1/messages``: a chat message into a room or to a user (GatewayWorker's
``sendToGroup`` / ``sendToUid`` for chat messages), stored and delivered by ``Chat.post``
like a WebSocket ``say``, and answered once committed.

The sender is the key's user when the key is bound to one (a bot's key: it posts as the
bot only), else the user named by ``as`` (a message on behalf of a user, or from a bot or
"system" user the app made). With an ``Idempotency-Key`` header a retry is stored once and
answered with the first answer, however many nodes or restarts lie between (``Draft.once``,
kept ``api.idempotency_hours``); the same key with another request is 422
``idempotency_key_reused`` (the request is understood, but contradicts the key: RFC 9110
§15.5.21, as the IETF Idempotency-Key draft advises).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatd.api.base import ApiError, Call, Operation, Reply
from chatd.api.fields import ROOM, TEXT, Field, Schema
from chatd.api.people import named, resolve, twins
from chatd.chat import Chat
from chatd.client_refusals import BOUND_KEY, NOT_STORED, deleted_user, forbidden, no_such_user, refusal_of, unavailable
from chatd.protocol.frames import message_frame
from chatd.store import Draft, Once, ReusedKey, Stored, now_ms
from chatd.store.userdata import DELETED

log = logging.getLogger("chatd.api")

HOUR_MS = 3_600_000
USER_REF = {"type": "object", "required": ["id", "name"],
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}
# A stored message as clients get it (docs/protocol.md, "Messages").
MESSAGE = {
    "type": "object",
    "required": ["type", "id", "from", "text", "ts"],
    "properties": {"type": {"const": "message"}, "id": {"type": "integer"}, "room": {"type": "string"},
                   "to": USER_REF, "from": USER_REF, "text": {"type": "string"},
                   "ts": {"type": "integer", "description": "ms since 1970, UTC"},
                   # Optional, absent when empty (docs/protocol.md, "Edits and reactions", "Replies").
                   "edited": {"type": "integer", "description": "ms since 1970, UTC, of the author's last edit"},
                   "reply_to": {"type": "object", "required": ["id"],
                                "properties": {"id": {"type": "integer"}, "from": USER_REF,
                                               "text": {"type": "string"}, "deleted": {"type": "boolean"}}},
                   "reactions": {"type": "array", "items": {
                       "type": "object", "required": ["emoji", "count", "users"],
                       "properties": {"emoji": {"type": "string"}, "count": {"type": "integer"},
                                      "users": {"type": "array", "items": USER_REF}}}}},
}

SEND = Schema({
    "room": Field(ROOM, doc="the room to post in"),
    **named("to", "the user to send a private message to (all their sessions get it)"),
    "text": Field(TEXT, required=True),
    **named("as", "who sends it (a key bound to a user sends as that user only)"),
}, one_of=(("room", *twins("to")),), at_most_one=(twins("as"),))


async def sender(call: Call) -> tuple[int, str]:
    """(id, name) of whoever a call acts as: the key's user, or ``as`` / ``as_sub``. ApiError when
    that is not given, another user than the key's, or nobody."""
    key, wanted = call.key, await resolve(call, "as")
    if key.user_id is not None:
        if wanted is not None and wanted != key.user_id:
            raise ApiError.of(forbidden(BOUND_KEY, f"this API key acts as user {key.user_id} only", user=key.user_id))
        wanted = key.user_id
    elif wanted is None:
        raise ApiError("bad_request", "say who sends it: 'as' (a user id) or 'as_sub' (the app's user id), "
                                      "or use a key bound to a user")
    chat = call.api.chat
    name = chat.cluster.name_of(wanted)  # online: not deleted (a deletion ends its sessions first)
    if name is None:
        found = await chat.store.user_kind(wanted)
        if found is None:
            raise ApiError.of(no_such_user(wanted))
        if found[1] == DELETED:
            raise ApiError.of(deleted_user(wanted, recipient=False))
        name = found[0]
    return wanted, name


def post(chat: Chat, draft: Draft) -> asyncio.Future:
    """→ the Stored message once committed (``Chat.post``), or ApiError."""
    future = asyncio.get_running_loop().create_future()

    def done(result: Stored | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(_refusal(error))

    chat.post(draft, done)
    return future


def _refusal(error: BaseException) -> ApiError:
    if isinstance(error, ReusedKey):
        return ApiError("idempotency_key_reused", "this Idempotency-Key was used with another request; "
                                                  "use a new key for a new request")
    refusal = refusal_of(error)
    if refusal is None:
        log.error("storing a message from the API failed: %r", error)
        refusal = unavailable(NOT_STORED)
    return ApiError.of(refusal)


async def send_message(call: Call) -> Reply:
    chat, args = call.api.chat, call.args
    sender_id, sender_name = await sender(call)
    draft = Draft(sender_id, sender_name, args["text"], source="api")
    if "room" in args:
        draft.room_id = call.room(args["room"]).id
    else:
        draft.recipient_id = await resolve(call, "to")
    if call.idempotency_key is not None:
        oldest = now_ms() - int(call.api.config.api.idempotency_hours * HOUR_MS)
        draft.once = Once(call.key.id, call.idempotency_key, call.fingerprint(), oldest)
    stored = await post(chat, draft)
    body: dict[str, Any] = message_frame(stored.row)
    return Reply(201, body, replayed=stored.duplicate)


OPERATIONS = [
    Operation("send_message", "POST", "/messages", "publish", "Post a chat message into a room or to a user",
              send_message, SEND, MESSAGE, 201, idempotent=True, gateway="Gateway::sendToUid / sendToGroup",
              description="Stored, then delivered to every session of the room's users or of the recipient "
                          "(and the sender), on every node; answered once committed.",
              errors=("no_such_room", "no_such_user", "user_deleted", "recipient_deleted", "empty_text",
                      "text_too_long", "idempotency_key_reused", "room_archived")),
]
