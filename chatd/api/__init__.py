"""The HTTP API, ``/api/v1/`` (docs/api.md): one module per topic, each declaring its operations.

How to add an endpoint
----------------------
1. In the topic's module (``chatd/api/<topic>.py``; a new topic: a new module, listed in
   ``MODULES`` below), write its arguments once, as a ``chatd.api.fields.Schema`` — fields
   with a kind (``ROOM``, ``USER_ID``, ``TEXT``, ``string(…)``, ``integer(…)``, …), ``required``,
   a ``doc`` line, and ``where`` ("body", "path" or "query"). That Schema checks every request
   (unknown fields, wrong types, the WebSocket's rules for names and text) and is the OpenAPI
   schema; never check the arguments again by hand.
2. Write ``async def run(call: Call) -> Reply``: ``call.args`` are the checked arguments,
   ``call.key`` the caller's ``Key`` (``user_id`` set: it may act only as that user),
   ``call.api.chat`` the chat core (``Chat.post`` for messages, ``chat.cluster`` for
   anything that must reach other nodes). Refuse with ``ApiError(code, message)`` (codes:
   ``chatd.api.base.STATUS``; add one there, with its HTTP status, if none fits) or let a
   ``ProtocolError`` of the core rise: it becomes the matching API error.
3. Declare it: ``Operation(name, method, path, scope, summary, run, args=…, answer=<JSON Schema
   of the success body>, status=…, gateway="Gateway::…" if it has a GatewayWorker twin,
   errors=(codes it may answer beyond the common ones))`` in the module's ``OPERATIONS`` list.
   Its URL, its place in the OpenAPI document and its ``"op"`` in ``POST /api/v1/batch`` follow
   (``batch=False`` keeps it out of batches).
4. Test it against a real server (tests/test_api_<topic>.py) and give it a section with a curl
   example in docs/api.md.

    api, rules = routes(chat)           # for chatd.web.make_app: the Api and Tornado's URL rules
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatd.api import batch, bots, events, history, messages, online, rooms, users
from chatd.api.base import PREFIX, Api, NotFound, Operation, OperationHandler
from chatd.api.openapi import OpenApiHandler, document_bytes

if TYPE_CHECKING:
    from chatd.chat import Chat

# The modules whose OPERATIONS make up the API, in the order docs and the OpenAPI document list them.
MODULES = (messages, events, online, rooms, history, users, bots, batch)


def operations() -> list[Operation]:
    return [op for module in MODULES for op in module.OPERATIONS]


def _pattern(path: str) -> str:
    """An OpenAPI path template as a Tornado route: ``{id}`` → a named group of one segment."""
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = f"{out[:start]}(?P<{out[start + 1:end]}>[^/]+){out[end + 1:]}"
    return PREFIX + out


def routes(chat: Chat) -> tuple[Api, list[tuple[Any, ...]]]:
    """The Api of this process and the URL rules of every endpoint, openapi.json, and a JSON
    404 for anything else under /api/."""
    ops = operations()
    api = Api(chat, ops)
    by_path: dict[str, dict[str, Operation]] = {}
    for op in ops:
        by_path.setdefault(op.path, {})[op.method] = op
    rules: list[tuple[Any, ...]] = [
        (PREFIX + "/openapi.json", OpenApiHandler, {"api": api, "document": document_bytes(ops)})]
    rules += [(_pattern(path), OperationHandler, {"api": api, "operations": methods})
              for path, methods in by_path.items()]
    rules.append((r"/api(?:/.*)?", NotFound, {"api": api}))  # /api itself too: a JSON 404
    return api, rules
