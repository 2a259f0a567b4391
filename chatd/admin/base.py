"""The admin page's web layer: what every handler under ``/admin`` shares.

``AdminHandler`` is the base of every handler that needs a session (all but the
page shell, its static files and the two login endpoints, ``chatd.admin.auth``).
At the request's headers, before its body is read (``AdminJson.admit``; a refusal of a
request with a body is answered at once, with ``Connection: close``: ``chatd.web.early``),
in order:

1. a valid session from the cookie (``chatd.admin.sessions``), else 401 ``unauthorized``;
2. an ``Origin`` of this site, if any, on a state change, else 403 ``forbidden``;
3. on POST, PUT, PATCH and DELETE, the session's CSRF token in the ``X-CSRF-Token``
   header, else 403 ``csrf``;
4. the handler's ``role`` ("admin" unless the handler says "moderator"), else 403
   ``forbidden``. A method may ask more with ``self.require("admin")``;
5. a method the handler has, else 405 ``method_not_allowed`` with Allow;
6. a body of at most BODY_MAX bytes by its Content-Length, else 413 ``payload_too_large``
   (and one that passes it as it comes, when it does).

(The login endpoints, ``AdminJson`` without a session, check 2, 5 and 6.) Then ``self.actor``
(``chatd.audit.Actor``) is who acts. Bodies are JSON objects read by ``self.body()`` as the
HTTP API reads its own (``chatd.web.jsonbody``: no Content-Encoding, strict JSON), sent as
``Content-Type: application/json`` (which no cross-site form can send, else 415); answers
are JSON, errors ``{"error": {"code", "message"}}`` as in the HTTP API, never a traceback.
Nothing is cached (``Cache-Control: no-store``).

    class BansHandler(AdminHandler):
        role = "moderator"

        async def get(self) -> None:
            self.reply({"bans": ...})

        async def post(self) -> None:
            args = self.body(("user",))        # a dict (these fields it needs), or 400
            self.require("admin")              # 403 for a moderator
            raise AdminError(404, "not_found", "no such ban")

    def routes() -> list[tuple[str, type]]:    # each module of chatd.admin; chatd.admin.routes collects them
        return [(r"/admin/api/bans", BansHandler)]
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tornado.web

from chatd.admin.logins import Logins
from chatd.admin.sessions import COOKIE, Found, Sessions
from chatd.audit import ADMIN, Actor
from chatd.client_refusals import DATABASE, ORIGIN, ROLE, forbidden, unavailable
from chatd.durations import http_retry, whole_seconds
from chatd.origins import origin_allowed
from chatd.protocol.codes import ProtocolError
from chatd.protocol.frames import error_body
from chatd.store import DatabaseUnreachable
from chatd.web.assets import Assets
from chatd.web.early import EarlyRefusals
from chatd.web.headers import SecurityHeaders
from chatd.web.jsonbody import BodyRefused, JsonBody, is_empty
from chatd.web.plain import allowed_methods, not_served

if TYPE_CHECKING:
    from chatd.chat import Chat

log = logging.getLogger("chatd.admin")

API = "/admin/api"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_MAX = 65536  # bytes of an admin request body: forms, never uploads
JSON_TYPE = "application/json"  # the Content-Type of every body sent to the admin API
MESSAGE_MAX = 500  # characters of an error message
# The codes an admin endpoint answers with (besides those a module adds), by HTTP status.
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                429: "rate_limited", 500: "internal", 503: "unavailable"}


@dataclass
class Admin:
    """What the admin handlers of one process share."""

    chat: Chat
    sessions: Sessions
    logins: Logins
    assets: Assets  # the page shell and its files (static/admin/)


class AdminError(tornado.web.HTTPError):
    """A refused admin request: HTTP ``status``, a stable ``code`` and a message for people.
    ``retry_after``: seconds, for 429. ``details``: the message's detail as fields, as the
    WebSocket's error frame carries them for the same refusal (docs/protocol.md, "error")."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(status, reason=None)
        self.code = code
        self.message = message
        self.retry_after = http_retry(status, retry_after)
        self.details = details

    @classmethod
    def of(cls, status: int, error: ProtocolError, code: str | None = None) -> AdminError:
        """A refusal of the chat core answered with ``status``: its code (or ``code``), words and fields."""
        return cls(status, code or str(error.code), error.message, error.retry_after, error.details)


