"""Publisher hosts and their habits: where the landing page and the PDF live, how the
page points at the PDF, and how the host treats robots.

Paths are built as prefix + key + suffix, where the key is the DOI (or an Elsevier
PII, or the work's index for unknown hosts); parsing a path is the reverse, checked
against the World's index, so no table of URLs is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from ._hash import h64, pick

__all__ = ["PUBLISHERS", "Publisher", "publisher_for_doi", "SPRINGEROPEN_HOSTS"]

Target = Literal["pdf", "viewer"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Publisher:
    """One publisher platform's habits."""

    key: str
    name: str
    host: str
    journal: str
    landing: tuple[str, str]
    pdf: tuple[str, str]
    viewer: tuple[str, str] | None = None
    key_kind: Literal["doi", "pii", "index"] = "doi"
    always_open: bool = False
    #: Highwire <meta name="citation_pdf_url">, and what it points at
    meta: Target | None = "pdf"
    #: <link rel="alternate" type="application/pdf">
    link_alternate: bool = False
    #: anchors on the page (text, target) in document order
    anchors: tuple[tuple[str, Target], ...] = (("Download PDF", "pdf"),)
    #: hrefs written as paths relative to the host
    relative: bool = False
    #: share of works whose every request to this host meets a 403 bot challenge
    challenge: float = 0.0
    honours_range: bool = True
    #: Crossref lists the PDF link with content-type application/pdf
    crossref_pdf: bool = False
    #: the PDF URL 302-redirects to this asset host
    asset_host: str | None = None
    #: the DOI resolves through this hop first (Elsevier's linkinghub)
    doi_hop: str | None = None


def _p(**kw: object) -> Publisher:
    return Publisher(**kw)  # type: ignore[arg-type]


SPRINGEROPEN_HOSTS = (
    "jcheminf.springeropen.com",
    "fireecology.springeropen.com",
    "epjdatascience.springeropen.com",
    "mathematical-neuroscience.springeropen.com",
)

