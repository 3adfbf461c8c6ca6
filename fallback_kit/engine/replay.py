"""Replay a plan on known source behaviour, with zero overhead.

One engine, two inputs: the sandbox World's ground truth (what each source of each
work would do: `models_from_truth`) gives the **plan-ideal** latency and request count
and the **oracle**; the attempts recorded in a run (`models_from_attempts`) let `tune`
project the effect of a changed plan without touching the network.

The replay follows the orchestrator's rules: tiers in order (or hedged), at most
`parallel` sources of a tier and `max_concurrent` in all at once, the first success
wins and stops the rest, per-source timeouts with retries, the attempt budget and
the work's deadline.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..contracts.plan import Plan

__all__ = [
    "ReplayResult",
    "SourceModel",
    "models_from_attempts",
    "models_from_truth",
    "oracle",
    "replay",
    "replay_work",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceModel:
    """What one source does for one work: succeeds or not, after how long, with how many
    requests. `duration_ms=inf` is a hang. `request_starts_ms` (offsets of each request
    from the try's start) lets the replay count the requests of a cancelled try."""

    success: bool
    duration_ms: float
    requests: int = 1
    applicable: bool = True
    transient: int = 0  # transient failures before it answers (each one is a retry)
    transient_ms: float = 0.0  # how long one transient failure takes
    request_starts_ms: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayResult:
    work_id: str
    status: str  # resolved | not_found | budget_exhausted
    source: str | None
    tier: str | None
    elapsed_ms: float
    requests: float
    tries: int


def _expected_backoff_ms(plan: Plan, source: str, retry: int) -> float:
    pol = plan.policy(source)
    return min(pol.backoff_cap_ms, pol.backoff_base_ms * 2**retry) / 2


@dataclass(slots=True)
class _Try:
    """One source's whole try (retries included) as the replay schedules it."""

    source: str
    tier: str
    success: bool
    duration_ms: float
    tries: int
    requests: int
    request_starts_ms: tuple[float, ...]


def _plan_try(plan: Plan, source: str, tier: str, model: SourceModel, tries_left: int) -> _Try:
    """Fold a source's behaviour under the plan's timeout and retries into one try."""
    pol = plan.policy(source)
    timeout = float(plan.timeout_ms(source))
    elapsed, tries, requests = 0.0, 0, 0
    starts: list[float] = []
    retry = 0
    transient_left = model.transient
    # a model without request times sends its requests when the try starts
    offsets = model.request_starts_ms or (0.0,) * model.requests
    while tries < tries_left:
        tries += 1
        if transient_left > 0:
            transient_left -= 1
            starts.append(elapsed)
            elapsed += min(model.transient_ms, timeout)
            requests += 1
            ok = False
        elif model.duration_ms > timeout:
            starts.extend(elapsed + s for s in offsets if s < timeout)
            requests += max(1, sum(1 for s in offsets if s < timeout))
            elapsed += timeout
            ok = False
        else:
            starts.extend(elapsed + s for s in offsets)
            requests += model.requests
            elapsed += model.duration_ms
            return _Try(source, tier, model.success, elapsed, tries, requests, tuple(starts))
        if ok or retry >= pol.retries_max:
            break
        elapsed += _expected_backoff_ms(plan, source, retry)
        retry += 1
    return _Try(source, tier, False, elapsed, tries, requests, tuple(starts))


def replay_work(plan: Plan, work_id: str, models: Mapping[str, SourceModel]) -> ReplayResult:
    """Replay the plan for one work whose sources behave as `models` says."""
    return _Replay(plan, work_id, models).run()


class _Replay:
    """One work's replay: a queue of timed events (a try ends, a tier is done, a hedge
    point passes) and the slots they free, under the orchestrator's rules."""

    def __init__(self, plan: Plan, work_id: str, models: Mapping[str, SourceModel]) -> None:
        self.plan, self.work_id, self.models = plan, work_id, models
        self.tiers = list(plan.tiers)
        self.deadline = float(plan.budgets.total_timeout_ms)
        self.tries_left = plan.budgets.total_attempts
        self.events: list[tuple[float, int, str, Any]] = []  # (time, seq, kind, payload)
        self.seq = 0
        self.queue: list[tuple[int, str]] = []  # (tier index, source) waiting for a slot
        self.tier_pending: dict[int, int] = {}
        self.in_tier: dict[int, int] = {}
        self.running: dict[int, tuple[float, _Try]] = {}  # id(try) -> (start, try)
        self.next_tier = 0
        self.requests = 0.0
        self.tries = 0
        self.budget_hit = False

    def run(self) -> ReplayResult:
        self._start_tier(0.0)
        now = 0.0
        while self.events:
            t, _, kind, payload = heapq.heappop(self.events)
            if t > self.deadline:
                break
            now = t
            if kind == "end":
                won = self._on_end(t, *payload)
                if won is not None:
                    return won
            elif kind == "tier_done" and self._on_tier_done(t, payload):
                break
            elif kind == "hedge":
                self._start_next_tier_after(t, payload)
        return self._unresolved(now)

    # -- events ----------------------------------------------------------------------

    def _push(self, t: float, kind: str, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, payload))

    def _start_tier(self, t: float) -> None:
        i = self.next_tier
        self.next_tier += 1
        tier = self.tiers[i]
        usable = [s for s in tier.sources
                  if self.models.get(s) is not None and self.models[s].applicable]
        self.tier_pending[i] = len(usable)
        self.in_tier[i] = 0
        self.queue.extend((i, s) for s in usable)
        if tier.hedge_after_ms is not None and self.next_tier < len(self.tiers):
            self._push(t + tier.hedge_after_ms, "hedge", i)
        if not usable:
            self._push(t, "tier_done", i)
        self._fill(t)

    def _start_next_tier_after(self, t: float, i: int) -> None:
        """Start the next tier when tier `i` is the latest one started."""
        if i == self.next_tier - 1 and self.next_tier < len(self.tiers):
            self._start_tier(t)

    def _fill(self, t: float) -> None:
        """Start queued sources while the work and their tiers have free slots; the queue
        is in tier order, so the earliest tier's sources go first."""
        k = 0
        while k < len(self.queue):
            i, source = self.queue[k]
            if len(self.running) >= self.plan.budgets.max_concurrent:
                return
            if self.in_tier[i] >= self.tiers[i].parallel:
                k += 1
                continue
            self.queue.pop(k)
            if self.tries >= self.tries_left:
                self.budget_hit = True
                self._one_less_pending(t, i)
                continue
            attempt = _plan_try(self.plan, source, self.tiers[i].name, self.models[source],
                                self.tries_left - self.tries)
            self.tries += attempt.tries
            self.in_tier[i] += 1
            self._push(t + attempt.duration_ms, "end", (i, attempt))
            self.running[id(attempt)] = (t, attempt)

    def _one_less_pending(self, t: float, i: int) -> None:
        self.tier_pending[i] -= 1
        if self.tier_pending[i] == 0:
            self._push(t, "tier_done", i)

    def _on_end(self, t: float, i: int, attempt: _Try) -> ReplayResult | None:
        """A try ended: it wins, or its slots go to the queue."""
        self.running.pop(id(attempt), None)
        self.in_tier[i] -= 1
        self.requests += attempt.requests
        if attempt.success:
            self.requests += self._requests_sent_by_running(t)
            return ReplayResult(work_id=self.work_id, status="resolved", source=attempt.source,
                                tier=attempt.tier, elapsed_ms=t, requests=self.requests,
                                tries=self.tries)
        self._one_less_pending(t, i)
        self._fill(t)
        return None

    def _on_tier_done(self, t: float, i: int) -> bool:
        """A tier has no source left: start the next one; True when nothing is left."""
        if i == self.next_tier - 1 and self.next_tier < len(self.tiers):
            self._start_tier(t)
            return False
        return not self.running and not self.queue and self.next_tier >= len(self.tiers)

    # -- the verdict -------------------------------------------------------------------

    def _requests_sent_by_running(self, t: float) -> float:
        """Requests the still-running tries had sent by time `t` (they are cancelled)."""
        return sum(sum(1 for s in other.request_starts_ms if start + s < t)
                   for start, other in self.running.values())

    def _unresolved(self, now: float) -> ReplayResult:
        if self.running or (self.events and self.events[0][0] > self.deadline):
            self.requests += self._requests_sent_by_running(self.deadline)
            return ReplayResult(work_id=self.work_id, status="budget_exhausted", source=None,
                                tier=None, elapsed_ms=self.deadline, requests=self.requests,
                                tries=self.tries)
        status = "budget_exhausted" if self.budget_hit else "not_found"
        return ReplayResult(work_id=self.work_id, status=status, source=None, tier=None,
                            elapsed_ms=now, requests=self.requests, tries=self.tries)


