"""A run's headline figures from its tables, with no reference to the run itself, so
that `Run.summary()` and the analysis functions share one computation."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .stats import LEVELS, percentiles

__all__ = ["QUANTILES", "summarize"]

QUANTILES = {f"p{round(q * 100)}_ms": q for q in LEVELS}

def _pcts(values: pd.Series) -> dict[str, float]:
    return percentiles(values.astype("float64"), QUANTILES)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _resolved(res: pd.DataFrame) -> pd.DataFrame:
    return res[res["status"] == "resolved"]


def _none_if_nan(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v



def summarize(
    resolutions: pd.DataFrame, attempts: pd.DataFrame | None = None, *, n_works: int | None = None
) -> dict[str, Any]:
    """The headline figures as a JSON-ready dict (None where a figure is undefined).

    `coverage` is resolved / done works (works with a resolution); `pending` counts the
    works of the run not done yet; `latency_ms` holds p50/p95/p99 of the elapsed time of
    resolved works; `by_tier` / `by_source` count resolved works (by_source most first).
    """
    res = resolutions
    done = len(res)
    works = max(n_works if n_works is not None else done, done)
    counts = res["status"].value_counts()
    resolved = int(counts.get("resolved", 0))
    requests = int(res["requests"].sum())
    by_tier = _resolved(res)["tier"].value_counts(sort=False)
    by_source = _resolved(res)["source"].value_counts()
    out: dict[str, Any] = {
        "works": works,
        "done": done,
        "pending": works - done,
        "resolved": resolved,
        "not_found": int(counts.get("not_found", 0)),
        "budget_exhausted": int(counts.get("budget_exhausted", 0)),
        "failed_local": int(counts.get("failed_local", 0)),
        "transient": int(counts.get("transient", 0)),
        "error": int(counts.get("error", 0)),
        "coverage": _ratio(resolved, done),
        "attempts": int(len(attempts)) if attempts is not None else int(res["attempts"].sum()),
        "requests": requests,
        "requests_per_resolved": _ratio(requests, resolved),
        "latency_ms": {
            k.removesuffix("_ms"): _none_if_nan(v)
            for k, v in _pcts(_resolved(res)["elapsed_ms"]).items()
        },
        "by_tier": {str(t): int(n) for t, n in by_tier.items()},
        "by_source": {str(s): int(n) for s, n in by_source.items() if n},
    }
    return {k: _none_if_nan(v) for k, v in out.items()}
