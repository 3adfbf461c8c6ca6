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


def _bench(script: str, *args: str, cwd: Path) -> dict:
    """Run a benchmark script and return the JSON it prints."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=300, check=False, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_retry_benchmark_redoes_only_the_misses(tmp_path):
    """The retry round resolves again exactly the first run's not_found and transient
    works, and both runs reach the sandbox (a run that sends nothing measures nothing)."""
    doc = _bench("retry.py", "--n", "30", "--time-scale", "0.05", cwd=tmp_path)
    first, again = doc["first"], doc["retry_failed"]
    assert first["works_resolved_in_this_run"] == 30
    assert first["requests"] > 0 and first["their_statuses"].get("resolved", 0) > 0
    misses = sum(first["their_statuses"].get(s, 0) for s in doc["retry_statuses"])
    assert again["works_resolved_in_this_run"] == misses
    assert sum(again["store_statuses_after"].values()) == 30
    assert again["store_resolutions_by_round"] == {"1": 30, **({"2": misses} if misses else {})}
    assert (again["requests"] > 0) == (misses > 0)


def test_cache_benchmark_reaches_the_sandbox(tmp_path):
    """The cold run asks the APIs; the warm runs repeat none of its answers, and ask
    nothing at all when the cold run left no work without an answer."""
    doc = _bench("cache.py", "--n", "20", "--no-faults", "--concurrency", "4",
                 "--time-scale", "0.05", cwd=tmp_path)
    assert doc["cold"]["metadata_requests"] > 0
    assert doc["cold"]["statuses"].get("resolved", 0) > 0
    assert doc["warm"]["metadata_requests_repeated"] == 0
    assert doc["warm_again"]["metadata_requests_repeated"] == 0
    if not doc["cold"]["statuses"].get("transient"):
        assert doc["warm"]["metadata_requests"] == doc["warm_again"]["metadata_requests"] == 0
