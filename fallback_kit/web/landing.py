"""Reading publisher landing pages: where might the PDF be, and is this page a wall?

A real HTML parser (selectolax / lexbor), never regular expressions over HTML: pages
arrive cut at a size cap, with raw `&` in attributes and unclosed tags, and lexbor
reads them the way a browser would.

Links are read where they stand. Candidates come in ranks: `citation_pdf_url`, then
`<link rel=alternate type=application/pdf>`, then PDF anchors in the article's own
download area, then any other PDF anchor; within a rank the full text comes before
supplements, figures, appendices, previews and print views. Anchors that cannot be
the work's own PDF are dropped: inside references, notes, footnotes or citation lists;
purchase, buy and rent links; links naming another work's DOI; links to another site
that are neither in the download area nor name the work's DOI.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from urllib.parse import unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .platforms import platform_links

__all__ = ["CHALLENGE_MARKERS", "MAX_PARSE_TAGS", "MAX_PDF_LINKS", "PARSE_OFF_LOOP_CHARS",
           "AnchorLink", "LandingPage", "aparse_landing", "parse_landing"]

#: PDF links of each kind kept from one page, in page order: no real landing page links
#: more copies of its article, and a hostile one must not turn into 100,000 requests
MAX_PDF_LINKS = 50
#: pages longer than this are parsed in a worker thread: the event loop (and every
#: other work's deadline) must not wait for a hostile page
PARSE_OFF_LOOP_CHARS = 200_000
#: tags of a page given to the parser; the rest is cut, as the size cap cuts a page.
#: lexbor holds the GIL while it parses (about 3 us a tag, far more on a loaded
#: machine), so this bounds how long a hostile page can stall the event loop; real
#: landing pages have a few thousand tags
MAX_PARSE_TAGS = 30_000


#: words of bot-challenge and block pages (Cloudflare, captchas, WAFs), lower case: the
#: one list, read by the landing parser and by the PDF gate (web/edge.py)
CHALLENGE_MARKERS = (
    "cf-chl",
    "challenge-platform",
    "captcha",
    "just a moment",
    "verify you are human",
    "checking your browser",
    "access denied",
    "are you a robot",
    "unusual traffic",
)
_PAYWALL_MARKERS = (
    "purchase this article",
    "purchase article",
    "buy this article",
    "buy article",
    "rent this article",
    "access through your institution",
    "check access",
    "get access",
    "subscribe to journal",
    "subscription required",
    "log in to access",
    "sign in to access",
    "institutional login",
    "purchase pdf",
    "pay per view",
)
_PDF_WORDS = ("pdf",)
#: id/class/role words of the containers that hold other works' links
_REFERENCE_WORDS = (
    "reference", "ref-list", "reflist", "bibliograph", "-bib-", "citation", "cited-by",
    "citedby", "footnote", "endnote", "fn-group", "notes", "doc-biblio", "doc-noteref",
)
#: id/class words of an article's own download area (toolbars, download buttons)
_AREA_WORDS = ("download", "article-tools", "articletools", "journaltools", "toolbar",
               "article_header", "article-header", "pdf-link", "pdflink", "button_primary")
_PURCHASE = re.compile(
    r"\b(buy|purchase|rent|rental|checkout|cart|pay[- ]per[- ]view|subscribe|subscription)\b")
_PURCHASE_PATH = re.compile(r"/(cart|checkout|purchase|buy|rent|order|subscribe|getaccess)\b")
#: what a PDF that is not the article's full text says of itself
_MINOR = re.compile(r"suppl|supinfo|supporting|figure|/fig|appendix|preview|print(?!able)"
                    r"|thumbnail|/epdf\b")
_DOI_IN_URL = re.compile(r"10\.\d{4,9}/")
_ANCESTOR_DEPTH = 40
_AREA_DEPTH = 6
_LONG_SUFFIXES = ("co", "ac", "com", "org", "net", "edu", "gov")


@dataclass(frozen=True, slots=True)
class AnchorLink:
    """A PDF anchor that may be the work's: in the download area or elsewhere on the
    page, and whether it calls itself something else than the full text."""

    url: str
    area: bool = False
    minor: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LandingPage:
    """What a landing page says about its PDF, every URL absolute."""

    url: str
    base: str
    citation_pdf_urls: list[str] = field(default_factory=list)
    alternate_pdf_urls: list[str] = field(default_factory=list)
    #: PDF anchors that passed the page-level filters, in page order
    anchor_pdf_urls: list[str] = field(default_factory=list)
    anchors: list[AnchorLink] = field(default_factory=list)
    #: (url, why) of the PDF anchors dropped: `references`, `purchase`
    dropped: list[tuple[str, str]] = field(default_factory=list)
    challenge: bool = False
    paywall: bool = False
    login_form: bool = False
    title: str = ""
    platform: str = ""  # the platform rule that read the page (web/platforms.py)
    platform_pdf_urls: list[str] = field(default_factory=list)
    #: the page's own DOI (citation_doi, dc.identifier), lower-case
    doi: str | None = None

    def pdf_candidates(
        self, *, anchors: bool = True, doi: str | None = None
    ) -> list[tuple[str, str]]:
        """(url, label) by rank: the platform rule's links, citation_pdf_url, link
        alternate, the download area's anchors, other anchors; full text before
        supplements within a rank. Anchors naming another DOI than the work's (`doi`,
        else the page's), or on another site without being the work's own download, are
        left out."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        target = (doi or self.doi or "").lower() or None
        groups: list[tuple[str, list[str]]] = [
            (f"platform:{self.platform}", self.platform_pdf_urls),
            ("citation_pdf_url", self.citation_pdf_urls),
            ("link_alternate", self.alternate_pdf_urls),
        ]
        if anchors:
            kept = [a for a in self.anchors if self._own(a, target)]
            for label, area in (("download_area", True), ("anchor", False)):
                ranked = sorted((a for a in kept if a.area is area), key=lambda a: a.minor)
                groups.append((label, [a.url for a in ranked]))
        for label, urls in groups:
            for u in urls:
                if u not in seen:
                    seen.add(u)
                    out.append((u, label))
        return out

    def _own(self, anchor: AnchorLink, doi: str | None) -> bool:
        """Whether an anchor may be the work's own PDF (DOI and site rules)."""
        flat = unquote(anchor.url).lower()
        names_doi = doi is not None and doi in flat
        if doi is not None and not names_doi and _DOI_IN_URL.search(flat):
            return False  # names another work's DOI
        if _site(anchor.url) != _site(self.url):
            return names_doi or anchor.area
        return True


