"""Breakers, rate limits and retry arithmetic on a fake clock."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from fallback_kit.web.gates import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    GateClosed,
    Gates,
    HostRateLimiter,
    RateLimit,
    WorkGates,
    backoff_delay,
    parse_retry_after,
)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def breaker(**kw):
    clock = Clock()
    events = []
    b = CircuitBreaker("h", BreakerConfig(**kw), clock=clock, on_change=events.append)
    return b, clock, events


def test_breaker_opens_on_exactly_the_threshold():
    """The breaker stays closed until the configured failure, then opens."""
    b, _, events = breaker(failure_threshold=3)
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    assert [(e.old, e.new) for e in events] == [("closed", "open")]


def test_failures_outside_the_window_do_not_count():
    """Only failures within window_ms add up."""
    b, clock, _ = breaker(failure_threshold=2, window_ms=1000)
    b.record_failure()
    clock.t = 1.5
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_breaker_half_opens_at_exactly_the_cooldown():
    """Open lets nothing through until cooldown_ms, then one probe."""
    b, clock, _ = breaker(failure_threshold=1, cooldown_ms=2000, half_open_probes=1)
    b.record_failure()
    clock.t = 1.999
    assert not b.allow()
    clock.t = 2.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow()  # one probe only


def test_probe_success_closes_and_failure_reopens():
    """A successful probe closes the breaker; a failed one re-opens it."""
    b, clock, events = breaker(failure_threshold=1, cooldown_ms=1000)
    b.record_failure()
    clock.t = 1
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    clock.t = 2.5
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert [e.new for e in events] == ["open", "half_open", "closed", "open", "half_open", "open"]


@pytest.mark.looptime
async def test_breakers_are_per_host():
    """Failures of one host never close the gate of another."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1))
    gates.after_response("a.example", ok=False)
    with pytest.raises(GateClosed) as info:
        await gates.before_request("a.example")
    assert info.value.reason == "breaker_open"
    await gates.before_request("b.example")


@pytest.mark.looptime
async def test_rate_limiter_spaces_requests():
    """A limiter at 2/s admits the third request only after a second."""
    limiter = HostRateLimiter("h", RateLimit(per_second=2, burst=2))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(3):
        await limiter.acquire()
    assert loop.time() - t0 == pytest.approx(0.5, abs=0.01)


@pytest.mark.looptime
async def test_rate_wait_too_long_is_a_skip():
    """When the predicted wait exceeds the cap, the request is refused as rate_wait."""
    gates = Gates(rate_limits={"slow.example": RateLimit(per_second=0.5)}, max_rate_wait_ms=1000)
    await gates.before_request("slow.example")
    with pytest.raises(GateClosed) as info:
        await gates.before_request("slow.example")
    assert info.value.reason == "rate_wait"


def test_rate_limit_matches_host_suffix():
    """A limit for ncbi.nlm.nih.gov covers www.ncbi.nlm.nih.gov."""
    gates = Gates(rate_limits={"ncbi.nlm.nih.gov": RateLimit(per_second=3)})
    assert gates.limiter("www.ncbi.nlm.nih.gov").limit.per_second == 3
    assert gates.limiter("example.org") is None


def test_backoff_is_full_jitter_within_bounds():
    """Delays lie in [0, min(cap, base*2^n)]."""
    rng = random.Random(1)
    for n in range(8):
        for _ in range(50):
            d = backoff_delay(n, base_ms=100, cap_ms=2000, rng=rng)
            assert 0 <= d <= min(2.0, 0.1 * 2**n)


