"""The admin page's shell and its files: the only things under /admin served without a session.

The shell (``static/admin/index.html``) holds no data: it is the login form and
the empty tabs, which fetch everything from ``/admin/api`` once signed in. Its
files are served from memory like the chat page's (``chatd.web.assets``), under
``/admin/static/<version>/``, with the same Content-Security-Policy: no inline
script, nothing from another host.

The admin page speaks the chat page's languages with the chat page's module
(``static/i18n.js``, docs/page.md "Languages") and its words for refusals
(``static/refusals.js``), so its tree holds every chat page module its own import,
what those import and the catalogues ``i18n.js`` fetches (``static/i18n/``) under
their names in static/, and its own files under ``admin/``: every relative reference
resolves as it does in the source tree (``static/admin/admin.js`` imports ``../i18n.js``).

    /admin                              → 301 /admin/ (the shell's relative URLs resolve under it)
    /admin/                             the shell
    /admin/static/<v>/admin/admin.js    its files (static/admin/)
    /admin/static/<v>/i18n.js           the chat page's language module, its imports and catalogues
"""

from __future__ import annotations

from pathlib import Path

import tornado.web

from chatd.admin.base import Admin
from chatd.web.assets import (
    PAGE,
    REVALIDATE,
    VERSION_CHARS,
    Assets,
    StaticHandler,
    build_assets,
    module_graph,
    read_tree,
)
from chatd.web.head import HeadAsGet
from chatd.web.headers import SecurityHeaders
from chatd.web.plain import PlainRefusals

STATIC_ROUTE = rf"/admin/static/(?:([0-9a-f]{{{VERSION_CHARS}}})/)?(.+)"
CATALOGUES = "i18n/"  # the catalogues it fetches (not imported: module_graph does not see them)


def admin_assets(static_dir: Path, admin_dir: str) -> Assets:
    """The admin page's served tree: ``static_dir/admin_dir/index.html`` as the page, the other
    files of ``admin_dir`` under ``<admin_dir>/``, and the modules they import from the rest of
    ``static_dir`` (directly or not) and ``CATALOGUES``, under their own names. KeyError without
    the shell."""
    files = read_tree(static_dir)
    own = {name: body for name, body in files.items() if name.startswith(f"{admin_dir}/")}
    imported = set().union(*(module_graph(files, name) for name in own if name.endswith(".js")))
    tree = {name: files[name] for name in imported | {name for name in files if name.startswith(CATALOGUES)}}
    tree.update(own)
    tree[PAGE] = tree.pop(f"{admin_dir}/{PAGE}")
    return build_assets(tree)


class ShellHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, admin: Admin) -> None:
        self.admin = admin

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", REVALIDATE)
        self.write(self.admin.assets.page)


class ShellRedirect(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    def initialize(self, admin: Admin) -> None:
        pass

    def get(self) -> None:
        self.redirect("/admin/", permanent=True)


class AdminStaticHandler(StaticHandler):
    def initialize(self, admin: Admin) -> None:  # type: ignore[override]
        super().initialize(admin.assets)


def routes() -> list[tuple[str, type]]:
    return [(r"/admin", ShellRedirect), (r"/admin/", ShellHandler), (STATIC_ROUTE, AdminStaticHandler)]