def _site(url: str) -> str:
    """The registrable part of a URL's host, roughly (`onlinelibrary.wiley.com` ->
    `wiley.com`, `www.bbc.co.uk` -> `bbc.co.uk`): enough to tell one publisher's hosts
    from a cited site's."""
    host = (urlsplit(url).hostname or "").lower()
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _LONG_SUFFIXES else 2
    return ".".join(labels[-keep:])


def _words(node: LexborNode) -> str:
    attrs = node.attributes
    return " ".join(str(attrs.get(k) or "") for k in ("id", "class", "role")).lower()


def _in_references(node: LexborNode) -> bool:
    """Inside a reference list, notes, footnotes or a citation (or an in-text citation)."""
    attrs = node.attributes
    if (attrs.get("data-jats-ref-type") or "").lower() in ("bibr", "fn"):
        return True
    if "xref-bibr" in (attrs.get("class") or "").lower():
        return True
    current: LexborNode | None = node.parent
    for _ in range(_ANCESTOR_DEPTH):
        if current is None:
            return False
        if current.tag == "cite" or any(w in _words(current) for w in _REFERENCE_WORDS):
            return True
        current = current.parent
    return False


def _in_download_area(node: LexborNode) -> bool:
    attrs = node.attributes
    if "download" in attrs or "download" in (attrs.get("data-track-action") or "").lower():
        return True
    current: LexborNode | None = node
    for _ in range(_AREA_DEPTH):
        if current is None:
            return False
        if any(w in _words(current) for w in _AREA_WORDS):
            return True
        current = current.parent
    return False


def _is_purchase(url: str, text: str, attrs: dict[str, str | None]) -> bool:
    label = " ".join([text, attrs.get("title") or "", attrs.get("aria-label") or "",
                      attrs.get("data-track-action") or "", attrs.get("class") or ""]).lower()
    return bool(_PURCHASE.search(label) or _PURCHASE_PATH.search(urlsplit(url).path.lower()))


def _first_tags(html: str, limit: int) -> str:
    """`html` cut just before its `limit`-th `<` (the whole text when it has fewer)."""
    at = -1
    for _ in range(limit):
        at = html.find("<", at + 1)
        if at < 0:
            return html
    return html[:at]


def _absolute(base: str, href: str | None) -> str | None:
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "data:")):
        return None
    url = urljoin(base, href)
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return url


def _is_pdf_anchor(href: str, text: str, attrs: dict[str, str | None]) -> bool:
    path = urlsplit(href).path.lower().rstrip("/")
    if path.endswith(".pdf") or path.endswith("/pdf") or path.endswith("/pdfft"):
        return True
    if "pdf" in text.lower():
        return True
    for key in ("title", "aria-label", "data-track-action", "type"):
        value = attrs.get(key) or ""
        if "pdf" in value.lower():
            return True
    return False


