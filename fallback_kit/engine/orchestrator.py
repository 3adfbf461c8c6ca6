"""The engine: walk a plan for each work, tiers in order, sources of a tier in parallel.

The first valid PDF wins and cancels every sibling still running (their HTTP requests
are closed by the cancellation) and no later tier starts. Every source try passes the
gates (offline, breaker), runs under its own timeout, is retried only for transient
failures with full-jitter backoff (honouring `Retry-After`, clamped to the work's
deadline), and ends as exactly one `Attempt` event. Nothing a source does, raises or
hangs escapes a run: the work's deadline is hard and every outcome is recorded.

Time is read from the running loop only, and every duration of the plan is multiplied
by `time_scale`, so a sandbox run at time_scale 0.01 behaves like the real-time run.
Recorded times are divided by it again: events are in "World" milliseconds.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import httpx

from ..contracts.events import Attempt, EventSink, Outcome, Resolution, ResolutionStatus
from ..contracts.plan import Plan, SourcePolicy, Tier
from ..contracts.works import Work
from ..sources.base import Source, SourceContext, SourceResult
from ..web.gates import BreakerConfig, GateClosed, Gates, RateLimit, WorkGates, backoff_delay
from ..web.redact import SECRET_PARAMS, redact, redact_url, secret_pattern

if TYPE_CHECKING:  # pragma: no cover
    from ..web.edge import Fetcher

__all__ = ["Orchestrator", "is_transient", "local_trouble", "make_gates"]

_RETRY_OUTCOMES = (Outcome.RETRYABLE, Outcome.TIMEOUT)
#: requests one work may send to one host, all its sources and retries together: a
#: real work needs a handful; a page with 100,000 PDF links must not get them all
MAX_REQUESTS_PER_HOST = 60
#: the key of `politeness.rate_limits` that sets the rate of every host not listed
ANY_HOST = "*"
_CLOCK_SLACK_S = 1e-6


class _NullSink:
    def emit(self, event: object) -> None:
        pass


def make_gates(
    plan: Plan,
    *,
    time_scale: float = 1.0,
    default_limits: Mapping[str, RateLimit] | None = None,
    on_event: Callable[[Any], None] | None = None,
    quota: Any = None,
) -> Gates:
    """Build the run's breakers and rate limits from the plan, scaled to the time scale.

    Every host has a rate: the listed ones theirs, the others the plan's `"*"` entry
    (default: web.client.DEFAULT_HOST_RATE)."""
    scale = time_scale if time_scale > 0 else 0.0
    br = plan.gates.breaker
    limits: dict[str, RateLimit] = {}
    default_rate: RateLimit | None = None
    if scale > 0:
        merged = dict(default_limits or {})
        merged.update(
            {h: RateLimit(per_second=lim.per_second, burst=lim.burst)
             for h, lim in plan.politeness.rate_limits.items()}
        )
        limits = {h: RateLimit(per_second=lim.per_second / scale, burst=lim.burst)
                  for h, lim in merged.items()}
        default_rate = limits.pop(ANY_HOST, None)
    return Gates(
        breaker=BreakerConfig(
            failure_threshold=br.failure_threshold,
            window_ms=int(br.window_ms * scale) if scale else br.window_ms,
            cooldown_ms=int(br.cooldown_ms * scale) if scale else 0,
            half_open_probes=br.half_open_probes,
        ),
        rate_limits=limits,
        max_rate_wait_ms=int(plan.gates.skip_if_rate_wait_exceeds_ms * scale),
        skip_if_breaker_open=plan.gates.skip_if_breaker_open,
        on_event=on_event,
        default_rate=default_rate,
        quota=quota,
    )


@dataclass(slots=True)
class _WorkState:
    """Book-keeping for one work while it runs."""

    work: Work
    start: float
    deadline: float
    attempts_left: int
    requests: int = 0
    winner: tuple[str, str, SourceResult] | None = None  # (tier, source, result)
    #: "won", "deadline" or "local" (our side failed: the next sources would fail alike)
    stop_reason: str | None = None
    budget_skips: int = 0
    outcomes: list[Attempt] = field(default_factory=list)
    gates: Any = None  # the work's WorkGates (its per-host request cap)


class Orchestrator:
    """Resolves works with one plan, one HTTP client and one set of gates."""

    def __init__(
        self,
        plan: Plan,
        *,
        client: httpx.AsyncClient | None = None,
        sink: EventSink | None = None,
        sources: Mapping[str, Source] | None = None,
        fetcher_factory: Callable[[SourcePolicy], Fetcher] | None = None,
        gates: Gates | None = None,
        time_scale: float = 1.0,
        run_id: str | None = None,
        email: str | None = None,
        live: bool = False,
        rng: random.Random | None = None,
        accept: Callable[[Work, str, SourceResult], Awaitable[str | None]] | None = None,
    ) -> None:
        self.plan = plan
        self.client = client
        self.sink: EventSink = sink or _NullSink()
        self.time_scale = time_scale
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.email = email or plan.politeness.email
        self.live = live
        #: called on each success before it wins (e.g. to download and validate the whole
        #: file); a returned reason demotes the success to invalid_pdf and the plan goes on
        self.accept = accept
        self._rng = rng or random.Random()
        #: the contact email and secret source options, hidden by value in every record
        self._secrets = secret_pattern([self.email, *_secret_options(plan)])
        self._sources = dict(sources) if sources is not None else _registry(plan)
        missing = [s for s in plan.source_names if s not in self._sources]
        if missing:
            raise ValueError(f"no implementation for sources: {', '.join(missing)}")
        self.gates = gates or make_gates(
            plan, time_scale=time_scale, default_limits=_default_limits(),
            on_event=self.sink.emit, quota=_quota_book(self.email) if live else None,
        )
        self._fetcher_factory = fetcher_factory or self._default_fetcher_factory()
        self._work_semaphore_size = plan.budgets.max_concurrent

    # -- time -------------------------------------------------------------------------

    def _scaled(self, ms: float) -> float:
        """Plan milliseconds -> real seconds on this run's time scale.

        At time_scale 0 (the sandbox answers at once) budgets keep their real length:
        scaled to zero, every timeout and the deadline would fire before any answer.
        """
        return ms / 1000 * (self.time_scale if self.time_scale > 0 else 1.0)

    def _world_ms(self, seconds: float) -> float:
        """Real seconds since the work's start -> recorded (World) milliseconds."""
        return seconds * 1000 / self.time_scale if self.time_scale > 0 else seconds * 1000

    # -- the public entry points -------------------------------------------------------

    async def resolve(self, work: Work) -> Resolution:
        """Walk the plan for one work; always returns a Resolution, never raises."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        state = _WorkState(
            work=work,
            start=start,
            deadline=start + self._scaled(self.plan.budgets.total_timeout_ms),
            attempts_left=self.plan.budgets.total_attempts,
            gates=WorkGates(self.gates, MAX_REQUESTS_PER_HOST),
        )
        try:
            await self._walk_tiers(state)
            resolution = self._resolution(state)
        except Exception as exc:  # a bug of ours: record it, never raise out of a run
            resolution = Resolution(
                run_id=self.run_id, work_id=work.work_id, status=ResolutionStatus.ERROR,
                elapsed_ms=self._world_ms(loop.time() - start), attempts=len(state.outcomes),
                requests=state.requests,
                reason=redact(f"{type(exc).__name__}: {exc}", self._secrets),
            )
        self.sink.emit(resolution)
        return resolution

    async def resolve_many(
        self, works: Iterable[Work], *, concurrency: int = 16
    ) -> AsyncIterator[Resolution]:
        """Resolve works with at most `concurrency` in flight; yield each as it finishes."""
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        iterator = iter(works)
        running: set[asyncio.Task[Resolution]] = set()
        try:
            while True:
                while len(running) < concurrency:
                    work = next(iterator, None)
                    if work is None:
                        break
                    running.add(asyncio.create_task(self.resolve(work)))
                if not running:
                    return
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield task.result()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    # -- tiers -------------------------------------------------------------------------

    async def _walk_tiers(self, state: _WorkState) -> None:
        loop = asyncio.get_running_loop()
        tiers = list(self.plan.tiers)
        work_slots = asyncio.Semaphore(self._work_semaphore_size)
        running: dict[asyncio.Task[None], int] = {}
        next_tier = 0
        hedge_at: float | None = None

        def start_next() -> None:
            nonlocal next_tier, hedge_at
            tier = tiers[next_tier]
            task = asyncio.create_task(self._run_tier(state, tier, work_slots))
            running[task] = next_tier
            next_tier += 1
            hedge_at = (
                loop.time() + self._scaled(tier.hedge_after_ms)
                if tier.hedge_after_ms is not None and next_tier < len(tiers) else None
            )

        start_next()
        try:
            while running:
                now = loop.time()
                wake = state.deadline if hedge_at is None else min(hedge_at, state.deadline)
                done, _ = await asyncio.wait(
                    running, timeout=max(0.0, wake - now), return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    running.pop(task)
                    task.result()  # a tier runner never raises; if it does, that is a bug
                if state.winner is not None:
                    state.stop_reason = "won"
                    break
                if state.stop_reason == "local":
                    break
                # asyncio may wake a timer up to its clock resolution early: compare with
                # a tolerance, or a wake-up just before the instant would spin forever
                now = loop.time() + _CLOCK_SLACK_S
                if now >= state.deadline:
                    state.stop_reason = "deadline"
                    break
                latest_done = (next_tier - 1) not in running.values()
                if next_tier < len(tiers) and (
                    latest_done or (hedge_at is not None and now >= hedge_at)
                ):
                    start_next()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if state.stop_reason is None and state.winner is None and loop.time() >= state.deadline:
            state.stop_reason = "deadline"

    async def _run_tier(self, state: _WorkState, tier: Tier, work_slots: asyncio.Semaphore) -> None:
        """Run a tier's sources, `tier.parallel` at a time; the first success stops the rest."""
        tier_slots = asyncio.Semaphore(tier.parallel)
        tasks = [
            asyncio.create_task(self._run_source(state, tier, name, tier_slots, work_slots))
            for name in tier.sources
        ]
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if state.winner is not None or state.stop_reason == "local":
                    break
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one source ---------------------------------------------------------------------

    async def _run_source(
        self,
        state: _WorkState,
        tier: Tier,
        name: str,
        tier_slots: asyncio.Semaphore,
        work_slots: asyncio.Semaphore,
    ) -> None:
        loop = asyncio.get_running_loop()
        source = self._sources[name]
        policy = self.plan.policy(name)
        t0 = loop.time()

        def emit(result: SourceResult, retries: int = 0, started: float = t0) -> None:
            attempt = Attempt(
                run_id=self.run_id, work_id=state.work.work_id, tier=tier.name, source=name,
                outcome=result.outcome, reason=redact(result.reason, self._secrets),
                url=redact_url(result.url, self._secrets) if result.url else None,
                status=result.status, host=result.host, retries=retries,
                t_start_ms=self._world_ms(started - state.start),
                t_end_ms=self._world_ms(loop.time() - state.start),
                bytes=result.bytes,
                meta={**redact(dict(result.meta), self._secrets), "requests": result.requests},
            )
            state.outcomes.append(attempt)
            state.requests += result.requests
            self.sink.emit(attempt)

        if not source.applicable(state.work):
            needs = " or ".join(source.needs) or "an identifier"
            emit(SourceResult(outcome=Outcome.NOT_APPLICABLE, reason=f"needs {needs}"))
            return
        gate_reason = self._gate_before_try(source)
        if gate_reason is not None:
            emit(SourceResult(outcome=Outcome.SKIPPED, reason=gate_reason,
                              host=_first(source.hosts)))
            return

        retries = 0
        requests = 0
        try:
            await tier_slots.acquire()
            try:
                await work_slots.acquire()
            except BaseException:
                tier_slots.release()
                raise
        except asyncio.CancelledError:
            reason = "work_deadline" if state.stop_reason == "deadline" else "not_started"
            emit(SourceResult(outcome=Outcome.CANCELLED, reason=reason), 0, loop.time())
            raise
        if state.winner is not None or state.stop_reason is not None:
            # a sibling won while this source waited for its slot: it never starts
            work_slots.release()
            tier_slots.release()
            emit(SourceResult(outcome=Outcome.CANCELLED, reason="not_started"), 0, loop.time())
            return
        started = loop.time()
        last: SourceResult | None = None  # the previous try's result, when retrying
        try:
            while True:
                if state.attempts_left <= 0:
                    state.budget_skips += 1
                    emit(SourceResult(outcome=Outcome.SKIPPED, reason="attempt_budget",
                                      requests=requests, meta=_last_meta(last)),
                         retries, started)
                    return
                state.attempts_left -= 1
                fetcher = self._fetcher_factory(policy)
                if getattr(fetcher, "gates", None) is self.gates:
                    fetcher.gates = state.gates  # the run's gates, with this work's cap
                try:
                    result = await self._one_try(state, source, policy, fetcher)
                    if (result.outcome is Outcome.SUCCESS and self.accept is not None
                            and state.winner is None):
                        result = await self._accepted(state, name, result)
                except asyncio.CancelledError:
                    requests += _requests_of(fetcher)
                    if state.stop_reason == "deadline" or loop.time() >= state.deadline:
                        outcome, reason = Outcome.TIMEOUT, "work_deadline"
                    else:
                        outcome, reason = Outcome.CANCELLED, _stopped_by(state)
                    emit(SourceResult(outcome=outcome, reason=reason, requests=requests),
                         retries, started)
                    raise
                requests += result.requests
                result = _with_requests(result, requests)
                if last is not None and result.outcome is Outcome.SKIPPED:
                    result = replace(result, meta={**result.meta, **_last_meta(last)})
                if result.outcome is Outcome.FAILED_LOCAL and state.stop_reason is None:
                    state.stop_reason = "local"  # no other source can save it either
                if result.outcome is Outcome.SUCCESS:
                    if state.winner is None:
                        state.winner = (tier.name, name, result)
                    emit(result, retries, started)
                    return
                delay = self._retry_delay(state, policy, result, retries)
                if delay is None:
                    emit(result, retries, started)
                    return
                last = result
                try:
                    await asyncio.sleep(delay)
                except asyncio.CancelledError:
                    outcome = (Outcome.TIMEOUT if state.stop_reason == "deadline"
                               else Outcome.CANCELLED)
                    reason = "work_deadline" if outcome is Outcome.TIMEOUT else _stopped_by(state)
                    emit(SourceResult(outcome=outcome, reason=reason, requests=requests,
                                      meta={"last": result.reason}), retries, started)
                    raise
                retries += 1
        finally:
            work_slots.release()
            tier_slots.release()

    async def _accepted(self, state: _WorkState, name: str, result: SourceResult) -> SourceResult:
        assert self.accept is not None
        try:
            verdict = await self.accept(state.work, name, result)
        except OSError as exc:  # our disk or folder, not the file: never a verdict on it
            return replace(result, outcome=Outcome.FAILED_LOCAL,
                           reason=f"download_{local_trouble(exc)}",
                           meta={**result.meta, "error": f"{type(exc).__name__}: {exc}"[:300]})
        except Exception as exc:  # a failing hook must not lose the work
            verdict = f"accept_error:{type(exc).__name__}"
        if verdict is None:
            return result
        return replace(result, outcome=Outcome.INVALID_PDF, reason=f"download_{verdict}")

    def _gate_before_try(self, source: Source) -> str | None:
        """The reason to skip a source without sending anything, or None."""
        if self.plan.gates.offline and self.plan.gates.offline_behavior == "block_all":
            return "offline"
        if self.plan.gates.skip_if_breaker_open:
            for host in source.hosts:
                if self.gates.is_open(host):
                    return "breaker_open"
        return None

    async def _one_try(
        self, state: _WorkState, source: Source, policy: SourcePolicy, fetcher: Fetcher
    ) -> SourceResult:
        """Run `source.find` once under its timeout; classify whatever happens."""
        loop = asyncio.get_running_loop()
        timeout_s = self._scaled(self.plan.timeout_ms(source.name))
        timeout_s = min(timeout_s, max(0.0, state.deadline - loop.time()))
        ctx = SourceContext(http=fetcher, email=self.email, options=policy.options)
        try:
            async with asyncio.timeout(timeout_s):
                result = await source.find(state.work, ctx)
        except TimeoutError:
            return SourceResult(outcome=Outcome.TIMEOUT, reason="source_timeout",
                                requests=_requests_of(fetcher))
        except GateClosed as exc:
            return SourceResult(outcome=Outcome.SKIPPED, reason=exc.reason, host=exc.host,
                                requests=_requests_of(fetcher))
        except httpx.TimeoutException as exc:
            return SourceResult(outcome=Outcome.TIMEOUT, reason="http_timeout",
                                url=_url_of(exc), host=_host_of(exc),
                                requests=_requests_of(fetcher))
        except httpx.TransportError as exc:
            return SourceResult(outcome=Outcome.RETRYABLE, reason=_connection_reason(exc),
                                url=_url_of(exc), host=_host_of(exc),
                                requests=_requests_of(fetcher),
                                meta={"error": f"{type(exc).__name__}: {exc}"})
        except Exception as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) and type(exc).__name__ == "HttpStatusError":
                return self._status_result(exc, status, fetcher)
            return SourceResult(outcome=Outcome.ERROR, reason=type(exc).__name__,
                                requests=_requests_of(fetcher),
                                meta={"error": f"{type(exc).__name__}: {exc}"[:500]})
        if result.requests == 0 and _requests_of(fetcher):
            result = _with_requests(result, _requests_of(fetcher))
        if result.outcome is Outcome.RETRYABLE and result.status is not None:
            if result.status in self.plan.thresholds.terminal_statuses:
                result = _with_outcome(result, Outcome.NONRETRYABLE)
        return result

    def _status_result(self, exc: Exception, status: int, fetcher: Fetcher) -> SourceResult:
        url = getattr(exc, "url", None)
        retryable = status in self.plan.thresholds.retryable_statuses
        return SourceResult(
            outcome=Outcome.RETRYABLE if retryable else Outcome.NONRETRYABLE,
            reason=f"http_{status}", status=status, url=url,
            host=httpx.URL(url).host if url else None,
            retry_after_s=getattr(exc, "retry_after_s", None),
            requests=_requests_of(fetcher),
        )

    def _retry_delay(
        self, state: _WorkState, policy: SourcePolicy, result: SourceResult, retries: int
    ) -> float | None:
        """Seconds to wait before retrying, or None when this result is final."""
        if result.outcome not in _RETRY_OUTCOMES or retries >= policy.retries_max:
            return None
        if result.status is not None and result.status in self.plan.thresholds.terminal_statuses:
            return None
        remaining = state.deadline - asyncio.get_running_loop().time()
        delay = backoff_delay(retries, base_ms=policy.backoff_base_ms,
                              cap_ms=policy.backoff_cap_ms, rng=self._rng) * self.time_scale
        if result.retry_after_s is not None:
            delay = max(delay, result.retry_after_s * self.time_scale)
        if delay >= remaining:
            return None  # the wait would outlast the work's deadline: give up now
        return delay

    # -- the verdict -------------------------------------------------------------------

    def _resolution(self, state: _WorkState) -> Resolution:
        loop = asyncio.get_running_loop()
        elapsed = self._world_ms(loop.time() - state.start)
        common: dict[str, Any] = dict(run_id=self.run_id, work_id=state.work.work_id,
                                      elapsed_ms=elapsed,
                      attempts=len(state.outcomes), requests=state.requests)
        if state.winner is not None:
            tier, source, result = state.winner
            return Resolution(status=ResolutionStatus.RESOLVED,
                              pdf_url=redact_url(result.url, self._secrets) if result.url else None,
                              source=source, tier=tier,
                              meta=redact(dict(result.meta), self._secrets), **common)
        local = next((a for a in state.outcomes if a.outcome is Outcome.FAILED_LOCAL), None)
        if local is not None:
            return Resolution(status=ResolutionStatus.FAILED_LOCAL,
                              reason=f"our side: {local.reason} ({local.source})", **common)
        transient = min((a for a in state.outcomes if is_transient(a)), default=None,
                        key=lambda a: (a.outcome is Outcome.SKIPPED, "last" not in a.meta))
        if transient is not None:  # before the budgets: retries on a dead network eat them
            what = f"{transient.outcome}:{transient.reason}"
            if transient.meta.get("last"):  # a retry held back: name what the try met
                what = (f"{transient.meta.get('last_outcome')}:{transient.meta['last']}, "
                        f"then {transient.reason}")
            return Resolution(status=ResolutionStatus.TRANSIENT,
                              reason=f"transient: {what} ({transient.source})", **common)
        if state.stop_reason == "deadline":
            return Resolution(status=ResolutionStatus.BUDGET_EXHAUSTED, reason="deadline", **common)
        if state.budget_skips:
            return Resolution(status=ResolutionStatus.BUDGET_EXHAUSTED, reason="attempts",
                              **common)
        return Resolution(status=ResolutionStatus.NOT_FOUND,
                          reason=_why_not_found(state.outcomes), **common)

    # -- defaults ----------------------------------------------------------------------

    def _default_fetcher_factory(self) -> Callable[[SourcePolicy], Fetcher]:
        from ..web.edge import Fetcher, NetSettings, RobotsCache

        if self.client is None:
            raise ValueError("an httpx.AsyncClient is needed (or a fetcher_factory)")
        offline = self.plan.gates.offline_behavior if self.plan.gates.offline else None
        settings = NetSettings(live=self.live, email=self.email, offline=offline)
        robots = RobotsCache(self.client)
        client, gates = self.client, self.gates

        def factory(policy: SourcePolicy) -> Fetcher:
            return Fetcher(client, gates=gates, settings=settings, robots=robots,
                           robots_respect=policy.robots_respect)

        return factory

    def __repr__(self) -> str:
        return f"<Orchestrator run={self.run_id} plan={self.plan.name!r} scale={self.time_scale}>"


