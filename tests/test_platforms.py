"""Platform rules (web/platforms.py) on real recorded pages (fixtures/pages/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _netkit import HTML, PDF, Router, make_fetcher
from selectolax.lexbor import LexborHTMLParser

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.works import Work
from fallback_kit.sources import SourceContext, get_source
from fallback_kit.web.landing import parse_landing
from fallback_kit.web.platforms import PLATFORMS, _Page, zenodo_distributions

PAGES = Path(__file__).parent / "fixtures" / "pages"

SD_OA = "https://www.sciencedirect.com/science/article/pii/S146290112300117X"
SD_OA_PDF = (
    SD_OA + "/pdfft?md5=344240c07d17576693384a78c69271af&pid=1-s2.0-S146290112300117X-main.pdf"
)
SD_2019 = "https://www.sciencedirect.com/science/article/pii/S0009261497040141"
SD_2019_PDF = (
    SD_2019 + "/pdf?md5=d6a4f761435e594445af6a3fafda2793&pid=1-s2.0-S0009261497040141-main.pdf"
)
ACS_SUPPL = "https://pubs.acs.org/doi/suppl/10.1021/nl2028766/suppl_file/nl2028766_si_001.pdf"
SPRINGER_BUY = "https://link.springer.com/article/10.1007/s10924-010-0192-1"
SPRINGER_BUY_PDF = "https://link.springer.com/content/pdf/10.1007/s10924-010-0192-1.pdf"
SPRINGEROPEN = "http://bioresourcesbioprocessing.springeropen.com"
FM = "https://firstmonday.org/ojs/index.php/fm/article/view/10274"
IEEE = "http://ieeexplore.ieee.org/xpls/icp.jsp?arnumber="
IEEE_STAMP = "http://ieeexplore.ieee.org/stamp/stamp.jsp?"
IEEE_1196402 = "ieee/norma_2015_xplore_icp_1196402_fulltext_refs_stamp_traps.html"
MIT = "http://dspace.mit.edu/handle/1721.1/99287?show=full"
MIT_PDF = "http://dspace.mit.edu/bitstream/handle/1721.1/99287/922886248-MIT.pdf?sequence=1"
UFPR = "http://dspace.c3sl.ufpr.br:8080/dspace/handle/1884/42021"
UFPR_PDF = (
    "http://dspace.c3sl.ufpr.br:8080/bitstream/handle/1884/42021/"
    "R%20-%20T%20-%20IRINEU%20HATTENHAUER.pdf?sequence=1&isAllowed=y"
)

# fixture, the page's URL (from its provenance), the platform, the expected platform links
CASES = [
    ("sciencedirect/papis_S146290112300117X_openaccess.html", SD_OA, "sciencedirect", [SD_OA_PDF]),
    (
        "sciencedirect/papis_2019_S0009261497040141_citation_pdf_url.html",
        SD_2019,
        "sciencedirect",
        [SD_2019_PDF],
    ),
    (
        "sciencedirect/papis_S0009261497040141_paywalled_refs_pdfs.html",
        "https://www.sciencedirect.com/science/article/abs/pii/S0009261497040141",
        "sciencedirect",
        [],
    ),
    (
        "sciencedirect/papis_S2210271X18305656_paywalled_refs_pdfs.html",
        "https://www.sciencedirect.com/science/article/abs/pii/S2210271X18305656",
        "sciencedirect",
        [],
    ),
    (
        "springer/papis_BF02727953_paywalled.html",
        "https://link.springer.com/article/10.1007/BF02727953",
        "springer",
        ["https://link.springer.com/content/pdf/10.1007/BF02727953.pdf"],
    ),
    (
        "springer/papis_s10924-010-0192-1_paywalled_buybox.html",
        SPRINGER_BUY,
        "springer",
        [SPRINGER_BUY_PDF],
    ),
    (
        "springer/norma_2016_springeropen_s40643-016-0099-3_fulltext.html",
        SPRINGEROPEN + "/articles/10.1186/s40643-016-0099-3",
        "springer",
        [
            SPRINGEROPEN + "/track/pdf/10.1186/s40643-016-0099-3?site=" + SPRINGEROPEN,
            SPRINGEROPEN + "/track/pdf/10.1186/s40643-016-0099-3?site=" + SPRINGEROPEN[7:],
        ],
    ),
    (
        "acs/papis_2019_acscombsci.5b00087.html",
        "https://pubs.acs.org/doi/10.1021/acscombsci.5b00087",
        "acs",
        ["https://pubs.acs.org/doi/pdf/10.1021/acscombsci.5b00087"],
    ),
    (
        "acs/papis_2019_jp003647e.html",
        "https://pubs.acs.org/doi/10.1021/jp003647e",
        "acs",
        ["https://pubs.acs.org/doi/pdf/10.1021/jp003647e"],
    ),
    (
        "acs/papis_2019_nl2028766_suppl_trap.html",
        "https://pubs.acs.org/doi/10.1021/nl2028766",
        "acs",
        ["https://pubs.acs.org/doi/pdf/10.1021/nl2028766"],
    ),
    (
        "hal/papis_jpa-00235190.html",
        "https://hal.science/jpa-00235190",
        "hal",
        [
            "https://hal.science/jpa-00235190/document",
            "https://hal.science/jpa-00235190v1/file/ajp-jphysrad_1955_16_6_444_0.pdf",
        ],
    ),
    (
        "hal/papis_theses_tel-02083632.html",
        "https://theses.hal.science/tel-02083632v1",
        "hal",
        [
            "https://theses.hal.science/tel-02083632/document",
            "https://theses.hal.science/tel-02083632v1/file/these-mbonamy.pdf",
        ],
    ),
    (
        "biorxiv/postlight_2019_696633v1_abstract.html",
        "https://www.biorxiv.org/content/10.1101/696633v1",
        "biorxiv",
        [
            "https://www.biorxiv.org/content/biorxiv/early/2019/07/11/696633.full.pdf",
            "https://biorxiv.org/content/biorxiv/early/2019/07/11/696633.full-text.pdf",
        ],
    ),
    (
        "mdpi/norma_2015_metabo4040932_fulltext.html",
        "http://www.mdpi.com/2218-1989/4/4/932",
        "mdpi",
        ["http://www.mdpi.com/2218-1989/4/4/932/pdf"],
    ),
    (
        "frontiers/norma_2015_fpsyg.2014.01582_fulltext.html",
        "http://journal.frontiersin.org/Journal/10.3389/fpsyg.2014.01582/full",
        "frontiers",
        ["http://journal.frontiersin.org/Journal/10.3389/fpsyg.2014.01582/pdf"],
    ),
    (
        "oup/norma_2016_legacy_highwire_aobpla_plv005_fulltext.html",
        "http://aobpla.oxfordjournals.org/content/7/plv005.full",
        "oup_highwire",
        ["http://aobpla.oxfordjournals.org/content/7/plv005.full.pdf"],
    ),
    (
        "wiley/norma_2016_advs.201500314_fulltext_refs_pdf_traps.html",
        "http://onlinelibrary.wiley.com/doi/10.1002/advs.201500314/full",
        "wiley",
        ["http://onlinelibrary.wiley.com/doi/10.1002/advs.201500314/pdf"],
    ),
    ("ojs/sandcrawler_firstmonday_10274_landing_html_galley_only.html", FM, "ojs", []),
    (
        "ojs/sandcrawler_firstmonday_10274_html_galley_fulltext_refs_pdfs.html",
        FM + "/9729",
        "ojs",
        [],
    ),
    (
        "zenodo/commonmeta_record_1196821_dataset_no_pdf.html",
        "https://zenodo.org/records/1196821",
        "zenodo",
        [],
    ),
    (IEEE_1196402, IEEE + "1196402", "ieee", [IEEE_STAMP + "arnumber=1196402"]),
    (
        "ieee/norma_2015_xplore_icp_4378148_fulltext_refs_stamp_traps.html",
        IEEE + "4378148",
        "ieee",
        [IEEE_STAMP + "tp=&arnumber=4378148"],
    ),
    ("dspace/hepcrawl_2016_mit_1721.1-99287_xmlui_full_record.html", MIT, "dspace", [MIT_PDF]),
    (
        "dspace/hepcrawl_2016_unesp_11449-123975_xmlui_full_record.html",
        "http://repositorio.unesp.br/handle/11449/123975?show=full",
        "dspace",
        [
            "http://repositorio.unesp.br/bitstream/handle/11449/123975/000829075.pdf"
            "?sequence=1&isAllowed=y"
        ],
    ),
    ("dspace/hepcrawl_2016_ufpr_1884-42021_xmlui_item_view.html", UFPR, "dspace", [UFPR_PDF]),
    (
        "refs_traps/sandcrawler_peerj_4375_refs_pdfs.html",
        "https://peerj.com/articles/4375/",
        "peerj",
        ["https://peerj.com/articles/4375.pdf"],
    ),
]


def page(name: str, url: str):
    return parse_landing((PAGES / name).read_text(encoding="utf-8"), url)


@pytest.mark.parametrize(("name", "url", "platform", "expected"), CASES, ids=[c[0] for c in CASES])
def test_platform_rule_on_its_recorded_page(name, url, platform, expected):
    """Each rule reads the article's own PDF link(s) from its real page, and the page's
    candidates are exactly those links plus the publisher's own metadata links."""
    landing = page(name, url)
    assert landing.platform == platform
    assert landing.platform_pdf_urls == expected
    assert landing.anchor_pdf_urls == []  # the generic anchor heuristic is off on a known platform
    if expected:
        assert landing.pdf_candidates()[0] == (expected[0], f"platform:{platform}")


