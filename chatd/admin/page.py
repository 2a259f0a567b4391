"""The admin page's shell and its files: the only things under /admin served without a session.

The shell (``static/admin/index.html``) holds no data: it is the login form and
the empty tabs, which fetch everything from ``/admin/api`` once signed in. Its
files are served from memory like the chat page's (``chatd.web.assets``), under
``/admin/static/<version>/``, with the same Content-Security-Policy: no inline
script, nothing from another host.

    /admin                      → 301 /admin/ (the shell's relative URLs resolve under it)
    /admin/                     the shell
    /admin/static/<v>/admin.js  its files
"""

from __future__ import annotations

import tornado.web

from chatd.admin.base import Admin
from chatd.web.assets import REVALIDATE, VERSION_CHARS, StaticHandler
from chatd.web.head import HeadAsGet
from chatd.web.headers import SecurityHeaders

STATIC_ROUTE = rf"/admin/static/(?:([0-9a-f]{{{VERSION_CHARS}}})/)?(.+)"


class ShellHandler(SecurityHeaders, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, admin: Admin) -> None:
        self.admin = admin

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", REVALIDATE)
        self.write(self.admin.assets.page)


class ShellRedirect(SecurityHeaders, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, admin: Admin) -> None:
        pass

    def get(self) -> None:
        self.redirect("/admin/", permanent=True)


class AdminStaticHandler(StaticHandler):
    def initialize(self, admin: Admin) -> None:  # type: ignore[override]
        super().initialize(admin.assets)


def routes() -> list[tuple[str, type]]:
    return [(r"/admin", ShellRedirect), (r"/admin/", ShellHandler), (STATIC_ROUTE, AdminStaticHandler)]
