"""Europe PMC REST search: the result's open full-text PDF links."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, normalize_license, result
from .base import SourceContext, SourceResult

SEARCH = "https://www.ebi.ac.uk/europepmc/webservices/rest/search"
RENDER = "https://europepmc.org/articles/{pmcid}?pdf=render"
_FREE = ("OA", "F")


def europe_pmc_query(work: Work) -> str:
    """The search query for a work: DOI, else PMCID, else PMID (MEDLINE)."""
    if work.doi:
        return f'DOI:"{work.doi}"'
    if work.pmcid:
        return f"PMCID:{work.pmcid}"
    return f"EXT_ID:{work.pmid} AND SRC:MED"


def europe_pmc_candidates(record: dict[str, Any]) -> list[Candidate]:
    """fullTextUrl entries with documentStyle pdf and availabilityCode OA/F, Europe PMC first.

    A record in Europe PMC with a PDF but no such entry gets the render URL.
    """
    entries = (record.get("fullTextUrlList") or {}).get("fullTextUrl") or []
    pdfs = [
        e
        for e in entries
        if isinstance(e, dict)
        and e.get("url")
        and str(e.get("documentStyle", "")).lower() == "pdf"
        and e.get("availabilityCode") in _FREE
    ]
    pdfs.sort(key=lambda e: 0 if e.get("site") == "Europe_PMC" else 1)  # stable
    version, license = europe_pmc_version(record), normalize_license(record.get("license"))
    out = [Candidate(str(e["url"]), f"{e.get('site')}/{e.get('availabilityCode')}",
                     version=version, license=license) for e in pdfs]
    if (
        not out
        and record.get("pmcid")
        and record.get("inEPMC") == "Y"
        and record.get("hasPDF") == "Y"
    ):
        out.append(Candidate(RENDER.format(pmcid=record["pmcid"]), "render",
                             version=version, license=license))
    return out


def europe_pmc_version(record: dict[str, Any]) -> str | None:
    """The record's own kind: `authMan` Y is an author manuscript (acceptedVersion), N the
    publisher's version; None when the record does not say."""
    return {"Y": "acceptedVersion", "N": "publishedVersion"}.get(str(record.get("authMan")))


def europe_pmc_work_meta(record: dict[str, Any]) -> dict[str, Any]:
    """The work's title, year and first author's family name, as Europe PMC knows them."""
    authors = (record.get("authorList") or {}).get("author") or []
    first = authors[0] if authors and isinstance(authors[0], dict) else {}
    year = str(record.get("pubYear") or "")
    return {"title": record.get("title"), "year": int(year) if year.isdigit() else None,
            "first_author": first.get("lastName")}


class EuropePmc(ApiSource):
    name = "europe_pmc"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        resp = await ctx.http.get_json(
            SEARCH,
            params={"query": europe_pmc_query(work), "resultType": "core", "format": "json"},
        )
        results: list[Any] = []
        if isinstance(resp.data, dict):
            results = (resp.data.get("resultList") or {}).get("result") or []
        if resp.status == 404 or not results:
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=resp.url, status=resp.status)
        candidates: list[Candidate] = []
        for record in results:
            if isinstance(record, dict):
                candidates.extend(europe_pmc_candidates(record))
        first = results[0] if isinstance(results[0], dict) else {}
        meta = {"isOpenAccess": first.get("isOpenAccess"), "pmcid": first.get("pmcid"),
                **europe_pmc_work_meta(first)}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(candidates)
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_OA_LOCATION, meta=meta)
