"""The orchestrator on fake sources and a fake loop clock (looptime)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from fakes import WORK, FakeSource, Step, fake_factory, make_plan, no_pdf, ok, transient

from fallback_kit.contracts.events import ListSink, Outcome, ResolutionStatus
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.sources.base import SourceResult
from fallback_kit.web.edge import HttpStatusError
from fallback_kit.web.gates import GateClosed

pytestmark = pytest.mark.looptime


def orch(plan, sources, **kw):
    sink = ListSink()
    o = Orchestrator(plan, sources={s.name: s for s in sources}, sink=sink,
                     fetcher_factory=fake_factory, **kw)
    return o, sink


async def test_tiers_run_in_order():
    """A later tier starts only after the earlier one found nothing."""
    a = FakeSource("unpaywall", [Step(2, no_pdf())])
    b = FakeSource("doi_redirect", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [a, b])
    res = await o.resolve(WORK)
    assert res.status is ResolutionStatus.RESOLVED and res.tier == "t2"
    assert b.calls[0] >= a.finished[0]
    assert [x.source for x in sink.attempts] == ["unpaywall", "doi_redirect"]


async def test_parallel_limit_within_tier():
    """No more than `parallel` sources of a tier run at once."""
    srcs = [FakeSource(n, [Step(1, no_pdf())]) for n in ("unpaywall", "arxiv", "pmc")]
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv", "pmc"], "parallel": 2}],
                     budgets={"max_concurrent": 3})
    shared_running = []

    for s in srcs:
        orig = s.find

        async def find(work, ctx, orig=orig):
            shared_running.append(1)
            peak.append(len(shared_running))
            try:
                return await orig(work, ctx)
            finally:
                shared_running.pop()

        s.find = find  # type: ignore[method-assign]
    peak: list[int] = []
    o, _ = orch(plan, srcs)
    await o.resolve(WORK)
    assert max(peak) == 2


async def test_max_concurrent_caps_parallel():
    """budgets.max_concurrent caps tries in flight even when parallel is larger."""
    srcs = [FakeSource(n, [Step(1, no_pdf())]) for n in ("unpaywall", "arxiv", "pmc")]
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv", "pmc"], "parallel": 3}],
                     budgets={"max_concurrent": 1})
    o, _ = orch(plan, srcs)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await o.resolve(WORK)
    assert loop.time() - t0 == pytest.approx(3, abs=0.01)


async def test_first_success_cancels_siblings_and_stops_later_tiers():
    """The winner cancels its running siblings at once; no later tier starts."""
    fast = FakeSource("unpaywall", [Step(1, ok())])
    slow = FakeSource("arxiv", [Step(50, ok("https://slow.example/x.pdf"))])
    later = FakeSource("doi_redirect", [Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [fast, slow, later])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    res = await o.resolve(WORK)
    assert res.source == "unpaywall"
    assert loop.time() - t0 == pytest.approx(1, abs=0.01)
    assert slow.cancelled == 1 and not slow.finished
    assert later.calls == []
    by_source = {a.source: a for a in sink.attempts}
    assert by_source["arxiv"].outcome is Outcome.CANCELLED
    assert by_source["arxiv"].t_end_ms == pytest.approx(1000, abs=5)


async def test_deadline_is_hard():
    """Nothing runs past total_timeout_ms; in-flight tries end as timeout."""
    hang = FakeSource("unpaywall", [Step(10_000, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     budgets={"total_timeout_ms": 5000, "per_source_timeout_ms": 5000})
    o, sink = orch(plan, [hang])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    res = await o.resolve(WORK)
    assert loop.time() - t0 == pytest.approx(5, abs=0.01)
    assert res.status is ResolutionStatus.BUDGET_EXHAUSTED
    assert sink.attempts[0].outcome is Outcome.TIMEOUT
    assert sink.attempts[0].t_end_ms <= 5000 + 1


async def test_per_source_timeout_bounds_a_try():
    """A source slower than its timeout_ms ends as timeout and the plan goes on."""
    slow = FakeSource("unpaywall", [Step(30, ok())])
    nxt = FakeSource("doi_redirect", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}],
                     sources={"unpaywall": {"timeout_ms": 2000, "retries_max": 0}})
    o, sink = orch(plan, [slow, nxt])
    res = await o.resolve(WORK)
    assert res.source == "doi_redirect"
    first = sink.attempts[0]
    assert (first.outcome, first.reason) == (Outcome.TIMEOUT, "source_timeout")
    assert first.t_end_ms == pytest.approx(2000, abs=5)


async def test_attempts_cap_is_exact():
    """total_attempts counts every try and retry and is never exceeded."""
    flaky = FakeSource("unpaywall", [Step(0.1, transient())])
    other = FakeSource("arxiv", [Step(0.1, transient())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 1}],
                     budgets={"total_attempts": 3},
                     sources={"unpaywall": {"retries_max": 5, "backoff_base_ms": 1},
                              "arxiv": {"retries_max": 5, "backoff_base_ms": 1}})
    o, sink = orch(plan, [flaky, other])
    res = await o.resolve(WORK)
    assert len(flaky.calls) + len(other.calls) == 3
    # every try met a 503: no answer about the work, though the budget ended it
    assert res.status is ResolutionStatus.TRANSIENT and "http_503" in res.reason
    assert "attempt_budget" in res.reason


async def test_retry_only_on_retryable():
    """Transient failures are retried up to retries_max; terminal ones never."""
    flaky = FakeSource("unpaywall", [Step(0, transient(503)), Step(0, transient(503)),
                                     Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 2}})
    o, sink = orch(plan, [flaky])
    res = await o.resolve(WORK)
    assert res.resolved and len(flaky.calls) == 3
    assert sink.attempts[0].retries == 2

    from fallback_kit.sources.base import SourceResult

    terminal = FakeSource("unpaywall", [Step(0, SourceResult(
        outcome=Outcome.RETRYABLE, reason="http_404", status=404))])
    o, sink = orch(plan, [terminal])
    res = await o.resolve(WORK)
    assert len(terminal.calls) == 1 and sink.attempts[0].outcome is Outcome.NONRETRYABLE
    nopdf = FakeSource("unpaywall", [Step(0, no_pdf())])
    o, _ = orch(plan, [nopdf])
    await o.resolve(WORK)
    assert len(nopdf.calls) == 1


async def test_retry_after_is_honoured():
    """A Retry-After longer than the backoff sets the wait before the retry."""
    flaky = FakeSource("unpaywall", [Step(0, transient(429, retry_after=7)), Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 1, "backoff_base_ms": 1}})
    o, _ = orch(plan, [flaky])
    await o.resolve(WORK)
    assert flaky.calls[1] - flaky.calls[0] == pytest.approx(7, abs=0.01)


async def test_retry_after_beyond_deadline_gives_up_now():
    """A Retry-After that would outlast the deadline is not waited for."""
    flaky = FakeSource("unpaywall", [Step(0, transient(429, retry_after=600)), Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     budgets={"total_timeout_ms": 10_000},
                     sources={"unpaywall": {"retries_max": 3, "timeout_ms": 5000}})
    o, sink = orch(plan, [flaky])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    res = await o.resolve(WORK)
    assert len(flaky.calls) == 1 and loop.time() - t0 < 0.01
    assert res.status is ResolutionStatus.TRANSIENT  # a 429 left: no answer about the work
    assert sink.attempts[0].outcome is Outcome.RETRYABLE


async def test_backoff_is_clamped_by_time_scale():
    """Plan durations shrink with time_scale; recorded times stay in World ms."""
    flaky = FakeSource("unpaywall", [Step(0, transient(429, retry_after=100)), Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 1}})
    o, sink = orch(plan, [flaky], time_scale=0.01)
    res = await o.resolve(WORK)
    assert flaky.calls[1] - flaky.calls[0] == pytest.approx(1.0, abs=0.01)
    assert res.elapsed_ms == pytest.approx(100_000, rel=0.01)


async def test_source_exception_becomes_error():
    """An exception inside a source is recorded as `error` and the run goes on."""
    boom = FakeSource("unpaywall", [Step(0, exc=KeyError("oa_locations"))])
    nxt = FakeSource("doi_redirect", [Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [boom, nxt])
    res = await o.resolve(WORK)
    assert res.resolved
    err = sink.attempts[0]
    assert err.outcome is Outcome.ERROR and err.reason == "KeyError"
    assert "oa_locations" in err.meta["error"]


async def test_not_applicable_makes_no_call():
    """A source whose identifier is missing is recorded not_applicable and never called."""
    arx = FakeSource("arxiv", [Step(0, ok())], needs=("arxiv_id",))
    plan = make_plan([{"name": "t1", "sources": ["arxiv"]}])
    o, sink = orch(plan, [arx])
    res = await o.resolve(Work(work_id="x", doi="10.1000/x"))
    assert arx.calls == [] and sink.attempts[0].outcome is Outcome.NOT_APPLICABLE
    assert res.reason == "no_source_applicable"


async def test_offline_block_all_sends_nothing():
    """With gates.offline and block_all, every try is skipped as offline."""
    src = FakeSource("unpaywall", [Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     gates={"offline": True, "offline_behavior": "block_all"})
    o, sink = orch(plan, [src])
    res = await o.resolve(WORK)
    assert src.calls == []
    assert (sink.attempts[0].outcome, sink.attempts[0].reason) == (Outcome.SKIPPED, "offline")
    assert res.reason == "all_skipped"


async def test_breaker_open_host_is_skipped_before_the_try():
    """A source whose host's breaker is open is skipped without a call."""
    src = FakeSource("unpaywall", [Step(0, ok())], hosts=("api.unpaywall.org",))
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     gates={"breaker": {"failure_threshold": 2}})
    o, sink = orch(plan, [src])
    o.gates.after_response("api.unpaywall.org", ok=False)
    o.gates.after_response("api.unpaywall.org", ok=False)
    await o.resolve(WORK)
    assert src.calls == [] and sink.attempts[0].reason == "breaker_open"
    assert [e.new for e in sink.breaker_events] == ["open"]


