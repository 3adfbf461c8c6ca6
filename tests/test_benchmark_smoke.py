"""`benchmarks/resolve.py` on a small World: it runs end to end and its JSON holds every
section the README documents (the figures themselves are measured on a full run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_resolve_benchmark_prints_its_json(tmp_path):
    out = tmp_path / "bench.json"
    scratch = tmp_path / "scratch"  # where the benchmark's temporary work dir goes
    scratch.mkdir()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/resolve.py"), "--profile", "mixed", "--n", "60",
         "--time-scale", "0.05", "--concurrency", "16", "--no-rate-limit-run",
         "--throughput-concurrency", "16", "--throughput-n", "60",
         "--hedge-quantiles", "0.95,0.9", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc == json.loads(out.read_text())
    assert doc["work_dir"] is None and list(scratch.iterdir()) == []  # nothing left behind
    plan = doc["plans"]["default"]
    cov = plan["no_rate_limits"]["coverage"]
    assert cov["total"] == 60 and cov["false_pdfs"] == 0
    assert 0 < cov["plan_ideal_resolved"] <= cov["reachable_by_plan"] <= 60
    assert cov["resolved"] >= 0.9 * cov["plan_ideal_resolved"]
    hedging = plan["hedging"]
    assert hedging["quantile"] == 0.95
    assert set(hedging["overrides"]) <= {f"tiers[{i}].hedge_after_ms" for i in range(3)}
    sweep = {row["quantile"]: row for row in hedging["replayed_quantile_sweep"]}
    assert sorted(sweep) == [0.5, 0.75, 0.9, 0.95, 0.99]
    # an earlier hedge point never sends fewer requests than a later one
    assert sweep[0.5]["extra_requests"] >= sweep[0.99]["extra_requests"]
    assert [h["quantile"] for h in plan["hedging_other_quantiles"]] == [0.9]
    (zero,) = doc["zero_delay"]
    assert zero["works"] == 60 and zero["resolved"] > 0 and zero["works_per_s"] > 0
    assert zero["client_cpu_ms_per_attempt"] > 0