def test_retry_after_seconds_and_http_date():
    """Retry-After is read as delta-seconds and as an HTTP-date."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True),
                             now=now) == pytest.approx(30)
    assert parse_retry_after("soon") is None


# -- the exact rules of each gate (issue 17: mutation testing) ----------------------------


def test_a_failure_exactly_window_ms_old_no_longer_counts():
    """The window is open at its old end: a failure window_ms ago has left it, one a
    hair younger still counts."""
    b, clock, _ = breaker(failure_threshold=2, window_ms=1000)
    b.record_failure()  # t=0
    clock.t = 1.0
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b2, clock2, _ = breaker(failure_threshold=2, window_ms=1000)
    clock2.t = 0.0005
    b2.record_failure()
    clock2.t = 1.0
    b2.record_failure()
    assert b2.state is BreakerState.OPEN


def test_a_success_while_closed_forgets_the_failures_before_it():
    """Failures count only in a row: a success in between starts the count again."""
    b, _, _ = breaker(failure_threshold=2)
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state is BreakerState.CLOSED


def test_half_open_admits_exactly_half_open_probes():
    """With half_open_probes=2 two probes go through, the third waits for a verdict."""
    b, clock, _ = breaker(failure_threshold=1, cooldown_ms=1000, half_open_probes=2)
    b.record_failure()
    clock.t = 1.0
    assert [b.allow(), b.allow(), b.allow()] == [True, True, False]


def test_a_failed_probe_reopens_and_the_next_cooldown_probes_again():
    """After a failed probe the breaker opens for a full cooldown, then lets a probe
    through again: the failed probe's slot is not still taken."""
    b, clock, _ = breaker(failure_threshold=1, cooldown_ms=1000, half_open_probes=1)
    b.record_failure()
    clock.t = 1.0
    assert b.allow()
    b.record_failure()
    clock.t = 1.999
    assert b.state is BreakerState.OPEN
    clock.t = 2.0
    assert b.allow() and not b.allow()


def test_a_cancelled_probe_frees_its_slot_and_nothing_more():
    """release_probe gives back a taken probe slot; a release with no probe out (a
    request let through while closed, cancelled after the breaker half-opened) grants
    no extra probe."""
    b, clock, _ = breaker(failure_threshold=1, cooldown_ms=1000, half_open_probes=1)
    b.release_probe()  # closed: nothing to release
    b.record_failure()
    clock.t = 1.0
    assert b.state is BreakerState.HALF_OPEN
    b.release_probe()  # half-open, no probe out
    assert b.allow() and not b.allow()
    b.release_probe()
    assert b.allow() and not b.allow()


def test_breaker_events_say_host_states_time_and_failures():
    """Each state change is one event naming the host, old and new state, the clock
    time and the failures counted."""
    b, clock, events = breaker(failure_threshold=2, cooldown_ms=1000)
    clock.t = 3.0
    b.record_failure()
    clock.t = 3.5
    b.record_failure()
    clock.t = 4.5
    assert b.state is BreakerState.HALF_OPEN
    assert [(e.host, e.old, e.new, e.at_s, e.failures) for e in events] == [
        ("h", "closed", "open", 3.5, 2), ("h", "open", "half_open", 4.5, 2)]


@pytest.mark.looptime
async def test_the_run_gates_use_their_clock_and_name_the_host():
    """Gates build each host's breaker on the run's clock: the cooldown is measured on
    it, and every refusal and event names the host."""
    clock, events = Clock(), []
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=1000), clock=clock,
                  on_event=events.append)
    gates.after_response("a.example", ok=False)
    with pytest.raises(GateClosed) as info:
        await gates.before_request("a.example")
    assert (info.value.reason, info.value.host) == ("breaker_open", "a.example")
    assert str(info.value) == "breaker_open (a.example)"
    clock.t = 1.0
    await gates.before_request("a.example")  # the probe
    assert [(e.host, e.new) for e in events] == [("a.example", "open"),
                                                 ("a.example", "half_open")]


@pytest.mark.looptime
async def test_gates_release_frees_the_probe_of_a_cancelled_request():
    """A probe whose request was cancelled (no verdict) gives its slot back."""
    clock = Clock()
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=1000,
                                        half_open_probes=1), clock=clock)
    gates.after_response("a.example", ok=False)
    clock.t = 1.0
    await gates.before_request("a.example")
    with pytest.raises(GateClosed):
        await gates.before_request("a.example")
    gates.release("a.example")
    await gates.before_request("a.example")


def storm(gates: Gates, host: str, statuses, *, ok: bool = True) -> None:
    for status in statuses:
        gates.after_response(host, ok=ok, status=status)


