"""Every source against the real reference samples, served at their real URLs."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from _netkit import HTML, PDF, REFERENCE, Router, make_fetcher

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.works import Work
from fallback_kit.sources import SOURCES, SourceContext, get_source
from fallback_kit.sources.arxiv import parse_arxiv_atom
from fallback_kit.sources.crossref import crossref_pdf_links, has_open_license
from fallback_kit.sources.europe_pmc import europe_pmc_candidates
from fallback_kit.sources.openalex import openalex_candidates
from fallback_kit.sources.pmc import pmcid_from_idconv
from fallback_kit.sources.semantic_scholar import s2_candidate
from fallback_kit.sources.unpaywall import unpaywall_candidates
from fallback_kit.sources.wayback import newest_usable, parse_cdx

EMAIL = "researcher@example.org"
SPRINGER = "https://jcheminf.springeropen.com/track/pdf/10.1186/1758-2946-3-47?site=jcheminf.springeropen.com"
NCBI_PDF = "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf"
PLOS_DOI = "10.1371/journal.pone.0213978"
PLOS_PAGE = "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978"
PLOS_PDF = (
    "https://journals.plos.org/plosone/article/file?id=10.1371/journal.pone.0213978&type=printable"
)
EPMC_PDF = "http://europepmc.org/articles/PMC3206455?pdf=render"
NBER = "http://papers.nber.org/papers/w9873.pdf"


def ref(path: str) -> str:
    return (REFERENCE / path).read_text(encoding="utf-8")


def ref_json(path: str):
    return json.loads(ref(path))


def epmc_envelope(result: dict, query: str) -> dict:
    """The Europe PMC search envelope around one core result (the sample lacks it)."""
    return {
        "version": "6.9",
        "hitCount": 1,
        "request": {"queryString": query, "resultType": "core"},
        "resultList": {"result": [result]},
    }


def crossref_work_envelope(item: dict) -> dict:
    """A single-work Crossref answer around one item of the work-list sample."""
    return {"status": "ok", "message-type": "work", "message-version": "1.0.0", "message": item}


def s2_items() -> list[dict]:
    return ref_json("semanticscholar/s2_paper_search_turing_openAccessPdf.json")["data"]


async def run(name: str, work: Work, router: Router, **options):
    fetcher = make_fetcher(router, email=EMAIL)
    res = await get_source(name).find(
        work, SourceContext(http=fetcher, email=EMAIL, options=options)
    )
    return res, fetcher


def test_registry_has_the_sources():
    """The registry names the ten sources of issue 4 and the five of issue 16."""
    assert set(SOURCES) == {
        "unpaywall",
        "arxiv",
        "pmc",
        "doi_redirect",
        "landing_scrape",
        "europe_pmc",
        "wayback",
        "openalex",
        "crossref",
        "semantic_scholar",
        "doaj",
        "zenodo",
        "biorxiv",
        "core",
        "wiley_tdm",
    }
    from fallback_kit.contracts.plan import KNOWN_SOURCES

    assert set(KNOWN_SOURCES) == set(SOURCES)  # the plans' vocabulary is the registry


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_not_applicable_without_identifiers(name):
    """A work with only a title-less PMID is not applicable to DOI-only sources, and vice versa."""
    source = get_source(name)
    only_pmid = Work(work_id="w", pmid="21999661")
    expected = name in ("pmc", "europe_pmc", "semantic_scholar")
    assert source.applicable(only_pmid) is expected


# ---------------------------------------------------------------- Unpaywall


def test_unpaywall_sample_candidates_in_order():
    """The 2017 v2 sample gives the Springer PDF first, then the PMC PDF (the null one skipped)."""
    record = ref_json("unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json")
    urls = [c.url for c in unpaywall_candidates(record)]
    assert urls[0] == SPRINGER
    assert [u for u in dict.fromkeys(urls)] == [SPRINGER, NCBI_PDF]


async def test_unpaywall_first_valid_candidate_wins():
    """The best location is checked first and, being a PDF, wins after one API call."""
    r = Router()
    r.add(
        "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47",
        200,
        ref("unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json"),
    )
    r.add(SPRINGER, 200, PDF)
    res, f = await run("unpaywall", Work(work_id="w", doi="10.1186/1758-2946-3-47"), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, SPRINGER)
    assert r.seen[0].url.params["email"] == EMAIL and res.requests == 2 == f.requests


async def test_unpaywall_falls_back_to_next_location_once():
    """An HTML viewer at the best location is skipped; the PMC copy wins; each URL once."""
    r = Router()
    r.add(
        "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47",
        200,
        ref("unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json"),
    )
    r.add(SPRINGER, 200, HTML, content_type="application/pdf")
    r.add(NCBI_PDF, 200, PDF)
    res, _ = await run("unpaywall", Work(work_id="w", doi="10.1186/1758-2946-3-47"), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, NCBI_PDF)
    assert r.urls().count(SPRINGER) == 1
    assert [t["reason"] for t in res.meta["tried"]] == ["html_instead_of_pdf", "ok"]


async def test_unpaywall_all_html_is_invalid_pdf():
    """When every candidate is HTML the outcome is invalid_pdf."""
    r = Router()
    r.add(
        "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47",
        200,
        ref("unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json"),
    )
    r.add(SPRINGER, 200, HTML)
    r.add(NCBI_PDF, 200, HTML)
    res, _ = await run("unpaywall", Work(work_id="w", doi="10.1186/1758-2946-3-47"), r)
    assert (res.outcome, res.reason, res.url) == (
        Outcome.INVALID_PDF,
        "html_instead_of_pdf",
        SPRINGER,
    )


async def test_unpaywall_transient_candidate_makes_retryable():
    """A 503 on a candidate (with Retry-After) makes the try retryable."""
    r = Router()
    r.add(
        "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47",
        200,
        ref("unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json"),
    )
    r.add(SPRINGER, 503, "busy", retry_after="12")
    r.add(NCBI_PDF, 200, HTML)
    res, _ = await run("unpaywall", Work(work_id="w", doi="10.1186/1758-2946-3-47"), r)
    assert (res.outcome, res.status, res.retry_after_s) == (Outcome.RETRYABLE, 503, 12.0)


async def test_unpaywall_unknown_doi_is_not_in_service():
    """Unpaywall's 404 JSON gives no_pdf / not_in_service."""
    r = Router()
    r.add(
        "https://api.unpaywall.org/v2/10.9999/nope",
        404,
        json.dumps(
            {"HTTP_status_code": 404, "error": True, "message": "'10.9999/nope' is an invalid doi."}
        ),
    )
    res, _ = await run("unpaywall", Work(work_id="w", doi="10.9999/nope"), r)
    assert (res.outcome, res.reason, res.status) == (Outcome.NO_PDF, "not_in_service", 404)


