"""Gates in front of every request: per-host circuit breakers and rate limits, and
the retry arithmetic (full-jitter backoff, `Retry-After`).

Time is read only through the running event loop's `time()`, so tests drive all of
this on a fake loop clock (looptime) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiolimiter import AsyncLimiter

from ..contracts.events import BreakerEvent
from ..contracts.plan import BreakerPolicy as BreakerConfig
from ..contracts.plan import RateLimitPolicy as RateLimit
from ..contracts.reasons import Reason

__all__ = [
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "GateClosed",
    "Gates",
    "HostRateLimiter",
    "RateLimit",
    "WorkGates",
    "backoff_delay",
    "parse_retry_after",
]


#: the plan's breaker defaults (BreakerConfig is the plan's BreakerPolicy: one shape)
_DEFAULT_BREAKER = BreakerConfig()


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class GateClosed(Exception):
    """A gate refused a request before it was sent; the try is recorded as `skipped`.

    `reason` is one of `breaker_open`, `rate_wait`, `robots`, `offline`,
    `offline_metadata_only`, `offline_not_cached`, `unsafe_url`, `quota` (the service's
    daily quota is used up), `host_cap` (this work sent its share to the host).
    """

    def __init__(self, reason: str, host: str | None = None, detail: str = ""):
        self.reason = reason
        self.host = host
        super().__init__(f"{reason} ({host})" + (f": {detail}" if detail else ""))


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed -> open after `failure_threshold` failures within `window_ms`;
    open -> half-open after `cooldown_ms`; half-open lets `half_open_probes` requests
    through: one success closes it, one failure re-opens it."""

    def __init__(
        self,
        host: str,
        config: BreakerConfig = _DEFAULT_BREAKER,
        *,
        clock: Callable[[], float] = _loop_time,
        on_change: Callable[[BreakerEvent], None] | None = None,
    ) -> None:
        self.host = host
        self.config = config
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures: list[float] = []
        self._opened_at = 0.0
        self._probes_in_flight = 0

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.config.cooldown_ms / 1000
        ):
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """True if a request may go now; in half-open this takes one probe slot."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if (
            state is BreakerState.HALF_OPEN
            and self._probes_in_flight < self.config.half_open_probes
        ):
            self._probes_in_flight += 1
            return True
        return False

    def record_success(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = 0
            self._failures.clear()
            self._set(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._failures.clear()

    def record_failure(self) -> None:
        now = self._clock()
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight = 0
            self._open(now)
            return
        if self._state is BreakerState.OPEN:
            return
        horizon = now - self.config.window_ms / 1000
        self._failures = [t for t in self._failures if t > horizon]
        self._failures.append(now)
        if len(self._failures) >= self.config.failure_threshold:
            self._open(now)

    def release_probe(self) -> None:
        """A half-open probe ended without a verdict (cancelled): free its slot."""
        if self._state is BreakerState.HALF_OPEN and self._probes_in_flight > 0:
            self._probes_in_flight -= 1

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._set(BreakerState.OPEN)

    def _set(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new and self._on_change is not None:
            self._on_change(
                BreakerEvent(
                    host=self.host,
                    old=str(old),
                    new=str(new),
                    at_s=self._clock(),
                    failures=len(self._failures),
                )
            )

    def __repr__(self) -> str:
        return (
            f"<CircuitBreaker {self.host} {self._state} failures={len(self._failures)}"
            f"/{self.config.failure_threshold}>"
        )


#: how much later than the cap a turn may come before the wait is given up (real seconds)
_TURN_SLACK_S = 0.001


class HostRateLimiter:
    """A leaky bucket (aiolimiter) per host that can refuse when the wait is too long."""

    def __init__(self, host: str, limit: RateLimit) -> None:
        self.host = host
        self.limit = limit
        burst = max(1, limit.burst)
        self._limiter = AsyncLimiter(burst, burst / limit.per_second)
        self._waiting = 0

    def predicted_wait_s(self) -> float:
        """A lower bound of how long a new request would wait (0 when capacity is free)."""
        if self._waiting == 0 and self._limiter.has_capacity():
            return 0.0
        return (self._waiting + 1) / self.limit.per_second

    async def acquire(self, max_wait_s: float | None = None) -> float:
        """Wait for capacity; raise GateClosed('rate_wait') if it would take > max_wait_s."""
        if max_wait_s is not None and self.predicted_wait_s() > max_wait_s:
            raise GateClosed(Reason.RATE_WAIT, self.host, f"wait > {max_wait_s * 1000:.0f} ms")
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._waiting += 1
        try:
            # the cap bounds the real wait too (the bucket may wake its waiters late); a
            # turn due at the cap's very instant must not lose to this timer: a hair more
            cap = None if max_wait_s is None else max_wait_s + _TURN_SLACK_S
            async with asyncio.timeout(cap):
                await self._limiter.acquire()
        except TimeoutError:
            waited = f"waited {(max_wait_s or 0) * 1000:.0f} ms"
            raise GateClosed(Reason.RATE_WAIT, self.host, waited) from None
        finally:
            self._waiting -= 1
        return loop.time() - start

    def __repr__(self) -> str:
        return (
            f"<HostRateLimiter {self.host} {self.limit.per_second}/s burst={self.limit.burst}"
            f" waiting={self._waiting}>"
        )


#: refusals (4xx but 404/410) in a row from one host after which each one is a failure
STORM_4XX = 20


class Gates:
    """The breakers and limiters of one run, keyed by host, shared by all its works."""

    def __init__(
        self,
        *,
        breaker: BreakerConfig = _DEFAULT_BREAKER,
        rate_limits: Mapping[str, RateLimit] | None = None,
        default_rate: RateLimit | None = None,
        max_rate_wait_ms: int | None = None,
        skip_if_breaker_open: bool = True,
        on_event: Callable[[BreakerEvent], None] | None = None,
        clock: Callable[[], float] = _loop_time,
        quota: Any = None,
    ) -> None:
        self.breaker_config = breaker
        #: daily quotas of services (web.quota.QuotaBook), live runs only
        self.quota = quota
        self._streaks: dict[str, int] = {}
        self.rate_limits = dict(rate_limits or {})
        self.default_rate = default_rate
        self.max_rate_wait_s = None if max_rate_wait_ms is None else max_rate_wait_ms / 1000
        self.skip_if_breaker_open = skip_if_breaker_open
        self._on_event = on_event
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, HostRateLimiter | None] = {}

    def breaker(self, host: str) -> CircuitBreaker:
        b = self._breakers.get(host)
        if b is None:
            b = self._breakers[host] = CircuitBreaker(
                host, self.breaker_config, clock=self._clock, on_change=self._on_event
            )
        return b

    def limiter(self, host: str) -> HostRateLimiter | None:
        if host not in self._limiters:
            limit = self._limit_for(host)
            self._limiters[host] = HostRateLimiter(host, limit) if limit else None
        return self._limiters[host]

    def _limit_for(self, host: str) -> RateLimit | None:
        # the most specific configured suffix wins: "www.ncbi.nlm.nih.gov" < "ncbi.nlm.nih.gov"
        parts = host.split(".")
        for i in range(len(parts)):
            limit = self.rate_limits.get(".".join(parts[i:]))
            if limit is not None:
                return limit
        return self.default_rate

    def is_open(self, host: str) -> bool:
        """True if the host's breaker refuses requests now (does not take a probe)."""
        return self.breaker(host).state is BreakerState.OPEN

    async def before_request(self, host: str) -> None:
        """Pass the breaker and the rate limit of `host`, or raise GateClosed."""
        breaker = self.breaker(host)
        if self.skip_if_breaker_open and not breaker.allow():
            raise GateClosed(Reason.BREAKER_OPEN, host)
        if self.quota is not None and not self.quota.take(host):
            breaker.release_probe()
            raise GateClosed(Reason.QUOTA, host, "the service's daily quota is used up")
        limiter = self.limiter(host)
        if limiter is not None:
            try:
                await limiter.acquire(self.max_rate_wait_s)
            except BaseException:
                breaker.release_probe()
                raise
            # the breaker may have opened while this request waited for its turn
            if self.skip_if_breaker_open and breaker.state is BreakerState.OPEN:
                raise GateClosed(Reason.BREAKER_OPEN, host, "opened during the rate-limit wait")

    def after_response(self, host: str, *, ok: bool, status: int | None = None) -> None:
        """Tell the host's breaker how the request went (ok: the host answered sanely).

        A refusal (4xx, but for 404/410 "no such thing", which is an answer) is sane
        once; a storm of them in a row (STORM_4XX, no success between) counts as
        failures, so a host that refuses everything trips its breaker."""
        b = self.breaker(host)
        if ok and status is not None and 400 <= status < 500 and status not in (404, 410):
            streak = self._streaks[host] = self._streaks.get(host, 0) + 1
            if streak >= STORM_4XX:
                b.record_failure()
                return
        elif ok:
            self._streaks.pop(host, None)
        if ok:
            b.record_success()
        else:
            b.record_failure()

    def release(self, host: str) -> None:
        """The request ended without a verdict on the host (cancelled)."""
        self.breaker(host).release_probe()

    def __repr__(self) -> str:
        open_hosts = [h for h, b in self._breakers.items() if b.state is not BreakerState.CLOSED]
        return f"<Gates breakers={len(self._breakers)} not_closed={open_hosts}>"


class WorkGates:
    """One work's view of the run's Gates: at most `cap` requests to any one host, so
    that a hostile page cannot send thousands of requests to one host for one work."""

    def __init__(self, gates: Gates, cap: int) -> None:
        self.gates = gates
        self.cap = cap
        self.sent: dict[str, int] = {}

    async def before_request(self, host: str) -> None:
        if self.sent.get(host, 0) >= self.cap:
            raise GateClosed(Reason.HOST_CAP, host, f"{self.cap} requests of this work")
        await self.gates.before_request(host)
        self.sent[host] = self.sent.get(host, 0) + 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gates, name)


def backoff_delay(
    attempt: int,
    *,
    base_ms: float,
    cap_ms: float,
    rng: random.Random | None = None,
) -> float:
    """Full-jitter exponential backoff in seconds: uniform(0, min(cap, base * 2**attempt))."""
    ceiling = min(cap_ms, base_ms * (2**attempt)) / 1000
    return (rng or random).uniform(0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
