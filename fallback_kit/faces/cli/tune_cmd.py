"""`tune`: what to change in a plan, with the effect projected by replaying the run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import CliError, load_plan_arg, parse_overrides


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "tune", help="recommend plan changes from a run, each with its replayed effect")
    p.add_argument("run", help="run directory")
    p.add_argument("--plan", default=None,
                   help="plan to tune (default: the plan the run used)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help=argparse.SUPPRESS)
    p.add_argument("--write", metavar="YAML", help="write the tuned plan here")
    p.add_argument("--json", action="store_true", help="print the recommendations as JSON")
    p.set_defaults(handler=cmd_tune)


def _fmt(proj: Any) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    rpr = proj.requests_per_resolved
    return (f"coverage {proj.coverage:6.1%}  P50 {ms(proj.p50_ms):>7}  P95 {ms(proj.p95_ms):>7}"
            f"  P99 {ms(proj.p99_ms):>7} ms  req/resolved {'-' if rpr is None else f'{rpr:.2f}'}")


def cmd_tune(args: argparse.Namespace) -> int:
    from ...contracts.plan import PlanError
    from ...insight.stored_run import open_run
    from ...insight.tuning import recommend, tuned_plan
    from ...record.store import StoreError

    try:
        run = open_run(args.run)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    if args.plan:
        plan = load_plan_arg(args)
    else:  # the run's own plan, with the --set overrides on top
        try:
            plan = run.plan.replace(**parse_overrides(args.overrides))
        except PlanError as exc:
            raise CliError(str(exc)) from None
    recs = recommend(run, plan)
    best, projection = tuned_plan(plan, recs, run)
    if args.json:
        print(json.dumps({"recommendations": [r.as_dict() for r in recs],
                          "tuned": projection.as_dict()}, indent=2))
    else:
        if recs:
            print(f"now (replayed):      {_fmt(recs[0].before)}")
        for i, rec in enumerate(recs, 1):
            print(f"{i}. {rec.title}\n   why: {rec.why}\n   then:  {_fmt(rec.after)}")
        if not recs:
            print("no recommendation: the run gives no reason to change the plan")
        print(f"all that help:       {_fmt(projection)}")
    if args.write:
        path = Path(args.write)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# tuned by `fallback-kit tune {args.run}`\n" + best.to_yaml(),
                            encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{path}: cannot write the tuned plan: {exc.strerror or exc}") from None
        print(f"tuned plan written to {path}")
    return 0
