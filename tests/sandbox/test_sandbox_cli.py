"""`fallback-kit sandbox serve` answers real HTTP with a Host header; `corpus` writes works."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fallback_kit.contracts.works import read_works

ROOT = Path(__file__).parent.parent.parent


def test_serve_answers_a_request_with_a_host_header():
    """The served sandbox answers as api.unpaywall.org for a plain HTTP request."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fallback_kit.faces.cli", "sandbox", "serve", "--profile", "mixed",
         "--seed", "7", "--time-scale", "0", "--works", str(ROOT / "sample_works.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = None
        deadline = time.monotonic() + 30
        while base is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            base = found.group(1) if found else None
        assert base is not None, "serve printed no address"
        r = httpx.get(f"{base}/v2/10.1186/1758-2946-3-47", params={"email": "a@b.org"},
                      headers={"Host": "api.unpaywall.org"}, timeout=10)
        assert r.status_code == 200
        assert r.json()["doi"] == "10.1186/1758-2946-3-47"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stdout.close()
        proc.stderr.close()


def test_corpus_writes_readable_synthetic_works(tmp_path):
    """`sandbox corpus` writes synthetic works under the 10.5555 test prefix."""
    out = subprocess.run(
        [sys.executable, "-m", "fallback_kit.faces.cli", "sandbox", "corpus", "--profile", "biomed",
         "--n", "200", "--seed", "1"], capture_output=True, text=True, check=True).stdout
    path = tmp_path / "works.csv"
    path.write_text(out, encoding="utf-8")
    report = read_works(path)
    assert len(report) == 200 and report.errors == []
    assert all(w.doi.startswith("10.5555/") for w in report if w.doi)
    assert sum(1 for w in report if w.pmcid) > 50  # biomed: most works are in PMC
