"""`python benchmarks/_stream.py --works CSV --port P --plan YAML [--concurrency C]`

Stream works from a CSV into a run store through the orchestrator, against a sandbox
already running on 127.0.0.1:P, at time_scale 0; print one JSON line with wall time,
client CPU, attempts, requests and the peak RSS of this process. Nothing is kept per
work in memory (the CSV is read row by row, results go to the store), so the peak RSS
must not grow with the corpus.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fallback_kit.contracts.events import Attempt, Resolution
from fallback_kit.contracts.plan import load_plan
from fallback_kit.contracts.works import Work, work_from_mapping
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.record.store import RunStore
from fallback_kit.sandbox import SandboxTransport
from fallback_kit.web.client import make_client
from fallback_kit.web.edge import NetSettings


class _Counting:
    """Forwards events to the store and counts attempts and requests."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.attempts = 0
        self.requests = 0
        self.resolved = 0
        self.works = 0

    def emit(self, event: object) -> None:
        if isinstance(event, Attempt):
            self.attempts += 1
        elif isinstance(event, Resolution):
            self.works += 1
            self.requests += event.requests
            self.resolved += event.resolved
        self.store.emit(event)  # type: ignore[arg-type]


def _works(path: Path, store: RunStore, batch: int = 500) -> Iterator[Work]:
    """Rows of the CSV as Works, added to the store a batch at a time."""
    pending: list[Work] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            work = work_from_mapping(row, row_number=i)
            pending.append(work)
            if len(pending) >= batch:
                store.add_works(pending)
                yield from pending
                pending = []
    if pending:
        store.add_works(pending)
        yield from pending


async def _run(args: argparse.Namespace) -> dict[str, object]:
    plan = load_plan(args.plan)
    out = Path(args.out or tempfile.mkdtemp(prefix="fk-stream-"))
    store = RunStore.open_or_create(out, plan_yaml=plan.to_yaml(), meta={}, force=True)
    sink = _Counting(store)
    transport = SandboxTransport("127.0.0.1", args.port)
    t0, c0 = time.perf_counter(), time.process_time()
    async with make_client(NetSettings(live=False, email=plan.politeness.email),
                           transport=transport) as client:
        orch = Orchestrator(plan, client=client, sink=sink, time_scale=0.0,
                            run_id=store.run_id, trust_transport=True)
        async for _ in orch.resolve_many(_works(Path(args.works), store),
                                         concurrency=args.concurrency):
            pass
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    store.finish()
    store.close()
    return {"works": sink.works, "resolved": sink.resolved, "attempts": sink.attempts,
            "requests": sink.requests, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "connections_made": transport.connections_made,
            "peak_rss_mb": round(peak_rss_kib() / 1024, 1)}


def peak_rss_kib() -> int:
    """This process's own peak RSS. `ru_maxrss` would not do: Linux carries it over from
    the parent through fork and exec, so a child of a big benchmark process reports the
    parent's size. The kernel's VmHWM belongs to the process's own memory map."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: best effort


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--works", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--out")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(_run(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
