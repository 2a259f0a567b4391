"""The OpenAPI 3.1 document of the HTTP API, assembled from the operations (``chatd.api.base.Operation``)
that the endpoint modules declare: each one's path, arguments (path, query, body: its Schema), answer,
scope and errors. Nothing here is written twice. Served at ``GET /api/v1/openapi.json`` without a key
(it is the software's public contract, like docs/api.md), and, like the rest, only while the API is on.

    document = openapi_document(operations)     # a dict, JSON-ready
"""

from __future__ import annotations

import json
from typing import Any

from chatd import __version__
from chatd.api.base import PREFIX, STATUS, Api, ApiError, ApiHandler, Operation
from chatd.web.plain import not_served

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "description": "and the refusal's detail fields, as the WebSocket's error frame carries them "
                       "(docs/protocol.md, \"error\")",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string", "enum": list(STATUS)}, "message": {"type": "string"},
                       "retry_ms": {"type": "integer", "minimum": 1}},
    }},
}
# What any operation may answer, besides its own errors: bad input, key, scope, rate, size, database,
# and a bug in chatd (500 ``internal``, never a traceback).
COMMON_ERRORS = ("bad_request", "unauthorized", "forbidden", "api_off", "rate_limited", "payload_too_large",
                 "unavailable", "internal")


def _error(status: int) -> dict[str, Any]:
    codes = [c for c, s in STATUS.items() if s == status]
    return {"description": f"error: {', '.join(codes)}",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "description": "\n\n".join(filter(None, [
            op.description, op.scope and f"Scope: `{op.scope}`.", op.gateway and f"GatewayWorker: `{op.gateway}`.",
            op.batch and f"In a batch: `{{\"op\": \"{op.name}\", \"args\": {{...}}}}`."])),
        "security": [{"apiKey": []}],
        "parameters": [
            {"name": name, "in": f.where, "required": f.where == "path" or f.required, "schema": f.kind.schema,
             **({"description": f.doc} if f.doc else {})}
            for name, f in op.args.fields.items() if f.where in ("path", "query")
        ] + ([{"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255},
               "description": "a retry with the same key is stored once and answered with the first answer"}]
             if op.idempotent else []),
        "responses": {str(op.status): {"description": "done",
                                       "content": {"application/json": {"schema": op.answer}}}},
    }
    if op.args.where("body") or op.method in ("POST", "PUT", "PATCH"):
        doc["requestBody"] = {"required": op.args.needs_body(),
                              "content": {"application/json": {"schema": op.args.json_schema("body")}}}
    for status in sorted({STATUS[c] for c in (*COMMON_ERRORS, *op.errors)}):
        doc["responses"][str(status)] = _error(status)
    return doc


def openapi_document(operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatd HTTP API", "version": __version__,
                 "description": "Push messages and notifications, ask who is online, manage rooms and bots. "
                                "Authentication: `Authorization: Bearer chatd_<id>_<secret>` (chatd apikey "
                                "create). Every error is `{\"error\": {\"code\", \"message\", ...its fields}}`. "
                                "docs/api.md."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "chatd_<id>_<secret>"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }


class OpenApiHandler(ApiHandler):
    """GET /api/v1/openapi.json."""

    allowed = ("GET",)

    def initialize(self, api: Api, document: bytes) -> None:
        self.api = api
        self.document = document

    async def prepare(self) -> None:
        try:  # off: 404 api_off for every method (ApiHandler)
            await self.api.check_on()
            if self.request.method != "GET":
                raise ApiError("method_not_allowed", not_served(self.request.method, self.allowed))
        except ApiError as e:
            self.refuse_early(e)

    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.finish(self.document)


def document_bytes(operations: list[Operation]) -> bytes:
    return json.dumps(openapi_document(operations), ensure_ascii=False, indent=1).encode()
