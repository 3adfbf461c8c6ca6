"""Landing-page parsing: real HTML parser, cut pages, relative links, walls."""

from __future__ import annotations

from _netkit import REFERENCE

from fallback_kit.web.landing import parse_landing

PLOS = (
    REFERENCE / "html/sandcrawler_plos_one_10.1371_journal.pone.0213978.head_prefix.html"
).read_text()
PLOS_PAGE = "https://journals.plos.org/plosone/article?id=10.1371/journal.pone.0213978"


def test_plos_prefix_citation_pdf_url_with_raw_ampersand():
    """The cut PLOS head gives the printable URL, its raw & intact."""
    page = parse_landing(PLOS, PLOS_PAGE)
    assert page.citation_pdf_urls == [
        "https://journals.plos.org/plosone/article/file?id=10.1371/journal.pone.0213978&type=printable"
    ]
    assert not page.paywall and not page.challenge


def test_meta_name_is_case_insensitive_and_relative_resolved():
    """META NAME in upper case and a relative content URL are handled."""
    page = parse_landing(
        '<META NAME="Citation_PDF_URL" CONTENT="../pdf/1.pdf">', "https://p.example.org/a/b/c"
    )
    assert page.citation_pdf_urls == ["https://p.example.org/a/pdf/1.pdf"]


def test_base_href_wins_over_page_url():
    """<base href> is the base for relative links."""
    page = parse_landing(
        '<head><base href="https://cdn.example.org/x/"></head><a href="f.pdf">PDF</a>',
        "https://p.example.org/a",
    )
    assert page.anchor_pdf_urls == ["https://cdn.example.org/x/f.pdf"]


def test_pdf_anchors_by_text_or_href():
    """Anchors count when their text says PDF or their href ends in .pdf or /pdf; others do not."""
    html = (
        '<body><a href="/d/1">Download <span>PDF</span></a><a href="/e/2.PDF">file</a>'
        '<a href="/doi/pdf">x</a><a href="/about">About</a>'
        '<a href="javascript:void(0)">PDF</a></body>'
    )
    page = parse_landing(html, "https://p.example.org/")
    assert page.anchor_pdf_urls == [
        "https://p.example.org/d/1",
        "https://p.example.org/e/2.PDF",
        "https://p.example.org/doi/pdf",
    ]


def test_candidate_order_meta_link_anchor():
    """pdf_candidates orders citation_pdf_url, link alternate, anchors, without repeats."""
    html = (
        '<head><meta name="citation_pdf_url" content="/a.pdf">'
        '<link rel="alternate" type="application/pdf" href="/b.pdf"></head>'
        '<body><a href="/a.pdf">PDF</a><a href="/c.pdf">c</a>'
    )
    page = parse_landing(html, "https://p.example.org/")
    assert page.pdf_candidates() == [
        ("https://p.example.org/a.pdf", "citation_pdf_url"),
        ("https://p.example.org/b.pdf", "link_alternate"),
        ("https://p.example.org/c.pdf", "anchor"),
    ]


def test_unclosed_document_is_read():
    """A document cut mid-tag still yields what came before the cut."""
    page = parse_landing(
        '<html><head><meta name="citation_pdf_url" content="https://x.org/1.pdf"><title>T',
        "https://x.org/",
    )
    assert page.citation_pdf_urls == ["https://x.org/1.pdf"]


def test_challenge_and_login_detected():
    """Bot challenges and login forms are recognised."""
    assert parse_landing("<title>Just a moment...</title>", "https://x.org/").challenge
    assert parse_landing(
        '<form><input type="password" name="p"></form>', "https://x.org/"
    ).login_form
