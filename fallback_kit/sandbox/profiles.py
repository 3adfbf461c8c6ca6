"""Corpus profiles: what kind of scholarly web a World simulates, as documented rates.

A profile says how works are published (which publishers, how often open, green,
in PMC, on arXiv, archived) and, for `fallback-kit sandbox corpus`, which
identifiers synthetic works carry. The rates are simulation choices, not
measurements of the real web.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """Rates of a simulated corpus; every rate is a probability per work."""

    name: str
    description: str
    # -- publishing (World) --------------------------------------------------------
    #: weights of publishers for DOIs whose prefix has no known publisher (and 10.5555)
    publishers: Mapping[str, float]
    #: for publishers that are not fully open: share of hybrid (open), bronze (free) and closed
    hybrid: float
    bronze: float
    #: a green copy in an institutional repository (zenodo.org / hal.science); higher when closed
    repository: float
    repository_if_closed: float
    #: a work known only by DOI or PMID is nevertheless in PMC (found through idconv)
    hidden_pmc: float
    #: a PMC article has a PDF (some are HTML-only)
    pmc_has_pdf: float
    #: a PMC article is in the open-access subset, so Europe PMC renders its PDF
    europepmc_oa: float
    #: the landing page was archived by the Wayback Machine; and its PDF too
    archived_landing: float
    archived_pdf: float
    #: doi.org takes an extra publisher hop before the landing page
    extra_doi_hop: float
    #: coverage of the metadata APIs for DOIs that are not synthetic
    unpaywall_known: float = 0.97
    openalex_known: float = 0.98
    crossref_known: float = 0.99
    semantic_scholar_known: float = 0.92
    #: Semantic Scholar's quirk: status CLOSED but a URL anyway
    s2_closed_with_url: float = 0.05
    #: Europe PMC has a MED record for a DOI-only work outside PMC
    europepmc_med_only: float = 0.2
    #: landing pages of the publishers with a recorded platform shape (ScienceDirect,
    #: Wiley, Frontiers, MDPI, PeerJ; OUP's `10.1093/<journal>/<id>` works on the legacy
    #: HighWire host) rendered in that shape (SpringerLink's and ACS's always are)
    platform_pages: float = 0.5
    #: publication years (uniform), used for wayback timestamps and archival corpora
    years: tuple[int, int] = (2005, 2024)
    # -- synthetic corpora (fallback-kit sandbox corpus) --------------------------------
    p_doi: float = 0.95
    p_arxiv: float = 0.2
    p_pmcid: float = 0.2
    p_pmid: float = 0.3
    p_landing_url: float = 0.05
    kinds: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"journal-article": 1.0})
    )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Profile:
        """A copy with some rates changed; unknown names are refused with the valid ones."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(
                f"profile {self.name!r}: unknown rate(s) {unknown}; valid: {sorted(names)}"
            )
        return replace(self, **dict(overrides))


