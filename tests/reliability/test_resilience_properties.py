"""Properties of the gates, the retry arithmetic and the orchestrator, on fake clocks.

Breakers are driven by an injected clock; limiters and the orchestrator run on a
looptime loop (time jumps to the next timer, exact to 1 us) or, for rates whose
period is not a binary fraction, on a "drifting" fake loop (see `DriftClockLoop`).
"""

from __future__ import annotations

import asyncio
import bisect
import random
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import looptime
import pytest
from driftclock import DriftClockLoop
from fakes import WORK, FakeSource, Step, fake_factory, make_plan, no_pdf, ok, transient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fallback_kit.contracts.events import ListSink, Outcome, ResolutionStatus
from fallback_kit.contracts.plan import KNOWN_SOURCES
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.web.gates import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    GateClosed,
    Gates,
    HostRateLimiter,
    RateLimit,
    backoff_delay,
    parse_retry_after,
)

T = TypeVar("T")
PROPS = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


# ---- fake clocks -----------------------------------------------------------------------


class Clock:
    """A hand-moved clock for breakers (seconds)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# CPU seconds (not wall-clock: a loaded machine must not fail it) a fake-clock run may take
# before it counts as a livelock
WATCHDOG_S = 2.0


def _run_watched(loop: asyncio.AbstractEventLoop, main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` on `loop`; fail (instead of hanging) if it spins without finishing."""
    def stop(*_: object) -> None:
        loop.stop()

    old = signal.signal(signal.SIGVTALRM, stop)
    signal.setitimer(signal.ITIMER_VIRTUAL, WATCHDOG_S)
    task = loop.create_task(main())  # type: ignore[arg-type]
    try:
        try:
            return loop.run_until_complete(task)
        except RuntimeError:
            if task.done():
                raise
            raise AssertionError(
                f"livelock: no result after {WATCHDOG_S} s of CPU time; the fake clock is "
                f"stuck at {loop.time()!r}") from None
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, WATCHDOG_S)
        try:
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, old)
            loop.close()


