"""Draw the README tour's figures into docs/images/ from fresh sandbox runs.

    .venv/bin/python notebooks/make_readme_images.py            # from the repository root

Kept out of the notebooks so that running them under nbval never rewrites files in
docs/. The figures are those of 01 and 02 (and 04's plan comparison), on
`sample_works.csv` with the sandbox's `biomed` profile, where every tier gets some work.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANS = ("default", "fast", "thorough")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "readme_images")
    parser.add_argument("--profile", default="biomed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--dpi", type=int, default=110)
    args = parser.parse_args(argv)
    os.environ.setdefault("FALLBACK_KIT_PROGRESS", "0")

    import fallback_kit as fk
    from fallback_kit.insight import plots

    works = fk.read_works(ROOT / "sample_works.csv").works
    runs = {}
    for name in PLANS:
        plan = fk.load_plan(name)
        runs[name] = fk.run_works(works, plan, out=args.runs / name, profile=args.profile,
                                  seed=args.seed, time_scale=args.time_scale,
                                  force=True).open()
        print(runs[name])
    run = runs["default"]
    deadline = fk.load_plan("default").budgets.total_timeout_ms

    # the waterfall of a work that went deepest into the plan before it was found
    res = run.resolutions[run.resolutions["status"] == "resolved"].copy()
    res["depth"] = [run.tiers.index(str(t)) for t in res["tier"]]
    work_id = res.sort_values(["depth", "elapsed_ms"])["work_id"].iloc[-1]

    args.out.mkdir(parents=True, exist_ok=True)
    figures = {
        "waterfall.png": plots.waterfall(run, work_id, deadline_ms=deadline),
        "waterfall_sample.png": plots.waterfall_sample(run, 4, seed=args.seed),
        "latency_percentiles.png": plots.latency_percentiles(run),
        "source_latency_percentiles.png": plots.source_latency_percentiles(run),
        "coverage_by_tier.png": plots.coverage_by_tier(runs),
        "compare_plans.png": plots.compare_plans(runs),
    }
    for filename, fig in figures.items():
        path = args.out / filename
        fig.savefig(path, dpi=args.dpi, bbox_inches="tight")
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