def replay(plan: Plan, table: Mapping[str, Mapping[str, SourceModel]]) -> list[ReplayResult]:
    """Replay the plan on every work of `table` (work_id -> source -> model)."""
    return [replay_work(plan, work_id, models) for work_id, models in table.items()]


def oracle(table: Mapping[str, Mapping[str, SourceModel]]) -> dict[str, tuple[str, float] | None]:
    """Per work, the fastest source that holds the PDF and its latency, whatever the plan."""
    out: dict[str, tuple[str, float] | None] = {}
    for work_id, models in table.items():
        best = min(
            ((s, m.duration_ms + m.transient * m.transient_ms) for s, m in models.items()
             if m.applicable and m.success and math.isfinite(m.duration_ms)),
            key=lambda x: x[1], default=None,
        )
        out[work_id] = best
    return out


def models_from_truth(truths: Iterable[Any]) -> dict[str, dict[str, SourceModel]]:
    """Source models from the sandbox World's `truth()` records (SourceTruth)."""
    table: dict[str, dict[str, SourceModel]] = {}
    for t in truths:
        work_id = t.work_id
        source = t.source
        reqs = tuple(t.requests or ())
        fault = getattr(t, "fault", None)
        applicable = fault != "not_applicable"
        delays = [float(d) for _, d in reqs]
        starts = tuple(sum(delays[:i]) for i in range(len(delays)))
        duration = math.inf if fault == "hang" else sum(delays)
        table.setdefault(work_id, {})[source] = SourceModel(
            success=bool(t.holds_pdf), duration_ms=duration,
            requests=max(1, len(reqs)) if applicable else 0, applicable=applicable,
            transient=int(getattr(t, "transient", 0) or 0),
            transient_ms=delays[0] if delays else 0.0, request_starts_ms=starts,
        )
    return table


def models_from_attempts(attempts: Any) -> dict[str, dict[str, SourceModel]]:
    """Source models from a run's attempts DataFrame (what `tune` replays).

    A cancelled try says only that the source had not finished by then: it is modelled
    as a failure that took at least that long, which makes projections cautious.
    """
    table: dict[str, dict[str, SourceModel]] = {}
    rows = attempts.to_dict(orient="records")
    for row in rows:
        outcome = str(row["outcome"])
        meta = row.get("meta") or {}
        if isinstance(meta, str):
            import json

            meta = json.loads(meta or "{}")
        requests = int(meta.get("requests", 1) or 0)
        # a timeout took at least its observed time: a shorter timeout cuts it earlier, a
        # longer one is not assumed to have found anything
        duration = float(row["t_end_ms"]) - float(row["t_start_ms"])
        table.setdefault(str(row["work_id"]), {})[str(row["source"])] = SourceModel(
            success=outcome == "success",
            duration_ms=duration,
            requests=requests,
            applicable=outcome != "not_applicable",
            request_starts_ms=tuple(duration * i / max(1, requests) for i in range(requests)),
        )
    return table
