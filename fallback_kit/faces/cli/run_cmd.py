"""`run`: the main job — resolve every work of a CSV and print a summary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ...web.access import (
    EZPROXY_STYLES,
    Access,
    AccessError,
    EzproxyRule,
    load_cookies_txt,
)
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
    p.add_argument("--retry-failed", nargs="?", const=",".join(DEFAULT_RETRY), default=None,
                   metavar="STATUSES",
                   help="resolve again, as a new round (the earlier one is kept), the works "
                        "of the existing run in --out that ended with these statuses "
                        f"(comma-separated; default: {','.join(DEFAULT_RETRY)}; a plain "
                        "resume already retries failed_local and transient, and finishes "
                        "a retry that was cut short)")
    access = p.add_argument_group("institutional access (--live only; see the README)")
    access.add_argument("--ezproxy", metavar="HOST",
                        help="your library's EZproxy host, e.g. ezproxy.univ.edu")
    access.add_argument("--ezproxy-hosts", metavar="HOSTS", default="",
                        help="comma-separated publisher hosts to send through it")
    access.add_argument("--ezproxy-style", default="hyphen", choices=EZPROXY_STYLES,
                        help="how the proxy rewrites a URL (default: hyphen)")
    access.add_argument("--cookies", metavar="FILE",
                        help="a cookies.txt (Netscape format) exported from your own browser")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_run)


#: what `--retry-failed` alone retries (issue 15): the works not found, and every ending
#: that is not an answer about the work; never a budget run out
DEFAULT_RETRY = ("not_found", "transient", "failed_local", "error")
EXIT_RUN_FAILED = 1  # the run could not do its job (bad input is 2)


def cmd_run(args: argparse.Namespace) -> int:
    from ...engine.batch import RunFailed
    from ...record.store import StoreError, StoreWriteError
    from ...web.cache import CacheError
    from ..api import run_works

    plan = load_plan_arg(args)
    report = load_works_arg(args.works, format=args.works_format, key=args.works_key)
    for error in report.errors:
        print(f"skipped: {error}", file=sys.stderr)
    if not report.works:
        raise CliError(f"{args.works}: no usable works ({len(report.errors)} bad rows)")
    _check_run_options(args)
    retry = _retry_statuses(args)
    try:
        result = run_works(report, plan, out=args.out, network=args.network,
                           profile=args.profile, seed=args.seed, time_scale=args.time_scale,
                           concurrency=args.concurrency, force=args.force, progress=args.progress,
                           download_dir=args.download, demote_failed_downloads=args.demote,
                           keep_resolutions=False, cache=args.cache, retry_statuses=retry,
                           access=_access(args))
    except RunFailed as exc:
        print(f"fallback-kit: error: the run stopped: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except StoreWriteError as exc:  # our disk, not the user's input
        print(f"fallback-kit: error: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except (StoreError, CacheError) as exc:
        raise CliError(str(exc)) from None
    print_run_summary(result.out, as_json=args.json, note=_note(result),
                      truth=result.truth_check)
    why = run_failure(result.statuses, result.reasons)
    if why:
        print(f"fallback-kit: error: {why}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


def _access(args: argparse.Namespace) -> Access | None:
    """The user's institutional access from --ezproxy and --cookies (live runs only)."""
    if not (args.ezproxy or args.cookies):
        return None
    if args.network != "live":
        raise CliError("--ezproxy and --cookies are for --live runs")
    try:
        rule = None
        if args.ezproxy:
            hosts = tuple(h.strip() for h in args.ezproxy_hosts.split(",") if h.strip())
            if not hosts:
                raise CliError("--ezproxy needs --ezproxy-hosts (the publishers it serves)")
            rule = EzproxyRule(proxy=args.ezproxy, hosts=hosts, style=args.ezproxy_style)
        cookies = load_cookies_txt(args.cookies) if args.cookies else None
    except AccessError as exc:
        raise CliError(str(exc)) from None
    return Access(ezproxy=rule, cookies=cookies)


def _check_run_options(args: argparse.Namespace) -> None:
    """The numbers and names of `run`, checked before anything starts (exit 2)."""
    import math

    from ...sandbox.profiles import PROFILES

    if args.concurrency < 1:
        raise CliError("--concurrency must be >= 1")
    if not math.isfinite(args.time_scale) or args.time_scale < 0:
        raise CliError(f"--time-scale must be a finite number >= 0, got {args.time_scale}")
    if not 0 <= args.seed < 2**63:
        raise CliError(f"--seed must be an integer from 0 to 2**63-1, got {args.seed}")
    if args.network == "sandbox" and args.profile not in PROFILES:
        raise CliError(f"--profile {args.profile!r}: sandbox profiles are "
                       f"{', '.join(PROFILES)}")


def _retry_statuses(args: argparse.Namespace) -> tuple[str, ...]:
    """The statuses `--retry-failed` names, checked; it needs an existing run."""
    from ...contracts.events import ResolutionStatus
    from ...record.store import DB_NAME

    if args.retry_failed is None:
        return ()
    names = tuple(n.strip() for n in args.retry_failed.split(",") if n.strip())
    allowed = [str(s) for s in ResolutionStatus if s is not ResolutionStatus.RESOLVED]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise CliError(f"--retry-failed {args.retry_failed!r}: statuses are "
                       f"{', '.join(allowed)} (comma-separated)")
    if not args.out or not (Path(args.out) / DB_NAME).is_file():
        raise CliError("--retry-failed re-resolves an existing run: give its --out")
    return names


def run_failure(statuses: dict[str, int], reasons: dict[str, str]) -> str:
    """Why a run could not do its job, or '' when it did: a work failed on our side
    (nothing could be written for it), or nothing resolved and most works met a dead
    network (the rest had no source to ask)."""
    local = statuses.get("failed_local", 0)
    if local:
        return (f"{local} works could not be saved on our side ({reasons['failed_local']}); "
                "nothing was written for them: fix it and run again with the same --out")
    transient, total = statuses.get("transient", 0), sum(statuses.values())
    if not statuses.get("resolved") and 2 * transient > total:
        return (f"nothing resolved: {transient} of {total} works met a network or server "
                f"failure ({reasons['transient']}): is the network down? Run again with "
                "the same --out to retry them")
    return ""


def _note(result: Any) -> str:
    done, redo = result.skipped_done, result.reopened
    resumed = f"; resumed: {done} works were already done" if done else ""
    if redo:
        resumed += (f"; {redo} works resolved again as a new round (earlier rounds are kept: "
                    "`round` in the table)")
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
    for key, title in (("failed_local", "failed (our side)"), ("transient", "transient")):
        if s.get(key):
            lines.append(f"{title:<20}{pct(s[key])}")
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
