"""CORE (core.ac.uk) API v3: the aggregator's copy, then the repositories' copies.

A work's `downloadUrl` (CORE's cached PDF, also `links[type=download]`) comes first,
then `sourceFulltextUrls` (the repositories' own files). `links` of type reader,
thumbnail or display are pages and images, never candidates.

CORE needs a free API key (https://core.ac.uk/services/api), sent as
`Authorization: Bearer <key>`. The key is read from the environment, never from the
plan (plans are copied into run stores): the plan option `key_env` names the
variable, else `FALLBACK_KIT_CORE_KEY`, else `CORE_API_KEY`. Without a key the source
is skipped, which says nothing about the work.

Rate limit: `web/client.py` DEFAULT_RATE_LIMITS["api.core.ac.uk"] (daily token quotas;
10 requests/minute).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.registry import source_key
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, result
from .base import SourceContext, SourceResult

SEARCH = "https://api.core.ac.uk/v3/search/works"


def core_key(key_env: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The API key: the variable the plan's `key_env` names, else the registry's."""
    return source_key("core", key_env, environ)


def core_candidates(work: dict[str, Any]) -> list[Candidate]:
    """downloadUrl, links[type=download], then sourceFulltextUrls, in that order."""
    urls: list[tuple[str, str]] = []
    if work.get("downloadUrl"):
        urls.append((str(work["downloadUrl"]), "downloadUrl"))
    for link in work.get("links") or []:
        if isinstance(link, dict) and link.get("type") == "download" and link.get("url"):
            urls.append((str(link["url"]), "links[download]"))
    for i, u in enumerate(work.get("sourceFulltextUrls") or []):
        if isinstance(u, str) and u:
            urls.append((u, f"sourceFulltextUrls[{i}]"))
    return [Candidate(u, label) for u, label in urls]


class Core(ApiSource):
    name = "core"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        key = core_key(self.option(ctx, "key_env"))
        if key is None:
            return result(ctx, Outcome.SKIPPED, Reason.NO_API_KEY)
        resp = await ctx.http.get_json(
            SEARCH,
            params={"q": f'doi:"{work.doi}"', "limit": 5},
            headers={"Authorization": f"Bearer {key}"},
        )
        results = resp.data.get("results") if isinstance(resp.data, dict) else None
        doi = work.doi.strip().lower()
        works = [
            w for w in results or [] if isinstance(w, dict) and str(w.get("doi", "")).lower() == doi
        ]
        if not works:
            return result(ctx, Outcome.NO_PDF, "not_in_service", url=resp.url, status=resp.status)
        candidates = [c for w in works for c in core_candidates(w)]
        meta = {"core_id": works[0].get("id"), "year": works[0].get("yearPublished")}
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(candidates)
        return found or cands.conclude(empty_reason="no_oa_location", meta=meta)
