"""The right-paper check on real PDFs written with fpdf2: title variants never reject,
other papers, volumes, scans and DOIs are told apart."""

from __future__ import annotations

import pytest
from _pdfkit import DOI, FONT, TITLE, article_pdf
from fpdf import FPDF

from fallback_kit.web.paper_check import (
    MATCH,
    MISMATCH,
    NO_METADATA,
    NO_TEXT,
    UNREADABLE,
    VOLUME_LIKE,
    Expected,
    dois_in,
    judge_pdf,
    normalise,
)


def expected(**kw) -> Expected:
    base = dict(title=TITLE, doi=DOI, first_author="Núñez", year=2019)
    base.update(kw)
    return Expected(**base)


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param([TITLE], id="same"),
        pytest.param([TITLE.upper()], id="upper-case"),
        pytest.param(["Efficient Estimation of Species Richness in Frag-",
                      "mented Landscapes"], id="hyphenated-line-break"),
        pytest.param(["E\ufb03cient Estimation of Species Richness in",
                      "Fragmented Landscapes"], id="ffi-ligature-and-line-break"),
        pytest.param(["Efficient estimation of species richness in fragmented landscapes:",
                      "a simulation study with field data"], id="subtitle-in-pdf"),
        pytest.param(["Efficient Estimation of Spécies Richness in Fragmentéd Landscapes"],
                     id="accents-in-pdf"),
        pytest.param(["Efficient Estimation of Species-Richness in Fragmented Landscapes."],
                     id="punctuation"),
    ],
)
def test_title_variants_never_reject(lines):
    """Case, accents, ligatures, punctuation, hyphenation and subtitles: always a match."""
    verdict = judge_pdf(article_pdf(lines, doi=None), expected(doi=None))
    assert verdict.verdict == MATCH, verdict


@pytest.mark.parametrize(
    "title",
    [
        "EFFICIENT ESTIMATION OF SPECIES RICHNESS IN FRAGMENTED LANDSCAPES",
        "Efficient Estimation of Species Richness in Fragmented Landscapes: A Review",
        "Efficient estimation of species richness in fragmented landscapes — revisited",
        "Effîcient Estimätion of Species Richness in Fragmented Landscapes",
    ],
)
def test_works_file_title_variants_never_reject(title):
    """The works file's title may differ from the page in case, accents or a subtitle."""
    verdict = judge_pdf(article_pdf([TITLE], doi=None), expected(title=title, doi=None))
    assert verdict.verdict == MATCH, verdict


def test_another_paper_is_a_mismatch():
    """A PDF of another article (another title, another DOI) is rejected."""
    other = article_pdf(["Deep Learning for Protein Folding Prediction"],
                        doi="10.1038/s41586-021-03819-2", authors="John Jumper")
    verdict = judge_pdf(other, expected())
    assert verdict.verdict == MISMATCH and verdict.rejects
    assert "10.1038/s41586-021-03819-2" in verdict.detail


def test_printed_doi_matches_when_the_title_differs():
    """A translated or abbreviated title still matches when the page prints the work's DOI."""
    pdf = article_pdf(["Estimation efficace de la richesse spécifique"], doi=DOI)
    assert judge_pdf(pdf, expected()).verdict == MATCH


def test_without_title_a_different_doi_on_page_one_is_a_mismatch():
    pdf = article_pdf(["Some Other Work Entirely"], doi="10.5555/other.1")
    verdict = judge_pdf(pdf, Expected(doi=DOI))
    assert verdict.verdict == MISMATCH


def test_without_title_the_same_doi_is_a_match():
    pdf = article_pdf(["Whatever the Title"], doi=DOI.upper())
    assert judge_pdf(pdf, Expected(doi=DOI)).verdict == MATCH


def test_without_title_or_doi_on_page_is_no_metadata():
    pdf = article_pdf([TITLE], doi=None)
    assert judge_pdf(pdf, Expected(doi=DOI)).verdict == NO_METADATA
    assert judge_pdf(pdf, Expected()).verdict == NO_METADATA


