"""Run object and analysis figures, checked against values computed by hand for the
fixed run of test_store_fixture.py (its docstring lists every attempt)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_store_fixture import write_run_a, write_run_b

from fallback_kit.insight import analysis as an
from fallback_kit.insight.stored_run import Run, open_run
from fallback_kit.record.store import RunStore, StoreError


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("runs")
    return write_run_a(base / "a"), write_run_b(base / "b")


@pytest.fixture
def run(run_dirs: tuple[Path, Path]) -> Run:
    return open_run(run_dirs[0])


def records(df: pd.DataFrame) -> list[dict]:
    return df.astype("object").to_dict(orient="records")


def test_attempts_frame_has_typed_columns(run: Run) -> None:
    """Attempts come back with ints, floats, categories and a dict meta column."""
    att = run.attempts
    assert len(att) == 12
    dtypes = {c: str(t) for c, t in att.dtypes.items()}
    assert {dtypes[c] for c in ("tier", "source", "outcome", "reason", "host")} == {"category"}
    assert (dtypes["seq"], dtypes["retries"], dtypes["bytes"]) == ("int64", "int64", "int64")
    assert (dtypes["t_start_ms"], dtypes["duration_ms"]) == ("float64", "float64")
    assert dtypes["status"] == "Int64"
    assert list(att["outcome"].cat.categories)[:3] == ["success", "no_pdf", "not_applicable"]
    assert att["meta"].iloc[0] == {}
    assert att["duration_ms"].tolist()[:3] == [100.0, 100.0, 50.0]


def test_tiers_follow_plan_order(run: Run) -> None:
    """Tier categories are in the plan's order, in attempts and resolutions alike."""
    assert run.tiers == ["fast", "slow"]
    assert list(run.resolutions["tier"].cat.categories) == ["fast", "slow"]
    assert list(run.resolutions["status"].cat.categories) == [
        "resolved", "not_found", "budget_exhausted", "failed_local", "transient", "error"]


def test_meta_and_plan_text(run: Run) -> None:
    """The run keeps its plan text and its meta (mode, profile, seed, scale)."""
    assert run.plan_yaml.startswith("budgets:")
    m = run.meta
    assert (m["run_id"], m["network_mode"], m["sandbox_profile"], m["sandbox_seed"],
            m["time_scale"], m["status"]) == ("run-a", "sandbox", "mixed", 7, 0.01, "finished")
    assert "plan_yaml" not in m


def test_works_and_breaker_events(run: Run) -> None:
    """Works and breaker events are read back."""
    assert run.works["work_id"].tolist() == ["w1", "w2", "w3", "w4", "w5"]
    assert run.works["doi"].iloc[0] == "10.1000/w1"
    assert records(run.breaker_events) == [
        {"seq": 1, "host": "arxiv.org", "old": "closed", "new": "open", "at_s": 1.5,
         "failures": 5}]


def test_summary_figures(run: Run) -> None:
    """Counts, coverage 3/5, 15 requests / 3 resolved, P50/P95/P99 of 120, 210, 450 ms."""
    s = run.summary_dict()
    p = s.pop("latency_ms")
    assert s == {"run_id": "run-a", "status": "finished", "works": 5, "done": 5, "pending": 0,
                 "resolved": 3, "not_found": 1, "budget_exhausted": 1, "failed_local": 0,
                 "transient": 0, "error": 0,
                 "coverage": 0.6, "attempts": 12, "requests": 15,
                 "requests_per_resolved": 5.0, "by_tier": {"fast": 2, "slow": 1},
                 "by_source": {"arxiv": 1, "unpaywall": 1, "wayback": 1}}
    # linear interpolation: p95 = 210 + 0.9 * 240, p99 = 210 + 0.98 * 240
    assert p == pytest.approx({"p50": 210.0, "p95": 426.0, "p99": 445.2})


def test_summary_is_a_flat_series(run: Run) -> None:
    """summary() is a Series named by the run id with flat latency keys; as_dict=True is
    the dict form."""
    s = run.summary()
    assert isinstance(s, pd.Series) and s.name == "run-a"
    assert (s["resolved"], s["coverage"], s["latency_p50_ms"]) == (3, 0.6, 210.0)
    assert "by_tier" not in s.index and "latency_ms" not in s.index
    assert run.summary(as_dict=True) == run.summary_dict()


def test_repr_shows_state(run: Run) -> None:
    """repr names the run and its counts."""
    assert "run_id='run-a'" in repr(run) and "resolved=3 (60.0%)" in repr(run)
    assert "attempts=12" in repr(run)


def test_open_run_missing_path_names_it(tmp_path: Path) -> None:
    """A path without a run gives a StoreError naming it."""
    with pytest.raises(StoreError, match=str(tmp_path)):
        open_run(tmp_path)


