"""The HTTP API's base: operations, authentication, errors, bodies.

An endpoint is an ``Operation``: its method and path, the scope its key needs,
its arguments as a ``chatd.api.fields.Schema`` (checked here, and the OpenAPI
document's schema too), the JSON Schema of its answer, and ``run``, a coroutine
that takes a ``Call`` and returns a ``Reply``. The same operation serves its own
URL and the batch endpoint (``chatd.api.batch``), where it is named by ``name``.

Every request to ``/api/v1/`` goes, in order, through:

1. the API being on: no key ever created → 404 ``api_off`` (docs/api.md says why);
2. its key, ``Authorization: Bearer chatd_…`` (``chatd.auth.apikeys``): missing,
   malformed, unknown or revoked → 401 ``unauthorized``; without the operation's
   scope → 403 ``forbidden``;
3. the key's rate (``api.rate_per_second``, ``api.rate_burst``; one token per
   operation) → 429 ``rate_limited`` with Retry-After;
4. its body: at most ``api.max_body_bytes`` (413 ``payload_too_large``), JSON read by
   ``chatd.strictjson`` (no NaN, no repeated names, bounded nesting, no unpaired
   surrogates: 400 ``bad_json`` / ``bad_request``), then the operation's Schema.

Every refusal is ``{"error": {"code": ..., "message": ...}}`` with a stable code;
an unexpected exception is logged and answered 500 ``internal``, never a traceback.
The API is for servers, not browsers: no CORS headers are sent (docs/api.md).

    api = Api(chat)                       # one per process: keys, rate buckets, operations
    reply = await api.call(op, key, args) # what a batch item does
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import tornado.web

from chatd import metrics
from chatd.api.fields import Invalid, Schema
from chatd.auth.apikeys import API_OFF, ApiKeys, ApiOff, Key, KeyRefused
from chatd.auth.bearer import RepeatedHeader, authorization
from chatd.client_refusals import DATABASE, SCOPE, forbidden, unavailable
from chatd.durations import http_retry, whole_seconds
from chatd.protocol.codes import Code, ProtocolError
from chatd.protocol.frames import error_body
from chatd.ratelimit import BucketTable
from chatd.store import DatabaseUnreachable
from chatd.strictjson import displayable
from chatd.web.early import EarlyRefusals
from chatd.web.headers import SecurityHeaders
from chatd.web.jsonbody import BodyRefused, JsonBody
from chatd.web.plain import not_served

if TYPE_CHECKING:
    from chatd.chat import Chat
    from chatd.session import Room

log = logging.getLogger("chatd.api")

PREFIX = "/api/v1"
IDEMPOTENCY_KEY_MAX = 255  # characters of an Idempotency-Key header
RATE_KEYS_MAX = 10_000  # keys whose rate buckets are kept (chatd.ratelimit.BucketTable)
NO_ENDPOINT = "no such API endpoint; see /api/v1/openapi.json"

# The HTTP status of each error code: the WebSocket's codes where one fits (chatd.protocol.codes.Code).
STATUS = {
    "bad_request": 400, "bad_json": 400, "bad_room": 400, "bad_name": 400, "empty_text": 400, "text_too_long": 400,
    "name_taken": 409,
    "unauthorized": 401, "forbidden": 403, "api_off": 404, "not_found": 404, "no_such_room": 404,
    "no_such_user": 404, "not_in_room": 403, "method_not_allowed": 405, "conflict": 409, "room_exists": 409,
    "too_many_rooms": 409, "room_archived": 409, "user_deleted": 410, "recipient_deleted": 410,
    "idempotency_key_reused": 422, "payload_too_large": 413, "rate_limited": 429, "internal": 500,
    "unavailable": 503,
}
ERROR_CODES = tuple(STATUS)


class ApiError(Exception):
    """A refused API request: ``code`` (``STATUS`` gives its HTTP status) and a message.
    ``retry_after``: seconds, for 429 and 503. ``details``: the message's detail as fields, as
    the WebSocket's error frame carries them for the same refusal (docs/api.md, "Errors")."""

    def __init__(self, code: str, message: str, retry_after: float | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.status = STATUS[code]
        self.message = message
        self.retry_after = http_retry(self.status, retry_after)
        self.details = details

    @classmethod
    def of(cls, error: ProtocolError) -> ApiError:
        """The API's answer to a refusal of the chat core (``chatd.protocol.codes.Code``), with its fields."""
        code = str(error.code)
        if code not in STATUS:
            code = "bad_request" if code == Code.BAD_FRAME else "forbidden" if code == Code.FORBIDDEN else "internal"
        return cls(code, error.message, error.retry_after, error.details)

    @classmethod
    def invalid(cls, error: Invalid) -> ApiError:
        """The API's answer to an argument refused (``chatd.api.fields``), with its fields."""
        return cls(error.code, str(error), details=error.details)

    def body(self) -> dict[str, Any]:
        """``{"error": {code, message, retry_ms?, ...details}}``: the WebSocket's error frame's fields."""
        return {"error": error_body(self.code, self.message, self.retry_after, self.details)}


class Reply(NamedTuple):
    status: int
    body: dict[str, Any]
    replayed: bool = False  # an Idempotency-Key's earlier answer, given again


@dataclass
class Call:
    """One operation's request, from its URL or from a batch."""

    api: Api
    key: Key
    args: dict[str, Any]
    op: Operation
    idempotency_key: str | None = None

    def sees(self, room: Room) -> bool:
        """Whether the key sees ``room``: the app's keys see every room; a key bound to a user
        (docs/api.md: it "acts as that user only") sees what the user sees over the WebSocket,
        so not a members-only room the user is no member of, unless the user is a bot serving it."""
        user_id = self.key.user_id
        if user_id is None or room.visible_to(user_id):
            return True
        bot = self.api.chat.bots.get(user_id)
        return bot is not None and room.id in bot.room_ids

    def room(self, name: str) -> Room:
        """The room ``name`` as the key sees it (``sees``); ProtocolError ``bad_room``, or
        ``no_such_room`` for a room it may not see, as the user is told: its existence does not leak."""
        room = self.api.chat.rooms.get(name)
        if not self.sees(room):
            raise ApiError("no_such_room", f"there is no room {name!r}", details={"room": name})
        return room

    def fingerprint(self) -> str:
        """What the request asks, as a digest: the same for a retry, another for another request."""
        text = json.dumps([self.op.name, self.args], sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Operation:
    """One endpoint. ``path`` is below ``/api/v1``, with OpenAPI's ``{name}`` for path arguments."""

    name: str  # operationId in OpenAPI, "op" in a batch
    method: str
    path: str
    scope: str  # the key's scope it needs; "" for any key (a batch: each item needs its own)
    summary: str
    run: Callable[[Call], Awaitable[Reply]]
    args: Schema = field(default_factory=Schema)
    answer: dict[str, Any] = field(default_factory=lambda: {"type": "object"})  # JSON Schema of a success
    status: int = 200  # of a success
    description: str = ""
    gateway: str = ""  # the GatewayWorker call it stands for (docs/api.md, "Coming from GatewayWorker")
    idempotent: bool = False  # takes an Idempotency-Key header
    batch: bool = True  # may be an item of POST /api/v1/batch
    errors: tuple[str, ...] = ()  # the codes it may answer besides those every operation may


class Api:
    """What the API's handlers share in one process."""

    def __init__(self, chat: Chat, operations: list[Operation]):
        self.chat = chat
        self.keys = ApiKeys(chat.store.api_keys)
        self.operations = {op.name: op for op in operations}
        self.rates = BucketTable(RATE_KEYS_MAX)
        self.clock: Callable[[], float] = time.monotonic

    @property
    def config(self) -> Any:
        return self.chat.config  # read per request: a reload applies at once

    async def check_on(self) -> None:
        """ApiError ``api_off`` while no key was ever created (``unavailable`` if the store cannot say)."""
        try:
            await self.keys.check_on()
        except ApiOff as e:
            raise ApiError("api_off", str(e)) from None
        except DatabaseUnreachable:
            raise ApiError.of(unavailable(DATABASE)) from None

    async def authenticate(self, authorization: str | None, scope: str) -> Key:
        """The request's key, if it may do what needs ``scope`` ("": any key); else ApiError."""
        await self.check_on()
        try:
            key = await self.keys.authenticate(authorization)
        except KeyRefused as e:
            raise ApiError("unauthorized", str(e)) from None
        except DatabaseUnreachable:
            raise ApiError.of(unavailable(DATABASE)) from None
        if scope and scope not in key.scopes:
            raise ApiError.of(forbidden(SCOPE, f"this API key lacks the scope {scope!r} (it has: "
                                               f"{', '.join(sorted(key.scopes))})", scope=scope))
        return key

    def charge(self, key: Key, operations: int) -> None:
        """Take ``operations`` tokens from the key's bucket; ApiError rate_limited if it has not enough."""
        limits = self.config.api
        if operations > limits.rate_burst:
            raise ApiError("rate_limited", f"{operations} operations at once are more than this API key's burst "
                                           f"({limits.rate_burst:g}, api.rate_burst): send fewer")
        wait = self.rates.take(str(key.id), limits.rate_per_second, limits.rate_burst, self.clock(), operations)
        if wait:
            raise ApiError("rate_limited", f"this API key may make {self.config.api.rate_per_second:g} "
                                           f"operations per second (api.rate_per_second); try again later", wait)

    async def call(self, call: Call) -> Reply:
        """Run an authenticated, checked call: its Reply, or ApiError."""
        try:
            return await call.op.run(call)
        except ProtocolError as e:
            raise ApiError.of(e) from None
        except DatabaseUnreachable:
            raise ApiError.of(unavailable(DATABASE)) from None


@tornado.web.stream_request_body
class ApiHandler(EarlyRefusals, SecurityHeaders, tornado.web.RequestHandler):
    """What every handler under /api/ shares: errors as JSON, and while the API is off
    (no key ever created) a 404 ``api_off`` for every path and method, so that an API
    nobody turned on shows none of its paths (a 405 would name the methods a path takes,
    a ``not_found`` tell a path that is not one). ``allowed``: the methods the path takes,
    named in a 405's Allow (RFC 9110 §15.5.6). Each streams its body: a refusal at the
    headers is given before the body is read (``chatd.web.early``), with ``refuse_early``."""

    api: Api
    allowed: tuple[str, ...] = ()

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")  # an answer of the API is of its moment; a refusal too

    def data_received(self, chunk: bytes) -> None:
        """Dropped: a handler that reads a body says so (``OperationHandler``)."""

    def refuse_early(self, error: ApiError) -> None:
        """A refusal in ``prepare``: answered now when a body follows (not read), else at the
        request's end (``chatd.web.early``)."""
        if self.answer_now(error):
            self.refuse(error)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """An ApiError held to the request's end, or what went wrong where none was raised: a bug,
        a bad request line, a method Tornado refuses before any handler runs (TRACE, or one it does
        not know)."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            pass
        elif not self.api.keys.known_on:  # not known to be on: Tornado's refusals come before prepare's check
            error = ApiError("api_off", API_OFF)
        elif status_code == 405 and not self.allowed:  # NotFound: no endpoint here, whatever the method
            error = ApiError("not_found", NO_ENDPOINT)
        elif status_code == 405:
            error = ApiError("method_not_allowed", not_served(self.request.method, self.allowed))
        else:
            code = {400: "bad_request", 404: "not_found", 413: "payload_too_large"}.get(
                status_code, "internal")
            error = ApiError(code, self._reason)
        self.refuse(error)

    def refuse(self, error: ApiError) -> None:
        """Answer ``error``: its status, its JSON body, and the headers it calls for (Allow,
        Retry-After, WWW-Authenticate)."""
        metrics.error_sent(error.code)
        if error.code == "rate_limited":
            metrics.rate_limited("api")
        if error.status == 405 and self.allowed:
            self.set_header("Allow", ", ".join(self.allowed))
        if error.retry_after is not None:
            self.set_header("Retry-After", str(whole_seconds(error.retry_after)))
        if error.status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="chatd"')
        self.answer(error.status, error.body())

    def answer(self, status: int, body: dict[str, Any]) -> None:
        if self._finished:
            return
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


class OperationHandler(JsonBody, ApiHandler):
    """Serves the operations of one path (one per method). ``chatd.api.routes`` makes the routes.
    Its body is read as it comes, up to ``api.max_body_bytes`` (``chatd.web.jsonbody``)."""

    CAP_NAME = "api.max_body_bytes"

    def initialize(self, api: Api, operations: dict[str, Operation]) -> None:
        self.api = api
        self.operations = operations
        self.allowed = tuple(operations)
        self.key: Key | None = None
        self.op: Operation | None = None

    def check_xsrf_cookie(self) -> None:
        """No cookies here: a key in a header is not sent by a browser on its own."""

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A part of the path (``name``: its field, as the route names it) as text; the query is
        read in ``_args``. One that is not UTF-8 is noted, and ``prepare`` refuses it as it refuses
        the rest: held to the request's end, the connection kept (``EarlyRefusals.path_refused``).
        Tornado's own refusal comes before ``prepare``: a bare "Bad Request" that ended the connection."""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return self.path_refused(ApiError("bad_request", f"the {name} in the address is not UTF-8, "
                                                             "percent-encoded"), value)

    async def prepare(self) -> None:
        try:
            # The API being off comes first, whatever the method: an API nobody turned on shows
            # none of its paths (a 405 would name the methods each takes).
            await self.api.check_on()
            self.op = self.operations.get(self.request.method)
            if self.op is None:
                raise ApiError("method_not_allowed", not_served(self.request.method, self.allowed))
            try:
                sent = authorization(self.request.headers)
            except RepeatedHeader as e:
                raise ApiError("bad_request", str(e)) from None
            self.key = await self.api.authenticate(sent, self.op.scope)
            self.check_path()  # after the key, as a query argument that is not UTF-8
            self.check_length()
        except ApiError as e:
            self.refuse_early(e)

    def body_cap(self) -> int:
        return self.api.config.api.max_body_bytes

    def body_refused(self, error: BodyRefused) -> ApiError:
        return ApiError(error.code, error.message)

    async def _serve(self, **path: str) -> None:
        if self._finished:
            return
        try:
            args = self._args(path)
            call = Call(self.api, self.key, self.op.args.check(args), self.op, self._idempotency_key())
            self.api.charge(self.key, 1)
            reply = await self.api.call(call)
        except Invalid as e:
            self.refuse(ApiError.invalid(e))
            return
        except ApiError as e:
            self.refuse(e)
            return
        if reply.replayed:
            self.set_header("Idempotent-Replayed", "true")
        self.answer(reply.status, reply.body)

    def _args(self, path: dict[str, str]) -> dict[str, Any]:
        """Path, query and body arguments in one mapping, each read by its field's kind."""
        schema = self.op.args
        data = self.json_object(schema.where("body") if schema.needs_body() else ())
        texts = dict(path)
        for name, values in self.request.query_arguments.items():
            if name in texts or len(values) > 1:
                raise ApiError("bad_request", f"the query argument {displayable(name, 60)!r} is given twice")
            try:
                texts[name] = values[0].decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError("bad_request", f"the query argument {displayable(name, 60)!r} is not UTF-8") from None
        clash = next((name for name in texts if name in data), None)
        if clash is not None:
            raise ApiError("bad_request", f"{clash!r} is given in the URL and in the body")
        misplaced = next((n for n in texts if n in schema.fields and schema.fields[n].where == "body"), None)
        if misplaced is not None:
            raise ApiError("bad_request", f"{misplaced!r} belongs in the JSON body, not the URL")
        return {**data, **schema.check_text(texts)}

    def _idempotency_key(self) -> str | None:
        values = self.request.headers.get_list("Idempotency-Key")
        if not values or not self.op.idempotent:
            return None
        if len(values) > 1:  # HTTPHeaders.get would join them with "," into a key nobody sent
            raise ApiError("bad_request", "the Idempotency-Key header is given twice; send it once")
        value = values[0]
        if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or not value.isprintable() or not value.isascii():
            raise ApiError("bad_request", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII "
                                          "characters")
        return value

    get = post = put = patch = delete = _serve  # the methods operations take: prepare refuses the others


class NotFound(ApiHandler):
    """Any other path under /api/: a JSON 404 (``api_off`` while the API is off), whatever the method."""

    def initialize(self, api: Api) -> None:
        self.api = api

    async def prepare(self) -> None:
        try:
            await self.api.check_on()
            raise ApiError("not_found", NO_ENDPOINT)
        except ApiError as e:
            self.refuse_early(e)
