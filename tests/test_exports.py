"""The public API is exactly what __all__ says, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import fallback_kit


def test_all_names_resolve():
    """Every name in __all__ is importable from the package."""
    for name in fallback_kit.__all__:
        assert getattr(fallback_kit, name) is not None, name


def test_public_names_are_exported():
    """No public class or function of the package is missing from __all__."""
    import inspect

    public = {n for n, v in vars(fallback_kit).items()
              if not n.startswith("_") and not inspect.ismodule(v)
              and getattr(v, "__module__", "").startswith("fallback_kit")}
    assert public <= set(fallback_kit.__all__)


def test_import_does_not_load_pandas_or_matplotlib():
    """`import fallback_kit` keeps the heavy libraries out."""
    code = ("import sys, fallback_kit; "
            "print(sorted(m for m in ('pandas', 'matplotlib', 'ipywidgets', 'starlette') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_api_is_this_list():
    """The front door exports exactly these names (a change here is an API change)."""
    assert sorted(fallback_kit.__all__) == sorted([
        "Attempt", "ListSink", "Orchestrator", "Outcome", "Plan", "PlanError", "Resolution",
        "ResolutionStatus", "Run", "RunResult", "Sandbox", "Work", "WorkError",
        "WorksFileError", "WorksReport", "World", "__version__", "aresolve", "aresolve_many",
        "arun_works", "load_plan", "load_plan_text", "open_run", "read_works", "resolve",
        "resolve_many", "run_works",
    ])
