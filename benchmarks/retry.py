"""The retry benchmark: a run on the sandbox, then `--retry-failed` on the same store.

    python benchmarks/retry.py --n 300      # about a minute

The first run resolves every work (the sandbox's faults on, so some works end
`transient`); the second resumes the same `out` with the statuses `fallback-kit run
--retry-failed` retries by default (not_found, transient, failed_local, error), as a new
round. Prints one JSON document: for each run its wall time, the works it resolved
again, the requests that reached the simulated web, the outcome counts of the store
after it (each work's latest round) and how many resolutions each round holds (the
earlier round is kept). The sandbox runs in a child process on 127.0.0.1; no internet.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _sandbox_proc import SandboxProcess  # noqa: E402

from fallback_kit.contracts.plan import load_plan  # noqa: E402
from fallback_kit.faces.api import arun_works  # noqa: E402
from fallback_kit.faces.cli.run_cmd import DEFAULT_RETRY  # noqa: E402
from fallback_kit.insight.stored_run import open_run  # noqa: E402
from fallback_kit.sandbox import SandboxTransport, write_corpus  # noqa: E402

RETRY_STATUSES = DEFAULT_RETRY


class Counting(httpx.AsyncBaseTransport):
    """Counts every request that reaches the sandbox."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def one_run(csv: Path, plan: Any, port: int, out: Path, time_scale: float,
                  concurrency: int, retry: tuple[str, ...]) -> dict[str, Any]:
    counting = Counting(SandboxTransport("127.0.0.1", port))
    t0 = time.perf_counter()
    result = await arun_works(csv, plan, out=out, transport=counting, time_scale=time_scale,
                              concurrency=concurrency, progress=False, cache=False,
                              trust_transport=True,  # a simulated web: no name lookups
                              keep_resolutions=True, retry_statuses=retry)
    wall = time.perf_counter() - t0
    resolved_now = collections.Counter(str(r.status) for r in result.resolutions)
    run = open_run(out)
    stored = collections.Counter(run.resolutions["status"].astype(str))
    rounds = collections.Counter(int(r) for r in run.all_resolutions["round"])
    return {
        "wall_s": round(wall, 2),
        "works_resolved_in_this_run": sum(resolved_now.values()),
        "their_statuses": dict(sorted(resolved_now.items())),
        "requests": counting.requests,
        "store_statuses_after": dict(sorted(stored.items())),
        "store_resolutions_by_round": {str(k): v for k, v in sorted(rounds.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="works (default: 300)")
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--plan", default="default", help="a plan file or a packaged plan name")
    ap.add_argument("--time-scale", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    plan = load_plan(args.plan)
    with tempfile.TemporaryDirectory(prefix="fk-retry-bench-") as tmp:
        work = Path(tmp)
        csv = work / "works.csv"
        with csv.open("w", encoding="utf-8") as fh:
            write_corpus(fh, profile=args.profile, n=args.n, seed=args.seed)
        out = work / "run"
        with SandboxProcess(csv, profile=args.profile, seed=args.seed,
                            time_scale=args.time_scale) as sb:
            assert sb.port is not None
            runs = {name: asyncio.run(one_run(csv, plan, sb.port, out, args.time_scale,
                                              args.concurrency, retry))
                    for name, retry in (("first", ()), ("retry_failed", RETRY_STATUSES))}
    first, again = runs["first"], runs["retry_failed"]
    print(json.dumps({
        "works": args.n, "profile": args.profile, "seed": args.seed, "plan": plan.name,
        "time_scale": args.time_scale, "concurrency": args.concurrency,
        "retry_statuses": list(RETRY_STATUSES), "first": first, "retry_failed": again,
        "retry_requests_share": round(again["requests"] / max(1, first["requests"]), 4),
        "retry_wall_share": round(again["wall_s"] / max(1e-9, first["wall_s"]), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
