"""Rules of the core that mutation testing found unguarded (issue 17): each test fails
when its rule is broken."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from _netkit import PDF, REFERENCE, Router
from fakes import WORK, FakeSource, Step, fake_factory, make_plan, no_pdf, ok

from fallback_kit.contracts.events import ListSink, Outcome, ResolutionStatus
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.web.gates import GateClosed, Gates, RateLimit

pytestmark = pytest.mark.looptime


def orch(plan, sources, **kw):
    sink = ListSink()
    o = Orchestrator(plan, sources={s.name: s for s in sources}, sink=sink,
                     fetcher_factory=fake_factory, **kw)
    return o, sink


async def test_a_hedged_tier_holds_back_the_tier_after_it():
    """Once a hedge has started tier 2, tier 1 finishing does not start tier 3 while
    tier 2 still runs: tier 3 starts only when tier 2 ends (or hedges)."""
    t1 = FakeSource("unpaywall", [Step(3, no_pdf())])
    t2 = FakeSource("doi_redirect", [Step(6, no_pdf())])
    t3 = FakeSource("wayback", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"], "hedge_after_ms": 1000},
                      {"name": "t2", "sources": ["doi_redirect"]},
                      {"name": "t3", "sources": ["wayback"]}],
                     budgets={"total_timeout_ms": 60_000})
    o, _ = orch(plan, [t1, t2, t3])
    res = await o.resolve(WORK)
    assert t2.calls == [pytest.approx(1.0)]
    assert t3.calls == [pytest.approx(7.0)], "tier 3 started before tier 2 ended"
    assert res.source == "wayback" and res.elapsed_ms == pytest.approx(8000, abs=5)


async def test_the_deadline_holds_with_a_late_hedge_and_a_slow_accept_step():
    """A hedge point later than the deadline does not stretch the work: with a slow
    accept step (a download) the work still ends at its deadline."""
    src = FakeSource("unpaywall", [Step(1, ok())])
    later = FakeSource("doi_redirect", [Step(1, ok())])

    async def slow_accept(work, source, result):
        await asyncio.sleep(60)
        return None

    plan = make_plan([{"name": "t1", "sources": ["unpaywall"], "hedge_after_ms": 20_000},
                      {"name": "t2", "sources": ["doi_redirect"]}],
                     budgets={"total_timeout_ms": 5000},
                     sources={"unpaywall": {"timeout_ms": 5000}})
    o, _ = orch(plan, [src, later], accept=slow_accept)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    res = await o.resolve(WORK)
    assert loop.time() - t0 == pytest.approx(5.0, abs=0.05)
    assert res.status is ResolutionStatus.BUDGET_EXHAUSTED and later.calls == []


async def test_a_rate_wait_over_the_cap_skips_at_once():
    """skip_if_rate_wait_exceeds_ms skips without waiting any of the time it would cost."""
    gates = Gates(rate_limits={"slow.example": RateLimit(per_second=0.1)}, max_rate_wait_ms=5000)
    await gates.before_request("slow.example")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(GateClosed) as info:
        await gates.before_request("slow.example")
    assert info.value.reason == "rate_wait"
    assert loop.time() - t0 == 0, "the skip waited before skipping"


async def test_offline_metadata_only_never_fetches_a_pdf_through_the_orchestrator():
    """With gates.offline and metadata_only, a real source asks its API but the PDF
    candidate is never requested: the try is skipped as offline."""
    body = (REFERENCE / "unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json").read_text()
    pdf_urls = [loc["url_for_pdf"] for loc in json.loads(body)["oa_locations"]
                if loc.get("url_for_pdf")]
    router = Router()
    router.add("https://api.unpaywall.org/v2/10.1186/1758-2946-3-47", body=body,
               content_type="application/json")
    for url in pdf_urls:
        router.add(url, body=PDF, content_type="application/pdf")
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     gates={"offline": True, "offline_behavior": "metadata_only"})
    sink = ListSink()
    async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as client:
        o = Orchestrator(plan, client=client, sink=sink)
        res = await o.resolve(Work(work_id="w", doi="10.1186/1758-2946-3-47"))
    fetched = [u for u in router.urls() if not u.startswith("https://api.unpaywall.org/")]
    assert fetched == [] and router.urls(), router.urls()
    assert res.status is not ResolutionStatus.RESOLVED
    assert sink.attempts[0].outcome is Outcome.SKIPPED
