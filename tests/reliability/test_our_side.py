"""Trouble on our side (a full or read-only disk, a dead network) is never a final answer
about a work, and the run store and the downloads stay true whatever happens.

Faults the sandbox does not make are made here: a tmpfs of a few KiB for a full disk
(root only, where `mount` works; skipped elsewhere), a `Path` whose files cannot be
opened for a denied folder, a real refused connection to a closed local port, SQLite's
own "database or disk is full" (`max_page_count`) for the store filling up mid-run.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from fallback_kit.contracts.events import Outcome, ResolutionStatus
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work, read_works
from fallback_kit.engine.batch import Connection, LiveNetwork
from fallback_kit.faces.api import arun_works
from fallback_kit.faces.cli import main
from fallback_kit.faces.networks import SandboxNetwork
from fallback_kit.insight.stored_run import open_run
from fallback_kit.record.store import RunStore, StoreError, run_lock
from fallback_kit.sandbox import Sandbox, World

ROOT = Path(__file__).resolve().parents[2]
WORKS = list(read_works(ROOT / "sample_works.csv").works)[:8]
PLAN = plan_from_dict({
    "name": "ours",
    "budgets": {"total_timeout_ms": 60_000, "per_source_timeout_ms": 20_000},
    "tiers": [{"name": "oa", "parallel": 2, "sources": ["unpaywall", "pmc", "europe_pmc"]},
              {"name": "doi", "sources": ["doi_redirect"]}],
})
SCALE = 0.05


def statuses(out: Path) -> dict[str, str]:
    res = open_run(out).resolutions
    return dict(zip(res["work_id"], res["status"].astype(str), strict=True))


async def sandbox_run(out: Path, **kw: Any) -> Any:
    world = World.build(WORKS, seed=5, faults={"all": 0.0})
    async with Sandbox(world, time_scale=SCALE) as sb:
        return await arun_works(WORKS, PLAN, out=out, time_scale=SCALE, progress=False,
                                transport=sb.transport(), trust_transport=True, **kw)


def assert_transient(out: Path, reason: str) -> None:
    """Every work a source could ask about ended `transient`, its reason naming `reason`."""
    res = open_run(out).resolutions
    asked = res[res["reason"] != "no_source_applicable"]
    assert len(asked) >= len(res) - 1
    assert set(asked["status"].astype(str)) == {"transient"}
    reasons = set(asked["reason"])
    assert any(reason in r for r in reasons), reasons
    # the rest were held back by the breakers that the failures opened
    assert all(reason in r or "breaker_open" in r for r in reasons), reasons


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ToClosedPort(httpx.AsyncBaseTransport):
    """Sends every request to a local port nobody listens on: a real refused connection."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.port = closed_port()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def no_dns(request: httpx.Request) -> httpx.Response:
    """What httpx raises when a name does not resolve (ConnectError from a gaierror)."""
    try:
        raise socket.gaierror(-2, "Name or service not known")
    except socket.gaierror as exc:
        raise httpx.ConnectError(f"[Errno -2] {exc.strerror}", request=request) from exc


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The CLI's network replaced by `state["transport"]` (set by the test)."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def fake_connect(self: Any, works: Any, email: Any, **kw: Any) -> Any:
        async with httpx.AsyncClient(transport=state["transport"]) as client:
            yield Connection(client=client, mode="custom", meta={"network_mode": "custom"},
                             trust_transport=True)

    for network_class in (SandboxNetwork, LiveNetwork):
        monkeypatch.setattr(network_class, "connect", fake_connect)
    return state


def csv_of(tmp_path: Path) -> Path:
    path = tmp_path / "works.csv"
    path.write_text("work_id,doi\n" + "".join(f"{w.work_id},{w.doi}\n" for w in WORKS if w.doi))
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["run", *argv, "--no-progress", "--time-scale", "0.05"])
    _, err = capsys.readouterr()
    return code, err


# ---- 1. trouble on our side is never a final answer -----------------------------------


