"""Rooms and their members (``chatd.roomadmin``): create, update, delete and list rooms
(scope ``manage`` to change, ``read`` to read), and the members of members-only rooms —
GatewayWorker's ``joinGroup`` / ``leaveGroup`` / ``getClientSessionsByGroup``, except that
membership here is kept (a user added before their first login is a member at it, on every
device). The API sees every room, members-only ones included.

Members are named by chatd user id (``user_ids``) or by the app's own user id, the ``sub``
of its app tokens (``subs``): the app knows its ids, not chatd's. A ``sub`` names a user
once it has identified with an app token at least once; before that, put the room in its
token's ``rooms`` claim instead.
"""

from __future__ import annotations

from typing import Any

from chatd.api.base import ApiError, Call, Operation, Reply
from chatd.api.fields import BOOLEAN, ROOM, USER_ID, Field, Schema, integer, list_of, string
from chatd.api.people import SUB, resolve_subs
from chatd.protocol.codes import TOPIC_MAX
from chatd.session import Room

MEMBERS_MAX = 1000  # users added or removed in one request, and listed in one answer
ROOMS_MAX = 1000  # rooms listed in one answer
TOPIC = string(TOPIC_MAX, 0)

ROOM_ENTRY = {"type": "object", "required": ["name", "topic", "members_only", "online"],
              "properties": {"name": {"type": "string"}, "topic": {"type": "string"},
                             "members_only": {"type": "boolean"},
                             "online": {"type": "integer", "minimum": 0, "description": "users in it now"}}}
ONE_ROOM = {"type": "object", "required": ["room"], "properties": {"room": ROOM_ENTRY}}
IN_PATH = {"room": Field(ROOM, required=True, where="path")}
WHO = {"user_ids": Field(list_of(USER_ID, MEMBERS_MAX), doc="chatd user ids"),
       "subs": Field(list_of(SUB, MEMBERS_MAX), doc="the app's user ids (the `sub` of its app tokens)")}
CHANGED = {"type": "object", "required": ["room", "changed"],
           "properties": {"room": {"type": "string"},
                          "changed": {"type": "array", "items": {"type": "integer"},
                                      "description": "ids of the users whose membership this request changed"}}}


def entry(room: Room) -> dict[str, Any]:
    return {"name": room.name, "topic": room.topic, "members_only": room.members_only, "online": room.online}


async def create_room(call: Call) -> Reply:
    args = call.args
    room = await call.api.chat.room_admin.create(args["name"], args.get("topic", ""), args.get("members_only", False))
    return Reply(201, {"room": entry(room)})


async def list_rooms(call: Call) -> Reply:
    hub, after = call.api.chat.hub, call.args.get("after")
    position = None
    if after is not None:
        position = hub.position(after)
        room = hub.room(after)
        if position is None or room is None or not call.sees(room):  # a bound key's unseen room: none
            raise ApiError("no_such_room", f"there is no room {after!r}", details={"room": after})
    limit = call.args.get("limit", ROOMS_MAX)
    rooms: list[dict[str, Any]] = []
    for listed in hub.room_list(position):
        if len(rooms) == limit:
            return Reply(200, {"rooms": rooms, "more": True})
        room = hub.room(listed["name"])
        if call.sees(room):
            rooms.append(entry(room))
    return Reply(200, {"rooms": rooms, "more": False})


async def get_room(call: Call) -> Reply:
    return Reply(200, {"room": entry(call.room(call.args["room"]))})


async def update_room(call: Call) -> Reply:
    args = call.args
    room = await call.api.chat.room_admin.update(args["room"], args.get("topic"), args.get("members_only"))
    return Reply(200, {"room": entry(room)})


async def delete_room(call: Call) -> Reply:
    room = call.api.chat.rooms.get(call.args["room"])
    await call.api.chat.room_admin.delete(room.name)
    return Reply(200, {"deleted": room.name})


async def _user_ids(call: Call) -> list[int]:
    """The users a members request names (``user_ids`` or ``subs``), as chatd ids."""
    if "user_ids" in call.args:
        return call.args["user_ids"]
    try:
        return await resolve_subs(call, call.args["subs"])
    except ApiError as e:
        raise ApiError(e.code, f"{e.message}; name the room in its app token's rooms claim instead",
                       details=e.details) from None


