"""Run `fallback-kit sandbox serve` in a child process on 127.0.0.1, so that the client's
CPU is measured on its own; stop it (SIGINT, then SIGKILL) within a bounded time."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

_ADDR = re.compile(r" on http://127\.0\.0\.1:(\d+) ")


class SandboxProcess:
    """`with SandboxProcess(csv, profile=..., seed=..., time_scale=...) as sb: sb.port`."""

    def __init__(self, works_csv: Path, *, profile: str, seed: int, time_scale: float,
                 faults: dict[str, float] | None = None,
                 startup_timeout_s: float = 300.0) -> None:
        if faults:  # the CLI has no fault overrides: the benchmark's own serve script
            self.cmd = [sys.executable, str(Path(__file__).with_name("_serve.py")),
                        "--faults", json.dumps(faults)]
        else:
            self.cmd = [sys.executable, "-m", "fallback_kit.faces.cli", "sandbox", "serve",
                        "--port", "0"]
        self.cmd += ["--works", str(works_csv), "--profile", profile, "--seed", str(seed),
                     "--time-scale", repr(float(time_scale))]
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self.pid: int | None = None

    def __repr__(self) -> str:
        return f"<SandboxProcess pid={self.pid} port={self.port}>"

    def start(self) -> SandboxProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # stderr goes to a file: a pipe nobody drains would stall a chatty server
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, env=env, start_new_session=True)
        self.pid = self.proc.pid
        found: list[int] = []
        done = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                m = _ADDR.search(line)
                if m and not found:
                    found.append(int(m.group(1)))
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(self.startup_timeout_s) or not found:
            self._stderr.seek(0)
            err = self._stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"sandbox process did not start: {err.strip()[-500:]}")
        self.port = found[0]
        return self

    def cpu_seconds(self) -> float | None:
        """User+system CPU of the server process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick

    def stop(self, timeout_s: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._stderr.close()
        self.proc = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        time.sleep(0)
        self.stop()
