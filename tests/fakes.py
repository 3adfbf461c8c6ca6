"""Fake sources and a fake fetcher for orchestrator tests on a fake loop clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.sources.base import Source, SourceContext, SourceResult


@dataclass
class Step:
    """One call of a fake source: wait `delay` seconds, then return `result` or raise `exc`."""

    delay: float = 0.0
    result: SourceResult | None = None
    exc: BaseException | None = None


def ok(url: str = "https://example.org/a.pdf") -> SourceResult:
    return SourceResult(outcome=Outcome.SUCCESS, url=url, requests=1, host="example.org")


def no_pdf() -> SourceResult:
    return SourceResult(outcome=Outcome.NO_PDF, reason="no_oa_location", requests=1)


def transient(status: int = 503, retry_after: float | None = None) -> SourceResult:
    return SourceResult(outcome=Outcome.RETRYABLE, reason=f"http_{status}", status=status,
                        retry_after_s=retry_after, requests=1)


class FakeSource(Source):
    """Plays its steps in order (the last one repeats) and records when it ran."""

    def __init__(self, name: str, steps: list[Step], needs: tuple[str, ...] = ("doi",),
                 hosts: tuple[str, ...] = ()):
        self.name = name  # type: ignore[misc]
        self.needs = needs  # type: ignore[misc]
        self.hosts = hosts  # type: ignore[misc]
        self.steps = steps
        self.calls: list[float] = []
        self.finished: list[float] = []
        self.cancelled = 0
        self.running = 0
        self.max_running = 0

    async def find(self, work: Work, ctx: SourceContext) -> SourceResult:
        loop = asyncio.get_running_loop()
        step = self.steps[min(len(self.calls), len(self.steps) - 1)]
        self.calls.append(loop.time())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(step.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        self.finished.append(loop.time())
        if step.exc is not None:
            raise step.exc
        assert step.result is not None
        return step.result


class FakeFetcher:
    requests = 0


def fake_factory(policy: Any) -> FakeFetcher:
    return FakeFetcher()


def make_plan(tiers: list[dict[str, Any]], **sections: Any) -> Any:
    """A plan over fake source names (they must be known source names)."""
    data: dict[str, Any] = {"name": "test", "tiers": tiers}
    data.update(sections)
    return plan_from_dict(data)


WORK = Work(work_id="w1", doi="10.1234/abc")


@dataclass
class Shared:
    counters: dict[str, int] = field(default_factory=dict)