async def test_unpaywall_422_is_nonretryable():
    """A 422 (bad email) is a permanent failure of the API call."""
    r = Router()
    r.add("https://api.unpaywall.org/v2/10.1/x", 422, '{"error": true}')
    res, _ = await run("unpaywall", Work(work_id="w", doi="10.1/x"), r)
    assert (res.outcome, res.reason, res.status) == (Outcome.NONRETRYABLE, "http_422", 422)


# ---------------------------------------------------------------- arXiv


def test_arxiv_atom_sample_gives_pdf_link():
    """The cut (not well-formed) Atom sample still yields the entry's PDF link."""
    entries = parse_arxiv_atom(ref("arxiv/cecilia_readme_arxiv_query_all_ai_excerpt.atom.xml"))
    assert [(e.id, e.pdf_url, e.doi) for e in entries] == [
        ("http://arxiv.org/abs/2409.12922v1", "http://arxiv.org/pdf/2409.12922v1", None)
    ]


async def test_arxiv_checks_the_pdf_url():
    """The arXiv source checks https://arxiv.org/pdf/{id} with one request."""
    r = Router()
    r.add("https://arxiv.org/pdf/2409.12922v1", 200, PDF)
    res, f = await run("arxiv", Work(work_id="w", arxiv_id="2409.12922v1"), r)
    assert (res.outcome, res.url, f.requests) == (
        Outcome.SUCCESS,
        "https://arxiv.org/pdf/2409.12922v1",
        1,
    )