def test_refused_everywhere_is_transient_exits_1_and_is_retried(tmp_path, capsys, network):
    """Network down (every connection refused): every work `transient`, reason says so,
    exit 1 with a line naming the network; a resume tries every work again."""
    network["transport"] = ToClosedPort()
    out = tmp_path / "run"
    argv = (str(csv_of(tmp_path)), "--plan", "default",
            "--out", str(out))
    code, err = run_cli(capsys, *argv)
    assert code == 1, err
    assert "network" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    got = statuses(out)
    assert_transient(out, "connection_refused")
    sent = network["transport"].sent
    code, err = run_cli(capsys, *argv)
    assert code == 1 and network["transport"].sent > sent  # resumed: tried again
    assert statuses(out) == got


async def test_dns_failure_is_transient_with_its_reason(tmp_path):
    out = tmp_path / "run"
    await arun_works(WORKS, PLAN, out=out, progress=False,
                     transport=httpx.MockTransport(no_dns), trust_transport=True)
    assert_transient(out, "dns_failure")


async def test_5xx_left_after_the_retries_is_transient(tmp_path):
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, request=request)

    await arun_works(WORKS, PLAN, out=tmp_path / "run", progress=False,
                     transport=httpx.MockTransport(busy), trust_transport=True)
    assert_transient(tmp_path / "run", "http_503")


class _DeniedPath(type(Path())):  # type: ignore[misc]
    """A path whose files cannot be opened for writing (EACCES), as in a folder we may
    not write to; root ignores chmod, so the denial is made here."""

    def open(self, mode: str = "r", *args: Any, **kw: Any) -> Any:  # type: ignore[override]
        if "w" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return super().open(mode, *args, **kw)


async def test_denied_download_folder_is_failed_local_and_resume_retries(tmp_path, monkeypatch):
    """Works that found a PDF but could not save it end `failed_local` (never
    `invalid_pdf`/`not_found`); with the folder writable again, a resume saves them."""
    out, pdfs = tmp_path / "run", tmp_path / "pdfs"
    monkeypatch.setattr("fallback_kit.record.downloads.Path", _DeniedPath)
    first = await sandbox_run(out, download_dir=pdfs)
    local = {w for w, s in statuses(out).items() if s == "failed_local"}
    assert local and first.statuses.get("failed_local") == len(local)
    assert "local_permission_denied" in first.reasons["failed_local"]
    att = open_run(out).attempts
    assert not att["reason"].astype(str).str.contains("accept_error").any()
    assert set(att.loc[att["outcome"].astype(str) == "failed_local", "work_id"]) == local
    monkeypatch.undo()
    again = await sandbox_run(out, download_dir=pdfs)
    assert again.reopened == len(local)
    assert {w for w in local if statuses(out)[w] == "resolved"} == local
    with RunStore.open(out, read_only=True) as store:
        assert all(store.download_for(w) is not None for w in local)


@contextmanager
def tiny_disk(kib: int) -> Iterator[Path]:
    """A tmpfs of `kib` KiB: a real full disk. Needs root and mount; skipped otherwise."""
    where = Path(f"/tmp/fk-full-{uuid.uuid4().hex[:8]}")
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs",
                               str(where)], capture_output=True, check=False)
    except OSError:
        done = None
    if done is None or done.returncode != 0:
        where.rmdir()
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


async def test_full_download_disk_is_failed_local(tmp_path):
    """The download folder on a real full disk: `failed_local` with `disk_full`."""
    with tiny_disk(4) as disk:
        (disk / "filler").write_bytes(b"\0" * 4096 * 1)  # nothing left after this
        result = await sandbox_run(tmp_path / "run", download_dir=disk / "pdfs")
    assert result.statuses.get("failed_local"), result.statuses
    assert "local_disk_full" in result.reasons["failed_local"]
    assert "invalid_pdf" not in " ".join(result.reasons.values())


