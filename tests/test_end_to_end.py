"""The whole chain on the sandbox: real HTTP on loopback, checked against the World's truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from fallback_kit import load_plan, read_works, run_works
from fallback_kit.contracts.events import RETRIED_ON_RESUME
from fallback_kit.faces.cli import main

ROOT = Path(__file__).parent.parent
UNLIMITED = {"per_second": 1000, "burst": 50}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The default plan on sample_works.csv, with the archive's rate limit lifted so that
    the ideal replay (which has no rate limits) is the right yardstick."""
    plan = load_plan("default", env={}, overrides={
        "politeness.rate_limits": {"web.archive.org": UNLIMITED, "archive.org": UNLIMITED}})
    out = tmp_path_factory.mktemp("e2e") / "run"
    result = run_works(read_works(ROOT / "sample_works.csv"), plan, out=out, time_scale=0.1,
                       concurrency=8, progress=False, seed=7)
    return result


def test_every_reachable_work_is_resolved_and_no_false_pdf(sample_run):
    """Coverage equals what the truth says the plan can reach; no resolution is a false PDF."""
    check = sample_run.truth_check
    assert check["works"] == 104
    assert check["reachable_by_plan"] > 50
    assert check["missed"] == {}
    assert check["false_pdfs"] == []
    assert check["resolved"] == check["reachable_by_plan"]


def test_every_work_recorded_once(sample_run):
    """The store holds one resolution per work and the attempts of each."""
    run = sample_run.open()
    assert sorted(run.resolutions["work_id"]) == sorted(run.works["work_id"])
    assert run.resolutions["work_id"].is_unique
    assert set(run.attempts["work_id"]) <= set(run.works["work_id"])


def test_resume_tries_nothing_again(sample_run):
    """Running again on the same out resolves nothing twice: only the works that got
    no answer (transient, failed_local) are tried again."""
    before = sample_run.open().resolutions
    plan = sample_run.open().plan
    retried = set(before.loc[before["status"].astype(str).isin(
        [str(s) for s in RETRIED_ON_RESUME]), "work_id"])
    again = run_works(read_works(ROOT / "sample_works.csv"), plan, out=sample_run.out,
                      time_scale=0.1, progress=False, seed=7)
    assert again.reopened == len(retried)
    assert again.skipped_done == 104 - len(retried)
    assert {r.work_id for r in again.resolutions} == retried
    assert again.run_id == sample_run.run_id


def test_another_plan_on_the_same_out_is_refused(sample_run, capsys):
    """`run --out` holding a run of another plan exits 2 unless --force."""
    code = main(["run", str(ROOT / "sample_works.csv"), "--out", str(sample_run.out),
                 "--plan", "fast", "--no-progress"])
    assert code == 2
    assert "holds a run of another plan; use --force" in capsys.readouterr().err