@tornado.web.stream_request_body
class AdminJson(JsonBody, EarlyRefusals, SecurityHeaders, tornado.web.RequestHandler):
    """JSON in and out for the handlers under /admin/api, sessions or not. ``path_part``: what
    the route's group of the path is ("room"), for a refusal to name; None: the address.
    What ``admit`` refuses is refused at the request's headers, before its body is read
    (``chatd.web.early``); the body is read as the HTTP API reads its own (``chatd.web.jsonbody``)."""

    path_part: str | None = None

    def initialize(self, admin: Admin) -> None:
        self.admin = admin

    @property
    def chat(self) -> Chat:
        return self.admin.chat

    def check_xsrf_cookie(self) -> None:
        """Tornado's own check is not used: AdminHandler checks the session's token (module doc)."""

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        try:
            try:
                await self.admit()
            except DatabaseUnreachable:
                raise AdminError.of(503, unavailable(DATABASE)) from None
        except AdminError as e:
            if self.answer_now(e):
                raise

    async def admit(self) -> None:
        """The checks of the request's head, before its body is read; AdminError."""
        self.same_origin()
        self.served()

    def served(self) -> None:
        """AdminError 405 for a method the handler does not have, 413 for a body over BODY_MAX by
        its Content-Length."""
        if self.request.method not in allowed_methods(type(self)):
            raise self.method_refused()
        self.check_path()
        self.check_length()

    def body_cap(self) -> int:
        return BODY_MAX

    def body_refused(self, error: BodyRefused) -> AdminError:
        return AdminError(error.status, error.code, error.message)

    def same_origin(self) -> None:
        """AdminError 403 when a state change comes with the ``Origin`` of another site: with
        SameSite=Strict cookies and JSON bodies that cannot happen from a browser; checked all the same."""
        origin = self.request.headers.get("Origin")
        if self.request.method not in SAFE_METHODS and origin is not None and not origin_allowed(
                origin, self.request.headers.get("Host"), ()):
            raise AdminError.of(403, forbidden(ORIGIN, "the admin page takes changes from its own origin only"))

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """A query argument (``name``) or the path's group (None: the routes' groups are unnamed)
        as text; AdminError 400 naming it when it is not UTF-8, as the HTTP API words it
        (Tornado's own refusal is a bare "Bad Request"): a query argument's raised, a part of
        the path's given by ``served``, after the session (``EarlyRefusals.path_refused``)."""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            if name is not None:
                raise AdminError(400, "bad_request", f"the query argument {name[:40]!r} is not UTF-8") from None
            what = "the address" if self.path_part is None else f"the {self.path_part} in the address"
            return self.path_refused(AdminError(400, "bad_request", f"{what} is not UTF-8, percent-encoded"), value)

    def body(self, needs: Sequence[str] = ()) -> dict[str, Any]:
        """The request body: a JSON object; an empty body is {} unless the endpoint ``needs``
        fields (named in its refusal). AdminError 400, or 415 for a body not sent as
        ``Content-Type: application/json`` (which no cross-site form can send)."""
        kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not is_empty(self.body_bytes()) and kind != JSON_TYPE:
            raise AdminError(415, "unsupported_media_type", f"the body must be JSON, sent as Content-Type: {JSON_TYPE}")
        return self.json_object(needs)

    def reply(self, body: dict[str, Any], status: int = 200) -> None:
        """Answer ``body`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())

    def method_refused(self) -> AdminError:
        """The refusal of a method Tornado found no handler method for."""
        return AdminError(405, "method_not_allowed", not_served(self.request.method, allowed_methods(type(self))))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """An AdminError raised, or what Tornado refused itself (a method the path does not take:
        405 with Allow, RFC 9110 §15.5.6; a bug), in JSON."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if status_code == 405 and not isinstance(error, AdminError):
            error = self.method_refused()
        if isinstance(error, DatabaseUnreachable):
            error = AdminError.of(503, unavailable(DATABASE))
        if isinstance(error, AdminError):
            status_code, body = error.status_code, error_body(error.code, error.message, error.retry_after,
                                                              error.details, MESSAGE_MAX)
            if error.retry_after is not None:
                self.set_header("Retry-After", str(whole_seconds(error.retry_after)))
        else:
            body = error_body(STATUS_CODES.get(status_code, "internal"), self._reason, message_max=MESSAGE_MAX)
        self.set_status(status_code)
        if status_code == 401:
            self.set_header("WWW-Authenticate", 'Cookie realm="chatd admin"')
        if status_code == 405:
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": body}, ensure_ascii=False))


