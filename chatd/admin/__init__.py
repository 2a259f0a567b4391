"""The admin page: its handlers under /admin and /admin/api (the page's HTML and JS are in static/admin/).

Every module of this package with a ``routes()`` function contributes its routes
(``[(pattern, handler class)]``); this collects them, so a new tab's module needs
no edit here. Every handler is given the process's ``Admin`` (``chatd.admin.base``).
Which routes answer without a session is decided by their handler class: only
``chatd.admin.page``'s and the login endpoints (``chatd.admin.auth``) do; every
other handler is an ``AdminHandler`` (401 without a session).

    admin = make_admin(chat, static_dir)
    rules = routes(admin)               # for the Tornado application, before the chat page's
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from chatd.admin.base import API, Admin, NotFoundHandler
from chatd.admin.logins import Logins
from chatd.admin.page import admin_assets
from chatd.admin.sessions import Sessions
from chatd.cluster.limits import SharedBuckets

if TYPE_CHECKING:
    from chatd.chat import Chat


def make_admin(chat: Chat, static_dir: Path) -> Admin:
    """The admin page's shared state for one process; its files from ``static_dir`` (static/admin, and
    the chat page's language module beside it: ``chatd.admin.page.admin_assets``)."""
    return Admin(chat, Sessions(chat.store, lambda: chat.config.admin),
                 Logins(lambda: chat.config, SharedBuckets(chat.shared) if chat.shared else None),
                 admin_assets(static_dir.parent, static_dir.name))


def handler_classes() -> list[tuple[str, type]]:
    """(pattern, handler class) of every module of the package that has ``routes()``, in module name order."""
    found = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        routes_of = getattr(importlib.import_module(f"{__name__}.{module}"), "routes", None)
        if routes_of is not None:
            found += routes_of()
    return [*found, (rf"{API}(?:/.*)?", NotFoundHandler)]  # elsewhere under /admin: the application's plain 404


def routes(admin: Admin) -> list[tuple[str, type, dict]]:
    """The Tornado rules of the admin page."""
    return [(pattern, handler, {"admin": admin}) for pattern, handler in handler_classes()]
