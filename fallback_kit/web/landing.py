"""Reading publisher landing pages: where might the PDF be, and is this page a wall?

A real HTML parser (selectolax / lexbor), never regular expressions over HTML: pages
arrive cut at a size cap, with raw `&` in attributes and unclosed tags, and lexbor
reads them the way a browser would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = ["MAX_PARSE_TAGS", "MAX_PDF_LINKS", "PARSE_OFF_LOOP_CHARS", "LandingPage",
           "aparse_landing", "parse_landing"]

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

_CHALLENGE_MARKERS = (
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


@dataclass(frozen=True, slots=True, kw_only=True)
class LandingPage:
    """What a landing page says about its PDF, every URL absolute."""

    url: str
    base: str
    citation_pdf_urls: list[str] = field(default_factory=list)
    alternate_pdf_urls: list[str] = field(default_factory=list)
    anchor_pdf_urls: list[str] = field(default_factory=list)
    challenge: bool = False
    paywall: bool = False
    login_form: bool = False
    title: str = ""

    def pdf_candidates(self, *, anchors: bool = True) -> list[tuple[str, str]]:
        """(url, label) in order: citation_pdf_url, link alternate, then PDF anchors."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        groups = [
            ("citation_pdf_url", self.citation_pdf_urls),
            ("link_alternate", self.alternate_pdf_urls),
        ]
        if anchors:
            groups.append(("anchor", self.anchor_pdf_urls))
        for label, urls in groups:
            for u in urls:
                if u not in seen:
                    seen.add(u)
                    out.append((u, label))
        return out


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
    for meta in tree.css("meta"):
        attrs = meta.attributes
        name = (attrs.get("name") or attrs.get("property") or "").strip().lower()
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

    anchors: dict[str, None] = {}
    for a in tree.css("a[href]"):
        attrs = a.attributes
        text = a.text(deep=True, separator=" ", strip=True)
        # every test of _is_pdf_anchor needs "pdf" somewhere: skip the URL join otherwise
        if "pdf" not in " ".join([text, *(v or "" for v in attrs.values())]).lower():
            continue
        u = _absolute(base, attrs.get("href"))
        if not u or u in anchors:
            continue
        if _is_pdf_anchor(u, text, dict(attrs)):
            anchors.setdefault(u)
            if len(anchors) >= MAX_PDF_LINKS:
                break

    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else ""
    low = html[:200_000].lower()
    challenge = any(m in low for m in _CHALLENGE_MARKERS)
    login = tree.css_first('input[type="password"]') is not None
    paywall = any(m in low for m in _PAYWALL_MARKERS)
    return LandingPage(
        url=url,
        base=base,
        citation_pdf_urls=list(citation),
        alternate_pdf_urls=list(alternate),
        anchor_pdf_urls=list(anchors),
        challenge=challenge,
        paywall=paywall,
        login_form=login,
        title=title,
    )
