"""Semantic Scholar Graph API: the paper's openAccessPdf.url."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, normalize_license, quote_doi, result, surname
from .base import SourceContext, SourceResult

API = "https://api.semanticscholar.org/graph/v1/paper/"
FIELDS = "openAccessPdf,title,year,authors"


def s2_ids(work: Work) -> list[str]:
    """The paper ids to ask for, most specific first (DOI, ARXIV, PMCID digits, PMID)."""
    ids = []
    if work.doi:
        ids.append("DOI:" + quote_doi(work.doi))
    if work.arxiv_id:
        ids.append("ARXIV:" + work.arxiv_id)
    if work.pmcid:
        ids.append("PMCID:" + work.pmcid.removeprefix("PMC"))
    if work.pmid:
        ids.append("PMID:" + work.pmid)
    return ids


def s2_candidate(paper: dict[str, Any]) -> tuple[Candidate | None, str | None]:
    """(candidate, OA status) of a paper object; CLOSED is still a candidate."""
    pdf = paper.get("openAccessPdf")
    if not isinstance(pdf, dict) or not pdf.get("url"):
        return None, (pdf or {}).get("status") if isinstance(pdf, dict) else None
    status = pdf.get("status")
    cand = Candidate(str(pdf["url"]), f"openAccessPdf/{status}",
                     license=normalize_license(pdf.get("license")))
    return cand, status


def s2_work_meta(paper: dict[str, Any]) -> dict[str, Any]:
    """The work's title, year and first author's family name (the fields FIELDS asks for)."""
    authors = paper.get("authors") or []
    first = authors[0] if authors and isinstance(authors[0], dict) else {}
    return {"title": paper.get("title"), "year": paper.get("year"),
            "first_author": surname(first.get("name"))}


class SemanticScholar(ApiSource):
    name = "semantic_scholar"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        paper: dict[str, Any] | None = None
        last_url = None
        for ident in s2_ids(work):
            resp = await ctx.http.get_json(API + ident, params={"fields": FIELDS})
            last_url = resp.url
            if resp.status == 200 and isinstance(resp.data, dict):
                paper = resp.data
                break
        if paper is None:
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE, url=last_url, status=404)
        candidate, oa_status = s2_candidate(paper)
        meta = {"paperId": paper.get("paperId"), "oa_status": oa_status, **s2_work_meta(paper)}
        if oa_status == "CLOSED":
            meta["closed_status"] = True
        cands = Candidates(ctx, meta)
        found = await cands.first_valid([candidate] if candidate else [])
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_OA_LOCATION, meta=meta)
