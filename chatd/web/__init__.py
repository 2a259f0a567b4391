"""The Tornado application: the page, static files, health, readiness, metrics, uploads
(``/upload`` and ``/files/``: ``chatd.web.uploads``) and ``/ws``.
The admin page and its API are ``chatd.admin``'s (under /admin).
The page, static files and ``/healthz`` answer HEAD as well as GET
(``chatd.web.head``).

    app = make_app(chat, registry, handing, config)

Before any handler runs, ``request.remote_ip`` is set to the client's
address as resolved through ``trusted_proxies`` (``chatd.proxies``). It is
the one place to take a client's address from — logs, ``chatd
connections``, per-address limits; never read X-Forwarded-For or X-Real-IP
anywhere else. Every response carries ``SecurityHeaders``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tornado.httputil
import tornado.web

import chatd.admin
import chatd.api  # the module, not its names: chatd.api's handlers import chatd.web.headers (a cycle)
from chatd.chat import Chat
from chatd.config import Config
from chatd.proxies import request_address
from chatd.readiness import Readiness
from chatd.web.assets import REVALIDATE, ROUTE, Assets, StaticHandler, load_assets
from chatd.web.early import EarlyRefusals
from chatd.web.handshake import PATH as WS_PATH
from chatd.web.handshake import Handshakes
from chatd.web.head import HeadAsGet
from chatd.web.headers import SecurityHeaders, content_security_policy
from chatd.web.logged import hide_malformed_values, logged_target
from chatd.web.outbox import Outbox
from chatd.web.plain import PlainRefusals, WrongMethod, refused_method
from chatd.web.probes import MetricsHandler, ReadyHandler
from chatd.web.upgrade import ChatUpgrade
from chatd.web.uploads import ROUTES, FileHandler, UploadHandler, Uploads


def _static_dir() -> Path:
    # A wheel carries static/ inside the package; a source checkout has it at the top.
    package = Path(__file__).resolve().parent.parent
    inside = package / "static"
    return inside if inside.is_dir() else package.parent / "static"


STATIC_DIR = _static_dir()
ADMIN_DIR = "admin"  # static/admin: the admin page's files (chatd.admin.page), not the chat page's


class PageHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, assets: Assets) -> None:
        self.assets = assets

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", REVALIDATE)  # the page names the current static version: never stale
        # The avatars the server shows (chatd.identity.shown_avatar) and the linked images the page
        # shows inline (page.image_hosts, static/attachments.js) are images the page may load.
        config = self.application.chat.config  # type: ignore[attr-defined]
        hosts = dict.fromkeys([*config.identity.avatar_hosts, *config.page.image_hosts])
        self.set_header("Content-Security-Policy", content_security_policy(hosts))
        self.write(self.assets.page)


class HealthHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, chat: Chat) -> None:
        self.chat = chat

    def get(self) -> None:
        """200 while this process serves, with whether its database answered when last
        used (``chatd.store.health``): a database outage is every node's at once, so
        a load balancer taking nodes out for it would help nobody (docs/operations.md)."""
        self.set_header("Cache-Control", "no-store")
        down = self.chat.store.health.down()
        self.write({"status": "ok", "connections": len(self.chat.hub.sessions),
                    "database": "ok" if down is None else "unreachable"})


@tornado.web.stream_request_body
class NotFoundHandler(SecurityHeaders, EarlyRefusals, PlainRefusals, tornado.web.RequestHandler):
    """Every URL no route matches: a 404 with the same headers as the rest, in plain text,
    whatever the method (one Tornado does not know included: no 405 naming methods of nothing),
    given at the request's headers: a body is not read (``chatd.web.early``)."""

    def prepare(self) -> None:
        refusal = tornado.web.HTTPError(404)
        if self.answer_now(refusal):
            raise refusal

    def data_received(self, chunk: bytes) -> None:
        """Dropped: the request is refused whatever its body."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        super().write_error(404)


class Application(tornado.web.Application):
    """Tornado's application, with ``request.remote_ip`` resolved through the
    trusted proxies of the current config (``trusted_proxies`` is live)."""

    def __init__(self, chat: Chat, handlers: list, **settings: Any):
        super().__init__(handlers, **settings)
        self.chat = chat
        hide_malformed_values()

    def find_handler(self, request: tornado.httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        # Called once per request, before a handler exists: everything after
        # (handlers, Tornado's access log) sees the resolved address.
        request.remote_ip = request_address(request.remote_ip or "", request.headers, self.chat.config.trusted_proxies)
        if request.path[:1] != "/" and "://" in request.path:
            _origin_form(request)
        # request.uri is what every log line of Tornado's prints (the access log, an HTTPError's
        # warning, an uncaught exception's repr): it keeps no value of the query (chatd.web.logged).
        # Handlers read request.path, request.query and the arguments, never request.uri.
        request.uri = logged_target(request.path, request.query)
        # No handler reads form fields (bodies are JSON, or an upload's bytes): Tornado's parse of a
        # form body for them refused requests chatd takes (a GET with a multipart Content-Type and
        # no boundary, a body of 1,001 '&'s) with a bare 400, and logged a Content-Encoding in full.
        request._parse_body = _no_form_fields  # type: ignore[method-assign]
        found = super().find_handler(request, **kwargs)
        target = getattr(found, "handler_class", None)
        if refused_method(target, request.method or ""):  # at its headers, not after its body
            return self.get_handler_delegate(request, WrongMethod, {"target": target}, found.path_args,
                                             found.path_kwargs)
        return found

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        # A 429 is a per-address limit (chatd.web.upgrade): Chat logs those once a
        # minute per address, where one access line each would let a flood fill the log.
        if handler.get_status() != 429:
            super().log_request(handler)


def _no_form_fields() -> None:
    """What a request's ``_parse_body`` does in chatd: nothing (``Application.find_handler``)."""


