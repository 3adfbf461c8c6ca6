"""The folder tree is the layering (docs/architecture.md): a layer imports only the layers
below it, the sandbox is a wing reached only from the faces, and no modules import each
other in a circle. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / "fallback_kit"

# bottom to top: each layer may import itself and the layers before it
LAYERS = ["contracts", "web", "sources", "record", "engine", "insight", "faces"]
# the simulated web: built on the contracts only, and reached only from the faces
SANDBOX_MAY_IMPORT = {"contracts", "sandbox"}
SANDBOX_REACHED_FROM = {"faces"}
CORE = {"contracts", "web", "sources", "record", "engine"}
HEAVY = {"pandas", "matplotlib", "ipywidgets"}


def _dotted(path: Path, root: Path = PKG) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path, root: Path = PKG) -> list[str]:
    parts = _dotted(path, root).split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _typing_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never run)."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return hidden


def _imports(
    path: Path, root: Path = PKG, *, typing: bool = True
) -> tuple[set[str], set[str]]:
    """(modules of the package imported anywhere in the file, third-party top-level
    modules imported at module level); `typing=False` leaves out TYPE_CHECKING imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = set() if typing else _typing_only(tree)
    ours: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path, root)
                base = package[: len(package) - (node.level - 1)]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "fallback_kit":
                target = node.module.split(".")
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module
                ours.add(".".join([*target, alias.name]) if not node.module else ".".join(target))
        elif isinstance(node, ast.Import):
            ours.update(a.name for a in node.names if a.name.split(".")[0] == "fallback_kit")
    top: set[str] = set()
    for node in tree.body:  # module level: what `import fallback_kit` pays for
        if isinstance(node, ast.Import):
            top.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            top.add(node.module.split(".")[0])
    return ours, top


def _layer(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    return {_dotted(p): p for p in PKG.rglob("*.py")}


def test_every_module_lives_in_a_layer():
    """No module sits loose at the top of the package (its front door excepted)."""
    loose = [m for m in _modules() if _layer(m) not in {*LAYERS, "sandbox", ""}]
    assert loose == []


def test_no_layer_imports_a_higher_one():
    """Every import inside the package goes to the same layer or below."""
    faults = []
    for mod, path in _modules().items():
        me = _layer(mod)
        if me == "":
            continue  # the package's front door re-exports from every layer
        for other in map(_layer, _imports(path)[0]):
            if me == "sandbox":
                if other not in SANDBOX_MAY_IMPORT:
                    faults.append(f"{mod} imports {other}")
            elif other == "sandbox":
                if me not in SANDBOX_REACHED_FROM:
                    faults.append(f"{mod} imports the sandbox")
            elif other and LAYERS.index(other) > LAYERS.index(me):
                faults.append(f"{mod} imports {other}")
    assert faults == []


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        targets = set()
        for imp in _imports(path, typing=False)[0]:
            while imp and imp not in mods:  # `from .x import name` names x
                imp = imp.rpartition(".")[0]
            if imp and imp != mod and not mod.startswith(imp + "."):
                targets.add(imp)
        graph[mod] = targets
    return graph


def test_no_import_cycles():
    """No two modules import each other, directly or around a circle, when run (package
    front doors, which re-export their children, and TYPE_CHECKING imports are not
    counted as links)."""
    graph = _graph()
    inits = {_dotted(p) for p in PKG.rglob("__init__.py")}
    edges = {m: {t for t in ts if t not in inits} for m, ts in graph.items() if m not in inits}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_reader_sees_relative_imports_inside_functions(tmp_path):
    """A relative import inside a function, two levels up, is read as the module it names."""
    root = tmp_path / "fallback_kit"
    (root / "contracts").mkdir(parents=True)
    fake = root / "contracts" / "x.py"
    fake.write_text("def f():\n    from ..engine.batch import run\n    from . import works\n")
    ours, _ = _imports(fake, root)
    assert ours == {"fallback_kit.engine.batch", "fallback_kit.contracts.works"}


def test_core_does_not_import_heavy_libraries_at_import_time():
    """The core never imports pandas, matplotlib or ipywidgets at module level."""
    faults = []
    for mod, path in _modules().items():
        if _layer(mod) in CORE:
            _, top = _imports(path)
            faults += [f"{mod} imports {lib}" for lib in top & HEAVY]
    assert faults == []
