"""The replay engine: hand-computed cases, and agreement with the real orchestrator."""

from __future__ import annotations

import math
import random

import pytest
from fakes import FakeSource, Step, fake_factory, make_plan, no_pdf, ok

from fallback_kit.contracts.events import ListSink
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.engine.replay import SourceModel, oracle, replay_work

TIERS = [{"name": "t1", "sources": ["unpaywall", "arxiv", "pmc"], "parallel": 2},
         {"name": "t2", "sources": ["doi_redirect"]},
         {"name": "t3", "sources": ["wayback"]}]


def m(success, ms, n=1):
    return SourceModel(success=success, duration_ms=ms, requests=n,
                       request_starts_ms=tuple(ms * i / n for i in range(n)))


def test_parallel_slot_frees_for_the_queued_source():
    """With parallel 2 the third source starts when the first one fails."""
    plan = make_plan(TIERS)
    r = replay_work(plan, "w", {"unpaywall": m(False, 300), "arxiv": m(True, 900),
                                "pmc": m(True, 200, 2)})
    assert (r.status, r.source, r.elapsed_ms) == ("resolved", "pmc", 500)
    assert r.requests == 1 + 2 + 1  # unpaywall, pmc, and arxiv's request already sent


def test_a_model_without_request_times_sends_its_requests_at_the_start():
    """A hand-built model (no `request_starts_ms`) that is cancelled by a winner still
    counts the request it sent when it started."""
    plan = make_plan(TIERS)
    r = replay_work(plan, "w", {"unpaywall": SourceModel(success=False, duration_ms=math.inf),
                                "arxiv": m(True, 900)})
    assert (r.source, r.elapsed_ms) == ("arxiv", 900)
    assert r.requests == 1 + 1  # arxiv's, and the hanging unpaywall's


def test_falls_through_tiers_in_order():
    """A later tier starts when the earlier one has failed."""
    plan = make_plan(TIERS)
    r = replay_work(plan, "w", {"unpaywall": m(False, 300), "doi_redirect": m(False, 1000),
                                "wayback": m(True, 4000)})
    assert (r.source, r.tier, r.elapsed_ms) == ("wayback", "t3", 5300)


def test_hang_times_out_with_retries():
    """A hanging source costs (retries+1) timeouts plus the expected backoffs."""
    plan = make_plan(TIERS, sources={"doi_redirect": {"timeout_ms": 2000, "retries_max": 1,
                                                      "backoff_base_ms": 400}})
    r = replay_work(plan, "w", {"doi_redirect": m(False, math.inf), "wayback": m(True, 100)})
    assert r.elapsed_ms == 2000 + 200 + 2000 + 100


def test_deadline_and_budget():
    """The deadline ends a work as budget_exhausted; so does the attempt budget."""
    plan = make_plan(TIERS, budgets={"total_timeout_ms": 3000})
    r = replay_work(plan, "w", {"unpaywall": m(True, 5000)})
    assert (r.status, r.elapsed_ms) == ("budget_exhausted", 3000)
    plan = make_plan(TIERS, budgets={"total_attempts": 1})
    r = replay_work(plan, "w", {"unpaywall": m(False, 10), "arxiv": m(True, 10)})
    assert r.status == "budget_exhausted"


def test_hedging_starts_next_tier():
    """hedge_after_ms starts the next tier while the slow one runs."""
    tiers = [dict(TIERS[0], hedge_after_ms=1000), TIERS[1]]
    plan = make_plan(tiers)
    r = replay_work(plan, "w", {"unpaywall": m(True, 8000), "doi_redirect": m(True, 500)})
    assert (r.source, r.elapsed_ms) == ("doi_redirect", 1500)


def test_oracle_is_the_fastest_holder():
    """The oracle ignores the plan and picks the fastest source with the PDF."""
    table = {"w": {"unpaywall": m(True, 900), "wayback": m(True, 300), "pmc": m(False, 10)}}
    assert oracle(table) == {"w": ("wayback", 300)}


@pytest.mark.looptime
async def test_replay_agrees_with_the_orchestrator():
    """On random fake sources the orchestrator and the replay pick the same winner at the
    same time (the replay is the orchestrator without overhead)."""
    rng = random.Random(5)
    names = ["unpaywall", "arxiv", "pmc", "doi_redirect", "wayback"]
    for case in range(60):
        plan = make_plan(TIERS, budgets={"total_timeout_ms": 20_000, "max_concurrent": 2},
                         sources={n: {"retries_max": 0, "timeout_ms": 9000} for n in names})
        models, fakes = {}, []
        for n in names:
            success = rng.random() < 0.4
            ms = float(rng.choice([100, 700, 1500, 4000, 12000]))
            models[n] = m(success, ms)
            fakes.append(FakeSource(n, [Step(ms / 1000, ok() if success else no_pdf())]))
        o = Orchestrator(plan, sources={f.name: f for f in fakes}, sink=ListSink(),
                         fetcher_factory=fake_factory)
        real = await o.resolve(Work(work_id=f"w{case}", doi="10.1000/x"))
        sim = replay_work(plan, f"w{case}", models)
        assert (str(real.status), real.source) == (sim.status, sim.source), case
        assert real.elapsed_ms == pytest.approx(sim.elapsed_ms, abs=2), case
