"""The structured answers of each service for one work, derived from its locations.

Both the renderer (JSON/HTML bytes) and the ground truth (candidate URLs) read these,
so what the server says and what the truth expects cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from ._hash import h64
from .model import Links
from .platforms import shape_links

if TYPE_CHECKING:  # pragma: no cover
    from .world import Facts, Node, World

__all__ = [
    "Links",
    "ZenodoFile",
    "ZenodoRecord",
    "wiley_tdm_url",
    "zenodo_record",
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


WILEY_TDM = "https://api.wiley.com/onlinelibrary/tdm/v1/articles/"


def wiley_tdm_url(f: Facts) -> str | None:
    """Wiley's text-mining URL of a Wiley work (the DOI with its slash encoded, as in the
    recorded Crossref link of 10.2903/j.efsa.2014.3550), else None."""
    if f.pub is None or f.pub.key != "wiley" or f.pdf_url is None or not f.doi:
        return None
    return WILEY_TDM + quote(f.doi, safe="")


def crossref_links(f: Facts) -> list[dict[str, str]]:
    """Crossref's link[]: the PDF with content-type application/pdf where the publisher
    deposits it (a text-mining link: it may lead to a paywall); Wiley's token-only
    text-mining link (`unspecified`, on api.wiley.com)."""
    links: list[dict[str, str]] = []
    if f.pub is None or f.pdf_url is None:
        return links
    tdm = wiley_tdm_url(f)
    if tdm is not None:
        links.append({"URL": tdm, "content-type": "unspecified", "content-version": "vor",
                      "intended-application": "text-mining"})
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
    return preprint_of(f.doi, f.landing_url)


def preprint_of(doi: str | None, landing_url: str | None) -> tuple[str, str, str] | None:
    """`preprint` from the DOI and the landing URL alone (the World places a preprint
    without a given landing page at its bioRxiv page, `preprint_page`)."""
    if not doi or not doi.startswith("10.1101/"):
        return None
    server = "medrxiv" if "medrxiv" in (landing_url or "") else "biorxiv"
    version = str(1 + h64("preprint", doi) % 3)
    return server, version, f"https://www.{server}.org/content/{doi}v{version}.full.pdf"


def preprint_page(pdf_url: str) -> str:
    """The preprint's page (`/content/<doi>v<n>`) of its `.full.pdf`."""
    return pdf_url[: -len(".full.pdf")]


def biorxiv_page_links(f: Facts) -> Links:
    """A bioRxiv page's PDF links (postlight's 2019 recording): `citation_pdf_url` and
    the "Download PDF" `a.article-dl-pdf-link`, both the latest version's `.full.pdf`."""
    pre = preprint(f)
    if pre is None:
        return Links()
    return Links(meta=pre[2], anchors=(("Download PDF", pre[2]),), platform=(pre[2],),
                 platform_read=True)


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
    if node.variant == "zenodo_page":
        return zenodo_page_links(f)
    if node.variant == "biorxiv_page":
        return biorxiv_page_links(f)
    if node.variant == "snapshot":
        return Links(meta=f.pdf_url) if f.pdf_url else Links()
    if node.variant == "landing" and f.pub is not None and f.pdf_url and f.platform:
        return shape_links(f)
    if node.variant == "landing" and f.pub is not None and f.pdf_url:
        pub = f.pub
        target = {"pdf": f.pdf_url, "viewer": f.viewer_url or f.pdf_url}
        meta = target[pub.meta] if pub.meta else None
        alternates = (_href(f.pdf_url, pub.relative),) if pub.link_alternate else ()
        anchors = tuple((text, _href(target[t], pub.relative)) for text, t in pub.anchors)
        return Links(meta=meta, alternates=alternates, anchors=anchors)
    return Links()


@dataclass(frozen=True, slots=True)
class ZenodoFile:
    """One file of a Zenodo record: its key (file name), size and MIME type."""

    key: str
    size: int
    mime: str


