"""The resolve benchmark: one World, one or more plans, the sandbox in its own process.

    python benchmarks/resolve.py --profile mixed --n 2000            # a few minutes
    python benchmarks/resolve.py --profile mixed --n 2000 --full     # + peak RSS, 10k and 100k

Prints one JSON document (see benchmarks/README.md for every figure). The sandbox runs
in a child process on 127.0.0.1 (stopped at the end, bounded in time), so the client's
CPU is measured on its own. Nothing here touches the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _sandbox_proc import SandboxProcess  # noqa: E402

from fallback_kit.contracts.events import Attempt  # noqa: E402
from fallback_kit.contracts.plan import Plan, load_plan  # noqa: E402
from fallback_kit.contracts.works import read_works  # noqa: E402
from fallback_kit.engine.replay import models_from_truth, oracle, replay  # noqa: E402
from fallback_kit.faces.api import arun_works  # noqa: E402
from fallback_kit.insight.stored_run import open_run  # noqa: E402
from fallback_kit.insight.tuning import hedge_points, hedge_tradeoff  # noqa: E402
from fallback_kit.sandbox import SandboxTransport, World, write_corpus  # noqa: E402
from fallback_kit.web.client import DEFAULT_RATE_LIMITS  # noqa: E402

#: the faults about time are off in the zero-delay runs: a hang keeps its World length
#: at time_scale 0 and would measure the plan's timeouts, not the client
NO_TIME_FAULTS = {"hang": 0.0, "slow_body": 0.0}
TARGETS = {
    "coverage_of_reachable": 1.0, "false_pdfs": 0, "p50_ratio_max": 1.10,
    "p99_ratio_max": 1.25, "requests_ratio_max": 1.05, "hedge_p99_cut_min": 0.30,
    "hedge_extra_requests_max": 0.05, "works_per_s_min": 300, "cpu_ms_per_attempt_max": 1.0,
    "rss_growth_max": 1.2,
}


# -- helpers ------------------------------------------------------------------------------
def pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, nd)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else _r(a / b)


def lift_rate_limits(plan: Plan) -> Plan:
    """The plan with every default per-host rate limit raised out of the way (the replay
    knows no rate limits; the plan's own other settings are kept)."""
    limits = {h: {"per_second": 1e6, "burst": 1000} for h in DEFAULT_RATE_LIMITS}
    return plan.replace(**{"politeness.rate_limits": limits})


def valid_in_world(world: World, url: str | None) -> bool:
    """Does `url` answer a valid PDF in this World (redirects followed)?"""
    if not url:
        return False
    for _ in range(12):
        node = world.lookup_url(url)
        if node.kind == "redirect" and node.location:
            url = urljoin(url, node.location)
            continue
        # a trickling PDF (slow_body) is a valid PDF served slowly, not a false one
        return node.kind == "pdf" and node.fault in (None, "slow_body")
    return False


class _Count:
    def __init__(self) -> None:
        self.attempts = 0

    def emit(self, event: object) -> None:
        if isinstance(event, Attempt):
            self.attempts += 1


# -- one measured run ---------------------------------------------------------------------
def measured_run(name: str, plan: Plan, csv: Path, work_dir: Path, args: argparse.Namespace,
                 *, time_scale: float, concurrency: int,
                 faults: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Resolve the corpus through `arun_works` against a fresh sandbox process."""
    out = work_dir / name
    counter = _Count()
    with SandboxProcess(csv, profile=args.profile, seed=args.seed, time_scale=time_scale,
                        faults=dict(faults) if faults else None) as sb:
        assert sb.port is not None
        s0 = sb.cpu_seconds() or 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        result = asyncio.run(arun_works(
            csv, plan, out=out, transport=SandboxTransport("127.0.0.1", sb.port),
            time_scale=time_scale, concurrency=concurrency, progress=False, sink=counter,
            force=True))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        server_cpu = (sb.cpu_seconds() or 0.0) - s0
    return {"result": result, "wall_s": wall, "cpu_s": cpu, "server_cpu_s": server_cpu,
            "attempts": counter.attempts, "store": out / "run.sqlite"}


class TruthTables:
    """The World's truth as replay models and per work, for a plan's robots policy (the
    sources that ignore robots.txt reach more), computed once per policy."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._cache: dict[frozenset[str], tuple[dict[str, Any], dict[str, Any]]] = {}

    def __call__(self, ignoring_robots: frozenset[str]
                 ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        if ignoring_robots not in self._cache:
            truths = self.world.truth(ignoring_robots=ignoring_robots)
            by_work: dict[str, dict[str, Any]] = {}
            for t in truths:
                by_work.setdefault(t.work_id, {})[t.source] = t
            self._cache[ignoring_robots] = (models_from_truth(truths), by_work)
        return self._cache[ignoring_robots]


def hedging_figures(plan: Plan, run: dict[str, Any], unhedged: dict[str, Any], csv: Path,
                    work_dir: Path, args: argparse.Namespace, world: World,
                    table: Mapping[str, Any], truth_by_work: Mapping[str, Mapping[str, Any]],
                    oracle_ms: Mapping[str, Any], q: float = 0.95) -> dict[str, Any]:
    """The plan hedged at each tier's `q` quantile (measured and replayed), the replayed
    effect of other quantiles, and the best cut any hedging could give (the oracle)."""
    # `tune`'s rule on the unhedged run: each tier but the last hedged at the `q` quantile
    # of how long it took to win, counted from the tier's start
    attempts = open_run(run["store"]).attempts
    overrides = hedge_points(plan, attempts, q=q)
    if not overrides:
        return {"error": "no tier won often enough to set a hedge point"}
    hedged = plan.replace(**overrides)
    hrun = measured_run(f"{plan.name}-hedged-q{q}", hedged, csv, work_dir, args,
                        time_scale=args.time_scale, concurrency=args.concurrency)
    hfig = latency_figures(hedged, hrun, world, table, truth_by_work, oracle_ms)
    lat_u, lat_h = unhedged["latency_ms"], hfig["latency_ms"]
    p99u, p99h = lat_u["measured"]["p99"], lat_h["measured"]["p99"]
    ru, rh = unhedged["requests_total"]["measured"], hfig["requests_total"]["measured"]
    iu, ih = unhedged["requests_total"]["plan_ideal"], hfig["requests_total"]["plan_ideal"]
    ipu, iph = lat_u["plan_ideal"]["p99"], lat_h["plan_ideal"]["p99"]
    # no plan resolves a work sooner than its fastest source: over the works the unhedged
    # run resolved, the P99 of that is the most any hedging could cut
    oracle_p99 = pct([oracle_ms[r.work_id][1] for r in run["result"].resolutions
                      if r.resolved and oracle_ms.get(r.work_id) is not None], 0.99)
    return {
        "quantile": q, "overrides": overrides, "hedged_run": hfig,
        "p95_ms": {"unhedged": lat_u["measured"]["p95"], "hedged": lat_h["measured"]["p95"]},
        "p99_ms": {"unhedged": p99u, "hedged": p99h},
        "p99_cut": _r(1 - p99h / p99u) if p99u and p99h else None,
        "extra_requests": _r(rh / ru - 1) if ru else None,
        "plan_ideal_p99_cut": _r(1 - iph / ipu) if ipu and iph else None,
        "plan_ideal_extra_requests": _r(ih / iu - 1) if iu else None,
        "oracle_p99_ms_of_resolved": _r(oracle_p99, 1),
        "oracle_bound_p99_cut": _r(1 - oracle_p99 / p99u) if p99u and oracle_p99 else None,
        "replayed_quantile_sweep": [
            {k: _r(v) if isinstance(v, float) else v for k, v in row.items()}
            for row in hedge_tradeoff(plan, attempts, table)],
    }


def latency_figures(plan: Plan, run: dict[str, Any], world: World, table: Mapping[str, Any],
                    truth_by_work: Mapping[str, Mapping[str, Any]],
                    oracle_ms: Mapping[str, Any]) -> dict[str, Any]:
    """Coverage, latency and requests of a measured run against the plan-ideal replay."""
    resolutions = run["result"].resolutions
    ideal = {r.work_id: r for r in replay(plan, table)}
    names = set(plan.source_names)
    reachable = {w for w, srcs in truth_by_work.items()
                 if any(t.holds_pdf for s, t in srcs.items() if s in names)}
    resolved = [r for r in resolutions if r.resolved]
    false_pdfs = [r.work_id for r in resolved if not valid_in_world(world, r.pdf_url)]
    missed = sorted(reachable - {r.work_id for r in resolved})
    ideal_set = {w for w, r in ideal.items() if r.status == "resolved"}
    missed_ideal = sorted(ideal_set - {r.work_id for r in resolved})
    ideal_resolved = [r for r in ideal.values() if r.status == "resolved"]
    lat = [r.elapsed_ms for r in resolved]
    ideal_lat = [r.elapsed_ms for r in ideal_resolved]
    orc = [v[1] for v in oracle_ms.values() if v is not None]
    reqs = sum(r.requests for r in resolutions)
    ideal_reqs = sum(r.requests for r in ideal.values())
    rpr = reqs / len(resolved) if resolved else None
    ideal_rpr = ideal_reqs / len(ideal_resolved) if ideal_resolved else None
    q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
    measured = {k: _r(pct(lat, v), 1) for k, v in q.items()}
    plan_ideal = {k: _r(pct(ideal_lat, v), 1) for k, v in q.items()}
    return {
        "coverage": {
            "total": len(resolutions), "reachable_by_plan": len(reachable),
            "plan_ideal_resolved": len(ideal_resolved), "resolved": len(resolved),
            "resolved_of_reachable": _r(len(resolved) / len(reachable)) if reachable else None,
            "resolved_of_total": _r(len(resolved) / len(resolutions)) if resolutions else None,
            "missed_reachable": len(missed), "missed_examples": missed[:5],
            # the target's yardstick: what the plan-ideal replay (truth under the plan's
            # budgets and timeouts) resolves
            "resolved_of_plan_ideal": (_r(1 - len(missed_ideal) / len(ideal_set))
                                       if ideal_set else None),
            "missed_plan_ideal": missed_ideal[:20],
            "false_pdfs": len(false_pdfs), "false_pdf_examples": false_pdfs[:5],
        },
        "latency_ms": {
            "measured": measured, "plan_ideal": plan_ideal,
            "oracle": {k: _r(pct(orc, v), 1) for k, v in q.items()},
            "ratio_measured_to_plan_ideal": {k: ratio(measured[k], plan_ideal[k]) for k in q},
        },
        "requests_per_resolved": {"measured": _r(rpr), "plan_ideal": _r(ideal_rpr),
                                  "ratio": ratio(rpr, ideal_rpr)},
        "requests_total": {"measured": reqs, "plan_ideal": _r(ideal_reqs, 1)},
        "wall_s": _r(run["wall_s"], 2), "client_cpu_s": _r(run["cpu_s"], 2),
        "server_cpu_s": _r(run["server_cpu_s"], 2),
    }


def throughput_run(plan: Plan, csv: Path, n: int, work_dir: Path, args: argparse.Namespace,
                   concurrency: int) -> dict[str, Any]:
    run = measured_run(f"throughput-{n}-{concurrency}", plan, csv, work_dir, args,
                       time_scale=0.0, concurrency=concurrency, faults=NO_TIME_FAULTS)
    res = run["result"].resolutions
    reqs = sum(r.requests for r in res)
    attempts = run["attempts"]
    return {
        "works": n, "concurrency": concurrency, "resolved": sum(r.resolved for r in res),
        "attempts": attempts, "requests": reqs, "wall_s": _r(run["wall_s"], 2),
        "works_per_s": _r(n / run["wall_s"], 1),
        "client_cpu_s": _r(run["cpu_s"], 2),
        "client_cpu_ms_per_attempt": _r(run["cpu_s"] / attempts * 1000) if attempts else None,
        "client_cpu_ms_per_request": _r(run["cpu_s"] / reqs * 1000) if reqs else None,
        "works_per_client_cpu_s": _r(n / run["cpu_s"], 1) if run["cpu_s"] else None,
        "server_cpu_s": _r(run["server_cpu_s"], 2),
        "load_avg_1m_after": _r(os.getloadavg()[0], 2),
    }


def memory_run(plan_path: Path, n: int, work_dir: Path, args: argparse.Namespace,
               concurrency: int) -> dict[str, Any]:
    """Peak RSS of a child that streams n works from CSV into a run store."""
    csv = work_dir / f"works-{n}.csv"
    with csv.open("w", encoding="utf-8") as fh:
        write_corpus(fh, profile=args.profile, n=n, seed=args.seed)
    with SandboxProcess(csv, profile=args.profile, seed=args.seed, time_scale=0.0,
                        faults=NO_TIME_FAULTS) as sb:
        proc = subprocess.run(
            [sys.executable, str(HERE / "_stream.py"), "--works", str(csv), "--port",
             str(sb.port), "--plan", str(plan_path), "--concurrency", str(concurrency),
             "--out", str(work_dir / f"stream-{n}")],
            capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        return {"works": n, "error": proc.stderr.strip()[-800:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["works_per_s"] = _r(out["works"] / out["wall_s"], 1)
    out["client_cpu_ms_per_attempt"] = _r(out["cpu_s"] / max(1, out["attempts"]) * 1000)
    return dict(out)


# -- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--time-scale", type=float, default=0.5,
                    help="time scale of the latency runs (World ms are reported)")
    ap.add_argument("--plan", action="append", default=None,
                    help="plan YAML (repeatable; default plans/default.yaml)")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--throughput-n", type=int, default=10_000,
                    help="works in the zero-delay runs (default 10,000)")
    ap.add_argument("--throughput-concurrency", default="64,256")
    ap.add_argument("--no-hedge", action="store_true")
    ap.add_argument("--hedge-quantiles", default="0.95",
                    help="measured hedged runs, each tier hedged at this quantile of its"
                         " win latency (comma-separated; the first is `hedging`)")
    ap.add_argument("--no-rate-limit-run", action="store_true")
    ap.add_argument("--memory", default=None,
                    help="comma-separated corpus sizes for the peak-RSS runs (--full:"
                         " 10000,100000)")
    ap.add_argument("--full", action="store_true",
                    help="also peak RSS at 10k/100k works")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--keep-work-dir", action="store_true",
                    help="keep the corpus CSVs and run stores (removed by default)")
    args = ap.parse_args(argv)
    plan_paths = [Path(p) for p in (args.plan or [str(HERE.parent / "plans/default.yaml")])]
    tp_n = args.throughput_n
    mem_sizes = [int(x) for x in (args.memory or ("10000,100000" if args.full else "")
                                   ).split(",") if x]
    work_dir = Path(tempfile.mkdtemp(prefix="fk-bench-"))
    try:
        return _bench(args, work_dir, plan_paths, tp_n, mem_sizes)
    finally:
        if not args.keep_work_dir:  # the run stores of a --full run take gigabytes
            shutil.rmtree(work_dir, ignore_errors=True)


def _bench(args: argparse.Namespace, work_dir: Path, plan_paths: list[Path], tp_n: int,
           mem_sizes: list[int]) -> int:
    csv = work_dir / "works.csv"
    with csv.open("w", encoding="utf-8") as fh:
        write_corpus(fh, profile=args.profile, n=args.n, seed=args.seed)

    started = time.perf_counter()
    works = list(read_works(csv).works)
    world = World.build(works, profile=args.profile, seed=args.seed)
    t0 = time.perf_counter()
    truth_of = TruthTables(world)
    truth_of(frozenset())
    truth_s = time.perf_counter() - t0

    doc: dict[str, Any] = {
        "benchmark": "resolve", "profile": args.profile, "n": args.n, "seed": args.seed,
        "time_scale": args.time_scale, "concurrency": args.concurrency,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_avg_1m_at_start":
                    _r(os.getloadavg()[0], 2)},
        "truth_s": _r(truth_s, 2), "targets": TARGETS, "plans": {},
    }
    for plan_path in plan_paths:
        base = load_plan(plan_path)
        lifted = lift_rate_limits(base)
        table, truth_by_work = truth_of(lifted.sources_ignoring_robots)
        names = set(lifted.source_names)
        orc = oracle({w: {s: m for s, m in srcs.items() if s in names}
                      for w, srcs in table.items()})
        entry: dict[str, Any] = {"plan": str(plan_path)}
        run = measured_run(f"{base.name}-nolimits", lifted, csv, work_dir, args,
                           time_scale=args.time_scale, concurrency=args.concurrency)
        entry["no_rate_limits"] = latency_figures(lifted, run, world, table, truth_by_work, orc)

        if not args.no_hedge:
            first, *others = [float(q) for q in args.hedge_quantiles.split(",") if q]
            entry["hedging"] = hedging_figures(lifted, run, entry["no_rate_limits"], csv,
                                               work_dir, args, world, table, truth_by_work, orc,
                                               first)
            entry["hedging_other_quantiles"] = [
                hedging_figures(lifted, run, entry["no_rate_limits"], csv, work_dir, args,
                                world, table, truth_by_work, orc, q) for q in others]
        if not args.no_rate_limit_run:
            rrun = measured_run(f"{base.name}-ratelimited", base, csv, work_dir, args,
                                time_scale=args.time_scale, concurrency=args.concurrency)
            entry["with_rate_limits"] = latency_figures(base, rrun, world, table,
                                                        truth_by_work, orc)
        doc["plans"][base.name] = entry
        _write(doc, args)

    base = lift_rate_limits(load_plan(plan_paths[0]))
    tp_csv = csv
    if tp_n != args.n:
        tp_csv = work_dir / f"works-{tp_n}.csv"
        with tp_csv.open("w", encoding="utf-8") as fh:
            write_corpus(fh, profile=args.profile, n=tp_n, seed=args.seed)
    doc["zero_delay"] = [throughput_run(base, tp_csv, tp_n, work_dir, args, int(c))
                         for c in args.throughput_concurrency.split(",") if c]
    _write(doc, args)
    if mem_sizes:
        plan_file = work_dir / "plan-nolimits.yaml"
        plan_file.write_text(base.to_yaml(), encoding="utf-8")
        mem = [memory_run(plan_file, n, work_dir, args, 64) for n in mem_sizes]
        doc["peak_rss"] = {"runs": mem}
        if len(mem) >= 2 and all("peak_rss_mb" in m for m in mem):
            doc["peak_rss"]["growth"] = _r(mem[-1]["peak_rss_mb"] / mem[0]["peak_rss_mb"])
    doc["bench_wall_s"] = _r(time.perf_counter() - started, 1)
    doc["bench_peak_rss_mb"] = _r(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    doc["work_dir"] = str(work_dir) if args.keep_work_dir else None
    _write(doc, args)
    print(json.dumps(doc, indent=2))
    return 0


def _write(doc: dict[str, Any], args: argparse.Namespace) -> None:
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