def test_run_exits_1_when_nothing_could_be_written(tmp_path, capsys, monkeypatch):
    """A sandbox run whose download folder is denied: exit 1 with one line saying the works
    could not be saved on our side."""
    monkeypatch.setattr("fallback_kit.record.downloads.Path", _DeniedPath)
    code, err = run_cli(capsys, str(csv_of(tmp_path)), "--plan", "default",
                        "--out", str(tmp_path / "run"),
                        "--download", str(tmp_path / "pdfs"), "--profile", "biomed")
    assert code == 1 and "our side" in err and "Traceback" not in err


def test_retry_failed_reresolves_chosen_statuses(tmp_path, capsys, network):
    """`--retry-failed not_found` tries the not_found works of a run again, as a new
    round (the table shows it, the old one is kept); a plain resume does not; an unknown
    status is exit 2."""
    calls: list[str] = []

    def nothing(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(404, request=request)

    network["transport"] = httpx.MockTransport(nothing)
    out = tmp_path / "run"
    argv = (str(csv_of(tmp_path)), "--plan", "default",
            "--out", str(out))
    assert run_cli(capsys, *argv)[0] == 0
    assert set(statuses(out).values()) == {"not_found"}
    n = len(calls)
    assert run_cli(capsys, *argv)[0] == 0 and len(calls) == n  # final answers stay
    assert run_cli(capsys, *argv, "--retry-failed", "not_found")[0] == 0
    assert len(calls) > n and set(statuses(out).values()) == {"not_found"}
    run = open_run(out)
    works = len(run.work_ids)
    assert len(run.all_resolutions) == 2 * works  # the first round is kept
    assert set(run.table()["round"]) == {2} and run.summary()["not_found"] == works
    assert set(run.attempts["round"]) == {2} and set(run.all_attempts["round"]) == {1, 2}
    m = len(calls)
    assert run_cli(capsys, *argv, "--retry-failed")[0] == 0  # not_found is a default
    assert len(calls) > m and set(open_run(out).table()["round"]) == {3}
    code, err = run_cli(capsys, *argv, "--retry-failed", "bogus")
    assert code == 2 and "not_found" in err
    code, err = run_cli(capsys, str(csv_of(tmp_path)), "--out", str(tmp_path / "new"),
                        "--retry-failed")
    assert code == 2 and "existing run" in err


# ---- 2. the store and the downloads stay true -----------------------------------------


def test_store_filling_up_mid_run_ends_clearly(tmp_path, capsys, monkeypatch):
    """SQLite reports the disk full after the first works: exit 1, one line saying the
    disk is full, the run's status `disk_full`, the file intact with what was written."""
    real = RunStore.open_or_create.__func__  # type: ignore[attr-defined]
    written: list[int] = []

    def filling(cls: type[RunStore], *a: Any, **kw: Any) -> RunStore:
        store = real(cls, *a, **kw)
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        written.append(pages)
        return store

    monkeypatch.setattr(RunStore, "open_or_create", classmethod(filling))
    out = tmp_path / "run"
    code, err = run_cli(capsys, str(csv_of(tmp_path)), "--plan",
                        "default", "--out", str(out))
    assert written and code == 1, err
    assert "disk is full" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    conn = sqlite3.connect(out / "run.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT status FROM run").fetchone()[0] == "disk_full"
    done = conn.execute("SELECT count(*) FROM resolutions").fetchone()[0]
    orphans = conn.execute("SELECT count(*) FROM attempts WHERE work_id NOT IN "
                           "(SELECT work_id FROM resolutions)").fetchone()[0]
    assert done < len(WORKS) and orphans == 0


@pytest.mark.parametrize("kib", [60, 68, 96, 120, 128, 140, 160])
def test_full_disk_at_creation_leaves_no_torn_store(kib):
    """Creating the store on a full disk: a clear StoreError and no run.sqlite, or a
    whole one; never a "malformed" file (the WAL checkpoint at close used to fail
    silently)."""
    with tiny_disk(kib) as disk:
        try:
            RunStore.open_or_create(disk / "run", plan_yaml="name: x\n").close()
        except StoreError as exc:
            assert "disk" in str(exc) or "full" in str(exc), exc
        db = disk / "run" / "run.sqlite"
        if db.exists():
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro&immutable=1", uri=True)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()


def test_run_on_a_full_disk_is_exit_1_with_one_line(tmp_path, capsys, network):
    """`run --out` on a real full disk: one line saying so, exit 1 (our side, not bad
    input), no traceback, no torn store."""
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be sent: {request.url}")

    network["transport"] = httpx.MockTransport(refuse)
    with tiny_disk(60) as disk:
        code, err = run_cli(capsys, str(csv_of(tmp_path)), "--out", str(disk / "run"))
        assert not (disk / "run" / "run.sqlite").exists()
    assert code == 1 and "disk is full" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_second_run_on_the_same_out_ends_at_once(tmp_path, capsys, network):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be sent: {request.url}")

    network["transport"] = httpx.MockTransport(refuse)
    out = tmp_path / "run"
    with run_lock(out):
        code, err = run_cli(capsys, str(csv_of(tmp_path)), "--out", str(out))
    assert code == 2 and "another run is using" in err
    assert not (out / "run.sqlite").exists()
    with run_lock(out):  # released again
        pass


def test_stale_part_files_are_cleaned_at_the_next_run(tmp_path):
    pdfs = tmp_path / "pdfs"
    pdfs.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [pdfs / f".{dead.pid}-0011223344556677.part", pdfs / ".0011223344556677.part"]
    live = pdfs / f".{os.getpid()}-8899aabbccddeeff.part"
    for p in [*stale, live]:
        p.write_bytes(b"%PDF-1.4 half")
    asyncio.run(sandbox_run(tmp_path / "run", download_dir=pdfs))
    assert not any(p.exists() for p in stale)
    assert live.exists()  # a running process's file is left alone


def test_stored_paths_resolve_from_another_cwd(tmp_path, monkeypatch):
    """`--download` relative to the cwd and outside `--out`: the manifest still finds the
    files when the run is opened from elsewhere."""
    work_dir, elsewhere = tmp_path / "a", tmp_path / "b"
    work_dir.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work_dir)
    result = asyncio.run(sandbox_run(Path("run"), download_dir=Path("../pdfs")))
    assert result.statuses.get("resolved")
    monkeypatch.chdir(elsewhere)
    with RunStore.open(work_dir / "run", read_only=True) as store:
        records = [store.download_for(w.work_id) for w in WORKS]
    found = [r for r in records if r is not None]
    assert found and all(Path(r.path).is_file() for r in found)


