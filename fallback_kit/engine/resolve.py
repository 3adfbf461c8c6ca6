"""The short way in: resolve works with a plan, async or sync.

The sync functions also work inside a running event loop (a Jupyter cell), where
`asyncio.run` refuses to start: there they run the coroutine on a fresh loop in a
worker thread and wait for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from ..contracts.events import EventSink, Resolution
from ..contracts.plan import Plan
from ..contracts.works import Work
from .orchestrator import Orchestrator

__all__ = ["aresolve", "aresolve_many", "resolve", "resolve_many", "run_sync"]

T = TypeVar("T")


@asynccontextmanager
async def _client_for(
    client: httpx.AsyncClient | None,
    transport: httpx.AsyncBaseTransport | None,
    email: str | None,
    live: bool,
) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    from ..web.client import make_client
    from ..web.edge import NetSettings

    async with make_client(NetSettings(live=live, email=email), transport=transport) as made:
        yield made


async def aresolve(
    work: Work,
    plan: Plan,
    *,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sink: EventSink | None = None,
    time_scale: float = 1.0,
    live: bool | None = None,
    **options: Any,
) -> Resolution:
    """Resolve one work. Without `client`, one is made with polite defaults (on `transport`)."""
    is_live = (transport is None and client is None) if live is None else live
    async with _client_for(client, transport, plan.politeness.email, is_live) as http:
        orch = Orchestrator(plan, client=http, sink=sink, time_scale=time_scale, live=is_live,
                            **options)
        return await orch.resolve(work)


async def aresolve_many(
    works: Iterable[Work],
    plan: Plan,
    *,
    concurrency: int = 16,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sink: EventSink | None = None,
    time_scale: float = 1.0,
    live: bool | None = None,
    **options: Any,
) -> AsyncIterator[Resolution]:
    """Resolve many works, `concurrency` at a time; yield Resolutions as they finish."""
    is_live = (transport is None and client is None) if live is None else live
    async with _client_for(client, transport, plan.politeness.email, is_live) as http:
        orch = Orchestrator(plan, client=http, sink=sink, time_scale=time_scale, live=is_live,
                            **options)
        async for resolution in orch.resolve_many(works, concurrency=concurrency):
            yield resolution


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(factory))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _await(factory)).result()


async def _await(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def resolve(work: Work, plan: Plan, **kwargs: Any) -> Resolution:
    """Sync `aresolve` (works in a Jupyter cell too)."""
    return run_sync(lambda: aresolve(work, plan, **kwargs))


def resolve_many(works: Iterable[Work], plan: Plan, **kwargs: Any) -> list[Resolution]:
    """Sync `aresolve_many`: all Resolutions, in the order they finished."""

    async def collect() -> list[Resolution]:
        return [r async for r in aresolve_many(works, plan, **kwargs)]

    return run_sync(collect)