def test_summary_of_an_unfinished_run_counts_pending(tmp_path: Path) -> None:
    """Works added but not done are pending; coverage is over done works; no NaN in JSON."""
    store = RunStore.create(tmp_path, plan_yaml="tiers: []", meta={})
    from fallback_kit.contracts.works import Work
    store.add_works([Work(work_id="x", doi="10.1/x"), Work(work_id="y", doi="10.1/y")])
    store.close()
    s = open_run(tmp_path).summary_dict()
    assert (s["works"], s["done"], s["pending"], s["coverage"], s["latency_ms"]["p50"]) == (
        2, 0, 2, None, None)
    assert s["requests_per_resolved"] is None


def test_coverage_and_requests_per_resolved(run: Run) -> None:
    """coverage = 3/5; requests per resolved = 15/3; a resolutions frame works too."""
    assert an.coverage(run) == 0.6
    assert an.coverage(run.resolutions.head(2)) == 1.0
    assert an.requests_per_resolved(run) == 5.0


def test_functions_accept_a_path(run_dirs: tuple[Path, Path]) -> None:
    """A run directory path is opened for you."""
    assert an.coverage(run_dirs[0]) == 0.6
    assert an.coverage(str(run_dirs[1])) == pytest.approx(4 / 6)


def test_coverage_by_tier_is_a_waterfall(run: Run) -> None:
    """fast reached 5 and resolved 2; slow reached 2 and resolved 1; cumulative 0.4, 0.6."""
    assert records(an.coverage_by_tier(run)) == [
        {"tier": "fast", "reached": 5, "resolved": 2, "coverage": 0.4, "cumulative": 0.4},
        {"tier": "slow", "reached": 2, "resolved": 1, "coverage": 0.2,
         "cumulative": pytest.approx(0.6)},
    ]


def test_coverage_by_source(run: Run) -> None:
    """arxiv tried on 2 works (cancelled counts, not_applicable and skipped do not)."""
    assert records(an.coverage_by_source(run)) == [
        {"source": "arxiv", "tried": 2, "found": 1, "wins": 1, "coverage": 0.2},
        {"source": "unpaywall", "tried": 5, "found": 1, "wins": 1, "coverage": 0.2},
        {"source": "wayback", "tried": 2, "found": 1, "wins": 1, "coverage": 0.2},
    ]


def test_source_stats(run: Run) -> None:
    """Per source tries, yield and duration percentiles (unpaywall 40,50,100,300,1000 ms);
    failures are the tries that ended without a PDF (the one grouping, events.FAILED)."""
    df = an.source_stats(run).set_index("source")
    assert df.index.tolist() == ["unpaywall", "arxiv", "wayback"]
    u = df.loc["unpaywall"].to_dict()
    assert u == {"attempts": 5, "tries": 5, "successes": 1, "yield": 0.2, "p50_ms": 100.0,
                 "p95_ms": pytest.approx(860.0), "p99_ms": pytest.approx(972.0),
                 "timeouts": 1, "cancelled": 0, "failures": 4, "skipped": 0, "retries": 2}
    a = df.loc["arxiv"].to_dict()
    assert (a["attempts"], a["tries"], a["successes"], a["yield"], a["cancelled"],
            a["skipped"]) == (5, 2, 1, 0.5, 1, 1)
    assert (a["p50_ms"], a["p95_ms"], a["p99_ms"]) == pytest.approx((150.0, 195.0, 199.0))
    w = df.loc["wayback"].to_dict()
    assert (w["p50_ms"], w["p95_ms"], w["p99_ms"]) == pytest.approx((350.0, 395.0, 399.0))


def test_host_stats(run: Run) -> None:
    """Per host the same figures; arxiv.org has 5 attempts and 2 tries."""
    df = an.host_stats(run).set_index("host")
    assert df.loc["arxiv.org", "attempts"] == 5 and df.loc["arxiv.org", "tries"] == 2
    assert df.loc["archive.org", "successes"] == 1


def test_failure_reasons_ranked(run: Run) -> None:
    """7 non-success applicable attempts; no_oa_location twice comes first."""
    assert records(an.failure_reasons(run)) == [
        {"outcome": "no_pdf", "reason": "no_oa_location", "count": 2, "share": 2 / 7},
        {"outcome": "cancelled", "reason": "sibling_won", "count": 1, "share": 1 / 7},
        {"outcome": "no_pdf", "reason": "no_snapshot", "count": 1, "share": 1 / 7},
        {"outcome": "retryable", "reason": "http_503", "count": 1, "share": 1 / 7},
        {"outcome": "skipped", "reason": "breaker_open", "count": 1, "share": 1 / 7},
        {"outcome": "timeout", "reason": "read_timeout", "count": 1, "share": 1 / 7},
    ]


