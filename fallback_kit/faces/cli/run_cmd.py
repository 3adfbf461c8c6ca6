"""`run`: the main job — resolve every work of a CSV and print a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import (
    CliError,
    add_plan_arguments,
    add_works_arguments,
    load_plan_arg,
    load_works_arg,
)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("run", help="resolve every work of a CSV and print a summary")
    p.add_argument("works", help="works file: CSV (work_id,doi,arxiv_id,pmcid,pmid,title,"
                                 "landing_url; Zotero's CSV), BibTeX, RIS, CSL-JSON, or one "
                                 "identifier or URL per line")
    add_works_arguments(p)
    add_plan_arguments(p)
    net = p.add_mutually_exclusive_group()
    net.add_argument("--sandbox", dest="network", action="store_const", const="sandbox",
                     help="use the simulated scholarly web on 127.0.0.1 (default)")
    net.add_argument("--live", dest="network", action="store_const", const="live",
                     help="use the real internet (set FALLBACK_KIT_EMAIL first)")
    p.set_defaults(network="sandbox")
    p.add_argument("--profile", default="mixed", help="sandbox corpus profile (default: mixed)")
    p.add_argument("--seed", type=int, default=7, help="sandbox seed (default: 7)")
    p.add_argument("--time-scale", type=float, default=0.1,
                   help="sandbox delays are multiplied by this (default: 0.1)")
    p.add_argument("--concurrency", type=int, default=16, help="works in flight (default: 16)")
    p.add_argument("--out", help="run directory (default: runs/PLAN-TIME); an existing run of "
                                 "the same plan there is resumed")
    p.add_argument("--force", action="store_true",
                   help="start afresh even if --out holds a run (the old one is moved aside)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="no progress bar (also FALLBACK_KIT_PROGRESS=0)")
    p.add_argument("--download", metavar="DIR",
                   help="save each winning PDF, validated whole, as DIR/ab/<sha256>.pdf")
    p.add_argument("--no-demote", dest="demote", action="store_false",
                   help="keep a success whose download fails validation (default: demote it "
                        "and let the plan try the next candidate)")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="DIR", default=None,
                       help="keep the metadata APIs' answers in DIR (default: the user's cache "
                            "directory on --live, none on the sandbox)")
    cache.add_argument("--no-cache", dest="cache", action="store_const", const=False,
                       help="ask the metadata APIs every time")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from ...record.store import StoreError
    from ...web.cache import CacheError
    from ..api import run_works

    plan = load_plan_arg(args)
    report = load_works_arg(args.works, format=args.works_format, key=args.works_key)
    for error in report.errors:
        print(f"skipped: {error}", file=sys.stderr)
    if not report.works:
        raise CliError(f"{args.works}: no usable works ({len(report.errors)} bad rows)")
    if args.concurrency < 1:
        raise CliError("--concurrency must be >= 1")
    if args.time_scale < 0:
        raise CliError("--time-scale must be >= 0")
    try:
        result = run_works(report, plan, out=args.out, network=args.network,
                           profile=args.profile, seed=args.seed, time_scale=args.time_scale,
                           concurrency=args.concurrency, force=args.force, progress=args.progress,
                           download_dir=args.download, demote_failed_downloads=args.demote,
                           keep_resolutions=False, cache=args.cache)
    except (StoreError, CacheError) as exc:
        raise CliError(str(exc)) from None
    print_run_summary(result.out, as_json=args.json, note=_note(result),
                      truth=result.truth_check)
    return 0


def _note(result: Any) -> str:
    done = result.skipped_done
    resumed = f"; resumed: {done} works were already done" if done else ""
    return f"run {result.run_id} in {result.out}{resumed}"


def print_run_summary(out: Path, *, as_json: bool = False, note: str = "",
                      truth: dict[str, Any] | None = None) -> None:
    """The summary of a stored run: outcomes, coverage by tier and source, requests,
    latency percentiles."""
    import json

    from ...insight.stored_run import open_run

    run = open_run(out)
    summary = run.summary_dict()
    if as_json:
        print(json.dumps({**summary, "truth_check": truth}, indent=2, default=str))
        return
    print(format_summary(summary, note=note))
    if truth is not None:
        print(format_truth_check(truth))


def format_truth_check(t: dict[str, Any]) -> str:
    """The sandbox run against the World's ground truth, in two lines."""
    missed = t["missed"]
    lines = [
        f"sandbox truth: the plan can reach {t['reachable_by_plan']} of {t['works']} works; "
        f"resolved {t['resolved_of_reachable']} of them"
        + (" (missed: " + ", ".join(f"{w} [{why}]" for w, why in list(missed.items())[:5])
           + (" ..." if len(missed) > 5 else "") + ")" if missed else "")
        + f"; false PDFs: {len(t['false_pdfs'])}; wrong papers: {len(t.get('wrong_papers', []))}",
        "(simulated availability, not a measurement of the real web; the ideal replay "
        "leaves out rate limits and overhead, see `fallback-kit stats RUN --by reason`)",
    ]
    return "\n".join(lines)


def format_summary(s: dict[str, Any], *, note: str = "") -> str:
    n = s.get("works", 0) or 0

    def pct(k: int) -> str:
        return f"{k:>5}  ({100 * k / n:5.1f}%)" if n else f"{k:>5}"

    lines = []
    if note:
        lines.append(note)
    lines.append(f"works               {n:>5}")
    lines.append(f"resolved            {pct(s.get('resolved', 0))}")
    lines.append(f"not found           {pct(s.get('not_found', 0))}")
    lines.append(f"budget exhausted    {pct(s.get('budget_exhausted', 0))}")
    if s.get("error"):
        lines.append(f"error               {pct(s['error'])}")
    rpr = s.get("requests_per_resolved")
    lines.append("requests / resolved " + (f"{rpr:>8.2f}" if rpr is not None else "       -"))
    lat = s.get("latency_ms") or {}
    if lat:
        lines.append("latency of resolved works (ms): " + ", ".join(
            f"{k.upper()} {v:,.0f}" for k, v in lat.items() if v is not None))
    for key, title in (("by_tier", "coverage by tier"), ("by_source", "coverage by source")):
        table = s.get(key) or {}
        if table:
            lines.append(f"{title}:")
            for name, count in table.items():
                lines.append(f"  {name:<18}{pct(int(count))}")
    return "\n".join(lines)
