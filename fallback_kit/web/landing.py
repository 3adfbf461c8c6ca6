"""Reading publisher landing pages: where might the PDF be, and is this page a wall?

A real HTML parser (selectolax / lexbor), never regular expressions over HTML: pages
arrive cut at a size cap, with raw `&` in attributes and unclosed tags, and lexbor
reads them the way a browser would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = ["CHALLENGE_MARKERS", "LandingPage", "parse_landing"]

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


def parse_landing(html: str, url: str) -> LandingPage:
    """Parse a (possibly cut) landing page fetched from `url` (its final URL)."""
    tree = LexborHTMLParser(html)
    base = url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        href = base_node.attributes.get("href")
        if href:
            base = urljoin(url, href.strip())

    citation: list[str] = []
    for meta in tree.css("meta"):
        attrs = meta.attributes
        name = (attrs.get("name") or attrs.get("property") or "").strip().lower()
        if name in ("citation_pdf_url", "eprints.document_url", "bepress_citation_pdf_url"):
            u = _absolute(base, attrs.get("content"))
            if u and u not in citation:
                citation.append(u)

    alternate: list[str] = []
    for link in tree.css("link[href]"):
        attrs = link.attributes
        rel = (attrs.get("rel") or "").lower().split()
        ctype = (attrs.get("type") or "").lower()
        if "alternate" in rel and "application/pdf" in ctype:
            u = _absolute(base, attrs.get("href"))
            if u and u not in alternate:
                alternate.append(u)

    anchors: list[str] = []
    for a in tree.css("a[href]"):
        attrs = a.attributes
        u = _absolute(base, attrs.get("href"))
        if not u:
            continue
        text = a.text(deep=True, separator=" ", strip=True)
        if _is_pdf_anchor(u, text, dict(attrs)) and u not in anchors:
            anchors.append(u)

    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else ""
    low = html[:200_000].lower()
    challenge = any(m in low for m in CHALLENGE_MARKERS)
    login = tree.css_first('input[type="password"]') is not None
    paywall = any(m in low for m in _PAYWALL_MARKERS)
    return LandingPage(
        url=url,
        base=base,
        citation_pdf_urls=citation,
        alternate_pdf_urls=alternate,
        anchor_pdf_urls=anchors,
        challenge=challenge,
        paywall=paywall,
        login_form=login,
        title=title,
    )
