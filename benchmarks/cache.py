"""The cache benchmark: the same works and plan three times, cold then warm, on the sandbox.

    python benchmarks/cache.py --n 300                  # about a minute
    python benchmarks/cache.py --n 300 --no-faults      # every answer arrives in the cold run
    python benchmarks/cache.py --n 300 --no-faults --forget-races   # the cache alone

Prints one JSON document: for each run its wall time, the metadata requests that
reached the simulated web (requests to the sources' API hosts whose answer is JSON,
XML, a redirect or robots.txt: what the cache keeps; PDFs and HTML pages are counted
apart as `other_requests`, never cached), how many of those repeat a URL an earlier run
asked, the outcome counts, and the tries that ended without an answer about the work
(a gate held them back, a timeout, a 429/5xx).

What must hold: a warm run asks no URL the cold run got an answer to (`repeated` is 0
without faults), and asks new questions only for the works the cold run left without an
answer (`transient`, which a plain resume would redo too). With no such work the warm
run sends 0 metadata requests: the race book in the cache directory makes each work's
last winner try first, so instant cached answers do not let the sources it beat ask
new questions (`--forget-races` deletes the book before each run to show what the cache
alone does). The sandbox runs in a child process on 127.0.0.1; nothing here touches
the internet.
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

from fallback_kit.contracts.events import SETTLED  # noqa: E402
from fallback_kit.contracts.plan import load_plan  # noqa: E402
from fallback_kit.engine.batch import http_cache  # noqa: E402
from fallback_kit.faces.api import arun_works  # noqa: E402
from fallback_kit.insight.stored_run import open_run  # noqa: E402
from fallback_kit.sandbox import SandboxTransport, write_corpus  # noqa: E402
from fallback_kit.web.cache import RACES_FILE, HttpCache, is_metadata_answer  # noqa: E402


class Counting(httpx.AsyncBaseTransport):
    """Counts what reaches the sandbox: metadata requests (an API host's JSON, XML or
    redirect, the answers the cache keeps) by host, and the rest (PDFs, pages)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, cache: HttpCache) -> None:
        self.inner = inner
        self.cache = cache
        self.metadata: collections.Counter[str] = collections.Counter()
        self.metadata_urls: set[str] = set()
        self.other = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if ("range" not in request.headers and self.cache.covers(request.url.host)
                and is_metadata_answer(response, request)):
            self.metadata[request.url.host] += 1
            self.metadata_urls.add(str(request.url))
        else:
            self.other += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def one_run(csv: Path, plan: Any, port: int, cache: HttpCache, out: Path,
                  time_scale: float, concurrency: int, asked_before: set[str]) -> dict[str, Any]:
    counting = Counting(SandboxTransport("127.0.0.1", port), cache)
    t0 = time.perf_counter()
    result = await arun_works(csv, plan, out=out, transport=counting, time_scale=time_scale,
                              concurrency=concurrency, progress=False, force=True,
                              cache=cache.directory, keep_resolutions=True,
                              trust_transport=True)  # a simulated web: no name lookups
    wall = time.perf_counter() - t0
    statuses = collections.Counter(str(r.status) for r in result.resolutions)
    attempts = open_run(out).attempts
    unanswered = attempts[~attempts["outcome"].astype(str).isin(
        {str(o) for o in SETTLED} | {"cancelled"})]
    return {
        "wall_s": round(wall, 2),
        "metadata_requests": sum(counting.metadata.values()),
        "metadata_requests_by_host": dict(sorted(counting.metadata.items())),
        # asked in an earlier run too: what the cache failed to answer
        "metadata_requests_repeated": len(counting.metadata_urls & asked_before),
        "_urls": counting.metadata_urls,
        "other_requests": counting.other,
        "statuses": dict(sorted(statuses.items())),
        "winners": {r.work_id: r.source for r in result.resolutions if r.resolved},
        "tries_without_answer": dict(sorted(collections.Counter(
            f"{o}:{r}" for o, r in zip(unanswered["outcome"].astype(str),
                                       unanswered["reason"].astype(str), strict=True)).items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="works (default: 300)")
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--plan", default="default", help="a plan file or a packaged plan name")
    ap.add_argument("--time-scale", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--no-faults", action="store_true", help="switch the sandbox's faults off")
    ap.add_argument("--forget-races", action="store_true",
                    help="delete the race book before each run: the HTTP cache alone")
    args = ap.parse_args()
    plan = load_plan(args.plan)
    with tempfile.TemporaryDirectory(prefix="fk-cache-bench-") as tmp:
        work = Path(tmp)
        csv = work / "works.csv"
        with csv.open("w", encoding="utf-8") as fh:
            write_corpus(fh, profile=args.profile, n=args.n, seed=args.seed)
        cache = http_cache(work / "cache", plan)
        faults = {"all": 0.0} if args.no_faults else None
        with SandboxProcess(csv, profile=args.profile, seed=args.seed,
                            time_scale=args.time_scale, faults=faults) as sb:
            assert sb.port is not None
            asked: set[str] = set()
            runs = {}
            for name in ("cold", "warm", "warm_again"):
                if args.forget_races:
                    (cache.directory / RACES_FILE).unlink(missing_ok=True)
                runs[name] = asyncio.run(one_run(csv, plan, sb.port, cache, work / name,
                                                 args.time_scale, args.concurrency, asked))
                asked |= runs[name].pop("_urls")
    cold, warm, again = runs["cold"], runs["warm"], runs["warm_again"]
    winners = [r.pop("winners") for r in (cold, warm, again)]
    print(json.dumps({
        "works": args.n, "profile": args.profile, "seed": args.seed, "plan": plan.name,
        "time_scale": args.time_scale, "concurrency": args.concurrency,
        "faults": not args.no_faults, "forget_races": args.forget_races,
        "cache_max_age_s": plan.cache.max_age,
        "cold": cold, "warm": warm, "warm_again": again,
        # works resolved in both runs whose winning source differs
        "warm_other_winner": sum(1 for w, s in winners[1].items()
                                 if w in winners[0] and winners[0][w] != s),
        "warm_metadata_requests_share": round(
            warm["metadata_requests"] / max(1, cold["metadata_requests"]), 4),
        "warm_wall_share": round(warm["wall_s"] / max(1e-9, cold["wall_s"]), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
