"""A small fixed run (5 works, 12 attempts) written through the store, for the analysis
and CLI tests, whose figures are computed by hand in those tests.

Run A, plan tiers `fast` (unpaywall, arxiv) then `slow` (wayback):
  w1 fast: unpaywall success 0-100, arxiv cancelled 0-100
       -> resolved unpaywall/fast 120 ms, 2 requests
  w2 fast: unpaywall no_pdf 0-50, arxiv success 0-200
       -> resolved arxiv/fast 210 ms, 3 requests
  w3 fast: unpaywall no_pdf 0-40, arxiv not_applicable; slow: wayback success 40-440
       -> resolved wayback/slow 450 ms, 4 requests
  w4 fast: unpaywall timeout 0-1000, arxiv not_applicable; slow: wayback no_pdf 1000-1300
       -> not_found 1300 ms, 3 requests
  w5 fast: unpaywall retryable (503, 2 retries) 0-300, arxiv skipped (breaker_open)
       -> budget_exhausted 2000 ms, 3 requests
Run B (same plan): w1 not_found (3 req), w2, w3, w5 as in A, w4 resolved wayback/slow 800 ms
(2 req), plus w6 (only in B) resolved arxiv/fast 50 ms (1 req).
"""

from __future__ import annotations

from pathlib import Path

from fallback_kit.contracts.events import (
    Attempt,
    BreakerEvent,
    Outcome,
    Resolution,
    ResolutionStatus,
)
from fallback_kit.contracts.works import Work
from fallback_kit.record.store import RunStore

PLAN = """budgets:
  total_timeout_ms: 2000
tiers:
  - name: fast
    parallel: 2
    sources: [unpaywall, arxiv]
  - name: slow
    parallel: 1
    sources: [wayback]
"""

HOSTS = {"unpaywall": "api.unpaywall.org", "arxiv": "arxiv.org", "wayback": "archive.org"}
Oc = Outcome
S = ResolutionStatus

A_ATTEMPTS = {
    "w1": [("fast", "unpaywall", Oc.SUCCESS, "", 0, 100, 0),
           ("fast", "arxiv", Oc.CANCELLED, "sibling_won", 0, 100, 0)],
    "w2": [("fast", "unpaywall", Oc.NO_PDF, "no_oa_location", 0, 50, 0),
           ("fast", "arxiv", Oc.SUCCESS, "", 0, 200, 0)],
    "w3": [("fast", "unpaywall", Oc.NO_PDF, "no_oa_location", 0, 40, 0),
           ("fast", "arxiv", Oc.NOT_APPLICABLE, "no_arxiv_id", 0, 0, 0),
           ("slow", "wayback", Oc.SUCCESS, "", 40, 440, 0)],
    "w4": [("fast", "unpaywall", Oc.TIMEOUT, "read_timeout", 0, 1000, 0),
           ("fast", "arxiv", Oc.NOT_APPLICABLE, "no_arxiv_id", 0, 0, 0),
           ("slow", "wayback", Oc.NO_PDF, "no_snapshot", 1000, 1300, 0)],
    "w5": [("fast", "unpaywall", Oc.RETRYABLE, "http_503", 0, 300, 2),
           ("fast", "arxiv", Oc.SKIPPED, "breaker_open", 0, 0, 0)],
}
A_RESOLUTIONS = {
    "w1": (S.RESOLVED, "unpaywall", "fast", 120.0, 2, ""),
    "w2": (S.RESOLVED, "arxiv", "fast", 210.0, 3, ""),
    "w3": (S.RESOLVED, "wayback", "slow", 450.0, 4, ""),
    "w4": (S.NOT_FOUND, None, None, 1300.0, 3, "no source had a PDF"),
    "w5": (S.BUDGET_EXHAUSTED, None, None, 2000.0, 3, "total_timeout"),
}
B_RESOLUTIONS = {
    **A_RESOLUTIONS,
    "w1": (S.NOT_FOUND, None, None, 900.0, 3, "no source had a PDF"),
    "w4": (S.RESOLVED, "wayback", "slow", 800.0, 2, ""),
    "w6": (S.RESOLVED, "arxiv", "fast", 50.0, 1, ""),
}


def write_run(directory: Path, resolutions: dict, attempts: dict, *, run_id: str) -> Path:
    store = RunStore.create(directory, plan_yaml=PLAN,
                            meta={"run_id": run_id, "mode": "sandbox", "profile": "mixed",
                                  "seed": 7, "time_scale": 0.01, "works_source": "works.csv"})
    store.add_works(Work(work_id=w, doi=f"10.1000/{w}") for w in resolutions)
    for work_id, (status, source, tier, elapsed, requests, reason) in resolutions.items():
        rows = attempts.get(work_id, [])
        for t, src, outcome, why, t0, t1, retries in rows:
            store.emit(Attempt(run_id=run_id, work_id=work_id, tier=t, source=src,
                               outcome=outcome, reason=why, host=HOSTS[src], retries=retries,
                               status=503 if outcome is Oc.RETRYABLE else None,
                               url=f"https://{HOSTS[src]}/{work_id}",
                               t_start_ms=float(t0), t_end_ms=float(t1)))
        store.emit(Resolution(run_id=run_id, work_id=work_id, status=status, source=source,
                              tier=tier, elapsed_ms=elapsed, attempts=len(rows),
                              requests=requests, reason=reason,
                              pdf_url=f"https://{HOSTS[source]}/{work_id}.pdf" if source else None))
    store.emit(BreakerEvent(host="arxiv.org", old="closed", new="open", at_s=1.5, failures=5))
    store.finish()
    store.close()
    return directory


def write_run_a(directory: Path) -> Path:
    return write_run(directory, A_RESOLUTIONS, A_ATTEMPTS, run_id="run-a")


def write_run_b(directory: Path) -> Path:
    return write_run(directory, B_RESOLUTIONS, {}, run_id="run-b")


def test_fixture_run_has_five_works_and_twelve_attempts(tmp_path: Path) -> None:
    """The fixture writes what its docstring says."""
    store = RunStore.open(write_run_a(tmp_path / "a"))
    assert store.counts() == {"attempts": 12, "resolutions": 5, "works": 5, "downloads": 0}
    store.close()
