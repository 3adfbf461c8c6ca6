"""Each simulated host answers over real HTTP in the shape of the real service's sample."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fallback_kit.contracts.works import Work
from fallback_kit.sandbox import Sandbox, World

REF = Path(__file__).resolve().parents[1] / "fixtures" / "reference"

WORKS = [
    Work.create(
        "jcheminf",
        doi="10.1186/1758-2946-3-47",
        pmcid="PMC3206455",
        pmid="21999661",
        title="Open bibliography for science, technology, and medicine",
    ),
    Work.create("arxiv", arxiv_id="2409.12922", title="AI Thinking"),
    Work.create("plos", doi="10.1371/journal.pone.0213978"),
    Work.create("wiley", doi="10.1002/anie.201915678"),
    Work.create("ng", doi="10.1038/ng.590", pmid="20495566"),
]
EMAIL = "team@fallback-kit.org"
# publishers always open, nothing blocked, every landing archived: a web with no accidents;
# the generic page shapes only (the platform shapes: test_sandbox_platforms.py)
RATES = {
    "platform_pages": 0.0,
    "archived_landing": 1.0,
    "archived_pdf": 1.0,
    "hybrid": 1.0,
    "bronze": 0.0,
    "europepmc_oa": 1.0,
    "pmc_has_pdf": 1.0,
}


@pytest.fixture(scope="module")
def world() -> World:
    return World.build(WORKS, seed=3, faults={"all": 0.0}, rates=RATES)


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport(), follow_redirects=True) as c:
            yield c


def _ref(path: str) -> object:
    text = (REF / path).read_text()
    return json.loads(text)


def _same_shape(sample: dict[str, object], ours: dict[str, object], where: str) -> None:
    missing = set(sample) - set(ours)
    assert not missing, f"{where}: keys missing {sorted(missing)}"
    for key, value in sample.items():
        if value is None or ours[key] is None:
            continue
        assert type(ours[key]) is type(value), f"{where}.{key}: {type(ours[key])} vs {type(value)}"


def _unwrap_unpaywall() -> dict[str, object]:
    text = (REF / "unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json").read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # the sample is an exact substring: close it leniently
        return json.loads(text.rstrip().rstrip(",") + "}")


async def test_unpaywall_matches_sample(client: httpx.AsyncClient) -> None:
    """Unpaywall v2: the sample's keys and types, plus oa_status; best location first."""
    r = await client.get(f"https://api.unpaywall.org/v2/10.1186/1758-2946-3-47?email={EMAIL}")
    assert r.status_code == 200
    ours = r.json()
    sample = _unwrap_unpaywall()
    _same_shape(sample, ours, "unpaywall")
    _same_shape(sample["best_oa_location"], ours["best_oa_location"], "best_oa_location")
    assert ours["oa_status"] == "gold"
    assert ours["best_oa_location"]["url_for_pdf"] == (
        "https://jcheminf.springeropen.com/track/pdf/10.1186/1758-2946-3-47"
        "?site=jcheminf.springeropen.com"
    )
    pmc = [loc for loc in ours["oa_locations"] if "PMC3206455" in loc["url"]]
    assert (
        pmc and pmc[0]["url_for_pdf"] == "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf"
    )


async def test_unpaywall_errors(client: httpx.AsyncClient) -> None:
    """Unknown DOI -> 404 JSON with the real message; missing email -> 422."""
    r = await client.get(f"https://api.unpaywall.org/v2/10.9999/nope?email={EMAIL}")
    assert r.status_code == 404
    assert r.json() == {
        "HTTP_status_code": 404,
        "error": True,
        "message": "'10.9999/nope' is an invalid doi. See https://doi.org/10.9999/nope",
    }
    r = await client.get("https://api.unpaywall.org/v2/10.1186/1758-2946-3-47")
    assert r.status_code == 422 and r.json()["error"] is True


