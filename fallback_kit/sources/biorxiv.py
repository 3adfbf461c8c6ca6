"""bioRxiv / medRxiv: the API's details record, then the latest version's `.full.pdf`.

The preprint servers' pages sit behind bot challenges, while their API
(`api.biorxiv.org/details/<server>/<doi>/na/JSON`) and the `<doi>v<n>.full.pdf` paths
work. The record carries no PDF URL: it is built from `doi` and `version` (the form the
bioRxiv page itself names in `<link rel=alternate type=application/pdf>`, see
tests/fixtures/pages/biorxiv). `published` is the journal version's DOI, kept in meta.

Rate limit: `web/client.py` DEFAULT_RATE_LIMITS["api.biorxiv.org"] (no published
number; one request a second).
"""

from __future__ import annotations

from typing import Any

from ..contracts.events import Outcome
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, quote_doi, result
from .base import SourceContext, SourceResult

DETAILS = "https://api.biorxiv.org/details/{server}/{doi}/na/JSON"
CONTENT = {
    "biorxiv": "https://www.biorxiv.org/content/",
    "medrxiv": "https://www.medrxiv.org/content/",
}
PREPRINT_PREFIX = "10.1101/"


def latest_version(collection: list[Any]) -> dict[str, Any] | None:
    """The record of the highest `version` in a details collection."""
    records = [r for r in collection if isinstance(r, dict) and str(r.get("version", "")).isdigit()]
    return max(records, key=lambda r: int(r["version"]), default=None)


def preprint_pdf(record: dict[str, Any], server: str) -> Candidate:
    """`<content>/<doi>v<version>.full.pdf` on the record's server."""
    base = CONTENT.get(str(record.get("server") or server).lower(), CONTENT[server])
    return Candidate(
        f"{base}{record['doi']}v{record['version']}.full.pdf", f"{server}_v{record['version']}"
    )


class Biorxiv(ApiSource):
    name = "biorxiv"

    def applicable(self, work: Work) -> bool:
        """bioRxiv and medRxiv DOIs share Cold Spring Harbor's prefix 10.1101."""
        return (work.doi or "").startswith(PREPRINT_PREFIX)

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        servers = ctx.options.get("servers", tuple(CONTENT))
        url = None
        for server in servers:
            resp = await ctx.http.get_json(DETAILS.format(server=server, doi=quote_doi(work.doi)))
            url = resp.url
            data = resp.data if isinstance(resp.data, dict) else {}
            record = latest_version(data.get("collection") or [])
            if record is not None and record.get("doi"):
                meta = {
                    "server": server,
                    "version": record.get("version"),
                    "license": record.get("license"),
                    "published_doi": record.get("published"),
                }
                cands = Candidates(ctx, meta)
                found = await cands.first_valid([preprint_pdf(record, server)])
                return found or cands.conclude(empty_reason="no_pdf_link", meta=meta)
        return result(ctx, Outcome.NO_PDF, "not_in_service", url=url)
