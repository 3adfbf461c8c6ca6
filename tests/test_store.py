"""The run store: one SQLite file per run, a work written all at once, resumable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from fallback_kit.contracts.events import (
    Attempt,
    BreakerEvent,
    Outcome,
    Resolution,
    ResolutionStatus,
)
from fallback_kit.contracts.works import Work
from fallback_kit.record.store import DB_NAME, DownloadRecord, RunStore, StoreError, plan_hash

PLAN = "tiers:\n  - name: fast\n    sources: [unpaywall]\n"
OTHER_PLAN = "tiers:\n  - name: slow\n    sources: [wayback]\n"


def attempt(work_id: str, source: str = "unpaywall", outcome: Outcome = Outcome.NO_PDF) -> Attempt:
    return Attempt(run_id="r1", work_id=work_id, tier="fast", source=source, outcome=outcome,
                   t_start_ms=1.0, t_end_ms=11.5, host="api.unpaywall.org", meta={"k": 1})


def resolution(work_id: str, status: ResolutionStatus = ResolutionStatus.NOT_FOUND) -> Resolution:
    return Resolution(run_id="r1", work_id=work_id, status=status, attempts=2, requests=3)


def raw_count(tmp_path: Path, sql: str) -> int:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def store(tmp_path: Path):
    s = RunStore.create(tmp_path, plan_yaml=PLAN, meta={"run_id": "r1", "mode": "sandbox",
                                                         "profile": "mixed", "seed": 7,
                                                         "time_scale": 0.01, "note": "x"})
    yield s
    s.close()


def test_create_records_the_run_row(store: RunStore) -> None:
    """The run row keeps plan, hash, mode, profile, seed, scale, versions and extras."""
    info = store.run_info()
    assert info["run_id"] == "r1"
    assert info["plan_yaml"] == PLAN
    assert info["plan_hash"] == plan_hash(PLAN)
    assert (info["network_mode"], info["sandbox_profile"], info["sandbox_seed"]) == (
        "sandbox", "mixed", 7)
    assert info["time_scale"] == 0.01
    assert info["status"] == "running" and info["ended_at"] is None
    assert set(info["versions"]) >= {"fallback_kit", "python", "sqlite"}
    assert info["extra"] == {"note": "x"}


def test_store_is_in_wal_mode(store: RunStore, tmp_path: Path) -> None:
    """The file is in WAL mode, so readers never block the writer."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_plan_hash_ignores_line_endings_and_trailing_blanks() -> None:
    """A re-saved plan file (CRLF, trailing spaces) is the same plan."""
    assert plan_hash(PLAN) == plan_hash(PLAN.replace("\n", "  \r\n") + "\n\n")
    assert plan_hash(PLAN) != plan_hash(OTHER_PLAN)


def test_attempts_wait_for_their_resolution(store: RunStore, tmp_path: Path) -> None:
    """Attempts are not on disk until their work's Resolution arrives."""
    store.emit(attempt("w1"))
    store.emit(attempt("w1", "arxiv"))
    assert raw_count(tmp_path, "SELECT count(*) FROM attempts") == 0
    store.emit(resolution("w1"))
    assert raw_count(tmp_path, "SELECT count(*) FROM attempts WHERE work_id='w1'") == 2
    assert raw_count(tmp_path, "SELECT count(*) FROM resolutions") == 1


def test_attempt_fields_round_trip(store: RunStore) -> None:
    """Every Attempt field is stored, meta as JSON, with a seq and its work's round."""
    store.emit(attempt("w1"))
    store.emit(resolution("w1"))
    cols, rows = store.table("attempts")
    row = dict(zip(cols, rows[0], strict=True))
    assert row == {"seq": 1, "run_id": "r1", "work_id": "w1", "tier": "fast",
                   "source": "unpaywall", "outcome": "no_pdf", "reason": "", "url": None,
                   "status": None, "host": "api.unpaywall.org", "retries": 0,
                   "t_start_ms": 1.0, "t_end_ms": 11.5, "bytes": 0, "meta": '{"k": 1}',
                   "round": 1}


def test_interleaved_works_are_kept_apart(store: RunStore) -> None:
    """Attempts of concurrent works are written with their own work only."""
    store.emit(attempt("w1"))
    store.emit(attempt("w2"))
    store.emit(attempt("w1", "arxiv"))
    store.emit(resolution("w2"))
    assert store.done_work_ids() == {"w2"}
    _, rows = store.table("attempts")
    assert [r[2] for r in rows] == ["w2"]
    store.emit(resolution("w1"))
    _, rows = store.table("attempts")
    assert [r[2] for r in rows] == ["w2", "w1", "w1"]


def test_second_resolution_of_a_work_is_refused(store: RunStore) -> None:
    """A work can never get two resolutions; the refused work writes no attempts."""
    store.emit(resolution("w1"))
    store.emit(attempt("w1"))
    with pytest.raises(StoreError, match="'w1' already has a resolution"):
        store.emit(resolution("w1"))
    assert store.counts()["attempts"] == 0
    assert store.counts()["resolutions"] == 1


def test_breaker_events_are_written_at_once(store: RunStore) -> None:
    """Breaker events need no resolution to be stored."""
    store.emit(BreakerEvent(host="doi.org", old="closed", new="open", at_s=3.5, failures=5))
    cols, rows = store.table("breaker_events")
    assert dict(zip(cols, rows[0], strict=True)) == {
        "seq": 1, "host": "doi.org", "old": "closed", "new": "open", "at_s": 3.5, "failures": 5}


