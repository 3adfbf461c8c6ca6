"""The metadata cache: a re-run asks the APIs nothing, the services' cache headers are
honoured, PDFs and pages are never stored, and offline `cache_only` answers from it."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import httpx
import pytest
from _netkit import HTML, PDF, REFERENCE, Router

from fallback_kit.contracts.plan import PlanError, load_plan, plan_from_dict
from fallback_kit.engine.batch import http_cache, metadata_hosts
from fallback_kit.faces import api
from fallback_kit.faces.networks import network_for
from fallback_kit.web.cache import HttpCache
from fallback_kit.web.client import make_client
from fallback_kit.web.edge import Fetcher, NetSettings
from fallback_kit.web.gates import GateClosed, Gates, RateLimit

UNPAYWALL = (REFERENCE / "unpaywall" / "noddy_oadoi_v2_10.1186_1758-2946-3-47.json").read_bytes()
ARXIV = (REFERENCE / "arxiv" / "cecilia_readme_arxiv_query_all_ai_excerpt.atom.xml").read_bytes()
API = "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47?email=a%40b.org"


def _cache(tmp_path: Path, max_age_s: int = 3600) -> HttpCache:
    return HttpCache(tmp_path / "cache", metadata_hosts(), max_age_s)


async def _get_twice(cache: HttpCache, router: Router, url: str) -> list[int]:
    """GET `url` twice through a cached client; the statuses seen by the caller."""
    statuses = []
    async with make_client(NetSettings(), transport=httpx.MockTransport(router),
                           cache=cache) as client:
        for _ in range(2):
            response = await client.get(url)
            await response.aread()
            statuses.append(response.status_code)
    return statuses


# ---------------------------------------------------------------- what is stored


async def test_json_without_cache_headers_is_kept_for_the_plans_max_age(tmp_path):
    """An API answer that states no freshness is served from the cache the second time."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json")
    assert await _get_twice(_cache(tmp_path), r, API) == [200, 200]
    assert len(r.seen) == 1


async def test_max_age_zero_keeps_only_what_the_service_allows(tmp_path):
    """With cache.max_age 0 an answer without cache headers is asked again."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json")
    await _get_twice(_cache(tmp_path, max_age_s=0), r, API)
    assert len(r.seen) == 2


@pytest.mark.parametrize("directive", ["no-store", "max-age=0, must-revalidate", "no-cache"])
async def test_the_services_cache_headers_are_honoured(tmp_path, directive):
    """A service that forbids storing or asks for revalidation is asked again."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json", cache_control=directive)
    await _get_twice(_cache(tmp_path), r, API)
    assert len(r.seen) == 2


async def test_xml_answers_and_doi_redirects_are_kept(tmp_path):
    """arXiv's Atom feed and doi.org's redirect are metadata answers too."""
    r = Router()
    atom = "https://export.arxiv.org/api/query?id_list=2101.00001"
    doi = "https://doi.org/10.1186/1758-2946-3-47"
    r.add(atom, 200, ARXIV, content_type="application/atom+xml; charset=utf-8")
    r.add(doi, 302, "", location="https://jcheminf.springeropen.com/articles/10.1186/x")
    cache = _cache(tmp_path)
    assert await _get_twice(cache, r, atom) == [200, 200]
    assert await _get_twice(cache, r, doi) == [302, 302]
    assert [str(q.url) for q in r.seen] == [atom, doi]


@pytest.mark.parametrize(("url", "body", "ctype"), [
    ("https://arxiv.org/pdf/2101.00001", PDF, "application/pdf"),
    ("https://pmc.ncbi.nlm.nih.gov/articles/PMC3/", HTML, "text/html; charset=utf-8"),
    ("https://api.unpaywall.org/v2/10.1/x", PDF, "application/octet-stream"),
])
async def test_pdfs_and_pages_are_never_stored(tmp_path, url, body, ctype):
    """A PDF or a landing page from a metadata host is fetched every time."""
    r = Router()
    r.add(url, 200, body, content_type=ctype)
    await _get_twice(_cache(tmp_path), r, url)
    assert len(r.seen) == 2
    assert not list((tmp_path / "cache").glob("*")) or _stored_rows(tmp_path) == 0


