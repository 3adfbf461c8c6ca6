"""Politeness that holds at scale: every host has a rate, one work sends at most a few
dozen requests to one host, a host refusing everything trips its breaker, and the
services' daily quotas are counted across runs and respected.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from fallback_kit.contracts.events import ListSink, Outcome, ResolutionStatus
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import MAX_REQUESTS_PER_HOST, Orchestrator, make_gates
from fallback_kit.faces.cli import main
from fallback_kit.record.store import RunStore
from fallback_kit.sources.base import Source, SourceContext, SourceResult
from fallback_kit.web import quota as quota_mod
from fallback_kit.web.client import DEFAULT_HOST_RATE
from fallback_kit.web.gates import STORM_4XX, BreakerConfig, BreakerState, GateClosed, Gates
from fallback_kit.web.quota import QuotaBook

PLAN = {"name": "p", "tiers": [{"name": "t", "sources": ["unpaywall"]}]}


def test_an_unlisted_host_has_the_default_rate():
    """Before: publisher hosts not in the list had no rate limit at all."""
    gates = make_gates(plan_from_dict(PLAN), time_scale=1.0,
                       default_limits={"*": DEFAULT_HOST_RATE})
    limiter = gates.limiter("journals.some-publisher.example")
    assert limiter is not None and limiter.limit == DEFAULT_HOST_RATE


def test_the_plan_sets_the_rate_of_unlisted_hosts():
    plan = plan_from_dict({**PLAN, "politeness": {"rate_limits": {
        "*": {"per_second": 2, "burst": 1}}}})
    gates = make_gates(plan, time_scale=0.5, default_limits={"*": DEFAULT_HOST_RATE})
    limiter = gates.limiter("pub.example")
    assert limiter is not None
    assert (limiter.limit.per_second, limiter.limit.burst) == (4.0, 1)  # 2/s at scale 0.5


class Hammer(Source):
    """A source that asks one host again and again (as a hostile page would make it)."""

    name = "landing_scrape"
    needs = ("doi",)
    hosts = ()

    async def find(self, work: Work, ctx: SourceContext) -> SourceResult:
        for i in range(10_000):
            await ctx.http.get_html(f"https://pub.example/page/{i}")
        return SourceResult(outcome=Outcome.NO_PDF, reason="none")


def test_one_work_sends_at_most_the_cap_to_one_host():
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200 if request.url.path != "/robots.txt" else 404,
                              html="<html></html>", request=request)

    plan = plan_from_dict({"name": "h", "budgets": {"total_timeout_ms": 600_000},
                           "tiers": [{"name": "t", "sources": ["landing_scrape"]}],
                           "sources": {"landing_scrape": {"timeout_ms": 600_000,
                                                          "retries_max": 0}},
                           "politeness": {"rate_limits": {"*": {"per_second": 1e6,
                                                                "burst": 1000}}}})
    sink = ListSink()

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
            orch = Orchestrator(plan, client=client, sink=sink, trust_transport=True,
                                sources={"landing_scrape": Hammer()})
            return await orch.resolve(Work(work_id="w", doi="10.1/x"))

    asyncio.run(go())
    pages = [p for p in sent if p != "/robots.txt"]
    assert len(pages) == MAX_REQUESTS_PER_HOST - (len(sent) - len(pages))
    assert [(a.outcome, a.reason) for a in sink.attempts] == [(Outcome.SKIPPED, "host_cap")]


async def _storm(status: int, n: int) -> Gates:
    gates = Gates(breaker=BreakerConfig(failure_threshold=5, window_ms=60_000,
                                        cooldown_ms=60_000))
    for _ in range(n):
        await gates.before_request("h.example")
        gates.after_response("h.example", ok=True, status=status)
    return gates


def test_a_storm_of_refusals_trips_the_breaker():
    """Before: 4xx answers counted as a sane host: 10,000 403s never opened it."""
    async def go() -> None:
        gates = await _storm(403, STORM_4XX + 4)
        assert gates.breaker("h.example").state is BreakerState.OPEN
        with pytest.raises(GateClosed, match="breaker_open"):
            await gates.before_request("h.example")

    asyncio.run(go())


@pytest.mark.parametrize("status", [404, 410, 200])
def test_not_found_answers_are_no_storm(status):
    async def go() -> BreakerState:
        return (await _storm(status, 10 * STORM_4XX)).breaker("h.example").state

    assert asyncio.run(go()) is BreakerState.CLOSED


def test_a_success_ends_the_storm():
    async def go() -> BreakerState:
        gates = await _storm(403, STORM_4XX - 1)
        gates.after_response("h.example", ok=True, status=200)
        for _ in range(STORM_4XX - 1):
            gates.after_response("h.example", ok=True, status=403)
        return gates.breaker("h.example").state

    assert asyncio.run(go()) is BreakerState.CLOSED


# ---- daily quotas ---------------------------------------------------------------------


@pytest.fixture
def small_quota(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setitem(quota_mod.DAILY_QUOTAS, "api.unpaywall.org", ("unpaywall", 5))
    return 5


def test_the_quota_is_counted_per_service_email_and_day_across_runs(tmp_path, small_quota):
    path = tmp_path / "quota.sqlite"
    first = QuotaBook(path, email="a@example.edu", today=lambda: "2026-12-02")
    assert [first.take("api.unpaywall.org") for _ in range(3)] == [True] * 3
    first.flush()
    second = QuotaBook(path, email="A@example.edu", today=lambda: "2026-12-02")  # next run
    assert [second.take("api.unpaywall.org") for _ in range(3)] == [True, True, False]
    assert QuotaBook(path, email="b@example.edu", today=lambda: "2026-12-02").take(
        "api.unpaywall.org")  # another contact
    assert QuotaBook(path, email="a@example.edu", today=lambda: "2026-12-03").take(
        "api.unpaywall.org")  # another day
    assert first.take("api.crossref.org")  # no quota
    assert b"example.edu" not in path.read_bytes()  # the email is never written


def test_an_exhausted_quota_skips_the_source_and_the_work_is_transient(tmp_path, small_quota):
    book = QuotaBook(tmp_path / "q.sqlite", email="a@example.edu")
    for _ in range(small_quota):
        book.take("api.unpaywall.org")
    sent: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return httpx.Response(404, json={"error": True}, request=request)

    plan = plan_from_dict(PLAN)
    sink = ListSink()

    async def go() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
            orch = Orchestrator(plan, client=client, sink=sink, trust_transport=True,
                                gates=make_gates(plan, quota=book))
            return await orch.resolve(Work(work_id="w", doi="10.1/x"))

    res = asyncio.run(go())
    assert sent == []
    assert [(a.outcome, a.reason) for a in sink.attempts] == [(Outcome.SKIPPED, "quota")]
    assert res.status is ResolutionStatus.TRANSIENT


def test_stats_shows_the_quota_in_use(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    book = QuotaBook(email="a@example.edu")
    assert book.path.is_relative_to(tmp_path / "cache")
    for _ in range(7):
        book.take("api.openalex.org")
    book.flush()
    store = RunStore.create(tmp_path / "run", plan_yaml="name: p\n")
    store.finish()
    store.close()
    assert main(["stats", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "quota today" in out and "openalex 7 of 100,000" in out


def test_quota_file_lives_in_the_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert quota_mod.default_quota_path() == Path(tmp_path) / "fallback-kit" / "quota.sqlite"
