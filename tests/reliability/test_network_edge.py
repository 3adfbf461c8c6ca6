"""The network edge, on the sandbox: what the real Fetcher refuses, caps and never writes.

tests/test_net.py covers the same rules on httpx.MockTransport; here the answers come
from the simulated web over real HTTP (redirects, bombs and oversized bodies as the
sandbox serves them), and live mode's address checks run after a (fake) DNS lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import ssl
import tracemalloc
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from fallback_kit.contracts.events import Attempt, Outcome
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work, read_works
from fallback_kit.engine.orchestrator import Orchestrator, make_gates
from fallback_kit.faces.api import arun_works
from fallback_kit.record.downloads import download_pdf, final_path
from fallback_kit.sandbox import Sandbox, World
from fallback_kit.web.client import make_client
from fallback_kit.web.edge import (
    Fetcher,
    NetSettings,
    RedirectError,
    ResponseTooLarge,
)
from fallback_kit.web.gates import GateClosed

EMAIL = "secret.person@example.edu"
PLAN = plan_from_dict({"name": "edge", "tiers": [{"name": "t", "sources": ["doi_redirect"]}]})
PUBLIC_DOI_ORG = "104.16.2.3"  # a public address for doi.org in the fake DNS


# --------------------------------------------------------------------------- helpers


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox and records their URLs."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def hosts(self) -> list[str]:
        return [httpx.URL(u).host for u in self.urls]


def fake_dns_loop(table: dict[str, list[str]]) -> Callable[[], asyncio.AbstractEventLoop]:
    """A loop factory whose getaddrinfo answers `table` (other names: the real resolver)."""

    class FakeDnsLoop(asyncio.SelectorEventLoop):
        async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0,
                              proto: int = 0, flags: int = 0) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name in table:
                out = []
                for addr in table[name]:
                    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
                    p = int(port or 0)
                    sockaddr = (addr, p, 0, 0) if ":" in addr else (addr, p)
                    out.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
                return out
            return await super().getaddrinfo(host, port, family=family, type=type,
                                             proto=proto, flags=flags)

    return FakeDnsLoop


def run_on(loop_factory: Callable[[], asyncio.AbstractEventLoop],
           coro: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coro)


def fetcher(client: httpx.AsyncClient, **settings: Any) -> Fetcher:
    return Fetcher(client, gates=make_gates(PLAN), settings=NetSettings(email=EMAIL, **settings))


def landing_world(landing_url: str, **kw: Any) -> tuple[World, Work]:
    work = Work(work_id="edge", doi="10.5555/edge.1", landing_url=landing_url)
    return World.build([work], seed=5, faults={"all": 0.0}, **kw), work


# --------------------------------------------------------------------------- SSRF, schemes


@pytest.mark.parametrize("addresses", [
    ["10.0.0.7"], ["127.0.0.1"], ["169.254.169.254"], ["224.0.0.251"], ["fd00::1"],
    ["93.184.215.14", "192.168.1.20"],  # one private answer among public ones is enough
], ids=["private", "loopback", "link-local", "multicast", "ula-v6", "mixed"])
def test_redirect_to_name_resolving_inside_is_refused(addresses: list[str]) -> None:
    """Live mode: doi.org's redirect to a name that resolves inside is refused after DNS."""
    world, _ = landing_world("https://intranet.example.org/article/1")
    table = {"doi.org": [PUBLIC_DOI_ORG], "intranet.example.org": addresses}

    async def go() -> tuple[str, list[str]]:
        async with Sandbox(world, time_scale=0.0) as sb:
            rec = Recorder(sb.transport())
            async with httpx.AsyncClient(transport=rec) as client:
                with pytest.raises(GateClosed) as info:
                    await fetcher(client, live=True).get_html("https://doi.org/10.5555/edge.1")
        return info.value.reason, rec.hosts()

    reason, hosts = run_on(fake_dns_loop(table), go())
    assert (reason, hosts) == ("unsafe_url", ["doi.org"])


def test_redirect_to_public_name_is_followed() -> None:
    """Live mode: the same redirect to a name with public addresses is followed (control)."""
    world, _ = landing_world("https://intranet.example.org/article/1")
    table = {"doi.org": [PUBLIC_DOI_ORG], "intranet.example.org": ["93.184.215.14"]}

    async def go() -> tuple[int, list[str]]:
        async with Sandbox(world, time_scale=0.0) as sb:
            rec = Recorder(sb.transport())
            async with httpx.AsyncClient(transport=rec) as client:
                page = await fetcher(client, live=True).get_html("https://doi.org/10.5555/edge.1")
        return page.status, rec.hosts()

    assert run_on(fake_dns_loop(table), go()) == (200, ["doi.org", "intranet.example.org"])


