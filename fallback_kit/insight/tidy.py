"""Tidy answers: one row per work with the user's own columns, and the misses written
back in the format the works came in, ready to run again.

The answer columns (`ANSWER_COLUMNS`) come from the store: each work's latest resolution
(status, PDF URL, source, tier, reason, latency, and its round), the download manifest
(local file, version, licence) and, where a source or check recorded them in the
resolution's meta, `version`, `license`, `right_paper` (the right-paper verdict) and
`right_paper_reason`; columns stay empty where nothing was recorded.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..contracts.inputs import write_records
from ..contracts.inputs._base import neutralise_formula
from ..contracts.works import ID_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    from .stored_run import Run

__all__ = ["ANSWER_COLUMNS", "NameTemplateError", "export_pdfs", "export_table",
           "failure_records", "work_table", "write_failures"]

ANSWER_COLUMNS = ("work_id", "status", "pdf_url", "source", "tier", "version", "license",
                  "right_paper", "right_paper_reason", "reason", "file", "elapsed_ms",
                  "attempts", "requests", "round")
PENDING = "pending"  # a work the run has not finished (yet)
_IDENTITY = ("work_id", *ID_FIELDS, "title")  # a work's record when the user gave none


def user_records(run: Run) -> dict[str, dict[str, Any]]:
    """Each work's own record as the user gave it (its identifiers when they gave none)."""
    names, rows = run._tables["works"]
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = dict(zip(names, row, strict=True))
        raw = values.get("columns")
        record = json.loads(raw) if isinstance(raw, str) and raw not in ("", "{}") else None
        out[str(values["work_id"])] = record if record is not None else {
            k: values.get(k) for k in _IDENTITY if values.get(k) is not None}
    return out


def _answers(run: Run) -> dict[str, dict[str, Any]]:
    """The answer columns of each finished work."""
    files = {r.work_id: r for r in run.downloads.itertuples(index=False)}
    out: dict[str, dict[str, Any]] = {}
    for r in run.resolutions.itertuples(index=False):
        meta = r.meta if isinstance(r.meta, dict) else {}
        dl = files.get(r.work_id)
        out[r.work_id] = {
            "status": str(r.status), "pdf_url": r.pdf_url, "source": _str(r.source),
            "tier": _str(r.tier),
            "version": meta.get("version") or (dl.version if dl is not None else None),
            "license": meta.get("license") or (dl.license if dl is not None else None),
            # the verdict and its detail as the sources record them (sources/_common.py)
            "right_paper": meta.get("paper"),
            "right_paper_reason": meta.get("paper_detail"),
            "reason": _str(r.reason) or None, "file": dl.path if dl is not None else None,
            "elapsed_ms": r.elapsed_ms, "attempts": r.attempts, "requests": r.requests,
            "round": r.round,
        }
    return out


def _str(value: Any) -> str | None:
    return None if value is None or value != value else str(value)


def work_table(run: Run) -> pd.DataFrame:
    """One row per work, in input order: the user's columns first (a column named like
    one of ours gets `_input` appended unless it holds the same values), then ours."""
    records = user_records(run)
    answers = _answers(run)
    user_cols = list(dict.fromkeys(k for rec in records.values() for k in rec))
    rows = []
    for wid in run.work_ids:
        rec = records.get(wid, {})
        ans = answers.get(wid, {"status": PENDING})
        rows.append({**{f"user:{c}": rec.get(c) for c in user_cols},
                     **{c: ans.get(c) for c in ANSWER_COLUMNS}, "work_id": wid})
    df = pd.DataFrame(rows, columns=[*(f"user:{c}" for c in user_cols), *ANSWER_COLUMNS])
    renames: dict[str, str] = {}
    for c in user_cols:
        if c not in ANSWER_COLUMNS:
            renames[f"user:{c}"] = c
        elif df[f"user:{c}"].astype("object").tolist() == df[c].astype("object").tolist():
            df = df.drop(columns=f"user:{c}")
        else:
            renames[f"user:{c}"] = f"{c}_input"
    df = df.rename(columns=renames)
    for c in ("elapsed_ms",):
        df[c] = df[c].astype("float64")
    for c in ("attempts", "requests", "round"):
        df[c] = df[c].astype("Int64")
    return df


