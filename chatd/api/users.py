"""``POST /api/v1/users/{id}/disconnect`` (scope ``manage``): end every session of a user on
every node (GatewayWorker's ``closeClient``, for all of a user's clients): each gets
``{"type": "kicked", "reason": …}``, then the close code 4410 (docs/protocol.md, "Kicked"),
and the page shows the reason and does not reconnect by itself. Other nodes hear it through a
cluster notice (``chatd.cluster.node``, ``kick``).
"""

from __future__ import annotations

from chatd.api.base import ApiError, Call, Operation, Reply
from chatd.api.fields import USER_ID, Field, Schema, string

REASON_MAX = 200  # characters; the close frame carries at most 123 bytes of it, the kicked frame all
DEFAULT_REASON = "disconnected by the site"


async def disconnect(call: Call) -> Reply:
    chat, user_id = call.api.chat, call.args["id"]
    if user_id not in chat.hub.users and await chat.store.user_name(user_id) is None:
        raise ApiError("no_such_user", f"there is no user {user_id}")
    ended = chat.cluster.kick(user_id, call.args.get("reason", DEFAULT_REASON))
    return Reply(200, {"id": user_id, "sessions_here": ended})


OPERATIONS = [
    Operation("disconnect_user", "POST", "/users/{id}/disconnect", "manage",
              "Close every session of a user, with a reason the page shows", disconnect,
              Schema({"id": Field(USER_ID, required=True, where="path"),
                      "reason": Field(string(REASON_MAX), doc=f"shown to the user (default: {DEFAULT_REASON!r})")}),
              {"type": "object", "required": ["id", "sessions_here"],
               "properties": {"id": {"type": "integer"},
                              "sessions_here": {"type": "integer", "minimum": 0,
                                                "description": "sessions closed on the node that answered; "
                                                               "other nodes close theirs as the notice reaches "
                                                               "them"}}},
              gateway="Gateway::closeClient", errors=("no_such_user",)),
]
