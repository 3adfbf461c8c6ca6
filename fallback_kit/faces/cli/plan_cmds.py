"""`plan`, `config`, `explain` and `dryrun`: look at a plan without touching the network."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...contracts.registry import SOURCE_SPECS
from ._common import add_plan_arguments, load_plan_arg, load_works_arg


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("plan", help="print the effective plan as YAML")
    add_plan_arguments(p)
    p.set_defaults(handler=cmd_plan)

    p = subparsers.add_parser("config", help="every effective plan value and where it came from")
    add_plan_arguments(p)
    p.set_defaults(handler=cmd_config)

    p = subparsers.add_parser("explain", help="the plan's strategy in plain words")
    add_plan_arguments(p)
    p.set_defaults(handler=cmd_explain)

    p = subparsers.add_parser("dryrun", help="which sources each work would try (no network)")
    p.add_argument("works", help="works CSV")
    add_plan_arguments(p)
    p.set_defaults(handler=cmd_dryrun)


def cmd_plan(args: argparse.Namespace) -> int:
    sys.stdout.write(load_plan_arg(args).to_yaml())
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    rows = load_plan_arg(args).describe_sources()
    width = max(len(path) for path, _, _ in rows)
    for path, value, origin in rows:
        print(f"{path:<{width}}  {_show(value):<24} {origin}")
    return 0


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if value is None:
        return "-"
    return str(value).lower() if isinstance(value, bool) else str(value)


def explain_plan(plan: Any) -> str:
    """The plan in plain words, the way `explain` prints it."""
    b, g = plan.budgets, plan.gates
    lines = [f"Plan {plan.name!r}" + (f": {plan.description}" if plan.description else ""), ""]
    lines.append(
        f"For each work: at most {b.total_timeout_ms / 1000:g} s in all (a hard deadline), "
        f"at most {b.total_attempts} source tries counting retries, and at most "
        f"{b.max_concurrent} tries in flight at once."
    )
    lines.append("The tiers run one after another; the first valid PDF wins, cancels every "
                 "try still running and no later tier starts.")
    lines.append("")
    for i, tier in enumerate(plan.tiers, 1):
        together = ("one at a time" if tier.parallel == 1 or len(tier.sources) == 1
                    else f"up to {min(tier.parallel, len(tier.sources))} at once")
        lines.append(f"Tier {i}, {tier.name}: {', '.join(tier.sources)} ({together}).")
        if tier.hedge_after_ms is not None and i < len(plan.tiers):
            lines.append(f"  If it has not won after {tier.hedge_after_ms} ms, tier {i + 1} "
                         "starts beside it (hedging).")
        for name in tier.sources:
            pol = plan.policy(name)
            robots = ", respects robots.txt" if pol.robots_respect else ""
            spec = SOURCE_SPECS[name]
            lines.append(f"  - {name}: timeout {plan.timeout_ms(name)} ms, up to "
                         f"{pol.retries_max} retr{'y' if pol.retries_max == 1 else 'ies'}{robots}"
                         f"; needs {' or '.join(spec.needs)}")
            lines.append(f"    {spec.summary}")
    lines.append("")
    th = plan.thresholds
    retried = ", ".join(map(str, th.retryable_statuses)) or "no status"
    terminal = ", ".join(map(str, th.terminal_statuses)) or "none"
    lines.append(f"Retried (full-jitter backoff, Retry-After honoured): HTTP {retried} "
                 f"(these statuses only), timeouts and connection errors. Any other status "
                 f"is not retried; terminal (never retried): HTTP {terminal}.")
    br = g.breaker
    lines.append(
        f"Circuit breaker per host: opens after {br.failure_threshold} failures within "
        f"{br.window_ms} ms, half-opens after {br.cooldown_ms} ms with {br.half_open_probes} "
        f"probe(s); " + ("tries of an open host are skipped." if g.skip_if_breaker_open
                         else "open hosts are still tried.")
    )
    lines.append(f"Rate limits per host; a try that would wait more than "
                 f"{g.skip_if_rate_wait_exceeds_ms} ms for its turn is skipped.")
    lines.append("Offline: " + (f"yes, behaviour {g.offline_behavior}." if g.offline
                                else f"no (if set offline, behaviour {g.offline_behavior})."))
    return "\n".join(lines)


def cmd_explain(args: argparse.Namespace) -> int:
    print(explain_plan(load_plan_arg(args)))
    return 0


def cmd_dryrun(args: argparse.Namespace) -> int:
    plan = load_plan_arg(args)
    report = load_works_arg(args.works)
    sources = {name: SOURCE_SPECS[name] for name in plan.source_names}
    for error in report.errors:
        print(f"skipped: {error}", file=sys.stderr)
    print(f"{len(report)} works, {len(report.errors)} bad rows; plan {plan.name!r}")
    counts = {name: 0 for name in plan.source_names}
    for work in report:
        parts = []
        for tier in plan.tiers:
            names = []
            for name in tier.sources:
                if sources[name].applicable(work):
                    counts[name] += 1
                    names.append(name)
                else:
                    names.append(f"-{name}")
            parts.append(f"{tier.name}[{' '.join(names)}]")
        print(f"{work.work_id}: {' > '.join(parts)}")
    print("would try (works per source): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("(-name: not applicable, the work lacks the identifier the source needs)")
    return 2 if report.errors and not report.works else 0
