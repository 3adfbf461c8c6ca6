"""`fallback-kit stats / compare / export` on the fixed runs of test_store_fixture.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_store_fixture import write_run_a, write_run_b

from fallback_kit.faces.cli import main


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cli_runs")
    return write_run_a(base / "a"), write_run_b(base / "b")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stats_prints_headline_figures(capsys, run_dirs) -> None:
    """stats shows counts, coverage, requests per resolved work and percentiles."""
    code, out, _ = run_cli(capsys, "stats", str(run_dirs[0]))
    assert code == 0
    assert "resolved 3  not_found 1  budget_exhausted 1  error 0" in out
    assert "coverage 60.0%" in out and "requests/resolved 5.0" in out
    assert "p50 210.0 ms  p95 426.0 ms  p99 445.2 ms" in out
    lines = out.splitlines()
    i = lines.index("by tier")
    assert lines[i + 2].split() == ["fast", "5", "2", "40.0%", "40.0%"]
    assert lines[i + 3].split() == ["slow", "2", "1", "20.0%", "60.0%"]


def test_stats_json_by_source(capsys, run_dirs) -> None:
    """--json --by source gives the summary and per-source rows as JSON."""
    code, out, _ = run_cli(capsys, "stats", str(run_dirs[0]), "--by", "source", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"]["coverage"] == 0.6 and data["summary"]["requests"] == 15
    assert data["by"] == "source"
    first = data["table"][0]
    assert (first["source"], first["tries"], first["successes"], first["yield"],
            first["wins"]) == ("unpaywall", 5, 1, 0.2, 1)
    assert first["p95_ms"] == pytest.approx(860.0)


def test_stats_by_reason(capsys, run_dirs) -> None:
    """--by reason ranks failure reasons with their share."""
    code, out, _ = run_cli(capsys, "stats", str(run_dirs[0]), "--by", "reason")
    assert code == 0
    lines = out.splitlines()
    i = lines.index("by reason")
    assert lines[i + 2].split() == ["no_pdf", "no_oa_location", "2", "28.6%"]


def test_stats_by_host_json(capsys, run_dirs) -> None:
    """--by host lists each host's attempts."""
    code, out, _ = run_cli(capsys, "stats", str(run_dirs[0]), "--by", "host", "--json")
    rows = {r["host"]: r for r in json.loads(out)["table"]}
    assert code == 0 and rows["arxiv.org"]["attempts"] == 5 and rows["arxiv.org"]["skipped"] == 1


def test_stats_on_a_missing_run_exits_2_naming_it(capsys, tmp_path) -> None:
    """A RUN that is not there is one line on stderr naming it, exit 2."""
    missing = tmp_path / "nope"
    code, out, err = run_cli(capsys, "stats", str(missing))
    assert code == 2 and out == ""
    assert err.startswith("fallback-kit: error: ") and str(missing) in err
    assert len(err.strip().splitlines()) == 1


def test_stats_on_an_invalid_run_exits_2(capsys, tmp_path) -> None:
    """A run.sqlite that is no database is reported, not a traceback."""
    (tmp_path / "run.sqlite").write_bytes(b"garbage" * 200)
    code, _, err = run_cli(capsys, "stats", str(tmp_path))
    assert code == 2 and "not a run store" in err and str(tmp_path) in err


def test_compare_prints_both_sides(capsys, run_dirs) -> None:
    """compare shows coverage and percentiles side by side and the differing works."""
    code, out, _ = run_cli(capsys, "compare", *map(str, run_dirs))
    assert code == 0
    assert "works in common 5  only in A 0  only in B 1" in out
    assert [line.split() for line in out.splitlines() if line.startswith("p50_ms")] == [
        ["p50_ms", "210.0", "450.0", "+240.0"]]
    assert [line.split() for line in out.splitlines() if line.startswith("coverage")] == [
        ["coverage", "60.0%", "60.0%", "+0.0%"]]
    assert any(line.split()[:3] == ["w1", "only_a", "resolved"] for line in out.splitlines())


def test_compare_json(capsys, run_dirs) -> None:
    """compare --json carries the summary and the differences."""
    code, out, _ = run_cli(capsys, "compare", *map(str, run_dirs), "--json")
    data = json.loads(out)
    assert code == 0
    assert data["summary"]["p99_ms"]["b"] == 793.0
    assert [d["work_id"] for d in data["differences"]] == ["w1", "w4"]
    assert data["differences"][1]["a_source"] is None


def test_compare_with_a_missing_run_exits_2(capsys, run_dirs, tmp_path) -> None:
    """compare names the RUN that is missing."""
    code, _, err = run_cli(capsys, "compare", str(run_dirs[0]), str(tmp_path / "gone"))
    assert code == 2 and str(tmp_path / "gone") in err


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_writes_every_table(capsys, run_dirs, tmp_path, fmt) -> None:
    """export writes one file per table with all rows, readable back by pandas."""
    out_dir = tmp_path / "x"
    code, out, _ = run_cli(capsys, "export", str(run_dirs[0]), "--format", fmt,
                           "--out", str(out_dir))
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(f"{t}.{fmt}" for t in
                           ("run", "works", "attempts", "resolutions", "downloads",
                            "breaker_events"))
    read = {"parquet": pd.read_parquet, "csv": pd.read_csv,
            "jsonl": lambda p: pd.read_json(p, lines=True)}[fmt]
    attempts = read(out_dir / f"attempts.{fmt}")
    assert len(attempts) == 12
    assert attempts["outcome"].astype(str).tolist()[:2] == ["success", "cancelled"]
    assert read(out_dir / f"run.{fmt}")["run_id"].tolist() == ["run-a"]
    assert f"attempts.{fmt}  (12 rows)" in out


def test_export_defaults_into_the_run_directory(capsys, tmp_path) -> None:
    """Without --out the files go to RUN/export."""
    run = write_run_a(tmp_path / "a")
    code, _, _ = run_cli(capsys, "export", str(run), "--format", "csv")
    assert code == 0 and (run / "export" / "resolutions.csv").is_file()


def test_export_of_a_missing_run_exits_2(capsys, tmp_path) -> None:
    """export names the missing RUN."""
    code, _, err = run_cli(capsys, "export", str(tmp_path / "none"), "--format", "csv")
    assert code == 2 and str(tmp_path / "none") in err


def test_compare_shows_counts_as_integers(capsys, run_dirs) -> None:
    """Counts print as integers and a missing source as '-'."""
    code, out, _ = run_cli(capsys, "compare", *map(str, run_dirs))
    lines = [line.split() for line in out.splitlines()]
    assert ["resolved", "3", "3", "+0"] in lines and ["requests", "15", "15", "+0"] in lines
    assert ["w4", "only_b", "not_found", "-", "no", "source", "had", "a", "PDF", "resolved",
            "wayback"] in lines
