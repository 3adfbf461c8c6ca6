"""doi.org: follow the DOI to the publisher; a PDF there, or its citation_pdf_url."""

from __future__ import annotations

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ..web.landing import parse_landing
from ._common import ApiSource, Candidate, Candidates, quote_doi, result
from .base import SourceContext, SourceResult

DOI_ORG = "https://doi.org/"


class DoiRedirect(ApiSource):
    name = "doi_redirect"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        page = await ctx.http.get_html(DOI_ORG + quote_doi(work.doi), sniff_pdf=True)
        meta = {"landing_url": page.url}
        cands = Candidates(ctx, meta)
        if page.is_pdf:
            found = await cands.first_valid([Candidate(page.url, "doi_target")])
            return found or cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
        if page.status == 404:
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=page.url, status=404, **meta)
        landing = parse_landing(page.text, page.url)
        if page.status in (401, 403):
            reason = Reason.BLOCKED if landing.challenge or landing.login_form else Reason.PAYWALL
            return result(ctx, Outcome.NO_PDF, reason, url=page.url, status=page.status, **meta)
        links = [(u, "citation_pdf_url") for u in landing.citation_pdf_urls]
        found = await cands.first_valid(Candidate(u, lbl, page.url) for u, lbl in links)
        if found is not None:
            return found
        if not links and landing.challenge:
            return result(ctx, Outcome.NO_PDF, Reason.BLOCKED,
                          url=page.url, status=page.status, **meta)
        if not links and landing.paywall:
            return result(ctx, Outcome.NO_PDF, Reason.PAYWALL,
                          url=page.url, status=page.status, **meta)
        return cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