async def test_arxiv_api_option_uses_atom_link():
    """With use_api the Atom feed's PDF link is the candidate (http upgraded to https)."""
    r = Router()
    r.add(
        "https://export.arxiv.org/api/query",
        200,
        ref("arxiv/cecilia_readme_arxiv_query_all_ai_excerpt.atom.xml"),
    )
    r.add("https://arxiv.org/pdf/2409.12922v1", 200, PDF)
    res, _ = await run("arxiv", Work(work_id="w", arxiv_id="2409.12922v1"), r, use_api=True)
    assert res.url == "https://arxiv.org/pdf/2409.12922v1" and res.meta["candidate"] == "atom"
    assert r.urls()[0] == "https://export.arxiv.org/api/query?id_list=2409.12922v1"


# ---------------------------------------------------------------- PMC


def test_idconv_sample_gives_pmcid():
    """The idconv sample maps 10.1038/ng.590 to PMC2883744."""
    assert (
        pmcid_from_idconv(ref_json("pmc_idconv/rcrossref_idconv_10.1038_ng.590.json"))
        == "PMC2883744"
    )


def test_idconv_error_record_gives_none():
    """An idconv error record (unknown id) gives no PMCID."""
    data = {
        "status": "ok",
        "records": [{"doi": "10.1/x", "status": "error", "errmsg": "invalid article id"}],
    }
    assert pmcid_from_idconv(data) is None


async def test_pmc_from_doi_via_idconv():
    """A DOI-only work gets its PMCID from idconv, then the /pdf/ redirect leads to the file."""
    r = Router()
    r.add(
        "https://www.ncbi.nlm.nih.gov/pmc/utils/idconv/v1.0/",
        200,
        ref("pmc_idconv/rcrossref_idconv_10.1038_ng.590.json"),
        content_type="application/json; charset=ISO-8859-1",
    )
    r.add(
        "https://pmc.ncbi.nlm.nih.gov/articles/PMC2883744/pdf/",
        302,
        location="https://pmc.ncbi.nlm.nih.gov/articles/PMC2883744/pdf/nihms198092.pdf",
    )
    r.add("https://pmc.ncbi.nlm.nih.gov/articles/PMC2883744/pdf/nihms198092.pdf", 200, PDF)
    res, _ = await run("pmc", Work(work_id="w", doi="10.1038/ng.590"), r)
    assert (res.outcome, res.url) == (
        Outcome.SUCCESS,
        "https://pmc.ncbi.nlm.nih.gov/articles/PMC2883744/pdf/",
    )
    assert res.meta["final_url"].endswith("nihms198092.pdf") and res.meta["pmcid"] == "PMC2883744"
    params = r.seen[0].url.params
    assert (params["ids"], params["format"], params["tool"], params["email"]) == (
        "10.1038/ng.590",
        "json",
        "fallback_kit",
        EMAIL,
    )


async def test_pmc_unknown_id_is_no_pmcid():
    """idconv without a PMCID ends the try with no_pdf / no_pmcid and no PDF request."""
    r = Router()
    r.add(
        "https://www.ncbi.nlm.nih.gov/pmc/utils/idconv/v1.0/",
        200,
        json.dumps(
            {"status": "ok", "records": [{"doi": "10.1/x", "status": "error", "errmsg": "invalid"}]}
        ),
    )
    res, f = await run("pmc", Work(work_id="w", doi="10.1/x"), r)
    assert (res.outcome, res.reason, f.requests) == (Outcome.NO_PDF, "no_pmcid", 1)


# ---------------------------------------------------------------- doi.org and landing pages


