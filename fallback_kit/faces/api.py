"""The Python entry points: resolve one work, many works, or a whole run.

Every entry point has the same network default, the sandbox (`network="sandbox"`), so
nothing reaches the real web by accident: pass `network="live"` for the real web (and
set `politeness.email` in the plan, or FALLBACK_KIT_EMAIL, so the services can reach
you), or any httpx transport or `Network` of your own. Every entry point takes the
same `cache=` (the metadata APIs' answers kept on disk; by default on the live web only)
and `access=` (the user's institutional access). A client of your own (`client=`, for
`resolve` and `resolve_many`) is used as it is.

The SSRF guard (web.edge) checks every request, also through a client or a transport
of your own. For a simulated web of your own (an `httpx.MockTransport`, a recorder in
front of the sandbox), `trust_transport=True` is the one switch that stops the guard
looking its host names up; the sandbox is trusted by its own composition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import httpx

from ..contracts.events import EventSink, Resolution
from ..contracts.plan import Plan
from ..contracts.timescale import REAL_TIME
from ..contracts.works import Work
from ..engine.batch import (
    BatchOptions,
    BatchResult,
    Connection,
    LiveNetwork,
    Network,
    TeeSink,
    arun_batch,
    as_works_report,
    http_cache,
    open_races,
)
from ..engine.orchestrator import Orchestrator
from ..engine.sync import run_sync, synced
from ..web.access import Access
from ..web.cache import HttpCache, default_cache_dir
from .networks import network_for

__all__ = ["RunResult", "aresolve", "aresolve_many", "arun_works", "resolve", "resolve_many",
           "run_works"]

NetworkSpec = str | Network | httpx.AsyncBaseTransport


@dataclass(slots=True)
class RunResult(BatchResult):
    """Where a run went and what it did this time; `open()` reads the whole run."""

    def open(self) -> Any:
        """The run as DataFrames (`fallback_kit.open_run`)."""
        from ..insight.stored_run import open_run

        return open_run(self.out)


async def arun_works(
    works: Any,
    plan: Plan,
    *,
    out: str | Path | None = None,
    network: NetworkSpec = "sandbox",
    profile: str = "mixed",
    seed: int = 7,
    time_scale: float = 0.1,
    transport: httpx.AsyncBaseTransport | None = None,
    concurrency: int = 16,
    force: bool = False,
    progress: bool | None = None,
    sink: EventSink | None = None,
    on_resolution: Callable[[Resolution], None] | None = None,
    download_dir: str | Path | None = None,
    demote_failed_downloads: bool = True,
    keep_resolutions: bool = True,
    cache: str | Path | bool | None = None,
    trust_transport: bool = False,
    retry_statuses: Sequence[str] = (),
    access: Access | None = None,
) -> RunResult:
    """Resolve `works` (a CSV path, a DataFrame or Works) with `plan` into the run store
    at `out`, on the sandbox unless `network` says otherwise.

    On the sandbox, `profile` and `seed` build the World and `time_scale` shrinks every
    delay (the plan's durations with it); recorded times stay in the web's milliseconds.
    `cache` keeps the metadata APIs' answers on disk, so a re-run asks them nothing: a
    directory, True for the user's cache directory, False for none. By default only the
    live web is cached (in the user's cache directory): a simulated web's answers must
    not be mistaken for the services'.

    A `transport` is a web of your own, on the same time scale (`trust_transport=True`
    when it is a simulated one, see the module docstring).

    A resume resolves again the works that ended `failed_local` or `transient` (no answer
    about the work), and those of `retry_statuses` too. One run at a time per `out` (a
    lock): a second one raises StoreError at once. `access` is the user's institutional
    access on the live web (a proxy, EZproxy, their browser's cookies; the plan's
    `politeness.proxy` too). See `BatchOptions` for the rest.
    """
    chosen = _network(transport if transport is not None else network, plan, access,
                      profile=profile, seed=seed, time_scale=time_scale,
                      trust_transport=trust_transport)
    options = BatchOptions(
        out=out, concurrency=concurrency, force=force, progress=progress, sink=sink,
        on_resolution=on_resolution, download_dir=download_dir,
        demote_failed_downloads=demote_failed_downloads, keep_resolutions=keep_resolutions,
        http_cache=_cache_for(cache, chosen, plan), retry_statuses=tuple(retry_statuses),
    )
    batch = await arun_batch(as_works_report(works), plan, chosen, options)
    return RunResult(**{f.name: getattr(batch, f.name) for f in fields(BatchResult)})


run_works = synced(arun_works)


async def aresolve(
    work: Work,
    plan: Plan,
    *,
    network: NetworkSpec = "sandbox",
    client: httpx.AsyncClient | None = None,
    sink: EventSink | None = None,
    profile: str = "mixed",
    seed: int = 7,
    time_scale: float = 0.1,
    trust_transport: bool = False,
    cache: str | Path | bool | None = None,
    access: Access | None = None,
    **options: Any,
) -> Resolution:
    """Resolve one work, on the sandbox unless `network` says otherwise. `cache` and
    `access` as in `run_works`; `client` is a client of your own (used as it is, the SSRF
    guard on unless `trust_transport`; then `cache` and `access` are yours to set up on
    it); `options` go to the Orchestrator."""
    async for resolution in aresolve_many(
        [work], plan, concurrency=1, network=network, client=client, sink=sink,
        profile=profile, seed=seed, time_scale=time_scale, trust_transport=trust_transport,
        cache=cache, access=access, **options,
    ):
        return resolution
    raise AssertionError("aresolve_many yields one Resolution per work")  # pragma: no cover


async def aresolve_many(
    works: Iterable[Work],
    plan: Plan,
    *,
    concurrency: int = 16,
    network: NetworkSpec = "sandbox",
    client: httpx.AsyncClient | None = None,
    sink: EventSink | None = None,
    profile: str = "mixed",
    seed: int = 7,
    time_scale: float = 0.1,
    trust_transport: bool = False,
    cache: str | Path | bool | None = None,
    access: Access | None = None,
    **options: Any,
) -> AsyncIterator[Resolution]:
    """Resolve many works, `concurrency` at a time, on the sandbox unless `network` says
    otherwise; yield Resolutions as they finish. `cache` keeps the metadata APIs'
    answers (and each work's race) on disk and `access` is the user's institutional
    access on the live web, both as in `run_works`."""
    todo = list(works)
    if client is not None and (cache not in (None, False) or access is not None):
        raise ValueError("cache= and access= set up the client fallback_kit makes; a "
                         "client of your own is used as it is (give it your own transport)")
    chosen = None if client is not None else _network(
        network, plan, access, profile=profile, seed=seed, time_scale=time_scale,
        trust_transport=trust_transport)
    http = None if chosen is None else _cache_for(cache, chosen, plan)
    async with _opened(chosen, client, todo, plan, network, trust_transport, http) as conn:
        races = open_races(http, plan)
        try:
            sinks = [s for s in (sink, races) if s is not None]
            orch = Orchestrator(plan, client=conn.client, sink=TeeSink(*sinks),
                                time_scale=conn.time_scale, trust_transport=conn.trust_transport,
                                previous=races.previous if races is not None else None,
                                **options)
            async for resolution in orch.resolve_many(todo, concurrency=concurrency):
                yield resolution
        finally:
            if races is not None:
                races.close()


resolve = synced(aresolve)


def resolve_many(works: Iterable[Work], plan: Plan, **kwargs: Any) -> list[Resolution]:
    """Sync `aresolve_many`: all Resolutions, in the order they finished (works in a
    Jupyter cell too)."""

    async def collect() -> list[Resolution]:
        return [r async for r in aresolve_many(works, plan, **kwargs)]

    return run_sync(collect)


def _cache_for(cache: str | Path | bool | None, network: Network, plan: Plan) -> HttpCache | None:
    """What `cache=` says -> the run's metadata cache (see `arun_works`)."""
    live = isinstance(network, LiveNetwork)
    if cache is False or (cache is None and not live):
        return None
    if cache is True or cache is None:
        directory = default_cache_dir() / ("http" if live else "http-simulated")
    else:
        directory = Path(cache)
    chosen = http_cache(directory, plan)
    chosen.check()
    return chosen


def _network(spec: NetworkSpec, plan: Plan, access: Access | None, *, profile: str,
             seed: int, time_scale: float, trust_transport: bool) -> Network:
    """What `network=` (or `transport=`) says -> the Network, the live one with the
    user's access (and the plan's proxy)."""
    chosen = network_for(spec, profile=profile, seed=seed, time_scale=time_scale,
                         trust_transport=trust_transport)
    if isinstance(chosen, LiveNetwork):
        chosen = LiveNetwork(access=_with_plan_proxy(access, plan))
    return chosen


def _opened(
    chosen: Network | None, client: httpx.AsyncClient | None, works: Sequence[Work],
    plan: Plan, spec: NetworkSpec, trust_transport: bool, cache: HttpCache | None,
) -> AbstractAsyncContextManager[Connection]:
    if chosen is None:
        assert client is not None
        return _given(client, "live" if spec == "live" else "custom", trust_transport)
    return chosen.connect(works, plan.politeness.email,
                          **({"cache": cache} if cache is not None else {}))


@asynccontextmanager
async def _given(
    client: httpx.AsyncClient, mode: str, trust_transport: bool
) -> AsyncIterator[Connection]:
    """A client of the caller's: the SSRF guard stays on unless it is trusted."""
    yield Connection(client=client, mode=mode, time_scale=REAL_TIME, meta={"network_mode": mode},
                     trust_transport=trust_transport)


def _with_plan_proxy(access: Access | None, plan: Plan) -> Access | None:
    """The caller's access, with the plan's proxy when the caller names none."""
    proxy = plan.politeness.proxy
    if access is None:
        return Access(proxy=proxy) if proxy else None
    return access if access.proxy or not proxy else replace(access, proxy=proxy)
