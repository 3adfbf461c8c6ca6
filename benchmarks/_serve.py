"""`python benchmarks/_serve.py --works CSV --profile P --seed S --time-scale T [--faults JSON]`

The sandbox in its own process, like `fallback-kit sandbox serve`, plus fault-rate
overrides (the throughput run turns off the faults about time: hangs and trickles).
Prints `sandbox: ... on http://127.0.0.1:PORT ...`, serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading

from fallback_kit.contracts.works import read_works
from fallback_kit.sandbox import Sandbox, World


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--works", required=True)
    ap.add_argument("--profile", default="mixed")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--time-scale", type=float, default=0.0)
    ap.add_argument("--faults", default="{}")
    args = ap.parse_args()
    works = list(read_works(args.works).works)
    world = World.build(works, profile=args.profile, seed=args.seed,
                        faults=json.loads(args.faults) or None)
    sandbox = Sandbox(world, time_scale=args.time_scale, host="127.0.0.1", port=0).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"sandbox: {world!r} on {sandbox.base_url} (time_scale {args.time_scale})",
          flush=True)
    try:
        stop.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