def _plos_router(pdf_body: bytes = PDF) -> Router:
    r = Router()
    r.add(f"https://doi.org/{PLOS_DOI}", 302, location=PLOS_PAGE)
    r.add(
        PLOS_PAGE,
        200,
        ref("html/sandcrawler_plos_one_10.1371_journal.pone.0213978.head_prefix.html"),
        content_type="text/html; charset=utf-8",
    )
    r.add(PLOS_PDF, 200, pdf_body)
    return r


async def test_doi_redirect_follows_citation_pdf_url():
    """doi.org -> PLOS page -> its citation_pdf_url (raw & kept) is the PDF."""
    r = _plos_router()
    res, _ = await run("doi_redirect", Work(work_id="w", doi=PLOS_DOI), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, PLOS_PDF)
    assert r.seen[-1].headers["referer"] == PLOS_PAGE


async def test_doi_redirect_pdf_target_is_success():
    """A DOI resolving straight to a PDF succeeds, confirmed by the PDF gate."""
    r = Router()
    r.add("https://doi.org/10.1/x", 302, location="https://pub.example.org/x.pdf")
    r.add("https://pub.example.org/x.pdf", 200, PDF)
    res, _ = await run("doi_redirect", Work(work_id="w", doi="10.1/x"), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, "https://pub.example.org/x.pdf")


async def test_doi_redirect_ignores_anchors():
    """doi_redirect uses only citation_pdf_url, not PDF anchors."""
    r = Router()
    r.add("https://doi.org/10.1/x", 302, location="https://pub.example.org/x")
    r.add(
        "https://pub.example.org/x",
        200,
        '<html><body><a href="/x.pdf">Download PDF</a></body></html>',
    )
    res, f = await run("doi_redirect", Work(work_id="w", doi="10.1/x"), r)
    assert (res.outcome, res.reason, f.requests) == (Outcome.NO_PDF, "no_pdf_link", 2)


async def test_doi_redirect_unknown_doi():
    """doi.org's 404 gives not_in_service."""
    res, _ = await run("doi_redirect", Work(work_id="w", doi="10.1/none"), Router())
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "not_in_service")


async def test_landing_scrape_plos_sample():
    """The PLOS landing page (a cut prefix) yields the printable URL first."""
    r = _plos_router()
    res, _ = await run("landing_scrape", Work(work_id="w", landing_url=PLOS_PAGE), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, PLOS_PDF)


async def test_landing_scrape_relative_anchor_with_base():
    """Relative PDF anchors resolve against <base href>; link alternate comes before anchors."""
    page = (
        '<html><head><base href="https://cdn.example.org/files/">'
        '<link rel="alternate" type="application/pdf" href="alt/1.pdf"></head>'
        '<body><a href="dl/1.pdf">Full text</a><a href="/about">About</a></body></html>'
    )
    r = Router()
    r.add("https://pub.example.org/a/1", 200, page)
    r.add("https://cdn.example.org/files/alt/1.pdf", 200, HTML)
    r.add("https://cdn.example.org/files/dl/1.pdf", 200, PDF)
    res, _ = await run(
        "landing_scrape", Work(work_id="w", landing_url="https://pub.example.org/a/1"), r
    )
    assert (res.outcome, res.url) == (Outcome.SUCCESS, "https://cdn.example.org/files/dl/1.pdf")
    assert [t["label"] for t in res.meta["tried"][:1]] == ["link_alternate"]


async def test_landing_scrape_paywall():
    """A page with a purchase wall and no PDF link is paywall."""
    r = Router()
    r.add(
        "https://pub.example.org/a/2",
        200,
        "<html><body><h1>Article</h1><button>Purchase this article</button>"
        "<a href='/login'>Access through your institution</a></body></html>",
    )
    res, _ = await run(
        "landing_scrape", Work(work_id="w", landing_url="https://pub.example.org/a/2"), r
    )
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "paywall")


