"""1,000 works in flight through one Orchestrator sharing its breakers and rate limits.

Fake sources with seeded random delays and outcomes; most of them pass the run's real
gates (the default politeness rate limits and the plan's breakers) for their host, one
host is mostly down so its breaker opens. The run happens once (module fixture) on a
fake clock; each test checks one invariant of it.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

import pytest
from driftclock import DriftClockLoop
from fakes import make_plan, no_pdf, ok, transient

from fallback_kit.contracts.events import ListSink, Outcome, Resolution
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator, make_gates
from fallback_kit.sources.base import Source, SourceContext, SourceResult
from fallback_kit.web.client import DEFAULT_RATE_LIMITS
from fallback_kit.web.gates import GateClosed, Gates

SEED = 20240517
N_WORKS = 1000
TOTAL_TIMEOUT_MS = 30_000
TOTAL_ATTEMPTS = 8
WATCHDOG_S = 30.0  # CPU seconds before a run counts as a livelock (load does not count)


def run_on_drift_clock(main: Callable[[], Awaitable[Any]]) -> Any:
    loop = DriftClockLoop()
    old = signal.signal(signal.SIGVTALRM, lambda *_: loop.stop())
    signal.setitimer(signal.ITIMER_VIRTUAL, WATCHDOG_S)
    try:
        return loop.run_until_complete(main())
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, old)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# (source name, needs, host or None, P(success), P(no_pdf), P(transient), P(hang), P(boom))
PROFILE = {
    "unpaywall": (("doi",), "api.unpaywall.org", 0.15, 0.45, 0.25, 0.05, 0.05),
    "arxiv": (("arxiv_id",), "arxiv.org", 0.40, 0.30, 0.20, 0.05, 0.05),
    "pmc": (("pmcid",), "pmc.ncbi.nlm.nih.gov", 0.30, 0.40, 0.20, 0.05, 0.05),
    "doi_redirect": (("doi",), "doi.org", 0.10, 0.50, 0.30, 0.05, 0.05),
    "landing_scrape": (("doi",), None, 0.10, 0.60, 0.20, 0.05, 0.05),
    "europe_pmc": (("doi",), "www.ebi.ac.uk", 0.10, 0.60, 0.20, 0.05, 0.05),
    "wayback": (("doi",), "web.archive.org", 0.02, 0.03, 0.90, 0.03, 0.02),  # mostly down
}


class ScriptedSource(Source):
    """Answers from a seeded script per (work, source, try); passes the run's gates first."""

    def __init__(self, name: str, gates: Gates, stats: Stats) -> None:
        needs, host, *probs = PROFILE[name]
        self.name = name  # type: ignore[misc]
        self.needs = needs  # type: ignore[misc]
        self.hosts = (host,) if host else ()  # type: ignore[misc]
        self.probs = probs
        self.gates = gates
        self.stats = stats
        self.running = 0

    def _script(self, work_id: str, n: int) -> tuple[str, float]:
        rng = Random(f"{SEED}:{work_id}:{self.name}:{n}")
        kind = rng.choices(["ok", "no_pdf", "transient", "hang", "boom"], self.probs)[0]
        return kind, rng.uniform(0, 4.0)

    async def find(self, work: Work, ctx: SourceContext) -> SourceResult:
        n = self.stats.tries[work.work_id]
        self.stats.tries[work.work_id] += 1
        kind, delay = self._script(work.work_id, n)
        host = self.hosts[0] if self.hosts else None
        if host is not None:
            await self.gates.before_request(host)  # GateClosed -> recorded as skipped
            if self.gates.is_open(host):
                self.stats.sent_while_open += 1
        self.stats.sent[self.name] += 1
        self.running += 1
        try:
            await asyncio.sleep(10**6 if kind == "hang" else delay)
        except asyncio.CancelledError:
            if host is not None:
                self.gates.release(host)
            raise
        finally:
            self.running -= 1
        if host is not None:
            self.gates.after_response(host, ok=kind not in ("transient", "boom"))
        if kind == "boom":
            raise RuntimeError("scripted failure")
        if kind == "ok":
            return ok(f"https://{host or 'landing.example'}/{work.work_id}.pdf")
        if kind == "no_pdf":
            return no_pdf()
        return transient(429, retry_after=1) if delay < 1 else transient(503)


@dataclass
class Stats:
    tries: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    sent_while_open: int = 0


@dataclass(repr=False)
class StressRun:
    works: list[Work]
    yielded: list[Resolution]
    sink: ListSink
    sources: list[ScriptedSource]
    stats: Stats
    orchestrator: Orchestrator
    elapsed_s: float
    tasks_left: set[asyncio.Task[Any]]
    gate_state: dict[str, tuple[str, str, bool]]  # host -> (limiter repr, breaker state, allow)


def _works() -> list[Work]:
    rng = Random(SEED)
    works = []
    for i in range(N_WORKS):
        works.append(Work(
            work_id=f"w{i:04d}", doi=f"10.1000/stress.{i}",
            arxiv_id=f"2101.{i:05d}" if rng.random() < 0.3 else None,
            pmcid=f"PMC{100000 + i}" if rng.random() < 0.3 else None,
        ))
    return works