def _registry(plan: Plan) -> dict[str, Source]:
    from ..sources import get_source

    return {name: get_source(name) for name in plan.source_names}


def _default_limits() -> Mapping[str, RateLimit]:
    from ..web.client import DEFAULT_HOST_RATE, DEFAULT_RATE_LIMITS

    return {ANY_HOST: DEFAULT_HOST_RATE, **DEFAULT_RATE_LIMITS}


def _quota_book(email: str | None) -> Any:
    """The user's daily-quota book for live runs (web.quota)."""
    from ..web.quota import QuotaBook

    return QuotaBook(email=email)


def _last_meta(last: SourceResult | None) -> dict[str, Any]:
    """What the previous try met, kept on a retry the gates or the budget held back: a
    503 or a refused connection cut short is still no answer about the work."""
    if last is None:
        return {}
    return {"last": last.reason, "last_outcome": str(last.outcome), "last_status": last.status}


def _stopped_by(state: _WorkState) -> str:
    """Why a running try was cancelled (not the deadline)."""
    return "local_failure" if state.stop_reason == "local" else "sibling_won"


def _secret_options(plan: Plan) -> list[str]:
    """Values of source options named like secrets (`api_key`, `token`, ...)."""
    names = {n.lower() for n in SECRET_PARAMS}
    return [str(v) for name in plan.source_names for k, v in plan.policy(name).options.items()
            if k.lower() in names and isinstance(v, str)]


