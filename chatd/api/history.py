"""History (scope ``read``): a room's messages, or those between two users, paged as the
WebSocket ``history`` is (docs/protocol.md, "history"): ``before`` / ``after`` a message id,
``limit`` up to ``history.page_max``, at most ``history.page_bytes`` of messages per page,
and ``more: true`` when the page left some out (older ones, or newer ones with ``after``).
"""

from __future__ import annotations

import json
from typing import Any

from chatd.api.base import ApiError, Call, Operation, Reply
from chatd.api.fields import MESSAGE_ID, ROOM, Field, Schema, integer
from chatd.api.messages import MESSAGE
from chatd.api.people import URL_USER, resolve
from chatd.client_refusals import BOUND_KEY, forbidden
from chatd.paging import message_page

PAGE_FIELDS = {
    "before": Field(MESSAGE_ID, doc="the latest messages below this id", where="query"),
    "after": Field(MESSAGE_ID, doc="the first messages above this id", where="query"),
    "limit": Field(integer(1, 10_000), doc="most messages (history.page_max at most)", where="query"),
}


def _bounds(call: Call) -> dict[str, Any]:
    h, args = call.api.config.history, call.args
    return {"before": args.get("before"), "after": args.get("after"),
            "limit": min(args.get("limit", h.page_max), h.page_max), "max_chars": h.page_bytes}


def _reply(call: Call, head: dict[str, Any], page: Any) -> Reply:
    fitted = message_page(page, call.api.config.history.page_bytes)
    return Reply(200, {**head, "messages": [json.loads(item) for item in fitted.items], "more": fitted.more})


async def room_history(call: Call) -> Reply:
    room = call.room(call.args["room"])
    return _reply(call, {"room": room.name}, await call.api.chat.store.room_history(room.id, **_bounds(call)))


async def conversation_history(call: Call) -> Reply:
    chat, a, b = call.api.chat, await resolve(call, "id"), await resolve(call, "with")
    if call.key.user_id not in (None, a, b):
        raise ApiError.of(forbidden(BOUND_KEY, f"this API key acts as user {call.key.user_id} only: it reads its "
                                               "own conversations", user=call.key.user_id))
    await chat.account_of(a)  # both exist (ProtocolErrors become the API's: Api.call)
    head = {"id": a, "with": b, **await chat.account_of(b)}  # as the WebSocket's history says it
    return _reply(call, head, await chat.store.conversation_history(a, b, **_bounds(call)))


def _page(head: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": [*head, "messages", "more"],
            "properties": {**head, **(optional or {}), "messages": {"type": "array", "items": MESSAGE},
                           "more": {"type": "boolean"}}}


OPERATIONS = [
    Operation("room_history", "GET", "/rooms/{room}/history", "read", "A page of a room's messages", room_history,
              Schema({"room": Field(ROOM, required=True, where="path"), **PAGE_FIELDS}),
              _page({"room": {"type": "string"}}), errors=("no_such_room",)),
    Operation("conversation_history", "GET", "/users/{id}/history", "read",
              "A page of the private messages between two users", conversation_history,
              Schema({"id": Field(URL_USER, required=True, where="path"),
                      "with": Field(URL_USER, required=True, doc="the other user", where="query"), **PAGE_FIELDS}),
              _page({"id": {"type": "integer"}, "with": {"type": "integer"}},
                    {"account_deleted": {"type": "boolean", "description": "true: the account of `with` was "
                                                                          "deleted (absent otherwise)"}}),
              errors=("no_such_user",)),
]
