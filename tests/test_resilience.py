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
