"""``/api/v1/bots`` (scope ``manage``): create, list, change and delete bots (``chatd.bots``).

Creating a bot answers, once, its API key (scope ``publish``, bound to the bot: with it
the bot posts through ``POST /api/v1/messages`` as itself only) and its webhook secret
(what signs chatd's calls to its webhook: docs/api.md, "Bots"). Neither is shown again;
``PATCH`` with ``new_secret: true`` makes a new webhook secret, ``DELETE`` revokes the key.
"""

from __future__ import annotations

from typing import Any

from chatd.api.base import Call, Operation, Reply
from chatd.api.fields import BOOLEAN, ROOM, ROOM_PATTERN, USER_ID, Field, Kind, Schema, list_of, string
from chatd.bots import Bot
from chatd.egress import URL_MAX
from chatd.names import NAME_MAX

ROOMS_MAX = 100  # rooms one bot may be in


# A bot's rooms, perhaps none (a bot only called by private messages).
ROOMS = list_of(ROOM, ROOMS_MAX, min_items=0)
BOT_ID = Field(USER_ID, required=True, where="path", doc="the bot's user id")
BOT = {"type": "object", "required": ["id", "name", "webhook_url", "rooms"],
       "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "webhook_url": {"type": "string"},
                      "rooms": {"type": "array", "items": {"type": "string"}}}}
SECRET_DOC = "hex; signs chatd's calls to the webhook (Chatd-Signature); shown only now"


def _bot(call: Call, bot: Bot) -> dict[str, Any]:
    rooms = call.api.chat.hub.rooms_by_id
    return {"id": bot.user_id, "name": bot.name, "webhook_url": bot.url,
            "rooms": sorted(rooms[r].name for r in bot.room_ids if r in rooms)}


async def create(call: Call) -> Reply:
    a = call.args
    bot, secret, key = await call.api.chat.bots.create(a["name"], a["webhook_url"], a.get("rooms", []))
    return Reply(201, {"bot": _bot(call, bot), "api_key": key, "webhook_secret": secret})


async def list_bots(call: Call) -> Reply:
    return Reply(200, {"bots": [_bot(call, bot) for bot in call.api.chat.bots.all()]})


async def update(call: Call) -> Reply:
    a = call.args
    bot, secret = await call.api.chat.bots.update(a["id"], name=a.get("name"), webhook_url=a.get("webhook_url"),
                                                  rooms=a.get("rooms"), new_secret=a.get("new_secret", False))
    return Reply(200, {"bot": _bot(call, bot), **({"webhook_secret": secret} if secret else {})})


async def delete(call: Call) -> Reply:
    await call.api.chat.bots.delete(call.args["id"])
    return Reply(200, {"id": call.args["id"], "deleted": True})


# What the document promises is accepted (chatd.bots checks the rest: look-alikes, taken names, the
# address a URL reaches): a name of one word, as room names are; an http(s) URL with a host name or IPv4
# address, a port in range, and no user name, password or fragment (chatd.egress.url_problem).
_PORT = r"(6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})"
WEBHOOK_URL_PATTERN = rf"^https?://[A-Za-z0-9][A-Za-z0-9.\-]*(:{_PORT})?([/?][!-\"$-~]*)?$"
NAME = Field(Kind(string(NAME_MAX).check, {**string(NAME_MAX).schema, "pattern": ROOM_PATTERN}),
             doc="the bot's name, one word: it is mentioned as @name")
URL = Field(Kind(string(URL_MAX).check, {**string(URL_MAX).schema, "pattern": WEBHOOK_URL_PATTERN}),
            doc="http(s) URL chatd POSTs mentions and private messages to")
ROOMS_FIELD = Field(ROOMS, doc="rooms where a mention of the bot calls its webhook (replaces the list)")

OPERATIONS = [
    Operation("create_bot", "POST", "/bots", "manage", "Create a bot: a user whose mentions go to a webhook", create,
              Schema({"name": Field(NAME.kind, required=True, doc=NAME.doc),
                      "webhook_url": Field(URL.kind, required=True, doc=URL.doc), "rooms": ROOMS_FIELD}),
              {"type": "object", "required": ["bot", "api_key", "webhook_secret"],
               "properties": {"bot": BOT, "api_key": {"type": "string", "description": "scope publish, bound to "
                                                                                      "the bot; shown only now"},
                              "webhook_secret": {"type": "string", "description": SECRET_DOC}}},
              status=201, errors=("bad_name", "name_taken", "no_such_room")),
    Operation("list_bots", "GET", "/bots", "manage", "List the bots", list_bots, Schema({}),
              {"type": "object", "required": ["bots"], "properties": {"bots": {"type": "array", "items": BOT}}}),
    Operation("update_bot", "PATCH", "/bots/{id}", "manage", "Change a bot's name, webhook, rooms or secret", update,
              Schema({"id": BOT_ID, "name": NAME, "webhook_url": URL, "rooms": ROOMS_FIELD,
                      "new_secret": Field(BOOLEAN, doc="make a new webhook secret (answered once)")}),
              {"type": "object", "required": ["bot"],
               "properties": {"bot": BOT, "webhook_secret": {"type": "string", "description": SECRET_DOC}}},
              errors=("bad_name", "name_taken", "no_such_room", "no_such_user")),
    Operation("delete_bot", "DELETE", "/bots/{id}", "manage", "Delete a bot (its messages stay; its key is revoked)",
              delete, Schema({"id": BOT_ID}),
              {"type": "object", "required": ["id", "deleted"],
               "properties": {"id": {"type": "integer"}, "deleted": {"type": "boolean"}}},
              errors=("no_such_user",)),
]
