"""The main job: resolve a table of works with a plan, into a run store, on the sandbox
or the live web, with a progress bar. The CLI's `run`, the notebooks and the
benchmarks all go through `run_works`, so they behave the same.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ..contracts.events import RETRIED_ON_RESUME, Event, EventSink, Resolution
from ..contracts.plan import Plan
from ..contracts.works import Work, WorksReport, read_works
from ..web.edge import Fetcher, NetSettings
from ..web.gates import Gates
from .orchestrator import Orchestrator

__all__ = ["RunFailed", "RunResult", "arun_works", "default_out_dir", "run_works"]

NETWORKS = ("sandbox", "live")


@dataclass(slots=True)
class RunResult:
    """Where a run went and what it did this time (the store holds everything)."""

    out: Path
    run_id: str
    works_total: int
    skipped_done: int
    resolved_now: int
    resolutions: list[Resolution] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)
    truth_check: dict[str, Any] | None = None
    #: how the works of this run ended, by status, with the first reason of each
    statuses: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    reopened: int = 0

    def count(self, resolution: Resolution) -> None:
        status = str(resolution.status)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.reasons.setdefault(status, resolution.reason)

    def open(self) -> Any:
        """The run as DataFrames (`fallback_kit.open_run`)."""
        from ..insight.stored_run import open_run

        return open_run(self.out)


class RunFailed(Exception):
    """The run could not go on because of our side (the run store cannot be written);
    every finished work is kept and the run's status says what happened."""


class _Tee:
    """An EventSink that forwards every event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def default_out_dir(plan: Plan) -> Path:
    """`runs/<plan name>-<UTC time>`; the name is made a plain file name first, so that
    an absolute name or one with `..` never steers the run outside `runs/`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", plan.name).strip("._-")[:80] or "plan"
    return Path("runs") / f"{name}-{stamp}"


def progress_enabled(flag: bool | None = None) -> bool:
    if flag is not None:
        return flag
    return os.environ.get("FALLBACK_KIT_PROGRESS", "1").strip().lower() not in ("0", "false", "no")


@contextmanager
def _progress(total: int, enabled: bool, desc: str) -> Iterator[Callable[[Resolution], None]]:
    if not enabled:
        yield lambda r: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="work", leave=True)
    counts = {"resolved": 0}

    def step(resolution: Resolution) -> None:
        counts["resolved"] += resolution.resolved
        bar.update(1)
        bar.set_postfix(found=counts["resolved"], refresh=False)

    try:
        yield step
    finally:
        bar.close()