def test_close_drops_unresolved_attempts(tmp_path: Path, store: RunStore) -> None:
    """A work cut off before its Resolution leaves nothing behind."""
    store.emit(attempt("w1"))
    store.close()
    reopened = RunStore.open(tmp_path)
    assert reopened.counts()["attempts"] == 0
    reopened.close()


def test_resume_same_plan_keeps_done_works(tmp_path: Path, store: RunStore) -> None:
    """open_or_create with the same plan reopens the run and knows its done works."""
    store.emit(resolution("w1"))
    store.finish()
    store.close()
    again = RunStore.open_or_create(tmp_path, plan_yaml=PLAN, meta={})
    assert again.run_id == "r1"
    assert again.done_work_ids() == {"w1"}
    assert again.run_info()["status"] == "running"
    again.close()


def test_other_plan_is_refused(tmp_path: Path, store: RunStore) -> None:
    """A directory holding a run of another plan is not silently reused."""
    store.close()
    with pytest.raises(StoreError, match="holds a run of another plan; use --force to overwrite"
                       " or choose another --out"):
        RunStore.open_or_create(tmp_path, plan_yaml=OTHER_PLAN, meta={})


def test_force_moves_the_old_run_aside(tmp_path: Path, store: RunStore) -> None:
    """With force the new run starts empty and the old file is kept aside, intact."""
    store.emit(resolution("w1"))
    store.close()
    new = RunStore.open_or_create(tmp_path, plan_yaml=OTHER_PLAN, meta={}, force=True)
    assert new.done_work_ids() == set()
    assert new.plan_hash == plan_hash(OTHER_PLAN)
    new.close()
    aside = list(tmp_path.glob(f"{DB_NAME}.replaced-*"))
    assert len(aside) == 1
    conn = sqlite3.connect(aside[0])
    assert conn.execute("SELECT work_id FROM resolutions").fetchall() == [("w1",)]
    conn.close()


def test_create_over_an_existing_run_is_refused(tmp_path: Path, store: RunStore) -> None:
    """create() never overwrites a run without force."""
    store.close()
    with pytest.raises(StoreError, match="use --force"):
        RunStore.create(tmp_path, plan_yaml=PLAN, meta={})


def test_unwritable_directory_names_the_path(tmp_path: Path) -> None:
    """A run directory that cannot be made gives a StoreError naming it."""
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    target = blocker / "run1"
    with pytest.raises(StoreError, match=str(target)):
        RunStore.create(target, plan_yaml=PLAN, meta={})


def test_open_missing_directory_names_the_path(tmp_path: Path) -> None:
    """Opening a run that is not there names the path."""
    with pytest.raises(StoreError, match=f"{tmp_path / 'nope'}: no such directory"):
        RunStore.open(tmp_path / "nope")


def test_open_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    """A run.sqlite that is not a database gives a StoreError, not a sqlite3 error."""
    (tmp_path / DB_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a run store"):
        RunStore.open(tmp_path)


def test_read_only_store_refuses_writes(tmp_path: Path, store: RunStore) -> None:
    """A read-only store can be read but not written."""
    store.emit(resolution("w1"))
    ro = RunStore.open(tmp_path, read_only=True)
    assert ro.done_work_ids() == {"w1"}
    with pytest.raises(StoreError, match="read-only"):
        ro.emit(resolution("w2"))
    ro.close()


def test_works_are_remembered_once(store: RunStore) -> None:
    """add_works stores identifiers and ignores works already known."""
    works = [Work(work_id="a", doi="10.1/x"), Work(work_id="b", pmcid="PMC1")]
    assert store.add_works(works) == 2
    assert store.add_works(works) == 0
    assert store.work_ids() == ["a", "b"]
    cols, rows = store.table("works")
    assert dict(zip(cols, rows[1], strict=True))["pmcid"] == "PMC1"


def test_download_manifest_resolves_relative_paths(tmp_path: Path, store: RunStore) -> None:
    """A PDF inside the run dir is stored relative and returned absolute."""
    pdf = tmp_path / "pdfs" / "ab" / "abc.pdf"
    store.record_download(DownloadRecord(work_id="w1", sha256="abc", bytes=10, path=str(pdf),
                                         source="arxiv", url="https://arxiv.org/pdf/1"))
    _, rows = store.table("downloads")
    assert rows[0][5] == str(Path("pdfs/ab/abc.pdf"))
    rec = store.download_for("w1")
    assert rec is not None and rec.path == str(pdf) and rec.source == "arxiv" and rec.at
    assert store.download_for("w2") is None


def test_finish_stamps_the_end(store: RunStore) -> None:
    """finish() sets status and ended_at."""
    store.finish("interrupted")
    info = store.run_info()
    assert info["status"] == "interrupted" and info["ended_at"]


def test_ten_thousand_works_write_quickly(tmp_path: Path) -> None:
    """10,000 works x 4 attempts, one transaction per work, take a few CPU seconds at most
    (a guard against a quadratic slip; the speed target lives in benchmarks/)."""
    s = RunStore.create(tmp_path, plan_yaml=PLAN, meta={})
    t0 = time.process_time()
    for i in range(10_000):
        wid = f"w{i}"
        for src in ("a", "b", "c", "d"):
            s.emit(attempt(wid, src))
        s.emit(resolution(wid))
    elapsed = time.process_time() - t0
    assert s.counts()["attempts"] == 40_000
    s.close()
    assert elapsed < 5.0, f"took {elapsed:.2f}s"


def test_store_and_downloads_do_not_import_pandas() -> None:
    """The core stays light: importing the store and downloads pulls in no pandas."""
    import subprocess
    import sys

    code = ("import sys, fallback_kit.record.store, fallback_kit.record.downloads; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
