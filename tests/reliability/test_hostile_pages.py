"""The hard deadline stays hard whatever a server sends: long pages are parsed in linear
time and off the event loop, deep JSON and odd charsets are bad responses (never
`error`, never raised), and one page with 100,000 PDF links is not 100,000 requests.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from fallback_kit.contracts.events import ListSink, Outcome, ResolutionStatus
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.web.edge import BadResponse, Fetcher, NetSettings
from fallback_kit.web.gates import Gates
from fallback_kit.web.landing import MAX_PDF_LINKS, parse_landing

LINKS = 100_000


def page(n: int, href: str) -> bytes:
    body = "".join(f'<a href="{href.format(i=i)}">link {i}</a>' for i in range(n))
    return f"<html><head><title>t</title></head><body>{body}</body></html>".encode()


def test_a_page_with_100000_pdf_links_parses_fast_and_keeps_a_few():
    """Before: a list membership test per link, quadratic (31 s for 60,000 links)."""
    html = page(LINKS, "/pdf/{i}.pdf").decode()
    t0 = time.perf_counter()
    landing = parse_landing(html, "https://pub.example/article")
    took = time.perf_counter() - t0
    assert len(landing.pdf_candidates()) == MAX_PDF_LINKS
    assert landing.anchor_pdf_urls[0] == "https://pub.example/pdf/0.pdf"  # page order
    assert took < 8, f"{took:.1f} s"


def test_parsing_time_grows_linearly():
    """10x the links costs at most ~20x the time (quadratic would be 100x)."""
    def cost(n: int) -> float:
        html = page(n, "/x/{i}").decode()
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            parse_landing(html, "https://pub.example/article")
            best = min(best, time.perf_counter() - t0)
        return best

    small, large = cost(3_000), cost(30_000)
    assert large < 20 * small + 0.05, (small, large)


def hostile_web(body: bytes, content_type: str = "text/html") -> httpx.MockTransport:
    """Every page answers `body`; robots.txt is absent."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404, request=request)
        return httpx.Response(200, content=body, headers={"content-type": content_type},
                              request=request)
    return httpx.MockTransport(handle)


def resolve_all(plan_data: dict[str, Any], works: list[Work],
                transport: httpx.AsyncBaseTransport) -> tuple[list[Any], float, ListSink]:
    plan = plan_from_dict(plan_data)
    sink = ListSink()

    async def go() -> tuple[list[Any], float]:
        async with httpx.AsyncClient(transport=transport) as client:
            orch = Orchestrator(plan, client=client, sink=sink, trust_transport=True)
            t0 = asyncio.get_running_loop().time()
            out = await asyncio.gather(*(orch.resolve(w) for w in works))
            return list(out), asyncio.get_running_loop().time() - t0

    resolutions, took = asyncio.run(go())
    return resolutions, took, sink


def test_three_works_keep_their_deadline_on_a_page_that_is_slow_to_parse():
    """Three works with a 1.5 s budget meet a 100,000-link page: each ends by its deadline
    plus a small margin (before: the parse held the loop, 21.8 s for 5 s budgets)."""
    works = [Work(work_id=f"w{i}", doi=f"10.5555/slow.{i}") for i in range(3)]
    plan = {"name": "slow", "budgets": {"total_timeout_ms": 1500},
            "tiers": [{"name": "t", "sources": ["landing_scrape"]}],
            "sources": {"landing_scrape": {"timeout_ms": 1500, "retries_max": 0}}}
    resolutions, took, _ = resolve_all(plan, works, hostile_web(page(LINKS, "/x/{i}")))
    assert took < 1.5 + 0.5, f"{took:.2f} s"
    assert all(r.elapsed_ms < 1500 + 500 for r in resolutions), [r.elapsed_ms for r in resolutions]


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
], ids=["list", "object"])
def test_json_nested_100000_deep_is_a_bad_response(body):
    async def go() -> None:
        async with httpx.AsyncClient(transport=hostile_web(body, "application/json")) as c:
            fetcher = Fetcher(c, gates=Gates(), settings=NetSettings(trust_transport=True))
            with pytest.raises(BadResponse):
                await fetcher.get_json("https://api.example.org/x")

    asyncio.run(go())


@pytest.mark.parametrize("source", ["unpaywall", "openalex", "crossref"])
def test_deep_json_through_a_source_is_retryable_bad_response(source):
    body = b"[" * 100_000 + b"]" * 100_000
    plan = {"name": "deep", "tiers": [{"name": "t", "sources": [source]}],
            "sources": {source: {"retries_max": 0}}}
    (res,), _, sink = resolve_all(plan, [Work(work_id="w", doi="10.5555/deep")],
                                  hostile_web(body, "application/json"))
    outcomes = {(a.outcome, a.reason) for a in sink.attempts}
    assert outcomes == {(Outcome.RETRYABLE, "bad_response")}, outcomes
    assert res.status is not ResolutionStatus.ERROR


@pytest.mark.parametrize("charset", ["idna", "rot13", "hex", "no-such-charset"])
def test_an_odd_charset_is_read_as_utf8(charset):
    async def go() -> str:
        transport = hostile_web(b"<html><title>caf\xc3\xa9</title></html>",
                                f"text/html; charset={charset}")
        async with httpx.AsyncClient(transport=transport) as c:
            fetcher = Fetcher(c, gates=Gates(), settings=NetSettings(trust_transport=True))
            return (await fetcher.get_html("https://pub.example/a")).text

    assert "café" in asyncio.run(go())


def test_an_idna_landing_page_is_no_error():
    plan = {"name": "idna", "tiers": [{"name": "t", "sources": ["landing_scrape"]}]}
    (res,), _, sink = resolve_all(plan, [Work(work_id="w", doi="10.5555/idna")],
                                  hostile_web(page(3, "/x/{i}"), "text/html; charset=idna"))
    assert res.status is ResolutionStatus.NOT_FOUND
    assert all(a.outcome is not Outcome.ERROR for a in sink.attempts)


def test_one_page_of_100000_pdf_links_is_a_few_requests():
    """Before: one landing page with 100,000 PDF links sent tens of thousands of PDF checks
    to one host in one work."""
    sent: list[str] = []
    inner = hostile_web(page(LINKS, "/pdf/{i}.pdf"))

    async def handle(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return await inner.handle_async_request(request)

    plan = {"name": "many", "budgets": {"total_timeout_ms": 60_000},
            "tiers": [{"name": "t", "sources": ["landing_scrape"]}],
            "sources": {"landing_scrape": {"timeout_ms": 60_000, "retries_max": 0}}}
    resolve_all(plan, [Work(work_id="w", doi="10.5555/many")], httpx.MockTransport(handle))
    assert len(sent) <= 2 * MAX_PDF_LINKS + 5, len(sent)