def on_looptime(main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` on a fresh looptime loop (sleeps are instant, loop.time() exact to 1 us)."""
    return _run_watched(looptime.new_event_loop(noop_cycles=1), main)


def on_drift_clock(main: Callable[[], Awaitable[T]]) -> T:
    return _run_watched(DriftClockLoop(), main)


# ---- breaker ---------------------------------------------------------------------------


@PROPS
@given(threshold=st.integers(1, 30), gaps=st.lists(st.integers(0, 5), min_size=29, max_size=29),
       slack=st.integers(1, 100))
def test_breaker_opens_on_exactly_the_threshold_failure(threshold, gaps, slack):
    """Failures within the window open the breaker on exactly the configured one, not before."""
    gaps = gaps[: threshold - 1]
    window_s = sum(gaps) + slack
    clock, events = Clock(), []
    b = CircuitBreaker("h", BreakerConfig(failure_threshold=threshold, window_ms=window_s * 1000),
                       clock=clock, on_change=events.append)
    for i in range(threshold):
        assert b.state is BreakerState.CLOSED and b.allow(), f"opened early at failure {i}"
        b.record_failure()
        if i < threshold - 1:
            clock.t += gaps[i]
    assert b.state is BreakerState.OPEN
    assert [(e.old, e.new) for e in events] == [("closed", "open")]


@PROPS
@given(threshold=st.integers(2, 20), window_s=st.integers(1, 100), n=st.integers(2, 60))
def test_failures_a_window_apart_never_open(threshold, window_s, n):
    """Failures spaced a whole window apart never add up to the threshold."""
    clock = Clock()
    b = CircuitBreaker("h", BreakerConfig(failure_threshold=threshold, window_ms=window_s * 1000),
                       clock=clock)
    for _ in range(n):
        b.record_failure()
        clock.t += window_s
    assert b.state is BreakerState.CLOSED


@PROPS
@given(t_open=st.integers(0, 10**6), cooldown_eighths=st.integers(1, 8 * 3600),
       probes=st.integers(1, 5), asks=st.lists(st.integers(0, 1023), max_size=20))
def test_breaker_half_opens_at_exactly_the_cooldown(t_open, cooldown_eighths, probes, asks):
    """Open refuses everything until cooldown_ms, then lets exactly half_open_probes through."""
    cooldown_s = cooldown_eighths / 8  # binary fractions: the arithmetic below is exact
    clock, events = Clock(float(t_open)), []
    b = CircuitBreaker("h", BreakerConfig(failure_threshold=1, cooldown_ms=int(cooldown_s * 1000),
                                          half_open_probes=probes),
                       clock=clock, on_change=events.append)
    b.record_failure()
    for k in sorted(asks):  # any instant inside the cool-down
        clock.t = t_open + cooldown_s * k / 1024
        assert not b.allow() and b.state is BreakerState.OPEN
    clock.t = t_open + cooldown_s - 1 / 1024
    assert not b.allow()
    clock.t = t_open + cooldown_s
    assert b.state is BreakerState.HALF_OPEN
    assert [b.allow() for _ in range(probes + 3)] == [True] * probes + [False] * 3
    assert [e.new for e in events] == ["open", "half_open"]


@PROPS
@given(n_asks=st.integers(1, 50), cooldown_s=st.integers(1, 600), data=st.data())
def test_open_host_is_sent_nothing_through_the_gates(n_asks, cooldown_s, data):
    """Every request to an open host during the cool-down is refused as breaker_open."""
    clock = Clock()
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=cooldown_s * 1000),
                  clock=clock)
    gates.after_response("h", ok=False)
    times = sorted(data.draw(st.lists(st.integers(0, cooldown_s * 1000 - 1), min_size=n_asks,
                                      max_size=n_asks)))

    async def main() -> tuple[int, int]:
        sent = refused = 0
        for ms in times:
            clock.t = ms / 1000
            try:
                await gates.before_request("h")
            except GateClosed as exc:
                assert (exc.reason, exc.host) == ("breaker_open", "h")
                refused += 1
            else:
                sent += 1
        return sent, refused

    assert on_looptime(main) == (0, n_asks)


def test_request_waiting_for_its_rate_turn_is_not_sent_once_the_breaker_opened():
    """A request that passed the breaker, then waited for the rate limit while the breaker
    opened, must not be sent to the now-open host."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=60_000),
                  rate_limits={"h": RateLimit(per_second=1, burst=1)}, max_rate_wait_ms=5_000)

    async def main() -> str:
        await gates.before_request("h")  # request A takes the only slot at t=0
        waiting = asyncio.create_task(gates.before_request("h"))  # B waits for t=1
        await asyncio.sleep(0.5)
        gates.after_response("h", ok=False)  # A failed: the breaker opens at t=0.5
        assert gates.is_open("h")
        try:
            await waiting
        except GateClosed as exc:
            return exc.reason
        return "sent to an open host"

    assert on_looptime(main) == "breaker_open"


OPS = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["fail", "ok", "allow", "release"]),
                         st.integers(0, 20)), max_size=120)


@PROPS
@given(ops=OPS, threshold=st.integers(1, 4), cooldown_s=st.integers(1, 30))
def test_breakers_are_isolated_per_host(ops, threshold, cooldown_s):
    """A host's breaker in shared Gates behaves exactly as if it saw only its own traffic."""
    config = BreakerConfig(failure_threshold=threshold, window_ms=10_000,
                           cooldown_ms=cooldown_s * 1000)
    clock = Clock()
    gates = Gates(breaker=config, clock=clock)
    alone = {h: CircuitBreaker(f"h{h}", config, clock=clock) for h in range(4)}
    for host, op, dt in ops:
        clock.t += dt
        shared, solo = gates.breaker(f"h{host}"), alone[host]
        if op == "fail":
            gates.after_response(f"h{host}", ok=False)
            solo.record_failure()
        elif op == "ok":
            gates.after_response(f"h{host}", ok=True)
            solo.record_success()
        elif op == "allow":
            assert shared.allow() == solo.allow()
        else:
            gates.release(f"h{host}")
            solo.release_probe()
        for h in range(4):
            assert gates.breaker(f"h{h}").state is alone[h].state


# ---- rate limiter ----------------------------------------------------------------------


def _admit_times(limit: RateLimit, n: int,
                 workers: int = 8) -> Callable[[], Awaitable[list[float]]]:
    async def main() -> list[float]:
        limiter = HostRateLimiter("h", limit)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        times: list[float] = []
        todo = iter(range(n))

        async def worker() -> None:
            for _ in todo:
                await limiter.acquire()
                times.append(loop.time() - t0)

        await asyncio.gather(*(worker() for _ in range(workers)))
        return sorted(times)

    return main


def _worst_window(times: list[float], window: float) -> int:
    """Most admissions in any half-open window [t, t + window)."""
    return max(bisect.bisect_left(times, t + window) - i for i, t in enumerate(times))


def _assert_within_rate(times: list[float], limit: RateLimit) -> None:
    for window in (1 / limit.per_second, 0.5, 1.0, 10.0, 100.0):
        allowed = max(1, limit.burst) + limit.per_second * window
        assert _worst_window(times, window) <= allowed + 1e-9, (window, limit)


@pytest.mark.parametrize("limit", [RateLimit(per_second=4, burst=1),
                                   RateLimit(per_second=0.5, burst=3),
                                   RateLimit(per_second=64, burst=8)], ids=repr)
def test_limiter_never_exceeds_its_rate_over_10000_acquisitions(limit):
    """In any window T, at most burst + rate*T of 10,000 acquisitions are admitted."""
    times = on_looptime(_admit_times(limit, 10_000))
    assert len(times) == 10_000
    _assert_within_rate(times, limit)
    # and it does not starve either: the last admission is when the rate says
    expected_last = (10_000 - max(1, limit.burst)) / limit.per_second
    assert times[-1] == pytest.approx(expected_last, abs=1e-3)


@pytest.mark.parametrize("limit", [RateLimit(per_second=3, burst=1),
                                   RateLimit(per_second=1 / 3, burst=1),
                                   RateLimit(per_second=10, burst=5)], ids=repr)
def test_limiter_at_real_politeness_rates_never_exceeds_them(limit):
    """Rates of politeness.py (3/s, 1/3 s, 10/s burst 5) hold over 10,000 acquisitions."""
    times = on_drift_clock(_admit_times(limit, 10_000))
    assert len(times) == 10_000
    _assert_within_rate(times, limit)


@PROPS
@given(rate_exp=st.integers(-3, 6), burst=st.integers(1, 8), n=st.integers(1, 400),
       workers=st.integers(1, 20))
def test_limiter_window_bound_holds_for_any_binary_rate(rate_exp, burst, n, workers):
    """For any rate 2**k/s and burst, no window admits more than burst + rate*T."""
    limit = RateLimit(per_second=2.0**rate_exp, burst=burst)
    times = on_looptime(_admit_times(limit, n, workers))
    assert len(times) == n
    _assert_within_rate(times, limit)


@PROPS
@given(rate_exp=st.integers(-2, 5), burst=st.integers(1, 6), n_cancel=st.integers(1, 20),
       cancel_at=st.integers(0, 99))
def test_cancelled_waiters_take_no_capacity(rate_exp, burst, n_cancel, cancel_at):
    """Waiters cancelled before their turn leave the next slot to the next live waiter."""
    limit = RateLimit(per_second=2.0**rate_exp, burst=burst)
    slot = 1 / limit.per_second

    async def main() -> tuple[float, str]:
        limiter = HostRateLimiter("h", limit)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for _ in range(burst):
            await limiter.acquire()  # the bucket is full at t0
        doomed = [asyncio.create_task(limiter.acquire()) for _ in range(n_cancel)]
        await asyncio.sleep(slot * cancel_at / 100)
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        assert all(t.cancelled() for t in doomed)
        await limiter.acquire()
        admitted = loop.time() - t0
        return admitted, repr(limiter)

    admitted, state = on_looptime(main)
    assert admitted == pytest.approx(slot, abs=2e-6)
    assert "waiting=0" in state


def test_cancelled_gate_waiter_gives_back_its_half_open_probe():
    """A half-open probe whose rate wait is cancelled frees the probe for the next request."""
    clock = Clock()
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=1000, half_open_probes=1),
                  rate_limits={"h": RateLimit(per_second=1, burst=1)}, max_rate_wait_ms=10_000,
                  clock=clock)

    async def main() -> bool:
        await gates.before_request("h")  # takes the rate slot
        gates.after_response("h", ok=False)  # opens
        clock.t = 1.0  # half-open
        probe = asyncio.create_task(gates.before_request("h"))  # takes the probe, waits for rate
        await asyncio.sleep(0.1)
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)
        return gates.breaker("h").allow()

    assert on_looptime(main) is True


# ---- retry arithmetic ------------------------------------------------------------------


@PROPS
@given(attempt=st.integers(0, 80), base=st.integers(1, 10_000), cap=st.integers(1, 10**6),
       seed=st.integers(0, 2**32))
def test_backoff_stays_within_full_jitter_bounds(attempt, base, cap, seed):
    """Every delay is in [0, min(cap, base * 2**attempt)] ms."""
    rng = random.Random(seed)
    ceiling = min(cap, base * 2**attempt) / 1000
    for _ in range(20):
        d = backoff_delay(attempt, base_ms=base, cap_ms=cap, rng=rng)
        assert 0 <= d <= ceiling


@pytest.mark.parametrize("attempt", [0, 3, 10])
def test_backoff_uses_the_whole_jitter_range(attempt):
    """Full jitter: 2,000 draws spread from near 0 to near the ceiling, mean near half."""
    rng = random.Random(attempt)
    ceiling = min(5000, 250 * 2**attempt) / 1000
    draws = [backoff_delay(attempt, base_ms=250, cap_ms=5000, rng=rng) for _ in range(2000)]
    assert min(draws) < 0.02 * ceiling and max(draws) > 0.98 * ceiling
    assert sum(draws) / len(draws) == pytest.approx(ceiling / 2, rel=0.1)


@PROPS
@given(n=st.integers(0, 10**9), pad=st.sampled_from(["", " ", "\t", "  "]))
def test_retry_after_seconds_are_exact(n, pad):
    """A delta-seconds Retry-After is read exactly."""
    assert parse_retry_after(f"{pad}{n}{pad}") == float(n)


NOW = datetime(2024, 5, 17, 12, 0, 0, tzinfo=UTC)


@PROPS
@given(seconds=st.integers(-10**8, 10**8))
def test_retry_after_dates_are_exact_and_clamped_at_zero(seconds):
    """An HTTP-date Retry-After gives the exact seconds to wait; a past date gives 0."""
    header = format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(header, now=NOW) == float(max(0, seconds))


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(), st.text(alphabet="0123456789²³¹ ,:GMTMonJan-+"),
                       st.sampled_from(["²", "³", "¹0", "Mon, 01 Jan 99999999999 00:00:00 GMT",
                                        "Fri, 31 Dec 9999 23:59:59 GMT", "-1", "1.5", ""])))
def test_retry_after_never_raises(value):
    """Any header text gives seconds >= 0 or None, never an exception (headers are latin-1)."""
    got = parse_retry_after(value, now=NOW)
    assert got is None or got >= 0


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9\u00b3",
                                   "Mon, 01 Jan 99999999999 00:00:00 GMT"],
                         ids=["superscript-two", "superscripts", "year-99999999999"])
def test_retry_after_odd_headers_give_none(value):
    """Superscript digits (latin-1 header bytes 0xb2/0xb3/0xb9) and absurd years are no delay."""
    assert parse_retry_after(value, now=NOW) is None


# ---- the orchestrator: retries, budgets, deadline, cancellation --------------------------


def _orchestrator(plan: Any, sources: list[FakeSource], **kw: Any) -> tuple[Orchestrator, ListSink]:
    sink = ListSink()
    o = Orchestrator(plan, sources={s.name: s for s in sources}, sink=sink,
                     fetcher_factory=fake_factory, rng=random.Random(0), **kw)
    return o, sink


@st.composite
def tier_layout(draw: Any, max_sources: int = 6) -> list[list[str]]:
    """A random subset of the known sources, cut into consecutive tiers."""
    n = draw(st.integers(1, max_sources))
    names = draw(st.permutations(KNOWN_SOURCES))[:n]
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n - 1))) if n > 1 else []
    bounds = [0, *cuts, n]
    return [list(names[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


@PROPS
@given(layout=tier_layout(), data=st.data(), total_attempts=st.integers(1, 40),
       max_concurrent=st.integers(1, 5))
def test_requests_under_total_failure_stay_within_the_retry_budget(
        layout, data, total_attempts, max_concurrent):
    """When every try fails transiently: tries == min(total_attempts, sum(retries_max + 1))."""
    retries = {name: data.draw(st.integers(0, 4), label=name) for tier in layout for name in tier}
    tiers = [{"name": f"t{i}", "sources": names, "parallel": data.draw(st.integers(1, 3))}
             for i, names in enumerate(layout)]
    plan = make_plan(tiers, budgets={"total_attempts": total_attempts,
                                     "max_concurrent": max_concurrent,
                                     "total_timeout_ms": 10**9},
                     sources={n: {"retries_max": r, "backoff_base_ms": 1, "backoff_cap_ms": 1}
                              for n, r in retries.items()})
    srcs = [FakeSource(n, [Step(data.draw(st.integers(0, 50), label=f"{n} ms") / 1000,
                                transient())]) for n in retries]
    o, sink = _orchestrator(plan, srcs)
    res = on_looptime(lambda: o.resolve(WORK))
    budget = sum(r + 1 for r in retries.values())
    tries = sum(len(s.calls) for s in srcs)
    assert tries == min(total_attempts, budget)
    assert res.requests == tries
    assert all(len(s.calls) <= retries[s.name] + 1 for s in srcs)
    # every try met a passing failure: no answer about the work, whatever the budget did
    assert res.status is ResolutionStatus.TRANSIENT
    assert {a.outcome for a in sink.attempts} <= {Outcome.RETRYABLE, Outcome.SKIPPED}


@PROPS
@given(retry_after=st.integers(1, 3600), scale=st.sampled_from([1.0, 0.5, 0.01]),
       total_s=st.integers(2, 7200), first_ms=st.integers(0, 1000))
def test_retry_after_is_waited_exactly_or_not_at_all(retry_after, scale, total_s, first_ms):
    """The retry comes exactly Retry-After later, unless that outlasts the deadline: then
    the source gives up at once."""
    src = FakeSource("unpaywall", [Step(first_ms / 1000 * scale, transient(429, retry_after)),
                                   Step(0, ok())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}],
                     budgets={"total_timeout_ms": total_s * 1000,
                              "per_source_timeout_ms": min(total_s * 1000, 10_000)},
                     sources={"unpaywall": {"retries_max": 1, "backoff_base_ms": 1,
                                            "backoff_cap_ms": 1}})
    remaining = (total_s - first_ms / 1000) * scale
    wait = retry_after * scale
    assume(abs(wait - remaining) > 1e-3)
    o, _ = _orchestrator(plan, [src], time_scale=scale)

    async def main() -> tuple[Any, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        res = await o.resolve(WORK)
        return res, loop.time() - t0

    res, elapsed = on_looptime(main)
    if wait < remaining:
        assert len(src.calls) == 2 and res.resolved
        assert src.calls[1] - src.finished[0] == pytest.approx(wait, abs=2e-6)
    else:
        assert len(src.calls) == 1 and not res.resolved
        assert elapsed == pytest.approx(first_ms / 1000 * scale, abs=2e-6)


def _step_strategy() -> st.SearchStrategy[Step]:
    outcome = st.sampled_from(["ok", "no_pdf", "transient", "retry_after", "boom", "hang"])

    def build(kind: str, delay_ms: int) -> Step:
        delay = delay_ms / 1000
        if kind == "ok":
            return Step(delay, ok())
        if kind == "no_pdf":
            return Step(delay, no_pdf())
        if kind == "transient":
            return Step(delay, transient())
        if kind == "retry_after":
            return Step(delay, transient(429, retry_after=delay_ms / 100))
        if kind == "boom":
            return Step(delay, exc=RuntimeError("boom"))
        return Step(10**6, ok())  # hangs past any budget

    return st.builds(build, outcome, st.integers(0, 30_000))


@st.composite
def scenario(draw: Any) -> tuple[Any, list[FakeSource], float]:
    """A random plan over fake sources with random delays and outcomes."""
    layout = draw(tier_layout())
    total_ms = draw(st.integers(100, 60_000))
    tiers = []
    for i, names in enumerate(layout):
        tier: dict[str, Any] = {"name": f"t{i}", "sources": names,
                                "parallel": draw(st.integers(1, 3))}
        if draw(st.booleans()):
            tier["hedge_after_ms"] = draw(st.integers(1, 20_000))
        tiers.append(tier)
    policies = {}
    srcs = []
    for tier in layout:
        for name in tier:
            policies[name] = {"retries_max": draw(st.integers(0, 3)),
                              "timeout_ms": draw(st.integers(1, total_ms)),
                              "backoff_base_ms": draw(st.integers(1, 2000))}
            srcs.append(FakeSource(name, draw(st.lists(_step_strategy(), min_size=1,
                                                        max_size=4))))
    plan = make_plan(tiers, budgets={"total_timeout_ms": total_ms,
                                     "per_source_timeout_ms": min(total_ms, 10_000),
                                     "total_attempts": draw(st.integers(1, 20)),
                                     "max_concurrent": draw(st.integers(1, 4))},
                     sources=policies)
    scale = draw(st.sampled_from([1.0, 0.01]))
    return plan, srcs, scale


async def _resolve_measured(o: Orchestrator) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    before = asyncio.all_tasks() - {me}
    t0 = loop.time()
    res = await o.resolve(WORK)
    return {"res": res, "elapsed": loop.time() - t0,
            "left": asyncio.all_tasks() - before - {me}, "at_return": loop.time() - t0}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_deadline_is_never_overrun(case):
    """Whatever the sources do, a work ends by its deadline (0 overrun on the fake clock)."""
    plan, srcs, scale = case
    o, sink = _orchestrator(plan, srcs, time_scale=scale)
    got = on_drift_clock(lambda: _resolve_measured(o))
    total_ms = plan.budgets.total_timeout_ms
    assert got["elapsed"] <= total_ms / 1000 * scale + 1e-6
    assert got["res"].elapsed_ms <= total_ms + 1e-3
    assert all(a.t_end_ms <= total_ms + 1e-3 for a in sink.attempts)
    if got["res"].reason == "deadline":
        assert got["elapsed"] == pytest.approx(total_ms / 1000 * scale, abs=1e-6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_no_loser_runs_after_resolve_returns(case):
    """When resolve returns, no source is still running and no task is left behind."""
    plan, srcs, scale = case
    o, sink = _orchestrator(plan, srcs, time_scale=scale)
    got = on_drift_clock(lambda: _resolve_measured(o))
    assert {s.name: s.running for s in srcs} == {s.name: 0 for s in srcs}
    assert got["left"] == set()
    res = got["res"]
    assert len(sink.resolutions) == 1 and sink.resolutions[0] is res
    if res.resolved:
        won_at = res.elapsed_ms / 1000 * scale
        assert all(t <= won_at + 1e-6 for s in srcs for t in s.calls)
        assert sum(a.outcome is Outcome.SUCCESS and a.source == res.source
                   for a in sink.attempts) == 1


def test_a_source_queued_behind_the_winner_never_starts():
    """A sibling waiting for its tier slot when the winner returns is not tried at all."""
    winner = FakeSource("unpaywall", [Step(1, ok())])
    queued = FakeSource("arxiv", [Step(5, ok("https://other.example/b.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 1}])
    o, sink = _orchestrator(plan, [winner, queued])
    res = on_looptime(lambda: o.resolve(WORK))
    assert res.source == "unpaywall"
    assert queued.calls == []
    assert res.requests == 1



def test_hedge_off_the_fake_clock_grid_does_not_spin_forever():
    """A hedge instant a rounding error past "now" (1.0 ms + 20 ms x 0.01) still fires.

    asyncio fires timers up to its clock resolution early; the tier walk must treat an
    instant that close as reached instead of waiting for it again and again.
    """
    first = FakeSource("unpaywall", [Step(0.001, no_pdf())])
    slow = FakeSource("arxiv", [Step(1000, ok("https://slow.example/a.pdf"))])
    hedge = FakeSource("pmc", [Step(0, ok("https://hedge.example/a.pdf"))])
    plan = make_plan([{"name": "t0", "sources": ["unpaywall"]},
                      {"name": "t1", "sources": ["arxiv"], "hedge_after_ms": 20},
                      {"name": "t2", "sources": ["pmc"]}])
    o, _ = _orchestrator(plan, [first, slow, hedge], time_scale=0.01)
    res = on_looptime(lambda: o.resolve(WORK))
    assert (res.source, res.elapsed_ms) == ("pmc", pytest.approx(120, abs=0.01))
