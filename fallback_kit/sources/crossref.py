"""Crossref: the work's `link[]` entries with content-type application/pdf."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

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

API = "https://api.crossref.org/works/"
#: text-mining endpoints that answer only with a subscriber token
_TOKEN_ONLY = (("api.wiley.com", "/onlinelibrary/tdm/"), ("api.elsevier.com", "/"))
#: Crossref's content-version of a link or licence, in the plan's version vocabulary
_VERSIONS = {"vor": "publishedVersion", "am": "acceptedVersion"}


def needs_token(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return any(host == h and parts.path.startswith(p) for h, p in _TOKEN_ONLY)


def crossref_pdf_links(message: dict[str, Any]) -> tuple[list[Candidate], list[str]]:
    """(candidates, skipped token-only URLs) from a work's link[] (application/pdf only)."""
    out: list[Candidate] = []
    skipped: list[str] = []
    licenses = crossref_licenses(message)
    for link in message.get("link") or []:
        if not isinstance(link, dict) or not link.get("URL"):
            continue
        if str(link.get("content-type", "")).lower() != "application/pdf":
            continue
        url = str(link["URL"])
        if needs_token(url):
            skipped.append(url)
            continue
        version = str(link.get("content-version", ""))
        out.append(Candidate(url, str(link.get("intended-application", "")),
                             version=_VERSIONS.get(version), license=licenses.get(version)))
    return out, skipped


def crossref_tdm_links(message: dict[str, Any], host: str) -> list[Candidate]:
    """The work's token-only text-mining links on `host` (any content-type: Wiley's
    says `unspecified` and serves a PDF), in link[] order."""
    out: list[Candidate] = []
    for link in message.get("link") or []:
        if not isinstance(link, dict) or not link.get("URL"):
            continue
        url = str(link["URL"])
        if link.get("intended-application") != "text-mining" or not needs_token(url):
            continue
        if (urlsplit(url).hostname or "").lower() == host:
            version = _VERSIONS.get(str(link.get("content-version", "")))
            out.append(Candidate(url, "text-mining", version=version))
    return out


def crossref_licenses(message: dict[str, Any]) -> dict[str, str]:
    """The work's licence per content-version (`vor`, `am`) from license[].URL: a Creative
    Commons URL names its licence, any other is `publisher-specific`."""
    out: dict[str, str] = {}
    for lic in message.get("license") or []:
        if isinstance(lic, dict) and lic.get("content-version") in _VERSIONS:
            url = str(lic.get("URL", ""))
            cc = normalize_license(url) if "creativecommons.org" in url else None
            out.setdefault(str(lic["content-version"]), cc or "publisher-specific")
    return out


def crossref_work_meta(message: dict[str, Any]) -> dict[str, Any]:
    """The work's title, year and first author's family name, as Crossref knows them."""
    titles = message.get("title") or []
    authors = [a for a in message.get("author") or [] if isinstance(a, dict)]
    first = next((a for a in authors if a.get("sequence") == "first"), authors[0] if authors
                 else {})
    year = None
    for key in ("issued", "published", "published-print", "published-online"):
        parts = (message.get(key) or {}).get("date-parts") or [[None]]
        if parts and parts[0] and isinstance(parts[0][0], int):
            year = parts[0][0]
            break
    return {"title": titles[0] if titles else None, "year": year,
            "first_author": first.get("family")}


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
        meta = {"open_license": has_open_license(message), "tdm_skipped": skipped,
                **crossref_work_meta(message)}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(candidates)
        if found is not None:
            return found
        empty = Reason.TDM_ONLY if skipped else Reason.NO_PDF_LINK
        return cands.conclude(empty_reason=empty, meta=meta)
