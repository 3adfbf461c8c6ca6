"""The coverage report of a run, for a paper: coverage by source, tier, publisher and year,
the version/licence mix and right-paper verdicts, latency and requests, the failure
reasons, and a methods paragraph ready to paste. As Markdown or HTML.

Publisher and year come from the works file's own columns when it has them (Zotero's
`Publication Year` and `Publisher`, BibTeX's `year` and `journal`, CSL's `issued`...),
else from what the sources reported (Unpaywall's `publisher` and `year`); the report says
where each figure comes from, and says so when one was not recorded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from ..sources import SOURCES
from ..web.client import DEFAULT_RATE_LIMITS
from . import analysis
from .stored_run import Run, open_run

__all__ = ["Report", "methods_paragraph", "report", "source_metadata"]

REPORT_FORMATS = ("md", "html")
# the works file's columns that hold a publication year or a publisher, most specific first
YEAR_COLUMNS = ("Publication Year", "year", "issued", "PY", "publication_year", "date", "Date")
PUBLISHER_COLUMNS = ("publisher", "Publisher", "PB", "Publication Title", "journal",
                     "container-title", "journal_name", "secondary_title")
_TOP = 15  # rows of the long tables (publishers, failure reasons)


@dataclass
class Report:
    """A run's coverage report: titled sections of tables and text; `.markdown()`,
    `.html()`, `.write(path)`; shown as HTML in notebooks."""

    title: str
    sections: list[tuple[str, Any]] = field(default_factory=list)  # DataFrame or text

    def markdown(self) -> str:
        parts = [f"# {self.title}"]
        for heading, body in self.sections:
            parts.append(f"## {heading}")
            parts.append(_md_table(body) if isinstance(body, pd.DataFrame) else str(body))
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        parts = [f"<h1>{escape(self.title)}</h1>"]
        for heading, body in self.sections:
            parts.append(f"<h2>{escape(heading)}</h2>")
            if isinstance(body, pd.DataFrame):
                parts.append(_fmt(body).to_html(index=False, escape=True, na_rep="–"))
            else:
                parts.append("".join(f"<p>{escape(p)}</p>" for p in str(body).split("\n\n")))
        body = "\n".join(parts)
        return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{escape(self.title)}"
                f"</title></head><body>\n{body}\n</body></html>\n")

    def _repr_html_(self) -> str:
        return self.html()

    def write(self, path: str | Path, format: str | None = None) -> Path:
        """Write as Markdown or HTML (by `format`, else the extension; .md by default)."""
        out = Path(path)
        fmt = format or ("html" if out.suffix.lower() in (".html", ".htm") else "md")
        out.write_text(self.html() if fmt == "html" else self.markdown(), encoding="utf-8")
        return out


def report(run: Run | str | Path) -> Report:
    """The coverage report of `run` (a Run or its directory)."""
    r = run if isinstance(run, Run) else open_run(run)
    table = r.table()
    s = r.summary_dict()
    rep = Report(title=f"Coverage report: run {r.run_id}")
    rep.sections.append(("Summary", _headline(s)))
    rep.sections.append(("Coverage by tier", analysis.coverage_by_tier(r)))
    rep.sections.append(("Coverage by source", analysis.coverage_by_source(r)))
    for title, columns, parse, key in (
            ("Coverage by publication year", YEAR_COLUMNS, _year, "year"),
            ("Coverage by publisher", PUBLISHER_COLUMNS, _text, "publisher")):
        rep.sections.append((title, _coverage_by(table, columns, parse,
                                                 source_metadata(r, key))))
    rep.sections.append(("Version, licence and right-paper verdicts", _mix(table)))
    rep.sections.append(("Why works were not resolved", _misses(table)))
    rep.sections.append(("Failed attempts by reason", analysis.failure_reasons(r).head(_TOP)))
    rep.sections.append(("Methods", methods_paragraph(r, s)))
    return rep


def _headline(s: dict[str, Any]) -> pd.DataFrame:
    lat = s.get("latency_ms") or {}
    cov, rpr = s["coverage"], s["requests_per_resolved"]
    rows = [("works", s["works"]), ("done", s["done"]), ("resolved", s["resolved"]),
            ("not found", s["not_found"]), ("budget exhausted", s["budget_exhausted"]),
            ("error", s["error"]),
            ("coverage (resolved / done)", "–" if cov is None else f"{cov:.1%}"),
            ("requests", s["requests"]),
            ("requests per resolved work", "–" if rpr is None else f"{rpr:.2f}")]
    rows += [(f"latency {k.upper()} of resolved works (ms)", "–" if v is None else f"{v:,.0f}")
             for k, v in lat.items()]
    return pd.DataFrame([(k, str(v)) for k, v in rows], columns=["figure", "value"])


def _coverage_by(table: pd.DataFrame, columns: tuple[str, ...], parse: Any,
                 found: dict[str, Any]) -> Any:
    """Coverage per value of the first of the works file's `columns` a work has a value
    in, else of the value the sources reported for it (`found`, by work_id)."""
    present = [c for c in columns if c in table.columns and table[c].notna().any()]
    keys, used = [], []
    for _, row in table.iterrows():
        hit = next(((c, k) for c in present if (k := parse(row[c]))), None)
        if hit is None and (k := parse(found.get(row["work_id"]))):
            hit = ("sources", k)
        keys.append(hit[1] if hit else "(none)")
        if hit and hit[0] not in used:
            used.append(hit[0])
    if not used:
        return ("Not recorded: the works file has none of the columns "
                + ", ".join(repr(c) for c in columns) + ", and no source reported one.")
    df = pd.DataFrame({"key": keys, "resolved": (table["status"] == "resolved").to_numpy(),
                       "done": (table["status"] != "pending").to_numpy()})
    g = df.groupby("key", sort=True).agg(works=("done", "size"), done=("done", "sum"),
                                         resolved=("resolved", "sum")).reset_index()
    g["coverage"] = [r / d if d else math.nan for r, d in zip(g["resolved"], g["done"],
                                                              strict=True)]
    label = " / ".join(f"'{c}' (works file)" if c != "sources" else "the sources' metadata"
                       for c in used)
    g = g.rename(columns={"key": label})
    if parse is _text:
        g = g.sort_values(["works", g.columns[0]], ascending=[False, True]).head(_TOP)
    return g.reset_index(drop=True)


def source_metadata(run: Run, key: str) -> dict[str, Any]:
    """What the sources said about each work (`publisher`, `year`...): the first value any
    attempt recorded in its meta, by work_id."""
    out: dict[str, Any] = {}
    att = run.attempts
    for wid, meta in zip(att["work_id"], att["meta"], strict=True):
        if wid not in out and isinstance(meta, dict) and meta.get(key) not in (None, ""):
            out[wid] = meta[key]
    return out


def _year(value: Any) -> str | None:
    if isinstance(value, dict):  # CSL `issued`: {"date-parts": [[2020, 1, 2]]}
        parts = value.get("date-parts") or [[None]]
        value = parts[0][0] if parts and parts[0] else None
    m = re.search(r"\b(1[5-9]\d\d|20\d\d)\b", str(value)) if value is not None else None
    return m.group(1) if m else None


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None and value == value else None


def _mix(table: pd.DataFrame) -> pd.DataFrame:
    resolved = table[table["status"] == "resolved"]
    rows = []
    for column, label in (("version", "version"), ("license", "licence"),
                          ("right_paper", "right paper")):
        counts = resolved[column].fillna("not recorded").astype(str).value_counts()
        rows += [(label, k, int(n), n / len(resolved)) for k, n in counts.items()]
    return pd.DataFrame(rows, columns=["of resolved works", "value", "works", "share"])


def _misses(table: pd.DataFrame) -> pd.DataFrame:
    missed = table[table["status"] != "resolved"]
    g = (missed.assign(reason=missed["reason"].fillna(""))
         .groupby(["status", "reason"]).size().rename("works").reset_index())
    g["share of all works"] = g["works"] / len(table) if len(table) else math.nan
    return g.sort_values("works", ascending=False, ignore_index=True).head(_TOP)


def methods_paragraph(run: Run, summary: dict[str, Any] | None = None) -> str:
    """A paragraph for a paper's methods: the plan in words, the date, the tool version,
    the sources, the politeness settings and the network mode, and the result."""
    s = summary or run.summary_dict()
    plan = run.plan
    meta = run.meta
    when = str(meta.get("started_at") or "")[:10]
    version = (meta.get("versions") or {}).get("fallback_kit", "unknown")
    b = plan.budgets
    steps = []
    for i, t in enumerate(plan.tiers):
        how = f"{' and '.join(t.sources)}" + (f" ({t.parallel} at a time)" if t.parallel > 1
                                              and len(t.sources) > 1 else "")
        steps.append(("first " if i == 0 else "then ") + how)
    used = [name for t in plan.tiers for name in t.sources]
    described = "; ".join(f"{n}: {SOURCES[n].summary}" for n in used if n in SOURCES)
    limits = _rate_limits(plan, used)
    text = [
        f"Open-access PDFs were located with fallback_kit {version} on {when} "
        f"(run {run.run_id}, {_network(meta)}). For each of the {s['works']} works, the plan "
        f"'{plan.name}' tried {', '.join(steps)}, within {b.total_attempts} attempts and "
        f"{b.total_timeout_ms / 1000:g} s per work ({b.per_source_timeout_ms / 1000:g} s per "
        "try); the first candidate whose bytes were a valid PDF was kept.",
        f"Sources: {described}.",
        "Requests carried a User-Agent naming the tool and the contact email the APIs ask "
        f"for, and were rate-limited per host ({limits}); responses with HTTP "
        f"{', '.join(str(x) for x in plan.thresholds.retryable_statuses)} were retried with "
        f"backoff, and a host was paused after {plan.gates.breaker.failure_threshold} "
        f"failures within {plan.gates.breaker.window_ms / 1000:g} s (circuit breaker).",
        f"{s['resolved']} of {s['done']} works finished "
        + (f"({s['coverage']:.1%}) " if s["coverage"] is not None else "")
        + "were resolved"
        + (f", at {s['requests_per_resolved']:.1f} requests per resolved work"
           if s["requests_per_resolved"] is not None else "") + ".",
    ]
    return " ".join(text)


def _network(meta: dict[str, Any]) -> str:
    mode = meta.get("network_mode")
    if mode == "sandbox":
        return (f"on the simulated scholarly web of the sandbox, profile "
                f"{meta.get('sandbox_profile')}, seed {meta.get('sandbox_seed')}: not a "
                "measurement of the real web")
    return "on the live web" if mode == "live" else f"network: {mode or 'not recorded'}"


def _rate_limits(plan: Any, sources: list[str]) -> str:
    limits: dict[str, float] = {h: r.per_second for h, r in DEFAULT_RATE_LIMITS.items()}
    limits.update({h: r.per_second for h, r in plan.politeness.rate_limits.items()})
    out = []
    for name in sources:
        for host in getattr(SOURCES.get(name), "hosts", ()):
            match = max((h for h in limits if host == h or host.endswith("." + h)),
                        key=len, default=None)
            if match is not None:
                out.append(f"{host} {_rate(limits[match])}")
    return ", ".join(dict.fromkeys(out)) or "the plan's default"


def _rate(per_second: float) -> str:
    return f"{per_second:g}/s" if per_second >= 1 else f"1 per {1 / per_second:g} s"


def _fmt(df: pd.DataFrame) -> pd.DataFrame:
    """Shares as percentages and floats rounded, for reading."""
    out = df.copy()
    for c in out.columns:
        if c in ("coverage", "cumulative", "share", "share of all works"):
            out[c] = [f"{v:.1%}" if isinstance(v, float) and v == v else "–" for v in out[c]]
        elif out[c].dtype == float:
            out[c] = [f"{v:,.1f}" if v == v else "–" for v in out[c]]
    return out


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)"
    f = _fmt(df)
    cells = [[str(c) for c in f.columns]] + [["–" if v is None else str(v) for v in row]
                                           for row in f.itertuples(index=False)]
    cells = [[c.replace("|", "\\|").replace("\n", " ") for c in row] for row in cells]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    return "\n".join(lines)
