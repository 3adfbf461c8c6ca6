"""The fault matrix: every injected fault x every source x first/middle/last tier.

Each test runs the three positions of one (fault, source) pair side by side on the
sandbox (fault_matrix.py says how the cells are built and what they promise); a
failure lists every broken promise of every position.
"""

from __future__ import annotations

from collections.abc import Iterator

import fault_matrix as fm  # tests/reliability is on sys.path (pytest's rootdir-less import)
import httpx
import pytest

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import make_gates
from fallback_kit.sandbox import Sandbox, World
from fallback_kit.sandbox.model import NOT_SIMULATED
from fallback_kit.sources.base import SourceContext
from fallback_kit.sources.wayback import Wayback
from fallback_kit.web.edge import Fetcher, NetSettings

EMAIL = "matrix@fallback-kit.test"


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[fm.Sandboxes]:
    boxes = fm.Sandboxes()
    yield boxes
    boxes.stop()


@pytest.mark.parametrize(("row", "source"), fm.groups(),
                         ids=[f"{r}-{s}" for r, s in fm.groups()])
async def test_fault_cell(row: str, source: str, sandboxes: fm.Sandboxes, tmp_path) -> None:
    """Every work resolves via the healthy source, nothing leaks, budgets hold, the fault shows."""
    results = await fm.run_group(row, source, sandboxes.get(fm.ROWS[row][0]), tmp_path)
    assert len(results) == len(fm.POSITIONS)
    broken = {r.cell.position: r.problems for r in results if not r.ok}
    assert broken == {}


@pytest.mark.parametrize("source", fm.SOURCES)
async def test_work_deadline_cuts_a_hanging_source(source: str, sandboxes: fm.Sandboxes,
                                                   tmp_path) -> None:
    """A hang longer than the work's deadline: budget_exhausted on time, nothing left open."""
    spec = fm.deadline_spec(source)
    assert spec is not None
    (res,) = await fm.run_cells([spec], sandboxes.get("hang"), tmp_path)
    assert res.problems == []
    limit = fm.DEADLINE_MS + fm.OVERRUN_REAL_S * 1000 / fm.TIME_SCALE
    assert all(r.elapsed_ms <= limit for r in res.resolutions)


def test_matrix_covers_every_fault_kind_and_source() -> None:
    """Rows cover FAULT_KINDS (429 twice: both Retry-After forms); columns are the sources
    the sandbox simulates (all of them) and the matrix can reach: not biorxiv (its
    synthetic works carry no bioRxiv DOIs) nor core (it needs a key); zenodo (Zenodo-DOI
    works in the pool) and wiley_tdm (a token set while the cells run) are in."""
    from fallback_kit.sandbox import FAULT_KINDS
    from fallback_kit.sources import SOURCES

    assert {kind for kind, _ in fm.ROWS.values()} == set(FAULT_KINDS) - fm.NOT_FAILURES
    # the pool has no bioRxiv works, and CORE needs a key
    unsimulated = NOT_SIMULATED | {"biorxiv", "core"}
    assert fm.SOURCES == tuple(s for s in SOURCES if s not in unsimulated)
    assert {"zenodo", "wiley_tdm"} <= set(fm.SOURCES)
    n = len(fm.SOURCES)
    assert len(fm.cells()) + 3 * len(fm.UNREACHABLE) == len(fm.ROWS) * n * 3


@pytest.mark.parametrize("kind", sorted({k for k, _ in fm.ROWS.values()}))
def test_unreachable_pairs_really_are(kind: str) -> None:
    """The pairs marked n/a: no work of the matrix World puts that fault on that source's path."""
    rows = [row for row, (k, _) in fm.ROWS.items() if k == kind]
    world = fm.world_for(kind)
    for wid, by_source in fm.truth_for(kind).items():
        for row in rows:
            for source in fm.SOURCES:
                if (row, source) in fm.UNREACHABLE:
                    assert not fm.meets(row, world, by_source[source]), (row, source, wid)


# --------------------------------------------------------------------------- bugs found


async def _wayback_once(faults: dict, work: Work) -> tuple[Outcome, str]:
    world = World.build([work], seed=3, faults=faults)
    plan = plan_from_dict({"name": "wb", "tiers": [{"name": "t", "sources": ["wayback"]}]})
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            settings = NetSettings(email=EMAIL, trust_transport=True)  # the sandbox
            fetcher = Fetcher(client, gates=make_gates(plan), settings=settings)
            res = await Wayback().find(work, SourceContext(http=fetcher, email=EMAIL, options={}))
    return res.outcome, res.reason


async def test_wayback_doi_org_429_is_not_reported_as_no_pdf() -> None:
    """A 429 from doi.org (Wayback finding the landing page) is a retryable failure, not no_pdf."""
    work = Work(work_id="w", doi="10.5555/wb.1")
    outcome, reason = await _wayback_once({"all": 0.0, "doi.org": {"rate_limited": 1.0}}, work)
    assert (outcome, reason) == (Outcome.RETRYABLE, "http_429")


async def test_wayback_malformed_cdx_answer_is_not_reported_as_no_snapshot() -> None:
    """A CDX answer cut off mid-JSON is a bad response (retryable), not 'the archive holds none'."""
    work = Work(work_id="w", doi="10.5555/wb.2", landing_url="https://journals.plos.org/a/1")
    faults = {"all": 0.0, "web.archive.org": {"malformed_json": 1.0}}
    outcome, reason = await _wayback_once(faults, work)
    assert (outcome, reason) == (Outcome.RETRYABLE, "bad_response")
