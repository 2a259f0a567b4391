"""``POST /api/v1/events``: a notification — an event name and a JSON payload, not a chat
message — to a user (all their sessions, on every node), a room (the sessions in it) or
everyone online (GatewayWorker's ``sendToUid`` / ``sendToGroup`` / ``sendToAll`` for
notifications); with ``store: true`` a user's is kept until its TTL and delivered when they
next connect (``chatd.events``, docs/protocol.md "Notifications").

Notifications are the app's: a key bound to a user (a bot's) may not send them, as
nothing would say who sent one and a bot could push to everyone.
"""

from __future__ import annotations

from typing import Any

from chatd.api.base import ApiError, Call, Operation, Reply
from chatd.api.fields import BOOLEAN, ROOM, Field, Kind, Schema, integer
from chatd.api.people import named, resolve, twins
from chatd.client_refusals import BOUND_KEY, forbidden
from chatd.events import NAME, NAME_MAX, SECONDS_PER_DAY, Target, name_problem

TTL_DAYS_MAX = 365  # events.ttl_days' own bound; the configured value is checked per request


def _name(v: Any) -> str:
    problem = name_problem(v)
    if problem:
        raise ValueError(problem)
    return v


def _true(v: Any) -> bool:
    if v is not True:
        raise ValueError("must be true (leave it out to name a user or a room)")
    return v


EVENT_NAME = Kind(_name, {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": f"^{NAME.pattern}$",
                          "description": "a dotted identifier, e.g. order.shipped"})
ANY_JSON = Kind(lambda v: v, {"description": "any JSON value; at most events.max_data_bytes bytes as compact JSON"})
TRUE = Kind(_true, {"const": True})

SEND = Schema({
    **named("to", "a user: every session of theirs, on every node, gets it"),
    "room": Field(ROOM, doc="a room: every session in it gets it"),
    "everyone": Field(TRUE, doc="every user online"),
    "name": Field(EVENT_NAME, required=True, doc="what happened, e.g. order.shipped"),
    "data": Field(ANY_JSON, doc="the payload the page gets (default null)"),
    "store": Field(BOOLEAN, doc="keep it for the user (`to` only) until it is delivered or expires"),
    "ttl_seconds": Field(integer(1, TTL_DAYS_MAX * SECONDS_PER_DAY),
                         doc="with store: how long it is kept (default and most: events.ttl_days)"),
}, one_of=((*twins("to"), "room", "everyone"),))

SENT = {
    "type": "object",
    "required": ["ts"],
    "properties": {
        "ts": {"type": "integer", "description": "when it was sent (stored), ms since 1970, UTC"},
        "id": {"type": "integer", "minimum": 1, "description": "a stored one's number for its user (the frame's id)"},
        "expires": {"type": "integer", "description": "a stored one's expiry, ms since 1970, UTC"},
    },
}


async def send_event(call: Call) -> Reply:
    args = call.args
    if call.key.user_id is not None:
        raise ApiError.of(forbidden(BOUND_KEY, "notifications are the app's: this key is bound to a user (a bot's); "
                                               "use a key of the app", user=call.key.user_id))
    target = Target(user=await resolve(call, "to"), room=args.get("room"))
    sent = await call.api.chat.events.send(target, args["name"], args.get("data"), args.get("store", False),
                                           args.get("ttl_seconds"))
    body: dict[str, Any] = {"ts": sent.ts}
    if sent.id is not None:
        body.update(id=sent.id, expires=sent.expires)
    return Reply(200, body)


OPERATIONS = [
    Operation("send_event", "POST", "/events", "publish", "Send a notification to a user, a room or everyone",
              send_event, SEND, SENT, gateway="Gateway::sendToUid / sendToGroup / sendToAll (notifications)",
              description="Delivered at once as an `event` frame to the sessions online (on every node); "
                          "with `store: true` (a user only) also kept and sent to the user's sessions that "
                          "connect before it expires.",
              errors=("no_such_user", "no_such_room", "bad_room", "recipient_deleted", "unavailable")),
]
