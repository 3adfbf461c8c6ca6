"""The kernel's stop button stops `fk.run_works`: a real Jupyter kernel is interrupted
mid-run and must answer within 2 s, leaving the store `interrupted` and resumable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[1]
STOP_WITHIN_S = 2.0

RUN = """
import fallback_kit as fk
works = fk.read_works({works!r})
plan = fk.load_plan({plan!r})
print("started", flush=True)
fk.run_works(works, plan, out={out!r}, time_scale=1.0, concurrency=2, progress=False)
"""


def _plan_path() -> str:
    for candidate in (ROOT / "plans" / "default.yaml",
                      ROOT / "fallback_kit" / "plans" / "default.yaml"):
        if candidate.exists():
            return str(candidate)
    return "default"


def _wait_for_output(kc, text: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = kc.get_iopub_msg(timeout=max(0.1, end - time.monotonic()))
        if msg["msg_type"] == "stream" and text in msg["content"].get("text", ""):
            return
    raise AssertionError(f"the kernel never printed {text!r}")


def _reply_to(kc, msg_id: str, timeout: float) -> dict:
    end = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, end - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


@pytest.mark.slow
def test_interrupting_the_kernel_stops_run_works(tmp_path):
    """Interrupt mid-run: the cell ends with KeyboardInterrupt within 2 s, the store says
    `interrupted`, and the run did not go on to the end."""
    out = tmp_path / "run"
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        code = RUN.format(works=str(ROOT / "sample_works.csv"), plan=_plan_path(), out=str(out))
        msg_id = kc.execute(code)
        _wait_for_output(kc, "started", timeout=60)
        time.sleep(3.0)  # real requests in flight on the sandbox, at real-time delays
        interrupted_at = time.monotonic()
        km.interrupt_kernel()
        reply = _reply_to(kc, msg_id, timeout=30)
        took = time.monotonic() - interrupted_at
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert took <= STOP_WITHIN_S, f"the run took {took:.1f} s to stop"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    with sqlite3.connect(out / "run.sqlite") as db:
        (status,) = db.execute("SELECT status FROM run").fetchone()
        (done,) = db.execute("SELECT count(*) FROM resolutions").fetchone()
    assert status == "interrupted"
    assert done < 104, "the run went on to the end after the interrupt"