def test_every_rule_has_a_recorded_page():
    """No rule without evidence: every platform in the table is exercised by CASES."""
    assert {r.name for r in PLATFORMS} == {c[2] for c in CASES}


def test_sciencedirect_reference_and_citing_pdfs_are_not_candidates():
    """The paywalled page's JSON lists 14 other articles' PDFs and a Purchase PDF anchor:
    none is a candidate, and the page counts as a paywall."""
    name = "sciencedirect/papis_S0009261497040141_paywalled_refs_pdfs.html"
    html = (PAGES / name).read_text(encoding="utf-8")
    assert html.count('"pdf":{"urlType":"download"') == 14  # the traps are there
    landing = page(name, "https://www.sciencedirect.com/science/article/abs/pii/S0009261497040141")
    assert landing.pdf_candidates() == []
    assert landing.paywall


def test_sciencedirect_open_page_is_not_a_challenge():
    """Cloudflare's passive challenge-platform script on an ordinary ScienceDirect page does
    not make it a bot wall once the rule has read the article's PDF link."""
    html = (PAGES / CASES[0][0]).read_text(encoding="utf-8")
    assert "challenge-platform" in html
    assert not page(CASES[0][0], SD_OA).challenge


def test_acs_cloudflare_challenge_is_blocked_not_no_pdf():
    """The 2023 ACS recording is a Cloudflare challenge: no candidate, challenge flagged."""
    landing = page(
        "acs/papis_2023_jp003647e_cloudflare_challenge.html",
        "https://pubs.acs.org/doi/abs/10.1021/jp003647e",
    )
    assert (landing.platform, landing.pdf_candidates(), landing.challenge) == ("", [], True)