@pytest.mark.parametrize("status", [400, 403, 405, 411, 451, 499])
def test_a_storm_of_exactly_twenty_refusals_trips_the_breaker(status):
    """4xx answers (but 404/410) are sane one by one; the 20th in a row is a failure."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1), clock=Clock())
    storm(gates, "h", [status] * 19)
    assert gates.breaker("h").state is BreakerState.CLOSED
    storm(gates, "h", [status])
    assert gates.breaker("h").state is BreakerState.OPEN


@pytest.mark.parametrize("status", [200, 206, 302, 404, 410, 500, None])
def test_answers_that_are_not_refusals_never_make_a_storm(status):
    """A success, a redirect, 404/410 ("no such thing", an answer) and any non-4xx
    status never count towards a storm, however many in a row."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1), clock=Clock())
    storm(gates, "h", [status] * 40)
    assert gates.breaker("h").state is BreakerState.CLOSED


def test_a_sane_answer_ends_the_refusal_streak_of_its_host_only():
    """The storm counts refusals in a row per host: a 200 between resets it, and another
    host's answers do not."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1), clock=Clock())
    storm(gates, "a", [403] * 19 + [200] + [403] * 19)
    storm(gates, "b", [200])
    assert gates.breaker("a").state is BreakerState.CLOSED
    storm(gates, "a", [403])
    assert gates.breaker("a").state is BreakerState.OPEN


def test_failed_requests_are_not_part_of_a_refusal_storm():
    """A 429 the edge judged a failure counts once as a failure, not as a refusal in
    the streak: 429 then 19 refusals is one failure."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=2), clock=Clock())
    storm(gates, "h", [429], ok=False)
    storm(gates, "h", [403] * 19)
    assert gates.breaker("h").state is BreakerState.CLOSED


class Quota:
    """A daily-quota book that has `left` calls for each host it is asked about."""

    def __init__(self, left: int) -> None:
        self.left, self.asked = left, []

    def take(self, host: str) -> bool:
        self.asked.append(host)
        self.left -= 1
        return self.left >= 0


@pytest.mark.looptime
async def test_a_used_up_quota_refuses_and_gives_back_the_probe():
    """The daily quota is asked per host; a used-up one refuses as `quota` and the
    half-open probe it had taken is free again for a later request."""
    clock, quota = Clock(), Quota(left=1)
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=1000,
                                        half_open_probes=1), clock=clock, quota=quota)
    await gates.before_request("api.example")
    gates.after_response("api.example", ok=False)
    clock.t = 1.0
    with pytest.raises(GateClosed) as info:
        await gates.before_request("api.example")
    assert str(info.value) == "quota (api.example): the service's daily quota is used up"
    assert quota.asked == ["api.example", "api.example"]
    assert gates.breaker("api.example").allow()  # the probe was given back


@pytest.mark.looptime
async def test_a_rate_wait_of_exactly_the_cap_waits():
    """The cap is inclusive: a predicted wait equal to it waits (and says how long),
    one over it is refused at once with the host and the cap."""
    gates = Gates(rate_limits={"slow.example": RateLimit(per_second=1)}, max_rate_wait_ms=1000)
    limiter = gates.limiter("slow.example")
    assert limiter.host == "slow.example"
    await asyncio.sleep(100)  # the waits are differences of the clock, not its reading
    assert await limiter.acquire(1.0) == 0
    assert limiter.predicted_wait_s() == 1.0
    assert await limiter.acquire(1.0) == pytest.approx(1.0, abs=0.01)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await gates.before_request("slow.example")  # the plan's cap, in ms, is inclusive too
    assert loop.time() - t0 == pytest.approx(1.0, abs=0.01)
    with pytest.raises(GateClosed) as info:
        await limiter.acquire(0.9)
    assert (info.value.reason, info.value.host) == ("rate_wait", "slow.example")
    assert str(info.value) == "rate_wait (slow.example): wait > 900 ms"


@pytest.mark.looptime
async def test_the_predicted_wait_counts_every_queued_request():
    """Each request queued for a host adds one interval to the predicted wait; once
    they have gone, a free bucket predicts no wait."""
    limiter = HostRateLimiter("h", RateLimit(per_second=2, burst=1))
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    assert limiter.predicted_wait_s() == pytest.approx(1.5)
    await asyncio.gather(*waiters)
    await asyncio.sleep(10)
    assert limiter.predicted_wait_s() == 0.0
    assert repr(limiter) == "<HostRateLimiter h 2/s burst=1 waiting=0>"


class _StarvedBucket:
    """A bucket that claims room but never grants it (as a waiter woken late would)."""

    def has_capacity(self) -> bool:
        return True

    async def acquire(self) -> None:
        await asyncio.sleep(3600)