async def aparse_landing(html: str, url: str) -> LandingPage:
    """`parse_landing`, in a worker thread when the page is long (PARSE_OFF_LOOP_CHARS):
    a cancelled caller (its deadline) stops waiting at once."""
    if len(html) > PARSE_OFF_LOOP_CHARS:
        return await asyncio.to_thread(parse_landing, html, url)
    return parse_landing(html, url)


def parse_landing(html: str, url: str) -> LandingPage:
    """Parse a (possibly cut) landing page fetched from `url` (its final URL)."""
    tree = LexborHTMLParser(_first_tags(html, MAX_PARSE_TAGS))
    base = url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        href = base_node.attributes.get("href")
        if href:
            base = urljoin(url, href.strip())

    # dicts keep the first-seen order and test membership in O(1): a hostile page with
    # 100,000 links must parse in linear time (a list's `in` made it quadratic)
    citation: dict[str, None] = {}
    page_doi: str | None = None
    for meta in tree.css("meta"):
        attrs = meta.attributes
        name = (attrs.get("name") or attrs.get("property") or "").strip().lower()
        if name in ("citation_doi", "dc.identifier", "prism.doi") and page_doi is None:
            found = re.search(r"10\.\d{4,9}/\S+", attrs.get("content") or "")
            page_doi = found.group(0).lower() if found else None
        if name in ("citation_pdf_url", "eprints.document_url", "bepress_citation_pdf_url"):
            u = _absolute(base, attrs.get("content"))
            if u and len(citation) < MAX_PDF_LINKS:
                citation.setdefault(u)

    alternate: dict[str, None] = {}
    for link in tree.css("link[href]"):
        attrs = link.attributes
        rel = (attrs.get("rel") or "").lower().split()
        ctype = (attrs.get("type") or "").lower()
        if "alternate" in rel and "application/pdf" in ctype:
            u = _absolute(base, attrs.get("href"))
            if u and len(alternate) < MAX_PDF_LINKS:
                alternate.setdefault(u)

    anchors: list[AnchorLink] = []
    dropped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for a in tree.css("a[href]"):
        attrs = dict(a.attributes)
        text = a.text(deep=True, separator=" ", strip=True)
        # every test of _is_pdf_anchor needs "pdf" somewhere: skip the URL join otherwise
        if "pdf" not in " ".join([text, *(v or "" for v in attrs.values())]).lower():
            continue
        u = _absolute(base, attrs.get("href"))
        if not u or u in seen:
            continue
        if not _is_pdf_anchor(u, text, attrs):
            continue
        seen.add(u)
        if len(seen) > MAX_PDF_LINKS:
            break
        if _is_purchase(u, text, attrs):
            dropped.append((u, "purchase"))
        elif _in_references(a):
            dropped.append((u, "references"))
        else:
            minor = bool(_MINOR.search(" ".join([urlsplit(u).path.lower(), text.lower(),
                                                 (attrs.get("class") or "").lower()])))
            anchors.append(AnchorLink(u, area=_in_download_area(a), minor=minor))

    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else ""
    low = html[:200_000].lower()
    challenge = any(m in low for m in CHALLENGE_MARKERS)
    login = tree.css_first('input[type="password"]') is not None
    paywall = any(m in low for m in _PAYWALL_MARKERS)
    page = LandingPage(
        url=url,
        base=base,
        citation_pdf_urls=list(citation),
        alternate_pdf_urls=list(alternate),
        anchor_pdf_urls=[a.url for a in anchors],
        anchors=anchors,
        dropped=dropped,
        challenge=challenge,
        paywall=paywall,
        login_form=login,
        title=title,
        doi=page_doi,
    )
    return _with_platform(page, tree)


def _with_platform(page: LandingPage, tree: LexborHTMLParser) -> LandingPage:
    """The platform table first (web/platforms.py); the generic rules for other hosts.

    When a known platform's rule read the page, its links replace the generic anchor
    heuristic (which takes supplements, reference lists and shop links there), and a
    page on which it found the article's own PDF link is a landing page, not a bot
    challenge (a passive challenge script sits on ordinary ScienceDirect pages).
    """
    found = platform_links(tree, page.url, page.base)
    if found is None:
        return page
    return replace(
        page,
        platform=found.platform,
        platform_pdf_urls=found.pdf_urls,
        anchor_pdf_urls=[],
        anchors=[],
        challenge=page.challenge and not found.pdf_urls,
    )
