"""A batch: resolve many works with one plan into a run store, with a progress bar.

The batch knows nothing of where its requests go: it is handed a `Network`
(`LiveNetwork`, `TransportNetwork`, or the sandbox's, which the faces compose) and
asks it for a `Connection` for the run. The CLI's `run`, the notebooks and the
benchmarks all reach it through `fallback_kit.run_works`, so they behave the same.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..contracts.events import RETRIED_ON_RESUME, Event, EventSink, Resolution
from ..contracts.plan import Plan
from ..contracts.timescale import REAL_TIME, TimeScale
from ..contracts.works import Work, WorksReport, read_works
from ..web.access import Access, redacted_proxy
from ..web.cache import HttpCache
from ..web.client import make_client
from ..web.edge import NetSettings
from .orchestrator import Orchestrator

__all__ = [
    "BatchOptions",
    "BatchResult",
    "Connection",
    "LiveNetwork",
    "Network",
    "RunFailed",
    "TeeSink",
    "TransportNetwork",
    "arun_batch",
    "as_works_report",
    "default_out_dir",
    "http_cache",
    "metadata_hosts",
    "open_races",
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
    #: how the works of this run ended, by status, with the first reason of each
    statuses: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    #: works of an earlier round resolved again (failed on our side, transient, chosen)
    reopened: int = 0

    def count(self, resolution: Resolution) -> None:
        status = str(resolution.status)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.reasons.setdefault(status, resolution.reason)


    def _repr_html_(self) -> str:
        """What this call did, in a few lines (notebooks); `.open()` has the rest."""
        from ..contracts._html import fields

        rows: list[tuple[str, Any]] = [
            ("run directory", str(self.out)), ("works", self.works_total),
            ("already done (resumed)", self.skipped_done), ("resolved now", self.resolved_now),
            ("bad input entries", len(self.bad_rows)),
        ]
        rows += [("bad entry", b) for b in self.bad_rows[:3]]
        if self.truth_check is not None:
            t = self.truth_check
            rows.append(("sandbox truth", f"{t.get('resolved_of_reachable')} of "
                                          f"{t.get('reachable_by_plan')} reachable resolved"))
        return fields(rows, caption=f"RunResult {self.run_id}")


class RunFailed(Exception):
    """The run could not go on because of our side (the run store cannot be written);
    every finished work is kept and the run's status says what happened."""


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
    #: statuses of an earlier round to resolve again, beyond those a resume always redoes
    #: (failed_local, transient: no answer about the work)
    retry_statuses: tuple[str, ...] = ()
    #: the metadata APIs' answers kept on disk (`http_cache`); None asks them every time
    http_cache: HttpCache | None = None


@dataclass(slots=True)
class Connection:
    """A network opened for one run: the client, how its clock runs, what to record."""

    client: httpx.AsyncClient
    mode: str  # "live", "sandbox" or "custom"
    time_scale: TimeScale = REAL_TIME
    meta: dict[str, Any] = field(default_factory=dict)
    #: after the run, (plan, out) -> a check of what the run found (the sandbox's truth)
    after_run: Callable[[Plan, Path], dict[str, Any] | None] | None = None
    #: the client's transport is a simulated web: the SSRF guard does not look its host
    #: names up. The guard's one off switch (web.edge); said explicitly, never implied
    trust_transport: bool = False

    @property
    def live(self) -> bool:
        return self.mode == "live"


class Network(Protocol):
    """Where a run's requests go. `connect` opens it for one run's works."""

    def connect(
        self, works: Sequence[Work], email: str | None, *, cache: HttpCache | None = None
    ) -> AbstractAsyncContextManager[Connection]: ...


@dataclass(frozen=True, slots=True)
class LiveNetwork:
    """The real web, with polite headers and the SSRF guard; `access` is the user's
    institutional access (a proxy, EZproxy, their browser's cookies), if any."""

    access: Access | None = None

    def connect(
        self, works: Sequence[Work], email: str | None, *, cache: HttpCache | None = None
    ) -> AbstractAsyncContextManager[Connection]:
        return _connect(NetSettings(live=True, email=email), "live", REAL_TIME, None, cache,
                        access=self.access)


