"""Tidy answers: `Run.table()` keeps the user's columns and key, `export --table` writes it,
`export --failures` writes the misses in the format the works came in (sandbox runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from fallback_kit.contracts.plan import load_plan
from fallback_kit.contracts.works import read_works
from fallback_kit.faces.api import run_works
from fallback_kit.faces.cli import main
from fallback_kit.insight.stored_run import open_run
from fallback_kit.insight.tidy import ANSWER_COLUMNS
from fallback_kit.web.paper_check import VERDICTS

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ROOT / "tests" / "fixtures" / "inputs"
PLAN = "default"  # the packaged plan


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One sandbox run of the BibTeX library and one of the Zotero CSV, through the CLI."""
    base = tmp_path_factory.mktemp("tidy")
    out = {}
    for name in ("library.bib", "zotero.csv"):
        src = base / name
        shutil.copy(INPUTS / name, src)
        out[name] = base / f"run-{name}"
        extra = ["--download", str(base / "pdfs")] if name == "library.bib" else []
        code = main(["run", str(src), "--plan", str(PLAN), "--out", str(out[name]),
                     "--no-progress", "--time-scale", "0.1", *extra])
        assert code == 0
    return out


def test_table_keeps_every_user_column_and_joins_on_their_key(runs):
    """The Zotero table's 41 columns come back as read, one row per work, keyed by `Key`."""
    table = open_run(runs["zotero.csv"]).table()
    original = pd.read_csv(INPUTS / "zotero.csv", dtype=str, keep_default_na=False)
    good = original[original["Key"] != "D9ZZ0000"].reset_index(drop=True)  # Knuth: no ids
    assert list(table.columns) == [*original.columns, *ANSWER_COLUMNS]
    pd.testing.assert_frame_equal(table[list(original.columns)], good)
    assert table["work_id"].tolist() == good["Key"].tolist()
    joined = good.merge(table[["work_id", "status", "pdf_url"]], left_on="Key",
                        right_on="work_id", validate="one_to_one")
    assert len(joined) == 3 and set(joined["status"]) <= {"resolved", "not_found",
                                                          "budget_exhausted", "error"}


def test_table_answer_columns(runs):
    """Resolved works have a PDF URL, source, tier and latency; misses have a reason."""
    run = open_run(runs["library.bib"])
    table = run.table().set_index("work_id")
    res = run.resolutions.set_index("work_id")
    for wid, row in table.iterrows():
        assert row["status"] == res.loc[wid, "status"]
        assert row["elapsed_ms"] == res.loc[wid, "elapsed_ms"]
        if row["status"] == "resolved":
            assert row["pdf_url"] and row["source"] and row["tier"]
        else:
            assert row["reason"]
    resolved = table[table["status"] == "resolved"]
    assert len(resolved), "the sandbox run resolved nothing"
    # the default plan checks the right paper: each delivered PDF carries its verdict
    assert resolved["right_paper"].isin(VERDICTS).all(), resolved["right_paper"].tolist()


def test_export_failures_writes_the_misses_in_the_input_format(runs, tmp_path, capsys):
    """The misses of a BibTeX run come out as a .bib that reads back as exactly those works."""
    run = open_run(runs["library.bib"])
    missed = run.resolutions.loc[run.resolutions["status"] != "resolved", "work_id"].tolist()
    assert missed  # seed 7 of the sandbox leaves at least one miss
    out = tmp_path / "again.bib"
    assert main(["export", str(runs["library.bib"]), "--failures", "--out", str(out)]) == 0
    assert "as bibtex" in capsys.readouterr().out
    again = read_works(out)
    assert again.format == "bibtex" and [w.work_id for w in again] == missed
    original = {w.work_id: w for w in read_works(INPUTS / "library.bib")}
    assert all(w.identifiers() == original[w.work_id].identifiers() for w in again)
    only = tmp_path / "resolved.bib"
    assert main(["export", str(runs["library.bib"]), "--failures", "--status", "resolved",
                 "--out", str(only)]) == 0
    assert len(read_works(only)) == len(run.resolutions) - len(missed)


