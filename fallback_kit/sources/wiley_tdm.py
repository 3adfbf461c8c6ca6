"""Wiley's text-and-data-mining API, with the user's own token (optional).

Crossref's record of the work (`https://api.crossref.org/works/{doi}`) lists Wiley's
text-mining link in `link[]` (`intended-application: text-mining`, content-type
`unspecified`, e.g. `https://api.wiley.com/onlinelibrary/tdm/v1/articles/10.2903%2Fj.efsa.2014.3550`);
that link answers `application/pdf` to a request carrying the token (recorded 2020 by
ropensci/crminer; see tests/fixtures/services/README.md). The token goes in the
`Wiley-TDM-Client-Token` header (the 2020 recording sent Crossref's older
`CR-Clickthrough-Client-Token`), only to api.wiley.com: web/edge.py drops it when a
redirect leaves that host.

The token is read from the environment, never from the plan (plans are copied into run
stores): the variable the option `key_env` names, else `FALLBACK_KIT_WILEY_TDM_TOKEN`,
else `WILEY_TDM_TOKEN` (`contracts/registry.py`). Without one the source is skipped
before any request. The orchestrator redacts the token's value in every record.

Rate limit: `contracts/registry.py` (api.wiley.com, a third-party figure: see there).
"""

from __future__ import annotations

from ..contracts.events import Outcome
from ..contracts.reasons import Reason
from ..contracts.registry import source_key, spec_of
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates, contact_email, quote_doi, result
from .base import SourceContext, SourceResult
from .crossref import API as CROSSREF_API
from .crossref import crossref_tdm_links, crossref_work_meta

TDM_HOST = "api.wiley.com"


class WileyTdm(ApiSource):
    name = "wiley_tdm"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.doi
        token = source_key(self.name, self.option(ctx, "key_env"))
        if token is None:
            return result(ctx, Outcome.SKIPPED, Reason.NO_API_KEY)
        resp = await ctx.http.get_json(
            CROSSREF_API + quote_doi(work.doi), params={"mailto": contact_email(ctx)}
        )
        message = resp.data.get("message") if isinstance(resp.data, dict) else None
        if resp.status == 404 or not isinstance(message, dict):
            return result(ctx, Outcome.NO_PDF, Reason.NOT_IN_SERVICE,
                          url=resp.url, status=resp.status)
        header = {spec_of(self.name).key_header: token}
        links = [Candidate(c.url, c.label, version=c.version, headers=header)
                 for c in crossref_tdm_links(message, TDM_HOST)]
        cands = Candidates(ctx, crossref_work_meta(message))
        found = await cands.first_valid(links)
        return found or cands.conclude(empty_reason=Reason.NO_TDM_LINK)