async def test_hedging_starts_next_tier_early():
    """With hedge_after_ms, the next tier starts while the slow tier still runs."""
    slow = FakeSource("unpaywall", [Step(30, ok("https://slow/x.pdf"))])
    fast = FakeSource("doi_redirect", [Step(1, ok("https://fast/x.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"], "hedge_after_ms": 2000},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [slow, fast])
    res = await o.resolve(WORK)
    assert res.source == "doi_redirect" and res.elapsed_ms == pytest.approx(3000, abs=5)
    assert slow.cancelled == 1


async def test_many_works_yield_as_they_finish():
    """resolve_many yields one Resolution per work, fastest first."""
    src = FakeSource("unpaywall", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    o, sink = orch(plan, [src])
    works = [Work(work_id=f"w{i}", doi=f"10.1000/{i}") for i in range(10)]
    got = [r.work_id async for r in o.resolve_many(works, concurrency=4)]
    assert sorted(got) == sorted(w.work_id for w in works)
    assert len(sink.resolutions) == 10


async def test_rejected_download_demotes_the_success_and_the_plan_goes_on():
    """When the accept hook rejects a winner's file, the next source gets its chance."""
    bad = FakeSource("unpaywall", [Step(1, ok("https://a.org/bad.pdf"))])
    good = FakeSource("doi_redirect", [Step(1, ok("https://b.org/good.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    seen = []

    async def accept(work, source, result, edge):
        seen.append(result.url)
        return "truncated_pdf" if "bad" in result.url else None

    o, sink = orch(plan, [bad, good], accept=accept)
    res = await o.resolve(WORK)
    assert res.source == "doi_redirect" and seen == ["https://a.org/bad.pdf", "https://b.org/good.pdf"]
    first = sink.attempts[0]
    assert (first.outcome, first.reason) == (Outcome.INVALID_PDF, "download_truncated_pdf")


def volume(url: str = "https://proc.example/vol.pdf") -> object:
    """A success the right-paper check found volume-like."""
    from dataclasses import replace

    return replace(ok(url), meta={"paper": "volume_like"})


async def test_volume_like_success_is_provisional_and_a_later_tier_beats_it():
    """A volume from tier 1 does not stop the plan: tier 2's matching PDF wins."""
    vol = FakeSource("unpaywall", [Step(1, volume())])
    good = FakeSource("doi_redirect", [Step(2, ok("https://pub.example/a.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [vol, good])
    res = await o.resolve(WORK)
    assert res.status is ResolutionStatus.RESOLVED
    assert (res.source, res.tier, res.pdf_url) == ("doi_redirect", "t2", "https://pub.example/a.pdf")
    assert [a.outcome for a in sink.attempts] == [Outcome.SUCCESS, Outcome.SUCCESS]


async def test_volume_like_success_does_not_cancel_its_siblings():
    """A sibling of the same tier still running when the volume arrives may win."""
    vol = FakeSource("unpaywall", [Step(1, volume())])
    slow = FakeSource("arxiv", [Step(5, ok("https://arxiv.example/a.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2}])
    o, _ = orch(plan, [vol, slow])
    res = await o.resolve(WORK)
    assert res.source == "arxiv"


async def test_volume_like_wins_when_nothing_better_is_found():
    """The first volume is kept and delivered when the rest of the plan finds nothing."""
    first = FakeSource("unpaywall", [Step(1, volume())])
    second = FakeSource("arxiv", [Step(1, volume("https://proc.example/other.pdf"))])
    none = FakeSource("doi_redirect", [Step(1, no_pdf())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["arxiv", "doi_redirect"], "parallel": 2}])
    o, _ = orch(plan, [first, second, none])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    res = await o.resolve(WORK)
    assert res.status is ResolutionStatus.RESOLVED
    assert (res.source, res.tier, res.pdf_url) == ("unpaywall", "t1", "https://proc.example/vol.pdf")
    assert res.meta["paper"] == "volume_like"
    assert loop.time() - t0 == pytest.approx(2, abs=0.01)  # the whole plan was walked


def version(v: str, url: str) -> object:
    """A success of the given version."""
    from dataclasses import replace

    return replace(ok(url), meta={"version": v})


PREPRINT_THEN_PUBLISHED = [{"name": "t1", "sources": ["arxiv"]},
                           {"name": "t2", "sources": ["unpaywall"]}]


async def test_prefer_published_wait_keeps_looking_after_a_preprint():
    """With a wait, a published version found in time in a later tier wins."""
    pre = FakeSource("arxiv", [Step(1, version("submittedVersion", "https://arxiv.example/a"))])
    pub = FakeSource("unpaywall", [Step(3, version("publishedVersion", "https://pub.example/a"))])
    plan = make_plan(PREPRINT_THEN_PUBLISHED, accept={"prefer_published_wait_ms": 5000})
    o, _ = orch(plan, [pre, pub])
    res = await o.resolve(WORK)
    assert (res.source, res.meta["version"]) == ("unpaywall", "publishedVersion")


async def test_prefer_published_wait_ends_and_the_preprint_wins():
    """A published version later than the wait comes too late: the preprint wins when
    the wait ends, and the slow source is cut off."""
    pre = FakeSource("arxiv", [Step(1, version("submittedVersion", "https://arxiv.example/a"))])
    pub = FakeSource("unpaywall", [Step(30, version("publishedVersion", "https://pub.example/a"))])
    plan = make_plan(PREPRINT_THEN_PUBLISHED, accept={"prefer_published_wait_ms": 2000})
    o, sink = orch(plan, [pre, pub])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    res = await o.resolve(WORK)
    assert res.source == "arxiv"
    assert loop.time() - t0 == pytest.approx(3, abs=0.01)  # found at 1 s, waited 2 s
    assert sink.attempts[-1].outcome is Outcome.CANCELLED


async def test_without_a_wait_the_preprint_wins_at_once():
    """The default (0): a preprint is final, no later tier starts."""
    pre = FakeSource("arxiv", [Step(1, version("submittedVersion", "https://arxiv.example/a"))])
    pub = FakeSource("unpaywall", [Step(1, version("publishedVersion", "https://pub.example/a"))])
    o, _ = orch(make_plan(PREPRINT_THEN_PUBLISHED), [pre, pub])
    res = await o.resolve(WORK)
    assert res.source == "arxiv" and not pub.calls


# -- exact rules of the engine (issue 17: mutation testing) -------------------------------


def attempt(outcome, reason="", status=None, meta=None):
    from fallback_kit.contracts.events import Attempt

    return Attempt(run_id="r", work_id="w", tier="t1", source="unpaywall", outcome=outcome,
                   reason=reason, status=status, meta=meta or {})


@pytest.mark.parametrize(("reason", "status", "expected"), [
    ("http_429", 429, True), ("http_500", 500, True), ("http_503", 503, True),
    ("http_499", 499, False), ("http_404", 404, False), ("read_error", None, False),
    ("connection_refused", None, True), ("dns_failure", None, True),
])
def test_a_retryable_try_is_transient_only_for_network_trouble_429_and_5xx(
        reason, status, expected):
    """A try left retryable is a passing network state (not an answer about the work)
    for connection trouble, 429 and every 5xx, and for nothing else."""
    from fallback_kit.engine.orchestrator import is_transient

    assert is_transient(attempt(Outcome.RETRYABLE, reason, status)) is expected


class CountingEdge:
    """A try's edge that counts requests, as a real Fetcher does."""

    def __init__(self) -> None:
        self.requests = 0
        self.timeout_s: float | None = None


class FetchingSource(FakeSource):
    """A fake source that sends one request through the try's edge."""

    async def find(self, work, ctx):
        ctx.http.requests += 1
        return await super().find(work, ctx)


async def test_the_accept_step_gets_the_try_and_a_fresh_timeout_and_its_requests_count():
    """The accept hook is handed the work, the source's name and the try's own edge,
    whose timeout is the source's timeout cut to what is left of the work; the requests
    it sends count once, with the try's own, in the Attempt and the Resolution."""
    src = FetchingSource("unpaywall", [Step(2, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     budgets={"total_timeout_ms": 6000},
                     sources={"unpaywall": {"timeout_ms": 5000}})
    edges: list[CountingEdge] = []
    seen = []

    def factory(policy):
        edges.append(CountingEdge())
        return edges[-1]

    async def accept(work, source, result, edge):
        seen.append((work, source, edge, edge.timeout_s))
        edge.requests += 2  # the download
        return None

    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": src}, sink=sink, fetcher_factory=factory,
                     accept=accept)
    res = await o.resolve(WORK)
    assert seen == [(WORK, "unpaywall", edges[0], pytest.approx(4.0))]
    assert res.requests == 3 and sink.attempts[0].meta["requests"] == 3


async def test_a_rejected_only_pdf_is_why_the_work_was_not_found():
    """When the only PDF found was refused by the accept step, the work is not found
    for that reason, ahead of the sources that found nothing."""
    bad = FakeSource("unpaywall", [Step(1, ok("https://a.org/bad.pdf"))])
    none = FakeSource("doi_redirect", [Step(1, no_pdf())])
    plan = make_plan([{"name": "t1", "sources": ["doi_redirect", "unpaywall"]}])

    asked = []

    async def accept(work, source, result, edge):
        asked.append(source)
        return "truncated_pdf"

    o, _ = orch(plan, [bad, none], accept=accept)
    res = await o.resolve(WORK)
    assert (res.status, res.reason) == (ResolutionStatus.NOT_FOUND,
                                        "invalid_pdf:download_truncated_pdf")
    assert asked == ["unpaywall"]  # only a success goes through the accept step


async def test_a_gate_skip_names_the_sources_first_host():
    """A try skipped before it is sent (its host's breaker open) names the host."""
    src = FakeSource("unpaywall", [Step(0, ok())], hosts=("api.unpaywall.org", "unpaywall.org"))
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     gates={"breaker": {"failure_threshold": 1}})
    o, sink = orch(plan, [src])
    o.gates.after_response("api.unpaywall.org", ok=False)
    await o.resolve(WORK)
    assert (sink.attempts[0].reason, sink.attempts[0].host) == ("breaker_open",
                                                               "api.unpaywall.org")


async def test_a_preprint_replaces_a_held_volume_and_its_wait_decides():
    """Of two provisional successes a preprint (it matches the work) is kept over an
    earlier volume; with nothing published found in the wait, the preprint wins."""
    vol = FakeSource("arxiv", [Step(1, volume())])
    pre = FakeSource("unpaywall", [Step(1, version("submittedVersion", "https://arxiv.example/a"))])
    none = FakeSource("doi_redirect", [Step(30, no_pdf())])
    plan = make_plan([{"name": "t1", "sources": ["arxiv"]},
                      {"name": "t2", "sources": ["unpaywall"]},
                      {"name": "t3", "sources": ["doi_redirect"]}],
                     accept={"prefer_published_wait_ms": 2000})
    o, _ = orch(plan, [vol, pre, none])
    res = await o.resolve(WORK)
    assert (res.source, res.pdf_url, res.elapsed_ms) == ("unpaywall", "https://arxiv.example/a",
                                                         pytest.approx(4000, abs=5))


async def test_of_two_volumes_the_first_is_kept():
    """A second volume does not replace the first one held."""
    first = FakeSource("arxiv", [Step(1, volume())])
    second = FakeSource("unpaywall", [Step(1, volume("https://proc.example/other.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["arxiv"]},
                      {"name": "t2", "sources": ["unpaywall"]}])
    o, _ = orch(plan, [first, second])
    res = await o.resolve(WORK)
    assert (res.source, res.pdf_url) == ("arxiv", "https://proc.example/vol.pdf")


class PerWork(FakeSource):
    """A fake source whose call takes as many seconds as the work's id says (`w3`: 3 s)."""

    async def find(self, work, ctx):
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(float(work.work_id[1:]))
        finally:
            self.running -= 1
        return ok()


async def test_many_works_keep_exactly_concurrency_in_flight_and_refill_at_once():
    """resolve_many runs `concurrency` works at a time; a finished work's place goes
    to the next work at once, and each Resolution is yielded as it finishes."""
    src = PerWork("unpaywall", [])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    o, _ = orch(plan, [src])
    works = [Work(work_id=w, doi="10.1000/x") for w in ("w1", "w5", "w1", "w1")]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    done = [(r.work_id, loop.time() - t0) async for r in o.resolve_many(works, concurrency=2)]
    assert done == [("w1", 1), ("w1", 2), ("w1", 3), ("w5", 5)]
    assert src.max_running == 2


async def test_one_work_at_a_time_is_allowed_and_none_is_not():
    """concurrency=1 resolves the works one by one; 0 is refused."""
    src = PerWork("unpaywall", [])
    o, _ = orch(make_plan([{"name": "t1", "sources": ["unpaywall"]}]), [src])
    works = [Work(work_id="w1", doi="10.1000/x")] * 2
    assert len([r async for r in o.resolve_many(works, concurrency=1)]) == 2
    assert src.max_running == 1
    with pytest.raises(ValueError, match="^concurrency must be >= 1$"):
        [r async for r in o.resolve_many(works, concurrency=0)]


async def test_leaving_resolve_many_early_ends_the_works_still_in_flight():
    """A caller that stops reading (a notebook cell interrupted, a `break`) gets back
    only when every work still in flight has been cancelled and has stopped."""
    src = PerWork("unpaywall", [])
    o, _ = orch(make_plan([{"name": "t1", "sources": ["unpaywall"]}]), [src])
    works = [Work(work_id=w, doi="10.1000/x") for w in ("w1", "w9", "w9")]
    results = o.resolve_many(works, concurrency=3)
    assert (await anext(results)).work_id == "w1"
    await results.aclose()
    assert src.running == 0  # both w9 works stopped before aclose returned


@pytest.mark.parametrize(("exc", "expected"), [
    (OSError(28, "No space left on device"), "local_disk_full"),  # ENOSPC
    (OSError(122, "Disk quota exceeded"), "local_disk_full"),  # EDQUOT
    (OSError(27, "File too large"), "local_disk_full"),  # EFBIG
    (PermissionError("denied"), "local_permission_denied"),
    (OSError(13, "Permission denied"), "local_permission_denied"),  # EACCES
    (OSError(1, "Operation not permitted"), "local_permission_denied"),  # EPERM
    (OSError(30, "Read-only file system"), "local_permission_denied"),  # EROFS
    (OSError(5, "Input/output error"), "local_os_error"),  # EIO
    (OSError("no errno"), "local_os_error"),
])
def test_our_side_troubles_are_named_by_errno(exc, expected):
    """A full disk (quota, file size), a refused write (permissions, read-only) and any
    other OSError of ours each have their own name."""
    from fallback_kit.engine.orchestrator import local_trouble

    assert local_trouble(exc) == expected


def _caused(outer: BaseException, inner: BaseException, *, context: bool = False):
    if context:
        outer.__context__ = inner
    else:
        outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(("exc", "reason"), [
    (httpx.ConnectError("[Errno -2] Name or service not known"), "dns_failure"),
    (httpx.ConnectError("cannot resolve example.invalid"), "dns_failure"),
    (_caused(httpx.ConnectError(""), socket.gaierror(-3, "Temporary failure in name resolution")),
     "dns_failure"),
    (httpx.ConnectError("[Errno 111] Connection refused"), "connection_refused"),
    (_caused(httpx.ConnectError(""), ConnectionRefusedError(111, "refused"), context=True),
     "connection_refused"),
    (_caused(httpx.ConnectError("outer"), _caused(OSError("mid"), ConnectionRefusedError())),
     "connection_refused"),
    (httpx.ReadError("[Errno 104] Connection reset by peer"), "connection_error"),
])
async def test_a_connection_failure_is_named_by_its_cause(exc, reason):
    """A transport error is a DNS failure or a refused connection when it or anything
    it was raised from says so (by type or by the OS's message), else connection_error;
    all are retryable."""
    src = FakeSource("unpaywall", [Step(0, exc=exc)])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 0}})
    o, sink = orch(plan, [src])
    await o.resolve(WORK)
    assert (sink.attempts[0].outcome, sink.attempts[0].reason) == (Outcome.RETRYABLE, reason)


async def test_a_cause_cycle_does_not_hang_the_naming():
    """An exception chain that loops back on itself is walked once."""
    outer, inner = httpx.ConnectError("outer"), OSError("inner")
    outer.__cause__, inner.__context__ = inner, outer
    src = FakeSource("unpaywall", [Step(0, exc=outer)])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 0}})
    o, sink = orch(plan, [src])
    await o.resolve(WORK)
    assert sink.attempts[0].reason == "connection_error"


def _budget_cut(last_outcome: str, last: str, last_status: int | None):
    return attempt(Outcome.SKIPPED, "attempt_budget",
                   meta={"last": last, "last_outcome": last_outcome, "last_status": last_status})


@pytest.mark.parametrize(("att", "expected"), [
    (attempt(Outcome.SKIPPED, "breaker_open"), True),
    (attempt(Outcome.SKIPPED, "rate_wait"), True),
    (attempt(Outcome.SKIPPED, "quota"), True),
    (attempt(Outcome.SKIPPED, "robots"), False),
    (attempt(Outcome.SKIPPED, "offline"), False),
    (_budget_cut("retryable", "http_503", 503), True),
    (_budget_cut("retryable", "connection_refused", None), True),
    (_budget_cut("retryable", "http_404", 404), False),
    (_budget_cut("timeout", "source_timeout", None), False),
    (attempt(Outcome.SKIPPED, "attempt_budget"), False),
    (attempt(Outcome.TIMEOUT, "source_timeout"), False),
    (attempt(Outcome.NO_PDF, "connection_refused"), False),
    (attempt(Outcome.NONRETRYABLE, "http_503", 503), False),
])
def test_a_skip_is_transient_when_a_gate_or_a_cut_retry_met_network_trouble(att, expected):
    """A skip by the breaker, the rate wait or the quota is a passing state; a retry cut
    by the attempt budget is one when the try before it met one; answers never are."""
    from fallback_kit.engine.orchestrator import is_transient

    assert is_transient(att) is expected


URL = "https://h.example/paper.pdf"


def _on(exc_type, message="boom"):
    return exc_type(message, request=httpx.Request("GET", URL))


@pytest.mark.parametrize(("exc", "expected"), [
    (_on(httpx.ReadTimeout), (Outcome.TIMEOUT, "http_timeout", URL, "h.example", None, None)),
    (_on(httpx.ConnectError, "[Errno 104] reset"),
     (Outcome.RETRYABLE, "connection_error", URL, "h.example", None,
      "ConnectError: [Errno 104] reset")),
    (HttpStatusError(503, URL, retry_after_s=0.5),
     (Outcome.RETRYABLE, "http_503", URL, "h.example", 503, None)),
    (HttpStatusError(500, URL), (Outcome.NONRETRYABLE, "http_500", URL, "h.example", 500, None)),
    (GateClosed("robots", "h.example", "disallowed"),
     (Outcome.SKIPPED, "robots", None, "h.example", None, None)),
    (KeyError("x" * 600), (Outcome.ERROR, "KeyError", None, None, None,
                           "KeyError: '" + "x" * 489)),
])
async def test_whatever_a_try_raises_becomes_one_classified_attempt(exc, expected):
    """Each way a try can fail is one Attempt with its outcome, reason, URL, host,
    status and error text (cut to 500 characters), and the requests it had sent."""
    src = FetchingSource("unpaywall", [Step(0, exc=exc)])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 0}})
    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": src}, sink=sink,
                     fetcher_factory=lambda policy: CountingEdge())
    res = await o.resolve(WORK)
    a = sink.attempts[0]
    assert (a.outcome, a.reason, a.url, a.host, a.status, a.meta.get("error")) == expected
    assert a.meta["requests"] == 1 and res.requests == 1


async def test_a_try_that_outlasts_the_source_timeout_is_a_timeout():
    """The source's own timeout ends a try as timeout/source_timeout, with its requests."""
    src = FetchingSource("unpaywall", [Step(60, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"timeout_ms": 2000, "retries_max": 0}})
    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": src}, sink=sink,
                     fetcher_factory=lambda policy: CountingEdge())
    await o.resolve(WORK)
    a = sink.attempts[0]
    assert (a.outcome, a.reason, a.meta["requests"], a.t_end_ms) == (
        Outcome.TIMEOUT, "source_timeout", 1, pytest.approx(2000, abs=1))


async def test_a_result_without_its_request_count_gets_the_edges():
    """A source that does not count its requests gets the count of the edge it used;
    one that counts keeps its own."""
    from dataclasses import replace

    uncounted = FetchingSource("unpaywall", [Step(0, replace(no_pdf(), requests=0))])
    counted = FetchingSource("doi_redirect", [Step(0, replace(no_pdf(), requests=4))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "doi_redirect"]}])
    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": uncounted, "doi_redirect": counted}, sink=sink,
                     fetcher_factory=lambda policy: CountingEdge())
    res = await o.resolve(WORK)
    assert [a.meta["requests"] for a in sink.attempts] == [1, 4] and res.requests == 5


async def test_a_retryable_answer_with_a_terminal_status_is_final():
    """A source's retryable result whose status the plan calls terminal is not retried."""
    src = FakeSource("unpaywall", [Step(0, transient(403))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 3}})
    o, sink = orch(plan, [src])
    await o.resolve(WORK)
    assert len(src.calls) == 1 and sink.attempts[0].outcome is Outcome.NONRETRYABLE