def _stored_rows(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "cache" / "http-cache.sqlite") as db:
        return int(db.execute("select count(*) from entries").fetchone()[0])


async def test_other_hosts_pass_straight_through(tmp_path):
    """JSON from a host no source declares (a publisher) is not cached."""
    r = Router()
    url = "https://www.publisher.example/api/article.json"
    r.add(url, 200, UNPAYWALL, content_type="application/json")
    await _get_twice(_cache(tmp_path), r, url)
    assert len(r.seen) == 2


def test_metadata_hosts_cover_the_sources_api_hosts():
    """The sources' declared hosts, their sites and subdomains; nothing else."""
    cache = HttpCache(Path("."), metadata_hosts())
    for host in ("api.unpaywall.org", "export.arxiv.org", "www.ncbi.nlm.nih.gov", "doi.org",
                 "api.crossref.org", "www.ebi.ac.uk", "web.archive.org"):
        assert cache.covers(host), host
    for host in ("www.nature.com", "notdoi.org", "example.org", "europepmc.org"):
        assert not cache.covers(host), host


async def test_the_cache_persists_across_clients(tmp_path):
    """A new run (a new client) on the same directory is answered from disk."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json")
    cache = _cache(tmp_path)
    for _ in range(2):
        async with make_client(NetSettings(), transport=httpx.MockTransport(r),
                               cache=cache) as client:
            assert (await client.get(API)).json()["doi"] == "10.1186/1758-2946-3-47"
    assert len(r.seen) == 1
    cache.clear()
    assert not list((tmp_path / "cache").glob("http-cache.sqlite*"))


# ---------------------------------------------------------------- through the Fetcher


def _fetcher(client: httpx.AsyncClient, gates: Gates | None = None,
             offline: str | None = None) -> Fetcher:
    settings = NetSettings(offline=offline, trust_transport=True)
    return Fetcher(client, gates=gates or Gates(), settings=settings)


async def test_a_cache_hit_takes_no_rate_limit_turn(tmp_path):
    """A stored answer is not sent, so it waits for no rate-limit turn and is not
    counted as a request, nor its bytes as received."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json")
    gates = Gates(rate_limits={"api.unpaywall.org": RateLimit(per_second=0.001, burst=1)},
                  max_rate_wait_ms=0)
    async with make_client(NetSettings(), transport=httpx.MockTransport(r),
                           cache=_cache(tmp_path)) as client:
        first = _fetcher(client, gates)
        await first.get_json(API)
        again = _fetcher(client, gates)
        assert (await again.get_json(API)).data["doi"] == "10.1186/1758-2946-3-47"
    assert (first.requests, again.requests, len(r.seen)) == (1, 0, 1)
    assert first.bytes_read == len(UNPAYWALL) and again.bytes_read == 0


