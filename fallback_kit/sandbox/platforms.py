"""Landing pages in the shape of real publishing platforms.

A share of the landing pages of some publishers (the profile's `platform_pages`) is
rendered in the structure of a real page of that platform, as recorded in
`tests/fixtures/pages/<platform>/` (provenance in that folder's README.md): where the
PDF link stands, what stands beside it (readers, supplements, reference lists, shop
links), on the platform's own host. Only the structure is taken: titles, names and
identifiers are the World's. Where the real platform hides the PDF link from the
generic landing rules (ScienceDirect puts it only in embedded JSON), the shaped page
hides it too, so that only a client that knows the platform finds it.

Some shapes live on a site of their own (`own_site`): a repository the work's landing URL
names (DSpace XMLUI's `/handle/<prefix>/<item>`, HAL's `hal.science/<id>`), or OUP's
legacy HighWire host (`<journal>.oxfordjournals.org`) for a share of OUP's works.

`shape_links` says what a page links, for the truth (`answers.page_links`);
`render_shaped` writes the page; `alias` maps the platform's own pages, PDF and reader
URLs, where they differ from the publisher's usual ones, back to the work.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ._hash import h64
from .model import ROBOTS_PREFIX, Links, _slug, authors, other_work, pii_index

if TYPE_CHECKING:  # pragma: no cover
    from .world import Facts, World

__all__ = ["ALWAYS_SHAPED", "SHAPES", "Site", "alias", "own_site", "render_shaped",
           "shape_links"]

#: World publisher key -> the platform whose recorded page shape its shaped pages take
SHAPES: Mapping[str, str] = MappingProxyType({
    "elsevier": "sciencedirect",  # 2023-24 page: the link only in JSON (papis, 2024)
    "wiley": "wiley",  # 2016 page: /epdf before /pdf, references' PDFs (ContentMine norma)
    "springer": "springer",  # SpringerLink 2026: citation_pdf_url, buy box (papis)
    "acs": "acs",  # 2019 page: a[title=PDF], supporting-information trap (papis)
    "frontiers": "frontiers",  # 2015 page: div.download-pdf (ContentMine norma)
    "mdpi": "mdpi",  # 2015 page: <landing>/pdf (ContentMine norma)
    "peerj": "peerj",  # 2018 page: js-download-btn, in-text citation PDFs (sandcrawler)
})


#: publishers the World shows only in their platform's shape (their generic page would be
#: read by the platform rule anyway: ACS's `/doi/pdf/` anchor, SpringerLink's meta)
ALWAYS_SHAPED = frozenset({"springer", "acs"})


#: shapes on a site of their own (`own_site`), not on their publisher's usual host
SITE_SHAPES = ("oup_highwire", "dspace", "hal")

_DSPACE_HANDLE = re.compile(r"/handle/(\d[\d.]*/\d+)")
_HAL_PAGE = re.compile(r"/([a-z]+-\d{8})(?:v(\d+))?(?:/.*)?")
_HIGHWIRE_DOI = re.compile(r"10\.1093/([a-z]+)/([a-z]+\d+)")
_HIGHWIRE_PATH = re.compile(r"/content/(\d+)/([a-z]+\d+)\.full(?:\.pdf(?:\+html)?)?")


@dataclass(frozen=True, slots=True)
class Site:
    """A shaped work's own site: its landing page, the file that answers with the PDF and
    the reader in front of it (if any). A repository's items are open, with no robots
    rule and no bot challenge."""

    platform: str
    host: str
    landing: str
    pdf: str
    viewer: str | None = None
    repository: bool = False


def own_site(pub_key: str | None, doi: str | None, landing: str | None, title: str,
             year: int, legacy: bool) -> Site | None:
    """The work's own platform site: a DSpace or HAL page its given landing URL names, or
    (when `legacy`, the `platform_pages` draw) OUP's legacy HighWire host for a
    `10.1093/<journal>/<id>` DOI (the recording: aobpla 10.1093/aobpla/plv005 at
    aobpla.oxfordjournals.org/content/7/plv005.full)."""
    if landing:
        return _repository_site(landing, title)
    m = _HIGHWIRE_DOI.fullmatch(doi or "")
    if pub_key != "oup" or not legacy or m is None:
        return None
    host = f"{m.group(1)}.oxfordjournals.org"
    base = f"https://{host}/content/{max(1, year - 1990)}/{m.group(2)}.full"
    return Site("oup_highwire", host, base, base + ".pdf", base + ".pdf+html")


def _repository_site(landing: str, title: str) -> Site | None:
    p = urlsplit(landing)
    host, root = (p.hostname or "").lower(), f"{p.scheme}://{p.netloc}"
    name = (_slug(title)[:40].strip("-") or "article") + ".pdf"
    dspace = _DSPACE_HANDLE.search(p.path)
    if dspace is not None:  # UFPR: the item at /dspace/handle/.., its files at /bitstream/..
        pdf = f"{root}/bitstream/handle/{dspace.group(1)}/{name}?sequence=1&isAllowed=y"
        return Site("dspace", host, landing, pdf, repository=True)
    hal = _HAL_PAGE.fullmatch(p.path)
    if (host == "hal.science" or host.endswith(".hal.science")) and hal is not None:
        pdf = f"{root}/{hal.group(1)}v{hal.group(2) or 1}/file/{name}"
        return Site("hal", host, landing, pdf, repository=True)
    return None


def site_key(url: str) -> str | None:
    """The item a repository URL belongs to (`host/handle/<h>`, `host/<hal id>`): the
    item page, its files and HAL's `/document` share it."""
    p = urlsplit(url)
    host = (p.hostname or "").lower()
    path = unquote(p.path)
    dspace = _DSPACE_HANDLE.search(path)
    if dspace is not None:
        return f"{host}/handle/{dspace.group(1)}"
    hal = _HAL_PAGE.fullmatch(path)
    if (host == "hal.science" or host.endswith(".hal.science")) and hal is not None:
        return f"{host}/{hal.group(1)}"
    return None


