"""Nodes -> bytes: each service's answer in its real format (see tests/fixtures/reference/).

Pure functions of (World, Node): the same node always renders to the same bytes.
Faults that change the bytes (html_as_pdf, truncated_pdf, malformed_json) are applied
here; faults that change the timing or the connection are the app's business.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._hash import h64
from .answers import (
    biorxiv_page_links,
    core_copies,
    crossref_links,
    doaj_fulltext,
    epmc_fulltext,
    oa_locations,
    oa_status,
    page_links,
    pmc_old_pdf,
    preprint,
    s2_pdf,
    zenodo_file_url,
    zenodo_record,
)
from .model import authors, other_work
from .pdfs import make_volume, pdf_bytes, truncated_pdf

if TYPE_CHECKING:  # pragma: no cover
    from .world import Facts, Node, World

__all__ = ["Rendered", "authors", "other_work", "render"]

UPDATED = "2024-05-01T00:00:00.000000"


@dataclass(slots=True)
class Rendered:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]


def _json(status: int, payload: Any, **headers: str) -> Rendered:
    return Rendered(status, "application/json", json.dumps(payload).encode(), dict(headers))


def _html(status: int, text: str, **headers: str) -> Rendered:
    return Rendered(status, "text/html; charset=utf-8", text.encode(), dict(headers))


def render(world: World, node: Node, *, url: str) -> Rendered:
    """The normal answer of `node` (faults that alter bytes included)."""
    fn = _RENDERERS.get((node.kind, node.variant)) or _RENDERERS.get((node.kind, "*"))
    if fn is None:  # pragma: no cover - a routing bug
        return _html(500, f"<h1>sandbox: no renderer for {node!r}</h1>")
    out = fn(world, node, url)
    if node.fault == "malformed_json" and out.content_type.startswith("application/json"):
        out.body = out.body[: max(1, len(out.body) * 2 // 3)] + b"<!-- upstream timeout -->"
    return out


# -- errors -----------------------------------------------------------------------------------
def _error(world: World, node: Node, url: str) -> Rendered:
    v = node.variant
    if v == "unpaywall":
        doi = node.data or ""
        return _json(
            404,
            {
                "HTTP_status_code": 404,
                "error": True,
                "message": f"'{doi}' is an invalid doi. See https://doi.org/{doi}",
            },
        )
    if v == "unpaywall_email":
        return _json(
            422,
            {
                "HTTP_status_code": 422,
                "error": True,
                "message": "Email address required. Please add ?email=you@example.com"
                " with your real email address to your request.",
            },
        )
    if v == "openalex":
        return _json(
            404,
            {"error": "404 Not Found", "message": "The requested URL was not found on the server."},
        )
    if v == "crossref":
        return Rendered(404, "text/plain", b"Resource not found.", {})
    if v == "s2":
        return _json(404, {"error": f"Paper with id {node.data} not found"})
    if v == "json":
        return _json(404, {"error": "not found"})
    if v == "doi":
        return _html(
            404,
            "<!DOCTYPE html><html><head><title>Error: DOI Not Found</title></head>"
            "<body><h1>DOI Not Found</h1><p>"
            + html.escape(str(node.data))
            + "</p><p>This DOI cannot be found in the DOI System.</p></body></html>",
        )
    if v == "wayback":
        return _html(
            404,
            "<html><head><title>Wayback Machine</title></head><body><p>Hrm."
            " The Wayback Machine has not archived that URL.</p></body></html>",
        )
    return _html(
        node.status,
        f"<html><head><title>{node.status} Not Found</title></head>"
        f"<body><h1>Not Found</h1></body></html>",
    )


# -- redirects ----------------------------------------------------------------------------------
def _redirect(world: World, node: Node, url: str) -> Rendered:
    loc = node.location or "/"
    text = "Moved Permanently" if node.status == 301 else "Found"
    body = (
        f'<html><head><title>Handle Redirect</title></head><body><a href="{html.escape(loc)}">'
        f"{html.escape(loc)}</a></body></html>"
        if node.variant == "doi"
        else f"<html><body><h1>{text}</h1></body></html>"
    )
    return _html(node.status, body, location=loc)


# -- PDFs ------------------------------------------------------------------------------------------
def pdf_for(world: World, f: Facts, variant: str, *, text: bool = True,
            title: str | None = None) -> bytes:
    """The work's PDF as `variant` serves it; `title` is the title it prints (the work's)."""
    doi = f" doi:{f.doi}" if f.doi else ""  # journal PDFs print their DOI on page 1
    subtitle = {
        "arxiv": f"arXiv:{f.arxiv_id}",
        "pmc": f"PMC: {f.pmcid}{doi}",
        "europepmc": f"Europe PMC: {f.pmcid}{doi}",
        "wayback": f"Internet Archive capture{doi}",
        "repository": f"Author accepted manuscript{doi}",
    }.get(variant, f"doi:{f.doi or '-'}")
    size = f.pdf_size + {"arxiv": 3000, "pmc": 7000, "europepmc": 7000, "repository": 1500}.get(
        variant, 0
    )
    return pdf_bytes(f.title if title is None else title, subtitle, size, text=text)


#: accented letters a `title_variant` PDF prints for plain ones (as in naïve, rôle)
_ACCENTS = str.maketrans({"e": "é", "o": "ô", "i": "ï", "u": "ü", "a": "à"})
#: subtitles a `title_variant` PDF adds after its title
_SUBTITLES = (": a systematic study", " — evidence from a cohort", ": methods and results")


def variant_title(world: World, title: str, key: str) -> str:
    """The title as a `title_variant` PDF prints it: one of upper case, title case or the
    same case; then the ﬁ/ﬂ ligatures, accents on the letters of every other word, and a
    subtitle. Differences of case, accents, ligatures and subtitles, all to be forgiven."""
    case = h64(world.seed, "tv-case", key) % 3
    out = title.upper() if case == 0 else title.title() if case == 1 else title
    out = out.replace("fi", "\ufb01").replace("fl", "\ufb02")
    words = out.split(" ")
    out = " ".join(w.translate(_ACCENTS) if i % 2 else w for i, w in enumerate(words))
    return out + _SUBTITLES[h64(world.seed, "tv-sub", key) % len(_SUBTITLES)]


#: how many other works a `volume` PDF prints before the work (its table of contents)
VOLUME_OTHERS = 6


def volume_for(world: World, idx: int) -> bytes:
    """The proceedings volume a `volume` location serves: the next works of the World
    first (titles and DOIs), the work itself on a later page."""
    f = world.facts(idx)
    others = [world.facts((idx + k) % len(world)) for k in range(1, VOLUME_OTHERS + 1)]
    pairs = [(o.title, o.doi or f"10.5555/sandbox.{o.work.work_id}") for o in others
             if o.work.work_id != f.work.work_id]
    name = f"Proceedings of the Sandbox Conference, volume {1 + idx % 9}"
    return make_volume((f.title, f.doi or ""), pairs, name=name)


def _pdf(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    headers = {"accept-ranges": "bytes"} if node.data else {}
    if node.fault == "html_as_pdf":
        page = (
            f"<!DOCTYPE html><html><head><title>{html.escape(f.title)}</title></head><body>"
            "<p>Your download will start shortly. If it does not, please enable JavaScript"
            " and cookies.</p></body></html>"
        )
        return Rendered(200, "application/pdf", page.encode(), {})
    if node.fault == "wrong_paper" and other_work(world, node.idx) != node.idx:
        other = world.facts(other_work(world, node.idx))
        return Rendered(200, "application/pdf", pdf_for(world, other, node.variant), headers)
    if node.fault == "volume":
        return Rendered(200, "application/pdf", volume_for(world, node.idx), headers)
    title = variant_title(world, f.title, node.key) if node.fault == "title_variant" else None
    body = pdf_for(world, f, node.variant, text=node.fault != "no_text", title=title)
    if node.variant == "tdm":  # recorded: `inline; filename=<uuid>.pdf`, a random name
        uuid = "%032x" % (h64(world.seed, "tdm-name", node.key) << 64 | h64(node.key))
        headers["content-disposition"] = (f"inline; filename={uuid[:8]}-{uuid[8:12]}-"
                                          f"{uuid[12:16]}-{uuid[16:20]}-{uuid[20:32]}.pdf")
    if node.fault == "truncated_pdf":
        keep = 1200 + h64(world.seed, "trunc", node.key) % 2400
        return Rendered(200, "application/pdf", truncated_pdf(body, keep), {})
    return Rendered(200, "application/pdf", body, headers)


# -- HTML pages ------------------------------------------------------------------------
def _head_meta(world: World, f: Facts, meta_pdf: str | None) -> str:
    lines = [f'<meta name="citation_title" content="{html.escape(f.title)}"/>']
    for given, family in authors(world, f):
        lines.append(
            f'<meta name="citation_author" content="{html.escape(family)}, {html.escape(given)}"/>'
        )
    lines.append(f'<meta name="citation_publication_date" content="{f.year}"/>')
    if f.doi:
        lines.append(f'<meta name="citation_doi" content="{html.escape(f.doi)}"/>')
    if meta_pdf:
        # publishers write raw '&' in this attribute (see the PLOS reference sample)
        lines.append(f'<meta name="citation_pdf_url" content="{meta_pdf}">')
    return "\n  ".join(lines)


def _landing(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    if f.platform is not None and f.pdf_url is not None:  # a real platform's page shape
        from .platforms import render_shaped

        return _html(200, render_shaped(world, f, url))
    links = page_links(world, node)
    pub = f.pub
    journal = pub.journal if pub else "Journal"
    alt = "".join(
        f'\n  <link rel="alternate" type="application/pdf" title="PDF" href="{h}"/>'
        for h in links.alternates
    )
    anchors = "".join(
        f'\n      <li><a class="pdf-link" href="{html.escape(h)}">{html.escape(t)}</a></li>'
        for t, h in links.anchors
    )
    access = (
        '<p class="access">Open Access</p>'
        if f.is_open
        else '<div class="paywall"><p>Access through your institution</p>'
        "<p>Buy this article: USD 39.95</p></div>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8"/>
  <title>{html.escape(f.title)} | {html.escape(journal)}</title>
  <link rel="canonical" href="{html.escape(url)}"/>
  {_head_meta(world, f, links.meta)}{alt}
  <link rel="stylesheet" href="/static/site.css"/>
</head>
<body>
  <header><a href="/">{html.escape(pub.name if pub else "Publisher")}</a>
  <nav><a href="/about">About</a> <a href="/journals">Journals</a></nav></header>
  <article>
    <h1 class="article-title">{html.escape(f.title)}</h1>
    <p class="authors">{", ".join(html.escape(g + " " + fa) for g, fa in authors(world, f))}</p>
    {access}
    <ul class="article-tools">{anchors}
      <li><a href="#cite">Cite this article</a></li>
    </ul>
    <section class="abstract"><h2>Abstract</h2><p>A simulated abstract.</p></section>
    {_references(world, node.idx)}
  </article>
</body>
</html>
"""
    return _html(200, page)


