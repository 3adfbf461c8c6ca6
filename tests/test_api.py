"""The Python entry points: the sync API works outside and inside a running event loop
(a Jupyter cell), and resolve, resolve_many and run_works take the same cache= and access=."""

from __future__ import annotations

import asyncio
import inspect

import httpx
import pytest
from _netkit import REFERENCE, Router
from fakes import WORK, FakeSource, Step, fake_factory, make_plan, ok

from fallback_kit.contracts.works import Work
from fallback_kit.engine.batch import LiveNetwork
from fallback_kit.faces import api
from fallback_kit.faces.api import resolve, resolve_many
from fallback_kit.web.access import Access


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


# ---------------------------------------------------------------- cache= and access=


def test_resolve_and_resolve_many_take_cache_and_access_like_run_works():
    """One spelling for every entry point: the same parameters, types and defaults."""
    want = inspect.signature(api.arun_works).parameters
    for fn in (api.aresolve, api.aresolve_many):
        got = inspect.signature(fn).parameters
        for name in ("cache", "access", "network", "trust_transport"):
            assert (got[name].annotation, got[name].default) == (
                want[name].annotation, want[name].default), (fn.__name__, name)


def test_resolve_many_keeps_the_api_answers_in_the_cache(tmp_path):
    """With `cache=DIR`, a second resolve_many of the same work asks Unpaywall nothing."""
    body = (REFERENCE / "unpaywall" / "noddy_oadoi_v2_10.1186_1758-2946-3-47.json").read_bytes()
    router = Router()
    router.add("https://api.unpaywall.org/v2/10.1186/1758-2946-3-47?email=anonymous%40example.org",
               200, body, content_type="application/json")
    plan = make_plan([{"name": "t1", "sources": ["unpaywall"]}])
    work = Work(work_id="w1", doi="10.1186/1758-2946-3-47")
    for _ in range(2):
        resolve_many([work], plan, network=httpx.MockTransport(router), trust_transport=True,
                      cache=tmp_path / "cache")
    asked = [r for r in router.seen if r.url.host == "api.unpaywall.org"]
    assert len(asked) == 1
    assert (tmp_path / "cache" / "http-cache.sqlite").is_file()


def test_access_reaches_the_live_network_and_not_a_client_of_your_own():
    """`access=` is the live network's (with the plan's proxy when it names none); a
    client of your own is used as it is, so cache= or access= with it is an error."""
    plan, sources = _setup()
    access = Access(proxy="http://proxy.univ.edu:3128")
    chosen = api._network("live", plan, access, profile="mixed", seed=7, time_scale=1.0,
                          trust_transport=False)
    assert isinstance(chosen, LiveNetwork) and chosen.access == access
    for extra in ({"access": access}, {"cache": "somewhere"}):
        with pytest.raises(ValueError, match="client of your own"):
            resolve(WORK, plan, client=httpx.AsyncClient(), sources=sources,
                    fetcher_factory=fake_factory, **extra)
