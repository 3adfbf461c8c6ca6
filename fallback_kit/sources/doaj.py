"""DOAJ (Directory of Open Access Journals): the article record's full-text links.

DOAJ lists articles of the journals it indexes; `bibjson.link[]` entries of type
`fulltext` point at the publisher. Most are landing pages (`content_type` HTML), so an
HTML link is read with the landing rules (web/landing.py, platform table first); a
`content_type` "pdf" link is only a hint (it can be an OJS viewer page) and goes
through the PDF gate like any candidate.

Rate limit: `web/client.py` DEFAULT_RATE_LIMITS["doaj.org"] (2 requests/s, bursts of 5,
as DOAJ's API documentation states).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..contracts.events import Outcome
from ..contracts.works import Work
from ..web.edge import HtmlResponse
from ..web.landing import parse_landing
from ._common import ApiSource, Candidate, Candidates, result
from .base import SourceContext, SourceResult

SEARCH = "https://doaj.org/api/search/articles/"


def doaj_search_url(doi: str) -> str:
    """The article search for one DOI; DOAJ takes the query in the path, quoted whole."""
    return SEARCH + quote(f'doi:"{doi}"', safe="")


def doaj_doi(record: dict[str, Any]) -> str:
    """The record's DOI (`bibjson.identifier[type=doi].id`), lower case; "" if none."""
    for ident in (record.get("bibjson") or {}).get("identifier") or []:
        if isinstance(ident, dict) and str(ident.get("type", "")).lower() == "doi":
            return str(ident.get("id") or "").strip().lower()
    return ""


def doaj_links(record: dict[str, Any]) -> tuple[list[Candidate], list[str]]:
    """(PDF-typed full-text links, HTML full-text links) of one record, in order."""
    pdfs: list[Candidate] = []
    pages: list[str] = []
    for link in (record.get("bibjson") or {}).get("link") or []:
        if not isinstance(link, dict) or link.get("type") != "fulltext" or not link.get("url"):
            continue
        if str(link.get("content_type", "")).lower() == "pdf":
            pdfs.append(Candidate(str(link["url"]), "doaj_fulltext_pdf"))
        else:
            pages.append(str(link["url"]))
    return pdfs, pages


class Doaj(ApiSource):
    name = "doaj"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        resp = await ctx.http.get_json(doaj_search_url(work.doi))
        results = resp.data.get("results") if isinstance(resp.data, dict) else None
        doi = work.doi.strip().lower()
        records = [r for r in results or [] if isinstance(r, dict) and doaj_doi(r) == doi]
        if not records:
            return result(ctx, Outcome.NO_PDF, "not_in_service", url=resp.url, status=resp.status)
        pdfs, pages = doaj_links(records[0])
        meta: dict[str, Any] = {"doaj_id": records[0].get("id"), "landing_pages": pages}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(pdfs)
        if found is not None or not pages:
            return found or cands.conclude(empty_reason="no_pdf_link", meta=meta)
        page = await ctx.http.get_html(pages[0], sniff_pdf=True)
        meta["landing_url"] = page.url
        links, wall = _landing_links(page)
        found = await cands.first_valid(links)
        if found is None and wall:
            return result(ctx, Outcome.NO_PDF, wall, url=page.url, status=page.status, **meta)
        return found or cands.conclude(empty_reason="no_pdf_link", meta=meta)


def _landing_links(page: HtmlResponse) -> tuple[list[Candidate], str | None]:
    """The PDF links the publisher's page names (platform rule, citation_pdf_url, link
    alternate; no anchor guessing), or the page itself when it is a PDF; and the wall
    (`blocked`: bot challenge or login, `paywall`) when the page is one."""
    if page.is_pdf:
        return [Candidate(page.url, "doaj_fulltext")], None
    if page.status not in (200, 401, 403):
        return [], None
    landing = parse_landing(page.text, page.url)
    wall = "blocked" if landing.challenge or landing.login_form else None
    if page.status != 200:
        return [], wall or "paywall"
    links = [Candidate(u, lbl, page.url) for u, lbl in landing.pdf_candidates(anchors=False)]
    return links, wall or ("paywall" if landing.paywall else None)