def _origin_form(request: tornado.httputil.HTTPServerRequest) -> None:
    """An absolute-form target (``GET http://host/api/v1/online``), which a server must accept
    (RFC 9112 §3.2.2), routed as its path; its host stands for the Host header, as that section
    says. Tornado routes by ``request.path`` as received (it then matched nothing: a 404)."""
    target = urllib.parse.urlsplit(request.path)
    request.path = target.path or "/"
    if target.netloc:
        request.host = target.netloc


def make_app(chat: Chat, registry: set, handing: set, config: Config) -> tornado.web.Application:
    """The application; ``registry`` gets every open ``ChatConnection``, ``handing``
    each one between its 101 and its socket's take-over (``chatd.web.handshake``)."""
    assets = load_assets(STATIC_DIR, skip=(ADMIN_DIR,))
    _, api_rules = chatd.api.routes(chat)
    admin = chatd.admin.make_admin(chat, STATIC_DIR / ADMIN_DIR)
    uploads = Uploads(chat)
    handshakes = Handshakes(chat, registry, handing, Outbox(batch_follows(chat)))
    app = Application(
        chat,
        [
            # First: Tornado tries the rules in order, and /ws is the path of every connection
            # (profiled: last of 54, each handshake first failed 53 matches).
            (WS_PATH, ChatUpgrade, {"handshakes": handshakes}),
            *api_rules,
            *chatd.admin.routes(admin),
            (r"/", PageHandler, {"assets": assets}),
            (ROUTE, StaticHandler, {"assets": assets}),
            (r"/healthz", HealthHandler, {"chat": chat}),
            (r"/readyz", ReadyHandler, {"readiness": Readiness(chat)}),
            (r"/metrics", MetricsHandler, {"chat": chat}),
            (r"/upload", UploadHandler, {"uploads": uploads}),
            (ROUTES, FileHandler, {"chat": chat}),
        ],
        default_handler_class=NotFoundHandler,
    )
    app.admin = admin  # type: ignore[attr-defined]  # its sessions and limits, for tests and status
    app.handshakes = handshakes  # type: ignore[attr-defined]  # ChatHTTPServer answers most of /ws with it
    return app


def batch_follows(chat: Chat) -> Callable[[], bool]:
    """→ whether the store's writer is handing the loop several results now (``chatd.web.outbox``)."""
    return lambda: chat.store.writer is not None and chat.store.writer.delivering_many
