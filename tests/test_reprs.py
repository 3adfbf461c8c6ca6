"""Notebook reprs: short HTML tables for Plan, Resolution, RunResult and Run, never a dump."""

from __future__ import annotations

from pathlib import Path

from test_store_fixture import write_run_a

from fallback_kit.contracts._html import MAX_ROWS
from fallback_kit.contracts.events import Resolution, ResolutionStatus
from fallback_kit.contracts.plan import load_plan
from fallback_kit.faces.api import RunResult
from fallback_kit.insight.stored_run import open_run

ROOT = Path(__file__).resolve().parents[1]


def test_plan_repr_lists_tiers_and_budgets():
    plan = load_plan("default")
    html = plan._repr_html_()
    assert html.startswith("<table>") and f"{plan.budgets.total_attempts} attempts" in html
    for tier in plan.tiers:
        assert f"<td>{tier.name}</td>" in html
        assert f"<td>{', '.join(tier.sources)}</td>" in html
    for column in ("tier", "sources", "parallel", "hedge after ms"):
        assert f"<th>{column}</th>" in html


def test_resolution_repr_never_dumps_the_tried_urls():
    """A resolution whose meta lists 5,000 tried URLs still shows a few short lines."""
    tried = [f"https://example.org/candidate/{i}.pdf" for i in range(5000)]
    res = Resolution(run_id="r", work_id="<w&1>", status=ResolutionStatus.NOT_FOUND,
                     reason="no_pdf", meta={"tried": tried})
    html = res._repr_html_()
    assert "candidate/" not in html and len(html) < 1500
    assert "&lt;w&amp;1&gt;" in html and "<w&1>" not in html  # escaped
    assert "not_found" in html and "no_pdf" in html


def test_run_result_repr_shows_a_few_bad_rows(tmp_path):
    result = RunResult(out=tmp_path, run_id="r1", works_total=100, skipped_done=10,
                       resolved_now=60, bad_rows=[f"row {i}: bad" for i in range(500)])
    html = result._repr_html_()
    assert "row 0: bad" in html and "row 3: bad" not in html and "500" in html


def test_run_repr_is_short_whatever_the_run_size(tmp_path):
    run = open_run(write_run_a(tmp_path / "a"))
    html = run._repr_html_()
    assert "60.0%" in html and "run-a" in html
    assert html.count("<tr>") <= 2 * (MAX_ROWS + 2)
    assert "https://" not in html  # no URL of any attempt