async def test_openalex_matches_sample(client: httpx.AsyncClient) -> None:
    """OpenAlex work: every key of the sample with its type; locations carry pdf_url."""
    r = await client.get(
        f"https://api.openalex.org/works/doi:10.1186/1758-2946-3-47?mailto={EMAIL}"
    )
    ours = r.json()
    sample = _ref("openalex/zotero_openalex_W3123223998_green.json")
    _same_shape(sample, ours, "openalex")
    _same_shape(sample["open_access"], ours["open_access"], "open_access")
    _same_shape(sample["locations"][0], ours["locations"][0], "locations[0]")
    assert ours["best_oa_location"]["pdf_url"].startswith("https://jcheminf.springeropen.com/")
    missing = await client.get("https://api.openalex.org/works/doi:10.9999/nope")
    assert missing.status_code == 404


async def test_crossref_matches_sample(client: httpx.AsyncClient) -> None:
    """Crossref work: the sample item's keys; link[] entries have the four fields."""
    r = await client.get("https://api.crossref.org/works/10.1186/1758-2946-3-47")
    body = r.json()
    assert (body["status"], body["message-type"]) == ("ok", "work")
    sample = _ref("crossref/rcrossref_works_filter_has-full-text_true_rows10.json")
    _same_shape(sample["message"]["items"][0], body["message"], "crossref.message")
    for link in body["message"]["link"]:
        assert set(link) == {"URL", "content-type", "content-version", "intended-application"}
    missing = await client.get("https://api.crossref.org/works/10.9999/nope")
    assert (missing.status_code, missing.text) == (404, "Resource not found.")


async def test_europepmc_matches_sample(client: httpx.AsyncClient) -> None:
    """Europe PMC core search: envelope plus a result shaped like the sample, render PDF first."""
    r = await client.get(
        "https://www.ebi.ac.uk/europepmc/webservices/rest/search",
        params={"query": "PMCID:PMC3206455", "resultType": "core", "format": "json"},
    )
    body = r.json()
    assert body["hitCount"] == 1 and "request" in body and "version" in body
    result = body["resultList"]["result"][0]
    _same_shape(_ref("europepmc/noddy_epmc_core_result_PMC3206455.json"), result, "epmc")
    first = result["fullTextUrlList"]["fullTextUrl"][0]
    assert first == {
        "availability": "Open access",
        "availabilityCode": "OA",
        "documentStyle": "pdf",
        "site": "Europe_PMC",
        "url": "https://europepmc.org/articles/PMC3206455?pdf=render",
    }
    pdf = await client.get(first["url"])
    assert pdf.content.startswith(b"%PDF-")


async def test_idconv_matches_sample(client: httpx.AsyncClient) -> None:
    """NCBI idconv: records[] with pmcid/pmid/doi; unknown ids get status error."""
    r = await client.get(
        "https://www.ncbi.nlm.nih.gov/pmc/utils/idconv/v1.0/",
        params={
            "ids": "10.1186/1758-2946-3-47,10.9999/nope",
            "format": "json",
            "tool": "fallback_kit",
            "email": EMAIL,
        },
    )
    body = r.json()
    sample = _ref("pmc_idconv/rcrossref_idconv_10.1038_ng.590.json")
    assert set(sample) <= set(body)
    rec, bad = body["records"]
    assert {k: rec[k] for k in ("pmcid", "pmid", "doi")} == {
        "pmcid": "PMC3206455",
        "pmid": "21999661",
        "doi": "10.1186/1758-2946-3-47",
    }
    assert bad["status"] == "error" and "errmsg" in bad


async def test_semantic_scholar_shape(client: httpx.AsyncClient) -> None:
    """S2 paper: {paperId, openAccessPdf{url,status}} like the sample's items; 404 message."""
    r = await client.get(
        "https://api.semanticscholar.org/graph/v1/paper/ARXIV:2409.12922",
        params={"fields": "openAccessPdf"},
    )
    ours = r.json()
    sample = _ref("semanticscholar/s2_paper_search_turing_openAccessPdf.json")["data"][0]
    _same_shape(sample, ours, "s2")
    assert set(ours["openAccessPdf"]) == {"url", "status"} and re.fullmatch(
        r"[0-9a-f]{40}", ours["paperId"]
    )
    missing = await client.get("https://api.semanticscholar.org/graph/v1/paper/DOI:10.9/x")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Paper with id DOI:10.9/x not found"}