async def test_a_transient_work_names_the_try_and_what_a_cut_retry_met():
    """The reason of a transient work names a real try before a gate's skip, and a
    retry the budget cut as `<what the try met>, then attempt_budget (source)`."""
    flaky = FakeSource("unpaywall", [Step(1, transient(503))])
    gated = FakeSource("doi_redirect", [Step(0, ok())], hosts=("doi.org",))
    plan = make_plan([{"name": "t1", "sources": ["doi_redirect", "unpaywall"], "parallel": 2}],
                     gates={"breaker": {"failure_threshold": 1}}, budgets={"total_attempts": 1},
                     sources={"unpaywall": {"retries_max": 2, "backoff_base_ms": 1}})
    o, sink = orch(plan, [flaky, gated])
    o.gates.after_response("doi.org", ok=False)
    res = await o.resolve(WORK)
    assert [a.reason for a in sink.attempts] == ["breaker_open", "attempt_budget"]
    assert res.status is ResolutionStatus.TRANSIENT
    assert res.reason == "transient: retryable:http_503, then attempt_budget (unpaywall)"
    assert (res.attempts, res.requests) == (2, 1)


async def test_a_skip_alone_makes_a_transient_work_named_by_the_skip():
    """With only a gate's skip, the work is transient for that skip."""
    gated = FakeSource("doi_redirect", [Step(0, ok())], hosts=("doi.org",))
    plan = make_plan([{"name": "t1", "sources": ["doi_redirect"]}],
                     gates={"breaker": {"failure_threshold": 1}})
    o, _ = orch(plan, [gated])
    o.gates.after_response("doi.org", ok=False)
    res = await o.resolve(WORK)
    assert res.reason == "transient: skipped:breaker_open (doi_redirect)"