def hal_document(f: Facts) -> str:
    """HAL's `citation_pdf_url`: `/<id>/document`, which redirects to the file."""
    assert f.pdf_url is not None
    head = f.pdf_url.partition("/file/")[0]  # .../<id>v<n>
    return head.rsplit("v", 1)[0] + "/document"


def _r(f: Facts) -> str:
    """The robots prefix of the work's PDF paths (the World's `robots_disallow` habit)."""
    return ROBOTS_PREFIX if f.robots else ""


def _md5(f: Facts) -> str:
    return "%032x" % (h64("sd-md5", f.key) << 64 | h64("sd-md5b", f.key))


def sd_pdf(f: Facts) -> str:
    """ScienceDirect's `pdfDownload.urlMetadata` URL: path/pii + /pdfft + md5 and pid."""
    return (f"https://{f.pub_host}{_r(f)}/science/article/pii/{f.key}/pdfft?md5={_md5(f)}"
            f"&pid=1-s2.0-{f.key}-main.pdf")


def wiley_pdf(f: Facts) -> str:
    return f"https://{f.pub_host}{_r(f)}/doi/{f.doi}/pdf"


def wiley_epdf(f: Facts) -> str:
    return f"https://{f.pub_host}/doi/{f.doi}/epdf"


def _rel(url: str) -> str:
    p = urlsplit(url)
    return p.path + ("?" + p.query if p.query else "")


# ------------------------------------------------------------------ what each page links


def shape_links(f: Facts) -> Links:
    """The links of the work's shaped page: `platform` what the platform's rule reads,
    `platform_read` whether it reads the page at all (its links then replace the
    generic anchor heuristic, as `web/landing.py` does); the rest as a generic reader
    sees it (own links only: the page's traps are left out, as `page_links` does)."""
    assert f.platform is not None and f.pdf_url is not None
    return _LINKS[f.platform](f)


def _sciencedirect_links(f: Facts) -> Links:
    # open: pdfDownload.urlMetadata; closed: pdfDownload null (nothing, and said so)
    return Links(platform=(sd_pdf(f),) if f.is_open else (), platform_read=True)


