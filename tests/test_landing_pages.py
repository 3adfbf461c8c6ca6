"""Landing links read where they stand: real recorded pages (tests/fixtures/pages, with
provenance in its README) whose reference lists, supplements and purchase links hold
PDFs that are not the article's; and one small snippet per ranking rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from fallback_kit.web.landing import parse_landing

PAGES = Path(__file__).parent / "fixtures" / "pages"


def page(path: str, url: str):
    return parse_landing((PAGES / path).read_text(encoding="utf-8"), url)


# (file, page URL, work DOI, the article's PDF first, URLs that must never be candidates)
CASES = [
    (
        "refs_traps/sandcrawler_peerj_4375_refs_pdfs.html",
        "https://peerj.com/articles/4375/",
        "10.7717/peerj.4375",
        "https://peerj.com/articles/4375.pdf",
        ["http://www.ala.org/acrl/sites/ala.org.acrl/files/content/conferences/"
         "confsandpreconfs/2017/LeveragingtheGrowthofOpenAccess.pdf",
         "https://www.nsf.gov/pubs/2015/nsf15052/nsf15052.pdf",
         "http://www.science-metrix.com/pdf/SM_EC_OA_Availability_2004-2011.pdf"],
    ),
    (
        "wiley/norma_2016_advs.201500314_fulltext_refs_pdf_traps.html",
        "http://onlinelibrary.wiley.com/doi/10.1002/advs.201500314/full",
        "10.1002/advs.201500314",
        "http://onlinelibrary.wiley.com/doi/10.1002/advs.201500314/pdf",
        ["http://onlinelibrary.wiley.com/doi/10.1002/anie.201101993/pdf",
         "http://onlinelibrary.wiley.com/doi/10.1002/anie.200602454/pdf",
         "http://onlinelibrary.wiley.com/doi/10.1002/anie.200602454/epdf"],
    ),
    (
        "acs/papis_2019_nl2028766_suppl_trap.html",
        "https://pubs.acs.org/doi/10.1021/nl2028766",
        "10.1021/nl2028766",
        "https://pubs.acs.org/doi/pdf/10.1021/nl2028766",
        ["https://pubs.acs.org/doi/suppl/10.1021/nl2028766/suppl_file/nl2028766_si_001.pdf"],
    ),
    (
        "hal/papis_jpa-00235190.html",
        "https://hal.science/jpa-00235190",
        None,
        "https://hal.science/jpa-00235190/document",
        [],
    ),
    (
        "repository_opus4/papis_opus4_kobv_trr154_docId481.html",
        "https://opus4.kobv.de/opus4-trr154/frontdoor/index/index/docId/481",
        None,
        "https://opus4.kobv.de/opus4-trr154/files/481/SchaeferAguilarUlbrichpapernumadjoint.pdf",
        [],
    ),
]


@pytest.mark.parametrize(("path", "url", "doi", "first", "never"), CASES,
                         ids=[c[0].split("/")[0] for c in CASES])
def test_recorded_page_gives_its_own_pdf_first_and_no_trap(path, url, doi, first, never):
    candidates = [u for u, _ in page(path, url).pdf_candidates(doi=doi)]
    assert candidates[0] == first
    assert not set(never) & set(candidates)


def test_peerj_citation_anchors_are_reference_links():
    """PeerJ's in-text citation anchors (xref-bibr) point at cited reports: dropped."""
    p = page(*CASES[0][:2])
    assert {why for _, why in p.dropped} == {"references"}
    assert len(p.dropped) == 3


def test_wiley_reference_list_pdfs_are_dropped_and_the_supplement_is_no_candidate():
    """Cited works' /pdf links sit in the reference list with the article's own classes;
    the supporting-information PDF names the work's DOI, but Wiley's platform rule reads
    the page, so the article's own PDF leads and the anchor guess (supplements) is off."""
    p = page(*CASES[1][:2])
    assert sorted(u.rsplit("/", 2)[-2] for u, w in p.dropped if w == "references") == [
        "anie.200602454", "anie.200602454", "anie.201101993", "anie.201101993"]
    candidates = p.pdf_candidates(doi="10.1002/advs.201500314")
    assert candidates[0] == (CASES[1][3], "platform:wiley")
    assert not [u for u, _ in candidates if "supinfo" in u]


