"""`tune`: recommendations and projections on a fixed run, and projections checked
against a real run of the tuned plan on the same sandbox World."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_store_fixture import write_run_a

from fallback_kit import load_plan, open_run, read_works, run_works
from fallback_kit.engine.replay import models_from_attempts
from fallback_kit.faces.cli import main
from fallback_kit.insight.tuning import (
    Recommendation,
    hedge_points,
    hedge_tradeoff,
    models_of_run,
    project,
    recommend,
    tuned_plan,
)

ROOT = Path(__file__).parent.parent


def test_projection_of_the_fixed_run(tmp_path):
    """Replaying run A's attempts under its own plan gives the hand-computed figures."""
    run = open_run(write_run_a(tmp_path / "a"))
    proj = project(run.plan, models_from_attempts(run.attempts))
    # w1 unpaywall at 100, w2 arxiv at 200, w3 wayback at 40+400; w4 and w5 find nothing
    assert (proj.works, proj.resolved) == (5, 3)
    assert proj.p50_ms == 200 and proj.coverage == pytest.approx(0.6)


def test_recommendations_of_the_fixed_run(tmp_path):
    """With one source at a time, only the reorder by wins per second is justified by run
    A's data; with both at once (run A's own plan) the order does not matter."""
    run = open_run(write_run_a(tmp_path / "a"))
    assert recommend(run) == []
    recs = recommend(run, run.plan.replace(**{"tiers[0].parallel": 1}))
    # unpaywall: 1 win in 1490 ms of tries; arxiv: 1 win in 200 ms -> arxiv first
    assert [r.title for r in recs] == ["reorder tier fast: arxiv, unpaywall",
                                       "parallel 2 in tier fast"]
    assert recs[0].overrides == {"tiers[0].sources": ["arxiv", "unpaywall"]}
    assert recs[0].after.resolved == recs[0].before.resolved == 3
    assert (recs[0].before.p50_ms, recs[0].after.p50_ms) == (250, 200)  # w2 sooner


def test_tune_cli_writes_a_loadable_plan(tmp_path, capsys):
    """`tune --write` writes a plan that loads and differs as recommended. With one
    source at a time (`--set` on the run's own plan), arXiv first is faster on run A:
    P50 250 -> 200 ms."""
    run_dir = write_run_a(tmp_path / "a")
    out = tmp_path / "tuned.yaml"
    assert main(["tune", str(run_dir), "--set", "tiers[0].parallel=1",
                 "--write", str(out)]) == 0
    assert "reorder tier fast" in capsys.readouterr().out
    tuned = load_plan(out, env={})
    assert tuned.tiers[0].sources == ("arxiv", "unpaywall") and tuned.tiers[0].parallel == 1


def test_tuned_plan_skips_changes_that_gain_nothing(tmp_path):
    """Both sources of run A's first tier already run at once, so reordering them changes
    no projected figure: the tuned plan keeps the order."""
    run = open_run(write_run_a(tmp_path / "a"))
    reorder = Recommendation(title="reorder", why="test",
                             overrides={"tiers[0].sources": ["arxiv", "unpaywall"]})
    tuned, projection = tuned_plan(run.plan, [reorder], run)
    assert tuned == run.plan
    assert projection == project(run.plan, models_of_run(run, run.plan))


def test_a_source_that_never_started_gets_a_stand_in(tmp_path):
    """Run A's w1 and w2 were won in the first tier, so Wayback never started on them. A
    plan that starts Wayback sooner must pay for it: the stand-in is a failure with
    Wayback's usual failing cost in this run (w4: 300 ms, 1 request)."""
    run = open_run(write_run_a(tmp_path / "a"))
    table = models_of_run(run, run.plan)
    for work in ("w1", "w2"):
        stand_in = table[work]["wayback"]
        assert (stand_in.success, stand_in.duration_ms, stand_in.requests) == (False, 300.0, 1)
    assert table["w3"]["wayback"].success  # what was recorded stays as it was
    assert table["w1"]["arxiv"].duration_ms == 100  # cancelled after 100 ms, recorded
    hedged = run.plan.replace(**{"tiers[0].hedge_after_ms": 10})
    before, after = project(run.plan, table), project(hedged, table)
    assert after.requests_per_resolved > before.requests_per_resolved