@pytest.mark.looptime
@pytest.mark.parametrize("cap_s", [2.0, 0.0])
async def test_no_request_waits_longer_than_the_cap_for_its_turn(cap_s):
    """The cap bounds the real wait too, not only the prediction: a turn that does not
    come within max_wait_s is refused as rate_wait after that long (a cap of 0: at once)."""
    limiter = HostRateLimiter("h", RateLimit(per_second=1))
    limiter._limiter = _StarvedBucket()  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(GateClosed) as info:
        await limiter.acquire(cap_s)
    assert loop.time() - t0 == pytest.approx(cap_s, abs=0.002)
    assert str(info.value) == f"rate_wait (h): waited {cap_s * 1000:.0f} ms"
    assert limiter.predicted_wait_s() == 0.0  # it left the queue


@pytest.mark.looptime
@pytest.mark.parametrize("cap", [1, 3])
async def test_one_work_sends_at_most_cap_requests_to_a_host(cap):
    """WorkGates lets exactly `cap` requests of one work go to a host, refuses the next
    as host_cap, and counts each host on its own."""
    work = WorkGates(Gates(), cap=cap)
    for _ in range(cap):
        await work.before_request("a.example")
    with pytest.raises(GateClosed) as info:
        await work.before_request("a.example")
    assert (info.value.reason, info.value.host) == ("host_cap", "a.example")
    assert str(info.value) == f"host_cap (a.example): {cap} requests of this work"
    await work.before_request("b.example")
    assert work.sent == {"a.example": cap, "b.example": 1}


@pytest.mark.looptime
async def test_a_request_the_run_gates_refuse_is_not_counted_for_the_work():
    """Only requests that passed the gates count against the work's per-host cap."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1))
    gates.after_response("a.example", ok=False)
    work = WorkGates(gates, cap=3)
    with pytest.raises(GateClosed):
        await work.before_request("a.example")
    assert work.sent == {}


def test_a_refusal_without_detail_is_reason_and_host_only():
    """GateClosed's text: `reason (host)`, then `: detail` only when there is one."""
    assert str(GateClosed("robots", "h.example")) == "robots (h.example)"
    assert str(GateClosed("robots", "h.example", "disallowed")) == "robots (h.example): disallowed"
    assert GateClosed("robots", "h.example").host == "h.example"


class _Top:
    """An rng that always draws the top of the range, to read the ceiling."""

    def uniform(self, low: float, high: float) -> float:
        return high


def test_backoff_ceiling_doubles_per_attempt_up_to_the_cap():
    """The jitter range is [0, min(cap, base * 2**attempt)] ms, given in seconds, and
    drawn from the given rng."""
    top = _Top()
    ceilings = [backoff_delay(n, base_ms=300, cap_ms=5000, rng=top) for n in range(6)]
    assert ceilings == [0.3, 0.6, 1.2, 2.4, 4.8, 5.0]


def test_retry_after_dates_in_every_http_form_and_in_the_past():
    """Retry-After as an IMF date, the obsolete asctime form (no zone: UTC, RFC 9110
    5.6.7) and a past date (no wait, not a negative one); `now` defaults to the clock."""
    now = datetime(1994, 11, 6, 8, 49, 7, tzinfo=UTC)
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", now=now) == 30
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=now) == 30
    assert parse_retry_after("Sun, 06 Nov 1994 08:48:37 GMT", now=now) == 0.0
    assert 0 < parse_retry_after(format_datetime(datetime.now(UTC) + timedelta(hours=1),
                                                 usegmt=True)) <= 3600


@pytest.mark.looptime
async def test_a_breaker_that_opens_during_the_rate_wait_refuses_the_waiting_request():
    """A request that waited for its rate turn is not sent if its host's breaker opened
    meanwhile: it is refused as breaker_open, saying so."""
    gates = Gates(breaker=BreakerConfig(failure_threshold=1),
                  rate_limits={"h.example": RateLimit(per_second=1)})
    await gates.before_request("h.example")
    waiting = asyncio.create_task(gates.before_request("h.example"))
    await asyncio.sleep(0.5)
    gates.after_response("h.example", ok=False)
    with pytest.raises(GateClosed) as info:
        await waiting
    assert str(info.value) == "breaker_open (h.example): opened during the rate-limit wait"
    assert info.value.host == "h.example"