def _references(world: World, idx: int) -> str:
    """A reference list citing another work with a link to its PDF: a trap for a scraper
    that takes any PDF anchor (the truth's `page_links` does not list it)."""
    other = other_work(world, idx)
    cited = world.facts(other) if other != idx else None
    if cited is None or not cited.pdf_url:
        return ""
    return (
        '<section class="references"><h2>References</h2><ol class="ref-list"><li>'
        f'{html.escape(cited.title)}. <a href="{html.escape(cited.pdf_url)}">PDF</a>'
        "</li></ol></section>"
    )


def _arxiv_abs(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    links = page_links(world, node)
    anchors = "".join(
        f'<li><a href="{h}" class="abs-button">{t}</a></li>' for t, h in links.anchors
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <title>[{f.arxiv_id}] {html.escape(f.title)}</title>
  {_head_meta(world, f, links.meta)}
  <meta name="citation_arxiv_id" content="{f.arxiv_id}"/>
</head>
<body>
  <h1 class="title mathjax"><span class="descriptor">Title:</span>{html.escape(f.title)}</h1>
  <div class="full-text"><ul>{anchors}</ul></div>
</body>
</html>
"""
    return _html(200, page)


def _pmc_article(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    links = page_links(world, node)
    anchors = "".join(f'<li><a class="pdf-link" href="{h}">{t}</a></li>' for t, h in links.anchors)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <title>{html.escape(f.title)} - PMC</title>
  {_head_meta(world, f, links.meta)}
</head>
<body>
  <h1>{html.escape(f.title)}</h1>
  <ul class="pmc-sidenav__actions">{anchors}</ul>
</body>
</html>
"""
    return _html(200, page)


def _snapshot(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    meta = page_links(world, node).meta
    page = f"""<!DOCTYPE html>
<html>
<head>
  <title>{html.escape(f.title)}</title>
  {_head_meta(world, f, meta)}
</head>
<body><h1>{html.escape(f.title)}</h1><p>Full text available to subscribers.</p></body>
</html>
"""
    return _html(200, page)


def _viewer(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    page = f"""<!DOCTYPE html>
<html><head><title>{html.escape(f.title)} - ePDF reader</title>
<script src="/static/reader.js"></script></head>
<body><div id="reader" data-doi="{html.escape(f.doi or "")}">Loading the reader…</div></body>
</html>
"""
    return _html(200, page)


def _paywall(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    page = (
        f"<!DOCTYPE html><html><head><title>Purchase access: {html.escape(f.title)}</title>"
        "</head><body><h1>Access denied</h1><p>You do not have access to this content."
        " Log in or purchase this article.</p></body></html>"
    )
    return _html(200, page)


def _challenge(world: World, node: Node, url: str) -> Rendered:
    page = (
        '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
        '<meta name="robots" content="noindex,nofollow"></head><body>'
        "<h1>Verifying you are human. This may take a few seconds.</h1>"
        "<noscript>Enable JavaScript and cookies to continue</noscript></body></html>"
    )
    return _html(403, page, **{"cf-mitigated": "challenge", "cache-control": "no-store"})


# -- JSON APIs -----------------------------------------------------------------------------
def _loc_json(loc: Any, best: bool) -> dict[str, Any]:
    return {
        "evidence": loc.evidence,
        "host_type": loc.host_type,
        "is_best": best,
        "license": loc.license,
        "pmh_id": None,
        "updated": UPDATED,
        "url": loc.url,
        "url_for_landing_page": loc.url_for_landing_page,
        "url_for_pdf": loc.url_for_pdf,
        "version": loc.version,
    }


def _unpaywall(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    locs = oa_locations(f)
    pub = f.pub
    payload = {
        "best_oa_location": _loc_json(locs[0], True) if locs else None,
        "data_standard": 2,
        "doi": f.doi,
        "doi_url": f"https://doi.org/{f.doi}",
        "genre": "journal-article",
        "is_oa": bool(locs),
        "journal_is_in_doaj": f.oa == "gold",
        "journal_is_oa": f.oa == "gold",
        "journal_issns": "1234-5678",
        "journal_name": pub.journal if pub else None,
        "oa_locations": [_loc_json(loc, i == 0) for i, loc in enumerate(locs)],
        "oa_status": oa_status(f),
        "publisher": pub.name if pub else None,
        "title": f.title,
        "updated": UPDATED,
        "x_reported_noncompliant_copies": [],
        "year": f.year,
        "z_authors": [{"family": fa, "given": g} for g, fa in authors(world, f)],
    }
    return _json(200, payload)


def openalex_locations(f: Facts) -> list[dict[str, Any]]:
    """OpenAlex locations[]: the publisher's primary location first, then repositories."""
    out: list[dict[str, Any]] = []
    if f.pub is not None:
        open_pdf = f.pdf_url if f.is_open else None
        out.append(
            {
                "is_oa": f.is_open,
                "landing_page_url": f"https://doi.org/{f.doi}",
                "pdf_url": open_pdf,
                "source": _oa_source(f.pub.journal, "journal"),
                "license": "cc-by" if f.oa in ("gold", "hybrid") else None,
                "version": "publishedVersion" if f.is_open else None,
                "is_accepted": f.is_open,
                "is_published": f.is_open,
            }
        )
    for loc in oa_locations(f):
        if loc.kind in ("publisher", "doaj"):
            continue
        out.append(
            {
                "is_oa": True,
                "landing_page_url": loc.url_for_landing_page,
                "pdf_url": loc.url_for_pdf,
                "source": _oa_source(
                    {"pmc": "PubMed Central", "arxiv": "arXiv (Cornell University)"}.get(
                        loc.kind, "Zenodo (CERN European Organization for Nuclear Research)"
                    ),
                    "repository",
                ),
                "license": loc.license,
                "version": loc.version,
                "is_accepted": loc.version != "submittedVersion",
                "is_published": loc.version == "publishedVersion",
            }
        )
    return out


def _oa_source(name: str, kind: str) -> dict[str, Any]:
    sid = h64("source", name) % 10**10
    return {
        "id": f"https://openalex.org/S{sid}",
        "display_name": name,
        "issn_l": None,
        "issn": None,
        "is_oa": kind == "repository",
        "is_in_doaj": False,
        "host_organization": None,
        "host_organization_name": None,
        "host_organization_lineage": [],
        "host_organization_lineage_names": [],
        "type": kind,
    }


def _openalex(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    locs = openalex_locations(f)
    best = next((loc for loc in locs if loc["is_oa"]), None)
    wid = f"W{h64(world.seed, 'openalex', f.work.work_id) % 10**10}"
    doi_url = f"https://doi.org/{f.doi}"
    status = oa_status(f)
    primary = locs[0] if locs else None
    payload: dict[str, Any] = {
        "id": f"https://openalex.org/{wid}",
        "doi": doi_url,
        "title": f.title,
        "display_name": f.title,
        "publication_year": f.year,
        "publication_date": f"{f.year}-01-01",
        "ids": {"openalex": f"https://openalex.org/{wid}", "doi": doi_url},
        "language": "en",
        "primary_location": primary,
        "type": "article",
        "type_crossref": "journal-article",
        "indexed_in": ["crossref"],
        "open_access": {
            "is_oa": best is not None,
            "oa_status": status,
            "oa_url": (best or {}).get("pdf_url") or (best or {}).get("landing_page_url"),
            "any_repository_has_fulltext": any(
                loc["source"]["type"] == "repository" for loc in locs
            ),
        },
        "authorships": [
            {
                "author_position": "first" if i == 0 else "middle",
                "author": {
                    "id": f"https://openalex.org/A{h64(g, fa) % 10**10}",
                    "display_name": f"{g} {fa}",
                    "orcid": None,
                },
                "institutions": [],
                "countries": [],
                "is_corresponding": False,
                "raw_author_name": f"{g} {fa}",
                "raw_affiliation_string": "",
                "raw_affiliation_strings": [],
            }
            for i, (g, fa) in enumerate(authors(world, f))
        ],
        "countries_distinct_count": 0,
        "institutions_distinct_count": 0,
        "corresponding_author_ids": [],
        "corresponding_institution_ids": [],
        "apc_list": None,
        "apc_paid": None,
        "has_fulltext": best is not None,
        "cited_by_count": h64(world.seed, "cites", f.work.work_id) % 500,
        "cited_by_percentile_year": {"min": 50, "max": 60},
        "biblio": {"volume": "1", "issue": "1", "first_page": "1", "last_page": "10"},
        "is_retracted": False,
        "is_paratext": False,
        "primary_topic": {
            "id": "https://openalex.org/T10000",
            "display_name": "Simulation",
            "score": 0.9,
        },
        "topics": [],
        "keywords": [],
        "concepts": [],
        "mesh": [],
        "locations_count": len(locs),
        "locations": locs,
        "best_oa_location": best,
        "sustainable_development_goals": [],
        "grants": [],
        "referenced_works_count": 0,
        "referenced_works": [],
        "related_works": [],
        "ngrams_url": f"https://api.openalex.org/works/{wid}/ngrams",
        "abstract_inverted_index": {"Simulated": [0], "abstract": [1]},
        "cited_by_api_url": f"https://api.openalex.org/works?filter=cites:{wid}",
        "counts_by_year": [],
        "updated_date": "2024-05-01T00:00:00.000000",
        "created_date": "2016-06-24",
    }
    return _json(200, payload)


def _date(year: int) -> dict[str, Any]:
    return {
        "date-parts": [[year, 1, 1]],
        "date-time": f"{year}-01-01T00:00:00Z",
        "timestamp": (year - 1970) * 31_556_952_000,
    }


def _crossref(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    pub = f.pub
    licenses = (
        [
            {
                "start": _date(f.year),
                "content-version": "vor",
                "delay-in-days": 0,
                "URL": "https://creativecommons.org/licenses/by/4.0/",
            }
        ]
        if f.oa in ("gold", "hybrid")
        else []
    )
    message = {
        "indexed": _date(2024),
        "reference-count": 30,
        "publisher": pub.name if pub else "Independent publisher",
        "issue": "1",
        "license": licenses,
        "content-domain": {"domain": [], "crossmark-restriction": False},
        "short-container-title": [pub.journal if pub else "J"],
        "published-print": {"date-parts": [[f.year]]},
        "DOI": f.doi,
        "type": "journal-article",
        "created": _date(f.year),
        "page": "1-10",
        "source": "Crossref",
        "is-referenced-by-count": h64(world.seed, "cites", f.work.work_id) % 500,
        "title": [f.title],
        "prefix": (f.doi or "").split("/")[0],
        "volume": "1",
        "author": [
            {
                "given": g,
                "family": fa,
                "sequence": "first" if i == 0 else "additional",
                "affiliation": [],
            }
            for i, (g, fa) in enumerate(authors(world, f))
        ],
        "member": str(h64("member", pub.key if pub else "") % 10000),
        "container-title": [pub.journal if pub else "Journal"],
        "language": "en",
        "link": crossref_links(f),
        "deposited": _date(f.year),
        "score": 1.0,
        "resource": {"primary": {"URL": f.landing_url or f"https://doi.org/{f.doi}"}},
        "issued": {"date-parts": [[f.year]]},
        "references-count": 30,
        "journal-issue": {"issue": "1", "published-print": {"date-parts": [[f.year]]}},
        "alternative-id": [f.doi],
        "URL": f"https://doi.org/{f.doi}",
        "ISSN": ["1234-5678"],
        "issn-type": [{"value": "1234-5678", "type": "electronic"}],
        "subject": [],
        "published": {"date-parts": [[f.year]]},
    }
    return _json(
        200,
        {"status": "ok", "message-type": "work", "message-version": "1.0.0", "message": message},
    )


def _s2(world: World, node: Node, url: str) -> Rendered:
    f = world.facts(node.idx)
    paper_id = "%040x" % (
        h64(world.seed, "s2a", f.work.work_id) << 96
        | h64(world.seed, "s2b", f.work.work_id) << 32
        | h64(world.seed, "s2c", f.work.work_id) >> 32
    )
    payload: dict[str, Any] = {"paperId": paper_id[-40:], "openAccessPdf": s2_pdf(f)}
    fields = set()
    if "?" in url:
        from urllib.parse import parse_qs, urlsplit

        fields = set(",".join(parse_qs(urlsplit(url).query).get("fields", [""])).split(","))
    if "title" in fields:
        payload["title"] = f.title
    if "year" in fields:
        payload["year"] = f.year
    if "externalIds" in fields:
        ext: dict[str, Any] = {}
        if f.doi:
            ext["DOI"] = f.doi
        if f.arxiv_id:
            ext["ArXiv"] = f.arxiv_id
        if f.pmid:
            ext["PubMed"] = f.pmid
        if f.pmcid:
            ext["PubMedCentral"] = f.pmcid[3:]
        payload["externalIds"] = ext
    return _json(200, payload)


def epmc_result(world: World, f: Facts) -> dict[str, Any]:
    auths = authors(world, f)
    in_pmc = bool(f.pmcid)
    res: dict[str, Any] = {"id": f.pmid or (f.pmcid or ""), "source": "MED" if f.pmid else "PMC"}
    if f.pmid:
        res["pmid"] = f.pmid
    if f.pmcid:
        res["pmcid"] = f.pmcid
    if f.doi:
        res["doi"] = f.doi
    res.update(
        {
            "title": f.title + ".",
            "authorString": ", ".join(f"{fa} {g[0]}" for g, fa in auths) + ".",
            "authorList": {
                "author": [
                    {"fullName": f"{fa} {g[0]}", "firstName": g, "lastName": fa, "initials": g[0]}
                    for g, fa in auths
                ]
            },
            "authorIdList": {"authorId": []},
            "journalInfo": {
                "volume": "1",
                "journalIssueId": h64("jid", f.pub.key if f.pub else "") % 10**7,
                "dateOfPublication": f"{f.year} ",
                "monthOfPublication": 0,
                "yearOfPublication": f.year,
                "printPublicationDate": f"{f.year}-01-01",
                "journal": {
                    "title": f.pub.journal if f.pub else "Journal",
                    "medlineAbbreviation": "J Sim",
                    "essn": "1234-5678",
                    "issn": "1234-5678",
                    "isoabbreviation": "J Sim",
                    "nlmid": "101516718",
                },
            },
            "pubYear": str(f.year),
            "pageInfo": "1",
            "abstractText": "A simulated abstract.",
            "affiliation": "",
            "language": "eng",
            "pubModel": "Electronic",
            "pubTypeList": {"pubType": ["Journal Article"]},
        }
    )
    full = epmc_fulltext(f)
    if full:
        res["fullTextUrlList"] = {"fullTextUrl": full}
    res.update(
        {
            "isOpenAccess": "Y" if f.epmc_oa else "N",
            "inEPMC": "Y" if in_pmc else "N",
            "inPMC": "Y" if in_pmc else "N",
            "hasPDF": "Y" if f.pmc_pdf else "N",
            "hasBook": "N",
            "hasSuppl": "N",
            "citedByCount": h64(world.seed, "cites", f.work.work_id) % 500,
            "hasReferences": "Y",
            "hasTextMinedTerms": "Y",
            "hasDbCrossReferences": "N",
            "hasLabsLinks": "N",
            "license": "cc by" if f.epmc_oa else "",
            "authMan": "N",
            "epmcAuthMan": "N",
            "nihAuthMan": "N",
            "hasTMAccessionNumbers": "N",
            "dateOfCompletion": f"{f.year}-06-01",
            "dateOfCreation": f"{f.year}-05-01",
            "dateOfRevision": f"{f.year + 1}-01-01",
            "electronicPublicationDate": f"{f.year}-04-01",
            "firstPublicationDate": f"{f.year}-04-01",
        }
    )
    return res


def _epmc_search(world: World, node: Node, url: str) -> Rendered:
    results = [epmc_result(world, world.facts(node.idx))] if node.idx >= 0 else []
    return _json(
        200,
        {
            "version": "6.9",
            "hitCount": len(results),
            "nextCursorMark": "*",
            "request": {
                "queryString": node.data,
                "resultType": "core",
                "cursorMark": "*",
                "pageSize": 25,
                "sort": "",
                "synonym": False,
            },
            "resultList": {"result": results},
        },
    )


def _idconv(world: World, node: Node, url: str) -> Rendered:
    records = []
    for ident in node.data:
        if ident.upper().startswith("PMC"):
            idx, field = world.idx_by_pmcid(ident), "pmcid"
        elif ident.startswith("10."):
            idx, field = world.idx_by_doi(ident), "doi"
        else:
            idx, field = world.idx_by_pmid(ident), "pmid"
        f = world.facts(idx) if idx is not None else None
        if f is None or not f.pmcid:
            records.append(
                {field: ident, "status": "error", "errmsg": "Identifier not found in PMC"}
            )
            continue
        rec: dict[str, Any] = {"pmcid": f.pmcid}
        if f.pmid:
            rec["pmid"] = f.pmid
        if f.doi:
            rec["doi"] = f.doi
        rec["versions"] = [{"pmcid": f"{f.pmcid}.1", "current": "true"}]
        records.append(rec)
    return _json(
        200,
        {
            "status": "ok",
            "responseDate": "2024-05-01 00:00:00",
            "request": f"ids={quote(','.join(node.data))};format=json",
            "records": records,
        },
    )


def _wb_available(world: World, node: Node, url: str) -> Rendered:
    original, hit = node.data
    snaps: dict[str, Any] = {}
    if hit is not None:
        ts = hit[2]
        snaps = {
            "closest": {
                "status": "200",
                "available": True,
                "url": f"http://web.archive.org/web/{ts}/{original}",
                "timestamp": ts,
            }
        }
    return _json(200, {"url": original, "archived_snapshots": snaps})


def _surt(url: str) -> str:
    from urllib.parse import urlsplit

    p = urlsplit(url if "://" in url else "http://" + url)
    host = (p.hostname or "").removeprefix("www.")
    key = ",".join(reversed(host.split("."))) + ")" + (p.path or "/").lower()
    return key + ("?" + p.query.lower() if p.query else "")


def cdx_rows(world: World, node: Node) -> list[list[str]]:
    original, hit, filters = node.data
    if hit is None:
        return []
    idx, kind, ts = hit
    digest = "%032X" % (h64(world.seed, "digest", original) << 64 | h64(original))
    mime = "text/html" if kind == "landing" else "application/pdf"
    rows = []
    older = f"{int(ts[:4]) - 1}{ts[4:]}"
    rows.append([_surt(original), older, original, mime, "302", digest[:32], "512"])
    rows.append(
        [_surt(original), ts, original, mime, "200", digest[:32], str(9000 + h64(original) % 30000)]
    )
    for flt in filters:
        field, _, value = flt.partition(":")
        neg = field.startswith("!")
        field = field.lstrip("!")
        col = {"statuscode": 4, "mimetype": 3}.get(field)
        if col is not None:
            rows = [r for r in rows if (r[col] == value) != neg]
    return rows


def _cdx_json(world: World, node: Node, url: str) -> Rendered:
    rows = cdx_rows(world, node)
    if not rows:
        return _json(200, [])
    header = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
    return _json(200, [header, *rows])


def _cdx_text(world: World, node: Node, url: str) -> Rendered:
    rows = cdx_rows(world, node)
    body = "".join(" ".join(r) + "\n" for r in rows).encode()
    return Rendered(200, "text/plain;charset=UTF-8", body, {})


def _atom(world: World, node: Node, url: str) -> Rendered:
    entries = []
    for idx in node.data:
        f = world.facts(idx)
        a = f.arxiv_id
        auth = "".join(
            f"\n    <author>\n      <name>{html.escape(g + ' ' + fa)}</name>\n    </author>"
            for g, fa in authors(world, f)
        )
        doi = (
            f'\n    <arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">{f.doi}</arxiv:doi>'
            if f.doi and not f.doi.startswith("10.48550/")
            else ""
        )
        entries.append(f"""  <entry>
    <id>http://arxiv.org/abs/{a}</id>
    <updated>{f.year}-01-02T00:00:00Z</updated>
    <published>{f.year}-01-01T00:00:00Z</published>
    <title>{html.escape(f.title)}</title>
    <summary>  A simulated abstract.
</summary>{auth}{doi}
    <link href="http://arxiv.org/abs/{a}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{a}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.DL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.DL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
""")
    ids = quote(",".join(world.facts(i).arxiv_id or "" for i in node.data))
    feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?id_list%3D{ids}" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: id_list</title>
  <id>http://arxiv.org/api/sandbox</id>
  <updated>2024-05-01T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(entries)}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(entries)}</opensearch:itemsPerPage>
{"".join(entries)}</feed>
"""
    return Rendered(200, "application/atom+xml; charset=utf-8", feed.encode(), {})


def _doaj(world: World, node: Node, url: str) -> Rendered:
    """DOAJ article search (the v2 shape recorded in tests/fixtures/services/doaj)."""
    results = []
    if node.idx >= 0:
        f = world.facts(node.idx)
        pub = f.pub
        results.append({
            "last_updated": "2024-05-01T00:00:00Z",
            "bibjson": {
                "identifier": [{"id": f.doi, "type": "doi"}],
                "journal": {
                    "license": [{"open_access": True, "title": "CC BY", "type": "CC BY"}],
                    "publisher": pub.name if pub else "",
                    "title": pub.journal if pub else "",
                },
                "year": str(f.year),
                "link": [{"content_type": "HTML", "type": "fulltext",
                          "url": doaj_fulltext(f)}],
                "title": f.title,
            },
            "id": f"{h64(world.seed, 'doaj', f.work.work_id):032x}"[-32:],
            "created_date": "2024-05-01T00:00:00Z",
        })
    return _json(200, {"total": len(results), "page": 1, "pageSize": 10,
                       "timestamp": "2024-05-01T00:00:00Z", "query": node.data,
                       "results": results})


def _biorxiv_details(world: World, node: Node, url: str) -> Rendered:
    """bioRxiv/medRxiv details (the record shape in tests/fixtures/services/biorxiv): one
    record per version, oldest first; an unknown DOI gives an empty collection."""
    records = []
    pre = preprint(world.facts(node.idx)) if node.idx >= 0 else None
    if pre is not None:
        f = world.facts(node.idx)
        server, latest, _ = pre
        names = "; ".join(f"{family}, {given[0]}." for given, family in authors(world, f))
        for v in range(1, int(latest) + 1):
            records.append({
                "doi": f.doi, "title": f.title, "authors": names,
                "author_corresponding": " ".join(authors(world, f)[0]),
                "author_corresponding_institution": "Sandbox University",
                "date": f"{f.year}-01-{10 + v:02d}", "version": str(v), "type": "new results",
                "license": "cc_by", "category": "bioinformatics",
                "jatsxml": f"https://www.{server}.org/content/early/{f.year}/01/{10 + v:02d}/"
                           f"{str(f.doi).split('/', 1)[1]}.source.xml",
                "abstract": "A simulated abstract.", "published": "NA", "server": server,
            })
    status = "ok" if records else "no posts found"
    return _json(200, {"messages": [{"status": status}], "collection": records})


def _core_search(world: World, node: Node, url: str) -> Rendered:
    """CORE v3 search: works in the recorded work shape (tests/fixtures/services/core)."""
    results = []
    copies = core_copies(world.facts(node.idx)) if node.idx >= 0 else None
    if copies is not None:
        f = world.facts(node.idx)
        download, repo = copies
        core_id = download.rsplit("/", 1)[1][:-4]
        results.append({
            "authors": [{"name": f"{family}, {given[0]}."} for given, family in authors(world, f)],
            "createdDate": "2024-05-01T00:00:00", "doi": f.doi, "downloadUrl": download,
            "id": h64(world.seed, "core", f.work.work_id) % 10**9,
            "identifiers": [{"identifier": core_id, "type": "CORE_ID"},
                            {"identifier": f.doi, "type": "DOI"}],
            "title": f.title, "language": {"code": "en", "name": "English"},
            "oaiIds": [], "publishedDate": f"{f.year}-01-01T00:00:00",
            "publisher": f.pub.name if f.pub else "", "sourceFulltextUrls": [repo],
            "updatedDate": "2024-05-01T00:00:00", "yearPublished": f.year,
            "links": [{"type": "download", "url": download},
                      {"type": "reader", "url": f"https://core.ac.uk/reader/{core_id}"}],
        })
    return _json(200, {"totalHits": len(results), "limit": 5, "offset": 0, "results": results})


def _zenodo_record(world: World, node: Node, url: str) -> Rendered:
    """Zenodo's records API (the current shape of tests/fixtures/services/zenodo, record
    5244404): metadata with resource_type and access_right, files[] with links.self."""
    f = world.facts(node.idx)
    rec = zenodo_record(f)
    assert rec is not None
    base = f"https://zenodo.org/api/records/{rec.recid}"
    files = [{"id": f"{h64(world.seed, 'zf', rec.recid, z.key):032x}", "key": z.key,
              "size": z.size, "checksum": f"md5:{h64('md5', rec.recid, z.key):032x}",
              "links": {"self": zenodo_file_url(rec.recid, z.key)}}
             for z in rec.files] if rec.access == "open" else []
    subtype = {"publication": {"title": "Journal article", "type": "publication",
                               "subtype": "article"}}.get(rec.rtype, {
        "title": rec.rtype.capitalize(), "type": rec.rtype})
    meta = {"title": f.title, "doi": f.doi, "publication_date": f"{f.year}-01-01",
            "description": "<p>A simulated abstract.</p>", "access_right": rec.access,
            "creators": [{"name": f"{fa}, {g}", "affiliation": "Sandbox University"}
                         for g, fa in authors(world, f)],
            "keywords": [], "resource_type": subtype, "license": {"id": "cc-by-4.0"}}
    if rec.rtype == "publication":
        meta["version"] = "Authors' final version"
    when = f"{f.year}-01-01T00:00:00.000000+00:00"
    payload = {
        "created": when, "modified": when, "id": rec.recid, "conceptrecid": str(rec.recid - 1),
        "doi": f.doi, "conceptdoi": f"10.5281/zenodo.{rec.recid - 1}",
        "doi_url": f"https://doi.org/{f.doi}", "metadata": meta, "title": f.title,
        "links": {"self": base, "self_html": f"https://zenodo.org/records/{rec.recid}",
                  "doi": f"https://doi.org/{f.doi}", "files": base + "/files"},
        "updated": when, "recid": str(rec.recid), "revision": 3, "files": files, "swh": {},
        "owners": [{"id": str(h64("owner", rec.recid) % 10**6)}], "status": "published",
        "stats": {"downloads": 10, "unique_downloads": 9, "views": 20, "unique_views": 18,
                  "version_downloads": 10, "version_unique_downloads": 9,
                  "version_unique_views": 18, "version_views": 20},
        "state": "done", "submitted": True,
    }
    return _json(200, payload)


def _zenodo_page(world: World, node: Node, url: str) -> Rendered:
    """A Zenodo record page (commonmeta's recording of record 1196821): citation meta,
    one `link rel=alternate` per file with its MIME type, JSON-LD `distribution[]`
    (DataDownload contentUrl + encodingFormat), a "?download=1" button per file."""
    f = world.facts(node.idx)
    rec = zenodo_record(f)
    assert rec is not None
    shown = sorted(rec.files, key=lambda z: z.key) if rec.access == "open" else []
    alt = "".join(f'\n<link rel="alternate" type="{z.mime}" '
                  f'href="https://zenodo.org/records/{rec.recid}/files/{html.escape(z.key)}">'
                  for z in shown)
    ld = {"@context": "http://schema.org", "@id": f"https://doi.org/{f.doi}",
          "@type": "https://schema.org/" + ("ScholarlyArticle" if rec.rtype == "publication"
                                            else "Dataset"),
          "name": f.title,
          "author": [{"@type": "Person", "name": f"{fa}, {g}", "familyName": fa,
                      "givenName": g} for g, fa in authors(world, f)]}
    if shown:
        ld["distribution"] = [{"@type": "DataDownload", "contentUrl": zenodo_file_url(
            rec.recid, z.key), "encodingFormat": z.mime} for z in shown]
    buttons = "".join(f'<a role="button" class="ui compact mini button" href="/records/'
                      f'{rec.recid}/files/{html.escape(z.key)}?download=1">Download</a>'
                      for z in shown)
    meta = _head_meta(world, f, None)
    data = json.dumps(ld).replace("</", "<\\/")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<title>{html.escape(f.title)} | Zenodo</title>
{meta}
<meta name="citation_abstract_html_url" content="https://zenodo.org/records/{rec.recid}">{alt}
<script type="application/ld+json">{data}</script>
</head>
<body><h1>{html.escape(f.title)}</h1>{buttons}</body>
</html>
"""
    return _html(200, page)


def _biorxiv_page(world: World, node: Node, url: str) -> Rendered:
    """A bioRxiv/medRxiv preprint page in the shape of postlight's 2019 recording:
    Highwire meta with `citation_pdf_url`, the "Preview PDF" tab (`.full.pdf+html`),
    the "Download PDF" `a.article-dl-pdf-link`, the supplementary-material tab (HTML)."""
    f = world.facts(node.idx)
    pdf = biorxiv_page_links(f).meta or ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<title>{html.escape(f.title)} | bioRxiv</title>
{_head_meta(world, f, html.escape(pdf))}
</head>
<body>
<div class="pane-content"><div class="item-list"><ul class="tabs inline panels-ajax-tab">
<li><a href="{html.escape(url)}.supplementary-material" class="panels-ajax-tab-tab"
 data-panel-name="article_tab_data_supp">Supplementary Material</a></li>
<li class="last"><a href="{html.escape(pdf)}+html" class="panels-ajax-tab-tab"
 data-panel-name="biorxiv_tab_pdf" data-trigger="full.pdf+html">Preview PDF</a></li>
</ul></div></div>
<h1 id="page-title">{html.escape(f.title)}</h1>
<div class="panel-pane pane-highwire-variant-link"><div class="pane-content">
<a href="{html.escape(pdf)}" target="_self" class="article-dl-pdf-link link-icon">
<span class="title">Download PDF</span></a></div></div>
</body>
</html>
"""
    return _html(200, page)


_RENDERERS = {
    ("error", "*"): _error,
    ("redirect", "*"): _redirect,
    ("pdf", "*"): _pdf,
    ("html", "landing"): _landing,
    ("html", "arxiv_abs"): _arxiv_abs,
    ("html", "pmc_article"): _pmc_article,
    ("html", "snapshot"): _snapshot,
    ("html", "viewer"): _viewer,
    ("html", "paywall"): _paywall,
    ("html", "challenge"): _challenge,
    ("json", "unpaywall"): _unpaywall,
    ("json", "openalex"): _openalex,
    ("json", "crossref"): _crossref,
    ("json", "s2"): _s2,
    ("json", "doaj"): _doaj,
    ("json", "biorxiv_details"): _biorxiv_details,
    ("json", "core_search"): _core_search,
    ("json", "zenodo_record"): _zenodo_record,
    ("html", "zenodo_page"): _zenodo_page,
    ("html", "biorxiv_page"): _biorxiv_page,
    ("json", "epmc_search"): _epmc_search,
    ("json", "idconv"): _idconv,
    ("json", "wb_available"): _wb_available,
    ("json", "cdx"): _cdx_json,
    ("text", "cdx"): _cdx_text,
    ("atom", "arxiv_query"): _atom,
}

_ = pmc_old_pdf  # re-exported for tests
