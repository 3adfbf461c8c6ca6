"""`fallback-kit stats`, `compare` and `export`: a run's figures in the terminal or as files.

Tables are plain text (pandas' `to_string`), or JSON with `--json` for scripts.
pandas is imported inside the handlers, so `fallback-kit --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import CliError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ...insight.stored_run import Run

BY_CHOICES = ("tier", "source", "reason", "host")
FORMATS = ("parquet", "csv", "jsonl")
EXPORT_TABLES = ("run", "works", "attempts", "resolutions", "downloads", "breaker_events")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `stats`, `compare` and `export`."""
    p = subparsers.add_parser(
        "stats", help="coverage, latency percentiles and failure reasons of a run",
        description="Print a run's headline figures and one breakdown table.",
    )
    p.add_argument("run", metavar="RUN", help="run directory (holding run.sqlite)")
    p.add_argument("--by", choices=BY_CHOICES, default="tier",
                   help="breakdown table: tier waterfall, per source, failure reasons or per host"
                        " (default: tier)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(handler=cmd_stats)

    p = subparsers.add_parser(
        "compare", help="compare two runs on their common works",
        description="Coverage, latency percentiles and requests of two runs on the works both"
                    " finished, and the works found by one run only.",
    )
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(handler=cmd_compare)

    p = subparsers.add_parser(
        "export", help="write a run's tables as parquet, csv or jsonl files",
        description="Write run, works, attempts, resolutions, downloads and breaker_events"
                    " tables, one file each.",
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--format", choices=FORMATS,
                   help="file format of the tables (with --table: csv or parquet, default csv)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--table", action="store_true",
                      help="write one tidy table instead: one row per work, the works file's "
                           "own columns, then status, pdf_url, source, tier, file, latency...")
    what.add_argument("--failures", action="store_true",
                      help="write the works not resolved in the format they came in "
                           "(BibTeX, RIS, CSV...), ready to run again")
    what.add_argument("--pdfs", metavar="DIR",
                      help="give the downloaded PDFs readable names in DIR (symbolic links "
                           "to the content-addressed files; --copy to copy)")
    p.add_argument("--name", default="{key}",
                   help="with --pdfs: the file name template over the table's columns, e.g. "
                        "'{key}' (the work_id, default) or '{Publication Year} {Title}'")
    p.add_argument("--copy", action="store_true", help="with --pdfs: copy instead of linking")
    p.add_argument("--status", action="append", metavar="STATUS",
                   help="with --failures: only works with this status (repeatable; "
                        "'pending' = never finished; default: every status but resolved)")
    p.add_argument("--out", metavar="PATH",
                   help="output directory (default: RUN/export); with --table or --failures "
                        "the output file")
    p.set_defaults(handler=cmd_export)


def _open(path: str) -> Run:
    from ...insight.stored_run import open_run
    from ...record.store import StoreError

    try:
        return open_run(path)
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in df.astype("object").to_dict(orient="records")]


def _table(df: pd.DataFrame, *, index: bool = False) -> str:
    if df.empty:
        return "  (none)"
    out = df.copy()
    for col in out.columns:
        if col in ("coverage", "cumulative", "yield", "share"):
            out[col] = [("-" if v != v else f"{v:.1%}") for v in out[col]]
        elif out[col].dtype.kind == "f":
            out[col] = [("-" if v != v else f"{v:.1f}") for v in out[col]]
    return out.to_string(index=index)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def _print_quota_use() -> None:
    """Today's use of the services' daily quotas (live runs count them; web.quota)."""
    from ...web.quota import QuotaBook, default_quota_path

    if not default_quota_path().is_file():
        return
    for use in QuotaBook().usage():
        print(f"quota today ({use.day} UTC): {use.service} {use.used:,} of {use.limit:,}"
              f" calls (contact {use.contact})")


def _breakdown(run: Run, by: str) -> pd.DataFrame:
    from ...insight import analysis as an

    if by == "tier":
        return an.coverage_by_tier(run)
    if by == "source":
        return an.source_stats(run).merge(
            an.coverage_by_source(run)[["source", "wins", "coverage"]], on="source", how="left"
        )
    if by == "reason":
        return an.failure_reasons(run)
    return an.host_stats(run)


