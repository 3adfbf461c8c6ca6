"""Zenodo records: the paper PDF among a record's files.

A Zenodo DOI (`10.5281/zenodo.<id>`) names a record; `GET /api/records/<id>` lists its
`files[]` (`key`, `size`, `links.self`). Only open `publication` records count (a
presentation's or a dataset's PDF is not a paper), and among their PDFs the paper is
the largest file that is not a supplement: record 5244404 holds the accepted Cell
manuscript, its supplement and an acknowledgement table, in that file order.

Rate limit: `web/client.py` DEFAULT_RATE_LIMITS["zenodo.org"] (guests: 60/min,
2000/hour, per developers.zenodo.org); responses also carry X-RateLimit-* headers.
"""

from __future__ import annotations

import re
from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, result
from .base import SourceContext, SourceResult

RECORD = "https://zenodo.org/api/records/{recid}"
ZENODO_DOI = re.compile(r"^10\.5281/zenodo\.(\d+)$", re.IGNORECASE)
PAPER_TYPES = ("publication",)
_SUPPLEMENT = re.compile(r"suppl|supporting|appendix", re.IGNORECASE)


def zenodo_record_id(doi: str | None) -> str | None:
    """The record id of a Zenodo DOI, else None."""
    m = ZENODO_DOI.match((doi or "").strip())
    return m.group(1) if m else None


def zenodo_refusal(record: dict[str, Any]) -> str | None:
    """Why the record cannot hold the paper (`not_a_publication`, `closed_access`), or None."""
    md = record.get("metadata") or {}
    rtype = (md.get("resource_type") or {}).get("type")
    if rtype not in PAPER_TYPES:
        return Reason.NOT_A_PUBLICATION
    if md.get("access_right", "open") != "open":
        return Reason.CLOSED_ACCESS
    return None


def zenodo_paper_pdf(record: dict[str, Any]) -> Candidate | None:
    """The record's paper PDF: the largest `.pdf` file whose name is not a supplement's."""
    pdfs = [
        f
        for f in record.get("files") or []
        if isinstance(f, dict)
        and str(f.get("key", "")).lower().endswith(".pdf")
        and not _SUPPLEMENT.search(str(f.get("key", "")))
        and (f.get("links") or {}).get("self")
    ]
    if not pdfs:
        return None
    best = max(pdfs, key=lambda f: int(f.get("size") or 0))
    return Candidate(str(best["links"]["self"]), f"files[{best['key']}]")


class Zenodo(ApiSource):
    name = "zenodo"

    def applicable(self, work: Work) -> bool:
        """Only Zenodo DOIs name a record."""
        return zenodo_record_id(work.doi) is not None

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        recid = zenodo_record_id(work.doi)
        assert recid
        resp = await ctx.http.get_json(RECORD.format(recid=recid))
        if resp.status == 404 or not isinstance(resp.data, dict):
            return result(ctx, Outcome.NO_PDF, "not_in_service", url=resp.url, status=resp.status)
        md = resp.data.get("metadata") or {}
        meta = {"resource_type": md.get("resource_type"), "version": md.get("version")}
        refusal = zenodo_refusal(resp.data)
        if refusal:
            return result(ctx, Outcome.NO_PDF, refusal, url=resp.url, status=resp.status, **meta)
        pdf = zenodo_paper_pdf(resp.data)
        cands = Candidates(ctx, meta)
        found = await cands.first_valid([pdf] if pdf else [])
        return found or cands.conclude(empty_reason=Reason.NO_PDF_FILE, meta=meta)