async def test_the_manifest_records_the_winners_file(tmp_path):
    """Two sources of a tier both download a valid PDF at the same moment; the manifest
    holds the file of the source the Resolution names."""
    from fakes import FakeSource, Step, make_plan

    from fallback_kit.engine.batch import _downloader, _Manifest
    from fallback_kit.engine.orchestrator import Orchestrator
    from fallback_kit.sources.base import SourceResult

    world = World.build(WORKS, seed=5, faults={"all": 0.0})
    urls = [world.truth_for(w.work_id)[s].pdf_url for w in WORKS
            for s in ("pmc", "doi_redirect", "europe_pmc")
            if world.truth_for(w.work_id).get(s) and world.truth_for(w.work_id)[s].pdf_url]
    assert len(set(urls)) >= 2
    a, b = sorted(set(urls))[:2]
    work = Work(work_id="w1", doi="10.1234/abc")
    plan = make_plan([{"name": "t", "parallel": 2, "sources": ["unpaywall", "pmc"]}])
    store = RunStore.create(tmp_path / "run", plan_yaml=plan.to_yaml())
    manifest = _Manifest(store)

    def success(url: str) -> SourceResult:
        return SourceResult(outcome=Outcome.SUCCESS, url=url, requests=1)

    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            accept = _downloader(store, tmp_path / "pdfs", True, manifest,
                                 max_bytes=PLAN.accept.max_pdf_bytes)
            sources = {"unpaywall": FakeSource("unpaywall", [Step(0, success(a))]),
                       "pmc": FakeSource("pmc", [Step(0, success(b))])}
            orch = Orchestrator(plan, client=client, sink=manifest, run_id=store.run_id,
                                sources=sources, accept=accept, trust_transport=True)
            res = await orch.resolve(work)
    assert res.status is ResolutionStatus.RESOLVED
    rec = store.download_for("w1")
    assert rec is not None and rec.source == res.source and rec.url == res.pdf_url
    store.close()



