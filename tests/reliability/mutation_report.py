"""Kill rates of `make mutate`, per module, and what each surviving mutant changes.

mutmut 3 keeps its verdicts in `mutants/<module>.py.meta` (exit code by mutant) and the
mutated functions beside the original in `mutants/<module>.py`. This script reads both,
so the figures in RELIABILITY.md can be redone from a finished run without rerunning it:

    .venv/bin/python tests/reliability/mutation_report.py            # JSON per module
    .venv/bin/python tests/reliability/mutation_report.py --survivors  # one line each

A survivor whose only change is inside a log call or the message of a raised exception
is sorted as `message`; every other survivor is `open` until a test kills it or
`mutation_explained.txt` says why no test can (an equivalent mutant). Each explanation
keeps the changed line it was written for: mutmut numbers a function's mutants in
order, so an edit of the function gives the name to another change, and the old
explanation is then reported `stale` (open), not silently reused.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.stats import status_by_exit_code

LOG_NAMES = {"log", "logger", "_log", "LOG", "logging", "warnings"}

# Survivors no test can kill (equivalent mutants), one per line:
# `<mutant> | <why> | <changed line, as --survivors prints it>`, under a `# <module>`
# header; written by hand after studying each with `mutmut show`.
EXPLAINED_FILE = Path(__file__).with_name("mutation_explained.txt")


@dataclass(frozen=True)
class Explanation:
    """Why a survivor is equivalent, and the changed line that reason was written for."""

    why: str
    change: str


def explained(path: Path = EXPLAINED_FILE) -> dict[str, Explanation]:
    """Mutant name -> its explanation (the changed line may itself hold ` | `: it is last)."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(" | ", 2)]
        if len(fields) != 3:
            raise ValueError(f"{path.name}:{number}: want `<mutant> | <why> | <changed line>`")
        out[fields[0]] = Explanation(why=fields[1], change=fields[2])
    return out


def status_of(code: int | None) -> str:
    """mutmut's own name for an exit code (`killed`, `survived`, `timeout`, ...)."""
    return str(status_by_exit_code[code])


def module_stats(meta: dict) -> dict[str, int | float]:
    """Counts of each status and the kill rate (killed + timeout over those checked)."""
    counts = Counter(status_of(code) for code in meta["exit_code_by_key"].values())
    caught = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    checked = caught + counts["survived"] + counts["suspicious"]
    return {**counts, "total": sum(counts.values()),
            "kill_rate": round(caught / checked, 3) if checked else 0.0}


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    """Every function of a mutants file by its mangled name, methods included."""
    return {node.name: node for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _statements(node: ast.AST) -> list[ast.stmt]:
    """Every statement inside a function, in order (the function itself left out)."""
    return [child for child in ast.walk(node) if isinstance(child, ast.stmt) and child is not node]


def _line(stmt: ast.stmt) -> str:
    """A statement as one comparable text: a compound one by its header only."""
    if isinstance(stmt, (ast.If, ast.While)):
        return f"{type(stmt).__name__.lower()} {ast.unparse(stmt.test)}:"
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return f"for {ast.unparse(stmt.target)} in {ast.unparse(stmt.iter)}:"
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return "with " + ", ".join(ast.unparse(item) for item in stmt.items) + ":"
    if hasattr(stmt, "body"):
        return type(stmt).__name__
    return ast.unparse(stmt)


def _is_message(stmt: ast.stmt) -> bool:
    """A log call or a `raise` of a constructed exception: text for people, not a rule."""
    if isinstance(stmt, ast.Raise):
        return isinstance(stmt.exc, ast.Call)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        func = stmt.value.func
        return isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in LOG_NAMES
    return False


def _without_strings(stmt: ast.stmt) -> str:
    """The statement with every string constant blanked, to see if only text changed."""
    copy = ast.parse(ast.unparse(stmt))
    for node in ast.walk(copy):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.unparse(copy)


def classify(functions: dict[str, ast.AST], key: str) -> tuple[str, str]:
    """(`message` or `open`, the changed line) for one survivor."""
    name = key.rsplit(".", 1)[-1]
    orig = functions.get(name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig")
    mutant = functions.get(name)
    if orig is None or mutant is None:
        return "open", "(function not found)"
    pairs = [(a, b) for a, b in zip(_statements(orig), _statements(mutant), strict=False)
             if _line(a) != _line(b)]
    if not pairs:  # a default argument changed: the signature tells
        args = ast.unparse(mutant.args)  # type: ignore[attr-defined]
        if args != ast.unparse(orig.args):  # type: ignore[attr-defined]
            return "open", f"def ({args})"[:160]
        return "open", "(no statement differs: see `mutmut show`)"
    changed = _line(pairs[0][1]).splitlines()[0][:160]
    textual = all(_is_message(a) and _without_strings(a) == _without_strings(b) for a, b in pairs)
    return ("message" if textual else "open"), changed


def survivors(root: Path, known: dict[str, Explanation] | None = None) -> list[dict[str, str]]:
    """Every surviving mutant with its module, category, changed line and explanation."""
    rows = []
    known = explained() if known is None else known
    for meta_path in sorted(root.rglob("*.py.meta")):
        meta = json.loads(meta_path.read_text())
        source = meta_path.with_suffix("")
        functions = _functions(ast.parse(source.read_text()))
        for key, code in sorted(meta["exit_code_by_key"].items()):
            if status_of(code) != "survived":
                continue
            category, line = classify(functions, key)
            why = ""
            if key in known:
                fits = known[key].change == line
                category = "equivalent" if fits else "stale"
                why = known[key].why if fits else f"written for: {known[key].change}"
            rows.append({"mutant": key, "module": str(source.relative_to(root)),
                         "category": category, "change": line, "why": why})
    return rows


def report(root: Path, known: dict[str, Explanation] | None = None) -> dict[str, dict]:
    """Per module: the status counts, the kill rate, and survivors by category."""
    sorted_out = Counter((row["module"], row["category"]) for row in survivors(root, known))
    out = {}
    for meta_path in sorted(root.rglob("*.py.meta")):
        module = str(meta_path.with_suffix("").relative_to(root))
        stats = module_stats(json.loads(meta_path.read_text()))
        stats["survivors_by_category"] = {cat: n for (mod, cat), n in sorted_out.items()
                                          if mod == module}
        out[module] = stats
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--survivors", action="store_true", help="one line per survivor")
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"no {args.mutants}/ folder: run `make mutate` first", file=sys.stderr)
        return 2
    if args.survivors:
        for row in survivors(args.mutants):
            why = f"  |  {row['why']}" if row["why"] else ""
            print(f"{row['category']:10} {row['mutant']}  |  {row['change']}{why}")
    else:
        print(json.dumps(report(args.mutants), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
