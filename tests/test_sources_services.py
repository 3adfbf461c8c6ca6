"""DOAJ, Zenodo, bioRxiv/medRxiv and CORE against real recorded responses
(tests/fixtures/services/README.md), served at their real URLs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from _netkit import HTML, PDF, Router, make_fetcher

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.works import Work
from fallback_kit.sources import SourceContext, get_source
from fallback_kit.sources.biorxiv import latest_version, preprint_pdf
from fallback_kit.sources.core import core_candidates, core_key
from fallback_kit.sources.doaj import doaj_doi, doaj_links, doaj_search_url
from fallback_kit.sources.zenodo import zenodo_paper_pdf, zenodo_record_id, zenodo_refusal
from fallback_kit.web.client import DEFAULT_RATE_LIMITS

SERVICES = Path(__file__).parent / "fixtures" / "services"


def fixture(path: str):
    return json.loads((SERVICES / path).read_text(encoding="utf-8"))


async def run(name: str, work: Work, router: Router, **options):
    fetcher = make_fetcher(router)
    res = await get_source(name).find(work, SourceContext(http=fetcher, options=options))
    return res, fetcher


def test_new_sources_have_cited_rate_limits():
    """Every new API host has its rate limit in the one table (cited in web/client.py)."""
    for name in ("doaj", "zenodo", "biorxiv", "core"):
        for host in get_source(name).hosts:
            assert host in DEFAULT_RATE_LIMITS, host
    assert DEFAULT_RATE_LIMITS["doaj.org"].per_second == 2  # DOAJ's documented figure


# ---------------------------------------------------------------- DOAJ

DOAJ_SEARCH = "doaj/api_v2_search_articles_license_CC-BY_pageSize2_pdf_link.json"
NCOMMS_DOI = "10.1038/s41467-020-15686-y"
NCOMMS_PAGE = "http://link.springer.com/article/10.1038/s41467-020-15686-y"


def test_doaj_links_split_pdf_hints_from_landing_pages():
    """Result 1 links an HTML landing page; result 2 a pdf-typed OJS view URL."""
    first, second = fixture(DOAJ_SEARCH)["results"]
    assert doaj_doi(first) == NCOMMS_DOI and doaj_doi(second) == ""
    assert doaj_links(first) == ([], [NCOMMS_PAGE])
    pdfs, pages = doaj_links(second)
    assert [c.url for c in pdfs] == [
        "http://revistaseletronicas.pucrs.br/ojs/index.php/fale/article/view/15435/10129"
    ]
    assert pages == []


def test_doaj_article_record_has_only_an_html_link():
    """The article-by-id record (Frontiers) links the full-text HTML page, no PDF."""
    record = fixture("doaj/api_v2_articles_0005e11ec616453f854070069385e057_fulltext_html.json")
    assert doaj_links(record) == (
        [],
        ["http://journal.frontiersin.org/Journal/10.3389/neuro.11.009.2007/full"],
    )


async def test_doaj_follows_the_landing_page_to_its_pdf():
    """DOI search -> the record with that DOI -> its landing page -> citation_pdf_url.

    The landing page here is a one-line citation_pdf_url head (the Springer page of this
    article was not recorded); the platform rules have their own recorded pages."""
    pdf_url = "https://link.springer.com/content/pdf/10.1038/s41467-020-15686-y.pdf"
    r = Router()
    r.add(doaj_search_url(NCOMMS_DOI), 200, (SERVICES / DOAJ_SEARCH).read_bytes())
    r.add(NCOMMS_PAGE, 200, f'<meta name="citation_pdf_url" content="{pdf_url}">')
    r.add(pdf_url, 200, PDF)
    res, _ = await run("doaj", Work(work_id="w", doi=NCOMMS_DOI), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, pdf_url)
    assert r.urls()[0] == (
        "https://doaj.org/api/search/articles/doi%3A%2210.1038%2Fs41467-020-15686-y%22"
    )


async def test_doaj_pdf_hint_that_serves_html_is_invalid():
    """A content_type "pdf" link that answers HTML (OJS viewer) is not a PDF."""
    data = fixture(DOAJ_SEARCH)
    second = data["results"][1]
    record = copy.deepcopy(second)
    record["bibjson"]["identifier"].append({"id": "10.9999/ojs.test", "type": "doi"})
    data["results"] = [record]
    r = Router()
    r.add(doaj_search_url("10.9999/ojs.test"), 200, json.dumps(data))
    r.add(doaj_links(second)[0][0].url, 200, HTML, content_type="text/html")
    res, _ = await run("doaj", Work(work_id="w", doi="10.9999/ojs.test"), r)
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "html_instead_of_pdf")


async def test_doaj_other_dois_are_not_this_work():
    """Search results whose DOI differs from the work's are not_in_service."""
    r = Router()
    r.add(doaj_search_url("10.1/other"), 200, (SERVICES / DOAJ_SEARCH).read_bytes())
    res, f = await run("doaj", Work(work_id="w", doi="10.1/other"), r)
    assert (res.outcome, res.reason, f.requests) == (Outcome.NO_PDF, "not_in_service", 1)


