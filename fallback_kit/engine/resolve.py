"""The short way in: resolve works with a plan, async or sync.

Every request passes the SSRF guard (web.edge), also through a `client=` or `transport=`
of your own (a cache, a proxy). For a simulated web (an `httpx.MockTransport`, the
sandbox), `trust_transport=True` is the one switch that stops the guard looking the
transport's host names up.

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
) -> AsyncIterator[httpx.AsyncClient]:
    if client is not None:
        yield client
        return
    from ..web.client import make_client
    from ..web.edge import NetSettings

    live = transport is None  # our own transport: the internet
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
    trust_transport: bool = False,
    **options: Any,
) -> Resolution:
    """Resolve one work. Without `client`, one is made with polite defaults (on `transport`).
    `trust_transport=True`: the transport is a simulated web (see the module docstring)."""
    async with _client_for(client, transport, plan.politeness.email) as http:
        orch = Orchestrator(plan, client=http, sink=sink, time_scale=time_scale,
                            trust_transport=trust_transport, **options)
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
    trust_transport: bool = False,
    **options: Any,
) -> AsyncIterator[Resolution]:
    """Resolve many works, `concurrency` at a time; yield Resolutions as they finish."""
    async with _client_for(client, transport, plan.politeness.email) as http:
        orch = Orchestrator(plan, client=http, sink=sink, time_scale=time_scale,
                            trust_transport=trust_transport, **options)
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