async def test_trouble_on_our_side_stops_the_work_and_says_so():
    """An OSError of ours in the accept step (a full disk) ends the work as failed_local
    at once: siblings are cancelled as local_failure and no later tier starts."""
    import errno

    found = FakeSource("unpaywall", [Step(1, ok())])
    sibling = FakeSource("arxiv", [Step(30, ok())])
    later = FakeSource("doi_redirect", [Step(1, ok())])

    async def accept(work, source, result, edge):
        raise OSError(errno.ENOSPC, "No space left on device")

    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [found, sibling, later], accept=accept)
    res = await o.resolve(WORK)
    assert (res.status, res.reason) == (ResolutionStatus.FAILED_LOCAL,
                                        "our side: download_local_disk_full (unpaywall)")
    assert res.elapsed_ms == pytest.approx(1000, abs=5) and later.calls == []
    by_source = {a.source: (a.outcome, a.reason) for a in sink.attempts}
    assert by_source == {"unpaywall": (Outcome.FAILED_LOCAL, "download_local_disk_full"),
                         "arxiv": (Outcome.CANCELLED, "local_failure")}
    assert sink.attempts[0].meta["error"] == "OSError: [Errno 28] No space left on device"


async def test_a_failing_accept_hook_demotes_the_success_and_the_plan_goes_on():
    """A hook that raises (not an OSError) refuses the file as accept_error:<type>."""
    found = FakeSource("unpaywall", [Step(1, ok())])
    later = FakeSource("doi_redirect", [Step(1, ok())])

    async def accept(work, source, result, edge):
        if source == "unpaywall":
            raise ValueError("bug")
        return None

    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, sink = orch(plan, [found, later], accept=accept)
    res = await o.resolve(WORK)
    assert res.source == "doi_redirect"
    assert (sink.attempts[0].outcome, sink.attempts[0].reason) == (
        Outcome.INVALID_PDF, "download_accept_error:ValueError")


