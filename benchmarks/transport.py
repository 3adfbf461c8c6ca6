"""The sandbox transport benchmark: our h11 `SandboxTransport` against httpx's own
`AsyncHTTPTransport` behind a small URL-rewriting wrapper, on one sandbox process.

    python benchmarks/transport.py --n 500 --concurrency 64,256 --repeats 2

Both transports carry the same zero-delay run (time_scale 0, no time faults, the
default plan with its rate limits lifted) of the same works into a fresh run store, in
alternating order; the sandbox runs in its own process, so the CPU measured is the
client's. Prints one JSON document: per transport and concurrency, works/s, attempts/s,
requests/s and client CPU ms per request (benchmarks/RESULTS.md keeps the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _sandbox_proc import SandboxProcess  # noqa: E402
from resolve import NO_TIME_FAULTS, _Count, _r, lift_rate_limits  # noqa: E402

from fallback_kit.contracts.plan import load_plan  # noqa: E402
from fallback_kit.faces.api import arun_works  # noqa: E402
from fallback_kit.sandbox import SandboxTransport, write_corpus  # noqa: E402


class RewritingTransport(httpx.AsyncBaseTransport):
    """httpx's own HTTP/1.1 transport, every request sent to the sandbox at host:port;
    the request keeps its Host header and tells its scheme in `x-sandbox-scheme`, as
    `SandboxTransport` does."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=512)
        self.inner = httpx.AsyncHTTPTransport(limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = httpx.Headers(request.headers)  # Host is already the original one
        headers["x-sandbox-scheme"] = request.url.scheme
        url = request.url.copy_with(scheme="http", host=self.host, port=self.port)
        sent = httpx.Request(request.method, url, headers=headers, stream=request.stream,
                             extensions=request.extensions)
        return await self.inner.handle_async_request(sent)

    async def aclose(self) -> None:
        await self.inner.aclose()


TRANSPORTS = {
    "sandbox_h11": SandboxTransport,
    "httpx_rewriting": RewritingTransport,
}


def one_run(kind: str, port: int, csv: Path, out: Path, concurrency: int) -> dict[str, Any]:
    """One zero-delay run of the corpus through the given transport."""
    plan = lift_rate_limits(load_plan("default"))
    counter = _Count()
    transport = TRANSPORTS[kind]("127.0.0.1", port)
    t0, c0 = time.perf_counter(), time.process_time()
    result = asyncio.run(arun_works(
        csv, plan, out=out, transport=transport, trust_transport=True, time_scale=0.0,
        concurrency=concurrency, progress=False, sink=counter, force=True))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    requests = sum(r.requests for r in result.resolutions)
    n = len(result.resolutions)
    return {
        "transport": kind, "concurrency": concurrency, "works": n,
        "resolved": sum(r.resolved for r in result.resolutions),
        "attempts": counter.attempts, "requests": requests, "wall_s": _r(wall, 2),
        "works_per_s": _r(n / wall, 1), "attempts_per_s": _r(counter.attempts / wall, 1),
        "requests_per_s": _r(requests / wall, 1),
        "client_cpu_ms_per_request": _r(cpu / requests * 1000) if requests else None,
        "load_avg_1m_after": _r(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--concurrency", default="64,256")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fk-transport-"))
    csv = work / "works.csv"
    with csv.open("w", encoding="utf-8") as fh:
        write_corpus(fh, profile=args.profile, n=args.n, seed=args.seed)
    runs: list[dict[str, Any]] = []
    with SandboxProcess(csv, profile=args.profile, seed=args.seed, time_scale=0.0,
                        faults=NO_TIME_FAULTS) as sb:
        assert sb.port is not None
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for rep in range(args.repeats):
                order = list(TRANSPORTS) if rep % 2 == 0 else list(reversed(TRANSPORTS))
                for kind in order:
                    out = work / f"{kind}-{concurrency}-{rep}"
                    runs.append(one_run(kind, sb.port, csv, out, concurrency))
    print(json.dumps({"profile": args.profile, "n": args.n, "seed": args.seed,
                      "cpus": os.cpu_count(), "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
