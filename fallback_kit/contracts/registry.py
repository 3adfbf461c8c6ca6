"""The source registry: what each source is, as plain data, in one place.

For each source: its plan name, the identifiers it needs (Work fields, any one will
do), the service hosts it calls first (their gates are checked before a try), its
default rate limits (by host suffix, from the service's published guidance), its
plan options with their types and defaults, and one line for `explain` and the docs.

It lives in the contracts layer so that everything can read it without importing the
sources: plan validation (source names, option keys and types), politeness
(`web.client.DEFAULT_RATE_LIMITS`), `dryrun` and `explain`, the PlanEditor and the
sandbox. The source classes (`fallback_kit.sources`) register against it: each class
takes its `needs`, `hosts` and `summary` from its entry here, and an entry without a
class (or a class without an entry) fails at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .works import Work

__all__ = ["KEY_HEADERS", "SOURCE_NAMES", "SOURCE_SPECS", "SourceOption", "SourceSpec",
           "source_key", "spec_of"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceOption:
    """One plan option of a source (`sources.<name>.options.<key>`)."""

    type: type
    default: Any
    doc: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """What the rest of the package knows of one source."""

    name: str
    #: identifiers of which the source needs at least one (Work field names)
    needs: tuple[str, ...]
    #: the service hosts the source calls first; their gates are checked before a try
    hosts: tuple[str, ...]
    #: default rate limits: host suffix -> (requests per second, burst)
    rate_limits: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    options: Mapping[str, SourceOption] = field(default_factory=dict)
    summary: str = ""
    #: the environment variables that hold the user's key, first set one wins (after the
    #: one the plan option `key_env` names); never a plan value: plans are stored in runs
    key_envs: tuple[str, ...] = ()
    #: the request header that carries the key (sent to the API's host only; web/edge.py
    #: drops it when a redirect leaves that host)
    key_header: str = ""

    def applicable(self, work: Work) -> bool:
        """True if the work has an identifier this source can start from."""
        return any(getattr(work, f, None) for f in self.needs)


_SPECS = (
    SourceSpec(
        name="unpaywall",
        needs=("doi",),
        hosts=("api.unpaywall.org",),
        # Unpaywall: 100,000 calls per day (https://unpaywall.org/products/api); ~10/s.
        rate_limits={"api.unpaywall.org": (10, 5)},
        summary="Unpaywall v2: every OA location's url_for_pdf, best first",
    ),
    SourceSpec(
        name="arxiv",
        needs=("arxiv_id",),
        hosts=("arxiv.org",),
        rate_limits={
            # arXiv API terms of use (https://info.arxiv.org/help/api/tou.html): "no more
            # than one request every three seconds", a single connection at a time.
            "export.arxiv.org": (1 / 3, 1),
            # arxiv.org PDFs: the bulk-data page allows "bursts of 4 requests per second"
            # (https://info.arxiv.org/help/bulk_data.html); we stay at 4/s with burst 1.
            "arxiv.org": (4, 1),
        },
        options={
            "use_api": SourceOption(
                type=bool, default=False,
                doc="ask export.arxiv.org's Atom API for the PDF link first",
            ),
        },
        summary="arXiv: https://arxiv.org/pdf/{id} (option use_api: ask export.arxiv.org first)",
    ),
    SourceSpec(
        name="pmc",
        needs=("pmcid", "doi", "pmid"),
        hosts=("pmc.ncbi.nlm.nih.gov",),
        # NCBI E-utilities / PMC: 3 requests per second without an API key
        # (https://www.ncbi.nlm.nih.gov/books/NBK25497/ "Usage Guidelines").
        rate_limits={"ncbi.nlm.nih.gov": (3, 1)},
        options={
            "article_page": SourceOption(
                type=bool, default=True,
                doc="when /pdf/ fails for good, try the article page's citation_pdf_url",
            ),
        },
        summary="PMC: /articles/{PMCID}/pdf/ (PMCID from NCBI idconv if missing; "
        "article page as fallback)",
    ),
    SourceSpec(
        name="doi_redirect",
        needs=("doi",),
        hosts=("doi.org",),
        # doi.org is a redirector operated for heavy use; stay modest anyway.
        rate_limits={"doi.org": (10, 5)},
        summary="doi.org redirect: the final body if it is a PDF, else the platform rule's "
        "link (web/platforms.py) and its Highwire citation_pdf_url",
    ),
    SourceSpec(
        name="landing_scrape",
        needs=("landing_url", "doi"),
        hosts=(),  # the landing host is only known once the DOI is resolved
        options={
            "anchors": SourceOption(
                type=bool, default=True,
                doc="also follow anchors that say PDF (false: citation_pdf_url and "
                "<link rel=alternate> only)",
            ),
        },
        summary="landing page scrape: platform rule, citation_pdf_url, link alternate PDF, "
        "anchors",
    ),
    SourceSpec(
        name="europe_pmc",
        needs=("doi", "pmcid", "pmid"),
        hosts=("www.ebi.ac.uk",),
        # Europe PMC REST: no published number; their guidance asks for moderate use.
        rate_limits={"www.ebi.ac.uk": (5, 2), "europepmc.org": (5, 2)},
        summary="Europe PMC search (resultType=core): fullTextUrlList PDF entries that "
        "are OA/free",
    ),
    SourceSpec(
        name="wayback",
        needs=("doi", "landing_url"),
        hosts=("web.archive.org",),
        # Wayback CDX / availability: the Internet Archive throttles clients beyond
        # roughly one request per second on the CDX server
        # (https://archive.org/developers/wayback-cdx-server.html).
        rate_limits={"web.archive.org": (1, 2), "archive.org": (1, 2)},
        summary="Wayback: newest 200 capture of the landing page -> citation_pdf_url -> "
        "its capture",
    ),
    SourceSpec(
        name="openalex",
        needs=("doi",),
        hosts=("api.openalex.org",),
        # OpenAlex: 10 requests per second, 100,000 per day
        # (https://docs.openalex.org/how-to-use-the-api/rate-limits-and-authentication).
        rate_limits={"api.openalex.org": (10, 5)},
        summary="OpenAlex work: best_oa_location.pdf_url, then locations[].pdf_url",
    ),
    SourceSpec(
        name="crossref",
        needs=("doi",),
        hosts=("api.crossref.org",),
        # Crossref REST API polite pool (mailto=): the limits are announced in the
        # x-rate-limit-limit / x-rate-limit-interval headers, 10 requests/s for the
        # polite pool at the time of writing
        # (https://crossref.org/documentation/retrieve-metadata/rest-api/access-and-authentication/).
        rate_limits={"api.crossref.org": (10, 5)},
        summary="Crossref work: link[] entries of type application/pdf (token-only TDM "
        "links skipped)",
    ),
    SourceSpec(
        name="semantic_scholar",
        needs=("doi", "arxiv_id", "pmcid", "pmid"),
        hosts=("api.semanticscholar.org",),
        # Semantic Scholar Graph API without a key: a shared pool; 1 request/s is the
        # rate they grant to keyed users and the safe pace for anonymous ones
        # (https://www.semanticscholar.org/product/api).
        rate_limits={"api.semanticscholar.org": (1, 1)},
        summary="Semantic Scholar: openAccessPdf.url (status CLOSED still tried, noted in "
        "meta)",
    ),
    SourceSpec(
        name="doaj",
        needs=("doi",),
        hosts=("doaj.org",),
        # DOAJ: "a rate limit of two requests per second on all API routes", bursts of up
        # to five queued (https://doaj.org/api/v4/docs; DOAJ/doaj
        # portality/templates-v2/public/api/v4/includes/_extra_docs.html).
        rate_limits={"doaj.org": (2, 5)},
        summary="DOAJ article search: bibjson full-text links (PDF-typed, then the landing "
        "page's)",
    ),
    SourceSpec(
        name="zenodo",
        needs=("doi",),
        hosts=("zenodo.org",),
        # Zenodo guests: 60 requests/min and 2000/hour (https://developers.zenodo.org,
        # "Rate limiting"); the hourly cap is the binding one (0.55/s). Record pages and
        # file downloads share the host.
        rate_limits={"zenodo.org": (0.5, 5)},
        summary="Zenodo record of a Zenodo DOI: the paper PDF among files[] (not a "
        "supplement)",
    ),
    SourceSpec(
        name="biorxiv",
        needs=("doi",),
        hosts=("api.biorxiv.org",),
        # bioRxiv/medRxiv API (https://api.biorxiv.org): no published number; one request
        # a second is the pace third-party guides recommend.
        rate_limits={"api.biorxiv.org": (1, 1)},
        summary="bioRxiv/medRxiv API details: the latest version's .full.pdf",
    ),
    SourceSpec(
        name="core",
        needs=("doi",),
        hosts=("api.core.ac.uk",),
        # CORE API v3: token quotas per day (1,000 for a personal key, about 5,000 for
        # academic users; https://api.core.ac.uk/docs/v3#tag/Rate-limits, per oacore/about
        # data/registration.yml); 10 requests/minute is the lowest per-minute cap reported.
        rate_limits={"api.core.ac.uk": (10 / 60, 1)},
        options={
            "key_env": SourceOption(
                type=str, default="",
                doc="the environment variable holding the CORE API key (default: "
                "FALLBACK_KIT_CORE_KEY, then CORE_API_KEY); the key itself never goes in "
                "a plan, which runs store",
            ),
        },
        summary="CORE API v3 (free key): downloadUrl, then the repositories' "
        "sourceFulltextUrls",
        key_envs=("FALLBACK_KIT_CORE_KEY", "CORE_API_KEY"),
        key_header="Authorization",
    ),
    SourceSpec(
        name="wiley_tdm",
        needs=("doi",),
        # Crossref first (the work's text-mining link); the PDF comes from api.wiley.com.
        # api.wiley.com is deliberately not a declared host: declared hosts are the
        # metadata cache's, and nothing sent with the user's token is ever cached.
        hosts=("api.crossref.org",),
        rate_limits={
            # Wiley TDM: "up to 3 articles per second; up to 60 requests per 10 minutes".
            # Found ONLY in third-party code (paper-search-mcp-nodejs WileySearcher,
            # https://app.unpkg.com/paper-search-mcp-nodejs@0.2.5/files/dist/platforms/
            # WileySearcher.js); Wiley's own page
            # (https://onlinelibrary.wiley.com/library-info/resources/text-and-datamining)
            # as stored gives no number. 60 per 10 minutes is the binding one: 0.1/s.
            "api.wiley.com": (0.1, 1),
        },
        options={
            "key_env": SourceOption(
                type=str, default="",
                doc="the environment variable holding the Wiley TDM token (default: "
                "FALLBACK_KIT_WILEY_TDM_TOKEN, then WILEY_TDM_TOKEN); the token itself "
                "never goes in a plan, which runs store",
            ),
        },
        summary="Wiley TDM API (the user's token): the Crossref text-mining link on "
        "api.wiley.com, fetched with Wiley-TDM-Client-Token",
        key_envs=("FALLBACK_KIT_WILEY_TDM_TOKEN", "WILEY_TDM_TOKEN"),
        key_header="Wiley-TDM-Client-Token",
    ),
)

#: every source by plan name, in the order the docs, the editor and the sandbox list them
SOURCE_SPECS: Mapping[str, SourceSpec] = {s.name: s for s in _SPECS}
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCE_SPECS)


def spec_of(name: str) -> SourceSpec:
    """The registry entry of `name` (KeyError for an unknown source)."""
    return SOURCE_SPECS[name]


#: every header that carries a user's key, lower-case: web/edge.py never sends one to
#: another host than the first request's
KEY_HEADERS: frozenset[str] = frozenset(s.key_header.lower() for s in _SPECS if s.key_header)


def source_key(
    name: str, key_env: str = "", environ: Mapping[str, str] | None = None
) -> str | None:
    """The user's key for source `name`: the variable the plan's `key_env` names, else the
    source's `key_envs`, from the environment only (None when none is set)."""
    import os

    env = os.environ if environ is None else environ
    names = ([key_env] if key_env else []) + list(SOURCE_SPECS[name].key_envs)
    return next((env[n].strip() for n in names if env.get(n, "").strip()), None)