async def test_cache_only_answers_from_the_cache_and_refuses_the_rest(tmp_path):
    """Offline cache_only: a stored answer is served, anything else is refused
    before it reaches the network."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json")
    cache = _cache(tmp_path)
    async with make_client(NetSettings(), transport=httpx.MockTransport(r),
                           cache=cache) as client:
        await _fetcher(client).get_json(API)
        offline = _fetcher(client, offline="cache_only")
        assert (await offline.get_json(API)).status == 200
        with pytest.raises(GateClosed) as missing:
            await offline.get_json("https://api.crossref.org/works/10.1/none")
        with pytest.raises(GateClosed) as pdf:
            await offline.check_pdf("https://arxiv.org/pdf/2101.00001")
        assert offline.requests == 0  # refused before any rate-limit turn or request
    assert missing.value.reason == pdf.value.reason == "offline_not_cached"
    assert (missing.value.host, pdf.value.host) == ("api.crossref.org", "arxiv.org")
    assert "https://api.crossref.org/works/10.1/none" in str(missing.value)
    assert len(r.seen) == 1


async def test_an_answer_is_stored_when_its_asker_gives_up(tmp_path):
    """A request cancelled mid-flight (another source won) still fills the cache."""
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, content=UNPAYWALL,
                              headers={"content-type": "application/json"})

    sent: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        return await slow(request)

    cache = _cache(tmp_path)
    async with make_client(NetSettings(), transport=httpx.MockTransport(handler),
                           cache=cache) as client:
        asker = asyncio.ensure_future(client.get(API))
        while not sent:
            await asyncio.sleep(0)
        asker.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await asker
        for _ in range(20):  # let the fill finish
            await asyncio.sleep(0)
        assert (await client.get(API)).json()["doi"] == "10.1186/1758-2946-3-47"
    assert len(sent) == 1


# ---------------------------------------------------------------- a whole re-run


class _Counting(httpx.AsyncBaseTransport):
    """Counts the API requests that reach the simulated web, by host: every request but
    a PDF (a probe or a whole file) and a page (HTML: a landing page, or an archived
    copy of one; never cached, by design)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.hosts: collections.Counter[str] = collections.Counter()
        self.pages = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        pdf = "range" in request.headers or request.headers.get("accept", "").startswith(
            "application/pdf")
        page = (response.status_code == 200 and response.headers.get(
            "content-type", "").startswith("text/html"))
        if pdf or page:
            self.pages += page
        else:
            self.hosts[request.url.host] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _cold_and_warm(tmp_path: Path, plan, n: int,
                         concurrency: int) -> list[tuple[int, dict[str, str]]]:
    """The same works run twice on a fault-free sandbox with one cache directory: for
    each run, its metadata requests (to the hosts the cache covers, PDFs aside) and
    each work's status and winning source."""
    from fallback_kit.sandbox import Sandbox, World
    from fallback_kit.sandbox.corpus import synthetic_works

    works = synthetic_works("mixed", n=n, seed=3)
    cache = http_cache(tmp_path / "cache", plan)
    sandbox = Sandbox(World.build(works, profile="mixed", seed=7, faults={"all": 0.0}),
                      time_scale=0.1)
    await asyncio.to_thread(sandbox.start)
    runs = []
    try:
        for i in range(2):
            counting = _Counting(sandbox.transport())
            result = await api.arun_works(works, plan, transport=counting, time_scale=0.1,
                                          trust_transport=True, concurrency=concurrency,
                                          out=tmp_path / f"run{i}", cache=cache.directory,
                                          progress=False)
            api_calls = sum(n for h, n in counting.hosts.items() if cache.covers(h))
            ends = {r.work_id: f"{r.status}:{r.source}" for r in result.resolutions}
            runs.append((api_calls, ends))
    finally:
        await asyncio.to_thread(sandbox.stop)
    return runs


async def test_a_second_run_with_the_default_plan_sends_no_metadata_requests(tmp_path):
    """The default plan (sources side by side, tiers in order), 30 works, the same
    cache: the first run asks the APIs, the second asks them nothing and ends every
    work as the first did, with the same winner. At 4 works in flight no gate holds a
    try back in the first run, so every question it had has its answer in the cache."""
    plan = load_plan("default")
    (cold, first), (warm, second) = await _cold_and_warm(tmp_path, plan, n=30, concurrency=4)
    assert not any(end.startswith("transient") for end in first.values()), first
    assert cold >= len(first) and warm == 0
    assert first == second


# ---------------------------------------------------------------- plan and options