_ALL = {
    "plos": 1.0, "elife": 0.4, "peerj": 0.4, "springeropen": 1.0, "nature": 1.0,
    "elsevier": 2.5, "wiley": 1.5, "frontiers": 0.8, "mdpi": 1.0, "oup": 0.8,
    "tandf": 0.8, "sage": 0.6,
}

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "mixed": Profile(
            name="mixed",
            description="A general corpus: gold, hybrid and closed publishers, some preprints,"
            " some PMC; the default, used for sample_works.csv.",
            publishers=MappingProxyType(_ALL),
            hybrid=0.15, bronze=0.10, repository=0.12, repository_if_closed=0.25,
            hidden_pmc=0.12, pmc_has_pdf=0.97, europepmc_oa=0.85,
            archived_landing=0.55, archived_pdf=0.35, extra_doi_hop=0.3,
            p_doi=0.95, p_arxiv=0.2, p_pmcid=0.15, p_pmid=0.3, p_landing_url=0.05,
            kinds=MappingProxyType({"journal-article": 0.8, "preprint": 0.15, "review": 0.05}),
        ),
        "biomed": Profile(
            name="biomed",
            description="Life sciences: most works have PMIDs, many are in PMC and Europe PMC.",
            publishers=MappingProxyType({
                "plos": 2.0, "springeropen": 2.0, "elife": 1.0, "peerj": 0.8, "nature": 1.0,
                "elsevier": 2.0, "wiley": 1.0, "frontiers": 1.0, "oup": 0.8,
            }),
            hybrid=0.2, bronze=0.1, repository=0.08, repository_if_closed=0.15,
            hidden_pmc=0.45, pmc_has_pdf=0.97, europepmc_oa=0.9,
            archived_landing=0.5, archived_pdf=0.3, extra_doi_hop=0.3,
            europepmc_med_only=0.9,
            p_doi=0.95, p_arxiv=0.03, p_pmcid=0.55, p_pmid=0.85, p_landing_url=0.02,
            kinds=MappingProxyType({"journal-article": 0.9, "review": 0.1}),
        ),
        "arxiv": Profile(
            name="arxiv",
            description="Physics, maths and CS: nearly every work is on arXiv, half have DOIs.",
            publishers=MappingProxyType({
                "elsevier": 2.0, "springeropen": 0.5, "nature": 0.5, "wiley": 1.0, "oup": 1.0,
                "sage": 0.3, "mdpi": 0.5,
            }),
            hybrid=0.15, bronze=0.05, repository=0.1, repository_if_closed=0.15,
            hidden_pmc=0.01, pmc_has_pdf=0.97, europepmc_oa=0.85,
            archived_landing=0.4, archived_pdf=0.25, extra_doi_hop=0.3,
            europepmc_med_only=0.02,
            p_doi=0.5, p_arxiv=0.95, p_pmcid=0.0, p_pmid=0.01, p_landing_url=0.0,
            kinds=MappingProxyType({"preprint": 0.6, "journal-article": 0.4}),
        ),
        "closed": Profile(
            name="closed",
            description="Subscription journals: few open copies; the fallback plan earns its keep.",
            publishers=MappingProxyType({
                "elsevier": 3.0, "wiley": 2.0, "tandf": 1.5, "sage": 1.0, "oup": 1.0,
                "nature": 0.5,
            }),
            hybrid=0.05, bronze=0.05, repository=0.04, repository_if_closed=0.08,
            hidden_pmc=0.05, pmc_has_pdf=0.95, europepmc_oa=0.7,
            archived_landing=0.45, archived_pdf=0.15, extra_doi_hop=0.3,
            p_doi=1.0, p_arxiv=0.05, p_pmcid=0.03, p_pmid=0.1, p_landing_url=0.02,
        ),
        "archival": Profile(
            name="archival",
            description="Old works (1990-2008): publishers mostly closed, copies mainly in the"
            " Wayback Machine.",
            publishers=MappingProxyType({
                "elsevier": 2.0, "wiley": 1.5, "tandf": 1.0, "sage": 1.0, "oup": 1.0,
                "nature": 1.0, "springeropen": 0.3,
            }),
            hybrid=0.02, bronze=0.1, repository=0.05, repository_if_closed=0.06,
            hidden_pmc=0.05, pmc_has_pdf=0.9, europepmc_oa=0.6,
            archived_landing=0.85, archived_pdf=0.7, extra_doi_hop=0.5,
            unpaywall_known=0.9, openalex_known=0.95, semantic_scholar_known=0.8,
            years=(1990, 2008),
            p_doi=0.9, p_arxiv=0.02, p_pmcid=0.03, p_pmid=0.15, p_landing_url=0.2,
            kinds=MappingProxyType({"journal-article": 0.9, "conference-paper": 0.1}),
        ),
    }
)


def get_profile(name: str | Profile) -> Profile:
    """The profile called `name`; the error lists the valid names."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown sandbox profile {name!r}; choose one of {', '.join(PROFILES)}"
        ) from None
