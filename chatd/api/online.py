"""Who is online (scope ``read``): a user (GatewayWorker's ``isUidOnline``,
``getClientCountByUid``), a room (``getUidListByGroup``, ``getUidCountByGroup``), everyone
(``getAllUidCount``). Answered from memory: this node's hub and what the other nodes of a
cluster told it (``chatd.cluster``), which converges within a heartbeat (docs/operations.md).
A user's ``sessions`` are exact on one process; in a cluster, other nodes share whether a
user is online there, not on how many sessions: each such node counts one.
"""

from __future__ import annotations

from chatd.api.base import Call, Operation, Reply
from chatd.api.fields import ROOM, Field, Schema, integer
from chatd.api.messages import USER_REF
from chatd.api.people import URL_USER, resolve

USERS_MAX = 1000  # most users listed in a room's answer


async def user_online(call: Call) -> Reply:
    chat, user_id = call.api.chat, await resolve(call, "id")
    sessions = len(chat.hub.sessions_of(user_id)) + chat.cluster.nodes_of(user_id)
    return Reply(200, {"id": user_id, "online": sessions > 0, "sessions": sessions})


async def room_online(call: Call) -> Reply:
    chat, room = call.api.chat, call.room(call.args["room"])
    limit = call.args.get("limit", USERS_MAX)
    return Reply(200, {"room": room.name, "count": room.online, "users": chat.cluster.member_refs(room, limit)})


async def all_online(call: Call) -> Reply:
    return Reply(200, {"count": call.api.chat.cluster.online_count()})


OPERATIONS = [
    Operation("user_online", "GET", "/users/{id}/online", "read", "Is a user online, and on how many sessions",
              user_online, Schema({"id": Field(URL_USER, required=True, where="path")}),
              {"type": "object", "required": ["id", "online", "sessions"],
               "properties": {"id": {"type": "integer"}, "online": {"type": "boolean"},
                              "sessions": {"type": "integer", "minimum": 0}}},
              gateway="Gateway::isUidOnline / getClientCountByUid", errors=("no_such_user",)),
    Operation("room_online", "GET", "/rooms/{room}/online", "read", "Who is online in a room", room_online,
              Schema({"room": Field(ROOM, required=True, where="path"),
                      "limit": Field(integer(1, USERS_MAX), doc=f"most users listed (default {USERS_MAX})",
                                     where="query")}),
              {"type": "object", "required": ["room", "count", "users"],
               "properties": {"room": {"type": "string"}, "count": {"type": "integer", "minimum": 0},
                              "users": {"type": "array", "items": USER_REF}}},
              gateway="Gateway::getUidListByGroup / getUidCountByGroup", errors=("no_such_room",)),
    Operation("all_online", "GET", "/online", "read", "How many users are online", all_online,
              answer={"type": "object", "required": ["count"],
                      "properties": {"count": {"type": "integer", "minimum": 0}}},
              gateway="Gateway::getAllUidCount"),
]
