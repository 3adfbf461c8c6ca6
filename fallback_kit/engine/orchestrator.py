"""The engine: walk a plan for each work, tiers in order, sources of a tier in parallel.

The first valid PDF wins and cancels every sibling still running (their HTTP requests
are closed by the cancellation) and no later tier starts. A re-run with a cache
replays the last run's race (`PreviousRace`): its winner tries first, so that cached
answers, which come at once, do not let the sources it beat ask new questions.
Every source try passes the gates (offline, breaker), runs under its own timeout, is
retried only for transient failures with full-jitter backoff (honouring `Retry-After`,
clamped to the work's deadline), and ends as exactly one `Attempt` event. Nothing a
source does, raises or hangs escapes a run: the work's deadline is hard and every
outcome is recorded.

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
from typing import Any

import httpx

from ..contracts.events import (
    Attempt,
    EventSink,
    Outcome,
    PreviousRace,
    Resolution,
    ResolutionStatus,
)
from ..contracts.plan import PDF_VERSIONS, Plan, SourcePolicy, Tier
from ..contracts.reasons import Reason, download_reason, http_reason
from ..contracts.registry import SOURCE_SPECS, source_key
from ..contracts.timescale import TimeScale
from ..contracts.works import Work
from ..sources.base import Source, SourceContext, SourceResult
from ..web.edge import Edge, Fetcher, HttpStatusError
from ..web.gates import BreakerConfig, GateClosed, Gates, RateLimit, WorkGates, backoff_delay
from ..web.paper_check import VOLUME_LIKE
from ..web.redact import (
    SECRET_PARAMS,
    install_log_redaction,
    redact,
    redact_url,
    secret_pattern,
)
from .slots import PrioritySlots, PrioritySlotsView

#: The accept hook: (work, source name, its success, the try's Edge) -> None to accept,
#: or the reason the file is refused. Downloads go through the Edge it is handed.
AcceptHook = Callable[[Work, str, SourceResult, Edge], Awaitable[str | None]]

__all__ = ["Orchestrator", "held_sources", "is_transient", "local_trouble", "make_gates"]

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
    time_scale: float | TimeScale = 1.0,
    default_limits: Mapping[str, RateLimit] | None = None,
    on_event: Callable[[Any], None] | None = None,
    quota: Any = None,
) -> Gates:
    """Build the run's breakers and rate limits from the plan, on the run's time scale.

    Every host has a rate: the listed ones theirs, the others the plan's `"*"` entry
    (default: web.client.DEFAULT_HOST_RATE)."""
    scale = as_time_scale(time_scale)
    br = plan.gates.breaker
    merged: dict[str, Any] = dict(default_limits or {})  # the plan's win over defaults
    merged.update(plan.politeness.rate_limits)
    limits: dict[str, RateLimit] = {}
    for host, lim in merged.items():
        per_second = scale.rate(lim.per_second)
        if per_second is not None:
            limits[host] = RateLimit(per_second=per_second, burst=lim.burst)
    default_rate = limits.pop(ANY_HOST, None)
    return Gates(
        breaker=BreakerConfig(
            failure_threshold=br.failure_threshold,
            window_ms=int(scale.budget_ms(br.window_ms)),
            cooldown_ms=int(scale.wait_ms(br.cooldown_ms)),
            half_open_probes=br.half_open_probes,
        ),
        rate_limits=limits,
        max_rate_wait_ms=int(scale.wait_ms(plan.gates.skip_if_rate_wait_exceeds_ms)),
        skip_if_breaker_open=plan.gates.skip_if_breaker_open,
        on_event=on_event,
        default_rate=default_rate,
        quota=quota,
    )


def as_time_scale(value: float | TimeScale) -> TimeScale:
    """A bare factor or a TimeScale -> a TimeScale (the one rule lives there)."""
    return value if isinstance(value, TimeScale) else TimeScale(float(value))


@dataclass(slots=True)
class _WorkState:
    """Book-keeping for one work while it runs."""

    work: Work
    start: float
    deadline: float
    attempts_left: int
    requests: int = 0
    winner: tuple[str, str, SourceResult] | None = None  # (tier, source, result)
    #: the first volume-like success (or preprint, under `prefer_published_wait_ms`):
    #: it wins only if the plan finds nothing better (before `provisional_until`)
    provisional: tuple[str, str, SourceResult] | None = None
    provisional_until: float | None = None  # a preprint's wait ends then (loop time)
    #: "won", "deadline" or "local" (our side failed: the next sources would fail alike)
    stop_reason: str | None = None
    budget_skips: int = 0
    outcomes: list[Attempt] = field(default_factory=list)
    gates: Any = None  # the work's WorkGates (its per-host request cap)
    rerun: _Rerun | None = None  # the last run's race of this work, replayed


@dataclass(slots=True)
class _Rerun:
    """A work's previous race, replayed: the `held` sources wait until the previous
    winner's try is over (`winner_done`), and start only if it did not win again."""

    winner: str
    held: frozenset[str]
    winner_done: asyncio.Event = field(default_factory=asyncio.Event)