def test_a_redone_work_gets_a_new_round_and_keeps_the_old_one(tmp_path):
    """Resume redoes `transient` works as a new round: a kill before the new Resolution
    leaves the old one as it was; the new one is written beside it, with its attempts,
    and the work is done again."""
    store = RunStore.create(tmp_path, plan_yaml="name: x\n")
    _record(store, "w1", ResolutionStatus.TRANSIENT, 3)
    store.close()
    store = RunStore.open(tmp_path)
    assert store.redo(["transient"]) == 1 and store.done_work_ids() == set()
    store.close()  # killed before the work was done again
    store = RunStore.open(tmp_path)
    assert store.counts()["resolutions"] == 1 and store.counts()["attempts"] == 3
    store.redo(["transient"])
    _record(store, "w1", ResolutionStatus.NOT_FOUND, 2)
    assert store.counts()["resolutions"] == 2 and store.counts()["attempts"] == 5
    assert _rounds(store, "w1") == [(1, "transient", 3), (2, "not_found", 2)]
    assert store.done_work_ids() == {"w1"}
    store.close()


def _record(store: RunStore, work_id: str, status: ResolutionStatus, n: int) -> None:
    """`n` attempts and a Resolution of `work_id`, as the orchestrator emits them."""
    from fallback_kit.contracts.events import Attempt, Resolution

    for i in range(n):
        store.emit(Attempt(run_id=store.run_id, work_id=work_id, tier="t", source=f"s{i}",
                           outcome=Outcome.RETRYABLE, reason="http_503", status=503))
    store.emit(Resolution(run_id=store.run_id, work_id=work_id, status=status, attempts=n))


def _rounds(store: RunStore, work_id: str) -> list[tuple[int, str, int]]:
    """(round, status, attempts stored in that round) of each resolution of a work."""
    names, rows = store.table("resolutions")
    res = [dict(zip(names, r, strict=True)) for r in rows]
    names, rows = store.table("attempts")
    att = [dict(zip(names, r, strict=True)) for r in rows]
    return [(r["round"], r["status"],
             sum(a["work_id"] == work_id and a["round"] == r["round"] for a in att))
            for r in res if r["work_id"] == work_id]