def test_orchestrator_records_refused_inside_redirect_as_skipped() -> None:
    """A live run records the refused hop as an Attempt (skipped: unsafe_url); nothing is sent."""
    world, work = landing_world("https://intranet.example.org/article/1")
    table = {"doi.org": [PUBLIC_DOI_ORG], "intranet.example.org": ["10.1.2.3"]}
    attempts: list[Attempt] = []

    class Sink:
        def emit(self, event: object) -> None:
            if isinstance(event, Attempt):
                attempts.append(event)

    async def go() -> tuple[Any, list[str]]:
        async with Sandbox(world, time_scale=0.0) as sb:
            rec = Recorder(sb.transport())
            async with httpx.AsyncClient(transport=rec) as client:
                orch = Orchestrator(PLAN, client=client, sink=Sink(), live=True)
                res = await orch.resolve(work)
        return res, rec.hosts()

    res, hosts = run_on(fake_dns_loop(table), go())
    assert str(res.status) == "not_found"
    assert [(a.outcome, a.reason) for a in attempts] == [(Outcome.SKIPPED, "unsafe_url")]
    assert "intranet.example.org" not in hosts


def test_redirect_to_non_http_scheme_is_refused() -> None:
    """Live mode: a redirect Location with an ftp: URL is never followed."""
    world, _ = landing_world("ftp://files.example.org/pub/paper.pdf")

    async def go() -> tuple[str, list[str]]:
        async with Sandbox(world, time_scale=0.0) as sb:
            rec = Recorder(sb.transport())
            async with httpx.AsyncClient(transport=rec) as client:
                with pytest.raises(GateClosed) as info:
                    await fetcher(client, live=True).get_html("https://doi.org/10.5555/edge.1")
        return info.value.reason, rec.hosts()

    assert run_on(fake_dns_loop({"doi.org": [PUBLIC_DOI_ORG]}), go()) == ("unsafe_url", ["doi.org"])


async def test_redirect_chain_stops_after_ten_hops() -> None:
    """The sandbox's endless cookie-check redirects are followed at most 10 times."""
    work = Work(work_id="loop", doi="10.5555/loop.1")
    world = World.build([work], seed=5, faults={"all": 0.0, "redirect_loop": 1.0})
    async with Sandbox(world, time_scale=0.0) as sb:
        rec = Recorder(sb.transport())
        async with httpx.AsyncClient(transport=rec) as client:
            with pytest.raises(RedirectError):
                await fetcher(client).get_html("https://doi.org/10.5555/loop.1")
    assert 2 <= len(rec.urls) <= 11  # the first request and at most 10 redirects


async def test_live_client_verifies_tls() -> None:
    """The live client checks certificates and host names."""
    client = make_client(NetSettings(live=True, email=EMAIL))
    async with client:
        ctx = client._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_REQUIRED, True)


# --------------------------------------------------------------------------- size caps


def _api_world(fault: str) -> tuple[World, Work]:
    work = Work(work_id="big", doi="10.5555/big.1", landing_url="https://journals.plos.org/b/1")
    return World.build([work], seed=5, faults={"all": 0.0, fault: 1.0}), work


async def test_oversized_json_is_cut_at_the_json_cap() -> None:
    """A 64 MiB API answer: ResponseTooLarge after about max_json_bytes off the wire."""
    world, work = _api_world("oversized")
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            f = fetcher(client)
            with pytest.raises(ResponseTooLarge):
                await f.get_json(f"https://api.unpaywall.org/v2/{work.doi}",
                                 params={"email": EMAIL})
    assert f.settings.max_json_bytes <= f.bytes_read <= f.settings.max_json_bytes + 65_536


async def test_oversized_text_is_cut_at_the_html_cap() -> None:
    """A 64 MiB CDX (text) answer comes back truncated at max_html_bytes."""
    world, work = _api_world("oversized")
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            f = fetcher(client)
            page = await f.get_text("https://web.archive.org/cdx/search/cdx",
                                    params={"url": work.landing_url, "output": "json"})
    cap = f.settings.max_html_bytes
    assert page.truncated and len(page.text.encode()) <= cap
    assert cap <= f.bytes_read <= cap + 65_536


