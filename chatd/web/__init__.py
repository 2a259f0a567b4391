"""The Tornado application: the page, static files, health, and ``/ws``.
The page, static files and ``/healthz`` answer HEAD as well as GET.

    app = make_app(chat, registry, config)
"""

from __future__ import annotations

from pathlib import Path

import tornado.web

from chatd.chat import Chat
from chatd.config import Config
from chatd.web.outbox import Outbox
from chatd.web.upgrade import ChatUpgrade


def _static_dir() -> Path:
    # A wheel carries static/ inside the package; a source checkout has it at the top.
    package = Path(__file__).resolve().parent.parent
    inside = package / "static"
    return inside if inside.is_dir() else package.parent / "static"


STATIC_DIR = _static_dir()


class PageHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        # The page makes no third-party requests; say so to the browser too.
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'",
        )
        self.set_header("X-Content-Type-Options", "nosniff")
        self.write((STATIC_DIR / "index.html").read_bytes())

    def head(self) -> None:
        """Uptime monitors ask with HEAD: the GET's status and headers, no body
        (RFC 9110 §9.3.2). Tornado sends no body for HEAD but keeps the
        Content-Length of the body GET would send."""
        self.get()


class HealthHandler(tornado.web.RequestHandler):
    def initialize(self, chat: Chat) -> None:
        self.chat = chat

    def get(self) -> None:
        self.write({"status": "ok", "connections": len(self.chat.hub.sessions)})

    def head(self) -> None:
        """As for the page: monitors probe /healthz with HEAD too."""
        self.get()


def make_app(chat: Chat, registry: set, config: Config) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/", PageHandler),
            (r"/healthz", HealthHandler, {"chat": chat}),
            (r"/ws", ChatUpgrade, {"chat": chat, "registry": registry, "outbox": Outbox()}),
        ],
        static_path=str(STATIC_DIR),
    )