def test_page_not_in_the_rule_shape_keeps_the_generic_rules():
    """On a known host, a page the rule cannot read (no embedded JSON here) is read by
    the generic rules, anchors included (the sandbox's simplified pages are such)."""
    landing = parse_landing('<a href="/science/article/pii/S1/pdfft">View PDF</a>', SD_OA)
    assert landing.platform == ""
    assert landing.anchor_pdf_urls == ["https://www.sciencedirect.com/science/article/pii/S1/pdfft"]


def test_traps_are_in_the_pages_but_not_taken():
    """Supplements, reference-list PDFs and viewer links are in the pages (as written
    there) and absent from the candidates."""
    traps = {
        "acs/papis_2019_nl2028766_suppl_trap.html": (
            'href="/doi/suppl/10.1021/nl2028766/suppl_file/nl2028766_si_001.pdf"',
            ACS_SUPPL,
        ),
        "wiley/norma_2016_advs.201500314_fulltext_refs_pdf_traps.html": (
            'href="/doi/10.1002/anie.201101993/pdf"',
            "http://onlinelibrary.wiley.com/doi/10.1002/anie.201101993/pdf",
        ),
        "ojs/sandcrawler_firstmonday_10274_html_galley_fulltext_refs_pdfs.html": (
            'href="https://data.unaids.org/publications/irc-pub02/jc733-criminallaw_en.pdf"',
            "https://data.unaids.org/publications/irc-pub02/jc733-criminallaw_en.pdf",
        ),
        "refs_traps/sandcrawler_peerj_4375_refs_pdfs.html": (
            'href="https://www.nsf.gov/pubs/2015/nsf15052/nsf15052.pdf"',
            "https://www.nsf.gov/pubs/2015/nsf15052/nsf15052.pdf",
        ),
        "oup/norma_2016_legacy_highwire_aobpla_plv005_fulltext.html": (
            'href="/content/7/plv005.full.pdf+html"',
            "http://aobpla.oxfordjournals.org/content/7/plv005.full.pdf+html",
        ),
    }
    for name, (href, trap) in traps.items():
        url = next(c[1] for c in CASES if c[0] == name)
        assert href in (PAGES / name).read_text(encoding="utf-8"), name
        assert trap not in [u for u, _ in page(name, url).pdf_candidates()], name