def _wiley_links(f: Facts) -> Links:
    pdf, epdf = wiley_pdf(f), wiley_epdf(f)
    anchors = (("Get PDF", _rel(epdf)), ("Get PDF", _rel(pdf)))
    # the rule keeps only the page's own `/doi/<doi>/pdf` path (not under /restricted/)
    return Links(meta=pdf, anchors=anchors, platform=() if f.robots else (pdf,),
                 platform_read=not f.robots)


def _springer_links(f: Facts) -> Links:
    assert f.pdf_url
    own = not f.robots  # the rule keeps /content/pdf/ paths
    return Links(meta=f.pdf_url, platform=(f.pdf_url,) if own else (), platform_read=own)


def _acs_links(f: Facts) -> Links:
    assert f.pdf_url
    own = not f.robots  # the rule keeps /doi/pdf/ paths
    return Links(anchors=(("PDF", _rel(f.pdf_url)),), platform=(f.pdf_url,) if own else (),
                 platform_read=own)


def _frontiers_links(f: Facts) -> Links:
    assert f.pdf_url
    return Links(meta=f.pdf_url, anchors=(("Download PDF", f.pdf_url),),
                 platform=(f.pdf_url,), platform_read=True)


def _mdpi_links(f: Facts) -> Links:
    assert f.pdf_url
    own = not f.robots  # the rule keeps <landing path>/pdf
    return Links(meta=f.pdf_url, alternates=(f.pdf_url,), anchors=(("Full-Text PDF", f.pdf_url),),
                 platform=(f.pdf_url,) if own else (), platform_read=own)


def _peerj_links(f: Facts) -> Links:
    assert f.pdf_url
    return Links(meta=f.pdf_url, alternates=(_rel(f.pdf_url),),
                 anchors=(("Download PDF", f.pdf_url),), platform=(f.pdf_url,),
                 platform_read=True)


def _oup_highwire_links(f: Facts) -> Links:
    assert f.pdf_url and f.viewer_url
    # no citation_pdf_url: the one anchor is the `.full.pdf+html` reader; the rule drops `+html`
    return Links(anchors=(("Full Text (PDF)", _rel(f.viewer_url)),), platform=(f.pdf_url,),
                 platform_read=True)


def _dspace_links(f: Facts) -> Links:
    assert f.pdf_url
    name = unquote(urlsplit(f.pdf_url).path.rsplit("/", 1)[-1])
    return Links(anchors=((f"{name} ({f.pdf_size / 1000:.3f}Kb)", _rel(f.pdf_url)),),
                 platform=(f.pdf_url,), platform_read=True)


def _hal_links(f: Facts) -> Links:
    assert f.pdf_url
    doc = hal_document(f)
    return Links(meta=doc, anchors=(("Télécharger le fichier", f.pdf_url),),
                 platform=(doc, f.pdf_url), platform_read=True)


_LINKS: Mapping[str, Callable[[Facts], Links]] = MappingProxyType({
    "sciencedirect": _sciencedirect_links, "wiley": _wiley_links, "springer": _springer_links,
    "acs": _acs_links, "frontiers": _frontiers_links, "mdpi": _mdpi_links,
    "peerj": _peerj_links, "oup_highwire": _oup_highwire_links, "dspace": _dspace_links,
    "hal": _hal_links,
})
assert set(_LINKS) == set(SHAPES.values()) | set(SITE_SHAPES)


# ------------------------------------------------------------------ the platform's own URLs


def alias(world: World, host: str, target: str) -> tuple[int, str] | None:
    """(work index, role) of a platform URL that is not the publisher's usual PDF or
    landing path. Roles: `pdf`, `viewer` (an HTML reader), `landing`, `document` (HAL's
    `/document`, a redirect to the file). ScienceDirect's `/pdfft?md5=...&pid=...`,
    Wiley's `/doi/<doi>/pdf` and `/epdf`, the legacy HighWire `/content/<vol>/<id>.full`
    pages and files, DSpace bitstreams and HAL files. `target` is the path and query
    as requested."""
    path = unquote(urlsplit(target).path)
    bare = path[len(ROBOTS_PREFIX):] if path.startswith(ROBOTS_PREFIX + "/") else path
    idx: int | None = None
    highwire = _HIGHWIRE_PATH.fullmatch(bare)
    if bare.startswith("/science/article/pii/") and bare.endswith("/pdfft"):
        idx = pii_index(bare[len("/science/article/pii/"):-len("/pdfft")])
    elif bare.startswith("/doi/") and bare.endswith(("/pdf", "/epdf")):
        idx = world.idx_by_doi(bare[len("/doi/"):].rsplit("/", 1)[0])
    elif highwire is not None and host.endswith(".oxfordjournals.org"):
        idx = world.idx_by_doi(f"10.1093/{host.split('.', 1)[0]}/{highwire.group(2)}")
    else:
        idx = world.idx_by_site(f"https://{host}{path}")
    if idx is None or not 0 <= idx < len(world.works):
        return None
    f = world.facts(idx)
    if f.platform is None or f.pdf_url is None or f.pub_host != host:
        return None
    role = _own_urls(f).get(target)
    return (idx, role) if role else None