def test_first_monday_galley_reference_pdfs_are_other_sites():
    """The HTML galley's only PDF anchors are cited reports on other sites: OJS's platform
    rule reads the page (its galleys are HTML), and no candidate is left."""
    p = page("ojs/sandcrawler_firstmonday_10274_html_galley_fulltext_refs_pdfs.html",
             "https://firstmonday.org/ojs/index.php/fm/article/view/10274/9729")
    assert p.platform == "ojs" and p.platform_pdf_urls == []
    assert p.pdf_candidates(doi="10.5210/fm.v25i10.10274") == []


def test_sciencedirect_purchase_link_is_never_a_candidate():
    p = page("sciencedirect/papis_S0009261497040141_paywalled_refs_pdfs.html",
             "https://www.sciencedirect.com/science/article/abs/pii/S0009261497040141")
    assert p.dropped == [
        ("https://www.sciencedirect.com/getaccess/pii/S0009261497040141/purchase", "purchase")]
    assert p.pdf_candidates() == []
    assert p.doi == "10.1016/s0009-2614(97)04014-1"


# ---------------------------------------------------------------- one snippet per rule


def test_rank_download_area_before_other_anchors_and_full_text_before_supplements():
    html = (
        '<body><p><a href="/files/appendix.pdf">Appendix PDF</a></p>'
        '<p><a href="/files/other.pdf">PDF</a></p>'
        '<div class="article-tools"><a href="/files/figures.pdf">Figures (PDF)</a>'
        '<a href="/files/article.pdf">Download PDF</a></div></body>'
    )
    got = parse_landing(html, "https://j.example.org/a/1").pdf_candidates()
    assert got == [
        ("https://j.example.org/files/article.pdf", "download_area"),
        ("https://j.example.org/files/figures.pdf", "download_area"),
        ("https://j.example.org/files/other.pdf", "anchor"),
        ("https://j.example.org/files/appendix.pdf", "anchor"),
    ]


def test_anchor_naming_another_doi_is_dropped():
    html = ('<meta name="citation_doi" content="10.1234/own.1">'
            '<a href="/doi/pdf/10.1234/own.1">PDF</a><a href="/doi/pdf/10.1234/other.9">PDF</a>')
    p = parse_landing(html, "https://j.example.org/doi/10.1234/own.1")
    assert [u for u, _ in p.pdf_candidates()] == ["https://j.example.org/doi/pdf/10.1234/own.1"]
    # the work's DOI, when given, wins over the page's
    assert [u for u, _ in p.pdf_candidates(doi="10.1234/other.9")] == [
        "https://j.example.org/doi/pdf/10.1234/other.9"]


def test_other_site_anchor_kept_only_as_the_works_own_download():
    html = ('<a href="https://cdn.other.org/x.pdf">PDF</a>'
            '<a href="https://files.other.org/10.1234/own.1.pdf">PDF</a>'
            '<div class="download-box"><a href="https://static.cdn.net/a.pdf">PDF</a></div>'
            '<a href="https://files.example.org/y.pdf">PDF</a>')
    p = parse_landing(html, "https://www.example.org/article/1")
    assert [u for u, _ in p.pdf_candidates(doi="10.1234/own.1")] == [
        "https://static.cdn.net/a.pdf",  # the page's own download area
        "https://files.other.org/10.1234/own.1.pdf",  # names the work's DOI
        "https://files.example.org/y.pdf",  # the same site
    ]


def test_footnotes_and_cite_elements_hold_no_candidate():
    html = ('<ol class="footnotes"><li><a href="/n1.pdf">PDF</a></li></ol>'
            '<cite><a href="/c.pdf">PDF</a></cite><section role="doc-bibliography">'
            '<a href="/b.pdf">PDF</a></section><a href="/own.pdf">PDF</a>')
    p = parse_landing(html, "https://j.example.org/a")
    assert p.anchor_pdf_urls == ["https://j.example.org/own.pdf"]
    assert len(p.dropped) == 3


def test_buy_and_rent_anchors_are_dropped():
    html = ('<a href="/article/1/pdf">Buy PDF</a><a href="/rent/1.pdf">Rent this article</a>'
            '<a href="/1.pdf">PDF</a>')
    p = parse_landing(html, "https://j.example.org/a")
    assert p.anchor_pdf_urls == ["https://j.example.org/1.pdf"]
    assert {w for _, w in p.dropped} == {"purchase"}
