"""A batch: resolve many works with one plan into a run store, with a progress bar.

The batch knows nothing of where its requests go: it is handed a `Network`
(`LiveNetwork`, `TransportNetwork`, or the sandbox's, which the faces compose) and
asks it for a `Connection` for the run. The CLI's `run`, the notebooks and the
benchmarks all reach it through `fallback_kit.run_works`, so they behave the same.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..contracts.events import Event, EventSink, Resolution
from ..contracts.plan import Plan
from ..contracts.timescale import REAL_TIME, TimeScale
from ..contracts.works import Work, WorksReport, read_works
from ..web.client import make_client
from ..web.edge import Fetcher, NetSettings
from ..web.gates import Gates
from .orchestrator import Orchestrator

__all__ = [
    "BatchOptions",
    "BatchResult",
    "Connection",
    "LiveNetwork",
    "Network",
    "TransportNetwork",
    "arun_batch",
    "as_works_report",
    "default_out_dir",
]

@dataclass(slots=True)
class BatchResult:
    """Where a run went and what it did this time (the store holds everything)."""

    out: Path
    run_id: str
    works_total: int
    skipped_done: int
    resolved_now: int
    resolutions: list[Resolution] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)
    #: what the network checked after the run (the sandbox compares with its truth)
    truth_check: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchOptions:
    """How a batch runs, apart from its works, plan and network."""

    out: str | Path | None = None
    concurrency: int = 16
    force: bool = False
    progress: bool | None = None
    sink: EventSink | None = None
    on_resolution: Callable[[Resolution], None] | None = None
    #: save each winner's PDF here, validated whole (content-addressed)
    download_dir: str | Path | None = None
    #: a download that fails validation demotes the success (the plan goes on)
    demote_failed_downloads: bool = True
    #: keep every Resolution in memory (the store has them all; large runs need not)
    keep_resolutions: bool = True


@dataclass(slots=True)
class Connection:
    """A network opened for one run: the client, how its clock runs, what to record."""

    client: httpx.AsyncClient
    mode: str  # "live", "sandbox" or "custom"
    time_scale: TimeScale = REAL_TIME
    meta: dict[str, Any] = field(default_factory=dict)
    #: after the run, (plan, out) -> a check of what the run found (the sandbox's truth)
    after_run: Callable[[Plan, Path], dict[str, Any] | None] | None = None

    @property
    def live(self) -> bool:
        return self.mode == "live"


class Network(Protocol):
    """Where a run's requests go. `connect` opens it for one run's works."""

    def connect(
        self, works: Sequence[Work], email: str | None
    ) -> AbstractAsyncContextManager[Connection]: ...


@dataclass(frozen=True, slots=True)
class LiveNetwork:
    """The real web, with polite headers and the SSRF guard."""

    def connect(
        self, works: Sequence[Work], email: str | None
    ) -> AbstractAsyncContextManager[Connection]:
        return _connect(NetSettings(live=True, email=email), "live", REAL_TIME, None)


@dataclass(frozen=True, slots=True)
class TransportNetwork:
    """Any httpx transport (a mock, a recorder, a cache): a simulated web the caller owns.
    Its clock runs at `time_scale` (the scale the transport's own delays use)."""

    transport: httpx.AsyncBaseTransport
    time_scale: float = 1.0

    def connect(
        self, works: Sequence[Work], email: str | None
    ) -> AbstractAsyncContextManager[Connection]:
        settings = NetSettings(live=False, email=email)
        return _connect(settings, "custom", TimeScale(self.time_scale), self.transport)


@asynccontextmanager
async def _connect(
    settings: NetSettings, mode: str, scale: TimeScale,
    transport: httpx.AsyncBaseTransport | None,
) -> AsyncIterator[Connection]:
    async with make_client(settings, transport=transport) as client:
        yield Connection(client=client, mode=mode, time_scale=scale,
                         meta={"network_mode": mode, "time_scale": scale.factor})


class _Tee:
    """An EventSink that forwards every event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def default_out_dir(plan: Plan) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{plan.name}-{stamp}"


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


async def arun_batch(
    works: WorksReport, plan: Plan, network: Network, options: BatchOptions | None = None
) -> BatchResult:
    """Resolve `works` with `plan` on `network` into the store at `options.out`.

    Resumes when `out` holds a run of the same plan: works already resolved there are
    not tried again. Recorded times are in the web's milliseconds whatever the network's
    time scale. With `download_dir`, each winning PDF is streamed into content-addressed
    storage and validated whole; a file that fails validation demotes the success to
    `invalid_pdf` and the plan goes on to the next candidate (unless
    `demote_failed_downloads=False`, which keeps the success and only skips the file).
    """
    from ..record.store import RunStore

    opts = options or BatchOptions()
    all_works = list(works.works)
    out_dir = Path(opts.out) if opts.out is not None else default_out_dir(plan)
    # the contact email is the user's, not the plan's: keep it out of the store
    stored = plan.replace(**{"politeness.email": None}) if plan.politeness.email else plan
    RunStore.check_target(out_dir, plan_yaml=stored.to_yaml(), force=opts.force)
    async with network.connect(all_works, plan.politeness.email) as conn:
        meta = {**conn.meta, "works_source": works.source, "plan_name": plan.name}
        store = RunStore.open_or_create(out_dir, plan_yaml=stored.to_yaml(), meta=meta,
                                        force=opts.force)
        try:
            store.add_works(all_works)
            done = store.done_work_ids()
            todo = [w for w in all_works if w.work_id not in done]
            result = BatchResult(
                out=out_dir, run_id=store.run_id, works_total=len(all_works),
                skipped_done=len(all_works) - len(todo), resolved_now=0,
                bad_rows=[str(e) for e in works.errors],
            )
            orch = _orchestrator(plan, conn, store, opts)
            await _resolve_into(orch, todo, result, opts, plan.name)
            store.finish()
            if conn.after_run is not None:
                result.truth_check = conn.after_run(plan, out_dir)
        except BaseException:
            store.finish("interrupted")
            raise
        finally:
            store.close()
    return result


def _orchestrator(plan: Plan, conn: Connection, store: Any, opts: BatchOptions) -> Orchestrator:
    """The run's orchestrator: events to the store (and the caller's sink), downloads
    through the accept hook."""
    sinks: list[EventSink] = [store] + ([opts.sink] if opts.sink is not None else [])
    accept = None
    if opts.download_dir is not None:
        guard = None
        if conn.live:  # every download hop passes the SSRF guard
            guard = Fetcher(conn.client, gates=Gates(), settings=NetSettings(
                live=True, email=plan.politeness.email)).check_public_url
        accept = _downloader(conn.client, store, Path(opts.download_dir),
                             opts.demote_failed_downloads, guard)
    return Orchestrator(plan, client=conn.client, sink=_Tee(*sinks), time_scale=conn.time_scale,
                        run_id=store.run_id, live=conn.live, accept=accept)


async def _resolve_into(orch: Orchestrator, todo: list[Work], result: BatchResult,
                        opts: BatchOptions, desc: str) -> None:
    with _progress(len(todo), progress_enabled(opts.progress), desc) as step:
        async for resolution in orch.resolve_many(todo, concurrency=opts.concurrency):
            if opts.keep_resolutions:
                result.resolutions.append(resolution)
            result.resolved_now += resolution.resolved
            step(resolution)
            if opts.on_resolution is not None:
                opts.on_resolution(resolution)


def _downloader(
    client: httpx.AsyncClient, store: Any, dest: Path, demote: bool,
    guard: Callable[[str], Any] | None = None,
) -> Callable[[Work, str, Any], Any]:
    """The orchestrator's accept hook: download and validate the winner's file."""
    from ..record.downloads import download_for_work

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
            license=meta.get("license"), guard=guard,
            body=getattr(result, "body", None),  # the checked bytes: no second GET
        )
        if outcome.ok or not demote:
            return None
        return outcome.reason or "failed"

    return accept


def as_works_report(works: Any) -> WorksReport:
    """A CSV path, a DataFrame, Works or a WorksReport -> a WorksReport."""
    if isinstance(works, WorksReport):
        return works
    if isinstance(works, str | Path) or hasattr(works, "columns"):
        return read_works(works)
    return WorksReport(works=list(works), source="<works>")
