"""Figures over runs: coverage, per-source yield and latency, failure reasons, costs,
and the comparison of two runs on the same works.

Pure pandas, no plotting (plots.py draws these). Every function takes a `Run` (or a
run directory path); those that need only one table also take that DataFrame
(`run.attempts` or `run.resolutions`), so a notebook can pass a filtered frame.
Percentiles use pandas' linear interpolation (`Series.quantile`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .stored_run import Run, open_run

__all__ = [
    "Comparison",
    "compare_runs",
    "coverage",
    "coverage_by_source",
    "coverage_by_tier",
    "failure_reasons",
    "host_stats",
    "latency_percentiles",
    "requests_per_resolved",
    "source_stats",
    "summarize",
    "time_lost",
]

QUANTILES = {"p50_ms": 0.50, "p95_ms": 0.95, "p99_ms": 0.99}
NOT_TRIED = ("not_applicable", "skipped")  # no request was made
FAILED = ("retryable", "nonretryable", "error", "invalid_pdf")

RunLike = Run | str | os.PathLike[str]


def _run(x: RunLike) -> Run:
    return open_run(x) if isinstance(x, str | os.PathLike) else x


def _resolutions(x: RunLike | pd.DataFrame) -> pd.DataFrame:
    return x if isinstance(x, pd.DataFrame) else _run(x).resolutions


def _attempts(x: RunLike | pd.DataFrame) -> pd.DataFrame:
    return x if isinstance(x, pd.DataFrame) else _run(x).attempts


def _pcts(values: pd.Series) -> dict[str, float]:
    values = values.dropna().astype("float64")
    if values.empty:
        return {k: math.nan for k in QUANTILES}
    return {k: float(values.quantile(q)) for k, q in QUANTILES.items()}


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def _resolved(res: pd.DataFrame) -> pd.DataFrame:
    return res[res["status"] == "resolved"]


def _none_if_nan(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


# ---- headline figures -----------------------------------------------------------------


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


def coverage(run: RunLike | pd.DataFrame) -> float:
    """Share of done works that were resolved (NaN for a run with no done work)."""
    res = _resolutions(run)
    return _ratio(int((res["status"] == "resolved").sum()), len(res))


def requests_per_resolved(run: RunLike | pd.DataFrame) -> float:
    """All requests the run spent, divided by the works it resolved."""
    res = _resolutions(run)
    return _ratio(int(res["requests"].sum()), int((res["status"] == "resolved").sum()))


def coverage_by_tier(run: RunLike) -> pd.DataFrame:
    """Per tier in plan order: works that reached it, works it resolved, its share of all
    done works and the cumulative coverage (the waterfall)."""
    r = _run(run)
    res, att = r.resolutions, r.attempts
    done = len(res)
    reached = att.groupby("tier", observed=False)["work_id"].nunique()
    resolved = _resolved(res)["tier"].value_counts(sort=False)
    tiers = list(res["tier"].cat.categories)
    df = pd.DataFrame({
        "tier": tiers,
        "reached": [int(reached.get(t, 0)) for t in tiers],
        "resolved": [int(resolved.get(t, 0)) for t in tiers],
    })
    df["coverage"] = df["resolved"] / done if done else math.nan
    df["cumulative"] = df["coverage"].cumsum()
    return df


def coverage_by_source(run: RunLike) -> pd.DataFrame:
    """Per source: works it was tried on, works it found a PDF for, works it won (the
    resolution credits it), and coverage = won / done works."""
    r = _run(run)
    res, att = r.resolutions, r.attempts
    done = len(res)
    tried_rows = att[~att["outcome"].isin(NOT_TRIED)]
    tried = tried_rows.groupby("source", observed=False)["work_id"].nunique()
    found = att[att["outcome"] == "success"].groupby("source", observed=False)["work_id"].nunique()
    wins = _resolved(res)["source"].value_counts(sort=False)
    sources = sorted(set(att["source"].dropna()) | set(_resolved(res)["source"].dropna()))
    df = pd.DataFrame({
        "source": sources,
        "tried": [int(tried.get(s, 0)) for s in sources],
        "found": [int(found.get(s, 0)) for s in sources],
        "wins": [int(wins.get(s, 0)) for s in sources],
    })
    df["coverage"] = df["wins"] / done if done else math.nan
    return df.sort_values(["wins", "source"], ascending=[False, True], ignore_index=True)


# ---- attempts ---------------------------------------------------------------------------


def _attempt_table(att: pd.DataFrame, key: str) -> pd.DataFrame:
    rows = []
    for name, g in att.groupby(key, observed=True, sort=False):
        tries = g[~g["outcome"].isin(NOT_TRIED)]
        successes = int((g["outcome"] == "success").sum())
        rows.append({
            key: str(name),
            "attempts": len(g),
            "tries": len(tries),
            "successes": successes,
            "yield": _ratio(successes, len(tries)),
            **_pcts(tries["duration_ms"]),
            "timeouts": int((g["outcome"] == "timeout").sum()),
            "cancelled": int((g["outcome"] == "cancelled").sum()),
            "failures": int(g["outcome"].isin(FAILED).sum()),
            "skipped": int((g["outcome"] == "skipped").sum()),
            "retries": int(g["retries"].sum()),
        })
    columns = [key, "attempts", "tries", "successes", "yield", *QUANTILES, "timeouts",
               "cancelled", "failures", "skipped", "retries"]
    df = pd.DataFrame(rows, columns=columns)
    return df.sort_values(["tries", key], ascending=[False, True], ignore_index=True)


def source_stats(run: RunLike | pd.DataFrame) -> pd.DataFrame:
    """Per source: attempts, tries (requests made: not not_applicable/skipped), successes,
    yield = successes / tries, P50/P95/P99 of try durations, timeouts, cancelled,
    failures (retryable, nonretryable, error, invalid_pdf), skipped, retries."""
    return _attempt_table(_attempts(run), "source")


def host_stats(run: RunLike | pd.DataFrame) -> pd.DataFrame:
    """The same figures as `source_stats`, per host (attempts without a host left out)."""
    att = _attempts(run)
    return _attempt_table(att[att["host"].notna()], "host")


def failure_reasons(
    run: RunLike | pd.DataFrame, *, exclude: Iterable[str] = ("success", "not_applicable")
) -> pd.DataFrame:
    """Attempts that did not succeed, by (outcome, reason), most frequent first, with
    each pair's share of them."""
    att = _attempts(run)
    att = att[~att["outcome"].isin(list(exclude))]
    counts = (
        att.groupby(["outcome", "reason"], observed=True).size().rename("count").reset_index()
    )
    counts["outcome"] = counts["outcome"].astype("str")
    counts["reason"] = counts["reason"].astype("str")
    total = int(counts["count"].sum())
    counts["count"] = counts["count"].astype("int64")
    counts["share"] = counts["count"] / total if total else math.nan
    return counts.sort_values(
        ["count", "outcome", "reason"], ascending=[False, True, True], ignore_index=True
    )[["outcome", "reason", "count", "share"]]


