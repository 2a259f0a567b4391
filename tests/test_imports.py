"""The package's import graph, read from the source with ``ast``: no import
circles, ``chatd.status`` and ``chatd.protocol.codes`` leaves, ``chatd.cli`` imported only by the entry
points, the core free of the web layer (/work/shared/DESIGN.md, "Target layout")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chatd"
ENTRY_POINTS = {"chatd.__main__"}  # `python -m chatd`; the console script names chatd.cli:main itself
LEAVES = {"chatd.status", "chatd.protocol.codes"}
CORE = ("chatd.chat", "chatd.identity", "chatd.admission", "chatd.replies", "chatd.hub", "chatd.session",
        "chatd.protocol", "chatd.store", "chatd.bus")  # never import chatd.web


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _walk_runtime(node: ast.AST):
    """Every node under ``node`` except those in ``if TYPE_CHECKING:`` blocks
    (annotations only: they never run, so they make no import circle)."""
    for child in ast.iter_child_nodes(node):
        if not _type_checking_only(child):
            yield child
            yield from _walk_runtime(child)


def imports_of(name: str) -> set[str]:
    """The chatd modules ``name`` imports anywhere in its code (function-level
    imports too: a lazy import is still a dependency). ``from pkg import x``
    counts as importing ``pkg.x`` when that is a module, else ``pkg``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk_runtime(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path [a, b, …, a], or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return path[path.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_is_read():
    # the checks below mean something only if the parser sees the imports
    assert "chatd.status" in GRAPH["chatd.commands"] and "chatd.lifecycle" in GRAPH["chatd.cli"]
    assert "chatd.web.connection" in GRAPH["chatd.web.handshake"]


def test_no_import_circles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " → ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_leaves_import_nothing_from_chatd():
    for leaf in LEAVES:
        assert GRAPH[leaf] == set(), f"{leaf} must import nothing from chatd, imports {sorted(GRAPH[leaf])}"


def test_only_the_entry_points_import_the_cli():
    importers = {name for name, deps in GRAPH.items() if "chatd.cli" in deps}
    assert importers <= ENTRY_POINTS, f"{sorted(importers - ENTRY_POINTS)} import chatd.cli"


def test_the_core_never_imports_the_web_layer():
    for name, deps in GRAPH.items():
        if name.startswith(CORE):
            web = sorted(d for d in deps if d == "chatd.web" or d.startswith("chatd.web."))
            assert not web, f"{name} imports {web}"