def _first(items: tuple[str, ...]) -> str | None:
    return items[0] if items else None


def _requests_of(fetcher: Any) -> int:
    return int(getattr(fetcher, "requests", 0) or 0)


def _with_requests(result: SourceResult, requests: int) -> SourceResult:
    return replace(result, requests=requests)


def _with_outcome(result: SourceResult, outcome: Outcome) -> SourceResult:
    return replace(result, outcome=outcome)


def _url_of(exc: httpx.HTTPError) -> str | None:
    try:
        return str(exc.request.url)
    except RuntimeError:
        return None


def _host_of(exc: httpx.HTTPError) -> str | None:
    try:
        return exc.request.url.host
    except RuntimeError:
        return None


#: the reasons of a try that met a network state, not an answer: the host's name did
#: not resolve, the connection was refused or reset, the gates held the try back
_TRANSIENT_REASONS = frozenset({"connection_error", "dns_failure", "connection_refused",
                                "breaker_open", "rate_wait", "quota"})


def is_transient(attempt: Attempt) -> bool:
    """True when a try ended in a passing network state rather than an answer about the
    work: connection trouble, 429/5xx left after the retries, a gate holding it back."""
    if attempt.outcome is Outcome.RETRYABLE:
        return _transient_try(attempt.reason, attempt.status)
    if attempt.outcome is Outcome.SKIPPED:
        meta = attempt.meta or {}
        if attempt.reason == "attempt_budget":  # the budget cut a retry short
            return meta.get("last_outcome") == str(Outcome.RETRYABLE) and _transient_try(
                str(meta.get("last", "")), meta.get("last_status"))
        return attempt.reason in _TRANSIENT_REASONS
    return False


