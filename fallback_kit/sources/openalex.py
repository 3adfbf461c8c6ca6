"""OpenAlex: best_oa_location.pdf_url, then every location's pdf_url."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import (
    ApiSource,
    Candidate,
    Candidates,
    contact_email,
    normalize_license,
    quote_doi,
    result,
    surname,
)
from .base import SourceContext, SourceResult

API = "https://api.openalex.org/works/doi:"


def openalex_candidates(work: dict[str, Any]) -> list[Candidate]:
    """best_oa_location.pdf_url, then every location's, with its `version` and `license`."""
    out: list[Candidate] = []
    best = work.get("best_oa_location") or {}
    if isinstance(best, dict) and best.get("pdf_url"):
        out.append(_candidate(best, "best_oa_location"))
    for i, loc in enumerate(work.get("locations") or []):
        if isinstance(loc, dict) and loc.get("pdf_url"):
            out.append(_candidate(loc, f"locations[{i}]"))
    return out


def _candidate(loc: dict[str, Any], label: str) -> Candidate:
    return Candidate(str(loc["pdf_url"]), label, loc.get("landing_page_url"),
                     version=loc.get("version"), license=normalize_license(loc.get("license")))


def openalex_work_meta(work: dict[str, Any]) -> dict[str, Any]:
    """The work's title, year and first author's family name, as OpenAlex knows them."""
    authors = work.get("authorships") or []
    first = authors[0] if authors and isinstance(authors[0], dict) else {}
    author = first.get("author") if isinstance(first.get("author"), dict) else {}
    name = (author or {}).get("display_name") or first.get("raw_author_name")
    return {"title": work.get("title") or work.get("display_name"),
            "year": work.get("publication_year"), "first_author": surname(name)}


class OpenAlex(ApiSource):
    name = "openalex"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        resp = await ctx.http.get_json(
            API + quote_doi(work.doi), params={"mailto": contact_email(ctx)}
        )
        if resp.status == 404 or not isinstance(resp.data, dict):
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=resp.url, status=resp.status)
        oa = resp.data.get("open_access") or {}
        meta = {"oa_status": oa.get("oa_status") if isinstance(oa, dict) else None,
                **openalex_work_meta(resp.data)}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(openalex_candidates(resp.data))
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_OA_LOCATION, meta=meta)
