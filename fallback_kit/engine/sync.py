"""The one bridge from sync code to the async engine.

It works inside a running event loop too (a Jupyter cell), where `asyncio.run` refuses
to start: there the coroutine runs on a fresh loop in a worker thread. Outside one, it
runs on a private loop and leaves the thread's current loop alone (`asyncio.run` would
reset it to None behind the caller's back).

Either way an interrupt (Ctrl-C, or the kernel's stop button) cancels the coroutine:
its requests are cancelled and its `finally` blocks run (a run store is left
`interrupted` and resumable) before KeyboardInterrupt reaches the caller. A plain
thread would let the run go on to the end, sending requests nobody waits for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

__all__ = ["STOP_GRACE_S", "run_sync", "synced"]

T = TypeVar("T")
P = ParamSpec("P")

#: after an interrupt, how long the cancelled coroutine may take to wind down
STOP_GRACE_S = 10.0


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run the awaitable that `factory` makes to completion, from sync code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # asyncio.Runner cancels the task on Ctrl-C (in the main thread) and, with a
        # loop factory, never touches the thread's current loop
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(_await(factory))
    return _in_worker_thread(factory)


def synced(fn: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """The sync twin of an async function, with the same signature and docstring."""

    @functools.wraps(fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(lambda: fn(*args, **kwargs))

    twin.__doc__ = f"Sync `{fn.__name__}` (works in a Jupyter cell too).\n\n{fn.__doc__ or ''}"
    return twin


def _in_worker_thread(factory: Callable[[], Awaitable[T]]) -> T:
    loop = asyncio.new_event_loop()
    task = loop.create_task(_await(factory))

    def drive() -> T:
        try:
            return loop.run_until_complete(task)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        done = pool.submit(drive)
        try:
            return done.result()
        except KeyboardInterrupt:
            loop.call_soon_threadsafe(task.cancel)
            concurrent.futures.wait([done], timeout=STOP_GRACE_S)
            raise
    finally:
        pool.shutdown(wait=False)  # after an interrupt, never block longer than the grace


async def _await(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()
