"""PubMed Central: the article's PDF at pmc.ncbi.nlm.nih.gov (PMCID found via idconv)."""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work, normalize_pmcid
from ..web.landing import parse_landing
from ._common import ApiSource, Candidate, Candidates, contact_email, result
from .base import SourceContext, SourceResult

IDCONV = "https://www.ncbi.nlm.nih.gov/pmc/utils/idconv/v1.0/"
ARTICLE = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"


def pmcid_from_idconv(data: Any) -> str | None:
    """The PMCID of the first idconv record that has one (None for unknown ids)."""
    rec = _idconv_record(data)
    return normalize_pmcid(str(rec["pmcid"]).split(".")[0]) if rec else None


def _idconv_record(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    for rec in data.get("records") or []:
        if isinstance(rec, dict) and rec.get("pmcid") and rec.get("status") != "error":
            try:
                normalize_pmcid(str(rec["pmcid"]).split(".")[0])
            except ValueError:
                continue
            return rec
    return None


def pmc_version(data: Any) -> str | None:
    """The version PMC holds, from the idconv record's own kind: a current version with a
    manuscript id (`mid`: NIHMS, UKMS, ...) is an author manuscript (acceptedVersion),
    one without is the publisher's deposit (publishedVersion); None if idconv says nothing."""
    rec = _idconv_record(data)
    versions = [v for v in (rec or {}).get("versions") or [] if isinstance(v, dict)]
    if not versions:
        return None
    current = next((v for v in versions if str(v.get("current")) == "true"), versions[-1])
    return "acceptedVersion" if current.get("mid") else "publishedVersion"


async def lookup_pmcid(work: Work, ctx: SourceContext) -> tuple[str | None, str | None]:
    """(PMCID, idconv URL) for a work that has a DOI or PMID (one idconv request)."""
    pmcid, url, _ = await _lookup(work, ctx)
    return pmcid, url


async def _lookup(work: Work, ctx: SourceContext) -> tuple[str | None, str | None, str | None]:
    """(PMCID, idconv URL, version) for a work that has a DOI or PMID."""
    ident = work.doi or work.pmid
    if not ident:
        return None, None, None
    resp = await ctx.http.get_json(
        IDCONV,
        params={
            "ids": ident,
            "format": "json",
            "tool": "fallback_kit",
            "email": contact_email(ctx),
        },
    )
    return pmcid_from_idconv(resp.data), resp.url, pmc_version(resp.data)


class Pmc(ApiSource):
    name = "pmc"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        pmcid = work.pmcid
        meta: dict[str, Any] = {}
        version = None
        if pmcid is None:
            pmcid, idconv_url, version = await _lookup(work, ctx)
            meta["pmcid_from"] = "idconv"
            if pmcid is None:
                return result(ctx, Outcome.NO_PDF, Reason.NO_PMCID, url=idconv_url, **meta)
        meta["pmcid"] = pmcid
        article = ARTICLE.format(pmcid=pmcid)
        cands = Candidates(ctx, meta)
        found = await cands.first_valid([Candidate(article + "pdf/", "pdf", article,
                                                   version=version)])
        if found is not None:
            return found
        first = cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
        if first.outcome is Outcome.RETRYABLE or not self.option(ctx, "article_page"):
            return first
        # the article page names the PDF file itself (citation_pdf_url)
        page = await ctx.http.get_html(article)
        if page.status != 200:
            return first
        links = parse_landing(page.text, page.url).pdf_candidates(anchors=False)
        found = await cands.first_valid(Candidate(u, label, page.url, version=version)
                                        for u, label in links)
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
