"""The run store survives SIGKILL: no half-recorded work, and a resume finishes the rest."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fallback_kit.record.store import DB_NAME

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

WRITER = r"""
import sys
from fallback_kit.contracts.events import Attempt, Outcome, Resolution, ResolutionStatus
from fallback_kit.record.store import RunStore

out, n = sys.argv[1], int(sys.argv[2])
store = RunStore.open_or_create(out, plan_yaml="tiers: []\n", meta={"run_id": "crash"})
done = store.done_work_ids()
print("skipping", len(done), flush=True)
for i in range(n):
    wid = f"w{i}"
    if wid in done:
        continue
    k = 1 + i % 4  # 1 to 4 attempts, so a half-written work would show
    for j in range(k):
        store.emit(Attempt(run_id="crash", work_id=wid, tier="t", source=f"s{j}",
                           outcome=Outcome.NO_PDF, t_end_ms=float(j)))
    store.emit(Resolution(run_id="crash", work_id=wid, status=ResolutionStatus.NOT_FOUND,
                          attempts=k))
    if i == len(done):
        print("writing", flush=True)
store.finish()
store.close()
print("done", flush=True)
"""


def start_writer(out: Path, n: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(n)],
                            stdout=subprocess.PIPE, text=True)


def check_consistent(db: Path) -> dict[str, int]:
    """Integrity ok; each resolved work has one resolution and all its attempts; no orphans."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_work = dict(conn.execute("SELECT work_id, count(*) FROM resolutions GROUP BY work_id"))
        assert all(c == 1 for c in per_work.values())
        expected = dict(conn.execute("SELECT work_id, attempts FROM resolutions"))
        found = dict(conn.execute("SELECT work_id, count(*) FROM attempts GROUP BY work_id"))
        assert found == expected  # no orphan attempts, no missing ones
        return expected
    finally:
        conn.close()


def test_sigkill_leaves_whole_works_and_resume_completes(tmp_path: Path) -> None:
    """Killed mid-run (three times), the store holds only whole works; a resumed writer
    then does each remaining work once."""
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    k = 0
    for cycle in range(3):
        delay = rng.uniform(0.02, 0.3)
        proc = start_writer(tmp_path, 10_000_000)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"skipping {k}", f"seed {seed}"
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, f"seed {seed}"

        recorded = check_consistent(tmp_path / DB_NAME)
        assert len(recorded) > k, f"seed {seed}, cycle {cycle}: nothing written in {delay:.3f}s"
        k = len(recorded)
        assert set(recorded) == {f"w{i}" for i in range(k)}, f"seed {seed}"

    total = k + 300
    resumed = start_writer(tmp_path, total)
    stdout, _ = resumed.communicate(timeout=60)
    assert resumed.returncode == 0
    assert stdout.splitlines()[0] == f"skipping {k}"
    final = check_consistent(tmp_path / DB_NAME)
    assert final == {f"w{i}": 1 + i % 4 for i in range(total)}
