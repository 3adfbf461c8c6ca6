"""Politeness: who we say we are, per-host rate limits on a fake clock, the client."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from _netkit import PDF, Router, make_fetcher

from fallback_kit.web import client as politeness
from fallback_kit.web.client import (
    DEFAULT_RATE_LIMITS,
    make_client,
    user_agent,
    warn_missing_email_once,
)
from fallback_kit.web.edge import NetSettings
from fallback_kit.web.gates import Gates, RateLimit


def test_user_agent_names_contact():
    """The User-Agent carries the homepage and the mailto contact."""
    ua = user_agent("me@uni.edu")
    assert (
        ua.startswith("fallback_kit/")
        and "(+https://github.com/fallback-kit/fallback-kit; mailto:me@uni.edu)" in ua
    )


def test_warns_once_without_email_in_live_mode(caplog):
    """Live mode without an email warns exactly once per process."""
    politeness._reset_warning_for_tests()
    with caplog.at_level(logging.WARNING, logger="fallback_kit"):
        assert warn_missing_email_once(NetSettings(live=True)) is True
        assert warn_missing_email_once(NetSettings(live=True)) is False
    assert len([r for r in caplog.records if "email" in r.getMessage()]) == 1


def test_no_warning_in_sandbox_mode():
    """Sandbox/mock mode never warns about the email."""
    politeness._reset_warning_for_tests()
    assert warn_missing_email_once(NetSettings(live=False)) is False


async def test_make_client_is_polite_and_does_not_follow_redirects():
    """The client sends the polite User-Agent and leaves redirects to the Fetcher."""
    router = Router()
    router.add("https://a.example.org/", 302, location="https://b.example.org/")
    import httpx

    async with make_client(NetSettings(email="me@uni.edu"), httpx.MockTransport(router)) as client:
        resp = await client.get("https://a.example.org/")
    assert resp.status_code == 302 and client.follow_redirects is False
    assert "mailto:me@uni.edu" in router.seen[0].headers["user-agent"]


def test_default_limits_follow_published_guidance():
    """arXiv API 1 per 3 s, NCBI 3/s, Semantic Scholar 1/s, OpenAlex/Crossref 10/s."""
    gates = Gates(rate_limits=DEFAULT_RATE_LIMITS)
    assert gates.limiter("export.arxiv.org").limit == RateLimit(per_second=1 / 3, burst=1)
    assert gates.limiter("pmc.ncbi.nlm.nih.gov").limit.per_second == 3
    assert gates.limiter("api.semanticscholar.org").limit.per_second == 1
    assert gates.limiter("api.openalex.org").limit.per_second == 10
    assert gates.limiter("api.crossref.org").limit.per_second == 10


@pytest.mark.looptime
async def test_arxiv_api_rate_holds_on_fake_clock():
    """Four export.arxiv.org requests take at least 9 s of loop time (1 per 3 s)."""
    router = Router()
    router.add("https://export.arxiv.org/api/query", 200, "<feed/>")
    fetcher = make_fetcher(router, gates=Gates(rate_limits=DEFAULT_RATE_LIMITS))
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(
        *(fetcher.get_text("https://export.arxiv.org/api/query") for _ in range(4))
    )
    assert loop.time() - start >= 9 - 1e-6 and len(router.seen) == 4


@pytest.mark.looptime
async def test_rate_limit_is_per_host():
    """A slow host's limit does not delay requests to another host."""
    router = Router()
    router.add("https://slow.example.org/x.pdf", 200, PDF)
    router.add("https://fast.example.org/x.pdf", 200, PDF)
    gates = Gates(rate_limits={"slow.example.org": RateLimit(per_second=0.5)})
    fetcher = make_fetcher(router, gates=gates)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(*(fetcher.check_pdf("https://slow.example.org/x.pdf") for _ in range(3)))
    slow = loop.time() - start
    start = loop.time()
    await asyncio.gather(*(fetcher.check_pdf("https://fast.example.org/x.pdf") for _ in range(3)))
    assert slow >= 4 - 1e-6 and loop.time() - start < 0.01


async def test_client_keeps_cookies_a_site_sets():
    """A landing page that sets a session cookie gets it back on the next request (many
    publishers serve the PDF only then); our cheaper cookie jar must not lose that, even
    if httpx changes the internals `make_client` relies on."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        if request.url.path == "/landing":
            return httpx.Response(200, headers={"set-cookie": "session=abc; Path=/"})
        return httpx.Response(200, content=b"%PDF-1.7")

    settings = NetSettings(live=False, email="team@example.org")
    async with make_client(settings, transport=httpx.MockTransport(handler)) as client:
        # the hook is in place on the releases it knows; elsewhere httpx's own jar serves
        assert isinstance(client.cookies, politeness._Cookies) is politeness.cookies_hook_known()
        await client.get("https://publisher.example/landing")
        await client.get("https://publisher.example/paper.pdf")
        await client.get("https://other.example/paper.pdf")
    assert seen == [None, "session=abc", None]


@pytest.mark.parametrize("version,installed", [
    ("0.27.2", True), ("0.28.1", True), ("0.29.0", True), ("0.26.0", False),
    ("0.30.0", False), ("1.0.0", False), ("dev", False),
])
def test_lazy_cookie_jar_is_installed_only_on_known_httpx_releases(monkeypatch, version,
                                                                    installed):
    """The one use of httpx's private `_cookies` is checked against the release: on one
    it does not know, the client keeps httpx's own jar."""
    monkeypatch.setattr(httpx, "__version__", version)
    client = httpx.AsyncClient()
    assert politeness.install_lazy_cookies(client) is installed
    assert isinstance(client.cookies, politeness._Cookies) is installed
