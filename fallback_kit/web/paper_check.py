"""Is this PDF the work's paper? Read its first pages and compare them with what is known.

Bytes tell a PDF from an HTML page, not which paper it is: an OA location may point at
another article, or at a whole proceedings volume. This module holds the pure part of
the right-paper check: text extraction (pypdfium2, Apache-2.0/BSD) and the comparison
(rapidfuzz) of the first pages with the work's title, DOI, first author and year.

Normalisation makes a difference of case, accents, ligatures, punctuation, hyphenation,
line breaks or a subtitle never reject a PDF: the title is compared both word by word
and with every space removed (so `inter-\\nnational` and `state-of-the-art` match), and
the main title alone (before `:`, ` - `, `.`) is enough when it is long enough.

Verdicts (`VERDICTS`): `match`; `mismatch` (another paper: the caller rejects it);
`volume_like` (many pages and several works' marks, the work not on page 1); `no_text`
(a scanned PDF: nothing to read) and `no_metadata` (nothing to compare with) are
accepted but unverified; `unreadable` (the structure does not parse).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

# imported here, not on first use: their import (about 0.2 s) would otherwise be paid
# inside the first source try that checks a PDF, under its timeout
import pypdfium2 as pdfium
from rapidfuzz import fuzz

__all__ = [
    "MATCH",
    "MISMATCH",
    "NO_METADATA",
    "NO_TEXT",
    "UNREADABLE",
    "UNVERIFIED",
    "VERDICTS",
    "VOLUME_LIKE",
    "Expected",
    "PaperVerdict",
    "PdfText",
    "dois_in",
    "extract_text",
    "judge",
    "judge_pdf",
    "normalise",
]

MATCH = "match"
MISMATCH = "mismatch"
VOLUME_LIKE = "volume_like"
NO_TEXT = "no_text"
NO_METADATA = "no_metadata"
UNREADABLE = "unreadable"
VERDICTS = (MATCH, MISMATCH, VOLUME_LIKE, NO_TEXT, NO_METADATA, UNREADABLE)
#: verdicts that keep a PDF but leave it unverified (a plan may refuse them)
UNVERIFIED = (NO_TEXT, NO_METADATA, VOLUME_LIKE)

#: pages read from the start of the file (a repository cover sheet may come first)
PAGES_READ = 3
#: a title matches at this rapidfuzz partial_ratio (0-100) on normalised text
TITLE_MATCH = 90.0
#: a weaker title score is enough when the first author's surname and the year are there
TITLE_WITH_AUTHOR_YEAR = 75.0
#: the main title (before a subtitle) counts alone when it has at least this many letters
MAIN_TITLE_MIN_CHARS = 20
#: fewer letters than this on the first pages: a scan without a text layer
MIN_TEXT_CHARS = 40
#: a file this long with several works' marks on its first pages looks like a volume
VOLUME_MIN_PAGES = 40
VOLUME_MIN_DOIS = 3
_VOLUME_WORDS = ("table of contents", "proceedings", "contents", "supplement", "volume")

_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+", re.IGNORECASE)
#: the identifier arXiv stamps on page 1 (`arXiv:2409.12922v2`, `arXiv:hep-th/9901001`)
_ARXIV = re.compile(r"arxiv:\s*(\d{4}\.\d{4,5}|[a-z][a-z.\-]*/\d{7})", re.IGNORECASE)
_DOI_TRAIL = ".,;:)]}'"
_SUBTITLE_SPLIT = re.compile(r"\s*(?::|\s[-\u2013\u2014]\s|\.\s|\?\s)\s*")
_LINE_HYPHEN = re.compile(r"(\w)[-\u00ad\u2010]\s*\n\s*(\w)")
_NON_WORD = re.compile(r"[^0-9a-z]+")
#: PDFium is not thread-safe (pypdfium2 says so): one document at a time in the process,
#: whichever thread (`asyncio.to_thread`) asks
_PDFIUM = threading.Lock()


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What is known of the work: any field may be missing."""

    title: str | None = None
    doi: str | None = None
    first_author: str | None = None  # the family name
    year: int | None = None
    arxiv_id: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.title or self.doi or self.arxiv_id)


@dataclass(frozen=True, slots=True)
class PdfText:
    """The text of a PDF's first pages, and how many pages the file has."""

    pages: int
    texts: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperVerdict:
    """The check's verdict with what it saw (`detail` is one short line)."""

    verdict: str
    title_score: float | None = None
    detail: str = ""
    dois: tuple[str, ...] = field(default=())

    @property
    def rejects(self) -> bool:
        """True when the PDF is another paper (or does not parse)."""
        return self.verdict in (MISMATCH, UNREADABLE)

    @property
    def verified(self) -> bool:
        return self.verdict == MATCH


