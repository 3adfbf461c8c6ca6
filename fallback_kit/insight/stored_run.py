"""A finished (or running) run, read back as typed pandas DataFrames for notebooks.

`open_run("runs/sample")` reads the run store once, read-only, and closes it; the
DataFrames are built on first use. A work resolved again (a resume, `--retry-failed`)
has several rounds: `attempts` and `resolutions` show each work's latest round (what
the summary, the table and the analyses read), `all_attempts` and `all_resolutions`
every round, and `retries` the sessions that resolved works again.

Columns keep the names of the events (events.py), with `category` dtypes for the
repeated labels (outcome, source, tier, status, reason, host) so that group-bys list
every outcome and every tier in plan order, even empty ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..contracts.events import Outcome, ResolutionStatus
from ..record.store import RunStore

if TYPE_CHECKING:  # pragma: no cover
    from ..contracts.plan import Plan

__all__ = ["Run", "open_run"]

OUTCOMES = [str(o) for o in Outcome]
STATUSES = [str(s) for s in ResolutionStatus]
_BREAKER_STATES = ["closed", "open", "half_open"]


def open_run(path: str | os.PathLike[str]) -> Run:
    """Open the run in directory `path` (or its `run.sqlite`); raises StoreError naming it."""
    store = RunStore.open(path, read_only=True)
    try:
        info = store.run_info()
        tables = {name: store.table(name) for name in
                  ("attempts", "resolutions", "works", "downloads", "breaker_events",
                   "retries")}
    finally:
        store.close()
    return Run(store.dir, info, tables)


def _tier_order(plan_yaml: str, seen: Sequence[Any]) -> list[str]:
    """Tiers in plan order (from the YAML when it parses), then any others as first seen."""
    order: list[str] = []
    try:
        from ..contracts.safe_yaml import load_yaml

        doc = load_yaml(plan_yaml)
        for tier in (doc or {}).get("tiers") or []:
            name = tier.get("name") if isinstance(tier, dict) else None
            if isinstance(name, str) and name not in order:
                order.append(name)
    except Exception:  # an odd plan text still gives a readable run
        pass
    for name in seen:
        if isinstance(name, str) and name not in order:
            order.append(name)
    return order


def _frame(columns: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=columns)


def _categorical(values: pd.Series, categories: Sequence[str] | None = None) -> pd.Series:
    if categories is None:
        categories = list(dict.fromkeys(v for v in values if isinstance(v, str)))
    return pd.Categorical(values, categories=list(categories))


def _meta_column(values: pd.Series) -> list[dict[str, Any]]:
    return [json.loads(v) if isinstance(v, str) and v else {} for v in values]


class Run:
    """One run: `.attempts`, `.resolutions` (each work's latest round), `.all_attempts`,
    `.all_resolutions` (every round), `.retries`, `.works`, `.downloads`,
    `.breaker_events` (DataFrames), `.plan_yaml`, `.meta`, `.summary()`."""

    def __init__(
        self,
        path: Path,
        info: dict[str, Any],
        tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]],
    ) -> None:
        self.path = Path(path)
        self._info = info
        self._tables = tables

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_id(self) -> str:
        return str(self._info["run_id"])

    @property
    def plan_yaml(self) -> str:
        return str(self._info["plan_yaml"])

    @property
    def plan(self) -> Plan:
        """The plan this run walked, parsed again from its stored YAML."""
        from ..contracts.plan import load_plan_text

        return load_plan_text(self.plan_yaml, source=f"{self.path / 'run.sqlite'} (plan)")

    @property
    def meta(self) -> dict[str, Any]:
        """The run row: run_id, plan_hash, network_mode, sandbox_profile, sandbox_seed,
        time_scale, versions, works_source, started_at, ended_at, status, extra."""
        return {k: v for k, v in self._info.items() if k != "plan_yaml"}

    @cached_property
    def tiers(self) -> list[str]:
        """Tier names in plan order."""
        seen = [r[3] for r in self._tables["attempts"][1]]
        seen += [r[6] for r in self._tables["resolutions"][1]]
        return _tier_order(self.plan_yaml, seen)

    @cached_property
    def all_attempts(self) -> pd.DataFrame:
        """One row per source try of every round; `duration_ms` = t_end_ms - t_start_ms."""
        df = _frame(*self._tables["attempts"])
        out = pd.DataFrame({
            "seq": df["seq"].astype("int64"),
            "run_id": df["run_id"].astype("str"),
            "work_id": df["work_id"].astype("str"),
            "tier": _categorical(df["tier"], self.tiers),
            "source": _categorical(df["source"]),
            "outcome": _categorical(df["outcome"], OUTCOMES),
            "reason": _categorical(df["reason"]),
            "url": df["url"].astype("object"),
            "status": df["status"].astype("Int64"),
            "host": _categorical(df["host"]),
            "retries": df["retries"].astype("int64"),
            "t_start_ms": df["t_start_ms"].astype("float64"),
            "t_end_ms": df["t_end_ms"].astype("float64"),
            "bytes": df["bytes"].astype("int64"),
            "meta": _meta_column(df["meta"]),
            "round": df["round"].astype("int64"),
        }, index=pd.RangeIndex(len(df)))
        out.insert(13, "duration_ms", out["t_end_ms"] - out["t_start_ms"])
        return out

    @cached_property
    def attempts(self) -> pd.DataFrame:
        """The source tries of each work's latest round (`all_attempts` has them all)."""
        latest = self.resolutions.set_index("work_id")["round"]
        att = self.all_attempts
        keep = att["round"].to_numpy() == att["work_id"].map(latest).to_numpy()
        return att[keep].reset_index(drop=True)

    @cached_property
    def all_resolutions(self) -> pd.DataFrame:
        """One row per resolution of every round, in the order they were written."""
        df = _frame(*self._tables["resolutions"])
        return pd.DataFrame({
            "seq": df["seq"].astype("int64"),
            "run_id": df["run_id"].astype("str"),
            "work_id": df["work_id"].astype("str"),
            "status": _categorical(df["status"], STATUSES),
            "pdf_url": df["pdf_url"].astype("object"),
            "source": _categorical(df["source"]),
            "tier": _categorical(df["tier"], self.tiers),
            "elapsed_ms": df["elapsed_ms"].astype("float64"),
            "attempts": df["attempts"].astype("int64"),
            "requests": df["requests"].astype("int64"),
            "reason": _categorical(df["reason"]),
            "meta": _meta_column(df["meta"]),
            "round": df["round"].astype("int64"),
        }, index=pd.RangeIndex(len(df)))

    @cached_property
    def resolutions(self) -> pd.DataFrame:
        """Each work's latest resolution, in the order they were written; `round` says
        which (1 = the work's first; `all_resolutions` has the earlier ones)."""
        res = self.all_resolutions
        last = res.groupby("work_id", sort=False)["round"].transform("max")
        return res[res["round"] == last].reset_index(drop=True)

    @cached_property
    def retries(self) -> pd.DataFrame:
        """The sessions that resolved works again: the statuses each one redid, when it
        started and ended (NaT while it is cut short and to be resumed)."""
        df = _frame(*self._tables["retries"])
        return pd.DataFrame({
            "seq": df["seq"].astype("int64"),
            "statuses": [json.loads(v) for v in df["statuses"]],
            "started_at": pd.to_datetime(df["started_at"].astype("str"), utc=True,
                                         format="ISO8601"),
            "ended_at": pd.to_datetime(df["ended_at"], utc=True, format="ISO8601"),
        }, index=pd.RangeIndex(len(df)))

    @cached_property
    def works(self) -> pd.DataFrame:
        """The run's works with their identifiers (None where a work has none); the
        user's own columns are in `table()`."""
        df = _frame(*self._tables["works"]).drop(columns="columns", errors="ignore")
        return df.astype("object").where(df.notna(), None)

    @cached_property
    def downloads(self) -> pd.DataFrame:
        """The download manifest: which file holds which work's PDF."""
        df = _frame(*self._tables["downloads"])
        paths = [p if os.path.isabs(p) else str(self.path / p) for p in df["path"]]
        return pd.DataFrame({
            "work_id": df["work_id"].astype("str"),
            "sha256": df["sha256"].astype("str"),
            "bytes": df["bytes"].astype("int64"),
            "source": _categorical(df["source"]),
            "url": df["url"].astype("object"),
            "path": pd.Series(paths, dtype="str", index=df.index),
            "version": df["version"].astype("object"),
            "license": df["license"].astype("object"),
            "at": pd.to_datetime(df["at"].astype("str"), utc=True, format="ISO8601"),
        }, index=pd.RangeIndex(len(df)))

    @cached_property
    def breaker_events(self) -> pd.DataFrame:
        """Breaker state changes per host, `at_s` on the run's clock."""
        df = _frame(*self._tables["breaker_events"])
        return pd.DataFrame({
            "seq": df["seq"].astype("int64"),
            "host": _categorical(df["host"]),
            "old": _categorical(df["old"], _BREAKER_STATES),
            "new": _categorical(df["new"], _BREAKER_STATES),
            "at_s": df["at_s"].astype("float64"),
            "failures": df["failures"].astype("int64"),
        }, index=pd.RangeIndex(len(df)))

    @property
    def work_ids(self) -> list[str]:
        """Every work the run knows (added works, then any resolved but not added)."""
        ids = list(dict.fromkeys(r[0] for r in self._tables["works"][1]))
        known = set(ids)
        ids += [r[2] for r in self._tables["resolutions"][1] if r[2] not in known]
        return ids

    def summary_dict(self) -> dict[str, Any]:
        """Headline figures as a JSON-ready dict: counts by status, coverage, requests per
        resolved work, `latency_ms` P50/P95/P99 of resolved works, resolved works by tier
        and by source."""
        from .summary import summarize

        return {"run_id": self.run_id, "status": self._info["status"],
                **summarize(self.resolutions, self.attempts, n_works=len(self.work_ids))}

    def summary(self, *, as_dict: bool = False) -> pd.Series | dict[str, Any]:
        """Headline figures as a flat Series named by the run id (`latency_p50_ms`...);
        `as_dict=True` gives `summary_dict()` (with `by_tier` and `by_source`)."""
        d = self.summary_dict()
        if as_dict:
            return d
        flat = {k: v for k, v in d.items() if not isinstance(v, dict) and k != "run_id"}
        flat.update({f"latency_{k}_ms": v for k, v in (d.get("latency_ms") or {}).items()})
        return pd.Series(flat, name=self.run_id, dtype="object")

    def table(self) -> pd.DataFrame:
        """One row per work, in input order: the user's own columns (all of them, as read),
        then work_id, status, pdf_url, source, tier, version, license, right_paper,
        right_paper_reason, reason, file, elapsed_ms, attempts, requests, round (of the
        work's latest resolution, which the row shows).

        `work_id` is the user's key when the works had one, so the table joins back on it.
        """
        from .tidy import work_table

        return work_table(self)

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write `table()` as CSV or Parquet (by the file's extension)."""
        from .tidy import export_table

        return export_table(self.table(), Path(path))

    def export_pdfs(self, directory: str | os.PathLike[str], name: str = "{key}", *,
                    copy: bool = False) -> list[Path]:
        """Readable names for the downloaded PDFs: links (or copies) in `directory` named
        by the template `name` over `table()`'s columns (`{key}`, `{doi}`, `{year}`...)."""
        from .tidy import export_pdfs

        return export_pdfs(self, Path(directory), name, copy=copy)

    def export_failures(self, path: str | os.PathLike[str],
                        statuses: Sequence[str] | None = None) -> tuple[Path, int]:
        """Write the works not resolved (or those with `statuses`; `pending` = never
        finished) in the format they came in, ready to run again; returns (path, count)."""
        from .tidy import write_failures

        return write_failures(self, Path(path), statuses)

    def _repr_html_(self) -> str:
        """Headline figures and coverage by tier (notebooks); `.table()` has every work."""
        from ..contracts._html import fields, table

        s = self.summary_dict()
        lat = s.get("latency_ms") or {}
        head = fields([
            ("status", s["status"]), ("works", s["works"]), ("done", s["done"]),
            ("resolved", s["resolved"]), ("not found", s["not_found"]),
            ("budget exhausted", s["budget_exhausted"]), ("error", s["error"]),
            ("coverage", None if s["coverage"] is None else f"{s['coverage']:.1%}"),
            ("requests / resolved", s["requests_per_resolved"]),
            ("latency P50 / P95 / P99 ms",
             " / ".join("–" if v is None else f"{v:,.0f}" for v in lat.values()) or None),
        ], caption=f"Run {self.run_id} in {self.path}")
        tiers = table(((t, n) for t, n in (s.get("by_tier") or {}).items()),
                      header=("tier", "resolved"))
        return head + tiers

    def __repr__(self) -> str:
        names, rows = self._tables["resolutions"]
        wid, status, rnd = (names.index(c) for c in ("work_id", "status", "round"))
        latest: dict[str, tuple[int, str]] = {}  # (round, status) of each work's latest
        for r in rows:
            if r[wid] not in latest or r[rnd] > latest[r[wid]][0]:
                latest[r[wid]] = (r[rnd], r[status])
        resolved = sum(1 for _, status in latest.values() if status == "resolved")
        cov = f"{resolved / len(latest):.1%}" if latest else "n/a"
        rounds = max((rnd for rnd, _ in latest.values()), default=1)
        return (
            f"Run({str(self.path)!r}, run_id={self.run_id!r}, status={self._info['status']!r}, "
            f"works={len(self.work_ids)}, done={len(latest)}, resolved={resolved} ({cov}), "
            f"attempts={len(self._tables['attempts'][1])}"
            + (f", rounds={rounds}" if rounds > 1 else "") + ")"
        )
