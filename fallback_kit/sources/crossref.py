"""Crossref: the work's `link[]` entries with content-type application/pdf."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, contact_email, quote_doi, result
from .base import SourceContext, SourceResult

API = "https://api.crossref.org/works/"
#: text-mining endpoints that answer only with a subscriber token
_TOKEN_ONLY = (("api.wiley.com", "/onlinelibrary/tdm/"), ("api.elsevier.com", "/"))


def needs_token(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return any(host == h and parts.path.startswith(p) for h, p in _TOKEN_ONLY)


def crossref_pdf_links(message: dict[str, Any]) -> tuple[list[Candidate], list[str]]:
    """(candidates, skipped token-only URLs) from a work's link[] (application/pdf only)."""
    out: list[Candidate] = []
    skipped: list[str] = []
    for link in message.get("link") or []:
        if not isinstance(link, dict) or not link.get("URL"):
            continue
        if str(link.get("content-type", "")).lower() != "application/pdf":
            continue
        url = str(link["URL"])
        if needs_token(url):
            skipped.append(url)
            continue
        out.append(Candidate(url, str(link.get("intended-application", ""))))
    return out, skipped


def has_open_license(message: dict[str, Any]) -> bool:
    return any(
        isinstance(lic, dict) and "creativecommons.org" in str(lic.get("URL", ""))
        for lic in message.get("license") or []
    )


class Crossref(ApiSource):
    name = "crossref"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        resp = await ctx.http.get_json(
            API + quote_doi(work.doi), params={"mailto": contact_email(ctx)}
        )
        message = resp.data.get("message") if isinstance(resp.data, dict) else None
        if resp.status == 404 or not isinstance(message, dict):
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=resp.url, status=resp.status)
        candidates, skipped = crossref_pdf_links(message)
        meta = {"open_license": has_open_license(message), "tdm_skipped": skipped}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(candidates)
        if found is not None:
            return found
        empty = Reason.TDM_ONLY if skipped else Reason.NO_PDF_LINK
        return cands.conclude(empty_reason=empty, meta=meta)
