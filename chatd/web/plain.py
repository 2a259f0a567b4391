"""Refusals in one line of plain text, for every handler that answers no JSON: the page, the
static files, ``/healthz``, ``/readyz``, ``/metrics``, the admin page's shell, ``/ws`` and the
URLs no route matches. Tornado's own refusals (a method the path does not take, a path that is
not UTF-8 once percent-decoded, an ``HTTPError`` raised without words, a bug) would otherwise
be its HTML error page, which names nothing; these name the problem, and a 405 carries
``Allow`` (RFC 9110 §15.5.6).

    class PageHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler): ...
    raise PlainRefused(404, "there is no such file in this version of the page")
    self.refuse(400, "Upgrade must be websocket ...", {"Sec-WebSocket-Version": "13"})

The JSON handlers (the HTTP API, the admin API, ``/upload``, ``/files/``) have their own
``write_error`` and use ``allowed_methods`` for their 405s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tornado.web

PLAIN_TEXT = "text/plain; charset=utf-8"
SHOWN_PATH_MAX = 100  # characters of a request's path a refusal repeats (the client chose its length)
NOT_UTF8 = "the address is not UTF-8 once percent-decoded"
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
            what = NOT_UTF8 if name is None else f"the query argument {name!r} is not UTF-8 once percent-decoded"
            raise PlainRefused(400, what) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A PlainRefused raised, or what Tornado refused itself (another method, an HTTPError
        without words, a bug), in plain text."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, PlainRefused):
            self.refuse(error.status_code, error.text, error.fields)
            return
        request = self.request  # type: ignore[attr-defined]
        path = shown_path(request.path)
        fields = {}
        if status_code == 405:
            allowed = allowed_methods(type(self))  # type: ignore[arg-type]
            fields["Allow"] = ", ".join(allowed)
            use = self.USE or f"use {' or '.join(allowed)}"
            text = f"{shown_path(request.method)} is not allowed on {path}; {use}"
        elif status_code == 404:
            text = f"nothing is served at {path}"
        elif status_code < 500:
            text = f"the request for {path} is malformed"
        else:
            text = INTERNAL
        self.refuse(status_code, text, fields)
