"""A store written before rounds existed (schema 1, fallback_kit up to the merge of
issue 15's first part) still opens: read-only it reads as round 1, opened for writing it
is migrated in one transaction, and a retry then adds round 2 beside the old record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fallback_kit.contracts.events import Attempt, Outcome, Resolution, ResolutionStatus
from fallback_kit.insight.stored_run import open_run
from fallback_kit.record.store import DB_NAME, SCHEMA_VERSION, RunStore, StoreError, plan_hash

PLAN = "tiers:\n  - name: fast\n    sources: [unpaywall]\n"

#: the schema 1 of record/store.py as shipped at commit e607065 (what old stores hold)
SCHEMA_V1 = """
CREATE TABLE run (
    id INTEGER PRIMARY KEY CHECK (id = 1), run_id TEXT NOT NULL, plan_yaml TEXT NOT NULL,
    plan_hash TEXT NOT NULL, network_mode TEXT, sandbox_profile TEXT, sandbox_seed INTEGER,
    time_scale REAL, versions TEXT NOT NULL DEFAULT '{}', works_source TEXT,
    started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}');
CREATE TABLE attempts (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, work_id TEXT NOT NULL, tier TEXT NOT NULL,
    source TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', url TEXT,
    status INTEGER, host TEXT, retries INTEGER NOT NULL DEFAULT 0,
    t_start_ms REAL NOT NULL DEFAULT 0, t_end_ms REAL NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0, meta TEXT NOT NULL DEFAULT '{}');
CREATE INDEX attempts_work ON attempts (work_id);
CREATE TABLE resolutions (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, work_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL, pdf_url TEXT, source TEXT, tier TEXT,
    elapsed_ms REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',
    meta TEXT NOT NULL DEFAULT '{}');
CREATE TABLE breaker_events (
    seq INTEGER PRIMARY KEY, host TEXT NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL,
    at_s REAL NOT NULL, failures INTEGER NOT NULL DEFAULT 0);
CREATE TABLE works (
    work_id TEXT PRIMARY KEY, doi TEXT, arxiv_id TEXT, pmcid TEXT, pmid TEXT, title TEXT,
    landing_url TEXT, kind TEXT, columns TEXT NOT NULL DEFAULT '{}');
CREATE TABLE downloads (
    work_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, source TEXT,
    url TEXT, path TEXT NOT NULL, version TEXT, license TEXT, at TEXT NOT NULL);