@pytest.mark.slow
def test_projection_agrees_with_a_real_run_of_the_tuned_plan(tmp_path):
    """The tuned plan's projected coverage and median latency match an actual run of it on
    the same World: coverage within 3 works, P50 within 35%, P95 within 25%
    (measured once: 78 vs 78 works, P50 1672 vs 2057 ms, P95 6511 vs 6343 ms)."""
    works = read_works(ROOT / "sample_works.csv")
    lifted = {"per_second": 1000, "burst": 50}
    plan = load_plan("default", env={}, overrides={
        "politeness.rate_limits": {"web.archive.org": lifted, "archive.org": lifted}})
    first = run_works(works, plan, out=tmp_path / "base", time_scale=0.1, concurrency=8,
                      progress=False, seed=7)
    base = first.open()
    tuned, projected = tuned_plan(plan, recommend(base, plan), base)
    assert tuned != plan  # the sample run gives at least one useful change
    second = run_works(works, tuned, out=tmp_path / "tuned", time_scale=0.1, concurrency=8,
                       progress=False, seed=7).open().summary()
    assert abs(second["resolved"] - projected.resolved) <= 3
    assert second["latency_ms"]["p50"] == pytest.approx(projected.p50_ms, rel=0.35)
    assert second["latency_ms"]["p95"] == pytest.approx(projected.p95_ms, rel=0.25)


def _attempts(rows):
    import pandas as pd
    return pd.DataFrame(rows, columns=["work_id", "tier", "source", "outcome",
                                       "t_start_ms", "t_end_ms"])


def test_hedge_points_count_from_the_tiers_start():
    """A late tier's hedge point is how long *it* took to win, not the time since the work
    started: tier `late` starts at 9000 ms and wins 100-500 ms later in every work."""
    plan = load_plan("default", env={})
    first, late = plan.tiers[0].name, plan.tiers[1].name
    rows = []
    for k in range(20):
        w = f"w{k}"
        rows.append((w, first, "unpaywall", "not_found", 0.0, 9000.0))
        rows.append((w, late, "doi_redirect", "success", 9000.0, 9000.0 + 100 + 20 * k))
    for k in range(20):  # the first tier wins quickly in other works
        rows.append((f"v{k}", first, "unpaywall", "success", 0.0, 50.0 + 10 * k))
    points = hedge_points(plan, _attempts(rows))
    assert points["tiers[1].hedge_after_ms"] == pytest.approx(100 + 0.95 * 19 * 20, abs=1)
    assert points["tiers[0].hedge_after_ms"] == pytest.approx(50 + 0.95 * 19 * 10, abs=1)
    assert "tiers[2].hedge_after_ms" not in points  # no wins: no evidence for a hedge point


def test_hedge_points_need_enough_wins():
    plan = load_plan("default", env={})
    rows = [(f"w{k}", plan.tiers[0].name, "arxiv", "success", 0.0, 10.0) for k in range(4)]
    assert hedge_points(plan, _attempts(rows)) == {}
    assert hedge_points(plan, _attempts(rows), min_wins=4) == {"tiers[0].hedge_after_ms": 10}


def test_hedge_tradeoff_earlier_hedges_cut_the_tail_and_cost_requests():
    """Ten works win in the first tier within 100-190 ms; in ten others the first tier
    hangs to its 8 s timeout and Wayback wins 1 s after it starts. Hedging the first
    tier near its win latency starts Wayback at once for those: the tail falls from
    9 s to about 1.2 s; an earlier hedge point also starts Wayback for slow winners."""
    from fallback_kit.contracts.plan import load_plan_text
    from fallback_kit.engine.replay import SourceModel

    plan = load_plan_text(
        "tiers:\n  - {name: first, sources: [unpaywall]}\n  - {name: archive, sources: [wayback]}\n"
        "sources:\n  unpaywall: {timeout_ms: 8000, retries_max: 0}\n"
        "  wayback: {timeout_ms: 8000, retries_max: 0}\n")
    rows, table = [], {}
    for k in range(10):
        rows.append((f"fast{k}", "first", "unpaywall", "success", 0.0, 100.0 + 10 * k))
        table[f"fast{k}"] = {"unpaywall": SourceModel(success=True, duration_ms=100 + 10 * k),
                             "wayback": SourceModel(success=False, duration_ms=500)}
        rows.append((f"hang{k}", "first", "unpaywall", "timeout", 0.0, 8000.0))
        rows.append((f"hang{k}", "archive", "wayback", "success", 8000.0, 9000.0))
        table[f"hang{k}"] = {"unpaywall": SourceModel(success=False, duration_ms=float("inf")),
                             "wayback": SourceModel(success=True, duration_ms=1000)}
    curve = {row["quantile"]: row for row in hedge_tradeoff(plan, _attempts(rows), table)}
    assert sorted(curve) == [0.5, 0.75, 0.9, 0.95, 0.99]
    p95 = curve[0.95]
    assert p95["overrides"] == {"tiers[0].hedge_after_ms": 185}
    assert p95["p99_cut"] == pytest.approx(1 - (185 + 1000) / 9000, abs=0.01)
    assert p95["resolved_change"] == 0 and p95["extra_requests"] >= 0
    assert curve[0.5]["extra_requests"] > curve[0.99]["extra_requests"]  # wins after 145 ms