def test_export_failures_of_a_zotero_csv_keeps_its_header(runs, tmp_path):
    """A Zotero CSV's misses are a Zotero CSV again (same header, Extra ids, Key as work_id)."""
    out = tmp_path / "fail.csv"
    path, n = open_run(runs["zotero.csv"]).export_failures(out, ["resolved", "not_found"])
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header == (INPUTS / "zotero.csv").read_text(encoding="utf-8").splitlines()[0] \
        .replace('"', "")
    again = read_works(path)
    assert again.key == "Key" and len(again) == n == 3
    assert {w.work_id: w.pmid for w in again}["B3LMN8PQ"] == "29876543"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_table_round_trips(runs, tmp_path, fmt):
    """export --table writes the table; nested cells as JSON text, one type per column."""
    out = tmp_path / f"t.{fmt}"
    assert main(["export", str(runs["library.bib"]), "--table", "--format", fmt,
                 "--out", str(out)]) == 0
    back = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
    table = open_run(runs["library.bib"]).table()
    assert list(back.columns) == list(table.columns)
    assert back["work_id"].tolist() == table["work_id"].tolist()
    assert back["ID"].tolist() == table["ID"].tolist()


def test_run_of_a_work_list_without_columns_shows_identifiers(tmp_path):
    """Works given as a Python list of strings: the table shows the line as written."""
    result = run_works(["10.1000/ABC", "arXiv:2106.01234"], load_plan(PLAN), out=tmp_path / "r",
                       time_scale=0.1, progress=False)
    table = result.open().table()
    assert table["identifier"].tolist() == ["10.1000/ABC", "arXiv:2106.01234"]
    assert table["work_id"].tolist() == ["doi:10.1000/abc", "arxiv:2106.01234"]


def test_a_run_stored_before_the_columns_were_kept_still_resumes_and_tables(tmp_path):
    """A works table without the `columns` column gets it on a writable open."""
    import sqlite3

    from fallback_kit.contracts.works import Work
    from fallback_kit.record.store import RunStore

    store = RunStore.create(tmp_path, plan_yaml="tiers: []", meta={})
    store.add_works([Work(work_id="old", doi="10.1000/old")])
    store.close()
    conn = sqlite3.connect(tmp_path / "run.sqlite")
    conn.execute("ALTER TABLE works DROP COLUMN columns")
    conn.commit()
    conn.close()
    assert open_run(tmp_path).table()["doi"].tolist() == ["10.1000/old"]
    store = RunStore.open(tmp_path)
    store.add_works([Work(work_id="new", doi="10.1000/new", columns={"Key": "new"})])
    store.close()
    table = open_run(tmp_path).table()
    assert table["work_id"].tolist() == ["old", "new"] and table["Key"].tolist()[1] == "new"


def test_export_pdfs_gives_readable_names(runs, tmp_path, capsys):
    """--pdfs DIR --name links each downloaded PDF under a name made from the table."""
    run = open_run(runs["library.bib"])
    files = run.downloads.set_index("work_id")["path"]
    assert len(files) >= 1
    out = tmp_path / "named"
    assert main(["export", str(runs["library.bib"]), "--pdfs", str(out), "--name",
                 "{year} {key}/x:y"]) == 0
    table = run.table().set_index("work_id")
    for wid, path in files.items():
        year = table.loc[wid, "year"]
        year = "" if year is None or year != year else year
        stem = f"{year} {wid}_x_y".strip()  # '/' and ':' made safe
        link = out / f"{stem}.pdf"
        assert link.is_symlink() and link.resolve() == Path(path).resolve()
    copies = tmp_path / "copies"
    assert run.export_pdfs(copies, copy=True) and not any(p.is_symlink()
                                                          for p in copies.iterdir())
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["export", str(runs["library.bib"]), "--pdfs", str(bad), "--name", "{nope}"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err and not bad.exists()