PUBLISHERS: Mapping[str, Publisher] = MappingProxyType({
    "plos": _p(key="plos", name="Public Library of Science (PLoS)", host="journals.plos.org",
               journal="PLOS ONE", landing=("/plosone/article?id=", ""),
               pdf=("/plosone/article/file?id=", "&type=printable"), always_open=True,
               crossref_pdf=True),
    "elife": _p(key="elife", name="eLife Sciences Publications, Ltd", host="elifesciences.org",
                journal="eLife", landing=("/articles/", ""), pdf=("/articles/", ".pdf"),
                always_open=True, link_alternate=True, anchors=(("Download", "pdf"),),
                honours_range=False),
    "peerj": _p(key="peerj", name="PeerJ", host="peerj.com", journal="PeerJ",
                landing=("/articles/", "/"), pdf=("/articles/", ".pdf"), always_open=True,
                link_alternate=True, anchors=(("PDF", "pdf"),), relative=True,
                crossref_pdf=True),
    "springeropen": _p(key="springeropen", name="Springer Nature", host="{springeropen}",
                       journal="Journal of Cheminformatics", landing=("/articles/", ""),
                       pdf=("/track/pdf/", "?site={host}"), always_open=True,
                       crossref_pdf=True),
    "nature": _p(key="nature", name="Springer Science and Business Media LLC",
                 host="www.nature.com", journal="Nature Communications",
                 landing=("/articles/", ""), pdf=("/articles/", ".pdf"), relative=True,
                 challenge=0.02, crossref_pdf=True),
    "elsevier": _p(key="elsevier", name="Elsevier BV", host="www.sciencedirect.com",
                   journal="Cell Reports", key_kind="pii",
                   landing=("/science/article/pii/", ""),
                   pdf=("/science/article/pii/", "/pdfft?isDTMRedir=true&download=true"),
                   meta=None, anchors=(("View PDF", "pdf"),), relative=True, challenge=0.5,
                   asset_host="pdf.sciencedirectassets.com",
                   doi_hop="linkinghub.elsevier.com"),
    "wiley": _p(key="wiley", name="Wiley", host="onlinelibrary.wiley.com",
                journal="FEBS Letters", landing=("/doi/", ""),
                pdf=("/doi/pdfdirect/", "?download=true"), viewer=("/doi/pdf/", ""),
                meta="viewer", anchors=(("PDF", "viewer"), ("Download PDF", "pdf")),
                relative=True, challenge=0.15),
    "frontiers": _p(key="frontiers", name="Frontiers Media SA", host="www.frontiersin.org",
                    journal="Frontiers in Microbiology", landing=("/articles/", "/full"),
                    pdf=("/articles/", "/pdf"), always_open=True, relative=True,
                    crossref_pdf=True),
    "mdpi": _p(key="mdpi", name="MDPI AG", host="www.mdpi.com", journal="Sensors",
               landing=("/articles/", ""), pdf=("/articles/", "/pdf"), always_open=True,
               link_alternate=True, anchors=(), honours_range=False, crossref_pdf=True),
    "oup": _p(key="oup", name="Oxford University Press (OUP)", host="academic.oup.com",
              journal="Bioinformatics", landing=("/article/doi/", ""),
              pdf=("/article-pdf/doi/", "/article.pdf"), anchors=(("PDF", "pdf"),),
              challenge=0.25),
    "tandf": _p(key="tandf", name="Informa UK Limited", host="www.tandfonline.com",
                journal="Journal of Applied Statistics", landing=("/doi/full/", ""),
                pdf=("/doi/pdf/", "?download=true"), meta=None, relative=True,
                challenge=0.1),
    "sage": _p(key="sage", name="SAGE Publications", host="journals.sagepub.com",
               journal="Journal of Career Development", landing=("/doi/", ""),
               pdf=("/doi/pdf/", ""), meta=None, link_alternate=True, anchors=(),
               relative=True, challenge=0.2, crossref_pdf=True),
    # SpringerLink (papis SpringerLink_*.html): citation_pdf_url /content/pdf/<doi>.pdf,
    # also on pages without access, and no download anchor there
    "springer": _p(key="springer", name="Springer Science and Business Media LLC",
                   host="link.springer.com", journal="Journal of Polymers and the Environment",
                   landing=("/article/", ""), pdf=("/content/pdf/", ".pdf"), anchors=(),
                   crossref_pdf=True),
    # ACS (papis acs_*.html): no citation_pdf_url, the PDF button /doi/pdf/<doi>; the 2023
    # recording of the same article is a Cloudflare challenge page
    "acs": _p(key="acs", name="American Chemical Society (ACS)", host="pubs.acs.org",
              journal="Nano Letters", landing=("/doi/", ""), pdf=("/doi/pdf/", ""), meta=None,
              anchors=(("PDF", "pdf"),), relative=True, challenge=0.25),
    "generic": _p(key="generic", name="Independent publisher", host="{landing}",
                  journal="Journal of Things", key_kind="index", landing=("", ""),
                  pdf=("/download/", ".pdf")),
})

_BY_PREFIX = {
    "10.1371": "plos", "10.7554": "elife", "10.7717": "peerj", "10.1186": "springeropen",
    "10.1016": "elsevier", "10.1038": "nature", "10.1002": "wiley", "10.1111": "wiley",
    "10.3389": "frontiers", "10.3390": "mdpi", "10.1093": "oup", "10.1080": "tandf",
    "10.1177": "sage", "10.1007": "springer", "10.1021": "acs",
}
_GENERIC_REAL = ("oup", "tandf", "sage", "mdpi")

#: hosts served by publisher habits (springeropen has several)
PUBLISHER_HOSTS: Mapping[str, str] = MappingProxyType({
    **{p.host: k for k, p in PUBLISHERS.items() if "{" not in p.host},
    **{h: "springeropen" for h in SPRINGEROPEN_HOSTS},
})


def publisher_for_doi(doi: str, seed: int, weights: Mapping[str, float]) -> str:
    """The publisher key of a DOI: by prefix for real DOIs, by hash for 10.5555 and others."""
    prefix = doi.split("/", 1)[0]
    if prefix in _BY_PREFIX:
        return _BY_PREFIX[prefix]
    if prefix == "10.5555":
        from ._hash import weighted

        return weighted(dict(weights), seed, "publisher", doi)
    return pick(_GENERIC_REAL, "publisher", doi)


def springeropen_host(doi: str) -> str:
    if "/1758-2946" in doi:
        return "jcheminf.springeropen.com"
    return SPRINGEROPEN_HOSTS[h64("springeropen", doi) % len(SPRINGEROPEN_HOSTS)]