def _own_urls(f: Facts) -> dict[str, str]:
    """The work's platform URLs (path and query) that `alias` answers, by role."""
    assert f.pdf_url is not None
    own: dict[str, str] = {}
    if f.platform == "sciencedirect":
        own = {sd_pdf(f): "pdf"}
    elif f.platform == "wiley":
        own = {wiley_pdf(f): "pdf", wiley_epdf(f): "viewer"}
    elif f.platform == "oup_highwire" and f.landing_url and f.viewer_url:
        own = {f.landing_url: "landing", f.pdf_url: "pdf", f.viewer_url: "viewer"}
    elif f.platform == "dspace":
        own = {f.pdf_url: "pdf"}
    elif f.platform == "hal":
        own = {f.pdf_url: "pdf", hal_document(f): "document"}
    return {_rel(url): role for url, role in own.items()}


# ------------------------------------------------------------------ the pages


def render_shaped(world: World, f: Facts, url: str) -> str:
    """The work's landing page in its platform's shape."""
    assert f.platform is not None
    return _PAGES[f.platform](world, f, url)


def _e(text: object) -> str:
    return html.escape(str(text))


def _cited(world: World, f: Facts) -> Facts | None:
    """The work this page cites with a link to its PDF (the reference-list trap)."""
    other = other_work(world, f.idx)
    cited = world.facts(other) if other != f.idx else None
    return cited if cited is not None and cited.pdf_url else None


def _citation_meta(world: World, f: Facts, pdf: str | None = None) -> str:
    lines = [f'<meta name="citation_title" content="{_e(f.title)}" />']
    lines += [f'<meta name="citation_author" content="{_e(fa)}, {_e(g)}" />'
              for g, fa in authors(world, f)]
    lines.append(f'<meta name="citation_publication_date" content="{f.year}/01/01" />')
    if f.doi:
        lines.append(f'<meta name="citation_doi" content="{_e(f.doi)}" />')
    if pdf:
        lines.append(f'<meta name="citation_pdf_url" content="{_e(pdf)}" />')
    return "\n".join(lines)


def _doc(title: str, head: str, body: str, url: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
            f"<title>{_e(title)}</title>\n"
            f'<link rel="canonical" href="{_e(url)}" />\n{head}\n</head>\n<body>\n{body}\n'
            "</body>\n</html>\n")


