"""Platform rules: where a known publishing platform puts an article's own PDF link.

The generic landing rules (`citation_pdf_url`, `<link rel=alternate>`, "PDF" anchors)
find nothing on some platforms and the wrong thing on others: ScienceDirect fills its
"View PDF" button from embedded JSON, ACS and Wiley pages carry supplement and
reference-list PDFs, OJS galley pages link the cited works. One table, `PLATFORMS`,
maps host patterns to a small extractor per platform. An extractor returns None when
the page is not in the shape it knows (the generic rules then read it as before), or
the article's own PDF links, possibly none, when it read the page: its links then come
first and the generic anchor heuristic is not used on that page (the publisher's
`citation_pdf_url` and `link rel=alternate` still count).

Every rule reads a page shape seen in a real recording under
`tests/fixtures/pages/<platform>/` (provenance in that folder's README.md). Platforms
and shapes with no recording (IEEE's stamp page, DSpace 7, EPrints, OSF, SSRN, medRxiv,
current Wiley/OUP/MDPI/Frontiers shapes, OJS galley viewers) have no rule: see
docs/sources.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

__all__ = [
    "PLATFORMS",
    "PlatformLinks",
    "PlatformRule",
    "platform_for",
    "platform_links",
    "zenodo_distributions",
]


@dataclass(frozen=True, slots=True)
class PlatformLinks:
    """What a platform rule read on a page: the article's own PDF URLs, best first
    (empty when the page says there is none, e.g. a paywalled ScienceDirect page)."""

    platform: str
    pdf_urls: list[str]


class _Page:
    """The parsed page with the few readers the rules share."""

    def __init__(self, tree: LexborHTMLParser, base: str) -> None:
        self.tree = tree
        self.base = base

    def absolute(self, href: str | None) -> str | None:
        if not href or not href.strip() or href.strip().startswith(("#", "javascript:")):
            return None
        url = urljoin(self.base, href.strip())
        return url if urlsplit(url).scheme in ("http", "https") else None

    def meta(self, name: str) -> str:
        """The first `<meta name=...>` value; `content`, else `value` (see the bioRxiv rule)."""
        for node in self.tree.css("meta[name]"):
            attrs = node.attributes
            if (attrs.get("name") or "").strip().lower() == name:
                return (attrs.get("content") or attrs.get("value") or "").strip()
        return ""

    def hrefs(self, selector: str) -> list[str]:
        """Absolute hrefs of the nodes matching a CSS selector, in page order."""
        out = [self.absolute(n.attributes.get("href")) for n in self.tree.css(selector)]
        return [u for u in out if u]


def _unique(urls: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for u in urls:
        if u and u not in out:
            out.append(u)
    return out


def _found(urls: list[str]) -> list[str] | None:
    """A rule that reads links only: no link means the page is not in its shape."""
    return urls or None


_OJS_GALLEY = re.compile(r"/article/view/\d+/\d+/?$")


def _path(url: str) -> str:
    return unquote(urlsplit(url).path)


def _param(url: str, name: str) -> str:
    """The first value of a query parameter, or ''."""
    return (parse_qs(urlsplit(url).query).get(name) or [""])[0]


# ---------------------------------------------------------------- the extractors


def sciencedirect(page: _Page) -> list[str] | None:
    """ScienceDirect: `$.article.pdfDownload` in `<script type=application/json data-iso-key=_0>`.

    2023+ shape: `urlMetadata {path, pii, pdfExtension, queryParams{md5, pid}}`, and the
    "View PDF" anchor has no href. 2019 shape: `pdfDownload.linkToPdf`. A paywalled page
    has `pdfDownload: null`: no PDF, and its "Purchase PDF" anchor is a shop. Only that
    key is read: `$.referenceLinks` and `$.citingArticles` hold other articles' PDFs.
    """
    node = page.tree.css_first('script[type="application/json"][data-iso-key="_0"]')
    if node is None:
        return None
    try:
        data = json.loads(node.text())
    except ValueError:
        return None
    article = data.get("article") if isinstance(data, dict) else None
    if not isinstance(article, dict):
        return None
    pdf = article.get("pdfDownload")
    if not isinstance(pdf, dict):
        return []  # the article JSON without pdfDownload: not entitled, no PDF here
    return _unique([page.absolute(pdf.get("linkToPdf")), _sciencedirect_from_metadata(page, pdf)])


def _sciencedirect_from_metadata(page: _Page, pdf: dict[str, Any]) -> str | None:
    meta = pdf.get("urlMetadata")
    if not isinstance(meta, dict) or not all(meta.get(k) for k in ("path", "pii")):
        return None
    query = meta.get("queryParams") if isinstance(meta.get("queryParams"), dict) else {}
    href = f"/{meta['path']}/{meta['pii']}{meta.get('pdfExtension') or '/pdf'}"
    return page.absolute(href + ("?" + urlencode(query) if query else ""))


def springer(page: _Page) -> list[str] | None:
    """SpringerLink / SpringerOpen: `/content/pdf/<doi>.pdf` or `/track/pdf/<doi>`.

    From `citation_pdf_url`, `a[data-test=pdf-link]` or `a#articlePdf`. The buy box
    (order.springer.com cart, "Buy article PDF") is never a candidate; a non-entitled
    page still advertises the path, so the PDF gate decides.
    """
    urls = [page.absolute(page.meta("citation_pdf_url"))]
    urls += page.hrefs('a[data-test="pdf-link"], a#articlePdf')
    return _found(
        [u for u in _unique(urls) if _path(u).startswith(("/content/pdf/", "/track/pdf/"))]
    )


def acs(page: _Page) -> list[str] | None:
    """ACS (pubs.acs.org): the header button `a[title=PDF]` -> `/doi/pdf/<doi>`.

    No `citation_pdf_url` on these pages. `/doi/suppl/.../suppl_file/*.pdf` is
    supporting information, not the article.
    """
    urls = page.hrefs('a[title="PDF"], a[href^="/doi/pdf/"]')
    return _found([u for u in _unique(urls) if _path(u).startswith("/doi/pdf/")])


def hal(page: _Page) -> list[str] | None:
    """HAL (hal.science, theses.hal.science): `citation_pdf_url` `/document`, then the
    `a[download]` file link `/<id>v<n>/file/<name>.pdf`; never the `/preview/` iframe."""
    urls = [page.absolute(page.meta("citation_pdf_url"))] + page.hrefs("a[download]")
    return _found(
        [u for u in _unique(urls) if "/file/" in _path(u) or _path(u).endswith("/document")]
    )


def biorxiv(page: _Page) -> list[str] | None:
    """bioRxiv (HighWire): `citation_pdf_url`, then the "Download PDF" `a.article-dl-pdf-link`.

    The recorded page stores meta values in `value=` (the recorder's quirk), hence the
    `content`-else-`value` reader. The `.supplementary-material` tab is an HTML page.
    """
    urls = [page.absolute(page.meta("citation_pdf_url"))] + page.hrefs("a.article-dl-pdf-link")
    return _found([u for u in _unique(urls) if _path(u).endswith(".pdf")])


def mdpi(page: _Page) -> list[str] | None:
    """MDPI: the PDF is the landing URL plus `/pdf` (no `.pdf` suffix); anchors under the
    article's own path only."""
    own = _path(page.base).rstrip("/") + "/pdf"
    return _found([u for u in _unique(page.hrefs("a[href]")) if _path(u) == own])


def frontiers(page: _Page) -> list[str] | None:
    """Frontiers (journal.frontiersin.org, 2015): `div.download-pdf a` ->
    `/Journal/<doi>/pdf`, kept only for the page's own `citation_doi`."""
    doi = page.meta("citation_doi")
    urls = page.hrefs("div.download-pdf a")
    return _found([u for u in urls if doi and _path(u).endswith(f"/{doi}/pdf")])


def oup_highwire(page: _Page) -> list[str] | None:
    """OUP legacy HighWire (*.oxfordjournals.org): `a[rel="view-full-text.pdf"]` points at
    the `.full.pdf+html` viewer; without `+html` it is the PDF. References' "FREE Full
    Text" links (`/cgi/ijlink`) are other articles."""
    urls = page.hrefs('a[rel="view-full-text.pdf"]')
    return _found(_unique(u[: -len("+html")] if u.endswith("+html") else u for u in urls))


def wiley(page: _Page) -> list[str] | None:
    """Wiley Online Library (2016 shape): the article's own `/doi/<doi>/pdf`, before its
    `/epdf` reader (which is not a file, so it is left out).

    Reference lists carry other DOIs' `/pdf` and `/epdf` links with the same classes, and
    supporting information is a `/store/.../supinfo/*.pdf`: only `citation_doi` counts.
    """
    doi = page.meta("citation_doi")
    if not doi:
        return None
    own = f"/doi/{doi}/pdf"
    urls = [page.absolute(page.meta("citation_pdf_url"))] + page.hrefs("a.readcubePdfLink")
    return _found([u for u in _unique(urls) if _path(u) == own])


def ojs(page: _Page) -> list[str] | None:
    """Open Journal Systems 3: galley links `a.obj_galley_link`, only those marked PDF.

    An HTML galley (class `file`, label HTML) is not a PDF, and a galley document
    (`/article/view/<article>/<galley>`) links only the works it cites. The galley
    view -> download step is not written: no recording of a PDF galley page was found.
    """
    galleys = page.tree.css("a.obj_galley_link")
    if not galleys:
        return [] if _OJS_GALLEY.search(_path(page.base)) else None
    out: list[str] = []
    for node in galleys:
        classes = (node.attributes.get("class") or "").lower().split()
        label = node.text(deep=True, strip=True).lower()
        url = page.absolute(node.attributes.get("href"))
        if url and ("pdf" in classes or label == "pdf") and url not in out:
            out.append(url)
    return out


def zenodo(page: _Page) -> list[str] | None:
    """Zenodo (InvenioRDM record page): JSON-LD `distribution[]` entries whose
    `encodingFormat` is application/pdf. Never the first `/files/...?download=1` button:
    a record's files are often data."""
    files = zenodo_distributions(page)
    if not files:
        return None
    return _unique(u for u, fmt in files if fmt == "application/pdf")


def zenodo_distributions(page: _Page) -> list[tuple[str, str]]:
    """(contentUrl, encodingFormat) of the record's JSON-LD `DataDownload` entries."""
    out: list[tuple[str, str]] = []
    for node in page.tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(node.text())
        except ValueError:
            continue
        dists = data.get("distribution") if isinstance(data, dict) else None
        for d in dists if isinstance(dists, list) else []:
            url = page.absolute(str(d.get("contentUrl") or "")) if isinstance(d, dict) else None
            if url:
                out.append((url, str(d.get("encodingFormat") or "")))
    return out


def ieee(page: _Page) -> list[str] | None:
    """IEEE Xplore full-text page (2015, `/xpls/icp.jsp?arnumber=N`): the article's own
    "Download PDF", `/stamp/stamp.jsp?[tp=&]arnumber=N` (`div.section.pdf a` or
    `a#icp-download-pdf`).

    The reference list links each cited IEEE paper's stamp page ("Full Text: PDF"):
    other arnumbers, never taken. The stamp page frames the file (`stampPDF/getPDF.jsp`);
    no recording of it was found, so its iframe is not followed: the gate decides.
    """
    own = _param(page.base, "arnumber")
    stamps = page.hrefs('a[href*="stamp.jsp"]')
    if not own or not stamps:
        return None
    return _unique(
        u for u in stamps if _path(u) == "/stamp/stamp.jsp" and _param(u, "arnumber") == own
    )


_DSPACE_HANDLE = re.compile(r"/handle/(\d[\d.]*/\d+)")


def dspace(page: _Page) -> list[str] | None:
    """DSpace XMLUI item page (`/handle/<prefix>/<item>`): the item's own PDF bitstreams,
    `/bitstream/handle/<prefix>/<item>/<name>.pdf?sequence=N`.

    The file list links each file twice (thumbnail `a.image-link` and "View/Open"), the
    full record's file table once. Thumbnails (`<name>.pdf.jpg`) are images, and a
    bitstream under another handle is another item's file: the page has none of its own.
    """
    own = _DSPACE_HANDLE.search(_path(page.base))
    links = page.hrefs('a[href*="/bitstream/handle/"]')
    if own is None or not links:
        return None
    prefix = f"/bitstream/handle/{own.group(1)}/"
    return _unique(u for u in links if prefix in _path(u) and _path(u).lower().endswith(".pdf"))


def peerj(page: _Page) -> list[str] | None:
    """PeerJ: the download button `a.js-download-btn[data-format=PDF]` (`/articles/<n>.pdf`).

    In-text citations (`a.xref-bibr`) and external links point at other documents' PDFs.
    """
    return _found(_unique(page.hrefs('a.js-download-btn[data-format="PDF"]')))


# ---------------------------------------------------------------- the table

Extractor = Callable[[_Page], list[str] | None]


@dataclass(frozen=True, slots=True)
class PlatformRule:
    """A platform: host suffixes (or a `generator` meta prefix) and its extractor."""

    name: str
    hosts: tuple[str, ...]
    extract: Extractor
    generator: str = ""
    path: re.Pattern[str] | None = None  # a URL path shape that identifies the platform

    def matches(self, host: str, path: str, generator: str) -> bool:
        if any(host == h or host.endswith("." + h) for h in self.hosts):
            return True
        if self.generator and generator.startswith(self.generator):
            return True
        return bool(self.path and self.path.search(path))


#: the platform rules, first match wins; evidence per rule in docs/sources.md
PLATFORMS: tuple[PlatformRule, ...] = (
    PlatformRule("sciencedirect", ("sciencedirect.com",), sciencedirect),
    PlatformRule("springer", ("link.springer.com", "springeropen.com"), springer),
    PlatformRule("acs", ("pubs.acs.org",), acs),
    PlatformRule("hal", ("hal.science",), hal),
    PlatformRule("biorxiv", ("biorxiv.org",), biorxiv),
    PlatformRule("mdpi", ("mdpi.com",), mdpi),
    PlatformRule("frontiers", ("frontiersin.org",), frontiers),
    PlatformRule("oup_highwire", ("oxfordjournals.org",), oup_highwire),
    PlatformRule("wiley", ("onlinelibrary.wiley.com",), wiley),
    PlatformRule("zenodo", ("zenodo.org",), zenodo),
    PlatformRule("peerj", ("peerj.com",), peerj),
    PlatformRule("ieee", ("ieeexplore.ieee.org",), ieee),
    PlatformRule("dspace", (), dspace, path=_DSPACE_HANDLE),
    PlatformRule(
        "ojs",
        (),
        ojs,
        generator="open journal systems",
        path=re.compile(r"/index\.php/[^/]+/article/view/\d"),
    ),
)


def platform_for(tree: LexborHTMLParser, url: str) -> PlatformRule | None:
    """The rule of the platform that served `url` (by host, generator meta or URL path)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    node = tree.css_first('meta[name="generator"]')
    generator = ((node.attributes.get("content") or "") if node is not None else "").lower()
    return next((r for r in PLATFORMS if r.matches(host, parts.path, generator)), None)


def platform_links(tree: LexborHTMLParser, url: str, base: str) -> PlatformLinks | None:
    """The matching platform's reading of the page; None for an unknown platform or a
    page not in the shape its rule knows (the generic rules read it then)."""
    rule = platform_for(tree, url)
    urls = rule.extract(_Page(tree, base)) if rule is not None else None
    return PlatformLinks(rule.name, urls) if rule is not None and urls is not None else None
