"""The server starts and stops cleanly, the transport keeps URLs, delays follow time_scale,
and a PDF served as valid is a real PDF carrying its title."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import httpx
import pypdf

from fallback_kit.contracts.works import Work
from fallback_kit.sandbox import Sandbox, World, make_pdf

DOI = "10.1186/1758-2946-3-47"
TITLE = "Open bibliography for science, technology, and medicine"
WORKS = [Work.create("w", doi=DOI, pmcid="PMC3206455", title=TITLE)]
EMAIL = "team@fallback-kit.org"


def _world(**kw: object) -> World:
    return World.build(WORKS, seed=1, faults={"all": 0.0}, **kw)  # type: ignore[arg-type]


def test_start_stop_repeatedly_leaks_no_threads() -> None:
    """Five start/stop cycles leave exactly the threads that were there before."""
    before = set(threading.enumerate())
    ports = set()
    for _ in range(5):
        with Sandbox(_world(), time_scale=0) as sb:
            ports.add(sb.port)
            assert sb.running
        assert not sb.running
    assert set(threading.enumerate()) == before
    assert len(ports) >= 1


async def test_async_context_manager_serves_and_stops() -> None:
    """`async with Sandbox(...)` serves over HTTP and leaves no thread behind."""
    before = set(threading.enumerate())
    async with Sandbox(_world(), time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            r = await client.get(f"https://api.unpaywall.org/v2/{DOI}?email={EMAIL}")
    assert r.status_code == 200 and r.json()["doi"] == DOI
    assert set(threading.enumerate()) == before


async def test_transport_keeps_the_real_url() -> None:
    """The response and its redirect history carry the real https URLs, not 127.0.0.1."""
    async with Sandbox(_world(), time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport(), follow_redirects=True) as client:
            r = await client.get("https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf")
    assert str(r.history[0].url) == "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf"
    assert r.url.host == "pmc.ncbi.nlm.nih.gov" and r.url.scheme == "https"


async def test_stop_wakes_a_hanging_request() -> None:
    """Stopping the sandbox while a request hangs returns promptly, no thread left."""
    before = set(threading.enumerate())
    world = World.build(WORKS, seed=1, faults={"hang": 1.0})
    sb = Sandbox(world, time_scale=0).start()
    client = httpx.AsyncClient(transport=sb.transport(), timeout=30)
    task = asyncio.ensure_future(client.get(f"https://api.unpaywall.org/v2/{DOI}?email={EMAIL}"))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 3.0
    result = await asyncio.gather(task, return_exceptions=True)
    await client.aclose()
    assert isinstance(result[0], (httpx.HTTPError, httpx.Response))
    assert set(threading.enumerate()) == before


async def test_delays_follow_time_scale() -> None:
    """A request takes its World delay x time_scale (not less)."""
    world = _world(latency={"api.unpaywall.org": (400.0, 401.0)})
    node = world.lookup("api.unpaywall.org", f"/v2/{DOI}", f"email={EMAIL}")
    expected = world.delay_ms(node.host, node.key) * 0.05 / 1000
    async with Sandbox(world, time_scale=0.05) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            await client.get("https://api.unpaywall.org/robots.txt")  # warm the connection
            t0 = time.perf_counter()
            await client.get(f"https://api.unpaywall.org/v2/{DOI}?email={EMAIL}")
            elapsed = time.perf_counter() - t0
    assert 0.018 < expected < 0.022
    assert elapsed >= expected * 0.95


async def test_time_scale_zero_is_fast() -> None:
    """At time_scale 0, a hundred requests of 200 ms World latency take well under 2 s."""
    world = _world(latency={"api.unpaywall.org": (200.0, 300.0)})
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            t0 = time.perf_counter()
            for _ in range(100):
                await client.get(f"https://api.unpaywall.org/v2/{DOI}?email={EMAIL}")
            elapsed = time.perf_counter() - t0
    assert elapsed < 2.0


async def test_served_pdf_is_valid_and_carries_its_title() -> None:
    """The PDF the truth calls valid starts %PDF-, ends %%EOF, parses, shows its title."""
    world = _world()
    truth = world.truth_for("w")["pmc"]
    assert truth.holds_pdf
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport(), follow_redirects=True) as client:
            r = await client.get(truth.pdf_url)
    body = r.content
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    reader = pypdf.PdfReader(io.BytesIO(body))
    text = " ".join(reader.pages[0].extract_text().split())
    assert TITLE in text
    assert reader.metadata.title == TITLE


def test_pdf_sizes_vary_and_unicode_titles_survive() -> None:
    """make_pdf honours the size hint and keeps a non-Latin title in the metadata."""
    small, big = make_pdf("A", size=6_000), make_pdf("A", size=60_000)
    assert len(big) > 5 * len(small) > 5 * 4096
    title = "Zürich – 東京: ∑ of works"
    meta = pypdf.PdfReader(io.BytesIO(make_pdf(title))).metadata
    assert meta.title == title


def test_repr_shows_state() -> None:
    """repr says where the sandbox runs and how many requests it served."""
    sb = Sandbox(_world(), time_scale=0)
    assert "stopped" in repr(sb)
    with sb:
        assert f"127.0.0.1:{sb.port}" in repr(sb)