@asynccontextmanager
async def _network(
    network: str,
    works: Sequence[Work],
    *,
    profile: str,
    seed: int,
    time_scale: float,
    email: str | None,
    transport: httpx.AsyncBaseTransport | None,
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    from ..web.client import make_client
    from ..web.edge import NetSettings

    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {network!r}")
    if transport is not None:
        async with make_client(NetSettings(live=False, email=email), transport=transport) as c:
            yield c, {"network_mode": "custom", "time_scale": time_scale}
        return
    if network == "live":
        async with make_client(NetSettings(live=True, email=email)) as client:
            yield client, {"network_mode": "live", "time_scale": 1.0}
        return
    from ..sandbox import Sandbox, World

    world = World.build(list(works), profile=profile, seed=seed)
    sandbox = Sandbox(world, time_scale=time_scale)
    await asyncio.to_thread(sandbox.start)
    try:
        async with make_client(
            NetSettings(live=False, email=email), transport=sandbox.transport()
        ) as client:
            yield (
                client,
                {
                    "network_mode": "sandbox",
                    "sandbox_profile": profile,
                    "sandbox_seed": seed,
                    "time_scale": time_scale,
                    "_world": world,
                },
            )
    finally:
        await asyncio.to_thread(sandbox.stop)


async def arun_works(
    works: str | Path | Sequence[Work] | WorksReport | Any,
    plan: Plan,
    *,
    out: str | Path | None = None,
    network: str = "sandbox",
    profile: str = "mixed",
    seed: int = 7,
    time_scale: float = 0.1,
    concurrency: int = 16,
    force: bool = False,
    progress: bool | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sink: EventSink | None = None,
    on_resolution: Callable[[Resolution], None] | None = None,
    download_dir: str | Path | None = None,
    demote_failed_downloads: bool = True,
    keep_resolutions: bool = True,
    retry_statuses: Sequence[str] = (),
) -> RunResult:
    """Resolve `works` (CSV path, DataFrame or Works) with `plan` into the store at `out`.

    Resumes when `out` holds a run of the same plan: works already resolved there are
    not tried again. On the sandbox, `time_scale` shrinks every delay (and the plan's
    durations with it); recorded times stay in World milliseconds.

    With `download_dir`, each winning PDF is streamed into content-addressed storage
    there and validated whole; a file that fails validation demotes the success to
    `invalid_pdf` and the plan goes on to the next candidate (unless
    `demote_failed_downloads=False`, which keeps the success and only skips the file).

    A resume resolves again the works that ended `failed_local` or `transient` (no
    answer about the work), and those of `retry_statuses` too. One run at a time per
    `out` (a lock): a second one raises StoreError at once.
    """
    from ..record.downloads import clean_stale_parts
    from ..record.store import RunStore, StoreWriteError

    report = _as_report(works)
    all_works = list(report.works)
    out_dir = Path(out) if out is not None else default_out_dir(plan)
    scale = time_scale if network == "sandbox" or transport is not None else 1.0
    # the contact email is the user's, not the plan's: keep it out of the store
    stored = plan.replace(**{"politeness.email": None}) if plan.politeness.email else plan
    RunStore.check_target(out_dir, plan_yaml=stored.to_yaml(), force=force)
    async with _locked(out_dir), _network(
        network,
        all_works,
        profile=profile,
        seed=seed,
        time_scale=scale,
        email=plan.politeness.email,
        transport=transport,
    ) as (client, meta):
        world = meta.pop("_world", None)
        meta = {**meta, "works_source": report.source, "plan_name": plan.name}
        store = RunStore.open_or_create(out_dir, plan_yaml=stored.to_yaml(), meta=meta,
                                        force=force)
        try:
            store.add_works(all_works)
            reopened = store.redo(RETRIED_ON_RESUME | set(retry_statuses))
            done = store.done_work_ids()
            todo = [w for w in all_works if w.work_id not in done]
            manifest = _Manifest(store)
            sinks: list[EventSink] = [manifest] + ([sink] if sink is not None else [])
            accept = None
            if download_dir is not None:
                clean_stale_parts(download_dir)
                guard = None
                if meta["network_mode"] == "live":  # every download hop passes the SSRF guard
                    guard = Fetcher(client, gates=Gates(), settings=NetSettings(
                        live=True, email=plan.politeness.email)).check_public_url
                accept = _downloader(client, store, Path(download_dir), demote_failed_downloads,
                                     guard, manifest)
            orch = Orchestrator(
                plan,
                client=client,
                sink=_Tee(*sinks),
                time_scale=scale,
                run_id=store.run_id,
                live=meta["network_mode"] == "live",
                accept=accept,
            )
            result = RunResult(
                out=out_dir,
                run_id=store.run_id,
                works_total=len(all_works),
                skipped_done=len(all_works) - len(todo),
                resolved_now=0,
                bad_rows=[str(e) for e in report.errors],
                reopened=reopened,
            )
            with _progress(len(todo), progress_enabled(progress), plan.name) as step:
                async for resolution in orch.resolve_many(todo, concurrency=concurrency):
                    if keep_resolutions:  # the store has them all; large runs need not
                        result.resolutions.append(resolution)
                    result.resolved_now += resolution.resolved
                    result.count(resolution)
                    step(resolution)
                    if on_resolution is not None:
                        on_resolution(resolution)
            store.finish()
            if world is not None and len(all_works) <= TRUTH_CHECK_MAX_WORKS:
                result.truth_check = truth_check(world, plan, out_dir)
        except StoreWriteError as exc:  # our disk: end clearly, keep what is written
            _finish_quietly(store, "disk_full" if exc.errno == errno.ENOSPC else "failed",
                            str(exc))
            raise RunFailed(str(exc)) from None
        except BaseException:
            _finish_quietly(store, "interrupted", "")
            raise
        finally:
            store.close()
    return result


TRUTH_CHECK_MAX_WORKS = 20_000


def truth_check(world: Any, plan: Plan, out: Path) -> dict[str, Any]:
    """Compare a sandbox run with the World's ground truth: how many works the plan can
    reach (the truth replayed under the plan, without overhead or rate limits), how many
    of those were resolved, and how many resolutions are not a valid PDF of the work."""
    from ..insight.stored_run import open_run
    from .replay import models_from_truth, replay

    truths = world.truth(ignoring_robots=plan.sources_ignoring_robots)
    ideal = {r.work_id: r for r in replay(plan, models_from_truth(truths))}
    valid: dict[str, set[str]] = {}
    for t in truths:
        if t.holds_pdf and t.pdf_url:
            valid.setdefault(t.work_id, set()).add(t.pdf_url)
    run = open_run(out)
    res = run.resolutions
    attempts = run.attempts
    resolved = res[res["status"].astype(str) == "resolved"]
    reachable = {w for w, r in ideal.items() if r.status == "resolved"}
    false_pdfs = []
    for row in resolved.itertuples():
        meta = row.meta if isinstance(row.meta, dict) else {}
        final = meta.get("final_url") or row.pdf_url
        if final not in valid.get(row.work_id, ()) and row.pdf_url not in valid.get(
            row.work_id, ()
        ):
            false_pdfs.append(row.work_id)
    found = set(resolved["work_id"])
    def why(work_id: str) -> str:
        """What happened to the source that would have won in the ideal replay."""
        source = ideal[work_id].source
        rows = attempts[(attempts["work_id"] == work_id) & (attempts["source"] == source)]
        if rows.empty:
            return f"{source}: not tried"
        last = rows.iloc[-1]
        return f"{source}: {last['outcome']} {last['reason']}".strip()

    return {
        "works": len(ideal),
        "reachable_by_plan": len(reachable),
        "resolved": len(found),
        "resolved_of_reachable": len(found & reachable),
        "missed": {w: why(w) for w in sorted(reachable - found)},
        "false_pdfs": sorted(false_pdfs),
    }


@asynccontextmanager
async def _locked(out_dir: Path) -> AsyncIterator[None]:
    """Hold `out_dir`'s run lock for the whole run (record.store.run_lock)."""
    from ..record.store import run_lock

    with run_lock(out_dir):
        yield


def _finish_quietly(store: Any, status: str, reason: str) -> None:
    """Stamp the run's end status; on a full disk even that may fail: then the status
    stays `running` and the lock, free again, tells a later run it was cut short."""
    try:
        store.finish(status, reason)
    except Exception:
        pass


class _Manifest:
    """The store as the run's sink, recording the download of a work's winner just
    before its Resolution (never a losing sibling's file, never a file without it)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.pending: dict[tuple[str, str], Any] = {}

    def emit(self, event: Event) -> None:
        if isinstance(event, Resolution):
            kept = {k: v for k, v in self.pending.items() if k[0] == event.work_id}
            for key in kept:
                del self.pending[key]
            record = kept.get((event.work_id, event.source or "")) if event.resolved else None
            if record is not None:
                self.store.record_download(record)
        self.store.emit(event)


def _downloader(
    client: httpx.AsyncClient, store: Any, dest: Path, demote: bool,
    guard: Callable[[str], Any] | None = None, manifest: _Manifest | None = None,
) -> Callable[[Work, str, Any], Any]:
    """The orchestrator's accept hook: download and validate a success's file; the
    manifest records it if this source wins."""
    from ..record.downloads import download_for_work
    from ..record.store import DownloadRecord

    async def accept(work: Work, source: str, result: Any) -> str | None:
        meta = result.meta or {}
        outcome = await download_for_work(
            client,
            store,
            work_id=work.work_id,
            url=meta.get("final_url") or result.url,
            dest_dir=dest,
            source=source,
            version=meta.get("version"),
            license=meta.get("license"), guard=guard, record=manifest is None,
        )
        if (manifest is not None and outcome.ok and outcome.path is not None
                and outcome.sha256 is not None and outcome.reason != "already_downloaded"):
            manifest.pending[(work.work_id, source)] = DownloadRecord(
                work_id=work.work_id, sha256=outcome.sha256, bytes=outcome.bytes,
                path=str(outcome.path), source=source, url=outcome.url,
                version=meta.get("version"), license=meta.get("license"))
        if outcome.ok or not demote:
            return None
        return outcome.reason or "failed"

    return accept


def run_works(*args: Any, **kwargs: Any) -> RunResult:
    """Sync `arun_works` (works in a Jupyter cell too)."""
    from .resolve import run_sync

    return run_sync(lambda: arun_works(*args, **kwargs))


def _as_report(works: Any) -> WorksReport:
    if isinstance(works, WorksReport):
        return works
    if isinstance(works, str | Path) or hasattr(works, "columns"):
        return read_works(works)
    return WorksReport(works=list(works), source="<works>")
