"""``POST /api/v1/users/{id}/disconnect`` (scope ``manage``): end every session of a user on
every node (GatewayWorker's ``closeClient``, for all of a user's clients): each gets
``{"type": "kicked", "reason": …}``, then the close code 4410 (docs/protocol.md, "Kicked"),
and the page shows the reason and does not reconnect by itself. Other nodes hear it through a
cluster notice (``chatd.cluster.node``, ``kick``).

``GET /api/v1/subs/{sub}`` (scope ``read``): the chatd user of one of the web app's users,
found by the ``sub`` of its app tokens (GatewayWorker's ``bindUid`` made the app's id the
address; here the app token does, and this turns the app's id into the chatd id every
other endpoint takes). A ``sub`` names a user from their first app-token identify on.
"""

from __future__ import annotations

from chatd.api.base import ApiError, Call, Operation, Reply
from chatd.api.fields import Field, Schema, string
from chatd.api.people import SUB, URL_USER, resolve
from chatd.client_refusals import no_such_sub, no_such_user
from chatd.protocol.codes import KICK_APP

REASON_MAX = 200  # characters; the close frame carries at most 123 bytes of it, the kicked frame all
DEFAULT_REASON = "disconnected by the site"


async def disconnect(call: Call) -> Reply:
    chat, user_id = call.api.chat, await resolve(call, "id")
    if user_id not in chat.hub.users and await chat.store.user_name(user_id) is None:
        raise ApiError.of(no_such_user(user_id))
    given = call.args.get("reason")
    ended = chat.cluster.kick(user_id, DEFAULT_REASON if given is None else given, KICK_APP, default=given is None)
    return Reply(200, {"id": user_id, "sessions_here": ended})


async def user_by_sub(call: Call) -> Reply:
    chat, sub = call.api.chat, call.args["sub"]
    user_id = (await chat.store.members.users_by_sub([sub])).get(sub)
    name = None if user_id is None else chat.cluster.name_of(user_id) or await chat.store.user_name(user_id)
    if user_id is None or name is None:
        raise ApiError.of(no_such_sub(sub))
    return Reply(200, {"id": user_id, "name": name, "sub": sub})


OPERATIONS = [
    Operation("disconnect_user", "POST", "/users/{id}/disconnect", "manage",
              "Close every session of a user, with a reason the page shows", disconnect,
              Schema({"id": Field(URL_USER, required=True, where="path"),
                      "reason": Field(string(REASON_MAX), doc=f"shown to the user (default: {DEFAULT_REASON!r})")}),
              {"type": "object", "required": ["id", "sessions_here"],
               "properties": {"id": {"type": "integer"},
                              "sessions_here": {"type": "integer", "minimum": 0,
                                                "description": "sessions closed on the node that answered; "
                                                               "other nodes close theirs as the notice reaches "
                                                               "them"}}},
              gateway="Gateway::closeClient", errors=("no_such_user",)),
    Operation("user_by_sub", "GET", "/subs/{sub}", "read", "The chatd user of one of the web app's users",
              user_by_sub, Schema({"sub": Field(SUB, required=True, where="path",
                                               doc="the app's user id: the `sub` of its app tokens, URL-encoded")}),
              {"type": "object", "required": ["id", "name", "sub"],
               "properties": {"id": {"type": "integer", "description": "the chatd user id the other endpoints take"},
                              "name": {"type": "string"}, "sub": {"type": "string"}}},
              gateway="Gateway::bindUid (the app token binds; this finds the user it bound)",
              errors=("no_such_user",)),
]
