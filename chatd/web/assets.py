"""The static files as chatd serves them: read once at start, versioned by content.

    assets = load_assets(STATIC_DIR)
    assets.version                 # "3f9c0a1b2d4e5f60": a hash of every file
    assets.page                    # index.html, its static/ references now static/<version>/
    assets.files["app.js"]         # Asset(body, content_type)

Why a version in the path, for the whole tree at once: the page's ES
modules import each other by relative URL (``./store.js``). Loaded from
``static/<version>/app.js``, every module they import resolves under the
same ``static/<version>/`` by itself, so one rewritten reference in the
page versions the whole module graph: no import map, no inline script
(which the Content-Security-Policy would have to allow), no rewriting of
JavaScript. After an upgrade the page names a new version; no browser
mixes a cached old module with a new one, or an old page with a new
server, since a version names exactly the bytes this process serves (a
version it does not hold is a 404). Versioned URLs are cached for a year;
the page and unversioned URLs are revalidated on every use.

Files are served from memory: a request path is only ever a key looked up
in a dict, never a file system path, so no request (``..``, NUL, encoded
slashes, backslashes, very long names) can reach outside the tree or make
the OS raise. Editing a file under static/ therefore takes a restart.

The public client (``PUBLIC_ENTRY``, docs/client.md) and the modules it
imports may be imported by pages of other origins: module scripts are
fetched in CORS mode (HTML, "fetch a single module script"), so for an
``Origin`` the WebSocket would admit (``chatd.origins``, ``allowed_origins``)
those files carry ``Access-Control-Allow-Origin``. Every other file stays
same-origin only.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import tornado.web

from chatd.origins import origin_allowed
from chatd.web.head import HeadAsGet
from chatd.web.headers import SecurityHeaders
from chatd.web.plain import PlainRefusals, PlainRefused, shown_path

PAGE = "index.html"  # the page itself: served at /, not as a static file
PUBLIC_ENTRY = "chatd-client.js"  # the browser client other origins may import
VERSION_CHARS = 16  # hex characters of the tree's SHA-256 in a versioned URL: 64 bits
VERSIONED_CACHE = "public, max-age=31536000, immutable"  # a year, the usual ceiling (RFC 9111 §5.2.2.1)
REVALIDATE = "no-cache"  # may be stored, but checked (ETag → 304) before every use
UNKNOWN_TYPE = "application/octet-stream"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
# The page's references to its own files: src="static/..." and href="static/...".
_PAGE_REFERENCE = re.compile(rb'(\s(?:src|href)=")static/')
# A static import or re-export of a relative module: from './x.js', import './x.js'.
_IMPORT = re.compile(rb"""(?:\bfrom|^\s*import)\s*['"](\.{1,2}/[^'"]+)['"]""", re.M)
# /static/<version>/<name> or /static/<name>; Tornado passes None for the missing version.
ROUTE = rf"/static/(?:([0-9a-f]{{{VERSION_CHARS}}})/)?(.+)"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Assets:
    version: str
    files: Mapping[str, Asset]  # name relative to static/, "/"-separated → file
    page: bytes
    public: frozenset[str] = frozenset()  # names other origins may import: PUBLIC_ENTRY and its imports


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (recursively; dot files skipped) by its
    "/"-separated relative name."""
    files = {}
    for path in sorted(directory.rglob("*")):
        name = path.relative_to(directory).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in name.split("/")):
            files[name] = path.read_bytes()
    return files


def tree_version(files: Mapping[str, bytes]) -> str:
    """A hash of the names and contents: any change to any file changes it."""
    digest = hashlib.sha256()
    for name in sorted(files):
        body = files[name]
        digest.update(b"%d:%s%d:" % (len(name.encode()), name.encode(), len(body)))
        digest.update(body)
    return digest.hexdigest()[:VERSION_CHARS]


def versioned_page(html: bytes, version: str) -> bytes:
    """``html`` with each ``src="static/X"`` / ``href="static/X"`` made
    ``static/<version>/X``. References stay relative, so the page also works
    behind a proxy that serves it under a path prefix."""
    return _PAGE_REFERENCE.sub(rb"\1static/" + version.encode() + rb"/", html)


def module_graph(files: Mapping[str, bytes], entry: str) -> frozenset[str]:
    """``entry`` and every module it imports, directly or not, by relative URL
    (``from './x.js'``); empty when ``entry`` is not in ``files``. Imports of
    files the tree lacks are left out (the browser reports those)."""
    seen: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        if name in seen or name not in files:
            continue
        seen.add(name)
        base = posixpath.dirname(name)
        for spec in _IMPORT.findall(files[name]):
            todo.append(posixpath.normpath(posixpath.join(base, spec.decode("utf-8", "replace"))))
    return frozenset(seen)


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), UNKNOWN_TYPE)


def build_assets(files: Mapping[str, bytes]) -> Assets:
    """The served form of a static tree (``read_tree``'s result); KeyError if
    it has no ``index.html``."""
    version = tree_version(files)
    served = {name: Asset(body, content_type(name)) for name, body in files.items() if name != PAGE}
    return Assets(version, served, versioned_page(files[PAGE], version), module_graph(files, PUBLIC_ENTRY))


def load_assets(directory: Path, skip: tuple[str, ...] = ()) -> Assets:
    """The served form of ``directory``, leaving out its subdirectories named in ``skip``
    (static/admin is the admin page's own tree: ``chatd.admin.page``)."""
    files = read_tree(directory)
    return build_assets({name: body for name, body in files.items() if name.split("/")[0] not in skip})


class StaticHandler(SecurityHeaders, PlainRefusals, HeadAsGet, tornado.web.RequestHandler):
    """``/static/<version>/<name>`` (cached for a year) and ``/static/<name>``
    (revalidated); anything else under /static/ is a 404."""

    def initialize(self, assets: Assets) -> None:
        self.assets = assets

    def get(self, version: str | None, name: str) -> None:
        if version is None and name == PAGE:
            self.redirect("../", permanent=True)  # the page lives at /, where its relative URLs work
            return
        asset = self.assets.files.get(name)
        if asset is None:
            raise PlainRefused(404, f"there is no static file {shown_path(name)}")
        if version not in (None, self.assets.version):  # a page of an older (or newer) chatd: reloading mends it
            raise PlainRefused(404, f"the static files here are version {self.assets.version}, not {version}")
        if name in self.assets.public:
            self._allow_origin()
        self.set_header("Content-Type", asset.content_type)
        self.set_header("Cache-Control", VERSIONED_CACHE if version else REVALIDATE)
        self.write(asset.body)

    def _allow_origin(self) -> None:
        # The answer depends on Origin: caches must keep one per origin (RFC 9110 §12.5.5).
        self.set_header("Vary", "Origin")
        origin = self.request.headers.get("Origin")
        allowed = self.application.chat.config.allowed_origins  # type: ignore[attr-defined]
        if origin is not None and origin_allowed(origin, self.request.headers.get("Host"), allowed):
            self.set_header("Access-Control-Allow-Origin", origin)
