"""The sync API works outside and inside a running event loop (a Jupyter cell)."""

from __future__ import annotations

import asyncio

import httpx
from fakes import WORK, FakeSource, Step, fake_factory, make_plan, ok

from fallback_kit.contracts.works import Work
from fallback_kit.faces.api import resolve, resolve_many


def _setup():
    src = FakeSource("unpaywall", [Step(0.001, ok())])
    return make_plan([{"name": "t1", "sources": ["unpaywall"]}]), {"unpaywall": src}


def test_sync_resolve_outside_a_loop():
    """resolve() runs its own loop when none is running."""
    plan, sources = _setup()
    res = resolve(WORK, plan, client=httpx.AsyncClient(), sources=sources,
                  fetcher_factory=fake_factory)
    assert res.resolved and res.source == "unpaywall"


async def test_sync_api_inside_a_running_loop():
    """resolve_many() works from inside a running loop, where asyncio.run would fail."""
    asyncio.get_running_loop()
    plan, sources = _setup()
    works = [Work(work_id=f"w{i}", doi=f"10.1000/{i}") for i in range(3)]
    got = resolve_many(works, plan, client=httpx.AsyncClient(), sources=sources,
                       fetcher_factory=fake_factory, concurrency=2)
    assert sorted(r.work_id for r in got) == ["w0", "w1", "w2"]
    assert all(r.resolved for r in got)