async def test_pdf_probe_reads_only_the_probe() -> None:
    """The PDF gate reads pdf_probe_bytes (plus the 1 KiB tail) of a large PDF, not the file."""
    works = [Work(work_id=f"p{i}", doi=f"10.1371/journal.pone.90{i:05d}") for i in range(40)]
    world = World.build(works, seed=5, faults={"all": 0.0})
    big = next(w for i, w in enumerate(works) if world.facts(i).pdf_size > 70_000)
    url = world.truth_for(big.work_id)["doi_redirect"].pdf_url
    assert url is not None
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            f = fetcher(client)
            check = await f.check_pdf(url)
    assert check.ok
    assert f.bytes_read <= f.settings.pdf_probe_bytes + 1024


@pytest.mark.parametrize("call", ["json", "pdf"])
async def test_gzip_bomb_is_never_inflated(call: str) -> None:
    """A gzip body inflating to 128 MiB: refused with little read and little memory used."""
    work = Work(work_id="bomb", doi="10.1371/journal.pone.0000001")
    world = World.build([work], seed=5, faults={"all": 0.0, "gzip_bomb": 1.0})
    truth = world.truth_for("bomb")["doi_redirect"]
    assert truth.fault == "gzip_bomb"
    pdf_url = truth.requests[-1][0]
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            f = fetcher(client)
            tracemalloc.start()
            try:
                if call == "json":
                    with pytest.raises(ResponseTooLarge):
                        await f.get_json(f"https://api.unpaywall.org/v2/{work.doi}",
                                         params={"email": EMAIL})
                else:
                    check = await f.check_pdf(pdf_url)
                    assert (check.ok, check.reason) == (False, "not_pdf")
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert f.bytes_read < 1_000_000
    assert peak < 16 * 1024 * 1024


# --------------------------------------------------------------------------- what is written


async def test_downloaded_file_is_named_by_its_hash(tmp_path: Path) -> None:
    """A download lands at dest/ab/<sha256>.pdf whatever the URL says; no other file is left."""
    work = Work(work_id="dl", doi="10.1371/journal.pone.0000001")
    world = World.build([work], seed=5, faults={"all": 0.0})
    url = world.truth_for("dl")["doi_redirect"].pdf_url
    assert url is not None and "?" in url  # a query string no file name should carry
    dest = tmp_path / "pdfs"
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport(), follow_redirects=True) as client:
            got = await download_pdf(client, url, dest)
    assert got.ok and got.sha256 is not None
    assert got.path == final_path(dest, got.sha256)
    assert hashlib.sha256(got.path.read_bytes()).hexdigest() == got.sha256
    assert [p for p in dest.rglob("*") if p.is_file()] == [got.path]


async def _run_with_email(tmp_path: Path) -> tuple[Path, list[str]]:
    works = list(read_works(Path(__file__).parents[2] / "sample_works.csv").works)[:12]
    plan = plan_from_dict({
        "name": "email",
        "budgets": {"total_timeout_ms": 20_000},
        "tiers": [{"name": "oa", "parallel": 2, "sources": ["unpaywall", "openalex", "crossref"]},
                  {"name": "pmc", "sources": ["pmc", "europe_pmc"]}],
        "politeness": {"email": EMAIL},
    })
    world = World.build(works, seed=5)
    out = tmp_path / "run"
    async with Sandbox(world, time_scale=0.02) as sb:
        rec = Recorder(sb.transport())
        await arun_works(works, plan, out=out, time_scale=0.02, progress=False, transport=rec)
    assert any(EMAIL in u or quote(EMAIL) in u for u in rec.urls)  # the services got it
    return out, rec.urls


FORMS = (EMAIL, quote(EMAIL), quote(EMAIL, safe=""))


async def test_contact_email_never_reaches_the_run_store(tmp_path: Path) -> None:
    """A sandbox run with the plan's email: the services get it, no file of the run holds it."""
    out, _ = await _run_with_email(tmp_path)
    leaks = {p.name: [f for f in FORMS if f.encode() in p.read_bytes()]
             for p in out.rglob("*") if p.is_file()}
    assert {name: found for name, found in leaks.items() if found} == {}


async def test_contact_email_never_reaches_the_logs(tmp_path: Path, caplog) -> None:
    """The same run logged at DEBUG (any logger, httpx's too) never shows the email."""
    caplog.set_level(logging.DEBUG)
    await _run_with_email(tmp_path)
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if any(f in line for f in FORMS)] == []
