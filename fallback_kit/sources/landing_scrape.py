"""Publisher landing page: the platform rule (web/platforms.py), citation_pdf_url,
<link rel=alternate>, "Download PDF" anchors."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ..web.landing import aparse_landing
from ._common import ApiSource, Candidate, Candidates, quote_doi, result
from .base import SourceContext, SourceResult

DOI_ORG = "https://doi.org/"


class LandingScrape(ApiSource):
    name = "landing_scrape"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        start = work.landing_url or DOI_ORG + quote_doi(work.doi or "")
        page = await ctx.http.get_html(start, sniff_pdf=True)
        meta: dict[str, Any] = {"landing_url": page.url}
        cands = Candidates(ctx, meta)
        if page.is_pdf:
            found = await cands.first_valid([Candidate(page.url, "landing_is_pdf")])
            return found or cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
        if page.status == 404:
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=page.url, status=404, **meta)
        landing = await aparse_landing(page.text, page.url)
        walled = Reason.BLOCKED if (landing.challenge or landing.login_form) else None
        if page.status in (401, 403):
            reason = walled or Reason.PAYWALL
            return result(ctx, Outcome.NO_PDF, reason, url=page.url, status=page.status, **meta)
        links = landing.pdf_candidates(anchors=self.option(ctx, "anchors"), doi=work.doi)
        meta["candidates"] = cands.meta["candidates"] = len(links)
        found = await cands.first_valid(Candidate(u, lbl, page.url) for u, lbl in links)
        if found is not None:
            return found
        if not links and (walled or landing.paywall):
            reason = walled or Reason.PAYWALL
            return result(ctx, Outcome.NO_PDF, reason, url=page.url, status=page.status, **meta)
        if landing.paywall:
            meta[Reason.PAYWALL] = True
        return cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
