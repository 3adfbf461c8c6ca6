"""Unpaywall: the OA locations of a DOI, best first."""

from __future__ import annotations

from dataclasses import replace
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
)
from .base import SourceContext, SourceResult

API = "https://api.unpaywall.org/v2/"
# what an Unpaywall record says about the work itself, kept in the attempt's meta (reports)
WORK_FIELDS = ("publisher", "year", "journal_name")


def unpaywall_candidates(record: dict[str, Any]) -> list[Candidate]:
    """best_oa_location.url_for_pdf, then every oa_locations[].url_for_pdf (in order),
    each with its location's `version` and `license`."""
    out: list[Candidate] = []
    best = record.get("best_oa_location") or {}
    if isinstance(best, dict) and best.get("url_for_pdf"):
        out.append(Candidate(str(best["url_for_pdf"]), "best_oa_location",
                             version=best.get("version"),
                             license=normalize_license(best.get("license"))))
    for i, loc in enumerate(record.get("oa_locations") or []):
        if isinstance(loc, dict) and loc.get("url_for_pdf"):
            landing = loc.get("url_for_landing_page")
            out.append(Candidate(str(loc["url_for_pdf"]), f"oa_locations[{i}]", landing,
                                 version=loc.get("version"),
                                 license=normalize_license(loc.get("license"))))
    return out


def unpaywall_work_meta(record: dict[str, Any]) -> dict[str, Any]:
    """The work's title, year and first author's family name, as Unpaywall knows them."""
    authors = record.get("z_authors") or []
    first = authors[0] if authors and isinstance(authors[0], dict) else {}
    return {"title": record.get("title"), "year": record.get("year"),
            "first_author": first.get("family")}


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
        meta = {"oa_status": record.get("oa_status"), "is_oa": record.get("is_oa"),
                **{k: record[k] for k in WORK_FIELDS if record.get(k) is not None},
                **unpaywall_work_meta(record)}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(unpaywall_candidates(record))
        if found is not None:
            return replace(found, meta={**found.meta, **_location_terms(record, found.url)})
        return cands.conclude(empty_reason=Reason.NO_OA_LOCATION, meta=meta)


def _location_terms(record: dict[str, Any], pdf_url: str | None) -> dict[str, Any]:
    """The version and licence Unpaywall gives for the location whose PDF won."""
    best = record.get("best_oa_location")
    for loc in [best, *(record.get("oa_locations") or [])]:
        if isinstance(loc, dict) and pdf_url and loc.get("url_for_pdf") == pdf_url:
            return {k: loc[k] for k in ("version", "license") if loc.get(k)}
    return {}
