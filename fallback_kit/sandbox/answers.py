"""The structured answers of each service for one work, derived from its locations.

Both the renderer (JSON/HTML bytes) and the ground truth (candidate URLs) read these,
so what the server says and what the truth expects cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._hash import h64

if TYPE_CHECKING:  # pragma: no cover
    from .world import Facts, Node, World

__all__ = [
    "Links",
    "OaLocation",
    "core_copies",
    "crossref_links",
    "preprint",
    "doaj_fulltext",
    "epmc_fulltext",
    "oa_locations",
    "page_links",
    "pmc_old_pdf",
    "s2_pdf",
]


@dataclass(frozen=True, slots=True)
class OaLocation:
    """One open copy as Unpaywall and OpenAlex describe it."""

    host_type: str  # publisher | repository
    url: str
    url_for_pdf: str | None
    url_for_landing_page: str
    version: str
    license: str | None
    evidence: str
    kind: str  # publisher | doaj | pmc | arxiv | repository


def pmc_old_pdf(pmcid: str) -> str:
    return f"https://www.ncbi.nlm.nih.gov/pmc/articles/{pmcid}/pdf"


def arxiv_pdf(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}.pdf"


def oa_locations(f: Facts) -> list[OaLocation]:
    """Unpaywall's oa_locations in its order (best first)."""
    out: list[OaLocation] = []
    doi_url = f"https://doi.org/{f.doi}" if f.doi else (f.landing_url or "")
    if f.is_open and f.pdf_url:
        lic = None if f.oa == "bronze" else "cc-by"
        evidence = {
            "gold": "open (via page says license)",
            "hybrid": "open (via page says license)",
            "bronze": "open (via free pdf)",
        }[f.oa]
        out.append(
            OaLocation(
                "publisher",
                f.pdf_url,
                f.pdf_url,
                doi_url,
                "publishedVersion",
                lic,
                evidence,
                "publisher",
            )
        )
        if f.oa == "gold":
            out.append(
                OaLocation(
                    "publisher",
                    doi_url,
                    None,
                    doi_url,
                    "publishedVersion",
                    "cc-by",
                    "oa journal (via issn in doaj)",
                    "doaj",
                )
            )
    if f.pmcid:
        landing = f"https://www.ncbi.nlm.nih.gov/pmc/articles/{f.pmcid}"
        pdf = pmc_old_pdf(f.pmcid) if f.pmc_pdf else None
        out.append(
            OaLocation(
                "repository",
                pdf or landing,
                pdf,
                landing,
                "publishedVersion",
                None,
                "oa repository (via pmcid lookup)",
                "pmc",
            )
        )
    if f.arxiv_id:
        out.append(
            OaLocation(
                "repository",
                arxiv_pdf(f.arxiv_id),
                arxiv_pdf(f.arxiv_id),
                f"https://arxiv.org/abs/{f.arxiv_id}",
                "submittedVersion",
                None,
                "oa repository (via OAI-PMH doi match)",
                "arxiv",
            )
        )
    if f.repo_url:
        out.append(
            OaLocation(
                "repository",
                f.repo_url,
                f.repo_url,
                f.repo_url.rsplit("/", 1)[0],
                "acceptedVersion",
                "cc-by",
                "oa repository (via OAI-PMH title and first author match)",
                "repository",
            )
        )
    if f.preprint_first:  # stable: the preprints first, each group in its own order
        out.sort(key=lambda loc: loc.version != "submittedVersion")
    return out


def oa_status(f: Facts) -> str:
    if f.is_open:
        return f.oa
    return "green" if oa_locations(f) else "closed"