def test_springer_buy_box_is_never_a_candidate():
    """The Springer buy box (cart form, Springer+ subscription) gives no candidate."""
    landing = page("springer/papis_s10924-010-0192-1_paywalled_buybox.html", SPRINGER_BUY)
    urls = [u for u, _ in landing.pdf_candidates()]
    assert urls == [SPRINGER_BUY_PDF]
    assert landing.paywall


def test_zenodo_reads_json_ld_files_and_keeps_only_pdfs():
    """The dataset record lists its files as JSON-LD DataDownload (zip, text): the rule
    reads them and takes none, since none is a PDF."""
    html = (PAGES / "zenodo/commonmeta_record_1196821_dataset_no_pdf.html").read_text()
    files = zenodo_distributions(
        _Page(LexborHTMLParser(html), "https://zenodo.org/records/1196821")
    )
    assert (
        "https://zenodo.org/api/records/1196821/files/Data.zip/content",
        "application/zip",
    ) in files
    assert all(fmt != "application/pdf" for _, fmt in files)


def test_unknown_host_keeps_generic_rules():
    """A repository without a rule (OPUS 4) is read by the generic rules alone."""
    landing = page(
        "repository_opus4/papis_opus4_kobv_trr154_docId481.html",
        "https://opus4.kobv.de/opus4-trr154/frontdoor/index/index/docId/481",
    )
    assert landing.platform == ""
    assert landing.pdf_candidates()[0] == (
        "https://opus4.kobv.de/opus4-trr154/files/481/SchaeferAguilarUlbrichpapernumadjoint.pdf",
        "citation_pdf_url",
    )


# ---------------------------------------------------------------- through the sources


async def _scrape(router: Router, url: str):
    fetcher = make_fetcher(router)
    return await get_source("landing_scrape").find(
        Work(work_id="w", landing_url=url), SourceContext(http=fetcher)
    )


async def test_landing_scrape_sciencedirect_json_pdf():
    """landing_scrape finds the ScienceDirect PDF that only the embedded JSON names."""
    r = Router()
    r.add(SD_OA, 200, (PAGES / CASES[0][0]).read_bytes(), content_type="text/html")
    r.add(SD_OA_PDF, 200, PDF)
    res = await _scrape(r, SD_OA)
    assert (res.outcome, res.url, res.meta["candidate"]) == (
        Outcome.SUCCESS,
        SD_OA_PDF,
        "platform:sciencedirect",
    )


async def test_landing_scrape_acs_supplement_never_requested():
    """When the ACS article PDF answers HTML (no entitlement), the supplement PDF is not
    tried in its place."""
    url = "https://pubs.acs.org/doi/10.1021/nl2028766"
    r = Router()
    r.add(url, 200, (PAGES / "acs/papis_2019_nl2028766_suppl_trap.html").read_bytes())
    r.add("https://pubs.acs.org/doi/pdf/10.1021/nl2028766", 200, HTML, content_type="text/html")
    r.add(ACS_SUPPL, 200, PDF)
    res = await _scrape(r, url)
    assert res.outcome is Outcome.INVALID_PDF
    assert ACS_SUPPL not in r.urls()


