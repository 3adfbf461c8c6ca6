"""The plan's `thresholds.retryable_statuses` alone decides which HTTP statuses are
retried, on every path a built-in source meets a status: a service API answer, a PDF
candidate, and the doi.org resolution (issue 12)."""

from __future__ import annotations

import httpx
import pytest
from _netkit import Router

from fallback_kit.contracts.events import ListSink
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.faces.cli.plan_cmds import explain_plan

pytestmark = pytest.mark.looptime

STATUSES = (408, 418, 425, 429, 500, 502, 503, 504, 520)
RETRIES = 2

#: (source, work, URL answering the status): one per path a status reaches a source
PATHS = {
    "api": ("unpaywall", Work(work_id="w", doi="10.1234/abc"),
            "https://api.unpaywall.org/v2/10.1234/abc"),
    "candidate": ("arxiv", Work(work_id="w", arxiv_id="2101.00001"),
                  "https://arxiv.org/pdf/2101.00001"),
    "doi_resolution": ("wayback", Work(work_id="w", doi="10.1234/abc"),
                       "https://doi.org/10.1234/abc"),
}


def _plan(source: str, retryable: list[int]):
    return plan_from_dict({
        "name": "t",
        "tiers": [{"name": "only", "sources": [source]}],
        "sources": {source: {"retries_max": RETRIES, "backoff_base_ms": 1, "backoff_cap_ms": 1}},
        "thresholds": {"retryable_statuses": retryable, "terminal_statuses": []},
    })


async def _tries(path: str, status: int, retryable: list[int]) -> int:
    source, work, url = PATHS[path]
    router = Router()
    router.add(url, status, b"")
    sink = ListSink()
    async with httpx.AsyncClient(transport=httpx.MockTransport(router)) as client:
        o = Orchestrator(_plan(source, retryable), client=client, sink=sink,
                         trust_transport=True)  # a mocked web
        await o.resolve(work)
    return sum(1 for r in router.urls() if r.split("?")[0] == url)


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("status", STATUSES)
async def test_a_status_is_retried_iff_the_plan_lists_it(path: str, status: int) -> None:
    assert await _tries(path, status, [status]) == 1 + RETRIES
    assert await _tries(path, status, [s for s in STATUSES if s != status]) == 1


def test_explain_names_the_plans_statuses() -> None:
    text = explain_plan(_plan("unpaywall", [418]))
    assert "HTTP 418" in text and "429" not in text