# ---------------------------------------------------------------- Zenodo

ZENODO_CELL = "zenodo/current2026_api_records_5244404_journal_article_pdf_plus_supplement.json"
CELL_PDF = "https://zenodo.org/api/records/5244404/files/Holmes_et_al_(2021)_Cell.pdf/content"


def test_zenodo_picks_the_paper_not_the_supplement():
    """Of three PDFs (supplement listed first), the paper is the Cell manuscript."""
    record = fixture(ZENODO_CELL)
    assert record["files"][0]["key"].endswith("_Supplementary.pdf")  # the trap is first
    pdf = zenodo_paper_pdf(record)
    assert pdf is not None and pdf.url == CELL_PDF
    assert zenodo_refusal(record) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (
            "zenodo/current2026_api_records_8173303_presentation_single_pdf_ccby.json",
            "not_a_publication",
        ),
        (
            "zenodo/current_api_records_10794563_dryad_dataset_cc0_with_pdf_file.json",
            "not_a_publication",
        ),
        ("zenodo/current_api_records_7391177_software_other-open.json", "not_a_publication"),
        ("zenodo/legacy2022_api_records_7078768_dataset_ccby_open.json", "not_a_publication"),
    ],
)
def test_zenodo_non_publications_are_refused(path, reason):
    """A presentation's, a dataset's or software's files are not a paper."""
    assert zenodo_refusal(fixture(path)) == reason


def test_zenodo_publications_without_pdf_have_no_candidate():
    """The 2022 search's publication records (article, thesis) hold only .xls files."""
    hits = fixture("zenodo/legacy2022_api_records_search_type_publication.json")["hits"]["hits"]
    assert hits and all(zenodo_refusal(h) is None for h in hits)
    assert all(zenodo_paper_pdf(h) is None for h in hits)


def test_zenodo_applies_to_zenodo_dois_only():
    """The Dryad DOI of a Zenodo-hosted dataset, or any journal DOI, is not a record id."""
    assert zenodo_record_id("10.5281/zenodo.5244404") == "5244404"
    assert zenodo_record_id("10.5061/dryad.66t1g1k7m") is None
    assert not get_source("zenodo").applicable(Work(work_id="w", doi="10.1016/j.cell.2021.08.017"))


async def test_zenodo_source_downloads_the_paper():
    """GET /api/records/<id> -> the paper's /content URL, checked as a PDF."""
    r = Router()
    r.add("https://zenodo.org/api/records/5244404", 200, (SERVICES / ZENODO_CELL).read_bytes())
    r.add(CELL_PDF.replace("(", "%28").replace(")", "%29"), 200, PDF)
    r.add(CELL_PDF, 200, PDF)
    res, _ = await run("zenodo", Work(work_id="w", doi="10.5281/zenodo.5244404"), r)
    assert res.outcome is Outcome.SUCCESS
    assert "Supplementary" not in " ".join(r.urls())


# ---------------------------------------------------------------- bioRxiv / medRxiv

BIORXIV = "biorxiv/details_biorxiv_10.1101_456574_collection0_RESERIALIZED_from_test_dict.json"
BIORXIV_PDF = "https://www.biorxiv.org/content/10.1101/456574v1.full.pdf"


def details_envelope(records: list[dict]) -> dict:
    """The details envelope around collection records (the recording has collection[0] only)."""
    return {"messages": [{"status": "ok"}], "collection": records}


def test_biorxiv_pdf_is_built_from_doi_and_version():
    """The record names no PDF; `<doi>v<version>.full.pdf` on its server is the file."""
    record = fixture(BIORXIV)
    assert preprint_pdf(record, "biorxiv").url == BIORXIV_PDF


def test_biorxiv_latest_version_wins():
    """With two versions (the second derived from the recorded first), v2 is taken."""
    v1 = fixture(BIORXIV)
    v2 = {**v1, "version": "2", "date": "2019-01-15"}
    assert latest_version([v1, v2]) == v2
    assert latest_version([]) is None


async def test_biorxiv_source_and_published_doi():
    """details -> .full.pdf; the journal version's DOI is kept in meta."""
    r = Router()
    r.add(
        "https://api.biorxiv.org/details/biorxiv/10.1101/456574/na/JSON",
        200,
        json.dumps(details_envelope([fixture(BIORXIV)])),
    )
    r.add(BIORXIV_PDF, 200, PDF)
    res, _ = await run("biorxiv", Work(work_id="w", doi="10.1101/456574"), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, BIORXIV_PDF)
    assert res.meta["published_doi"] == "10.7554/eLife.43696"