def time_lost(run: RunLike | pd.DataFrame, *, by: str = "outcome") -> pd.DataFrame:
    """Time spent in attempts that did not win (cancelled, failed, timed out, no PDF),
    grouped `by` outcome, source, tier or host; share is of all attempt time."""
    if by not in ("outcome", "source", "tier", "host"):
        raise ValueError(f"by must be outcome, source, tier or host, not {by!r}")
    att = _attempts(run)
    total = float(att["duration_ms"].sum())
    lost = att[att["outcome"] != "success"]
    df = (
        lost.groupby(by, observed=True)["duration_ms"]
        .agg(attempts="size", lost_ms="sum", mean_ms="mean")
        .reset_index()
    )
    df[by] = df[by].astype("str")
    df["attempts"] = df["attempts"].astype("int64")
    df["share"] = df["lost_ms"] / total if total else math.nan
    return df.sort_values(["lost_ms", by], ascending=[False, True], ignore_index=True)


def latency_percentiles(run: RunLike | pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """P50/P95/P99 (and mean, max) of the elapsed time of resolved works, overall or
    grouped by the winning `source` or `tier`."""
    if by not in (None, "source", "tier"):
        raise ValueError(f"by must be None, 'source' or 'tier', not {by!r}")
    res = _resolved(_resolutions(run))

    def row(values: pd.Series) -> dict[str, Any]:
        return {"works": len(values), **_pcts(values),
                "mean_ms": float(values.mean()) if len(values) else math.nan,
                "max_ms": float(values.max()) if len(values) else math.nan}

    if by is None:
        return pd.DataFrame([row(res["elapsed_ms"])])
    rows = [{by: str(name), **row(g["elapsed_ms"])}
            for name, g in res.groupby(by, observed=True)]
    return pd.DataFrame(rows, columns=[by, "works", *QUANTILES, "mean_ms", "max_ms"])


# ---- two runs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Two runs on their common works: headline figures side by side (`summary`, with
    delta = b - a) and the works found by one run only (`differences`)."""

    a: str
    b: str
    common: int
    only_in_a: int
    only_in_b: int
    summary: pd.DataFrame
    differences: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        summary = {
            metric: {k: _none_if_nan(float(v)) for k, v in row.items()}
            for metric, row in self.summary.to_dict(orient="index").items()
        }
        diffs = [
            {k: _none_if_nan(v) for k, v in rec.items()}
            for rec in self.differences.astype("object").to_dict(orient="records")
        ]
        return {"a": self.a, "b": self.b, "common": self.common, "only_in_a": self.only_in_a,
                "only_in_b": self.only_in_b, "summary": summary, "differences": diffs}

    def __repr__(self) -> str:
        cov = self.summary.loc["coverage"]
        return (
            f"Comparison(a={self.a!r}, b={self.b!r}, common={self.common}, "
            f"coverage {cov['a']:.1%} -> {cov['b']:.1%}, "
            f"found only by a={int((self.differences['change'] == 'only_a').sum())}, "
            f"only by b={int((self.differences['change'] == 'only_b').sum())})"
        )


def _side(res: pd.DataFrame) -> dict[str, float]:
    s = summarize(res)
    return {
        "works": float(s["done"]),
        "resolved": float(s["resolved"]),
        "coverage": _ratio(s["resolved"], s["done"]),
        "p50_ms": _pcts(_resolved(res)["elapsed_ms"])["p50_ms"],
        "p95_ms": _pcts(_resolved(res)["elapsed_ms"])["p95_ms"],
        "p99_ms": _pcts(_resolved(res)["elapsed_ms"])["p99_ms"],
        "requests": float(s["requests"]),
        "requests_per_resolved": _ratio(s["requests"], s["resolved"]),
    }


def compare_runs(a: RunLike, b: RunLike) -> Comparison:
    """Compare two runs on the works both have finished (raises ValueError if none)."""
    ra, rb = _run(a), _run(b)
    res_a, res_b = ra.resolutions, rb.resolutions
    ids_a, ids_b = set(res_a["work_id"]), set(res_b["work_id"])
    common = ids_a & ids_b
    if not common:
        raise ValueError(f"runs {ra.path} and {rb.path} have no finished work in common")
    ca = res_a[res_a["work_id"].isin(common)]
    cb = res_b[res_b["work_id"].isin(common)]
    side_a, side_b = _side(ca), _side(cb)
    summary = pd.DataFrame({"a": side_a, "b": side_b})
    summary["delta"] = summary["b"] - summary["a"]

    cols = ["work_id", "status", "source", "reason"]
    merged = ca[cols].merge(cb[cols], on="work_id", suffixes=("_a", "_b"))
    found_a = merged["status_a"].astype("str") == "resolved"
    found_b = merged["status_b"].astype("str") == "resolved"
    diff = merged[found_a != found_b].copy()
    diff["change"] = ["only_a" if s == "resolved" else "only_b" for s in diff["status_a"]]
    out = pd.DataFrame({
        "work_id": diff["work_id"].astype("str"),
        "change": diff["change"],
        "a_status": diff["status_a"].astype("str"),
        "a_source": diff["source_a"].astype("object"),
        "a_reason": diff["reason_a"].astype("object"),
        "b_status": diff["status_b"].astype("str"),
        "b_source": diff["source_b"].astype("object"),
        "b_reason": diff["reason_b"].astype("object"),
    })
    out = out.sort_values(["change", "work_id"], ignore_index=True)
    return Comparison(a=str(ra.path), b=str(rb.path), common=len(common),
                      only_in_a=len(ids_a - ids_b), only_in_b=len(ids_b - ids_a),
                      summary=summary, differences=out)
