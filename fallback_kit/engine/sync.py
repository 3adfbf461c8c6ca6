"""The one bridge from sync code to the async engine.

It works inside a running event loop too (a Jupyter cell), where `asyncio.run` refuses
to start: there the coroutine runs on a fresh loop in a worker thread. Outside one, it
runs on a private loop and leaves the thread's current loop alone (`asyncio.run` would
reset it to None behind the caller's back).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

__all__ = ["run_sync", "synced"]

T = TypeVar("T")
P = ParamSpec("P")


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run the awaitable that `factory` makes to completion, from sync code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _on_private_loop(factory)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_on_private_loop, factory).result()


def synced(fn: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """The sync twin of an async function, with the same signature and docstring."""

    @functools.wraps(fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(lambda: fn(*args, **kwargs))

    twin.__doc__ = f"Sync `{fn.__name__}` (works in a Jupyter cell too).\n\n{fn.__doc__ or ''}"
    return twin


def _on_private_loop(factory: Callable[[], Awaitable[T]]) -> T:
    async def wrap() -> T:
        return await factory()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(wrap())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
