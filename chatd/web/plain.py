"""Refusals in one line of plain text, for every handler that answers no JSON: the page, the
static files, ``/healthz``, ``/readyz``, ``/metrics``, the admin page's shell, ``/ws`` and the
URLs no route matches. Tornado's own refusals (a method the path does not take, a path that is
not UTF-8 once percent-decoded, an ``HTTPError`` raised without words, a bug) would otherwise
be its HTML error page, which names nothing; these name the problem, and a 405 carries
``Allow`` (RFC 9110 §15.5.6).

    class PageHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler): ...
    raise PlainRefused(404, "there is no such file in this version of the page")
    self.refuse(400, "Upgrade must be websocket ...", {"Sec-WebSocket-Version": "13"})

A method such a handler does not take is refused at the request's headers, its body unread
(``WrongMethod``, which ``chatd.web.Application`` routes it to when ``refused_method``).

The JSON handlers (the HTTP API, the admin API, ``/upload``, ``/files/``) have their own
``write_error`` and use ``allowed_methods`` for their 405s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tornado.web

from chatd.web.early import EarlyRefusals
from chatd.web.headers import SecurityHeaders

PLAIN_TEXT = "text/plain; charset=utf-8"
SHOWN_PATH_MAX = 100  # characters of a request's path a refusal repeats (the client chose its length)
NOT_UTF8 = "is not UTF-8 once percent-decoded"
INTERNAL = "internal error; the request was not carried out"


def allowed_methods(handler: type[tornado.web.RequestHandler]) -> tuple[str, ...]:
    """The methods ``handler`` serves, in Tornado's order (``("GET", "HEAD")``): those of its
    ``SUPPORTED_METHODS`` it defines. Tornado's own ``get``, ``post``, ... of a class that does
    not define them each raise 405."""
    base = tornado.web.RequestHandler
    return tuple(m for m in handler.SUPPORTED_METHODS if getattr(handler, m.lower()) is not getattr(base, m.lower()))


def not_served(method: str, allowed: tuple[str, ...]) -> str:
    """A JSON handler's 405 message: ``method`` (as sent) is not one of ``allowed``."""
    return f"{shown_path(method)} is not served here; this path takes {', '.join(allowed)}"


def shown_path(path: str) -> str:
    """``path`` as a refusal may repeat it: cut to SHOWN_PATH_MAX characters, or "this address"
    when it holds a character that is not printable."""
    if not path.isprintable():
        return "this address"
    return path if len(path) <= SHOWN_PATH_MAX else path[:SHOWN_PATH_MAX - 1] + "…"


class PlainRefused(tornado.web.HTTPError):
    """A refusal raised in a handler with ``PlainRefusals``: its ``status``, the body's one line
    ``text`` (no newline) and header ``fields``. Tornado logs no traceback for an HTTPError."""

    def __init__(self, status: int, text: str, fields: Mapping[str, str] | None = None):
        super().__init__(status)
        self.text, self.fields = text, dict(fields or {})


class PlainRefusals:
    """Mixin for a ``tornado.web.RequestHandler`` subclass (before it): every refusal it gives,
    its own or Tornado's, as one line of plain text. ``USE``: how the path is used, for a 405
    ("use GET with a WebSocket upgrade"); by default the methods it takes are named."""

    USE = ""

    def refuse(self, status: int, text: str, fields: Mapping[str, str] | None = None) -> None:
        """Answer ``status`` with ``text`` (one line, no newline) as the body, and ``fields``."""
        self.set_status(status)  # type: ignore[attr-defined]
        for name, value in (fields or {}).items():
            self.set_header(name, value)  # type: ignore[attr-defined]
        self.set_header("Content-Type", PLAIN_TEXT)  # type: ignore[attr-defined]
        self.finish(text + "\n")  # type: ignore[attr-defined]

    def decode_argument(self, value: bytes | None, name: str | None = None) -> str | None:
        """A part of the path (or a query argument, ``name``) as text (None for a group of the
        route the path left out); PlainRefused 400 when it is not UTF-8 (Tornado's own refusal
        names nothing)."""
        try:
            return None if value is None else value.decode("utf-8")
        except UnicodeDecodeError:
            what = "the address" if name is None else f"the query argument {shown_path(name)}"
            raise PlainRefused(400, f"{what} {NOT_UTF8}") from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A PlainRefused raised, or what Tornado refused itself (another method, an HTTPError
        without words, a bug), in plain text."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, PlainRefused):
            self.refuse(error.status_code, error.text, error.fields)
            return
        if status_code == 405:
            error = self.method_refusal()
            self.refuse(405, error.text, error.fields)
            return
        path = shown_path(self.request.path)  # type: ignore[attr-defined]
        if status_code == 404:
            text = f"nothing is served at {path}"
        elif status_code < 500:
            text = f"the request for {path} is malformed"
        else:
            text = INTERNAL
        self.refuse(status_code, text)

    def allowed(self) -> tuple[str, ...]:
        """The methods the path takes: those the handler defines."""
        return allowed_methods(type(self))  # type: ignore[arg-type]

    def method_refusal(self) -> PlainRefused:
        """The 405 of the request's method, naming it and how the path is used, with Allow."""
        allowed = self.allowed()
        use = self.USE or f"use {' or '.join(allowed)}"
        request = self.request  # type: ignore[attr-defined]
        text = f"{shown_path(request.method)} is not allowed on {shown_path(request.path)}; {use}"
        return PlainRefused(405, text, {"Allow": ", ".join(allowed)})


@tornado.web.stream_request_body
class WrongMethod(SecurityHeaders, EarlyRefusals, PlainRefusals, tornado.web.RequestHandler):
    """A method the route's handler (``target``, a PlainRefusals one that reads a body whole
    before it runs) does not take, refused at the request's headers
    (``chatd.web.Application.find_handler`` routes it here): Tornado would read a body of up to
    100 MB before the 405, and refuse a longer one as malformed. A body is not read
    (``chatd.web.early``)."""

    def initialize(self, target: type[PlainRefusals]) -> None:
        self.target = target
        self.USE = target.USE

    def allowed(self) -> tuple[str, ...]:
        return allowed_methods(self.target)  # type: ignore[arg-type]

    def prepare(self) -> None:
        refusal = self.method_refusal()
        if self.answer_now(refusal):
            raise refusal

    def data_received(self, chunk: bytes) -> None:
        """Dropped: the request is refused whatever its body."""


def refused_method(handler: type | None, method: str) -> bool:
    """Whether a request of ``method`` routed to ``handler`` (None: not to a handler) is one for
    WrongMethod: a PlainRefusals handler that reads its body whole (Tornado's flag of
    ``stream_request_body`` unset), and a method it does not define (one Tornado does not know
    included: Tornado reads such a handler's body before it refuses that one too)."""
    return (isinstance(handler, type) and issubclass(handler, PlainRefusals)
            and not getattr(handler, "_stream_request_body", False) and method not in allowed_methods(handler))