class _EveryMethod(tuple):
    """``SUPPORTED_METHODS`` that lets every method through to ``prepare`` (Tornado refuses one not
    in them with 405 before it); iterated, Tornado's own (``allowed_methods`` reads them)."""

    def __contains__(self, method: object) -> bool:
        return True


class AdminHandler(AdminJson):
    """A handler that needs a session (module doc). ``role``: the least role that may use it at all.
    Every method, one Tornado does not know included, is asked for the session first: without one,
    a method the path does not take is a 401 as any other, not a 405 whose ``Allow`` would tell a
    stranger which admin endpoints exist."""

    SUPPORTED_METHODS = _EveryMethod(tornado.web.RequestHandler.SUPPORTED_METHODS)
    role = ADMIN
    actor: Actor
    session: Found

    async def admit(self) -> None:
        found = await self.admin.sessions.find(self.get_cookie(COOKIE))
        if found is None:
            raise AdminError(401, "unauthorized", "sign in to the admin page first (no session, or it ended)")
        self.same_origin()
        if self.request.method not in SAFE_METHODS:
            sent = self.request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode("utf-8", "replace"), found.row.csrf.encode()):
                raise AdminError(403, "csrf", f"the {CSRF_HEADER} header is missing or is not this session's")
        self.session = found
        self.actor = found.actor
        self.require(self.role)
        self.served()

    def query(self, known: tuple[str, ...]) -> dict[str, str]:
        """The query arguments, each given once and named in ``known``, stripped: ``{"limit": "50"}``;
        AdminError 400 naming an unknown or repeated one."""
        found = {}
        for name, values in self.request.query_arguments.items():
            if name not in known:
                raise AdminError(400, "bad_request", f"unknown query argument {name[:40]!r}")
            if len(values) > 1:
                raise AdminError(400, "bad_request", f"{name!r} is given twice")
            found[name] = self.decode_argument(values[0], name).strip()
        return found

    @staticmethod
    def number(args: dict[str, str], name: str, lo: int, hi: int) -> int | None:
        """``args[name]`` as a whole number (``whole_number``), None when absent or empty."""
        text = args.get(name, "")
        return whole_number(text, name, lo, hi) if text else None

    def require(self, role: str) -> None:
        """AdminError 403 ``forbidden`` unless the actor holds ``role`` ("admin" or "moderator")."""
        if not self.actor.may(role):
            raise AdminError.of(403, forbidden(ROLE, f"this needs the role {role}", role=role))


def whole_number(text: str, name: str, lo: int, hi: int) -> int:
    """``text`` (the argument ``name``) as a whole number from ``lo`` to ``hi``; AdminError 400
    naming the bounds otherwise. Every number an admin request names goes through here, so none
    reaches the store out of its range (SQLite's integers are 64-bit) and no huge text reaches
    ``int()`` (Python refuses more than 4300 digits)."""
    if not (text.isascii() and text.isdigit() and len(text.lstrip("0")) <= len(str(hi)) and lo <= int(text) <= hi):
        raise AdminError(400, "bad_request", f"{name!r} must be a whole number from {lo} to {hi}")
    return int(text)


class NotFoundHandler(AdminHandler):
    """Any other path under /admin/api: a JSON 404 whatever the method, to those with a session
    (401 to others), at the request's headers: it has no method (``served``)."""

    role = "moderator"

    def method_refused(self) -> AdminError:
        """Whatever the method (TRACE, one Tornado does not know): there is no endpoint here."""
        return AdminError(404, "not_found", "no such admin endpoint")