async def test_arxiv_pages_and_atom(client: httpx.AsyncClient) -> None:
    """arXiv: abs page with citation_pdf_url, PDF at /pdf/{id}, Atom entry with a pdf link."""
    abs_page = await client.get("https://arxiv.org/abs/2409.12922")
    assert (
        '<meta name="citation_pdf_url" content="https://arxiv.org/pdf/2409.12922">' in abs_page.text
    )
    pdf = await client.get("https://arxiv.org/pdf/2409.12922.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    feed = await client.get("https://export.arxiv.org/api/query?id_list=2409.12922")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(feed.text)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = root.find("a:entry", ns)
    assert entry is not None
    links = {ln.get("title"): ln.get("href") for ln in entry.findall("a:link", ns)}
    assert links["pdf"] == "http://arxiv.org/pdf/2409.12922"


async def test_pmc_redirects_to_the_file(client: httpx.AsyncClient) -> None:
    """Old PMC URL -> 301 new host -> /pdf/ 302 -> the PDF file."""
    r = await client.get("https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf")
    assert [h.status_code for h in r.history] == [301, 302]
    assert str(r.url) == "https://pmc.ncbi.nlm.nih.gov/articles/PMC3206455/pdf/1758-2946-3-47.pdf"
    assert r.content.startswith(b"%PDF-")
    page = await client.get("https://pmc.ncbi.nlm.nih.gov/articles/PMC3206455/")
    assert 'name="citation_pdf_url"' in page.text


async def test_doi_redirects_to_a_highwire_landing(client: httpx.AsyncClient) -> None:
    """doi.org 302s to the PLOS page, whose citation_pdf_url is the sample's (raw &)."""
    r = await client.get("https://doi.org/10.1371/journal.pone.0213978")
    assert r.history and r.history[0].status_code == 302
    assert str(r.url).startswith("https://journals.plos.org/plosone/article?id=")
    sample = (
        REF / "html/sandcrawler_plos_one_10.1371_journal.pone.0213978.head_prefix.html"
    ).read_text()
    expected = re.search(r'<meta name="citation_pdf_url" content="([^"]+)"', sample).group(1)
    assert f'<meta name="citation_pdf_url" content="{expected}">' in r.text
    unknown = await client.get("https://doi.org/10.9999/nope")
    assert unknown.status_code == 404 and "DOI Not Found" in unknown.text


async def test_wiley_meta_leads_to_a_viewer(client: httpx.AsyncClient) -> None:
    """Wiley's citation_pdf_url is an HTML reader; the 'Download PDF' anchor is the PDF."""
    landing = await client.get("https://doi.org/10.1002/anie.201915678")
    meta = re.search(r'citation_pdf_url" content="([^"]+)"', landing.text).group(1)
    viewer = await client.get(meta)
    assert viewer.headers["content-type"].startswith("text/html")
    href = re.search(r'href="([^"]+)">Download PDF<', landing.text).group(1)
    assert href.startswith("/doi/pdfdirect/")
    pdf = await client.get(httpx.URL(str(landing.url)).join(href))
    assert pdf.content.startswith(b"%PDF-")


async def test_wayback_availability_and_cdx(client: httpx.AsyncClient, world: World) -> None:
    """availability JSON, CDX JSON with the header row, CDX text like the sample, id_ bytes."""
    landing = "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978"
    avail = (
        await client.get("https://archive.org/wayback/available", params={"url": landing})
    ).json()
    closest = avail["archived_snapshots"]["closest"]
    assert closest["available"] is True and closest["status"] == "200"
    rows = (
        await client.get(
            "https://web.archive.org/cdx/search/cdx",
            params={"url": landing, "output": "json", "filter": "statuscode:200"},
        )
    ).json()
    assert rows[0] == [
        "urlkey",
        "timestamp",
        "original",
        "mimetype",
        "statuscode",
        "digest",
        "length",
    ]
    assert all(r[4] == "200" for r in rows[1:]) and len(rows) >= 2
    text = (
        await client.get("https://web.archive.org/cdx/search/cdx", params={"url": landing})
    ).text
    sample_line = (
        (REF / "wayback/edgi_cdx_nasa.gov_prefix_statuscode404.txt").read_text().splitlines()[0]
    )
    assert len(text.splitlines()[0].split(" ")) == len(sample_line.split(" ")) == 7
    snap = await client.get(f"https://web.archive.org/web/{rows[-1][1]}id_/{landing}")
    assert 'name="citation_pdf_url"' in snap.text
    none = (
        await client.get(
            "https://archive.org/wayback/available", params={"url": "https://nowhere.example/x"}
        )
    ).json()
    assert none["archived_snapshots"] == {}


async def test_robots_txt_on_every_host(client: httpx.AsyncClient) -> None:
    """Every host serves robots.txt; publishers forbid /restricted/."""
    for host in (
        "api.unpaywall.org",
        "doi.org",
        "journals.plos.org",
        "web.archive.org",
        "some-unknown-host.example",
    ):
        r = await client.get(f"https://{host}/robots.txt")
        assert r.status_code == 200 and r.text.startswith("User-agent: *")
    assert (
        "Disallow: /restricted/" in (await client.get("https://journals.plos.org/robots.txt")).text
    )


async def test_range_is_honoured_for_pdfs(client: httpx.AsyncClient) -> None:
    """A Range GET of a PDF on a host that honours it answers 206 with Content-Range."""
    r = await client.get("https://arxiv.org/pdf/2409.12922", headers={"Range": "bytes=0-4095"})
    assert r.status_code == 206 and len(r.content) == 4096
    assert re.fullmatch(r"bytes 0-4095/\d+", r.headers["content-range"])


async def test_every_true_pdf_url_serves_a_pdf(client: httpx.AsyncClient, world: World) -> None:
    """For every source the truth says holds a PDF, its pdf_url serves %PDF- bytes."""
    held = [t for t in world.truth() if t.holds_pdf]
    assert len(held) > 10
    for t in held:
        # the truth assumes the user's keys are set: Wiley's TDM API checks the token
        r = await client.get(t.pdf_url, headers={"Range": "bytes=0-4095",
                                                 "Wiley-TDM-Client-Token": "t"})
        assert r.content.startswith(b"%PDF-"), (t.source, t.pdf_url)


async def test_every_truth_request_is_served(client: httpx.AsyncClient, world: World) -> None:
    """Each URL of each truth path answers below 500 (the procedures walk real URLs)."""
    for t in world.truth():
        for url, _ms in t.requests:
            r = await client.get(
                url, params={"email": EMAIL} if "unpaywall" in url else None, follow_redirects=False
            )
            assert r.status_code < 500, (t.source, url, r.status_code)


async def test_doaj_matches_sample(client: httpx.AsyncClient) -> None:
    """DOAJ search: the recorded v2 result's keys; a gold article links its landing page
    as HTML full text; an article outside DOAJ is an empty result list."""
    sample = json.loads(
        (REF.parent / "services/doaj/api_v2_search_articles_license_CC-BY_pageSize2_pdf_link.json")
        .read_text()
    )
    q = "doi%3A%2210.1371%2Fjournal.pone.0213978%22"
    ours = (await client.get(f"https://doaj.org/api/search/articles/{q}")).json()
    paging = {"next", "last"}  # the sample is page 1 of many; ours is one page
    _same_shape({k: v for k, v in sample.items() if k not in paging}, ours, "doaj")
    _same_shape(sample["results"][0], ours["results"][0], "results[0]")
    link = ours["results"][0]["bibjson"]["link"]
    assert link == [{"content_type": "HTML", "type": "fulltext",
                     "url": "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978"}]
    none = await client.get("https://doaj.org/api/search/articles/doi%3A%2210.9999%2Fnope%22")
    assert (none.status_code, none.json()["results"]) == (200, [])


async def test_doaj_source_agrees_with_the_truth(world: World) -> None:
    """The doaj source, run on the sandbox, finds a PDF exactly where the truth says."""
    from fallback_kit.sources import SourceContext, get_source
    from fallback_kit.web.edge import Fetcher, NetSettings
    from fallback_kit.web.gates import Gates

    truth = {t.work_id: t for t in world.truth() if t.source == "doaj"}
    assert any(t.holds_pdf for t in truth.values()) and not all(
        t.holds_pdf for t in truth.values())
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as c:
            for work in [w for w in WORKS if w.doi]:
                fetcher = Fetcher(c, gates=Gates(), settings=NetSettings(trust_transport=True))
                res = await get_source("doaj").find(work, SourceContext(http=fetcher))
                t = truth[work.work_id]
                assert (res.outcome.value == "success") is t.holds_pdf, (work.work_id, res)
                if t.holds_pdf:
                    assert res.url == t.pdf_url


PREPRINTS = [
    Work.create("biorxiv-097196", doi="10.1101/097196"),
    Work.create(
        "medrxiv-2020", doi="10.1101/2020.02.06.20020974",
        landing_url="http://medrxiv.org/content/10.1101/2020.02.06.20020974v1",
    ),
    Work.create("plos", doi="10.1371/journal.pone.0213978"),
]


async def test_biorxiv_details_shape_and_source_agree_with_the_truth() -> None:
    """The details API answers in the recorded record's shape (every key, its type), on
    the preprint's own server only; the biorxiv source finds the latest version's
    .full.pdf exactly where the truth says, and is not applicable to other DOIs."""
    from fallback_kit.sources import SourceContext, get_source
    from fallback_kit.web.edge import Fetcher, NetSettings
    from fallback_kit.web.gates import Gates

    sample = json.loads(
        (REF.parent / "services/biorxiv/"
         "details_biorxiv_10.1101_456574_collection0_RESERIALIZED_from_test_dict.json").read_text()
    )
    world = World.build(PREPRINTS, seed=3, faults={"all": 0.0})
    truth = {t.work_id: t for t in world.truth() if t.source == "biorxiv"}
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as c:
            api = "https://api.biorxiv.org/details/{}/10.1101/2020.02.06.20020974/na/JSON"
            records = (await c.get(api.format("medrxiv"))).json()["collection"]
            assert records and (await c.get(api.format("biorxiv"))).json()["collection"] == []
            _same_shape(sample, records[-1], "details.collection[-1]")
            for work in PREPRINTS:
                fetcher = Fetcher(c, gates=Gates(), settings=NetSettings(trust_transport=True))
                source = get_source("biorxiv")
                t = truth[work.work_id]
                if not source.applicable(work):
                    assert t.fault == "not_applicable"
                    continue
                res = await source.find(work, SourceContext(http=fetcher))
                assert t.holds_pdf and (res.outcome.value, res.url) == ("success", t.pdf_url)


async def test_core_search_shape_and_source_agree_with_the_truth(monkeypatch) -> None:
    """CORE v3 search answers in the recorded work's shape for works with a repository
    copy; with a key set, the core source finds a PDF exactly where the truth says."""
    from fallback_kit.sources import SourceContext, get_source
    from fallback_kit.web.edge import Fetcher, NetSettings
    from fallback_kit.web.gates import Gates

    monkeypatch.setenv("FALLBACK_KIT_CORE_KEY", "sandbox-key")
    sample = json.loads(
        (REF.parent / "services/core/v3_works_10.1007_s10207-021-00566-3_TRIMMED_test_literal.json")
        .read_text()
    )
    works = [Work.create(f"w{i}", doi=f"10.5555/core.{i}") for i in range(40)]
    world = World.build(works, seed=5, faults={"all": 0.0})
    truth = {t.work_id: t for t in world.truth() if t.source == "core"}
    held = [w for w in works if truth[w.work_id].holds_pdf]
    assert held and len(held) < len(works)
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as c:
            q = {"q": f'doi:"{held[0].doi}"', "limit": 5}
            found = (await c.get("https://api.core.ac.uk/v3/search/works", params=q)).json()
            _same_shape(sample, found["results"][0], "core.results[0]")
            for work in works:
                fetcher = Fetcher(c, gates=Gates(), settings=NetSettings(trust_transport=True))
                res = await get_source("core").find(work, SourceContext(http=fetcher))
                t = truth[work.work_id]
                assert (res.outcome.value == "success") is t.holds_pdf, (work.work_id, res)
                if t.holds_pdf:
                    assert res.url == t.pdf_url