async def test_at_the_deadline_each_unfinished_source_says_the_deadline_ended_it():
    """When the work's deadline ends it, the running try is a timeout and a source still
    waiting for a slot is cancelled for work_deadline (not a sibling's win); each has
    its Attempt."""
    hangs = FakeSource("unpaywall", [Step(60, ok())])
    queued = FakeSource("arxiv", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2}],
                     budgets={"total_timeout_ms": 5000, "max_concurrent": 1},
                     sources={"unpaywall": {"timeout_ms": 5000}})
    o, sink = orch(plan, [hangs, queued])
    res = await o.resolve(WORK)
    assert (res.status, res.reason) == (ResolutionStatus.BUDGET_EXHAUSTED, "deadline")
    by_source = {a.source: a for a in sink.attempts}
    assert by_source["unpaywall"].outcome is Outcome.TIMEOUT
    assert (by_source["arxiv"].outcome, by_source["arxiv"].reason) == (Outcome.CANCELLED,
                                                                      "work_deadline")
    assert by_source["arxiv"].t_start_ms == by_source["arxiv"].t_end_ms == 5000
    assert len(sink.attempts) == 2 and queued.calls == []


async def test_a_held_volume_wins_when_the_deadline_ends_the_search():
    """A volume found before the deadline is delivered when a later tier runs out the
    work's time looking for better."""
    vol = FakeSource("unpaywall", [Step(1, volume())])
    hangs = FakeSource("doi_redirect", [Step(60, ok("https://pub.example/a.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}],
                     budgets={"total_timeout_ms": 5000},
                     sources={"doi_redirect": {"timeout_ms": 5000}})
    o, _ = orch(plan, [vol, hangs])
    res = await o.resolve(WORK)
    assert (res.status, res.source, res.elapsed_ms) == (
        ResolutionStatus.RESOLVED, "unpaywall", pytest.approx(5000, abs=5))


async def test_a_transient_work_is_named_by_a_real_try_before_a_gates_skip():
    """With a 503 left after the retries and a breaker skip, the reason names the 503."""
    gated = FakeSource("doi_redirect", [Step(0, ok())], hosts=("doi.org",))
    flaky = FakeSource("unpaywall", [Step(1, transient(503))])
    plan = make_plan([{"name": "t1", "sources": ["doi_redirect", "unpaywall"], "parallel": 2}],
                     gates={"breaker": {"failure_threshold": 1}},
                     sources={"unpaywall": {"retries_max": 0}})
    o, sink = orch(plan, [flaky, gated])
    o.gates.after_response("doi.org", ok=False)
    res = await o.resolve(WORK)
    assert [a.reason for a in sink.attempts] == ["breaker_open", "http_503"]
    assert res.reason == "transient: retryable:http_503 (unpaywall)"


async def test_a_source_is_retried_exactly_retries_max_times():
    """A source that keeps failing transiently is tried 1 + retries_max times."""
    flaky = FakeSource("unpaywall", [Step(0, transient(503))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 2, "backoff_base_ms": 1}})
    o, sink = orch(plan, [flaky])
    await o.resolve(WORK)
    assert len(flaky.calls) == 3 and sink.attempts[0].retries == 2


async def test_a_retry_after_of_exactly_the_time_left_is_not_waited_for():
    """A wait that would end at the deadline itself is given up at once."""
    flaky = FakeSource("unpaywall", [Step(0, transient(429, retry_after=10)), Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     budgets={"total_timeout_ms": 10_000},
                     sources={"unpaywall": {"retries_max": 3, "timeout_ms": 5000}})
    o, _ = orch(plan, [flaky])
    res = await o.resolve(WORK)
    assert len(flaky.calls) == 1 and res.elapsed_ms == 0


class TimeoutSeen(FakeSource):
    """Records the timeout its edge had when each call began."""

    seen: list[float]

    async def find(self, work, ctx):
        self.seen = [*getattr(self, "seen", []), ctx.http.timeout_s]
        return await super().find(work, ctx)


async def test_each_try_runs_under_the_source_timeout_cut_to_the_time_left():
    """A try's timeout is the source's own, or what is left of the work if less."""
    first = FakeSource("unpaywall", [Step(4.5, no_pdf())])
    second = TimeoutSeen("doi_redirect", [Step(0, no_pdf())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}],
                     budgets={"total_timeout_ms": 5000},
                     sources={"unpaywall": {"timeout_ms": 5000},
                              "doi_redirect": {"timeout_ms": 3000}})
    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": first, "doi_redirect": second}, sink=sink,
                     fetcher_factory=lambda policy: CountingEdge())
    await o.resolve(WORK)
    assert second.seen == [pytest.approx(0.5)]
    third = TimeoutSeen("doi_redirect", [Step(0, no_pdf())])
    o = Orchestrator(plan, sources={"unpaywall": FakeSource("unpaywall", [Step(0, no_pdf())]),
                                    "doi_redirect": third},
                     fetcher_factory=lambda policy: CountingEdge())
    await o.resolve(WORK)
    assert third.seen == [3.0]


async def test_a_source_waiting_out_a_backoff_when_a_sibling_wins_is_cancelled_as_such():
    """A source between two tries when a sibling wins ends cancelled for sibling_won,
    naming what its last try met."""
    flaky = FakeSource("unpaywall", [Step(0, transient(429, retry_after=5)), Step(0, ok())])
    winner = FakeSource("arxiv", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2}],
                     sources={"unpaywall": {"retries_max": 2}})
    o, sink = orch(plan, [flaky, winner])
    res = await o.resolve(WORK)
    a = next(a for a in sink.attempts if a.source == "unpaywall")
    assert res.source == "arxiv"
    assert (a.outcome, a.reason, a.meta["last"], a.meta["requests"]) == (
        Outcome.CANCELLED, "sibling_won", "http_429", 1)