def normalise(text: str) -> str:
    """Lower-case ASCII words separated by single spaces: ligatures unfolded (NFKC),
    accents dropped, words cut at a line end joined, punctuation and breaks made spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _LINE_HYPHEN.sub(r"\1\2", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("ß", "ss").replace("ø", "o").replace("æ", "ae").replace("œ", "oe")
    text = text.replace("ł", "l").replace("đ", "d").replace("ı", "i")
    return _NON_WORD.sub(" ", text).strip()


def dois_in(text: str) -> tuple[str, ...]:
    """The distinct DOIs printed in `text`, lower-case, in order of appearance."""
    out: dict[str, None] = {}
    flat = unicodedata.normalize("NFKC", text)
    for m in _DOI.finditer(flat):
        out[_clean_doi(m.group(0))] = None
    return tuple(out)


def _clean_doi(doi: str) -> str:
    doi = doi.strip().rstrip(_DOI_TRAIL).lower()
    return doi


def extract_text(data: bytes, *, pages: int = PAGES_READ) -> PdfText:
    """The text of the first `pages` pages of a PDF (raises ValueError if it does not parse)."""
    with _PDFIUM:
        stages = _staged_text(data, (pages,))
        try:
            return next(stages)
        finally:
            stages.close()


def _staged_text(data: bytes, stages: tuple[int, ...]) -> Generator[PdfText, None, None]:
    """The first pages' text, read in stages (`(1, 3)`: page 1, then pages 1-3): building
    a text page costs time, and page 1 settles most PDFs. Call it holding `_PDFIUM`."""
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ValueError(f"unreadable PDF: {exc}") from None
    try:
        n = len(doc)
        texts: list[str] = []
        for stop in stages:
            for i in range(len(texts), min(n, stop)):
                page = doc[i]
                textpage = page.get_textpage()
                try:
                    texts.append(textpage.get_text_bounded())
                finally:
                    textpage.close()
                    page.close()
            yield PdfText(pages=n, texts=tuple(texts))
    finally:
        doc.close()


def _title_variants(title: str) -> list[str]:
    """The whole title, and its main part when a subtitle follows and it is long enough."""
    whole = normalise(title)
    out = [whole] if whole else []
    parts = _SUBTITLE_SPLIT.split(title.strip(), maxsplit=1)
    if len(parts) > 1:
        main = normalise(parts[0])
        if len(main.replace(" ", "")) >= MAIN_TITLE_MIN_CHARS and main not in out:
            out.append(main)
    return out


def title_score(title: str, text: str) -> float:
    """How well `title` appears in `text` (0-100): the best rapidfuzz partial_ratio of the
    title or its main part, spaced and unspaced, against the normalised text."""
    page = normalise(text)
    squeezed = page.replace(" ", "")
    best = 0.0
    for variant in _title_variants(title):
        if len(variant) > len(page) + 5:
            continue
        best = max(best, fuzz.partial_ratio(variant, page),
                   fuzz.partial_ratio(variant.replace(" ", ""), squeezed))
    return float(best)


def _author_and_year(expected: Expected, text: str) -> bool:
    if not expected.first_author or not expected.year:
        return False
    page = f" {normalise(text)} "
    surname = normalise(expected.first_author)
    return bool(surname) and f" {surname} " in page and f" {expected.year} " in page


def _looks_like_volume(pdf: PdfText, dois: Sequence[str]) -> bool:
    if pdf.pages < VOLUME_MIN_PAGES:
        return False
    low = pdf.text.lower()
    return len(dois) >= VOLUME_MIN_DOIS or any(w in low for w in _VOLUME_WORDS)


def _arxiv_ids(text: str) -> set[str]:
    return {m.group(1).lower() for m in _ARXIV.finditer(text)}


def _judge_by_ids(pdf: PdfText, expected: Expected, dois: tuple[str, ...],
                  first_page_dois: tuple[str, ...]) -> PaperVerdict:
    """Without a title: the work's DOI or arXiv id printed is a match; another one printed
    on page 1 (and not ours) is a mismatch; nothing printed leaves it unverified."""
    want = _clean_doi(expected.doi) if expected.doi else None
    if want is not None and want in dois:
        return PaperVerdict(verdict=MATCH, detail="its DOI is printed", dois=dois)
    page1_arxiv = _arxiv_ids(pdf.texts[0]) if pdf.texts else set()
    want_arxiv = expected.arxiv_id.lower().split("v")[0] if expected.arxiv_id else None
    if want_arxiv and want_arxiv in page1_arxiv:
        return PaperVerdict(verdict=MATCH, detail="its arXiv id is printed", dois=dois)
    other = [d for d in first_page_dois if d != want]
    if want is not None and other:
        return PaperVerdict(verdict=MISMATCH, detail=f"page 1 prints DOI {other[0]}", dois=dois)
    if want_arxiv and page1_arxiv:
        return PaperVerdict(verdict=MISMATCH, dois=dois,
                            detail=f"page 1 prints arXiv:{sorted(page1_arxiv)[0]}")
    return PaperVerdict(verdict=NO_METADATA, detail="no title to compare", dois=dois)


def judge(pdf: PdfText, expected: Expected) -> PaperVerdict:
    """The verdict on a PDF's first pages for the expected work."""
    text = pdf.text
    if len(normalise(text).replace(" ", "")) < MIN_TEXT_CHARS:
        return PaperVerdict(verdict=NO_TEXT, detail=f"{pdf.pages} pages, no text layer")
    dois = dois_in(text)
    first_page_dois = dois_in(pdf.texts[0]) if pdf.texts else ()
    want = _clean_doi(expected.doi) if expected.doi else None
    doi_seen = want is not None and want in dois
    if not expected.title:
        return _judge_by_ids(pdf, expected, dois, first_page_dois)
    on_page1 = title_score(expected.title, pdf.texts[0]) if pdf.texts else 0.0
    score = max(on_page1, title_score(expected.title, text))
    if _looks_like_volume(pdf, dois) and on_page1 < TITLE_MATCH and not doi_seen:
        return PaperVerdict(verdict=VOLUME_LIKE, title_score=score, dois=dois,
                            detail=f"{pdf.pages} pages, {len(dois)} DOIs, title not on page 1")
    if score >= TITLE_MATCH:
        return PaperVerdict(verdict=MATCH, title_score=score, dois=dois, detail="title")
    if doi_seen:
        return PaperVerdict(verdict=MATCH, title_score=score, dois=dois, detail="DOI printed")
    if score >= TITLE_WITH_AUTHOR_YEAR and _author_and_year(expected, text):
        return PaperVerdict(verdict=MATCH, title_score=score, dois=dois,
                            detail="title, first author and year")
    detail = f"title score {score:.0f}"
    if dois:
        detail += f", prints DOI {dois[0]}"
    return PaperVerdict(verdict=MISMATCH, title_score=score, dois=dois, detail=detail)