async def test_biorxiv_falls_back_to_medrxiv():
    """An empty bioRxiv collection sends the query to medRxiv; none there: not_in_service."""
    r = Router()
    empty = json.dumps(details_envelope([]))
    r.add("https://api.biorxiv.org/details/biorxiv/10.1101/000001/na/JSON", 200, empty)
    r.add("https://api.biorxiv.org/details/medrxiv/10.1101/000001/na/JSON", 200, empty)
    res, f = await run("biorxiv", Work(work_id="w", doi="10.1101/000001"), r)
    assert (res.outcome, res.reason, f.requests) == (Outcome.NO_PDF, "not_in_service", 2)
    assert not get_source("biorxiv").applicable(Work(work_id="w", doi="10.1038/x"))


# ---------------------------------------------------------------- CORE

CORE = "core/v3_works_10.1007_s10207-021-00566-3_TRIMMED_test_literal.json"
CORE_DOI = "10.1007/s10207-021-00566-3"
CORE_PDF = "https://core.ac.uk/download/543085677.pdf"
PURE_PDF = "https://pure.uva.nl/ws/files/88132416/s10207_021_00566_3.pdf"


def search_envelope(work: dict) -> dict:
    """The v3 search envelope around one work (the recording is a single work)."""
    return {"totalHits": 1, "limit": 5, "offset": 0, "results": [work]}


def test_core_candidates_download_then_repository():
    """downloadUrl (and links[download]) first, then sourceFulltextUrls; never reader,
    thumbnails or display links."""
    urls = [c.url for c in core_candidates(fixture(CORE))]
    assert urls == [CORE_PDF, CORE_PDF, PURE_PDF]
    assert not any("/reader/" in u or "/image/" in u or "/works/" in u for u in urls)


def test_core_key_from_environment_only():
    """The plan names a variable (key_env); the defaults are FALLBACK_KIT_CORE_KEY, CORE_API_KEY."""
    assert core_key("", {}) is None
    assert core_key("", {"CORE_API_KEY": "b"}) == "b"
    assert core_key("", {"FALLBACK_KIT_CORE_KEY": "a", "CORE_API_KEY": "b"}) == "a"
    assert core_key("MY_CORE", {"MY_CORE": "c", "CORE_API_KEY": "b"}) == "c"


async def test_core_without_key_is_skipped_without_a_request(monkeypatch):
    """No key: the source is skipped (nothing said about the work), no request sent."""
    monkeypatch.delenv("FALLBACK_KIT_CORE_KEY", raising=False)
    monkeypatch.delenv("CORE_API_KEY", raising=False)
    res, f = await run("core", Work(work_id="w", doi=CORE_DOI), Router())
    assert (res.outcome, res.reason, f.requests) == (Outcome.SKIPPED, "no_api_key", 0)


async def test_core_bearer_key_and_repository_fallback(monkeypatch):
    """The key goes as a Bearer header to CORE only; when CORE's copy is not a PDF, the
    repository's copy is."""
    monkeypatch.setenv("FALLBACK_KIT_CORE_KEY", "k-123")
    r = Router()
    r.add("https://api.core.ac.uk/v3/search/works", 200, json.dumps(search_envelope(fixture(CORE))))
    r.add(CORE_PDF, 200, HTML, content_type="text/html")
    r.add(PURE_PDF, 200, PDF)
    res, _ = await run("core", Work(work_id="w", doi=CORE_DOI), r)
    assert (res.outcome, res.url) == (Outcome.SUCCESS, PURE_PDF)
    api, *others = r.seen
    assert api.headers["authorization"] == "Bearer k-123"
    assert api.url.params["q"] == f'doi:"{CORE_DOI}"'
    assert all("authorization" not in req.headers for req in others)


async def test_core_authorization_not_forwarded_across_hosts(monkeypatch):
    """A redirect away from api.core.ac.uk drops the Authorization header."""
    monkeypatch.setenv("CORE_API_KEY", "k-9")
    r = Router()
    r.add("https://api.core.ac.uk/v3/search/works", 302, location="https://elsewhere.example.org/s")
    r.add("https://elsewhere.example.org/s", 200, json.dumps({"results": []}))
    res, _ = await run("core", Work(work_id="w", doi=CORE_DOI), r)
    assert res.reason == "not_in_service"
    assert "authorization" not in r.seen[1].headers


async def test_doaj_landing_page_behind_a_challenge_is_blocked():
    """The full-text page answering the recorded Cloudflare challenge (403) is `blocked`."""
    challenge = (
        Path(__file__).parent / "fixtures/pages/acs/papis_2023_jp003647e_cloudflare_challenge.html"
    )
    r = Router()
    r.add(doaj_search_url(NCOMMS_DOI), 200, (SERVICES / DOAJ_SEARCH).read_bytes())
    r.add(NCOMMS_PAGE, 403, challenge.read_bytes(), content_type="text/html")
    res, _ = await run("doaj", Work(work_id="w", doi=NCOMMS_DOI), r)
    assert (res.outcome, res.reason, res.status) == (Outcome.NO_PDF, "blocked", 403)
