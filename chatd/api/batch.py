"""``POST /api/v1/batch``: many operations in one request, each with its own status and body.

    {"operations": [{"op": "send_message", "args": {"to": 7, "text": "hi"}},
                    {"op": "user_online", "args": {"id": 7}}]}
    → 200 {"results": [{"status": 201, "body": {...}}, {"status": 200, "body": {...}}]}

An item names any operation of the API by its ``name`` (``Operation.batch``: every one but
this) and carries its arguments, path and query ones included, in ``args``; an optional
``idempotency_key`` is its ``Idempotency-Key``. Each is checked, authorised (the key's
scopes) and answered as its own request would be: one item's refusal is its own result.
At most ``api.batch_max`` items; the key's rate is charged one per item, before any runs.

The items run side by side, with no order between them: each may wait on the database (a
sender's name, a ``sub``) before its message reaches ``Chat.post``, so two messages of one batch
may be stored in either order (docs/api.md says so; an app that needs an order sends the later
message after the earlier one's answer). Running them together is what lets the writer commit
many messages in one grouped transaction.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatd import metrics
from chatd.api.base import IDEMPOTENCY_KEY_MAX, ApiError, Call, Operation, Reply
from chatd.api.fields import OBJECT, Field, Invalid, Schema, list_of, string
from chatd.client_refusals import SCOPE, forbidden

LIST_MAX = 100_000  # the schema's bound; api.batch_max (at most this) is the one in force
ITEM = Schema({
    "op": Field(string(64), required=True, doc="an operation's name (operationId)"),
    "args": Field(OBJECT, doc="its arguments, path and query ones included"),
    "idempotency_key": Field(string(IDEMPOTENCY_KEY_MAX), doc="its Idempotency-Key, for operations that take one"),
})
RESULT = {"type": "object", "required": ["status", "body"],
          "properties": {"status": {"type": "integer"}, "body": {"type": "object"}}}


async def batch(call: Call) -> Reply:
    items, api = call.args["operations"], call.api
    if len(items) > api.config.api.batch_max:
        raise ApiError("bad_request", f"a batch holds at most {api.config.api.batch_max} operations "
                                      f"(api.batch_max), not {len(items)}")
    api.charge(call.key, len(items))
    results = await asyncio.gather(*(_one(call, i, item) for i, item in enumerate(items)))
    return Reply(200, {"results": results})


async def _one(call: Call, index: int, item: Any) -> dict[str, Any]:
    api = call.api
    try:
        fields = ITEM.check(item, f"operations[{index}]")
        op = api.operations.get(fields["op"])
        if op is None or not op.batch:
            raise ApiError("bad_request", f"operations[{index}]: no operation {fields['op']!r} may be batched")
        if op.scope not in call.key.scopes:
            raise ApiError.of(forbidden(SCOPE, f"this API key lacks the scope {op.scope!r}", scope=op.scope))
        key = fields.get("idempotency_key") if op.idempotent else None
        reply = await api.call(Call(api, call.key, op.args.check(fields.get("args", {}), "args"), op, key))
    except Invalid as e:
        return _refused(ApiError.invalid(e))
    except ApiError as e:
        return _refused(e)
    return {"status": reply.status, "body": reply.body}


def _refused(error: ApiError) -> dict[str, Any]:
    metrics.error_sent(error.code)  # an item's error is answered inside the batch's 200
    return {"status": error.status, "body": error.body()}


OPERATIONS = [
    Operation("batch", "POST", "/batch", "", "Many operations in one request", batch,
              Schema({"operations": Field(list_of(OBJECT, LIST_MAX), required=True,
                                          doc="items {op, args, idempotency_key}; at most api.batch_max")}),
              {"type": "object", "required": ["results"],
               "properties": {"results": {"type": "array", "items": RESULT}}},
              description="Each item is checked, authorised and answered as its own request; its result has "
                          "its own status and body. Any valid key may send a batch; each item needs its own "
                          "operation's scope.", batch=False),
]
