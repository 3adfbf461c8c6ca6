"""OpenAlex: best_oa_location.pdf_url, then every location's pdf_url."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, contact_email, quote_doi, result
from .base import SourceContext, SourceResult

API = "https://api.openalex.org/works/doi:"


def openalex_candidates(work: dict[str, Any]) -> list[Candidate]:
    out: list[Candidate] = []
    best = work.get("best_oa_location") or {}
    if isinstance(best, dict) and best.get("pdf_url"):
        out.append(
            Candidate(str(best["pdf_url"]), "best_oa_location", best.get("landing_page_url"))
        )
    for i, loc in enumerate(work.get("locations") or []):
        if isinstance(loc, dict) and loc.get("pdf_url"):
            out.append(
                Candidate(str(loc["pdf_url"]), f"locations[{i}]", loc.get("landing_page_url"))
            )
    return out


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
        meta = {"oa_status": oa.get("oa_status") if isinstance(oa, dict) else None}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(openalex_candidates(resp.data))
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_OA_LOCATION, meta=meta)
