"""The right-paper benchmark: precision, recall and cost of the check, on a sandbox World
with the traps on (locations serving another work's PDF, scans without text).

    python benchmarks/trust.py                      # sample_works.csv, about a minute
    python benchmarks/trust.py --works corpus.csv --wrong-paper 0.2

Runs the same plan twice, with `accept.check_paper` off and on, against one World, and
prints one JSON document: per run, precision (delivered PDFs that are the work's),
recall against the truth (resolved of what the plan can reach), wrong-paper and false
PDF deliveries, the version mix, bytes read per run and per resolved work, latency P50
and P95 (World ms), and the CPU seconds of the run (client and in-process sandbox);
then the check's cost: extra bytes, latency ratios, CPU per checked PDF.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fallback_kit.contracts.plan import Plan, load_plan  # noqa: E402
from fallback_kit.contracts.works import read_works  # noqa: E402
from fallback_kit.faces.api import arun_works  # noqa: E402
from fallback_kit.faces.networks import truth_check  # noqa: E402
from fallback_kit.insight.stored_run import open_run  # noqa: E402
from fallback_kit.sandbox import Sandbox, World  # noqa: E402


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return round(v[lo] + (v[hi] - v[lo]) * (k - lo), 1)


async def one_run(world: World, works: list[Any], plan: Plan, out: Path,
                  args: argparse.Namespace) -> dict[str, Any]:
    """Resolve `works` once; the figures of that run."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    async with Sandbox(world, time_scale=args.time_scale) as sb:
        await arun_works(works, plan, out=out, transport=sb.transport(),
                         time_scale=args.time_scale, concurrency=args.concurrency,
                         progress=False, force=True, trust_transport=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    truth = truth_check(world, plan, out)
    run = open_run(out)
    res, att = run.resolutions, run.attempts
    resolved = res[res["status"].astype(str) == "resolved"]
    metas = [m if isinstance(m, dict) else {} for m in resolved["meta"]]
    delivered = len(resolved)
    wrong = len(truth["wrong_papers"]) + len(truth["false_pdfs"])
    reachable = truth["reachable_by_plan"]
    checks = sum(1 for t in att["meta"] if isinstance(t, dict)
                 for c in t.get("tried") or [] if c.get("paper"))
    total_bytes = int(att["bytes"].sum())
    return {
        "works": truth["works"], "reachable_by_plan": reachable, "resolved": delivered,
        "precision": round((delivered - wrong) / delivered, 4) if delivered else None,
        "recall_of_reachable": round(truth["resolved_of_reachable"] / reachable, 4)
        if reachable else None,
        "wrong_papers": len(truth["wrong_papers"]), "false_pdfs": len(truth["false_pdfs"]),
        "paper_verdicts": dict(Counter(str(m.get("paper")) for m in metas)),
        "version_mix": dict(Counter(str(m.get("version")) for m in metas)),
        "bytes": total_bytes,
        "bytes_per_resolved": round(total_bytes / delivered) if delivered else None,
        "requests": int(res["requests"].sum()),
        "p50_ms": pct(list(res["elapsed_ms"]), 0.5), "p95_ms": pct(list(res["elapsed_ms"]), 0.95),
        "checked_pdfs": checks, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
        "missed": truth["missed"],
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    works = list(read_works(args.works).works)
    faults = {"wrong_paper": args.wrong_paper, "no_text": args.no_text}
    world = World.build(works, profile=args.profile, seed=args.seed, faults=faults)
    base = load_plan(args.plan, env={})
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in (("check_off", False), ("check_on", True)):
            plan = base.replace(**{"accept.check_paper": check})
            runs[name] = await one_run(world, works, plan, Path(tmp) / name, args)
    off, on = runs["check_off"], runs["check_on"]
    extra_cpu = on["cpu_s"] - off["cpu_s"]
    cost = {
        "extra_bytes": on["bytes"] - off["bytes"],
        "bytes_ratio": round(on["bytes"] / off["bytes"], 2) if off["bytes"] else None,
        "p50_ratio": round(on["p50_ms"] / off["p50_ms"], 3) if off["p50_ms"] else None,
        "p95_ratio": round(on["p95_ms"] / off["p95_ms"], 3) if off["p95_ms"] else None,
        "cpu_ms_per_check": round(1000 * extra_cpu / on["checked_pdfs"], 2)
        if on["checked_pdfs"] else None,
    }
    return {"setup": {"works": str(args.works), "profile": args.profile, "seed": args.seed,
                      "faults": faults, "plan": str(args.plan), "time_scale": args.time_scale,
                      "concurrency": args.concurrency},
            "runs": runs, "cost_of_the_check": cost}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--works", type=Path, default=ROOT / "sample_works.csv")
    p.add_argument("--plan", default="default", help="a plan file or a packaged plan name")
    p.add_argument("--profile", default="mixed")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--wrong-paper", type=float, default=0.15)
    p.add_argument("--no-text", type=float, default=0.05)
    p.add_argument("--time-scale", type=float, default=0.1)
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(bench(args)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