async def test_an_interrupted_retry_run_is_finished_by_a_plain_resume(tmp_path):
    """Through run_works: `retry_statuses=("not_found",)` stopped after two works (a
    KeyboardInterrupt, as the kernel's stop button), then a plain resume: every work ends
    with exactly two rounds, and the store is finished."""
    def nothing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, request=request)

    out = tmp_path / "run"
    kw: dict[str, Any] = dict(out=out, progress=False, trust_transport=True,
                              transport=httpx.MockTransport(nothing), concurrency=1)
    await arun_works(WORKS, PLAN, **kw)
    seen: list[str] = []

    def stop_after_two(resolution: Any) -> None:
        seen.append(resolution.work_id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await arun_works(WORKS, PLAN, retry_statuses=("not_found",),
                         on_resolution=stop_after_two, **kw)
    run = open_run(out)
    assert run.meta["status"] == "interrupted"
    assert sorted(run.table()["round"].value_counts().to_dict().items()) == [
        (1, len(WORKS) - 2), (2, 2)]
    again = await arun_works(WORKS, PLAN, **kw)  # no retry statuses: it finishes the retry
    assert again.reopened == len(WORKS) - 2 and again.skipped_done == 2
    run = open_run(out)
    assert set(run.table()["round"]) == {2} and len(run.all_resolutions) == 2 * len(WORKS)
    assert run.meta["status"] == "finished" and run.retries["ended_at"].notna().all()


def test_a_retry_cut_short_is_resumed_as_the_same_round(tmp_path):
    """`--retry-failed not_found` killed half way: a plain resume finishes that retry
    (its statuses are remembered), without retrying again the works it already did;
    the next retry is a new round."""
    store = RunStore.create(tmp_path, plan_yaml="name: x\n")
    for wid in ("w1", "w2", "w3"):
        _record(store, wid, ResolutionStatus.NOT_FOUND, 1)
    _record(store, "w4", ResolutionStatus.RESOLVED, 1)
    store.finish()
    store.close()
    store = RunStore.open(tmp_path)
    assert store.redo(["not_found", "transient"]) == 3
    _record(store, "w1", ResolutionStatus.NOT_FOUND, 1)  # retried, still not found
    store.finish("interrupted")
    store.close()
    store = RunStore.open(tmp_path)  # a plain resume asks only for transient works
    assert store.redo(["transient", "failed_local"]) == 2
    assert store.done_work_ids() == {"w1", "w4"}
    for wid in ("w2", "w3"):
        _record(store, wid, ResolutionStatus.RESOLVED, 1)
    store.finish()
    assert [_rounds(store, w)[-1][:2] for w in ("w1", "w2", "w3", "w4")] == [
        (2, "not_found"), (2, "resolved"), (2, "resolved"), (1, "resolved")]
    assert store.redo(["not_found"]) == 1 and store.done_work_ids() == {"w2", "w3", "w4"}
    _record(store, "w1", ResolutionStatus.NOT_FOUND, 1)
    assert [r for r, _, _ in _rounds(store, "w1")] == [1, 2, 3]
    names, rows = store.table("retries")
    retries = [dict(zip(names, r, strict=True)) for r in rows]
    assert [json.loads(r["statuses"]) for r in retries] == [
        ["failed_local", "not_found", "transient"], ["not_found"]]
    assert retries[0]["ended_at"] and retries[1]["ended_at"] is None
    store.close()


def test_a_run_killed_while_running_reads_as_interrupted(tmp_path):
    """A run whose process died (or could not record its end on a full disk) is not
    reported as still `running` once nobody holds its directory."""
    out = tmp_path / "run"
    with run_lock(out):
        RunStore.create(out, plan_yaml="name: x\n").close()
        with RunStore.open(out, read_only=True) as store:
            assert store.run_info()["status"] == "running"  # its process is alive
    with RunStore.open(out, read_only=True) as store:
        assert store.run_info()["status"] == "interrupted"


async def test_the_plans_pdf_size_cap_holds_for_downloads(tmp_path):
    """`accept.max_pdf_bytes` caps the download too, not only the right-paper check:
    with the check off the download is the only fetch of the whole file."""
    plan = PLAN.replace(**{"accept.check_paper": False, "accept.max_pdf_bytes": 2000})
    world = World.build(WORKS, seed=5, faults={"all": 0.0})
    async with Sandbox(world, time_scale=SCALE) as sb:
        await arun_works(WORKS, plan, out=tmp_path / "capped", time_scale=SCALE, progress=False,
                         transport=sb.transport(), trust_transport=True,
                         download_dir=tmp_path / "pdfs")
        await arun_works(WORKS, plan.replace(**{"accept.max_pdf_bytes": 100_000_000}),
                         out=tmp_path / "free", time_scale=SCALE, progress=False,
                         transport=sb.transport(), trust_transport=True,
                         download_dir=tmp_path / "pdfs-free")
    sizes = [p.stat().st_size for p in (tmp_path / "pdfs-free").rglob("*") if p.is_file()]
    assert sizes and max(sizes) > 2000  # the sandbox's PDFs are larger than the cap
    assert not [p for p in (tmp_path / "pdfs").rglob("*") if p.is_file()]