def test_author_and_year_rescue_a_weaker_title():
    """A title cut short on the page matches with the first author's surname and the year."""
    pdf = article_pdf(["Efficient Estimation of Species Richness"], doi=None)
    assert judge_pdf(pdf, expected(doi=None)).verdict == MATCH
    assert judge_pdf(pdf, expected(doi=None, first_author="Smith")).verdict == MISMATCH


def test_scanned_pdf_has_no_text():
    """A page with only drawings (a scan without OCR) is no_text, not a mismatch."""
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 150, 200, style="F")
    verdict = judge_pdf(bytes(pdf.output()), expected())
    assert verdict.verdict == NO_TEXT and not verdict.rejects


def test_proceedings_volume_is_volume_like():
    """Many pages, a contents page with several works' DOIs, the work not on page 1."""
    pdf = FPDF()
    pdf.add_font("dejavu", fname=FONT)
    pdf.set_font("dejavu", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Proceedings of the 12th Workshop on Landscape Ecology\nVolume 4",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    pdf.multi_cell(0, 6, "Table of Contents", new_x="LMARGIN", new_y="NEXT")
    for i, t in enumerate(["Pollinators in cities", TITLE, "Soil carbon under grazing"]):
        pdf.multi_cell(0, 6, f"{t} .......... {10 * i + 3}  doi:10.5555/ws12.{i}",
                       new_x="LMARGIN", new_y="NEXT")
    for _ in range(50):
        pdf.add_page()
        pdf.multi_cell(0, 5, "Body text. " * 30)
    verdict = judge_pdf(bytes(pdf.output()), expected(doi="10.5555/ws12.1x"))
    assert verdict.verdict == VOLUME_LIKE, verdict


def test_long_article_with_its_title_on_page_one_is_a_match():
    """Many pages alone do not make a volume: a thesis-length work with its title is a match."""
    pdf = article_pdf([TITLE], pages=45, header="Contents follow")
    assert judge_pdf(pdf, expected()).verdict == MATCH


def test_bytes_that_do_not_parse_are_unreadable():
    verdict = judge_pdf(b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer\n%%EOF\n", expected())
    assert verdict.verdict == UNREADABLE and verdict.rejects


def test_normalise_folds_what_must_not_matter():
    folded = normalise("Ｅﬃcient  Spé-\ncies\nRICHNESS: A Study")
    assert folded == "efficient species richness a study"
    assert normalise("Straße, Øster, Łódź") == "strasse oster lodz"


def test_dois_in_text_are_cleaned():
    text = "see https://doi.org/10.1371/JOURNAL.PONE.0213978. and (doi:10.5555/x.1)"
    assert dois_in(text) == ("10.1371/journal.pone.0213978", "10.5555/x.1")


def test_without_title_the_arxiv_stamp_decides():
    """arXiv stamps its id on page 1: ours is a match, another one a mismatch."""
    pdf = article_pdf(["Whatever the Title"], doi=None, header="arXiv:2409.12922v2 [cs.DL]")
    assert judge_pdf(pdf, Expected(arxiv_id="2409.12922")).verdict == MATCH
    assert judge_pdf(pdf, Expected(arxiv_id="2409.12923")).verdict == MISMATCH


def test_concurrent_checks_from_threads_are_serialised(monkeypatch):
    """PDFium is not thread-safe: checks from a pool of threads (asyncio.to_thread) must
    never read two documents at once, or the process may crash."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from fallback_kit.web import paper_check

    real = paper_check._staged_text
    active, most = [0], [0]
    guard = threading.Lock()

    def watched(data, stages):
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.002)  # long enough for another thread to come in
        try:
            yield from real(data, stages)
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(paper_check, "_staged_text", watched)
    pdf = article_pdf([TITLE])
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda _: judge_pdf(pdf, expected()).verdict, range(12)))
    assert verdicts == [MATCH] * 12 and most[0] == 1