def _sciencedirect(world: World, f: Facts, url: str) -> str:
    """papis ScienceDirect_S146290112300117X / _S0009261497040141 (2024): citation_pii,
    no citation_pdf_url; the "View PDF" anchor without href; `$.article.pdfDownload`
    (urlMetadata; absent, and a "Purchase PDF" link, when not entitled); other works'
    PDFs in `$.referenceLinks.internal[].pdf.url`."""
    article: dict[str, Any] = {
        "pii": f.key, "doi": f.doi, "title": f.title, "srctitle": f.pub.journal if f.pub else "",
        "access": ({"openAccess": True, "openArchive": False,
                    "license": "http://creativecommons.org/licenses/by/4.0/"}
                   if f.is_open else {"openAccess": False, "openArchive": False}),
    }
    if f.is_open:  # the recorded page without access has no pdfDownload key at all
        article["pdfDownload"] = {"isPdfFullText": False, "urlMetadata": {
            "queryParams": {"md5": _md5(f), "pid": f"1-s2.0-{f.key}-main.pdf"},
            "pii": f.key, "pdfExtension": "/pdfft",
            "path": (_r(f).lstrip("/") + "/" if f.robots else "") + "science/article/pii"}}
    else:
        article["accessOptions"] = {"linkType": "PURCHASE", "linkUrl": f"/getaccess/pii/{f.key}",
                                    "price": {"currency": "USD", "totalPrice": 27.95}}
    internal = []
    cited = _cited(world, f)
    if cited is not None:
        internal.append({"refId": 2, "pii": cited.key or "", "filesize": "478KB",
                         "pdf": {"urlType": "download", "url": _rel(cited.pdf_url or "")}})
    state = {"article": article, "referenceLinks": {"internal": internal, "external": []},
             "citingArticles": {}}
    if f.is_open:
        button = ('<li class="ViewPDF"><a class="link-button accessbar-utility-component '
                  'accessbar-utility-link link-button-primary link-button-icon-left" '
                  'aria-label="View PDF. Opens in a new window."><span class="link-button-text">'
                  "View PDF</span></a></li>")
    else:
        button = ('<li class="PurchasePDF"><a class="link-button accessbar-utility-component '
                  'accessbar-utility-link link-button-anchor link-button-text-only" '
                  f'href="/getaccess/pii/{f.key}/purchase" target="_blank" aria-label="Purchase '
                  'PDF" rel="noreferrer noopener"><span class="link-button-text">Purchase PDF'
                  "</span></a></li>")
    head = f'<meta name="citation_pii" content="{_e(f.key)}" />\n' + _citation_meta(world, f)
    data = json.dumps(state).replace("</", "<\\/")
    body = (f'<div data-iso-key="_0"><div class="App" id="app"><div class="accessbar">'
            f'<ul aria-label="PDF Options">{button}</ul></div>'
            f'<h1 id="screen-reader-main-title">{_e(f.title)}</h1></div></div>\n'
            f'<script type="application/json" data-iso-key="_0">{data}</script>')
    return _doc(f"{f.title} - ScienceDirect", head, body, url)


def _wiley(world: World, f: Facts, url: str) -> str:
    """norma advs.201500314 (2016): citation_pdf_url `/doi/<doi>/pdf`; the tools list
    links `a.readcubeEpdfLink` (`/epdf`, the reader) before `a.readcubePdfLink`; the
    references' own `/epdf` and `/pdf` links; the supporting information's PDF."""
    pdf, epdf = wiley_pdf(f), wiley_epdf(f)
    size = f"{f.pdf_size // 1000}K"
    tools = (f'<div id="promosAndTools"><div class="menuGroup"><ul class="titleTools">'
             f'<li class="readcubePdf"><a href="{_e(_rel(epdf))}" title="Article in pdf format" '
             f'class="readcubeEpdfLink">Get PDF ({size})</a>'
             f'<a href="{_e(_rel(pdf))}" title="Article in pdf format" class="readcubePdfLink">'
             f"Get PDF ({size})</a></li></ul></div></div>")
    refs = ""
    cited = _cited(world, f)
    if cited is not None and cited.doi:
        bib = (f.doi or "x").split("/", 1)[-1].replace(".", "")
        refs = (f'<ol><li id="{_e(bib)}-bib-0001"><div class="text">{_e(cited.title)}'
                f'<div class="internalReferences"><ul><li>'
                f'<a href="/doi/{_e(cited.doi)}/epdf" class="readcubeEpdfLink">PDF(390K)</a>'
                f'</li><li><a href="/doi/{_e(cited.doi)}/pdf" class="readcubePdfLink">PDF(390K)'
                "</a></li></ul></div></div></li></ol>")
    slug = (f.doi or "x").split("/", 1)[-1].replace(".", "")
    supp = (f'<div id="supp-info"><table class="supportingInformation"><tbody><tr><td>'
            f'<a href="https://{f.pub_host}/store/{_e(f.doi)}/asset/supinfo/{slug}-sup-0001-S1.pdf">'
            f"{slug}-sup-0001-S1.pdf</a></td></tr></tbody></table></div>")
    body = (f'<div id="content">{tools}<h1 class="articleTitle">{_e(f.title)}</h1>'
            f'<div id="references">{refs}</div>{supp}</div>')
    return _doc(f"{f.title} - Wiley Online Library", _citation_meta(world, f, pdf), body, url)