def crossref_links(f: Facts) -> list[dict[str, str]]:
    """Crossref's link[]: the PDF with content-type application/pdf where the publisher
    deposits it (a text-mining link: it may lead to a paywall)."""
    links: list[dict[str, str]] = []
    if f.pub is None or f.pdf_url is None:
        return links
    if f.pub.key == "elsevier":
        links.append(
            {
                "URL": f"https://api.elsevier.com/content/article/PII:{f.key}?httpAccept=text/xml",
                "content-type": "text/xml",
                "content-version": "vor",
                "intended-application": "text-mining",
            }
        )
    elif f.pub.crossref_pdf:
        links.append(
            {
                "URL": f.pdf_url,
                "content-type": "application/pdf",
                "content-version": "vor",
                "intended-application": "text-mining",
            }
        )
    links.append(
        {
            "URL": f.landing_url or f.pdf_url,
            "content-type": "unspecified",
            "content-version": "vor",
            "intended-application": "similarity-checking",
        }
    )
    return links


def s2_pdf(f: Facts) -> dict[str, str] | None:
    """Semantic Scholar's openAccessPdf (with its CLOSED-but-a-URL quirk)."""
    if f.arxiv_id:
        return {"url": arxiv_pdf(f.arxiv_id), "status": "GREEN"}
    if f.is_open and f.pdf_url:
        return {"url": f.pdf_url, "status": f.oa.upper()}
    if f.pmcid and f.pmc_pdf:
        return {"url": pmc_old_pdf(f.pmcid), "status": "GREEN"}
    if f.repo_url:
        return {"url": f.repo_url, "status": "GREEN"}
    if f.s2_closed_url and f.pdf_url:
        return {"url": f.pdf_url, "status": "CLOSED"}
    return None


def epmc_fulltext(f: Facts) -> list[dict[str, str]]:
    """Europe PMC's fullTextUrlList.fullTextUrl[] in the order the service gives it."""
    out: list[dict[str, str]] = []
    if f.pmcid:
        if f.epmc_oa:
            out.append(
                {
                    "availability": "Open access",
                    "availabilityCode": "OA",
                    "documentStyle": "pdf",
                    "site": "Europe_PMC",
                    "url": f"https://europepmc.org/articles/{f.pmcid}?pdf=render",
                }
            )
            out.append(
                {
                    "availability": "Open access",
                    "availabilityCode": "OA",
                    "documentStyle": "html",
                    "site": "Europe_PMC",
                    "url": f"https://europepmc.org/articles/{f.pmcid}",
                }
            )
        if f.pmc_pdf:
            pdf = (
                f"https://www.ncbi.nlm.nih.gov/pmc/articles/pmid/{f.pmid}/pdf/?tool=EBI"
                if f.pmid
                else f"https://www.ncbi.nlm.nih.gov/pmc/articles/{f.pmcid}/pdf/"
            )
            out.append(
                {
                    "availability": "Free",
                    "availabilityCode": "F",
                    "documentStyle": "pdf",
                    "site": "PubMedCentral",
                    "url": pdf,
                }
            )
        out.append(
            {
                "availability": "Free",
                "availabilityCode": "F",
                "documentStyle": "html",
                "site": "PubMedCentral",
                "url": f"https://www.ncbi.nlm.nih.gov/pmc/articles/{f.pmcid}",
            }
        )
    if f.doi:
        out.append(
            {
                "availability": "Subscription required",
                "availabilityCode": "S",
                "documentStyle": "doi",
                "site": "DOI",
                "url": f"https://doi.org/{f.doi}",
            }
        )
    return out


def epmc_candidates(f: Facts) -> list[str]:
    entries = [
        e
        for e in epmc_fulltext(f)
        if e["documentStyle"] == "pdf" and e["availabilityCode"] in ("OA", "F")
    ]
    entries.sort(key=lambda e: e["site"] != "Europe_PMC")
    return [e["url"] for e in entries]


