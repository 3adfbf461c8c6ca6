"""Unpaywall: the OA locations of a DOI, best first."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, contact_email, quote_doi, result
from .base import SourceContext, SourceResult

API = "https://api.unpaywall.org/v2/"


def unpaywall_candidates(record: dict[str, Any]) -> list[Candidate]:
    """best_oa_location.url_for_pdf, then every oa_locations[].url_for_pdf (in order)."""
    out: list[Candidate] = []
    best = record.get("best_oa_location") or {}
    if isinstance(best, dict) and best.get("url_for_pdf"):
        out.append(Candidate(str(best["url_for_pdf"]), "best_oa_location"))
    for i, loc in enumerate(record.get("oa_locations") or []):
        if isinstance(loc, dict) and loc.get("url_for_pdf"):
            landing = loc.get("url_for_landing_page")
            out.append(Candidate(str(loc["url_for_pdf"]), f"oa_locations[{i}]", landing))
    return out


class Unpaywall(ApiSource):
    name = "unpaywall"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        resp = await ctx.http.get_json(
            API + quote_doi(work.doi), params={"email": contact_email(ctx)}
        )
        if resp.status == 404 or not isinstance(resp.data, dict):
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=resp.url, status=resp.status)
        record = resp.data
        meta = {"oa_status": record.get("oa_status"), "is_oa": record.get("is_oa")}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(unpaywall_candidates(record))
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_OA_LOCATION, meta=meta)