def _springer(world: World, f: Facts, url: str) -> str:
    """papis SpringerLink_s10924-010-0192-1 (2026): citation_pdf_url `/content/pdf/<doi>.pdf`
    on every page; a page without access has the "Access this article" box and the buy
    box, a form to order.springer.com ("Buy article PDF"), and no download anchor."""
    box = ""
    if not f.is_open:
        box = ('<div class="app-article-access"><h2 class="app-article-access__heading">Access '
               'this article</h2><span data-test="access-via-institution">Log in via an '
               'institution</span><form action="https://order.springer.com/public/cart" '
               'method="post"><button type="submit" data-track-context="buy box"><span>Buy '
               "article PDF 39,95 €</span></button></form></div>")
    body = f'<main><h1 class="c-article-title">{_e(f.title)}</h1>{box}</main>'
    return _doc(f"{f.title} | Springer", _citation_meta(world, f, f.pdf_url), body, url)


def _acs(world: World, f: Facts, url: str) -> str:
    """papis acs_4 (2019): no citation_pdf_url; the header button `a.button_primary
    [title=PDF]` -> `/doi/pdf/<doi>`; supporting information `/doi/suppl/.../*.pdf`."""
    assert f.pdf_url
    mb = max(1, f.pdf_size // 30_000)
    slug = (f.doi or "x").split("/", 1)[-1]
    body = (f'<div class="article_header-left pull-left"><h1 class="article_header-title">'
            f'{_e(f.title)}</h1><div class="article_header-links pull-left">'
            f'<a href="{_e(_rel(f.pdf_url))}" title="PDF" target="_blank" class="button_primary">'
            f'<i class="icon-file-pdf-o"></i><span>PDF ({mb} MB)</span></a></div></div>'
            f'<div class="sup-info-attachments"><ul><li class="decorationNone"><ul><li>'
            f'<a class="suppl-anchor" href="/doi/suppl/{_e(f.doi)}/suppl_file/{_e(slug)}'
            f'_si_001.pdf">{_e(slug)}_si_001.pdf (919.06 kb)</a></li></ul></li></ul></div>')
    return _doc(f"{f.title} | ACS", _citation_meta(world, f), body, url)


def _frontiers(world: World, f: Facts, url: str) -> str:
    """norma fpsyg.2014.01582 (2015): citation_pdf_url and the download popover's
    `div.download-pdf a` -> `/<doi>/pdf`; a "Download" trigger with no href."""
    body = (f'<div class="right-container"><div class="downloads-content block-two"><ul><li>'
            '<a href="javascript:void(0);" class="popover-trigger popover-enhanced ">Download'
            '</a></li></ul></div><div class="popover-content"><div class="pdf-popover-content">'
            '<ul class="nav-listing"><div class="download-pdf link-pdf-download">'
            f'<a href="{_e(f.pdf_url)}" target="_blank">Download PDF</a></div></ul></div></div>'
            f'</div><h1>{_e(f.title)}</h1>')
    return _doc(f"Frontiers | {f.title}", _citation_meta(world, f, f.pdf_url), body, url)


def _mdpi(world: World, f: Facts, url: str) -> str:
    """norma metabo4040932 (2015): citation_pdf_url, `link rel=alternate` "PDF Full-Text"
    and the left column's "Full-Text PDF", all `<landing>/pdf`."""
    head = (_citation_meta(world, f, f.pdf_url) + f'\n<link rel="alternate" type="application/pdf"'
            f' title="PDF Full-Text" href="{_e(f.pdf_url)}" />')
    body = (f'<div id="main"><div id="leftcol"><ul class="menu"><li>'
            f'<a href="{_e(f.pdf_url)}">Full-Text PDF</a></li></ul></div>'
            f'<h1 class="title">{_e(f.title)}</h1></div>')
    return _doc(f"{f.title}", head, body, url)


def _peerj(world: World, f: Facts, url: str) -> str:
    """sandcrawler peerj_oa_article (2018): citation_pdf_url, `link rel=alternate`, the
    download button `a.js-download-btn[data-format=PDF]`; in-text citations
    (`a.xref.xref-bibr`) link the cited works' PDFs."""
    assert f.pdf_url
    head = (_citation_meta(world, f, f.pdf_url) + f'\n<link rel="alternate" type="application/pdf"'
            f' href="{_e(_rel(f.pdf_url))}" />')
    cite = ""
    cited = _cited(world, f)
    if cited is not None:
        cite = (f'<p id="p-1">As shown before (<a class="xref xref-bibr" '
                f'href="{_e(cited.pdf_url)}" title="{_e(cited.title)}">Other, {cited.year}</a>).'
                "</p>")
    body = (f'<main><a download data-format="PDF" href="{_e(f.pdf_url)}" '
            'class="btn btn-primary js-download-btn btn-block btn-large mb-2 ">Download PDF</a>'
            f'<h1 class="article-title">{_e(f.title)}</h1><div class="body"><section class="sec" '
            f'id="intro">{cite}</section></div></main>')
    return _doc(f"{f.title} [PeerJ]", head, body, url)


def _oup_highwire(world: World, f: Facts, url: str) -> str:
    """norma aobpla.plv005 (2016, legacy HighWire): no citation_pdf_url; the views list's
    `a[rel="view-full-text.pdf"]` -> `.full.pdf+html` (a reader; the file is `.full.pdf`);
    references' "FREE Full Text" inter-journal links (`/cgi/ijlink`) to other articles."""
    assert f.viewer_url
    free = '<span class="free">Free</span>' if f.is_open else ""
    views = (f'<div class="cb-section cb-views"><ol><li class="abstract-view-link primary">'
             f'<a href="{_e(_rel(f.landing_url or url).removesuffix(".full"))}.abstract" '
             'rel="view-abstract">'
             f'Abstract</a>{free}</li><li class="notice full-text-view-link"><span '
             f'class="variant-indicator">» <span>Full Text (HTML)</span></span>{free}</li>'
             f'<li class="notice full-text-pdf-view-link"><a href="{_e(_rel(f.viewer_url))}" '
             f'rel="view-full-text.pdf">Full Text (PDF)</a>{free}</li></ol></div>')
    refs = ""
    cited = _cited(world, f)
    if cited is not None:
        journal = (f.pub_host or "x").split(".", 1)[0]
        refs = (f'<div class="section ref-list"><ol class="cit-list"><li><div class="cit">'
                f'<cite>{_e(cited.title)}. <span class="cit-pub-date">{cited.year}</span>.'
                f'</cite></div><div class="cit-extra"><a href="/cgi/ijlink?linkType=ABST&amp;'
                f'journalCode={_e(journal)}&amp;resid={cited.idx}/1/1" class="cit-ref-sprinkles '
                'cit-ref-sprinkles-ijlinks"><span class="cit-reflinks-abstract">Abstract</span>'
                '<span class="cit-reflinks-full-text"><span class="free-full-text">FREE </span>'
                "Full Text</span></a></div></li></ol></div>")
    body = (f'<div class="content-box" id="article-cb-main"><div class="cb-contents">{views}'
            f'</div></div><div id="content-block"><h1 id="article-title-1">{_e(f.title)}</h1>'
            f"{refs}</div>")
    return _doc(f"{f.title}", _citation_meta(world, f), body, url)


def _dspace(world: World, f: Facts, url: str) -> str:
    """hepcrawl UFPR 1884/42021 (2016, XMLUI Mirage 2 simple item view): a thumbnail
    `<img>` of the file (`<name>.pdf.jpg`), the "View/Open" bitstream link
    `/bitstream/handle/<handle>/<name>.pdf?sequence=1&isAllowed=y`, "Show full item
    record", the handle URI and the item's collection (another handle)."""
    assert f.pdf_url
    links = _dspace_links(f)
    text, href = links.anchors[0]
    handle = _DSPACE_HANDLE.search(urlsplit(url).path)
    h = handle.group(1) if handle else ""
    thumb = href.replace(".pdf?sequence=1", ".pdf.jpg?sequence=3")
    collection = h.split("/", 1)[0] + f"/{h64('dspace-coll', f.key) % 90_000 + 1}"
    body = (f'<div class="container" id="main-container"><div id="aspect_artifactbrowser_'
            f'ItemViewer_div_item-view" class="ds-static-div primary">\n<!-- External Metadata '
            f'URL: cocoon://metadata/handle/{_e(h)}/mets.xml?rightsMDTypes=METSRIGHTS-->\n'
            f'<div class="item-summary-view-metadata"><h2 class="page-header first-page-header">'
            f'{_e(f.title)}</h2><div class="row"><div class="col-sm-4"><div class="thumbnail">'
            f'<img alt="Thumbnail" src="{_e(thumb)}"></div>'
            f'<div class="item-page-field-wrapper table word-break"><h5>View/<wbr></wbr>Open'
            f'</h5><div><a href="{_e(href)}"><i aria-hidden="true" class="glyphicon  '
            f'glyphicon-file"></i> {_e(text)}</a></div></div>'
            f'<div class="simple-item-view-show-full item-page-field-wrapper table"><h5>Metadata'
            f'</h5><a href="/handle/{_e(h)}?show=full">Show full item record</a></div></div>'
            f'<div class="col-sm-8"><div class="simple-item-view-uri item-page-field-wrapper '
            f'table"><h5>URI</h5><span><a href="http://hdl.handle.net/{_e(h)}">'
            f'http://hdl.handle.net/{_e(h)}</a></span></div><div class="simple-item-view-'
            f'collections item-page-field-wrapper table"><h5>Collections</h5><ul class="ds-'
            f'referenceSet-list"><li><a href="/handle/{_e(collection)}">Teses</a> [61]</li>'
            "</ul></div></div></div></div></div></div>")
    head = '<META http-equiv="Content-Type" content="text/html; charset=UTF-8">'
    return _doc(f.title, head, body, url)


def _hal(world: World, f: Facts, url: str) -> str:
    """papis HAL jpa-00235190 (2026): citation_pdf_url `/<id>/document`; the file list's
    `a[download]` `/<id>v<n>/file/<name>.pdf`; the viewer's `/preview/<name>.pdf#page=2`
    in an iframe and a thumbnail's `data-preview` (a rendition, not a candidate)."""
    assert f.pdf_url
    name = f.pdf_url.rsplit("/", 1)[-1]
    preview = f.pdf_url.replace("/file/", "/preview/") + "#page=2"
    body = (f'<h1 class="title">{_e(f.title)}</h1><div id="viewer-detailed" class="panel-doc-'
            'detailed collapse show"><div class="row"><div class="col-md-2"><div id="list-'
            'thumbnail-viewer" style="text-align: center;"><span class=\'file-major\'>Fichier '
            'principal</span><div class="position-relative thumbnail-viewer active" '
            f'data-preview="{_e(preview)}"><img alt="Vignette du fichier" src="https://thumb.'
            f'ccsd.cnrs.fr//{f.idx}/medium"></div><span> {_e(name)} ({f.pdf_size / 1000:.2f} '
            f'Ko) </span><a href="{_e(f.pdf_url)}" download="{_e(name)}"><span class="icon-'
            'download" aria-hidden="true"></span><span class="sr-only">Télécharger le fichier'
            '</span> </a></div></div><div class="col-md-9 pb-4"><iframe title="Visualiseur du '
            f'document" src="{_e(preview)}" allowfullscreen webkitallowfullscreen></iframe>'
            "</div></div></div>")
    return _doc(f"{f.title} - HAL", _citation_meta(world, f, hal_document(f)), body, url)


_PAGES: Mapping[str, Callable[[World, Facts, str], str]] = MappingProxyType({
    "sciencedirect": _sciencedirect, "wiley": _wiley, "springer": _springer, "acs": _acs,
    "frontiers": _frontiers, "mdpi": _mdpi, "peerj": _peerj, "oup_highwire": _oup_highwire,
    "dspace": _dspace, "hal": _hal,
})
assert set(_PAGES) == set(SHAPES.values()) | set(SITE_SHAPES)