def judge_pdf(data: bytes, expected: Expected) -> PaperVerdict:
    """Extract and judge (CPU-bound: run it in a thread). Page 1 decides, unless it has
    no text or the file may be a volume: then the first `PAGES_READ` pages do."""
    with _PDFIUM:
        return _judge_pdf(data, expected)


def _judge_pdf(data: bytes, expected: Expected) -> PaperVerdict:
    stages = _staged_text(data, (1, PAGES_READ))
    try:
        try:
            pdf = next(stages)
        except ValueError as exc:
            return PaperVerdict(verdict=UNREADABLE, detail=str(exc)[:200])
        if pdf.pages < 1:
            return PaperVerdict(verdict=UNREADABLE, detail="no page")
        verdict = _judge_known(pdf, expected)
        if _read_on(verdict, pdf):
            pdf = next(stages)
            verdict = _judge_known(pdf, expected)
        return verdict
    finally:
        stages.close()


def _read_on(verdict: PaperVerdict, first: PdfText) -> bool:
    """Whether page 1 leaves the question open: a scanned or empty page 1 (a cover image),
    or a file long enough to be a volume. Otherwise page 1 decides: reading more pages
    costs tens of milliseconds each, paid for every wrong paper."""
    if verdict.verdict == MATCH or first.pages < 2:
        return False
    return verdict.verdict == NO_TEXT or first.pages >= VOLUME_MIN_PAGES


def _judge_known(pdf: PdfText, expected: Expected) -> PaperVerdict:
    if expected.empty:
        text_len = len(normalise(pdf.text).replace(" ", ""))
        verdict = NO_TEXT if text_len < MIN_TEXT_CHARS else NO_METADATA
        return PaperVerdict(verdict=verdict, detail="nothing known to compare with")
    return judge(pdf, expected)