@dataclass(frozen=True, slots=True)
class TransportNetwork:
    """Any httpx transport (a mock, a recorder, a cache, a proxy) the caller owns.
    Its clock runs at `time_scale` (the scale the transport's own delays use). The SSRF
    guard stays on (a cache or a proxy reaches the real web) unless `trust_transport`
    says the transport is a simulated web whose names are not to be looked up."""

    transport: httpx.AsyncBaseTransport
    time_scale: float = 1.0
    trust_transport: bool = False

    def connect(
        self, works: Sequence[Work], email: str | None, *, cache: HttpCache | None = None
    ) -> AbstractAsyncContextManager[Connection]:
        settings = NetSettings(live=False, email=email)
        return _connect(settings, "custom", TimeScale(self.time_scale), self.transport, cache,
                        trust_transport=self.trust_transport)


@asynccontextmanager
async def _connect(
    settings: NetSettings, mode: str, scale: TimeScale,
    transport: httpx.AsyncBaseTransport | None, cache: HttpCache | None = None, *,
    trust_transport: bool = False, access: Access | None = None,
) -> AsyncIterator[Connection]:
    async with make_client(settings, transport=transport, cache=cache, access=access) as client:
        yield Connection(client=client, mode=mode, time_scale=scale,
                         meta={"network_mode": mode, "time_scale": scale.factor},
                         trust_transport=trust_transport)


class TeeSink:
    """An EventSink that forwards every event to several sinks."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def metadata_hosts() -> tuple[str, ...]:
    """The hosts the sources declare (`Source.hosts`): the metadata APIs the cache covers."""
    from ..sources import SOURCES

    return tuple(sorted({host for cls in SOURCES.values() for host in cls.hosts}))


def http_cache(directory: str | Path, plan: Plan) -> HttpCache:
    """The metadata cache in `directory`, with the plan's `cache.max_age`."""
    return HttpCache(Path(directory), metadata_hosts(), plan.cache.max_age)


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

    A resume resolves again the works that ended `failed_local` or `transient` (no
    answer about the work), and those of `retry_statuses` too. One run at a time per
    `out` (a lock): a second one raises StoreError at once.
    """
    from ..record.store import RunStore, StoreWriteError

    opts = options or BatchOptions()
    all_works = list(works.works)
    out_dir = Path(opts.out) if opts.out is not None else default_out_dir(plan)
    # the contact email is the user's, not the plan's: keep it out of the store
    stored = plan.replace(**{"politeness.email": None,
                             "politeness.proxy": redacted_proxy(plan.politeness.proxy)})
    RunStore.check_target(out_dir, plan_yaml=stored.to_yaml(), force=opts.force)
    cache = {"cache": opts.http_cache} if opts.http_cache is not None else {}
    async with _locked(out_dir), network.connect(all_works, plan.politeness.email,
                                                 **cache) as conn:
        meta = {**conn.meta, "works_source": works.source, "plan_name": plan.name,
                "works_input": _input_meta(works)}
        store = RunStore.open_or_create(out_dir, plan_yaml=stored.to_yaml(), meta=meta,
                                        force=opts.force)
        races = None
        try:
            races = open_races(opts.http_cache, plan)
            store.add_works(all_works)
            reopened = store.redo(RETRIED_ON_RESUME | set(opts.retry_statuses))
            done = store.done_work_ids()
            todo = [w for w in all_works if w.work_id not in done]
            result = BatchResult(
                out=out_dir, run_id=store.run_id, works_total=len(all_works),
                skipped_done=len(all_works) - len(todo), resolved_now=0,
                bad_rows=[str(e) for e in works.errors], reopened=reopened,
            )
            orch = _orchestrator(plan, conn, store, opts, races)
            await _resolve_into(orch, todo, result, opts, plan.name)
            store.finish()
            if conn.after_run is not None:
                result.truth_check = conn.after_run(plan, out_dir)
        except StoreWriteError as exc:  # our disk: end clearly, keep what is written
            _finish_quietly(store, "disk_full" if exc.errno == errno.ENOSPC else "failed",
                            str(exc))
            raise RunFailed(str(exc)) from None
        except BaseException:
            _finish_quietly(store, "interrupted", "")
            raise
        finally:
            store.close()
            if races is not None:
                races.close()
    return result


def _orchestrator(plan: Plan, conn: Connection, store: Any, opts: BatchOptions,
                  races: Any = None) -> Orchestrator:
    """The run's orchestrator: events to the store (and the caller's sink, and the race
    book), downloads through the accept hook, the race book's previous races replayed."""
    from ..record.downloads import clean_stale_parts

    manifest = _Manifest(store)
    sinks: list[EventSink] = [manifest] + ([opts.sink] if opts.sink is not None else [])
    sinks += [races] if races is not None else []
    accept = None
    if opts.download_dir is not None:
        clean_stale_parts(opts.download_dir)
        accept = _downloader(store, Path(opts.download_dir), opts.demote_failed_downloads,
                             manifest, max_bytes=plan.accept.max_pdf_bytes)
    return Orchestrator(plan, client=conn.client, sink=TeeSink(*sinks), time_scale=conn.time_scale,
                        run_id=store.run_id, trust_transport=conn.trust_transport,
                        accept=accept, quota=_quota_book(plan) if conn.live else None,
                        previous=races.previous if races is not None else None)


