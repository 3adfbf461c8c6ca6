"""What a run records: one Attempt per source try, one Resolution per work.

These records are the contract between the orchestrator (which emits them), the run
store (which persists them) and the analysis (which reads them back as DataFrames).
`t_start_ms`/`t_end_ms` are relative to the start of the work, so that a work's
attempts draw its waterfall directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "Attempt",
    "BreakerEvent",
    "Event",
    "FAILED",
    "NOT_TRIED",
    "SETTLED",
    "EventSink",
    "ListSink",
    "Outcome",
    "PreviousRace",
    "Resolution",
    "RETRIED_ON_RESUME",
    "ResolutionStatus",
]


class Outcome(StrEnum):
    """How one source try ended (docs/architecture.md, "Contracts")."""

    SUCCESS = "success"
    NO_PDF = "no_pdf"
    NOT_APPLICABLE = "not_applicable"
    INVALID_PDF = "invalid_pdf"
    SKIPPED = "skipped"
    RETRYABLE = "retryable"
    NONRETRYABLE = "nonretryable"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    #: our side failed (disk full, permission denied): says nothing about the work
    FAILED_LOCAL = "failed_local"
    ERROR = "error"


#: The one grouping of outcomes (analysis, tuning and plots read it): every outcome is
#: SUCCESS, CANCELLED, or in exactly one of these two groups.
#: No request was made: the source lacked an identifier, or a gate stopped the try.
NOT_TRIED = frozenset({Outcome.NOT_APPLICABLE, Outcome.SKIPPED})
#: The source was asked and the try ended without a PDF (on our side, too).
FAILED = frozenset({
    Outcome.NO_PDF, Outcome.INVALID_PDF, Outcome.RETRYABLE, Outcome.NONRETRYABLE,
    Outcome.TIMEOUT, Outcome.ERROR, Outcome.FAILED_LOCAL,
})

#: The try said its last word about the work: asking it again, with the same answers,
#: ends the same way (a timeout, a 5xx, a gate or a cancellation says nothing of the work).
SETTLED = frozenset({
    Outcome.SUCCESS, Outcome.NO_PDF, Outcome.NOT_APPLICABLE, Outcome.INVALID_PDF,
    Outcome.NONRETRYABLE,
})


class ResolutionStatus(StrEnum):
    """How a whole work ended.

    `failed_local` (our side: disk full, permission denied) and `transient` (the network
    or a server was down: DNS failure, connection refused, 429/5xx left after the
    retries, breakers open) are not answers about the work: a resumed run tries them
    again (`RETRIED_ON_RESUME`), unlike `not_found`, which is final.
    """

    RESOLVED = "resolved"
    NOT_FOUND = "not_found"
    BUDGET_EXHAUSTED = "budget_exhausted"
    FAILED_LOCAL = "failed_local"
    TRANSIENT = "transient"
    ERROR = "error"


#: Statuses a resumed run resolves again by default: trouble on our side or in the
#: network, never a final answer about the work.
RETRIED_ON_RESUME: frozenset[ResolutionStatus] = frozenset(
    {ResolutionStatus.FAILED_LOCAL, ResolutionStatus.TRANSIENT}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviousRace:
    """How a work's race went the last time it was resolved with the same plan (and a
    cache): the source that won, and the sources whose tries were `SETTLED`.

    A warm re-run holds the other sources of the winner's tier and later tiers back until
    the winner has tried again, so that it asks only what the last run asked
    (engine.orchestrator). `settled` may name sources that are not in the plan any more.
    """

    winner: str
    settled: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One source try (retries of the same try are counted in `retries`)."""

    run_id: str
    work_id: str
    tier: str
    source: str
    outcome: Outcome
    reason: str = ""
    url: str | None = None
    status: int | None = None
    host: str | None = None
    retries: int = 0
    t_start_ms: float = 0.0
    t_end_ms: float = 0.0
    bytes: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_ms(self) -> float:
        return self.t_end_ms - self.t_start_ms

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = str(self.outcome)
        d["meta"] = dict(self.meta)
        return d


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """The end of one work: resolved with a PDF, or why not."""

    run_id: str
    work_id: str
    status: ResolutionStatus
    pdf_url: str | None = None
    source: str | None = None
    tier: str | None = None
    elapsed_ms: float = 0.0
    attempts: int = 0
    requests: int = 0
    reason: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolved(self) -> bool:
        return self.status is ResolutionStatus.RESOLVED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = str(self.status)
        d["meta"] = dict(self.meta)
        return d

    def _repr_html_(self) -> str:
        """The answer in a few lines (notebooks); the tried URLs stay in `meta`."""
        from ._html import fields

        return fields([("status", str(self.status)), ("pdf_url", self.pdf_url),
                       ("source", self.source), ("tier", self.tier),
                       ("elapsed ms", self.elapsed_ms), ("attempts", self.attempts),
                       ("requests", self.requests), ("reason", self.reason or None)],
                      caption=f"Resolution of {self.work_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerEvent:
    """A circuit breaker changed state for a host (closed / open / half_open)."""

    host: str
    old: str
    new: str
    at_s: float
    failures: int = 0


Event = Attempt | Resolution | BreakerEvent


class EventSink(Protocol):
    """Receives events as they happen. Must be cheap and must not raise."""

    def emit(self, event: Event) -> None: ...


class ListSink:
    """Keeps every event in memory, in order; handy in tests and notebooks."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    @property
    def attempts(self) -> list[Attempt]:
        return [e for e in self.events if isinstance(e, Attempt)]

    @property
    def resolutions(self) -> list[Resolution]:
        return [e for e in self.events if isinstance(e, Resolution)]

    @property
    def breaker_events(self) -> list[BreakerEvent]:
        return [e for e in self.events if isinstance(e, BreakerEvent)]

    def __repr__(self) -> str:
        return (
            f"ListSink(attempts={len(self.attempts)}, resolutions={len(self.resolutions)}, "
            f"breaker_events={len(self.breaker_events)})"
        )