async def test_a_source_that_never_got_its_slot_is_recorded_at_the_moment_it_gave_up():
    """A source still queued for a slot when a sibling wins is cancelled as not_started,
    its Attempt starting and ending then (it never ran)."""
    winner = FakeSource("arxiv", [Step(1, ok())])
    queued = FakeSource("unpaywall", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["arxiv", "unpaywall"], "parallel": 2}],
                     budgets={"max_concurrent": 1})
    o, sink = orch(plan, [winner, queued])
    await o.resolve(WORK)
    a = next(a for a in sink.attempts if a.source == "unpaywall")
    assert (a.outcome, a.reason, a.t_start_ms, a.t_end_ms) == (
        Outcome.CANCELLED, "not_started", 1000, 1000)


@pytest.mark.parametrize(("meta", "wait_ms", "expected"), [
    ({"version": "submittedVersion"}, 1, True),
    ({"version": "submittedVersion"}, 0, False),
    ({"version": "acceptedVersion"}, 5000, False),
    ({"version": "publishedVersion"}, 5000, False),
    ({"paper": "volume_like"}, 0, True),
    ({"paper": "volume_like", "version": "publishedVersion"}, 5000, True),
])
def test_a_success_is_provisional_when_a_volume_or_a_preprint_under_a_wait(
        meta, wait_ms, expected):
    """A volume is never final; a preprint (submittedVersion) is provisional under any
    positive prefer_published_wait_ms; an accepted or published version is final."""
    from dataclasses import replace

    from fallback_kit.engine.orchestrator import is_provisional

    assert is_provisional(replace(ok(), meta=meta), wait_ms) is expected


async def test_a_failure_without_a_reason_is_named_by_its_outcome():
    """The not-found reason is `<outcome>:<reason>`, or the outcome alone without one."""
    from fallback_kit.sources.base import SourceResult

    bare = FakeSource("unpaywall", [Step(0, SourceResult(outcome=Outcome.NONRETRYABLE))])
    o, _ = orch(make_plan([{"name": "t1", "sources": ["unpaywall"]}]), [bare])
    res = await o.resolve(WORK)
    assert (res.status, res.reason) == (ResolutionStatus.NOT_FOUND, "nonretryable")


async def test_a_held_volume_still_wins_when_a_later_download_fails_on_our_side():
    """Trouble on our side stops the search, but a volume already accepted is kept."""
    import errno

    vol = FakeSource("unpaywall", [Step(1, volume())])
    later = FakeSource("doi_redirect", [Step(1, ok("https://pub.example/a.pdf"))])

    async def accept(work, source, result, edge):
        if source == "doi_redirect":
            raise OSError(errno.ENOSPC, "No space left on device")
        return None

    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["doi_redirect"]}])
    o, _ = orch(plan, [vol, later], accept=accept)
    res = await o.resolve(WORK)
    assert (res.status, res.source, res.pdf_url) == (
        ResolutionStatus.RESOLVED, "unpaywall", "https://proc.example/vol.pdf")


def test_an_orchestrator_without_a_client_or_a_fetcher_factory_is_refused():
    """Without a client nor a fetcher factory nothing could be fetched: say so at once."""
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    needed = r"^an httpx.AsyncClient is needed \(or a fetcher_factory\)$"
    with pytest.raises(ValueError, match=needed):
        Orchestrator(plan, sources={"unpaywall": FakeSource("unpaywall", [])})