def held_sources(plan: Plan, race: PreviousRace) -> frozenset[str]:
    """The sources a re-run holds back until the previous winner has tried again: those
    of the winner's tier and of later tiers whose last try was not settled (cut short by
    the win, a timeout, a gate), and those of earlier tiers whose wait cannot stall the
    walk (every tier from theirs to the winner's is hedged, so the winner's tier starts
    anyway). A source that settled is asked again: its answers are cached."""
    tiers = list(plan.tiers)
    at = next((i for i, t in enumerate(tiers) if race.winner in t.sources), None)
    if at is None:
        return frozenset()
    held: set[str] = set()
    for i, tier in enumerate(tiers):
        if i < at and any(t.hedge_after_ms is None for t in tiers[i:at]):
            continue
        held.update(s for s in tier.sources if s != race.winner and s not in race.settled)
    return frozenset(held)


@dataclass(slots=True)
class _SourceRun:
    """One source's run within a work: what its Attempt event will say."""

    state: _WorkState
    tier: Tier
    source: Source
    started: float  # when it began (waiting for its slots), then when it got them
    retries: int = 0
    requests: int = 0


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
        time_scale: float | TimeScale = 1.0,
        run_id: str | None = None,
        email: str | None = None,
        trust_transport: bool = False,
        rng: random.Random | None = None,
        accept: AcceptHook | None = None,
        quota: Any = None,
        previous: Callable[[Work], PreviousRace | None] | None = None,
    ) -> None:
        """`quota` is the user's daily-quota book (web.quota.QuotaBook), for live runs;
        `previous` gives a work's last race under this plan (record.races.RaceBook) for
        a re-run to replay."""
        self.plan = plan
        self.client = client
        self.sink: EventSink = sink or _NullSink()
        self.clock = as_time_scale(time_scale)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.email = email or plan.politeness.email
        #: the client's transport is a simulated web: the SSRF guard does not look its
        #: names up (the sandbox composition and tests only; see web.edge)
        self.trust_transport = trust_transport
        #: called on each success before it wins (e.g. to download and validate the whole
        #: file); a returned reason demotes the success to invalid_pdf and the plan goes on
        self.accept = accept
        self.previous = previous
        self._rng = rng or random.Random()
        #: the contact email and secret source options, hidden by value in every record
        self._secrets = secret_pattern([self.email, *_secret_options(plan)])
        if _env_keys(plan):  # the users' keys are hidden in the logs too
            install_log_redaction(secrets=_env_keys(plan))
        self._sources = dict(sources) if sources is not None else _registry(plan)
        missing = [s for s in plan.source_names if s not in self._sources]
        if missing:
            raise ValueError(f"no implementation for sources: {', '.join(missing)}")
        self.gates = gates or make_gates(
            plan, time_scale=self.clock, default_limits=_default_limits(),
            on_event=self.sink.emit, quota=quota,
        )
        self._fetcher_factory = fetcher_factory or self._default_fetcher_factory()
        self._work_semaphore_size = plan.budgets.max_concurrent

    # -- time -------------------------------------------------------------------------

    def _scaled(self, ms: float) -> float:
        """A plan budget in milliseconds -> real seconds on this run's time scale."""
        return self.clock.budget_s(ms)

    def _world_ms(self, seconds: float) -> float:
        """Real seconds since the work's start -> recorded (World) milliseconds."""
        return self.clock.web_ms(seconds)

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
            rerun=self._rerun(work),
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
        self, works: Iterable[Work], *, concurrency: int
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

    def _rerun(self, work: Work) -> _Rerun | None:
        """The work's previous race to replay, if one is known and holds anything back."""
        race = self.previous(work) if self.previous is not None else None
        if race is None:
            return None
        held = held_sources(self.plan, race)
        return _Rerun(race.winner, held) if held else None

    # -- tiers -------------------------------------------------------------------------

    async def _walk_tiers(self, state: _WorkState) -> None:
        loop = asyncio.get_running_loop()
        tiers = list(self.plan.tiers)
        work_slots = PrioritySlots(self._work_semaphore_size)
        running: dict[asyncio.Task[None], int] = {}
        next_tier = 0
        hedge_at: float | None = None

        def start_next() -> None:
            nonlocal next_tier, hedge_at
            tier = tiers[next_tier]
            task = asyncio.create_task(self._run_tier(state, tier, work_slots.at(next_tier)))
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
                if state.provisional_until is not None:
                    wake = min(wake, state.provisional_until)
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
                if (state.provisional_until is not None
                        and loop.time() + _CLOCK_SLACK_S >= state.provisional_until):
                    state.winner, state.stop_reason = state.provisional, "won"  # waited enough
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
        if state.winner is None and state.provisional is not None:
            state.winner = state.provisional  # nothing better came: the volume it is

    async def _run_tier(self, state: _WorkState, tier: Tier, work_slots: PrioritySlotsView) -> None:
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
        work_slots: PrioritySlotsView,
    ) -> None:
        """One source of a tier: check it may start, wait for the previous winner if a
        re-run holds it back, wait for its slots, try it."""
        run = _SourceRun(state, tier, self._sources[name], asyncio.get_running_loop().time())
        rerun = state.rerun
        try:
            if not self._may_start(run):
                return
            if rerun is not None and name in rerun.held and not await self._held(run, rerun):
                return
            if not await self._take_slots(run, tier_slots, work_slots):
                return
            try:
                await self._tries(run)
            finally:
                tier_slots.release()  # first: a queued sibling of this tier then bids
                work_slots.release()  # for the work slot before it is handed out
        finally:
            if rerun is not None and name == rerun.winner:
                rerun.winner_done.set()  # however its try ended: the held ones may go

    async def _held(self, run: _SourceRun, rerun: _Rerun) -> bool:
        """Wait until the previous winner's try is over; False (and the Attempt recorded
        as never started) when it won again or the work ended meanwhile."""
        state = run.state
        try:
            await rerun.winner_done.wait()
        except asyncio.CancelledError:
            reason = Reason.WORK_DEADLINE if state.stop_reason == "deadline" else Reason.NOT_STARTED
            self._emit(run, SourceResult(outcome=Outcome.CANCELLED, reason=reason), fresh=True)
            raise
        if state.winner is not None or state.stop_reason is not None:
            self._emit(run, SourceResult(outcome=Outcome.CANCELLED, reason=Reason.NOT_STARTED),
                       fresh=True)
            return False
        return True

    def _emit(self, run: _SourceRun, result: SourceResult, *, fresh: bool = False) -> None:
        """Record the source's Attempt (`fresh`: it never started, so it starts now)."""
        loop = asyncio.get_running_loop()
        state = run.state
        started, retries = (loop.time(), 0) if fresh else (run.started, run.retries)
        attempt = Attempt(
            run_id=self.run_id, work_id=state.work.work_id, tier=run.tier.name,
            source=run.source.name, outcome=result.outcome,
            reason=redact(result.reason, self._secrets),
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

    def _may_start(self, run: _SourceRun) -> bool:
        """False (and the Attempt recorded) when the source does not apply or a gate
        is closed before anything is sent."""
        source = run.source
        if not source.applicable(run.state.work):
            needs = " or ".join(source.needs) or "an identifier"
            self._emit(run, SourceResult(outcome=Outcome.NOT_APPLICABLE, reason=f"needs {needs}"))
            return False
        gate_reason = self._gate_before_try(source)
        if gate_reason is not None:
            self._emit(run, SourceResult(outcome=Outcome.SKIPPED, reason=gate_reason,
                                         host=_first(source.hosts)))
            return False
        return True

    async def _take_slots(
        self, run: _SourceRun, tier_slots: asyncio.Semaphore, work_slots: PrioritySlotsView
    ) -> bool:
        """Wait for a place in the tier and in the work. False (slots given back) when a
        sibling won meanwhile: the source never starts."""
        state = run.state
        try:
            await tier_slots.acquire()
            try:
                await work_slots.acquire()
            except BaseException:
                tier_slots.release()
                raise
        except asyncio.CancelledError:
            reason = Reason.WORK_DEADLINE if state.stop_reason == "deadline" else Reason.NOT_STARTED
            self._emit(run, SourceResult(outcome=Outcome.CANCELLED, reason=reason), fresh=True)
            raise
        if state.winner is not None or state.stop_reason is not None:
            # a sibling won while this source waited for its slot: it never starts
            tier_slots.release()  # first: a queued sibling of this tier then bids
            work_slots.release()  # for the work slot before it is handed out
            self._emit(run, SourceResult(outcome=Outcome.CANCELLED, reason=Reason.NOT_STARTED),
                       fresh=True)
            return False
        run.started = asyncio.get_running_loop().time()
        return True

    async def _tries(self, run: _SourceRun) -> None:
        """Try the source until its result is final: a success wins the work, a
        transient failure is retried after a backoff while the budgets allow."""
        state, name = run.state, run.source.name
        policy = self.plan.policy(name)
        last: SourceResult | None = None  # the previous try's result, when retrying
        while True:
            if state.attempts_left <= 0:
                state.budget_skips += 1
                self._emit(run, SourceResult(outcome=Outcome.SKIPPED, reason=Reason.ATTEMPT_BUDGET,
                                             requests=run.requests, meta=_last_meta(last)))
                return
            state.attempts_left -= 1
            result = await self._counted_try(run, policy)
            if last is not None and result.outcome is Outcome.SKIPPED:
                result = replace(result, meta={**result.meta, **_last_meta(last)})
            if result.outcome is Outcome.FAILED_LOCAL and state.stop_reason is None:
                state.stop_reason = "local"  # no other source can save it either
            if result.outcome is Outcome.SUCCESS:
                if is_provisional(result, self.plan.accept.prefer_published_wait_ms):
                    self._hold(state, (run.tier.name, name, result))
                elif state.winner is None:
                    state.winner = (run.tier.name, name, result)
                self._emit(run, result)
                return
            delay = self._retry_delay(state, policy, result, run.retries)
            if delay is None:
                self._emit(run, result)
                return
            last = result
            await self._backoff(run, delay, result)
            run.retries += 1

    def _hold(self, state: _WorkState, found: tuple[str, str, SourceResult]) -> None:
        """Keep a provisional success: the first one, but a preprint (which matches the
        work) before a volume; a preprint starts the wait for a published version."""
        held = state.provisional
        if held is None or (is_volume(held[2]) and not is_volume(found[2])):
            state.provisional = found
        if not is_volume(found[2]) and state.provisional_until is None:
            wait = self._scaled(self.plan.accept.prefer_published_wait_ms)
            state.provisional_until = asyncio.get_running_loop().time() + wait

    async def _counted_try(self, run: _SourceRun, policy: SourcePolicy) -> SourceResult:
        """One try (and the accept hook on a success), its requests added to the run's;
        a cancelled try is recorded as the deadline's or the winning sibling's doing."""
        loop = asyncio.get_running_loop()
        state = run.state
        fetcher = self._fetcher_factory(policy)
        if getattr(fetcher, "gates", None) is self.gates:
            fetcher.gates = state.gates  # the run's gates, with this work's per-host cap
        try:
            result = await self._one_try(state, run.source, policy, fetcher)
            if (result.outcome is Outcome.SUCCESS and self.accept is not None
                    and state.winner is None):
                result = await self._accepted(state, run.source, result, fetcher)
        except asyncio.CancelledError:
            run.requests += _requests_of(fetcher)
            if state.stop_reason == "deadline" or loop.time() >= state.deadline:
                outcome, reason = Outcome.TIMEOUT, Reason.WORK_DEADLINE
            else:
                outcome, reason = Outcome.CANCELLED, _stopped_by(state)
            self._emit(run, SourceResult(outcome=outcome, reason=reason, requests=run.requests))
            raise
        run.requests += result.requests
        return _with_requests(result, run.requests)

    async def _backoff(self, run: _SourceRun, delay: float, last: SourceResult) -> None:
        """Wait before the next try; a cancelled wait is recorded with the last reason."""
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            timeout = run.state.stop_reason == "deadline"
            outcome = Outcome.TIMEOUT if timeout else Outcome.CANCELLED
            reason = Reason.WORK_DEADLINE if timeout else _stopped_by(run.state)
            self._emit(run, SourceResult(outcome=outcome, reason=reason, requests=run.requests,
                                         meta={"last": last.reason}))
            raise

    async def _accepted(
        self, state: _WorkState, source: Source, result: SourceResult, fetcher: Fetcher
    ) -> SourceResult:
        """Put a success through the accept hook (a download, through the try's Edge,
        under a fresh source timeout); a refusal demotes it to invalid_pdf."""
        assert self.accept is not None
        before = _requests_of(fetcher)
        fetcher.timeout_s = self._try_timeout(state, source)
        try:
            verdict = await self.accept(state.work, source.name, result, fetcher)
        except OSError as exc:  # our disk or folder, not the file: never a verdict on it
            return replace(result, outcome=Outcome.FAILED_LOCAL,
                           reason=f"download_{local_trouble(exc)}",
                           meta={**result.meta, "error": f"{type(exc).__name__}: {exc}"[:300]})
        except Exception as exc:  # a failing hook must not lose the work
            verdict = f"accept_error:{type(exc).__name__}"
        result = _with_requests(result, result.requests + _requests_of(fetcher) - before)
        if verdict is None:
            return result
        return replace(result, outcome=Outcome.INVALID_PDF, reason=download_reason(verdict))

    def _gate_before_try(self, source: Source) -> str | None:
        """The reason to skip a source without sending anything, or None."""
        if self.plan.gates.offline and self.plan.gates.offline_behavior == "block_all":
            return Reason.OFFLINE
        if self.plan.gates.skip_if_breaker_open:
            for host in source.hosts:
                if self.gates.is_open(host):
                    return Reason.BREAKER_OPEN
        return None

    async def _one_try(
        self, state: _WorkState, source: Source, policy: SourcePolicy, fetcher: Fetcher
    ) -> SourceResult:
        """Run `source.find` once under its timeout; classify whatever happens."""
        fetcher.timeout_s = self._try_timeout(state, source)
        ctx = SourceContext(http=fetcher, email=self.email, options=policy.options,
                            thresholds=self.plan.thresholds, accept=self.plan.accept,
                            work=state.work)
        try:
            async with asyncio.timeout(fetcher.timeout_s):
                result = await source.find(state.work, ctx)
        except TimeoutError:
            return SourceResult(outcome=Outcome.TIMEOUT, reason=Reason.SOURCE_TIMEOUT,
                                requests=_requests_of(fetcher))
        except GateClosed as exc:
            return SourceResult(outcome=Outcome.SKIPPED, reason=exc.reason, host=exc.host,
                                requests=_requests_of(fetcher))
        except httpx.TimeoutException as exc:
            return SourceResult(outcome=Outcome.TIMEOUT, reason=Reason.HTTP_TIMEOUT,
                                url=_url_of(exc), host=_host_of(exc),
                                requests=_requests_of(fetcher))
        except httpx.TransportError as exc:
            return SourceResult(outcome=Outcome.RETRYABLE, reason=_connection_reason(exc),
                                url=_url_of(exc), host=_host_of(exc),
                                requests=_requests_of(fetcher),
                                meta={"error": f"{type(exc).__name__}: {exc}"})
        except HttpStatusError as exc:
            return self._status_result(exc, exc.status, fetcher)
        except Exception as exc:
            return SourceResult(outcome=Outcome.ERROR, reason=type(exc).__name__,
                                requests=_requests_of(fetcher),
                                meta={"error": f"{type(exc).__name__}: {exc}"[:500]})
        if result.requests == 0 and _requests_of(fetcher):
            result = _with_requests(result, _requests_of(fetcher))
        if result.outcome is Outcome.RETRYABLE and result.status is not None:
            if result.status in self.plan.thresholds.terminal_statuses:
                result = _with_outcome(result, Outcome.NONRETRYABLE)
        return result

    def _try_timeout(self, state: _WorkState, source: Source) -> float:
        """The source's timeout in real seconds, cut to what is left of the work."""
        timeout_s = self._scaled(self.plan.timeout_ms(source.name))
        remaining = state.deadline - asyncio.get_running_loop().time()
        return min(timeout_s, max(0.0, remaining))

    def _status_result(self, exc: HttpStatusError, status: int, fetcher: Fetcher) -> SourceResult:
        url = exc.url
        retryable = status in self.plan.thresholds.retryable_statuses
        return SourceResult(
            outcome=Outcome.RETRYABLE if retryable else Outcome.NONRETRYABLE,
            reason=http_reason(status), status=status, url=url,
            host=httpx.URL(url).host if url else None,
            retry_after_s=exc.retry_after_s,
            requests=_requests_of(fetcher),
        )

    def _retry_delay(
        self, state: _WorkState, policy: SourcePolicy, result: SourceResult, retries: int
    ) -> float | None:
        """Seconds to wait before retrying, or None when this result is final."""
        # (a retryable result with a terminal status was made final in _one_try)
        if result.outcome not in _RETRY_OUTCOMES or retries >= policy.retries_max:
            return None
        remaining = state.deadline - asyncio.get_running_loop().time()
        delay = backoff_delay(retries, base_ms=policy.backoff_base_ms,
                              cap_ms=policy.backoff_cap_ms, rng=self._rng)
        if result.retry_after_s is not None:
            delay = max(delay, result.retry_after_s)
        delay = self.clock.wait_s(delay)
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
            return Resolution(status=ResolutionStatus.BUDGET_EXHAUSTED, reason=Reason.DEADLINE,
                              **common)
        if state.budget_skips:
            return Resolution(status=ResolutionStatus.BUDGET_EXHAUSTED, reason=Reason.ATTEMPTS,
                              **common)
        return Resolution(status=ResolutionStatus.NOT_FOUND,
                          reason=_why_not_found(state.outcomes), **common)

    # -- defaults ----------------------------------------------------------------------

    def _default_fetcher_factory(self) -> Callable[[SourcePolicy], Fetcher]:
        from ..web.edge import NetSettings, RobotsCache

        if self.client is None:
            raise ValueError("an httpx.AsyncClient is needed (or a fetcher_factory)")
        offline = self.plan.gates.offline_behavior if self.plan.gates.offline else None
        settings = NetSettings(email=self.email, offline=offline,
                               trust_transport=self.trust_transport)
        robots = RobotsCache()  # one per run: each host's robots.txt is fetched once
        client, gates = self.client, self.gates

        def factory(policy: SourcePolicy) -> Fetcher:
            return Fetcher(client, gates=gates, settings=settings, robots=robots,
                           robots_respect=policy.robots_respect)

        return factory

    def __repr__(self) -> str:
        return f"<Orchestrator run={self.run_id} plan={self.plan.name!r} scale={self.clock.factor}>"


def is_volume(result: SourceResult) -> bool:
    """A volume-like PDF: the right-paper check found many pages and other works first."""
    return result.meta.get("paper") == VOLUME_LIKE


def is_provisional(result: SourceResult, prefer_published_wait_ms: float) -> bool:
    """A success that is not final for the work: a volume (the plan goes on; it wins
    only if no later source or tier finds a better PDF), or a preprint when the plan
    waits for a published version (it wins when the wait ends or the plan does)."""
    preprint = result.meta.get("version") == PDF_VERSIONS[-1]  # submittedVersion
    return is_volume(result) or (preprint and prefer_published_wait_ms > 0)


def _registry(plan: Plan) -> dict[str, Source]:
    from ..sources import get_source

    return {name: get_source(name) for name in plan.source_names}


def _default_limits() -> Mapping[str, RateLimit]:
    from ..web.client import DEFAULT_HOST_RATE, DEFAULT_RATE_LIMITS

    return {ANY_HOST: DEFAULT_HOST_RATE, **DEFAULT_RATE_LIMITS}


def _last_meta(last: SourceResult | None) -> dict[str, Any]:
    """What the previous try met, kept on a retry the gates or the budget held back: a
    503 or a refused connection cut short is still no answer about the work."""
    if last is None:
        return {}
    return {"last": last.reason, "last_outcome": str(last.outcome), "last_status": last.status}


def _stopped_by(state: _WorkState) -> Reason:
    """Why a running try was cancelled (not the deadline)."""
    return Reason.LOCAL_FAILURE if state.stop_reason == "local" else Reason.SIBLING_WON


def _secret_options(plan: Plan) -> list[str]:
    """Values of source options named like secrets (`api_key`, `token`, ...), and the
    users' keys the plan's sources read from the environment (CORE, Wiley TDM)."""
    names = {n.lower() for n in SECRET_PARAMS}
    options = [str(v) for name in plan.source_names
               for k, v in plan.policy(name).options.items()
               if k.lower() in names and isinstance(v, str)]
    return options + _env_keys(plan)


def _env_keys(plan: Plan) -> list[str]:
    """The keys the plan's sources would send (from the environment, never the plan)."""
    keys = (source_key(name, str(plan.policy(name).options.get("key_env") or ""))
            for name in plan.source_names if name in SOURCE_SPECS and SOURCE_SPECS[name].key_envs)
    return [k for k in keys if k]


def _first(items: tuple[str, ...]) -> str | None:
    return items[0] if items else None


def _requests_of(fetcher: Fetcher) -> int:
    """The requests the try's edge has sent so far (every fetcher counts them)."""
    return fetcher.requests


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
_TRANSIENT_REASONS = frozenset({
    Reason.CONNECTION_ERROR, Reason.DNS_FAILURE, Reason.CONNECTION_REFUSED,
    Reason.BREAKER_OPEN, Reason.RATE_WAIT, Reason.QUOTA,
})


def is_transient(attempt: Attempt) -> bool:
    """True when a try ended in a passing network state rather than an answer about the
    work: connection trouble, 429/5xx left after the retries, a gate holding it back."""
    if attempt.outcome is Outcome.RETRYABLE:
        return _transient_try(attempt.reason, attempt.status)
    if attempt.outcome is Outcome.SKIPPED:
        meta = attempt.meta or {}
        if attempt.reason == Reason.ATTEMPT_BUDGET:  # the budget cut a retry short
            return meta.get("last_outcome") == str(Outcome.RETRYABLE) and _transient_try(
                str(meta.get("last", "")), meta.get("last_status"))
        return attempt.reason in _TRANSIENT_REASONS
    return False


def _transient_try(reason: str, status: Any) -> bool:
    return reason in _TRANSIENT_REASONS or (
        isinstance(status, int) and (status == 429 or status >= 500))


def _connection_reason(exc: BaseException) -> Reason:
    """`dns_failure`, `connection_refused` or `connection_error` for a transport error."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, socket.gaierror) or "cannot resolve" in str(cur) or (
                "Name or service not known" in str(cur)):
            return Reason.DNS_FAILURE
        if isinstance(cur, ConnectionRefusedError) or "Connection refused" in str(cur):
            return Reason.CONNECTION_REFUSED
        cur = cur.__cause__ or cur.__context__
    return Reason.CONNECTION_ERROR


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
        return Reason.NO_SOURCE_APPLICABLE
    if all(a.outcome is Outcome.SKIPPED for a in tried):
        return Reason.ALL_SKIPPED
    ranked = [Outcome.INVALID_PDF, Outcome.TIMEOUT, Outcome.RETRYABLE, Outcome.NONRETRYABLE,
              Outcome.ERROR, Outcome.SKIPPED, Outcome.NO_PDF]
    for outcome in ranked:
        hit = next((a for a in tried if a.outcome is outcome), None)
        if hit is not None and outcome is not Outcome.NO_PDF:
            return f"{outcome}:{hit.reason}" if hit.reason else str(outcome)
    return Reason.NO_PDF