async def test_landing_scrape_acs_challenge_is_blocked():
    """The recorded Cloudflare challenge (served 403) is `blocked`."""
    url = "https://pubs.acs.org/doi/abs/10.1021/jp003647e"
    r = Router()
    body = (PAGES / "acs/papis_2023_jp003647e_cloudflare_challenge.html").read_bytes()
    r.add(url, 403, body, content_type="text/html")
    res = await _scrape(r, url)
    assert (res.outcome, res.reason) == (Outcome.NO_PDF, "blocked")


async def test_doi_redirect_uses_the_platform_rule():
    """doi.org -> ScienceDirect: doi_redirect takes the JSON-built PDF URL too."""
    r = Router()
    r.add("https://doi.org/10.1/sd", 302, location=SD_OA)
    r.add(SD_OA, 200, (PAGES / CASES[0][0]).read_bytes(), content_type="text/html")
    r.add(SD_OA_PDF, 200, PDF)
    fetcher = make_fetcher(r)
    res = await get_source("doi_redirect").find(
        Work(work_id="w", doi="10.1/sd"), SourceContext(http=fetcher)
    )
    assert (res.outcome, res.url) == (Outcome.SUCCESS, SD_OA_PDF)


def test_dspace_takes_only_the_items_own_pdf_bitstreams():
    """The thumbnail (`.pdf.jpg`) is not a file link, and on an item page whose handle is
    another one (hepcrawl's test names this page `.../1721.1/99280`) the 99287 bitstream
    is not the item's PDF: the rule reads the page and offers nothing."""
    ufpr = "dspace/hepcrawl_2016_ufpr_1884-42021_xmlui_item_view.html"
    assert "HATTENHAUER.pdf.jpg?sequence=3" in (PAGES / ufpr).read_text(encoding="utf-8")
    assert [u for u, _ in page(ufpr, UFPR).pdf_candidates()] == [UFPR_PDF]
    other = page(
        "dspace/hepcrawl_2016_mit_1721.1-99287_xmlui_full_record.html",
        MIT.replace("99287", "99280"),
    )
    assert (other.platform, other.pdf_candidates()) == ("dspace", [])


async def test_doi_redirect_reads_a_dspace_item_page():
    """doi_redirect never reads anchors: on a DSpace item page (no citation_pdf_url in the
    recording) only the rule finds the bitstream."""
    r = Router()
    r.add("https://doi.org/10.1/ufpr", 302, location=UFPR)
    name = "dspace/hepcrawl_2016_ufpr_1884-42021_xmlui_item_view.html"
    r.add(UFPR, 200, (PAGES / name).read_bytes(), content_type="text/html")
    r.add(UFPR_PDF, 200, PDF)
    res = await get_source("doi_redirect").find(
        Work(work_id="w", doi="10.1/ufpr"), SourceContext(http=make_fetcher(r))
    )
    assert (res.outcome, res.url) == (Outcome.SUCCESS, UFPR_PDF)


def test_ieee_reference_stamp_links_are_not_candidates():
    """The 1196402 page's reference list links 15 cited papers' stamp pages ("Full Text:
    PDF"); only the article's own arnumber is offered, and never a cited one even when
    the page is read by doi_redirect's rules (no anchors)."""
    html = (PAGES / IEEE_1196402).read_text(encoding="utf-8")
    cited = 'href="/stamp/stamp.jsp?arnumber=948415">Full Text: PDF</a>'
    assert cited in html and html.count(">Full Text: PDF</a>") == 15
    landing = page(IEEE_1196402, IEEE + "1196402")
    urls = [u for u, _ in landing.pdf_candidates()]
    assert urls == [IEEE_STAMP + "arnumber=1196402"]
    assert [u for u, _ in landing.pdf_candidates(anchors=False)] == urls


def test_ieee_abstract_page_is_read_by_citation_pdf_url():
    """The 2015 abstract page has no stamp link: the rule steps aside and the page's
    citation_pdf_url (the /iel5/ file) is the candidate."""
    landing = page(
        "ieee/digalignment_2015_xplore_articleDetails_4215696_citation_pdf_url.html",
        "http://ieeexplore.ieee.org/articleDetails.jsp?arnumber=4215696",
    )
    assert landing.platform == ""
    assert landing.pdf_candidates() == [
        (
            "http://ieeexplore.ieee.org/iel5/4215581/4215582/04215696.pdf?arnumber=4215696",
            "citation_pdf_url",
        )
    ]