def test_plan_cache_max_age_reads_validates_and_round_trips():
    """`cache.max_age` (seconds) is read, bad values are named by YAML path, and a
    default plan's YAML has no cache section (stored plans stay comparable)."""
    base = {"tiers": [{"name": "t", "sources": ["unpaywall"]}]}
    assert plan_from_dict({**base, "cache": {"max_age": 60}}).cache.max_age == 60
    assert "cache" not in plan_from_dict(base).to_dict()
    assert plan_from_dict({**base, "cache": {"max_age": 0}}).to_dict()["cache"] == {"max_age": 0}
    with pytest.raises(PlanError) as bad:
        plan_from_dict({**base, "cache": {"max_age": -1, "maxage": 5}})
    paths = [p for p, _ in bad.value.problems]
    assert paths == ["cache.maxage", "cache.max_age"]


def test_plan_cache_max_age_from_the_environment():
    plan = load_plan("default", env={"FALLBACK_KIT_CACHE__MAX_AGE": "120"})
    assert plan.cache.max_age == 120


def test_cache_option_defaults_to_the_live_web_only(tmp_path, monkeypatch):
    """By default only the live web is cached (in the user's cache directory); a
    directory caches any network; False caches nothing."""
    monkeypatch.setattr(api, "default_cache_dir", lambda: tmp_path / "user")
    plan = load_plan("default", overrides={"cache.max_age": 99})
    live, sandbox = network_for("live"), network_for("sandbox")
    chosen = api._cache_for(None, live, plan)
    assert chosen is not None and chosen.directory == tmp_path / "user" / "http"
    assert chosen.max_age_s == 99
    assert api._cache_for(None, sandbox, plan) is None
    assert api._cache_for(False, live, plan) is None
    given = api._cache_for(tmp_path / "mine", sandbox, plan)
    assert given is not None and given.directory == tmp_path / "mine"


def test_cli_run_passes_cache_and_no_cache(monkeypatch, tmp_path):
    """`run --cache DIR` and `run --no-cache` reach run_works."""
    from fallback_kit.faces.cli import main

    seen: list[object] = []

    def fake_run_works(*args, **kwargs):
        seen.append(kwargs["cache"])
        raise SystemExit(0)

    monkeypatch.setattr(api, "run_works", fake_run_works)
    works = tmp_path / "works.csv"
    works.write_text("work_id,doi\nw1,10.1186/1758-2946-3-47\n")
    plan = "default"
    for flags in (["--cache", str(tmp_path / "c")], ["--no-cache"], []):
        with pytest.raises(SystemExit):
            main(["run", str(works), "--plan", plan, *flags])
    assert seen == [str(tmp_path / "c"), False, None]


@pytest.mark.parametrize("bad", ["file", "http-cache.sqlite", "races.sqlite"])
def test_an_unusable_cache_is_one_clear_line_exit_2(tmp_path, capsys, bad):
    """`--cache` on a file, or a cache file (answers, races) that is not SQLite: exit 2,
    one line naming the file to delete."""
    from fallback_kit.faces.cli import main

    target = tmp_path / "c"
    if bad == "file":
        target.write_text("not a directory")
    else:
        target.mkdir()
        (target / bad).write_text("garbage, not a database file at all")
    works = tmp_path / "works.csv"
    works.write_text("work_id,doi\nw1,10.1186/1758-2946-3-47\n")
    code = main(["run", str(works), "--plan", "default", "--cache",
                 str(target), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"cache {target}" in err[0]
    assert bad == "file" or f"delete {bad}" in err[0]
    assert "Traceback" not in err[0]


async def test_a_pdf_probe_of_a_cached_address_is_sent_not_answered_from_the_cache(tmp_path):
    """The cache is asked with the request's own headers: a probe (a Range request)
    of an address whose JSON answer is stored is sent, never answered with the JSON."""
    r = Router()
    r.add(API, 200, UNPAYWALL, content_type="application/json")
    async with make_client(NetSettings(), transport=httpx.MockTransport(r),
                           cache=_cache(tmp_path)) as client:
        await _fetcher(client, Gates()).get_json(API)
        probe = _fetcher(client, Gates())
        check = await probe.check_pdf(API)
    assert (probe.requests, len(r.seen), check.reason) == (1, 2, "not_pdf")
    assert "range" in r.seen[1].headers
