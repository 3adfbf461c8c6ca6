"""Lower floors never import higher ones (DESIGN.md, "Data flow")."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / "fallback_kit"

# floor of each module: a module may import only modules on its floor or below
FLOORS = {
    "works": 0, "plan": 0, "events": 0, "redact": 0, "html_links": 0,
    "resilience": 1,
    "net": 2, "politeness": 3,
    "sources": 4,
    "orchestrator": 5, "api": 6, "simulate": 5,
    "store": 6, "downloads": 7, "tuning": 7, "run": 8, "analysis": 8,
    "sandbox": 1,  # a separate wing: reached only through an httpx transport
    "runner": 9, "plots": 9, "widgets": 9, "cli": 10,
}
CORE = {"works", "plan", "events", "redact", "html_links", "resilience", "net", "politeness",
        "sources", "orchestrator", "api", "simulate", "store", "downloads"}
HEAVY = {"pandas", "matplotlib", "ipywidgets"}


def _module_of(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return rel.parts[0]


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(package modules imported, third-party top-level modules imported at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours: set[str] = set()
    top: set[str] = set()
    depth = len(path.relative_to(PKG).parts) - 1
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = (node.module or "").split(".")
            if node.level - 1 < depth:  # relative inside a sub-package
                continue
            if parts[0]:
                ours.add(parts[0])
            else:
                ours.update(alias.name for alias in node.names)
    for node in tree.body:  # module level only: lazy imports inside functions are fine
        if isinstance(node, ast.Import):
            top.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            top.add(node.module.split(".")[0])
    return ours, top


def test_no_module_imports_a_higher_floor():
    """Every import inside the package goes to the same floor or below."""
    faults = []
    for path in PKG.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PKG:
            continue  # the package's front door re-exports from every floor
        me = _module_of(path)
        ours, _ = _imports(path)
        for other in ours:
            if other in FLOORS and other != me and FLOORS[other] > FLOORS[me]:
                faults.append(f"{path.relative_to(PKG)} imports {other}")
    assert faults == []


def test_core_does_not_import_heavy_libraries_at_import_time():
    """The core never imports pandas, matplotlib or ipywidgets at module level."""
    faults = []
    for path in PKG.rglob("*.py"):
        if _module_of(path) in CORE:
            _, top = _imports(path)
            faults += [f"{path.relative_to(PKG)} imports {lib}" for lib in top & HEAVY]
    assert faults == []
