"""Every fault kind can be forced and a client observes it; default rates hold."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from protego import Protego

from fallback_kit.contracts.works import Work
from fallback_kit.sandbox import FAULT_KINDS, Sandbox, World
from fallback_kit.sandbox.app import OVERSIZED_BYTES

EMAIL = "team@fallback-kit.org"
DOI = "10.1186/1758-2946-3-47"
WORKS = [Work.create("w", doi=DOI, pmcid="PMC3206455", arxiv_id="2409.12922",
                     title="Open bibliography for science, technology, and medicine")]
UNPAYWALL = f"https://api.unpaywall.org/v2/{DOI}?email={EMAIL}"
PDF = "https://arxiv.org/pdf/2409.12922.pdf"


@asynccontextmanager
async def _client(faults: dict[str, Any], time_scale: float = 0.0,
                  **kw: Any) -> AsyncIterator[httpx.AsyncClient]:
    world = World.build(WORKS, seed=1, faults=faults)
    async with Sandbox(world, time_scale=time_scale) as sb:
        async with httpx.AsyncClient(transport=sb.transport(), **kw) as client:
            yield client


def test_every_kind_is_covered_below() -> None:
    """This file (or, for the right-paper traps, its neighbour) forces each fault kind."""
    assert set(FAULT_KINDS) == {
        "rate_limited", "server_error", "reset", "hang", "slow_body", "malformed_json",
        "oversized", "gzip_bomb", "redirect_loop", "html_as_pdf", "truncated_pdf",
        "robots_disallow", "blocked",
        # the right-paper traps: tests/sandbox/test_sandbox_traps.py
        "wrong_paper", "no_text", "title_variant", "volume", "preprint_first"}


async def test_rate_limited_then_normal() -> None:
    """A forced 429 carries Retry-After; after the burst the same URL answers 200."""
    async with _client({"rate_limited": 1.0}) as client:
        statuses = []
        for _ in range(5):
            r = await client.get(UNPAYWALL)
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.headers["retry-after"]
        assert statuses[0] == 429 and statuses[-1] == 200
        assert statuses.index(200) in (1, 2, 3)


async def test_retry_after_comes_in_both_forms() -> None:
    """Across URLs, Retry-After is sometimes seconds and sometimes an HTTP-date."""
    works = [Work(work_id=f"w{i}", doi=f"10.5555/r.{i}") for i in range(40)]
    world = World.build(works, seed=1, faults={"rate_limited": 1.0})
    forms = set()
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            for w in works:
                r = await client.get(f"https://api.unpaywall.org/v2/{w.doi}?email={EMAIL}")
                forms.add("seconds" if r.headers["retry-after"].isdigit() else "date")
    assert forms == {"seconds", "date"}


async def test_server_error_burst() -> None:
    """A forced 5xx burst answers 500/502/503/504, then 200."""
    async with _client({"server_error": 1.0}) as client:
        first = await client.get(UNPAYWALL)
        assert first.status_code in (500, 502, 503, 504)
        for _ in range(3):
            last = await client.get(UNPAYWALL)
        assert last.status_code == 200


async def test_connection_reset() -> None:
    """A forced reset drops the connection: the client gets a transport error."""
    async with _client({"reset": 1.0}) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await client.get(UNPAYWALL)
        for _ in range(3):
            try:
                r = await client.get(UNPAYWALL)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                continue
        assert r.status_code == 200


async def test_hang_outlasts_the_client_timeout() -> None:
    """A forced hang never answers within a client's timeout (even at time_scale 0)."""
    async with _client({"hang": 1.0}, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(UNPAYWALL)


async def test_slow_body_trickles() -> None:
    """A forced slow body arrives in many small pieces."""
    async with _client({"slow_body": 1.0}, time_scale=0.0005) as client:
        async with client.stream("GET", UNPAYWALL) as r:
            pieces = [chunk async for chunk in r.aiter_raw()]
    assert len(pieces) >= 20


async def test_malformed_json() -> None:
    """A forced malformed answer is served as JSON but does not parse."""
    async with _client({"malformed_json": 1.0}) as client:
        r = await client.get(UNPAYWALL)
        assert r.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            r.json()


async def test_oversized_body() -> None:
    """A forced oversized answer declares more than 64 MiB; a capped reader gives up."""
    async with _client({"oversized": 1.0}) as client:
        async with client.stream("GET", UNPAYWALL) as r:
            assert int(r.headers["content-length"]) > OVERSIZED_BYTES
            got = 0
            async for chunk in r.aiter_raw():
                got += len(chunk)
                if got > 1_000_000:
                    break
    assert got > 1_000_000


async def test_gzip_bomb() -> None:
    """A forced gzip bomb is small on the wire and inflates past any sane cap."""
    async with _client({"gzip_bomb": 1.0}) as client:
        async with client.stream("GET", UNPAYWALL) as r:
            assert r.headers["content-encoding"] == "gzip"
            wire = int(r.headers["content-length"])
            decoded = 0
            async for chunk in r.aiter_bytes():
                decoded += len(chunk)
                if decoded > 50 * wire:
                    break
    assert decoded > 50 * wire


async def test_redirect_loop() -> None:
    """A forced redirect loop at doi.org never reaches a page."""
    async with _client({"redirect_loop": 1.0}, follow_redirects=True) as client:
        with pytest.raises(httpx.TooManyRedirects):
            await client.get(f"https://doi.org/{DOI}")


async def test_html_as_pdf() -> None:
    """A forced html_as_pdf sends an HTML page with Content-Type application/pdf."""
    async with _client({"html_as_pdf": 1.0}) as client:
        r = await client.get(PDF, headers={"Range": "bytes=0-4095"})
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.lstrip().startswith(b"<!DOCTYPE html")


async def test_truncated_pdf() -> None:
    """A forced truncated PDF starts with %PDF-, ends without %%EOF, whole body sent (200)."""
    async with _client({"truncated_pdf": 1.0}) as client:
        r = await client.get(PDF, headers={"Range": "bytes=0-4095"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    assert b"%%EOF" not in r.content and int(r.headers["content-length"]) == len(r.content)


async def test_robots_disallow() -> None:
    """A forced robots fault puts the landing page's PDF under a path robots.txt forbids."""
    import re

    world = World.build(WORKS, seed=1, faults={"robots_disallow": 1.0})
    assert world.truth_for("w")["doi_redirect"].fault == "robots_disallow"
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport(), follow_redirects=True) as client:
            landing = await client.get(f"https://doi.org/{DOI}")
            robots = (await client.get(f"https://{landing.url.host}/robots.txt")).text
    pdf_url = re.search(r'citation_pdf_url" content="([^"]+)"', landing.text).group(1)
    assert "/restricted/" in pdf_url
    assert not Protego.parse(robots).can_fetch(pdf_url, "fallback-kit")
    assert Protego.parse(robots).can_fetch(str(landing.url), "fallback-kit")


async def test_blocked_by_a_bot_challenge() -> None:
    """A forced block answers the landing page with a 403 challenge page."""
    async with _client({"blocked": 1.0}, follow_redirects=True) as client:
        r = await client.get(f"https://doi.org/{DOI}")
    assert r.status_code == 403 and "Just a moment" in r.text


def test_per_host_override_only_touches_that_host() -> None:
    """A per-host rate changes that host's faults and no other's."""
    works = [Work(work_id=f"w{i}", doi=f"10.5555/h.{i}") for i in range(300)]
    world = World.build(works, seed=2, faults={"all": 0.0,
                                               "api.crossref.org": {"server_error": 1.0}})
    kinds = {(world.lookup("api.crossref.org", f"/works/{w.doi}").transient_kind,
              world.lookup("api.openalex.org", f"/works/doi:{w.doi}").transient_kind)
             for w in works}
    assert kinds == {("server_error", None)}


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_fault_rate_within_tolerance(rate: float) -> None:
    """Over 4,000 URLs the share of forced-rate transient faults is near the set rate."""
    works = [Work(work_id=f"w{i}", doi=f"10.5555/t.{i}") for i in range(4000)]
    world = World.build(works, seed=3, faults={"all": 0.0,
                                               "api.unpaywall.org": {"rate_limited": rate}})
    hits = sum(world.lookup("api.unpaywall.org", f"/v2/{w.doi}", "email=a@b.org").transient
               > 0 for w in works)
    assert abs(hits / len(works) - rate) < 0.025


def test_default_pdf_fault_rate_within_tolerance() -> None:
    """html_as_pdf at its default 3% on publisher PDFs, within tolerance."""
    works = [Work(work_id=f"w{i}", doi=f"10.1371/journal.pone.{i:07d}") for i in range(4000)]
    world = World.build(works, seed=3)
    faults = [world.lookup_url(world.facts(i).pdf_url).fault for i in range(len(works))
              if not world.facts(i).robots]
    share = sum(f == "html_as_pdf" for f in faults) / len(faults)
    assert abs(share - 0.03) < 0.01


async def test_observed_5xx_rate_over_http() -> None:
    """Through real HTTP, first requests to 200 URLs fail at about the set rate."""
    works = [Work(work_id=f"w{i}", doi=f"10.5555/o.{i}") for i in range(200)]
    world = World.build(works, seed=4, faults={"all": 0.0,
                                               "api.openalex.org": {"server_error": 0.25}})
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            failed = 0
            for w in works:
                r = await client.get(f"https://api.openalex.org/works/doi:{w.doi}")
                failed += r.status_code >= 500
    assert abs(failed / len(works) - 0.25) < 0.08


def test_gzip_bomb_payload_inflates() -> None:
    """The bomb itself inflates by more than 500x."""
    from fallback_kit.sandbox.pdfs import gzip_bomb

    bomb = gzip_bomb()
    assert len(gzip.decompress(bomb)) > 500 * len(bomb)