def export_table(df: pd.DataFrame, path: Path) -> Path:
    """`df` as CSV (formulas neutralised) or Parquet (nested cells as JSON text)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = [_flat(v) for v in out[c]]
    if path.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    elif path.suffix.lower() in (".csv", ".txt", ""):
        for c in out.columns:
            if out[c].dtype == object:
                out[c] = [neutralise_formula(v) for v in out[c]]
        out.to_csv(path, index=False)
    else:
        raise ValueError(f"{path}: write .csv or .parquet")
    return path


def _flat(value: Any) -> Any:
    """Lists and dicts (CSL authors, RIS keywords) as JSON text; numbers mixed with text
    as text, so that every column has one type."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def failure_records(run: Run, statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The user's records of the works that were not resolved (or whose status is in
    `statuses`; `pending` names the works the run never finished)."""
    wanted = set(statuses) if statuses is not None else None
    records = user_records(run)
    status = {wid: a["status"] for wid, a in _answers(run).items()}
    out = []
    for wid in run.work_ids:
        s = status.get(wid, PENDING)
        if (s != "resolved") if wanted is None else (s in wanted):
            out.append(records.get(wid) or {"work_id": wid})
    return out


def write_failures(run: Run, path: str | Path, statuses: Iterable[str] | None = None
                   ) -> tuple[Path, int]:
    """Write the misses in the format the works came in (a CSV of ids for runs that
    recorded none); returns the path and the number of works written."""
    records = failure_records(run, statuses)
    info = (run.meta.get("extra") or {}).get("works_input") or {}
    fmt = info.get("format") or "csv"
    options: dict[str, Any] = {}
    if fmt == "csv":
        options = {"header": info.get("header") or None,
                   "delimiter": (info.get("options") or {}).get("delimiter", ",")}
    return write_records(records, path, fmt, **options), len(records)


_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]+')
MAX_NAME_CHARS = 150


class NameTemplateError(ValueError):
    """A `--name` template names a field the table does not have, or is malformed."""


def export_pdfs(run: Run, directory: str | Path, name: str = "{key}", *,
                copy: bool = False) -> list[Path]:
    """Give each downloaded PDF a readable name in `directory`, as a symbolic link to the
    content-addressed file (or a copy): `name` is a template over the table's columns
    (`{key}` = the work_id, `{doi}`, `{Publication Year}`...). Names are made safe for
    every file system and kept unique (`name (2).pdf`)."""
    plan: list[tuple[str, str]] = []
    taken: set[str] = set()
    for _, row in run.table().iterrows():
        source = row.get("file")
        if not isinstance(source, str) or not Path(source).is_file():
            continue
        values = {str(k): ("" if v is None or v != v else v) for k, v in row.items()}
        values["key"] = row["work_id"]
        stem = _safe_name(_render(name, values)) or _safe_name(str(row["work_id"]))
        plan.append((source, _unique(stem, taken)))
    out = Path(directory)  # made only once every name rendered: a bad template writes nothing
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source, file_name in plan:
        target = out / file_name
        if target.exists() or target.is_symlink():
            target.unlink()
        if copy:
            shutil.copy2(source, target)
        else:
            target.symlink_to(Path(source).resolve())
        written.append(target)
    return written


def _render(template: str, values: dict[str, Any]) -> str:
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise NameTemplateError(f"--name {template!r}: no column {exc.args[0]!r}; use {{key}} "
                                f"or one of {', '.join(sorted(values))}") from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise NameTemplateError(f"--name {template!r}: {exc}") from None


def _safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip(" ._")[:MAX_NAME_CHARS]


def _unique(stem: str, taken: set[str]) -> str:
    name, n = f"{stem}.pdf", 1
    while name.lower() in taken:
        n += 1
        name = f"{stem} ({n}).pdf"
    taken.add(name.lower())
    return name
