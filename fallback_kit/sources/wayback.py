"""Wayback Machine: an archived landing page's citation_pdf_url, itself archived."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.works import Work
from ..web.edge import BadResponse, ResponseTooLarge
from ..web.landing import PARSE_OFF_LOOP_CHARS, aparse_landing
from ._common import ApiSource, Candidate, Candidates, quote_doi, result
from .base import SourceContext, SourceResult

CDX = "https://web.archive.org/cdx/search/cdx"
RAW = "https://web.archive.org/web/{ts}id_/{url}"
DOI_ORG = "https://doi.org/"
_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")


@dataclass(frozen=True, slots=True)
class Capture:
    urlkey: str
    timestamp: str
    original: str
    mimetype: str
    statuscode: str
    digest: str = ""
    length: str = ""

    @property
    def usable(self) -> bool:
        """A 2xx capture (revisits show '-' and 404s are of no use)."""
        return self.statuscode.startswith("2")

    @property
    def raw_url(self) -> str:
        """The original bytes, without the Wayback toolbar or URL rewriting."""
        return RAW.format(ts=self.timestamp, url=self.original)


def parse_cdx(text: str) -> list[Capture]:
    """CDX answers in JSON (`output=json`, header row first) or the default text format
    (space-separated, no header; a blank line then a resume key may follow)."""
    body = text.strip()
    if not body:
        return []
    if body.startswith("["):
        rows = json.loads(body)
        if not rows:
            return []
        header = [str(h) for h in rows[0]]
        out = []
        for row in rows[1:]:
            if len(row) != len(header):
                continue  # a resume-key row ([] or ["key"]) or a damaged row
            rec = dict(zip(header, (str(v) for v in row), strict=True))
            out.append(Capture(**{f: rec.get(f, "") for f in _FIELDS}))
        return out
    out = []
    for line in body.splitlines():
        parts = line.split(" ")
        if len(parts) == len(_FIELDS):
            out.append(Capture(*parts))
        elif not line.strip():
            break  # what follows a blank line is the resume key
    return out


def newest_usable(captures: list[Capture]) -> Capture | None:
    usable = [c for c in captures if c.usable]
    return max(usable, key=lambda c: c.timestamp) if usable else None


class Wayback(ApiSource):
    name = "wayback"

    async def _captures(self, ctx: SourceContext, url: str) -> list[Capture]:
        resp = await ctx.http.get_text(
            CDX, params={"url": url, "output": "json", "filter": "statuscode:200"}
        )
        if resp.status != 200:
            return []
        if resp.truncated:  # cut at the size cap: what is left is not the CDX answer
            raise ResponseTooLarge("CDX answer larger than the cap", url=resp.url)
        try:
            if len(resp.text) > PARSE_OFF_LOOP_CHARS:
                return await asyncio.to_thread(parse_cdx, resp.text)
            return parse_cdx(resp.text)
        except (ValueError, TypeError, RecursionError):
            raise BadResponse("CDX answer is not valid CDX", url=resp.url) from None

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        landing = work.landing_url
        if landing is None:
            landing = await ctx.http.resolve_location(DOI_ORG + quote_doi(work.doi or ""))
            if landing is None:
                return result(ctx, Outcome.NO_PDF, Reason.NO_LANDING_URL)
        meta: dict[str, Any] = {"landing_url": landing}
        page_capture = newest_usable(await self._captures(ctx, landing))
        if page_capture is None:
            return result(ctx, Outcome.NO_PDF, Reason.NO_SNAPSHOT, url=landing, **meta)
        meta["landing_capture"] = page_capture.timestamp
        page = await ctx.http.get_html(page_capture.raw_url, sniff_pdf=True)
        cands = Candidates(ctx, meta)
        if page.is_pdf:  # the landing URL itself was a PDF when archived
            found = await cands.first_valid([Candidate(page.url, "landing_capture")])
            return found or cands.conclude(empty_reason=Reason.NO_PDF_LINK)
        if page.status != 200:
            return result(
                ctx, Outcome.NO_PDF, Reason.NO_SNAPSHOT, url=page.url, status=page.status, **meta
            )
        # links in an id_ capture are the original's: resolve them against the original URL
        links = (await aparse_landing(page.text, page_capture.original)).citation_pdf_urls
        if not links:
            return result(ctx, Outcome.NO_PDF, Reason.NO_PDF_LINK, url=page.url, **meta)
        candidates = []
        for pdf_url in links:
            capture = newest_usable(await self._captures(ctx, pdf_url))
            if capture is not None:
                candidates.append(Candidate(capture.raw_url, "pdf_capture"))
        if not candidates:
            return result(ctx, Outcome.NO_PDF, Reason.PDF_NOT_ARCHIVED, url=links[0], **meta)
        found = await cands.first_valid(candidates)
        return found or cands.conclude(empty_reason=Reason.PDF_NOT_ARCHIVED)