async def test_a_backoff_cut_by_the_deadline_is_a_timeout_not_a_siblings_win():
    """Under load the deadline can cancel a source in its backoff (its wake-up and the
    deadline fall in one loop turn): the Attempt says timeout/work_deadline, with the
    reason the last try met."""
    from fallback_kit.engine.orchestrator import _SourceRun, _WorkState

    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    src = FakeSource("unpaywall", [])
    o, sink = orch(plan, [src])
    loop = asyncio.get_running_loop()
    state = _WorkState(work=WORK, start=loop.time(), deadline=loop.time() + 1, attempts_left=3)
    run = _SourceRun(state, plan.tiers[0], src, loop.time(), requests=2)
    backoff = asyncio.create_task(o._backoff(run, 5.0, transient(503)))
    await asyncio.sleep(1)
    state.stop_reason = "deadline"
    backoff.cancel()
    await asyncio.gather(backoff, return_exceptions=True)
    a = sink.attempts[0]
    assert (a.outcome, a.reason, a.meta["last"], a.meta["requests"]) == (
        Outcome.TIMEOUT, "work_deadline", "http_503", 2)


async def test_a_status_errors_retry_after_sets_the_wait_before_the_retry():
    """A Retry-After carried by the edge's status error (not only a source's own
    result) is honoured: the retry waits for it, not for the short backoff."""
    src = FetchingSource("unpaywall", [Step(0, exc=HttpStatusError(503, URL, retry_after_s=7)),
                                       Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 1, "backoff_base_ms": 1}})
    o = Orchestrator(plan, sources={"unpaywall": src}, sink=ListSink(),
                     fetcher_factory=lambda policy: CountingEdge())
    assert (await o.resolve(WORK)).status is ResolutionStatus.RESOLVED
    assert src.calls[1] - src.calls[0] == pytest.approx(7, abs=0.01)


async def test_a_status_error_without_an_address_names_no_host():
    src = FetchingSource("unpaywall", [Step(0, exc=HttpStatusError(500, ""))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": src}, sink=sink,
                     fetcher_factory=lambda policy: CountingEdge())
    await o.resolve(WORK)
    a = sink.attempts[0]
    assert (a.outcome, a.reason, a.url, a.host) == (Outcome.NONRETRYABLE, "http_500", None, None)


async def test_our_sides_error_text_is_cut_to_300_characters():
    """A long OSError message of the accept step is kept, cut to 300 characters."""
    found = FakeSource("unpaywall", [Step(1, ok())])

    async def accept(work, source, result, edge):
        raise OSError("x" * 1000)

    o, sink = orch(make_plan([{"name": "t1", "sources": ["unpaywall"]}]), [found], accept=accept)
    await o.resolve(WORK)
    assert sink.attempts[0].meta["error"] == ("OSError: " + "x" * 1000)[:300]


async def test_a_source_queued_in_a_tier_that_another_tier_beat_was_not_started():
    """A source waiting for its tier's slot when a hedged later tier wins is cancelled
    as not_started (the win stopped it, not the deadline)."""
    slow = FakeSource("unpaywall", [Step(10, ok())])
    queued = FakeSource("pmc", [Step(1, ok())])
    later = FakeSource("arxiv", [Step(1, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "pmc"], "parallel": 1,
                       "hedge_after_ms": 1000},
                      {"name": "t2", "sources": ["arxiv"]}])
    o, sink = orch(plan, [slow, queued, later])
    assert (await o.resolve(WORK)).source == "arxiv"
    by_source = {a.source: (a.outcome, a.reason) for a in sink.attempts}
    assert by_source["pmc"] == (Outcome.CANCELLED, "not_started") and queued.calls == []
    assert next(a for a in sink.attempts if a.source == "pmc").retries == 0
    assert by_source["unpaywall"] == (Outcome.CANCELLED, "sibling_won")


async def test_the_backoff_is_drawn_from_the_orchestrators_own_random_source():
    """Given the same seeded `rng`, two runs wait the same jittered backoffs (a benchmark
    or a test can replay a run), whatever else uses the global random module."""
    import random

    gaps = []
    for _ in range(2):
        flaky = FakeSource("unpaywall", [Step(0, transient(503)), Step(0, ok())])
        plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                         sources={"unpaywall": {"retries_max": 1, "backoff_base_ms": 4000,
                                                "backoff_cap_ms": 4000}})
        o, _ = orch(plan, [flaky], rng=random.Random(7))
        random.random()  # someone else draws from the global generator meanwhile
        await o.resolve(WORK)
        gaps.append(flaky.calls[1] - flaky.calls[0])
    assert gaps[0] == gaps[1] and 0 < gaps[0] <= 4


