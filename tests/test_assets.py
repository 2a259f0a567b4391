"""The static tree as served: versions, the page's references, the module graph."""

from __future__ import annotations

import io
import json
import posixpath
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from PIL import Image

from chatd.admin.page import admin_assets
from chatd.web import STATIC_DIR
from chatd.web.assets import (
    PAGE,
    PUBLIC_ENTRY,
    UNKNOWN_TYPE,
    build_assets,
    content_type,
    load_assets,
    module_graph,
    read_tree,
    tree_version,
)

TREE = {PAGE: b'<link rel="stylesheet" href="static/style.css"><script type="module" src="static/app.js"></script>'
              b'<a href="#x">static/app.js in text</a>',
        "style.css": b"body {}", "app.js": b"import './dom.js';", "dom.js": b"export {};"}
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]""", re.M)


@pytest.mark.parametrize("change", [
    {"app.js": b"import './dom.js'; // new"},  # a module's content
    {"new.js": b""},  # a file added
    {"dom.js": None},  # a file removed
    {PAGE: TREE[PAGE] + b" "},  # the page
])
def test_any_change_to_the_tree_changes_the_version(change):
    changed = {k: v for k, v in {**TREE, **change}.items() if v is not None}
    assert tree_version(changed) != tree_version(TREE)


def test_the_same_tree_always_has_the_same_version():
    assert tree_version(dict(reversed(TREE.items()))) == tree_version(TREE)  # the order files were read in: no matter
    assert tree_version({"ab": b"c"}) != tree_version({"a": b"bc"})  # names and contents cannot trade bytes


def test_the_page_references_its_files_by_version_and_relative_url():
    assets = build_assets(TREE)
    v = assets.version
    assert assets.page == (f'<link rel="stylesheet" href="static/{v}/style.css">'
                           f'<script type="module" src="static/{v}/app.js"></script>'
                           '<a href="#x">static/app.js in text</a>').encode()
    assert PAGE not in assets.files  # the page is served at /, not as a static file
    assert set(assets.files) == {"style.css", "app.js", "dom.js"}


@pytest.mark.parametrize(("name", "expected"), [
    ("app.js", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8"),
    ("admin/Logo.PNG", "image/png"), ("README", UNKNOWN_TYPE), ("x.exe", UNKNOWN_TYPE),
])
def test_content_types_come_from_a_fixed_table(name, expected):
    assert content_type(name) == expected


def test_read_tree_takes_subdirectories_and_skips_dot_files(tmp_path: Path):
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "page.js").write_bytes(b"a")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_bytes(b"x")
    (tmp_path / ".page.js.swp").write_bytes(b"x")
    (tmp_path / "app.js").write_bytes(b"b")
    assert read_tree(tmp_path) == {"admin/page.js": b"a", "app.js": b"b"}


@pytest.mark.parametrize("assets", [load_assets(STATIC_DIR, skip=("admin",)), admin_assets(STATIC_DIR, "admin")],
                         ids=["chat page", "admin page"])
def test_the_shipped_page_loads_only_versioned_files_and_every_module_import_is_shipped(assets):
    """Relative imports resolve inside static/<version>/ only if each target is in the tree
    (the chat page's, and the admin page's: its own files and the chat page's i18n.js, chatd.admin.page)."""
    references = re.findall(rb'(?:src|href)="(static/[^"]*)"', assets.page)
    assert references and all(r.startswith(f"static/{assets.version}/".encode()) for r in references)
    for name, asset in assets.files.items():
        if name.endswith(".js"):
            for target in (a or b for a, b in IMPORT.findall(asset.body.decode())):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                assert target.startswith(".") and resolved in assets.files, f"{name} imports {target}"
    assert {"i18n/en.json", "i18n/zh-CN.json"} <= set(assets.files), "the catalogues i18n.js fetches"


def test_the_admin_tree_is_its_own_files_and_the_chat_pages_language_module_only():
    """The admin shell is its page; the chat page's other modules are not under /admin/static."""
    assets = admin_assets(STATIC_DIR, "admin")
    assert b'data-catalogues="admin"' in assets.page
    assert {"admin/admin.js", "i18n.js", "prefs.js", "i18n/admin/zh-CN.json"} <= set(assets.files)
    assert "app.js" not in assets.files and PUBLIC_ENTRY not in assets.files and not assets.public


def test_the_module_graph_follows_relative_imports_and_re_exports():
    files = {"entry.js": b"import { a } from './a.js';\nexport { b } from \"./lib/b.js\";\nimport 'https://x/y.js';",
             "a.js": b"import {\n  c,\n} from './lib/c.js';", "lib/b.js": b"import '../a.js'; import './gone.js';",
             "lib/c.js": b"", "app.js": b"import './entry.js';"}
    assert module_graph(files, "entry.js") == {"entry.js", "a.js", "lib/b.js", "lib/c.js"}
    assert module_graph(files, "missing.js") == frozenset()


def test_other_origins_may_import_the_public_client_and_its_modules_only():
    assets = build_assets(read_tree(STATIC_DIR))
    assert PUBLIC_ENTRY in assets.public and "connection.js" in assets.public
    assert assets.public <= set(assets.files)
    assert "app.js" not in assets.public  # the page's own modules stay same-origin


def test_the_web_app_manifest_and_its_icons_are_served_with_their_types():
    """Installable: the page links the manifest and an apple-touch-icon; the manifest's icons
    (any and maskable, 192 and 512 px) are PNGs of the sizes it says, served as image/png; its
    start_url, relative to the manifest's versioned URL (static/<version>/), is the page."""
    assets = build_assets(read_tree(STATIC_DIR))
    page = assets.page.decode()
    link = re.search(r'<link rel="manifest" href="(static/[^"]+)">', page)
    assert link and re.search(r'<link rel="apple-touch-icon" href="static/[^"]+\.png">', page)
    assert len(re.findall(r'<meta name="theme-color" content="#[0-9a-f]{6}" media="\(prefers-color-scheme', page)) == 2
    name = link.group(1).removeprefix(f"static/{assets.version}/")
    assert assets.files[name].content_type == "application/manifest+json"
    manifest = json.loads(assets.files[name].body)
    assert manifest["name"] and manifest["short_name"] and manifest["lang"] and manifest["display"] == "standalone"
    page_url = "https://chat.example/"
    assert urljoin(urljoin(page_url, link.group(1)), manifest["start_url"]) == page_url
    seen = set()
    for icon in manifest["icons"]:
        asset = assets.files[posixpath.normpath(posixpath.join(posixpath.dirname(name), icon["src"]))]
        assert asset.content_type == icon["type"] == "image/png"
        width, height = Image.open(io.BytesIO(asset.body)).size
        assert f"{width}x{height}" == icon["sizes"]
        seen.add((icon["purpose"], width))
    assert {("any", 192), ("any", 512), ("maskable", 192), ("maskable", 512)} <= seen