async def add_members(call: Call) -> Reply:
    added = await call.api.chat.room_admin.add_members(call.args["room"], await _user_ids(call))
    return Reply(200, {"room": call.api.chat.rooms.get(call.args["room"]).name, "changed": added})


async def remove_members(call: Call) -> Reply:
    admin = call.api.chat.room_admin
    room = call.api.chat.rooms.get(call.args["room"])
    removed = [user_id for user_id in dict.fromkeys(await _user_ids(call))
               if await admin.remove_member(room.name, user_id)]
    return Reply(200, {"room": room.name, "changed": removed})


async def list_members(call: Call) -> Reply:
    room = call.room(call.args["room"])
    members, more = await call.api.chat.room_admin.members(room.name, call.args.get("after", 0),
                                                           call.args.get("limit", MEMBERS_MAX))
    return Reply(200, {"room": room.name, "members": members, "more": more})


OPERATIONS = [
    Operation("create_room", "POST", "/rooms", "manage", "Create a room, open or members-only", create_room,
              Schema({"name": Field(ROOM, required=True), "topic": Field(TOPIC, doc="shown under its name"),
                      "members_only": Field(BOOLEAN, doc="seen, joined and read by its members only "
                                                         "(default false)")}),
              ONE_ROOM, status=201, errors=("room_exists", "too_many_rooms")),
    Operation("list_rooms", "GET", "/rooms", "read", "List the rooms, members-only ones included", list_rooms,
              Schema({"after": Field(ROOM, doc="the last room of the previous page", where="query"),
                      "limit": Field(integer(1, ROOMS_MAX), doc=f"most rooms (default {ROOMS_MAX})", where="query")}),
              {"type": "object", "required": ["rooms", "more"],
               "properties": {"rooms": {"type": "array", "items": ROOM_ENTRY}, "more": {"type": "boolean"}}},
              errors=("no_such_room",)),
    Operation("get_room", "GET", "/rooms/{room}", "read", "One room", get_room, Schema(IN_PATH), ONE_ROOM,
              errors=("no_such_room",)),
    Operation("update_room", "PATCH", "/rooms/{room}", "manage", "Change a room's topic, or whether it is "
              "members-only", update_room,
              Schema({**IN_PATH, "topic": Field(TOPIC), "members_only": Field(BOOLEAN, doc="true: non-members are "
                                                                                             "taken out of it")}),
              ONE_ROOM, errors=("no_such_room",)),
    Operation("delete_room", "DELETE", "/rooms/{room}", "manage", "Delete a room with its messages; everyone in it "
              "is sent out", delete_room, Schema(IN_PATH),
              {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "string"}}},
              gateway="Gateway::ungroup", errors=("no_such_room", "forbidden")),
    Operation("add_members", "POST", "/rooms/{room}/members", "manage", "Make users members of a room",
              add_members, Schema({**IN_PATH, **WHO}, one_of=(("user_ids", "subs"),)), CHANGED,
              gateway="Gateway::joinGroup", errors=("no_such_room", "no_such_user", "recipient_deleted")),
    Operation("remove_members", "POST", "/rooms/{room}/members/remove", "manage",
              "Take users' membership away; their open sessions leave the room at once", remove_members,
              Schema({**IN_PATH, **WHO}, one_of=(("user_ids", "subs"),)), CHANGED,
              gateway="Gateway::leaveGroup", errors=("no_such_room", "no_such_user")),
    Operation("list_members", "GET", "/rooms/{room}/members", "read", "The members of a room", list_members,
              Schema({**IN_PATH, "after": Field(USER_ID, doc="the last member id of the previous page", where="query"),
                      "limit": Field(integer(1, MEMBERS_MAX), doc=f"most members (default {MEMBERS_MAX})",
                                     where="query")}),
              {"type": "object", "required": ["room", "members", "more"],
               "properties": {"room": {"type": "string"}, "more": {"type": "boolean"},
                              "members": {"type": "array", "items": {
                                  "type": "object", "required": ["id", "name", "sources", "online"],
                                  "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                 "sources": {"type": "array", "items": {"enum": ["api", "token"]}},
                                                 "online": {"type": "boolean"}}}}}},
              gateway="Gateway::getClientSessionsByGroup / getUidListByGroup", errors=("no_such_room",)),
]
