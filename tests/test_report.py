"""The coverage report, rendered from a sandbox run of a Zotero CSV (issue 15 section 5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import fallback_kit as fk
from fallback_kit.faces.cli import main
from fallback_kit.insight.stored_run import open_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report")
    src = base / "zotero.csv"
    shutil.copy(ROOT / "tests" / "fixtures" / "inputs" / "zotero.csv", src)
    out = base / "run"
    assert main(["run", str(src), "--plan", "default", "--out",
                 str(out), "--no-progress", "--time-scale", "0.1"]) == 0
    return out


def test_report_sections_and_figures(run_dir):
    """Every section is there, and the figures are the run's own."""
    run = open_run(run_dir)
    s = run.summary_dict()
    md = fk.report(run).markdown()
    for heading in ("Summary", "Coverage by tier", "Coverage by source",
                    "Coverage by publication year", "Coverage by publisher",
                    "Version, licence and right-paper verdicts", "Why works were not resolved",
                    "Failed attempts by reason", "Methods"):
        assert f"\n## {heading}\n" in md
    assert f"| resolved | {s['resolved']} |" in md
    assert f"| coverage (resolved / done) | {s['coverage']:.1%} |" in md
    # the year and publisher come from Zotero's own columns
    assert "| 'Publication Year' (works file) |" in md and "| 2018 | 1 | 1 |" in md
    assert "'Publication Title' (works file)" in md and "| Malaria Journal |" in md


def test_methods_paragraph_says_plan_date_version_sources_politeness_and_network(run_dir):
    run = open_run(run_dir)
    text = fk.report(run).markdown().split("## Methods\n\n", 1)[1]
    assert f"fallback_kit {run.meta['versions']['fallback_kit']}" in text
    assert str(run.meta["started_at"])[:10] in text
    assert "first unpaywall and arxiv and pmc" in text and "then wayback" in text
    assert "simulated scholarly web" in text and "not a measurement of the real web" in text
    assert "api.unpaywall.org 10/s" in text and "web.archive.org 1/s" in text
    assert "Unpaywall v2" in text  # the source described


def test_cli_report_html_and_md(run_dir, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<h2>Methods</h2>" in html
    assert "<table" in html and "<script" not in html
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith("# Coverage report: run ")


def test_cli_report_missing_run_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_year_publisher_version_and_licence_come_from_the_sources(tmp_path):
    """A bare list of DOIs has no columns: year and publisher come from what Unpaywall said,
    and its winning location's version and licence fill the table."""
    dois = [line.split(",")[1] for line in
            (ROOT / "sample_works.csv").read_text(encoding="utf-8").splitlines()[1:12]
            if line.split(",")[1]]
    result = fk.run_works(dois, fk.load_plan("default"),
                          out=tmp_path / "r", progress=False, time_scale=0.1)
    run = result.open()
    md = fk.report(run).markdown()
    year = md.split("## Coverage by publication year\n\n", 1)[1].split("\n## ", 1)[0]
    assert year.startswith("| the sources' metadata |") and "| 20" in year
    publisher = md.split("## Coverage by publisher\n\n", 1)[1].split("\n## ", 1)[0]
    assert publisher.startswith("| the sources' metadata |")
    table = run.table()
    by_unpaywall = table[table["source"] == "unpaywall"]
    assert len(by_unpaywall) >= 1
    assert set(by_unpaywall["version"]) <= {"publishedVersion", "acceptedVersion",
                                            "submittedVersion"}
    assert by_unpaywall["version"].notna().all()