def cmd_stats(args: argparse.Namespace) -> int:
    run = _open(args.run)
    summary = run.summary_dict()
    table = _breakdown(run, args.by)
    if args.json:
        print(json.dumps({"run": str(run.path), "summary": _jsonable(summary), "by": args.by,
                          "table": _records(table)}, indent=2))
        return 0
    m = run.meta
    where = m.get("network_mode") or "?"
    if m.get("sandbox_profile"):
        where += f", profile {m['sandbox_profile']}, seed {m.get('sandbox_seed')}"
    cov = summary["coverage"]
    lat = summary["latency_ms"]
    _print_quota_use()
    print(f"run {run.path}  (run_id {summary['run_id']}, {summary['status']}, {where})")
    no_answer = "".join(f"  {k} {summary[k]}" for k in ("failed_local", "transient")
                        if summary.get(k))  # shown when a resume has work to redo
    print(
        f"works {summary['works']}  done {summary['done']}  pending {summary['pending']}  "
        f"resolved {summary['resolved']}  not_found {summary['not_found']}  "
        f"budget_exhausted {summary['budget_exhausted']}  error {summary['error']}{no_answer}"
    )
    print(
        f"coverage {'n/a' if cov is None else f'{cov:.1%}'}  "
        f"attempts {summary['attempts']}  requests {summary['requests']}  "
        f"requests/resolved {_fmt(summary['requests_per_resolved'])}"
    )
    print(
        f"latency of resolved works: p50 {_fmt(lat['p50'], ' ms')}  "
        f"p95 {_fmt(lat['p95'], ' ms')}  p99 {_fmt(lat['p99'], ' ms')}"
    )
    print()
    print(f"by {args.by}")
    print(_table(table))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ...insight.analysis import compare_runs

    a, b = _open(args.run_a), _open(args.run_b)
    try:
        comparison = compare_runs(a, b)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(_jsonable(comparison.to_dict()), indent=2))
        return 0
    print(f"A {comparison.a}")
    print(f"B {comparison.b}")
    print(f"works in common {comparison.common}  only in A {comparison.only_in_a}  "
          f"only in B {comparison.only_in_b}")
    print()
    summary = comparison.summary.copy()
    shown = summary.astype("object")
    for metric, row in summary.iterrows():
        for col, v in row.items():
            if v != v:
                text = "n/a"
            elif metric == "coverage":
                text = f"{v:+.1%}" if col == "delta" else f"{v:.1%}"
            elif metric in ("works", "resolved", "requests"):
                text = f"{v:+.0f}" if col == "delta" else f"{v:.0f}"
            else:
                text = f"{v:+.1f}" if col == "delta" else f"{v:.1f}"
            shown.loc[metric, col] = text
    print(shown.to_string())
    print()
    print("works found by one run only")
    print(_table(comparison.differences.astype("object").fillna("-")))
    return 0


def _export_frames(run: Run) -> dict[str, pd.DataFrame]:
    import pandas as pd

    meta = dict(run.meta)
    meta["plan_yaml"] = run.plan_yaml
    meta = {k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
            for k, v in meta.items()}
    return {
        "run": pd.DataFrame([meta]),
        "works": run.works,
        "attempts": run.attempts,
        "resolutions": run.resolutions,
        "downloads": run.downloads,
        "breaker_events": run.breaker_events,
    }


_FAILURE_SUFFIX = {"csv": ".csv", "bibtex": ".bib", "ris": ".ris", "csl-json": ".json",
                   "ids": ".txt"}
#: how a spreadsheet recognises a formula (OWASP "CSV injection"): a cell starting so
#: is prefixed with a quote, which shows the text as it is
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: Any) -> Any:
    """A copy of `df` whose text cells cannot run as spreadsheet formulas: a server's
    title or URL like `=HYPERLINK(...)` must not act when the CSV is opened."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) in ("category", "string"):
            out[col] = [f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
                        for v in out[col].astype(object)]
    return out


def cmd_export(args: argparse.Namespace) -> int:
    if args.pdfs:
        return _export_pdfs(args)
    if args.table or args.failures:
        return _export_one(args)
    if args.format is None:
        raise CliError("export: give --format (parquet, csv or jsonl), or --table or --failures")
    if args.status:
        raise CliError("export: --status goes with --failures")
    run = _open(args.run)
    out = Path(args.out) if args.out else run.path / "export"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{out}: cannot create the export directory ({exc.strerror or exc})"
                       ) from None
    written = []
    for name, df in _export_frames(run).items():
        df = df.copy()
        if "meta" in df.columns and args.format != "jsonl":
            df["meta"] = [json.dumps(m, sort_keys=True) for m in df["meta"]]
        path = out / f"{name}.{args.format}"
        try:
            if args.format == "parquet":
                df.to_parquet(path, index=False)
            elif args.format == "csv":
                neutralise_formulas(df).to_csv(path, index=False)
            else:
                df.to_json(path, orient="records", lines=True, date_format="iso")
        except OSError as exc:
            raise CliError(f"{path}: cannot write ({exc.strerror or exc})") from None
        written.append((path, len(df)))
    for path, n in written:
        print(f"{path}  ({n} rows)")
    return 0


def _export_one(args: argparse.Namespace) -> int:
    """`--table` (the tidy table as CSV or Parquet) or `--failures` (the misses, as input)."""
    run = _open(args.run)
    if args.table:
        if args.format not in (None, "csv", "parquet"):
            raise CliError("export --table: --format csv or parquet")
        if args.status:
            raise CliError("export: --status goes with --failures")
        suffix = ".parquet" if args.format == "parquet" else ".csv"
        path = Path(args.out) if args.out else run.path / "export" / f"table{suffix}"
        if not path.suffix:
            path = path.with_suffix(suffix)
        n = len(run.table())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            run.export(path)
        except (OSError, ValueError) as exc:
            raise CliError(f"{path}: cannot write ({getattr(exc, 'strerror', None) or exc})"
                           ) from None
        print(f"{path}  ({n} works)")
        return 0
    fmt = ((run.meta.get("extra") or {}).get("works_input") or {}).get("format") or "csv"
    path = (Path(args.out) if args.out
            else run.path / "export" / f"failures{_FAILURE_SUFFIX.get(fmt, '.csv')}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path, n = run.export_failures(path, args.status)
    except OSError as exc:
        raise CliError(f"{path}: cannot write ({exc.strerror or exc})") from None
    print(f"{path}  ({n} works not resolved, as {fmt}; run them again with "
          f"`fallback-kit run {path}`)")
    return 0


def _export_pdfs(args: argparse.Namespace) -> int:
    from ...insight.tidy import NameTemplateError

    run = _open(args.run)
    try:
        written = run.export_pdfs(args.pdfs, args.name, copy=args.copy)
    except NameTemplateError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{args.pdfs}: cannot write ({exc.strerror or exc})") from None
    how = "copied" if args.copy else "linked"
    print(f"{args.pdfs}  ({len(written)} PDFs {how})")
    return 0