async def test_landing_scrape_challenge_is_blocked():
    """A 403 bot challenge on the landing page is blocked."""
    r = Router()
    r.add(
        "https://pub.example.org/a/3",
        403,
        "<html><head><title>Just a moment...</title></head>"
        "<body><div id='cf-chl-widget'></div></body></html>",
    )
    res, _ = await run(
        "landing_scrape", Work(work_id="w", landing_url="https://pub.example.org/a/3"), r
    )
    assert (res.outcome, res.reason, res.status) == (Outcome.NO_PDF, "blocked", 403)


# ---------------------------------------------------------------- Europe PMC


def test_europe_pmc_sample_candidates():
    """The core result gives the Europe PMC render URL, then the PMC copy; never the DOI entry."""
    record = ref_json("europepmc/noddy_epmc_core_result_PMC3206455.json")
    assert [c.url for c in europe_pmc_candidates(record)] == [
        EPMC_PDF,
        "https://www.ncbi.nlm.nih.gov/pmc/articles/pmid/21999661/pdf/?tool=EBI",
    ]


async def test_europe_pmc_search_and_render():
    """A DOI search returns the sample; its render URL is the PDF."""
    record = ref_json("europepmc/noddy_epmc_core_result_PMC3206455.json")
    r = Router()
    r.add(
        "https://www.ebi.ac.uk/europepmc/webservices/rest/search",
        200,
        json.dumps(epmc_envelope(record, 'DOI:"10.1186/1758-2946-3-47"')),
    )
    r.add(EPMC_PDF, 200, PDF)
    res, _ = await run("europe_pmc", Work(work_id="w", doi="10.1186/1758-2946-3-47"), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, EPMC_PDF)
    params = r.seen[0].url.params
    assert (params["query"], params["resultType"], params["format"]) == (
        'DOI:"10.1186/1758-2946-3-47"',
        "core",
        "json",
    )


async def test_europe_pmc_pmid_query():
    """A PMID-only work is searched as EXT_ID:... AND SRC:MED; no hit is not_in_service."""
    r = Router()
    r.add(
        "https://www.ebi.ac.uk/europepmc/webservices/rest/search",
        200,
        json.dumps({"version": "6.9", "hitCount": 0, "resultList": {"result": []}}),
    )
    res, _ = await run("europe_pmc", Work(work_id="w", pmid="21999661"), r)
    assert r.seen[0].url.params["query"] == "EXT_ID:21999661 AND SRC:MED"
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "not_in_service")


# ---------------------------------------------------------------- Wayback


def test_wayback_text_cdx_sample_has_no_usable_snapshot():
    """The text-format CDX sample parses to 6 captures, all 404: no usable snapshot."""
    captures = parse_cdx(ref("wayback/edgi_cdx_nasa.gov_prefix_statuscode404.txt"))
    assert len(captures) == 6 and {c.statuscode for c in captures} == {"404"}
    assert newest_usable(captures) is None


def test_wayback_json_cdx_newest_usable():
    """JSON CDX: the header row is skipped and the newest 200 capture chosen."""
    rows = [
        ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
        ["k", "20190101000000", "https://a.org/x", "text/html", "200", "D1", "10"],
        ["k", "20230101000000", "https://a.org/x", "text/html", "200", "D2", "10"],
        ["k", "20240101000000", "https://a.org/x", "text/html", "503", "D3", "10"],
    ]
    best = newest_usable(parse_cdx(json.dumps(rows)))
    assert (
        best is not None
        and best.raw_url == "https://web.archive.org/web/20230101000000id_/https://a.org/x"
    )