def _transient_try(reason: str, status: Any) -> bool:
    return reason in _TRANSIENT_REASONS or (
        isinstance(status, int) and (status == 429 or status >= 500))


def _connection_reason(exc: BaseException) -> str:
    """`dns_failure`, `connection_refused` or `connection_error` for a transport error."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror) or "cannot resolve" in str(cur) or (
                "Name or service not known" in str(cur)):
            return "dns_failure"
        if isinstance(cur, ConnectionRefusedError) or "Connection refused" in str(cur):
            return "connection_refused"
        cur = cur.__cause__ or cur.__context__
    return "connection_error"


def local_trouble(exc: OSError) -> str:
    """A short name for an OSError on our side: `local_disk_full`,
    `local_permission_denied` or `local_os_error`."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "local_disk_full"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM,
                                                          errno.EROFS):
        return "local_permission_denied"
    return "local_os_error"


def _why_not_found(attempts: list[Attempt]) -> str:
    tried = [a for a in attempts if a.outcome is not Outcome.NOT_APPLICABLE]
    if not tried:
        return "no_source_applicable"
    if all(a.outcome is Outcome.SKIPPED for a in tried):
        return "all_skipped"
    ranked = [Outcome.INVALID_PDF, Outcome.TIMEOUT, Outcome.RETRYABLE, Outcome.NONRETRYABLE,
              Outcome.ERROR, Outcome.SKIPPED, Outcome.NO_PDF]
    for outcome in ranked:
        hit = next((a for a in tried if a.outcome is outcome), None)
        if hit is not None and outcome is not Outcome.NO_PDF:
            return f"{outcome}:{hit.reason}" if hit.reason else str(outcome)
    return "no_pdf"
