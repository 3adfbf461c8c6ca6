"""fallback_kit: find a validated open-access PDF for each scholarly work by walking a
tiered, budgeted fallback plan over many sources, recording every attempt.

    >>> import fallback_kit as fk
    >>> works = fk.read_works("sample_works.csv")
    >>> plan = fk.load_plan("plans/default.yaml")
    >>> result = fk.run_works(works, plan, out="runs/demo")      # on the sandbox
    >>> run = fk.open_run("runs/demo"); run.resolutions.head()

Heavy parts (pandas, the sandbox server) load on first use, so `import fallback_kit`
stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .contracts.events import Attempt, ListSink, Outcome, Resolution, ResolutionStatus
from .contracts.plan import Plan, PlanError, load_plan, load_plan_text
from .contracts.works import Work, WorkError, WorksFileError, WorksReport, read_works
from .engine.orchestrator import Orchestrator
from .faces.api import (
    RunResult,
    aresolve,
    aresolve_many,
    arun_works,
    resolve,
    resolve_many,
    run_works,
)

if TYPE_CHECKING:  # pragma: no cover
    from .insight.stored_run import Run, open_run
    from .sandbox import Sandbox, World

__version__ = "0.1.0"

__all__ = [
    "Attempt",
    "ListSink",
    "Orchestrator",
    "Outcome",
    "Plan",
    "PlanError",
    "Resolution",
    "ResolutionStatus",
    "Run",
    "RunResult",
    "Sandbox",
    "Work",
    "WorkError",
    "WorksFileError",
    "WorksReport",
    "World",
    "__version__",
    "aresolve",
    "aresolve_many",
    "arun_works",
    "load_plan",
    "load_plan_text",
    "open_run",
    "read_works",
    "resolve",
    "resolve_many",
    "run_works",
]

_LAZY = {
    "open_run": ".insight.stored_run",
    "Run": ".insight.stored_run",
    "Sandbox": ".sandbox",
    "World": ".sandbox",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fallback_kit' has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)