async def test_wayback_full_chain():
    """doi.org Location -> CDX -> archived PLOS page -> citation_pdf_url -> CDX -> archived PDF."""
    header = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]

    def cdx(request):
        import httpx

        url = request.url.params["url"]
        assert (
            request.url.params["output"] == "json"
            and request.url.params["filter"] == "statuscode:200"
        )
        ts = "20200101000000" if url == PLOS_PAGE else "20200102000000"
        return httpx.Response(200, json=[header, ["k", ts, url, "text/html", "200", "D", "1"]])

    page_capture = f"https://web.archive.org/web/20200101000000id_/{PLOS_PAGE}"
    pdf_capture = f"https://web.archive.org/web/20200102000000id_/{PLOS_PDF}"
    r = Router(routes={"https://web.archive.org/cdx/search/cdx": cdx})
    r.add(f"https://doi.org/{PLOS_DOI}", 302, location=PLOS_PAGE)
    r.add(
        page_capture,
        200,
        ref("html/sandcrawler_plos_one_10.1371_journal.pone.0213978.head_prefix.html"),
    )
    r.add(pdf_capture, 200, PDF)
    res, _ = await run("wayback", Work(work_id="w", doi=PLOS_DOI), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, pdf_capture)
    assert PLOS_PAGE not in r.urls()  # the publisher page itself is never fetched


async def test_wayback_text_cdx_answer_is_no_snapshot():
    """A CDX answer in the text format with only 404 captures gives no_snapshot."""
    r = Router()
    r.add(
        "https://web.archive.org/cdx/search/cdx",
        200,
        ref("wayback/edgi_cdx_nasa.gov_prefix_statuscode404.txt"),
        content_type="text/plain;charset=UTF-8",
    )
    res, _ = await run(
        "wayback", Work(work_id="w", landing_url="https://www.nasa.gov/ames/feature/go/"), r
    )
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "no_snapshot")


# ---------------------------------------------------------------- OpenAlex


def test_openalex_sample_candidates():
    """best_oa_location.pdf_url first, then every other location's pdf_url."""
    work = ref_json("openalex/zotero_openalex_W3123223998_green.json")
    urls = list(dict.fromkeys(c.url for c in openalex_candidates(work)))
    assert urls == [
        NBER,
        "http://s3.amazonaws.com/fieldexperiments-papers2/papers/00216.pdf",
        "http://www.nber.org/papers/w9873.pdf",
        "https://dspace.mit.edu/bitstream/1721.1/63261/1/areemilygregmore00bert.pdf",
    ]


async def test_openalex_source_finds_nber():
    """GET works/doi:... with mailto; the NBER PDF wins."""
    r = Router()
    r.add(
        "https://api.openalex.org/works/doi:10.1257/0002828042002561",
        200,
        ref("openalex/zotero_openalex_W3123223998_green.json"),
    )
    r.add(NBER, 200, PDF)
    res, _ = await run("openalex", Work(work_id="w", doi="10.1257/0002828042002561"), r)
    assert (res.outcome, res.url, res.meta["oa_status"]) == (Outcome.SUCCESS, NBER, "green")
    assert r.seen[0].url.params["mailto"] == EMAIL


# ---------------------------------------------------------------- Crossref


def test_crossref_sample_only_two_pdf_links_none_open():
    """Only SAGE and Wiley items have application/pdf links; Wiley's needs a token; none is OA."""
    items = crossref_sample_items()
    found = {it["DOI"]: crossref_pdf_links(it) for it in items}
    with_pdf = {doi: (c, s) for doi, (c, s) in found.items() if c or s}
    assert set(with_pdf) == {"10.1177/089484538501200201", "10.1002/chin.197423013"}
    assert [c.url for c in with_pdf["10.1177/089484538501200201"][0]] == [
        "http://journals.sagepub.com/doi/pdf/10.1177/089484538501200201"
    ]
    assert with_pdf["10.1002/chin.197423013"] == (
        [],
        ["http://api.wiley.com/onlinelibrary/tdm/v1/articles/10.1002%2Fchin.197423013"],
    )
    assert not any(has_open_license(it) for it in items)


def crossref_sample_items() -> list[dict]:
    """The items of the recorded Crossref `filter=has-full-text:true` answer."""
    data = ref_json("crossref/rcrossref_works_filter_has-full-text_true_rows10.json")
    return data["message"]["items"]


def crossref_sample_item(doi: str) -> dict:
    return next(it for it in crossref_sample_items() if it["DOI"] == doi)