PLAN = make_plan(
    [{"name": "direct", "sources": ["unpaywall", "arxiv", "pmc"], "parallel": 2},
     {"name": "follow", "sources": ["doi_redirect"], "hedge_after_ms": 3000},
     {"name": "scrape", "sources": ["landing_scrape", "europe_pmc"], "parallel": 2},
     {"name": "archive", "sources": ["wayback"]}],
    budgets={"total_timeout_ms": TOTAL_TIMEOUT_MS, "total_attempts": TOTAL_ATTEMPTS,
             "max_concurrent": 3, "per_source_timeout_ms": 8000},
    sources={name: {"retries_max": 2, "backoff_base_ms": 200, "timeout_ms": 6000}
             for name in PROFILE},
    gates={"skip_if_rate_wait_exceeds_ms": 5000,
           "breaker": {"failure_threshold": 5, "window_ms": 10_000, "cooldown_ms": 5000}},
)


@pytest.fixture(scope="module")
def run() -> StressRun:
    works = _works()
    stats = Stats()
    sink = ListSink()

    async def main() -> StressRun:
        # the run's real gates: the plan's breakers and politeness.py's rate limits
        gates = make_gates(PLAN, time_scale=1.0, default_limits=DEFAULT_RATE_LIMITS,
                           on_event=sink.emit)
        sources = [ScriptedSource(name, gates, stats) for name in PROFILE]
        orch = Orchestrator(PLAN, sources={s.name: s for s in sources}, sink=sink, gates=gates,
                            fetcher_factory=lambda policy: _NoFetcher(), rng=Random(SEED))
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        before = asyncio.all_tasks() - {me}
        t0 = loop.time()
        yielded = [r async for r in orch.resolve_many(works, concurrency=N_WORKS)]
        elapsed = loop.time() - t0
        left = asyncio.all_tasks() - before - {me}
        gate_state = {}
        for host in (s.hosts[0] for s in sources if s.hosts):
            state = gates.breaker(host).state
            gate_state[host] = (repr(gates.limiter(host)), str(state),
                                state != "half_open" or gates.breaker(host).allow())
        return StressRun(works, yielded, sink, sources, stats, orch, elapsed, left, gate_state)

    return run_on_drift_clock(main)


class _NoFetcher:
    requests = 0


def test_each_work_gets_exactly_one_resolution(run):
    """1,000 works in, 1,000 Resolutions out: one per work, yielded and emitted alike."""
    ids = sorted(w.work_id for w in run.works)
    assert sorted(r.work_id for r in run.yielded) == ids
    assert sorted(r.work_id for r in run.sink.resolutions) == ids


def test_tries_per_work_stay_within_total_attempts(run):
    """No work gets more source tries (retries included) than budgets.total_attempts."""
    assert max(run.stats.tries.values()) <= TOTAL_ATTEMPTS
    assert sum(run.stats.tries.values()) > N_WORKS  # the budget was actually used


def test_attempt_events_add_up_per_work(run):
    """Each Resolution counts exactly the Attempt events emitted for its work."""
    per_work = Counter(a.work_id for a in run.sink.attempts)
    assert {r.work_id: r.attempts for r in run.yielded} == {
        w.work_id: per_work[w.work_id] for w in run.works}


def test_no_task_is_left_pending(run):
    """After resolve_many ends, no task of the run is left (all_tasks before == after)."""
    assert run.tasks_left == set()
    assert all(s.running == 0 for s in run.sources)


def test_every_work_ends_within_its_deadline(run):
    """No work, and no attempt of it, ends after total_timeout_ms."""
    assert max(r.elapsed_ms for r in run.yielded) <= TOTAL_TIMEOUT_MS + 1e-3
    assert max(a.t_end_ms for a in run.sink.attempts) <= TOTAL_TIMEOUT_MS + 1e-3
    assert run.elapsed_s <= TOTAL_TIMEOUT_MS / 1000 + 1e-3  # all 1,000 ran side by side


def test_shared_gates_engaged(run):
    """The shared breakers opened and the shared rate limits refused long waits."""
    reasons = Counter(a.reason for a in run.sink.attempts if a.outcome is Outcome.SKIPPED)
    assert reasons["breaker_open"] > 0 and reasons["rate_wait"] > 0
    assert any(e.host == "web.archive.org" and e.new == "open" for e in run.sink.breaker_events)
    assert sum(r.resolved for r in run.yielded) > 0


def test_no_request_reaches_a_host_whose_breaker_is_open(run):
    """A request that passed the gates never finds its host's breaker open."""
    assert run.stats.sent_while_open == 0


def test_gates_hold_no_leftover_waiters_or_probes(run):
    """At the end no limiter has waiters and no half-open breaker has a probe stuck."""
    assert len(run.gate_state) == 6
    for host, (limiter, state, probe_free) in run.gate_state.items():
        assert "waiting=0" in limiter, f"{host}: {limiter}"
        assert probe_free, f"{host}: {state} with its probe slot still taken"


def test_gate_refusals_are_recorded_as_skipped_not_errors(run):
    """A GateClosed raised inside a source ends as `skipped`, never as `error`."""
    errors = [a for a in run.sink.attempts if a.outcome is Outcome.ERROR]
    assert all(a.reason == "RuntimeError" for a in errors)
    assert GateClosed.__name__ not in {a.reason for a in errors}