def open_races(cache: HttpCache | None, plan: Plan) -> Any:
    """The race book beside the metadata cache (record.races), or None without a cache:
    a re-run replays each work's last race, so it asks only what the last run asked."""
    if cache is None:
        return None
    from ..record.races import RaceBook

    return RaceBook.open(cache.directory, plan, cache.max_age_s)


def _quota_book(plan: Plan) -> Any:
    """The user's daily-quota book (web.quota), for live runs: the services' quotas are
    per contact email and day."""
    from ..web.quota import QuotaBook

    return QuotaBook(email=plan.politeness.email)


async def _resolve_into(orch: Orchestrator, todo: list[Work], result: BatchResult,
                        opts: BatchOptions, desc: str) -> None:
    with _progress(len(todo), progress_enabled(opts.progress), desc) as step:
        async for resolution in orch.resolve_many(todo, concurrency=opts.concurrency):
            if opts.keep_resolutions:
                result.resolutions.append(resolution)
            result.resolved_now += resolution.resolved
            result.count(resolution)
            step(resolution)
            if opts.on_resolution is not None:
                opts.on_resolution(resolution)


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


def _downloader(store: Any, dest: Path, demote: bool, manifest: _Manifest, *,
                max_bytes: int) -> Callable[..., Any]:
    """The orchestrator's accept hook: download and validate a success's file through
    the try's Edge (its gates, guard, counters and the source's timeout), no larger than
    the plan's `accept.max_pdf_bytes`; the manifest records it if this source wins."""
    from ..record.downloads import download_for_work
    from ..record.store import DownloadRecord

    async def accept(work: Work, source: str, result: Any, edge: Any) -> str | None:
        meta = result.meta or {}
        outcome = await download_for_work(
            edge,
            store,
            work_id=work.work_id,
            url=meta.get("final_url") or result.url,
            dest_dir=dest,
            source=source,
            version=meta.get("version"),
            license=meta.get("license"),
            body=getattr(result, "body", None),  # the checked bytes: no second GET
            max_bytes=max_bytes,
            record=False,
        )
        if (outcome.ok and outcome.path is not None
                and outcome.sha256 is not None and outcome.reason != "already_downloaded"):
            manifest.pending[(work.work_id, source)] = DownloadRecord(
                work_id=work.work_id, sha256=outcome.sha256, bytes=outcome.bytes,
                path=str(outcome.path), source=source, url=outcome.url,
                version=meta.get("version"), license=meta.get("license"))
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
    items = list(works)
    if items and all(isinstance(w, Work) for w in items):
        return WorksReport(works=items, source="<works>")
    return read_works(items)  # identifier strings (DOIs, arXiv ids, URLs...), detected


def _input_meta(report: WorksReport) -> dict[str, Any]:
    """How the works were read, so that `export --failures` writes the misses back alike."""
    return {"format": report.format, "key": report.key, "header": report.header,
            "options": report.options}