def test_time_lost_by_outcome(run: Run) -> None:
    """Of 2490 ms of attempts, 1000 went to a timeout, 390 to no_pdf, 300, 100 ..."""
    df = an.time_lost(run)
    assert df["outcome"].tolist()[:4] == ["timeout", "no_pdf", "retryable", "cancelled"]
    assert df["lost_ms"].tolist()[:4] == [1000.0, 390.0, 300.0, 100.0]
    assert df["attempts"].tolist()[:4] == [1, 3, 1, 1]
    assert df["share"].iloc[0] == pytest.approx(1000 / 2490)


def test_time_lost_by_source(run: Run) -> None:
    """unpaywall lost 50+40+1000+300 ms; wayback 300; arxiv 100."""
    df = an.time_lost(run, by="source").set_index("source")
    assert df["lost_ms"].to_dict() == {"unpaywall": 1390.0, "wayback": 300.0, "arxiv": 100.0}


def test_latency_percentiles_by_tier(run: Run) -> None:
    """fast resolved in 120 and 210 ms, slow in 450 ms."""
    overall = an.latency_percentiles(run)
    assert overall.loc[0, "works"] == 3 and overall.loc[0, "mean_ms"] == 260.0
    df = an.latency_percentiles(run, by="tier").set_index("tier")
    assert df.loc["fast", ["p50_ms", "p95_ms", "p99_ms"]].tolist() == pytest.approx(
        [165.0, 205.5, 209.1])
    assert df.loc["slow", "p99_ms"] == 450.0


def test_latency_percentiles_rejects_unknown_grouping(run: Run) -> None:
    """A misspelt `by` says what is allowed."""
    with pytest.raises(ValueError, match="'source' or 'tier'"):
        an.latency_percentiles(run, by="sorce")


def test_compare_runs_summary(run_dirs: tuple[Path, Path]) -> None:
    """On the 5 common works both cover 3; B's latencies are 210, 450, 800 ms."""
    c = an.compare_runs(*run_dirs)
    assert (c.common, c.only_in_a, c.only_in_b) == (5, 0, 1)
    s = c.summary
    assert s.loc["coverage"].tolist() == [0.6, 0.6, 0.0]
    assert s.loc["p50_ms"].tolist() == [210.0, 450.0, 240.0]
    assert s.loc["p95_ms"].tolist() == pytest.approx([426.0, 765.0, 339.0])
    assert s.loc["p99_ms"].tolist() == pytest.approx([445.2, 793.0, 347.8])
    assert s.loc["requests_per_resolved"].tolist() == [5.0, 5.0, 0.0]


def test_compare_runs_lists_the_works_that_differ(run_dirs: tuple[Path, Path]) -> None:
    """w1 found only by A, w4 only by B, with each side's status, source and reason."""
    c = an.compare_runs(*run_dirs)
    assert c.to_dict()["differences"] == [
        {"work_id": "w1", "change": "only_a", "a_status": "resolved", "a_source": "unpaywall",
         "a_reason": "", "b_status": "not_found", "b_source": None,
         "b_reason": "no source had a PDF"},
        {"work_id": "w4", "change": "only_b", "a_status": "not_found", "a_source": None,
         "a_reason": "no source had a PDF", "b_status": "resolved", "b_source": "wayback",
         "b_reason": ""},
    ]
    assert "common=5" in repr(c)


def test_compare_runs_without_common_works(tmp_path: Path, run_dirs: tuple[Path, Path]) -> None:
    """Two runs with no finished work in common cannot be compared."""
    RunStore.create(tmp_path, plan_yaml="tiers: []", meta={}).close()
    with pytest.raises(ValueError, match="no finished work in common"):
        an.compare_runs(run_dirs[0], tmp_path)


def test_analysis_of_an_empty_run(tmp_path: Path) -> None:
    """A run with nothing done gives empty tables, not errors."""
    RunStore.create(tmp_path, plan_yaml="tiers: []", meta={}).close()
    r = open_run(tmp_path)
    assert an.source_stats(r).empty and an.failure_reasons(r).empty
    assert an.time_lost(r).empty and an.coverage_by_tier(r).empty
    assert an.latency_percentiles(r).loc[0, "works"] == 0


def test_open_run_while_the_writer_is_running(tmp_path: Path) -> None:
    """A notebook can read a run that is still being written (WAL readers)."""
    from fallback_kit.contracts.events import Resolution, ResolutionStatus

    store = RunStore.create(tmp_path, plan_yaml="tiers: []", meta={})
    store.emit(Resolution(run_id=store.run_id, work_id="w1", status=ResolutionStatus.RESOLVED,
                          source="arxiv", tier="t", elapsed_ms=5.0, requests=1))
    live = open_run(tmp_path)
    store.emit(Resolution(run_id=store.run_id, work_id="w2", status=ResolutionStatus.NOT_FOUND))
    later = open_run(tmp_path / "run.sqlite")
    store.close()
    assert live.resolutions["work_id"].tolist() == ["w1"]
    assert later.resolutions["work_id"].tolist() == ["w1", "w2"]
    assert later.meta["status"] == "running"
