"""The Wiley TDM source against real recorded responses (tests/fixtures/services/README.md,
section "Wiley / Elsevier TDM"): Crossref's record that points at the TDM endpoint, and
the endpoint's recorded answer headers, served at their real URLs.

The recorded PDF body was not copied (copyrighted full text); the TDM route answers the
recorded status and headers (without its `content-length`, which was the real file's)
around the test kit's small PDF."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from _netkit import PDF, Router, make_fetcher
from fakes import make_plan

from fallback_kit.contracts.events import ListSink, Outcome
from fallback_kit.contracts.registry import KEY_HEADERS, source_key, spec_of
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.sources import SourceContext, get_source
from fallback_kit.sources.crossref import crossref_tdm_links
from fallback_kit.web.client import DEFAULT_RATE_LIMITS

SERVICES = Path(__file__).parent / "fixtures" / "services"
WILEY_CROSSREF = (SERVICES / "wiley/"
                  "crossref_works_10.2903_j.efsa.2014.3550_tdm_links_to_api.wiley.com.json")
WILEY_HEADERS = SERVICES / "wiley/tdm_v1_articles_10.2903_j.efsa.2014.3550_pdf_HEADERS_ONLY.json"
ELSEVIER_CROSSREF = (SERVICES / "elsevier/"
                     "crossref_works_10.1016_j.intacc.2003.09.001_tdm_links_to_api.elsevier.com.json")
DOI = "10.2903/j.efsa.2014.3550"
CROSSREF_URL = "https://api.crossref.org/works/10.2903/j.efsa.2014.3550"
TDM_URL = "https://api.wiley.com/onlinelibrary/tdm/v1/articles/10.2903%2Fj.efsa.2014.3550"
TOKEN = "wiley-token-5f0e9c"
TOKEN_ENVS = ("FALLBACK_KIT_WILEY_TDM_TOKEN", "WILEY_TDM_TOKEN")


def recorded_tdm_answer() -> tuple[int, dict[str, str]]:
    """The recorded status and response headers of the TDM call (not its body)."""
    rec = json.loads(WILEY_HEADERS.read_text(encoding="utf-8"))
    headers = {k: v for k, v in rec["response"]["headers"].items()
               if k not in ("status", "content-length")}
    return int(rec["response"]["status"]["status_code"]), headers


def wiley_router() -> Router:
    r = Router()
    r.add(CROSSREF_URL, 200, WILEY_CROSSREF.read_bytes(), content_type="application/json")
    status, headers = recorded_tdm_answer()
    r.routes[TDM_URL] = httpx.Response(status, headers=headers, content=PDF)
    return r


async def run(router: Router, **options):
    fetcher = make_fetcher(router)
    res = await get_source("wiley_tdm").find(
        Work(work_id="w", doi=DOI), SourceContext(http=fetcher, options=options))
    return res, fetcher


@pytest.fixture
def no_token(monkeypatch):
    for name in TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)


def test_recorded_crossref_records_name_the_tdm_endpoints():
    """Wiley's link says content-type `unspecified`; Elsevier's record has no Wiley link."""
    wiley = json.loads(WILEY_CROSSREF.read_text(encoding="utf-8"))["message"]
    links = crossref_tdm_links(wiley, "api.wiley.com")
    assert [(c.url, c.version) for c in links] == [(TDM_URL, "publishedVersion")]
    elsevier = json.loads(ELSEVIER_CROSSREF.read_text(encoding="utf-8"))["message"]
    assert crossref_tdm_links(elsevier, "api.wiley.com") == []
    assert [c.url.rsplit("=", 1)[1] for c in crossref_tdm_links(elsevier, "api.elsevier.com")] \
        == ["text/xml", "text/plain"]


def test_recorded_tdm_answer_is_a_pdf():
    """The recorded answer is application/pdf: `unspecified` in Crossref is a PDF here."""
    status, headers = recorded_tdm_answer()
    assert (status, headers["content-type"]) == (200, "application/pdf")


def test_token_from_environment_only(no_token):
    """The plan names a variable (key_env); else FALLBACK_KIT_WILEY_TDM_TOKEN, WILEY_TDM_TOKEN."""
    assert source_key("wiley_tdm", "", {}) is None
    assert source_key("wiley_tdm", "", {"WILEY_TDM_TOKEN": "b"}) == "b"
    env = {"FALLBACK_KIT_WILEY_TDM_TOKEN": "a", "WILEY_TDM_TOKEN": "b", "MINE": "c"}
    assert source_key("wiley_tdm", "", env) == "a"
    assert source_key("wiley_tdm", "MINE", env) == "c"


def test_wiley_rate_limit_and_key_header_in_the_registry():
    """The third-party figure (60 per 10 minutes) is the one gate; the header is a key."""
    assert DEFAULT_RATE_LIMITS["api.wiley.com"].per_second == pytest.approx(0.1)
    assert spec_of("wiley_tdm").key_header.lower() in KEY_HEADERS
    assert "api.wiley.com" not in spec_of("wiley_tdm").hosts  # never a cached host


async def test_without_token_skipped_and_nothing_sent(no_token):
    router = wiley_router()
    res, fetcher = await run(router)
    assert (res.outcome, res.reason, fetcher.requests, router.seen) == (
        Outcome.SKIPPED, "no_api_key", 0, [])


async def test_token_goes_to_wiley_only_and_the_pdf_is_kept(no_token, monkeypatch):
    """Crossref is asked without the token; the TDM link gets it; the bytes are kept, so a
    download never asks again without it; the token is in no field of the result."""
    monkeypatch.setenv("WILEY_TDM_TOKEN", TOKEN)
    router = wiley_router()
    res, _ = await run(router)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, TDM_URL)
    crossref, tdm = router.seen
    assert "wiley-tdm-client-token" not in crossref.headers
    assert tdm.headers["wiley-tdm-client-token"] == TOKEN
    assert res.body == PDF
    assert TOKEN not in repr(res) and TOKEN not in json.dumps(res.meta, default=str)


async def test_token_dropped_when_a_redirect_leaves_the_api_host(no_token, monkeypatch):
    monkeypatch.setenv("FALLBACK_KIT_WILEY_TDM_TOKEN", TOKEN)
    router = wiley_router()
    router.add(TDM_URL, 302, location="https://cdn.example.org/file.pdf")
    router.add("https://cdn.example.org/file.pdf", 200, PDF)
    res, _ = await run(router)
    assert res.outcome is Outcome.SUCCESS
    assert "wiley-tdm-client-token" not in router.seen[-1].headers


async def test_no_wiley_link_in_the_record(no_token, monkeypatch):
    """Elsevier's recorded record served for the DOI: no Wiley text-mining link."""
    monkeypatch.setenv("WILEY_TDM_TOKEN", TOKEN)
    router = Router()
    router.add(CROSSREF_URL, 200, ELSEVIER_CROSSREF.read_bytes())
    res, _ = await run(router)
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "no_tdm_link")


