"""`fallback-kit run --download DIR` survives SIGKILL at random moments: after every
kill each work is recorded at most once and whole, the store stays sound, every file
under a final name in DIR is a whole PDF whose name is its hash, and the last resume
finishes every work."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fallback_kit.sandbox import write_corpus

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

N_WORKS = 500
KILLS_WHILE_WRITING = 20  # each lands after this life of the process wrote a resolution
KILLS_EARLY = 4  # and a few at random in the first second (start-up, store creation)
SEED = 20240607
RUN = ["--no-progress", "--time-scale", "0.02", "--concurrency", "16", "--seed", "7"]


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "works.csv"
    with path.open("w") as f:
        write_corpus(f, profile="mixed", n=N_WORKS, seed=21)
    return path


def _args(works: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fallback_kit.faces.cli", "run", str(works), "--out", str(out),
            "--download", str(out.parent / "pdfs"), *RUN]


def _start(works: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FALLBACK_KIT_PROGRESS": "0"}
    return subprocess.Popen(_args(works, out),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _count(db: Path) -> int:
    """Resolutions in the store now (0 while it does not exist yet)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
        try:
            return int(conn.execute("SELECT count(*) FROM resolutions").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the file is being created: no table yet
        return 0


def _check_store(db: Path) -> dict[str, int]:
    """integrity_check ok; each work at most once per round, its rounds 1, 2, ... (a
    resume redoes `transient` works as a new round); each resolution with all its
    attempts."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        per_work = dict(conn.execute(
            "SELECT work_id, count(*) FROM resolutions GROUP BY work_id"))
        rounds = dict(conn.execute("SELECT work_id, group_concat(round) FROM "
                                   "(SELECT work_id, round FROM resolutions ORDER BY round) "
                                   "GROUP BY work_id"))
        assert all(rounds[w] == ",".join(map(str, range(1, n + 1)))
                   for w, n in per_work.items()), rounds
        claimed = {(w, r): n for w, r, n in conn.execute(
            "SELECT work_id, round, attempts FROM resolutions")}
        stored = {(w, r): n for w, r, n in conn.execute(
            "SELECT work_id, round, count(*) FROM attempts GROUP BY work_id, round")}
        assert {k: n for k, n in claimed.items() if n} == stored  # no orphans, none missing
        known = {r[0] for r in conn.execute("SELECT work_id FROM works")}
        assert set(per_work) <= known
        return per_work
    finally:
        conn.close()


def _check_downloads(pdfs: Path, db: Path) -> int:
    """Every file under a final name (ab/<sha256>.pdf) is whole and named by its hash;
    every manifest row points at such a file. `.part` files are not final names."""
    finals = sorted(pdfs.rglob("*.pdf")) if pdfs.exists() else []
    for path in finals:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert path.name == f"{digest}.pdf" and path.parent.name == digest[:2], path
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), path
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT sha256 FROM downloads").fetchall()
    finally:
        conn.close()
    names = {p.stem for p in finals}
    assert {sha for (sha,) in rows} <= names
    return len(finals)


def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    """24 SIGKILLs of `fallback-kit run`, each followed by a resume; then one resume finishes."""
    works = _corpus(tmp_path)
    out = tmp_path / "run"
    db = out / "run.sqlite"
    rng = random.Random(SEED)
    plan = ["writing"] * KILLS_WHILE_WRITING + ["early"] * KILLS_EARLY
    rng.shuffle(plan)
    kills = {"writing": 0, "early": 0}
    progress: list[int] = []
    files: list[int] = []
    t0 = time.monotonic()
    for how in plan:
        before = _count(db)
        proc = _start(works, out)
        try:
            if how == "early":
                time.sleep(rng.uniform(0.0, 1.0))
            else:
                deadline = time.monotonic() + 30
                while _count(db) <= before and proc.poll() is None:
                    assert time.monotonic() < deadline, "the run wrote nothing for 30 s"
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.25))
            alive = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            proc.stderr.close()
        assert alive, f"the run ended before the kill ({how}): {err[-500:]}"
        assert proc.returncode == -signal.SIGKILL
        kills[how] += 1
        if db.exists():
            progress.append(len(_check_store(db)))
            files.append(_check_downloads(out.parent / "pdfs", db))
    assert kills == {"writing": KILLS_WHILE_WRITING, "early": KILLS_EARLY}
    assert progress == sorted(progress) and progress[-1] < N_WORKS  # resumes add, never drop
    assert files[-1] > 0  # kills landed while PDFs were being written too
    final = subprocess.run(_args(works, out), capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "resumed:" in final.stdout
    done = _check_store(db)
    assert len(done) == N_WORKS  # every work done, once per round (_check_store)
    _check_downloads(out.parent / "pdfs", db)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT status FROM run").fetchone()[0] == "finished"
    finally:
        conn.close()
    assert time.monotonic() - t0 < 120
