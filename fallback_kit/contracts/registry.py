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

__all__ = ["SOURCE_NAMES", "SOURCE_SPECS", "SourceOption", "SourceSpec", "spec_of"]


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
        summary="doi.org redirect: the final body if it is a PDF, else its Highwire "
        "citation_pdf_url",
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
        summary="landing page scrape: citation_pdf_url, link alternate PDF, PDF anchors",
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
)

#: every source by plan name, in the order the docs, the editor and the sandbox list them
SOURCE_SPECS: Mapping[str, SourceSpec] = {s.name: s for s in _SPECS}
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCE_SPECS)


def spec_of(name: str) -> SourceSpec:
    """The registry entry of `name` (KeyError for an unknown source)."""
    return SOURCE_SPECS[name]