@dataclass(frozen=True, slots=True)
class ZenodoRecord:
    """The Zenodo record a Zenodo DOI names: its resource type, access, and files in the
    API's order (recorded: record 5244404 lists its supplement before the paper)."""

    recid: int
    rtype: str  # publication | presentation | dataset | software
    access: str  # open | restricted
    files: tuple[ZenodoFile, ...]
    paper: str | None  # the key of the paper's PDF (a publication's)

    def pdfs(self) -> list[ZenodoFile]:
        """The PDF files in the order a record page lists them (by key)."""
        return sorted((z for z in self.files if z.mime == "application/pdf"),
                      key=lambda z: z.key)


#: resource types of the simulated records and their shares (recorded examples:
#: publication/article 5244404, presentation 8173303, dataset 10794563, software 7391177)
_ZENODO_TYPES = {"publication": 0.7, "presentation": 0.1, "dataset": 0.15, "software": 0.05}


def zenodo_file_url(recid: int, key: str) -> str:
    """The file's `links.self` in the current API (`.../files/<key>/content`)."""
    return f"https://zenodo.org/api/records/{recid}/files/{key}/content"


def zenodo_record(f: Facts) -> ZenodoRecord | None:
    """The record of a work with a Zenodo DOI, else None. A publication holds the paper
    (the largest PDF), sometimes a supplement and a small table PDF listed before it; a
    presentation one PDF; a dataset data and sometimes an explanatory PDF; software a
    zip. One record in ten is restricted. Every PDF file serves the work's PDF."""
    from ._hash import weighted
    from .model import zenodo_recid

    recid = zenodo_recid(f.doi)
    if recid is None or not f.doi:
        return None
    rtype = weighted(dict(_ZENODO_TYPES), "zenodo-type", f.doi)
    access = "restricted" if h64("zenodo-access", f.doi) % 10 == 0 else "open"
    stem = re.sub(r"[^A-Za-z0-9]+", "_", " ".join(f.title.split()[:6])).strip("_") or "paper"
    flip = h64("zenodo-files", f.doi)
    pdf, zipped = "application/pdf", "application/zip"
    files: list[ZenodoFile] = []
    paper = None
    if rtype == "publication":
        paper = f"{stem}.pdf"
        if flip % 5 < 2:
            files.append(ZenodoFile(f"{stem}_Supplementary.pdf", f.pdf_size // 5, pdf))
        files.append(ZenodoFile(paper, f.pdf_size, pdf))
        if flip % 3 == 0:
            files.append(ZenodoFile("acknowledgement_table.pdf", 5335, pdf))
    elif rtype == "presentation":
        files.append(ZenodoFile(f"{stem}-slides.pdf", f.pdf_size, pdf))
    elif rtype == "dataset":
        files.append(ZenodoFile("Data.zip", 40_000_000 + flip % 10**6, zipped))
        if flip % 3 == 0:
            files.append(ZenodoFile("explanation.pdf", 60_000, pdf))
    else:
        files.append(ZenodoFile(f"{stem}-v1.0.zip", 2_000_000 + flip % 10**5, zipped))
    return ZenodoRecord(recid, rtype, access, tuple(files), paper)


def zenodo_page_links(f: Facts) -> Links:
    """A record page's PDF links: JSON-LD `DataDownload` content URLs (what the zenodo
    platform rule reads; it reads the page whenever files are listed) and the files'
    `link rel=alternate type=application/pdf`. A restricted record lists no files."""
    rec = zenodo_record(f)
    if rec is None or rec.access != "open":
        return Links()
    pdfs = rec.pdfs()
    return Links(
        alternates=tuple(f"https://zenodo.org/records/{rec.recid}/files/{z.key}" for z in pdfs),
        platform=tuple(zenodo_file_url(rec.recid, z.key) for z in pdfs),
        platform_read=bool(rec.files),
    )