CREATE INDEX downloads_sha256 ON downloads (sha256);
PRAGMA user_version = 1;
"""


def _old_store(directory: Path) -> Path:
    """A finished run of schema 1: w1 resolved, w2 not found, two attempts each."""
    directory.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(directory / DB_NAME) as db:
        db.executescript(SCHEMA_V1)
        db.execute("INSERT INTO run (id, run_id, plan_yaml, plan_hash, started_at, ended_at,"
                   " status) VALUES (1, 'old', ?, ?, '2026-12-01T00:00:00+00:00',"
                   " '2026-12-01T00:01:00+00:00', 'finished')", (PLAN, plan_hash(PLAN)))
        for wid, status in (("w1", "resolved"), ("w2", "not_found")):
            db.execute("INSERT INTO works (work_id, doi) VALUES (?, ?)", (wid, f"10.1/{wid}"))
            for source in ("unpaywall", "arxiv"):
                db.execute("INSERT INTO attempts (run_id, work_id, tier, source, outcome)"
                           " VALUES ('old', ?, 'fast', ?, 'no_pdf')", (wid, source))
            db.execute("INSERT INTO resolutions (run_id, work_id, status, source, tier)"
                       " VALUES ('old', ?, ?, ?, 'fast')",
                       (wid, status, "unpaywall" if status == "resolved" else None))
    db.close()
    return directory


def _version(directory: Path) -> int:
    with sqlite3.connect(directory / DB_NAME) as db:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    db.close()
    return version


def test_an_old_store_reads_as_round_1_without_being_changed(tmp_path):
    """Read-only (open_run, `stats`, `report`): every row is round 1, no retries, and the
    file stays at schema 1."""
    old = _old_store(tmp_path / "old")
    run = open_run(old)
    assert list(run.resolutions["round"]) == [1, 1] and set(run.attempts["round"]) == {1}
    assert list(run.table()["round"]) == [1, 1] and run.retries.empty
    assert run.summary()["resolved"] == 1
    assert _version(old) == 1


def test_an_old_store_is_migrated_on_resume_and_retried_as_round_2(tmp_path):
    """Opened for writing it becomes schema 2 with every row kept as round 1; a retry of
    its not_found work writes round 2 beside round 1."""
    old = _old_store(tmp_path / "old")
    store = RunStore.open_or_create(old, plan_yaml=PLAN)
    assert _version(old) == SCHEMA_VERSION == 2
    assert store.redo(["not_found"]) == 1 and store.done_work_ids() == {"w1"}
    store.emit(Attempt(run_id="old", work_id="w2", tier="fast", source="unpaywall",
                       outcome=Outcome.SUCCESS))
    store.emit(Resolution(run_id="old", work_id="w2", status=ResolutionStatus.RESOLVED,
                          source="unpaywall", tier="fast"))
    store.finish()
    store.close()
    run = open_run(old)
    assert run.all_resolutions[["work_id", "round", "status"]].astype(str).values.tolist() == [
        ["w1", "1", "resolved"], ["w2", "1", "not_found"], ["w2", "2", "resolved"]]
    assert dict(zip(run.table()["work_id"], run.table()["round"], strict=True)) == {
        "w1": 1, "w2": 2}
    assert len(run.all_attempts) == 5 and len(run.attempts) == 3


def test_a_store_of_a_later_schema_is_refused_in_one_line(tmp_path):
    """A store written by a newer fallback_kit: one StoreError naming the versions."""
    old = _old_store(tmp_path / "new")
    with sqlite3.connect(old / DB_NAME) as db:
        db.execute("PRAGMA user_version = 9")
    db.close()
    with pytest.raises(StoreError, match="schema version 9, this fallback_kit reads 1 and 2"):
        RunStore.open(old)


def test_a_retry_writes_each_reopened_work_once_and_no_other(tmp_path):
    """In a retry, a second resolution of a work already redone in this session is
    refused, and so is one of a work the retry did not reopen (its status not asked)."""
    old = _old_store(tmp_path / "old")
    store = RunStore.open_or_create(old, plan_yaml=PLAN)
    assert store.redo(["not_found"]) == 1
    again = Resolution(run_id="old", work_id="w2", status=ResolutionStatus.NOT_FOUND)
    store.emit(again)  # round 2 of the not_found work
    with pytest.raises(StoreError, match="'w2' already has a resolution in this run"):
        store.emit(again)
    with pytest.raises(StoreError, match="'w1' already has a resolution in this run"):
        store.emit(Resolution(run_id="old", work_id="w1", status=ResolutionStatus.RESOLVED))
    store.close()


def test_an_old_store_shows_an_empty_retries_table_with_the_new_ones_columns(tmp_path):
    """Read-only, a schema 1 store has no retries table: it reads as an empty one with
    exactly the columns a new store's table has."""
    old = _old_store(tmp_path / "old")
    fresh = RunStore.create(tmp_path / "new", plan_yaml=PLAN)
    with RunStore.open(old, read_only=True) as store:
        assert store.table("retries") == (fresh.table("retries")[0], [])
    fresh.close()


def test_a_schema_2_store_without_its_retries_table_is_refused(tmp_path):
    d = tmp_path / "run"
    RunStore.create(d, plan_yaml=PLAN).close()
    with sqlite3.connect(d / DB_NAME) as db:
        db.execute("DROP TABLE retries")
    with pytest.raises(StoreError, match="missing table retries"):
        RunStore.open(d, read_only=True)