@pytest.mark.looptime
async def test_token_never_recorded_in_attempts_or_resolutions(no_token, monkeypatch):
    """A server that echoes the token in a redirect's URL: the recorded attempt and the
    resolution carry REDACTED instead (the token is hidden by value, from the environment)."""
    monkeypatch.setenv("WILEY_TDM_TOKEN", TOKEN)
    router = wiley_router()
    echoed = f"https://cdn.example.org/file/{TOKEN}.pdf"  # another host: no rate wait
    router.add(TDM_URL, 302, location=echoed)
    status, headers = recorded_tdm_answer()
    router.routes[echoed] = httpx.Response(status, headers=headers, content=PDF)
    sink = ListSink()
    client = httpx.AsyncClient(transport=httpx.MockTransport(router), follow_redirects=False)
    plan = make_plan([{"name": "t", "sources": ["wiley_tdm"]}],
                     accept={"check_paper": False})
    async with client:
        o = Orchestrator(plan, client=client, sink=sink, trust_transport=True)
        resolution = await o.resolve(Work(work_id="w", doi=DOI))
    assert router.seen[-1].url == httpx.URL(echoed)  # the echo did happen
    assert resolution.status == "resolved"
    recorded = repr(sink.attempts) + repr(sink.resolutions)
    assert TOKEN not in recorded and "REDACTED" in recorded


def test_environment_keys_are_hidden_in_the_logs(no_token, monkeypatch, caplog):
    """Once a run's orchestrator exists, a log line that carries the token (or CORE's key)
    shows REDACTED: the keys come from the environment, so they are registered from it."""
    monkeypatch.setenv("WILEY_TDM_TOKEN", TOKEN)
    monkeypatch.setenv("CORE_API_KEY", "core-key-77aa")
    Orchestrator(make_plan([{"name": "t", "sources": ["wiley_tdm", "core"]}]),
                 client=httpx.AsyncClient(transport=httpx.MockTransport(Router())))
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info("sent %s and %s", TOKEN, "core-key-77aa")
    assert caplog.messages == ["sent REDACTED and REDACTED"]