async def test_crossref_tdm_only_sends_no_pdf_request():
    """The Wiley item: its only PDF link is token-only, so tdm_only after one API call."""
    wiley = crossref_sample_item("10.1002/chin.197423013")
    r = Router()
    r.add(
        "https://api.crossref.org/works/10.1002/chin.197423013",
        200,
        json.dumps(crossref_work_envelope(wiley)),
    )
    res, f = await run("crossref", Work(work_id="w", doi="10.1002/chin.197423013"), r)
    assert (res.outcome, res.reason, f.requests) == (Outcome.NO_PDF, "tdm_only", 1)


async def test_crossref_sage_link_checked_by_bytes():
    """The SAGE text-mining PDF link is checked; a paywall HTML there is invalid_pdf."""
    sage = crossref_sample_item("10.1177/089484538501200201")
    r = Router()
    r.add(
        "https://api.crossref.org/works/10.1177/089484538501200201",
        200,
        json.dumps(crossref_work_envelope(sage)),
    )
    r.add("http://journals.sagepub.com/doi/pdf/10.1177/089484538501200201", 200, HTML)
    res, _ = await run("crossref", Work(work_id="w", doi="10.1177/089484538501200201"), r)
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "html_instead_of_pdf")
    assert res.meta["open_license"] is False


async def test_crossref_404_text_is_not_in_service():
    """Crossref's plain-text 404 'Resource not found.' gives not_in_service."""
    r = Router()
    r.add("https://api.crossref.org/works/10.1/none", 404, "Resource not found.")
    res, _ = await run("crossref", Work(work_id="w", doi="10.1/none"), r)
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "not_in_service")


# ---------------------------------------------------------------- Semantic Scholar


def test_s2_sample_candidates_and_statuses():
    """Every paper yields its openAccessPdf.url; the status counts match the README."""
    items = s2_items()
    pairs = [s2_candidate(p) for p in items]
    assert all(c is not None for c, _ in pairs)
    assert Counter(s for _, s in pairs) == Counter(
        GREEN=35, GOLD=29, HYBRID=17, BRONZE=16, CLOSED=3
    )
    first = dict(zip([p["paperId"] for p in items], pairs, strict=True))
    assert (
        first["f1328e67a62218c365a5945d58123634db1895be"][0].url
        == "https://mededu.jmir.org/2023/1/e46939/PDF"
    )


async def test_s2_closed_is_still_tried_and_noted():
    """A CLOSED openAccessPdf URL is checked anyway; the status is kept in meta."""
    paper = next(
        p for p in s2_items() if p["paperId"] == "fdbe8d1896b754125c6255f07bd9fecc2ea59127"
    )
    r = Router()
    r.add("https://api.semanticscholar.org/graph/v1/paper/DOI:10.1/x", 200, json.dumps(paper))
    r.add("http://arxiv.org/pdf/2301.10035", 200, PDF)
    res, _ = await run("semantic_scholar", Work(work_id="w", doi="10.1/x"), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, "http://arxiv.org/pdf/2301.10035")
    assert res.meta["oa_status"] == "CLOSED" and res.meta["closed_status"] is True
    assert r.seen[0].url.params["fields"] == "openAccessPdf,title,year,authors"


async def test_s2_falls_back_to_arxiv_id_after_404():
    """After a 404 for the DOI the ARXIV: id is asked; a null openAccessPdf is no_oa_location."""
    r = Router()
    r.add(
        "https://api.semanticscholar.org/graph/v1/paper/DOI:10.1/x",
        404,
        '{"error": "Paper with id DOI:10.1/x not found"}',
    )
    r.add(
        "https://api.semanticscholar.org/graph/v1/paper/ARXIV:2409.12922",
        200,
        '{"paperId": "p", "openAccessPdf": null}',
    )
    res, _ = await run(
        "semantic_scholar", Work(work_id="w", doi="10.1/x", arxiv_id="2409.12922"), r
    )
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "no_oa_location")
    assert len(r.seen) == 2