async def test_a_retry_a_gate_skips_keeps_what_the_try_before_it_met():
    """A 503 whose retry the rate gate skips: the Attempt is the skip, with the 503 it
    followed, and the work is transient, named by both."""
    src = FakeSource("unpaywall", [
        Step(0, transient(503)),
        Step(0, exc=GateClosed("rate_wait", "api.unpaywall.org", "wait over the cap"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     sources={"unpaywall": {"retries_max": 1}})
    o, sink = orch(plan, [src])
    res = await o.resolve(WORK)
    (a,) = sink.attempts
    assert (a.outcome, a.reason, a.meta["last"], a.meta["last_outcome"], a.meta["last_status"]) \
        == (Outcome.SKIPPED, "rate_wait", "http_503", "retryable", 503)
    assert (res.status, res.reason) == (
        ResolutionStatus.TRANSIENT, "transient: retryable:http_503, then rate_wait (unpaywall)")


# ---------------------------------------------------------------- what each record says


class ContextSpy(FakeSource):
    """Keeps the SourceContext each try is given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contexts = []

    async def find(self, work, ctx):
        self.contexts.append(ctx)
        return await super().find(work, ctx)


async def test_a_try_is_given_the_plans_email_its_options_and_the_work():
    spy = ContextSpy("arxiv", [Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["arxiv"]}],
                     politeness={"email": "me@example.org"},
                     sources={"arxiv": {"options": {"use_api": True}}})
    o, _ = orch(plan, [spy])
    await o.resolve(WORK)
    (ctx,) = spy.contexts
    assert (ctx.email, dict(ctx.options), ctx.work) == ("me@example.org", {"use_api": True}, WORK)


async def test_times_are_counted_from_the_works_own_start_and_bytes_are_kept():
    """A work started late still records its first try from 0 ms; a try's bytes are
    kept in its Attempt."""
    from dataclasses import replace

    src = FakeSource("unpaywall", [Step(2, replace(no_pdf(), bytes=1234))])
    o, sink = orch(make_plan([{"name": "t1", "sources": ["unpaywall"]}]), [src])
    await asyncio.sleep(100)
    await o.resolve(WORK)
    (a,) = sink.attempts
    assert (a.t_start_ms, a.t_end_ms, a.bytes) == (0, 2000, 1234)


@pytest.mark.parametrize(("needs", "reason"), [
    (("arxiv_id",), "needs arxiv_id"), (("arxiv_id", "pmcid"), "needs arxiv_id or pmcid"),
    ((), "needs an identifier")])
async def test_a_source_that_does_not_apply_says_what_it_needs(needs, reason):
    src = FakeSource("arxiv", [Step(0, ok())], needs=needs)
    src.applicable = lambda work: False  # type: ignore[method-assign]
    o, sink = orch(make_plan([{"name": "t1", "sources": ["arxiv"]}]), [src])
    await o.resolve(WORK)
    assert (sink.attempts[0].outcome, sink.attempts[0].reason) == (
        Outcome.NOT_APPLICABLE, reason)


async def test_a_work_cut_by_the_attempt_budget_says_so_and_counts_every_attempt():
    srcs = [FakeSource(n, [Step(1, no_pdf())]) for n in ("unpaywall", "arxiv")]
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]},
                      {"name": "t2", "sources": ["arxiv"]}], budgets={"total_attempts": 1})
    o, sink = orch(plan, srcs)
    res = await o.resolve(WORK)
    assert (res.status, res.reason) == (ResolutionStatus.BUDGET_EXHAUSTED, "attempts")
    assert res.attempts == len(sink.attempts) == 2


async def test_a_winner_without_an_address_resolves_without_one():
    from dataclasses import replace

    src = FakeSource("unpaywall", [Step(0, replace(ok(), url=None))])
    o, _ = orch(make_plan([{"name": "t1", "sources": ["unpaywall"]}]), [src])
    res = await o.resolve(WORK)
    assert (res.status, res.pdf_url) == (ResolutionStatus.RESOLVED, None)


async def test_the_resolution_counts_the_attempts_of_the_siblings_a_win_cancelled():
    """Every cancelled sibling has its Attempt before the Resolution is made."""
    srcs = [FakeSource("unpaywall", [Step(1, ok())]), FakeSource("arxiv", [Step(9, ok())]),
            FakeSource("pmc", [Step(9, ok())])]
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv", "pmc"], "parallel": 3}],
                     budgets={"max_concurrent": 3})
    o, sink = orch(plan, srcs)
    res = await o.resolve(WORK)
    assert res.attempts == len(sink.attempts) == 3
    assert sink.events[-1] is res


async def test_a_try_cancelled_after_a_retry_counts_the_requests_of_both_tries():
    flaky = FetchingSource("unpaywall", [Step(0, transient(503)), Step(30, ok())])
    winner = FakeSource("arxiv", [Step(5, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2}],
                     sources={"unpaywall": {"retries_max": 1, "backoff_base_ms": 1}})
    sink = ListSink()
    o = Orchestrator(plan, sources={"unpaywall": flaky, "arxiv": winner}, sink=sink,
                     fetcher_factory=lambda policy: CountingEdge())
    await o.resolve(WORK)
    a = next(a for a in sink.attempts if a.source == "unpaywall")
    assert (a.outcome, a.reason, a.retries, a.meta["requests"]) == (
        Outcome.CANCELLED, "sibling_won", 1, 2)


def test_the_orchestrator_names_its_run_and_refuses_a_plan_it_cannot_run():
    import re

    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"]}])
    o = Orchestrator(plan, sources={"unpaywall": FakeSource("unpaywall", []),
                                    "arxiv": FakeSource("arxiv", [])},
                     fetcher_factory=fake_factory)
    assert re.fullmatch(r"[0-9a-f]{12}", o.run_id)
    with pytest.raises(ValueError, match="^no implementation for sources: arxiv$"):
        Orchestrator(plan, sources={"unpaywall": FakeSource("unpaywall", [])},
                     fetcher_factory=fake_factory)


def test_the_gates_get_the_default_host_rates_and_the_users_quota():
    """Hosts the plan does not list get the shipped rates (web.client), and the daily
    quota book given to the orchestrator is the one its gates consult."""
    from fallback_kit.web.client import DEFAULT_HOST_RATE, DEFAULT_RATE_LIMITS

    quota = object()
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    o = Orchestrator(plan, sources={"unpaywall": FakeSource("unpaywall", [])},
                     fetcher_factory=fake_factory, quota=quota)
    assert o.gates.quota is quota
    assert o.gates.default_rate.per_second == DEFAULT_HOST_RATE.per_second
    assert set(DEFAULT_RATE_LIMITS) <= set(o.gates.rate_limits)


@pytest.mark.parametrize(("variable", "options"), [
    ("FALLBACK_KIT_CORE_KEY", {}), ("MY_CORE_KEY", {"key_env": "MY_CORE_KEY"})])
async def test_a_users_key_from_the_environment_is_hidden_in_every_record(
    monkeypatch, variable, options
):
    """The CORE key the plan's source would send (from its usual variable, or the one
    its `key_env` option names) is hidden in its Attempts and the Resolution, whatever
    the source put it in."""
    secret = "s3cr3t-t0ken-value"
    monkeypatch.delenv("FALLBACK_KIT_CORE_KEY", raising=False)
    monkeypatch.delenv("CORE_API_KEY", raising=False)
    monkeypatch.setenv(variable, secret)
    src = FakeSource("core", [Step(0, SourceResult(
        outcome=Outcome.NO_PDF, reason=f"refused for {secret}",
        url=f"https://api.core.ac.uk/v3/x?k={secret}", requests=1))])
    plan = make_plan([{"name": "t1", "sources": ["core"]}],
                     sources={"core": {"options": options}})
    o, sink = orch(plan, [src])
    res = await o.resolve(WORK)
    assert secret not in repr(sink.attempts) and secret not in repr(res)
    assert "refused for" in sink.attempts[0].reason


async def test_a_try_still_in_its_accept_step_at_the_deadline_is_timed_out_by_the_work():
    found = FakeSource("unpaywall", [Step(1, ok())])

    async def accept(work, source, result, edge):
        await asyncio.sleep(60)  # a download that outlasts the work

    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     budgets={"total_timeout_ms": 5000})
    o, sink = orch(plan, [found], accept=accept)
    res = await o.resolve(WORK)
    (a,) = sink.attempts
    assert (a.outcome, a.reason, a.t_end_ms) == (Outcome.TIMEOUT, "work_deadline", 5000)
    assert (res.status, res.reason) == (ResolutionStatus.BUDGET_EXHAUSTED, "deadline")


def test_the_gates_carry_the_plans_settings_on_its_time_scale():
    """make_gates reads the rate-wait cap, the breaker switch and every breaker setting
    from the plan, on real time unless a time scale is given."""
    from fallback_kit.engine.orchestrator import make_gates

    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     gates={"skip_if_rate_wait_exceeds_ms": 3000, "skip_if_breaker_open": False,
                            "breaker": {"failure_threshold": 4, "half_open_probes": 2,
                                        "window_ms": 60_000, "cooldown_ms": 8000}})
    gates = make_gates(plan)
    assert (gates.max_rate_wait_s, gates.skip_if_breaker_open) == (3.0, False)
    b = gates.breaker_config
    assert (b.failure_threshold, b.half_open_probes, b.window_ms, b.cooldown_ms) == (
        4, 2, 60_000, 8000)
    assert make_gates(plan, time_scale=0.01).max_rate_wait_s == pytest.approx(0.03)


class PageSource(FakeSource):
    """Asks one landing page through the try's edge."""

    async def find(self, work, ctx):
        await ctx.http.get_html("https://pub.example.org/paper")
        return no_pdf()


@pytest.mark.parametrize(("respect", "outcome"), [(True, Outcome.SKIPPED),
                                                  (False, Outcome.NO_PDF)])
async def test_the_live_edge_honours_robots_txt_as_the_plan_says(respect, outcome):
    """Without a fetcher factory (a live run) each try's edge shares the run's robots.txt
    cache and follows the source's `robots_respect`."""
    from _netkit import Router

    r = Router()
    r.add("https://pub.example.org/robots.txt", 200, "User-agent: *\nDisallow: /\n")
    r.add("https://pub.example.org/paper", 200, "<html><body>paper</body></html>")
    plan = make_plan([{"name": "t1", "sources": ["landing_scrape"]}],
                     sources={"landing_scrape": {"robots_respect": respect}})
    sink = ListSink()
    async with httpx.AsyncClient(transport=httpx.MockTransport(r)) as client:
        o = Orchestrator(plan, client=client, sink=sink, trust_transport=True,
                         sources={"landing_scrape": PageSource("landing_scrape", [])})
        await o.resolve(WORK)
    assert sink.attempts[0].outcome is outcome
    assert ("https://pub.example.org/robots.txt" in r.urls()) is respect