@dataclass(frozen=True, slots=True)
class Links:
    """The PDF pointers of an HTML page, hrefs exactly as written in the page."""

    meta: str | None = None
    alternates: tuple[str, ...] = ()
    anchors: tuple[tuple[str, str], ...] = ()
    #: what the platform's rule reads on a platform-shaped page (sandbox/platforms.py)
    platform: tuple[str, ...] = ()
    #: the rule reads the page: its links replace the generic anchors (web/landing.py)
    platform_read: bool = False

    def candidates(self) -> list[str]:
        """landing_scrape's order: the platform rule's links, meta, link alternate, then
        anchors saying PDF (unresolved) unless the platform rule read the page."""
        out = list(self.platform)
        out += [self.meta] if self.meta else []
        out += list(self.alternates)
        if not self.platform_read:
            out += [href for text, href in self.anchors
                    if "pdf" in text.lower() or "pdf" in href.lower()]
        return out

    def named(self) -> list[str]:
        """What doi_redirect and DOAJ take from a page: the platform rule's links, then
        citation_pdf_url (DOAJ: and link alternate), no anchors."""
        return list(self.platform) + ([self.meta] if self.meta else [])


def doaj_fulltext(f: Facts) -> str | None:
    """The landing page DOAJ links as the article's `fulltext` (HTML), or None when the
    work is not in DOAJ: DOAJ indexes the articles of fully open (gold) journals."""
    return f.landing_url if f.oa == "gold" and f.doi else None


def core_copies(f: Facts) -> tuple[str, str] | None:
    """(CORE's cached PDF, the repository file) of a work CORE aggregated, or None: CORE
    harvests repositories, so a work has a CORE record when it has a repository copy."""
    from .model import CORE_BASE

    if not f.doi or not f.repo_url:
        return None
    return f"https://core.ac.uk/download/{CORE_BASE + f.idx}.pdf", f.repo_url


def preprint(f: Facts) -> tuple[str, str, str] | None:
    """(server, version, PDF URL) of a bioRxiv/medRxiv preprint, or None: every
    `10.1101/` DOI is one, on medRxiv when its landing page says so, with 1-3 versions
    (the details API lists each; `.full.pdf` of the latest is the file)."""
    if not f.doi or not f.doi.startswith("10.1101/"):
        return None
    server = "medrxiv" if "medrxiv" in (f.landing_url or "") else "biorxiv"
    version = str(1 + h64("preprint", f.doi) % 3)
    return server, version, f"https://www.{server}.org/content/{f.doi}v{version}.full.pdf"


def _href(url: str, relative: bool) -> str:
    if not relative:
        return url
    p = urlsplit(url)
    return p.path + ("?" + p.query if p.query else "")


def page_links(world: World, node: Node) -> Links:
    """The links a page at `node` carries (landing, arXiv abstract, PMC article, snapshot)."""
    f = world.facts(node.idx)
    if node.variant == "arxiv_abs" and f.arxiv_id:
        return Links(
            meta=f"https://arxiv.org/pdf/{f.arxiv_id}",
            anchors=(
                ("View PDF", f"/pdf/{f.arxiv_id}"),
                ("HTML (experimental)", f"/html/{f.arxiv_id}"),
            ),
        )
    if node.variant == "pmc_article":
        if not (f.pmc_pdf and f.pmcid):
            return Links()
        return Links(
            meta=f"https://pmc.ncbi.nlm.nih.gov/articles/{f.pmcid}/pdf/{f.pmc_file}",
            anchors=(("PDF (" + str(f.pdf_size // 1000) + " KB)", f"pdf/{f.pmc_file}"),),
        )
    if node.variant == "snapshot":
        return Links(meta=f.pdf_url) if f.pdf_url else Links()
    if node.variant == "landing" and f.pub is not None and f.pdf_url and f.platform:
        from .platforms import shape_links

        return shape_links(f)
    if node.variant == "landing" and f.pub is not None and f.pdf_url:
        pub = f.pub
        target = {"pdf": f.pdf_url, "viewer": f.viewer_url or f.pdf_url}
        meta = target[pub.meta] if pub.meta else None
        alternates = (_href(f.pdf_url, pub.relative),) if pub.link_alternate else ()
        anchors = tuple((text, _href(target[t], pub.relative)) for text, t in pub.anchors)
        return Links(meta=meta, alternates=alternates, anchors=anchors)
    return Links()
