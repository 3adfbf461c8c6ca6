"""Ground truth: each source's documented procedure replayed on the World's nodes.

The walk makes the same requests a correct source makes, in the same order, and
records each one's World-time delay. Transient failures are not walked (they are
reported as a count); permanent faults end a candidate (`html_as_pdf`, `paywall`,
...) or the whole path (`hang`, `slow_body`, API faults). Robots rules are respected
(a disallowed URL is never requested) except by the sources named in
`ignoring_robots`: a plan decides per source (`robots_respect`), so the coverage a
plan can reach depends on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin, urlsplit

from ..contracts.plan import PDF_VERSIONS
from ..contracts.registry import SOURCE_SPECS
from .answers import (
    core_copies,
    crossref_links,
    doaj_fulltext,
    epmc_candidates,
    oa_locations,
    page_links,
    preprint,
    s2_pdf,
    wiley_tdm_url,
    zenodo_file_url,
    zenodo_record,
)
from .faults import PDF_STILL_VALID
from .model import ROBOTS_PREFIX, SOURCES, Node, SourceTruth, zenodo_recid

if TYPE_CHECKING:  # pragma: no cover
    from .world import Facts, World

MAX_REDIRECTS = 20
_TERMINAL = frozenset({"hang", "slow_body"})
_API_BROKEN = frozenset({"hang", "slow_body", "malformed_json", "oversized", "gzip_bomb"})


def robots_disallowed(url: str) -> bool:
    """What the simulated robots.txt files forbid (only publisher paths under /restricted/)."""
    p = urlsplit(url)
    return (p.path or "").startswith(ROBOTS_PREFIX + "/")


class _Walk:
    def __init__(self, world: World, *, robots: bool = True) -> None:
        self.world = world
        self.robots = robots
        self.requests: list[tuple[str, float]] = []
        self.transient: int | None = None

    def get(self, url: str) -> Node:
        node = self.world.lookup_url(url)
        # a source retries its whole path: every transient failure on any of its requests
        # costs one try, so the path's count is the sum over its requests
        self.transient = (self.transient or 0) + node.transient
        self.requests.append((url, self.world.request_ms(node)))
        return node

    def follow(self, url: str) -> tuple[Node | None, str, str | None]:
        """GET following redirects: (final node, final url, fault or None)."""
        for _ in range(MAX_REDIRECTS + 1):
            if self.robots and robots_disallowed(url):
                return None, url, "robots_disallow"
            node = self.get(url)
            if node.fault in _TERMINAL:
                return node, url, node.fault
            if node.kind == "redirect" and node.location:
                url = urljoin(url, node.location)
                continue
            return node, url, None
        return None, url, "redirect_loop"

    def check(self, url: str) -> tuple[bool, str, str | None]:
        """(valid, final url, fault): the Range GET a source makes to validate a PDF."""
        node, final, fault = self.follow(url)
        if fault is not None or node is None:
            return False, final, fault
        if node.kind == "pdf":
            valid = node.fault is None or node.fault in PDF_STILL_VALID
            return valid, final, None if valid else node.fault
        return False, final, _reason(node)

    def candidates(self, urls: list[str], base: str | None = None) -> tuple[bool, str | None,
                                                                            str | None]:
        """Check candidates in order (deduplicated); the first valid wins."""
        seen: set[str] = set()
        first_fault: str | None = None
        for raw in urls:
            url = urljoin(base, raw) if base else raw
            if url in seen:
                continue
            seen.add(url)
            ok, final, fault = self.check(url)
            if ok:
                return True, final, None
            first_fault = first_fault or fault
            if fault in _TERMINAL:
                return False, None, fault
        return False, None, first_fault

    def result(self, f: Facts, source: str, ok: bool, url: str | None,
               fault: str | None) -> SourceTruth:
        return SourceTruth(work_id=f.work.work_id, source=source, holds_pdf=ok,
                           pdf_url=url if ok else None, fault=None if ok else fault,
                           transient=self.transient or 0, requests=tuple(self.requests))


def _reason(node: Node) -> str:
    if node.variant == "challenge":
        return "blocked"
    if node.variant == "paywall":
        return "paywall"
    if node.variant == "viewer":
        return "html_viewer"
    if node.status == 404:
        return "not_found"
    if node.kind == "html":
        return "not_pdf"
    return f"http_{node.status}" if node.status >= 400 else "not_pdf"


def _not_applicable(f: Facts, source: str) -> SourceTruth:
    return SourceTruth(work_id=f.work.work_id, source=source, holds_pdf=False, pdf_url=None,
                       fault="not_applicable", transient=0, requests=())


def _api(walk: _Walk, url: str, query: str = "") -> Node | str:
    """An API request of a path; a broken answer ends the path (returns its fault)."""
    parts = urlsplit(url)
    q = parts.query + ("&" if parts.query and query else "") + query
    node = walk.world.lookup(parts.hostname or "", parts.path, q)
    walk.transient = (walk.transient or 0) + node.transient
    walk.requests.append((url, walk.world.request_ms(node)))
    if node.fault in _API_BROKEN:
        return node.fault or ""
    return node


def _by_version(pairs: list[tuple[str | None, str | None]]) -> list[str]:
    """Candidate URLs as a source orders them under the default plan (`accept.versions`):
    repeats dropped (the first keeps its place), then published before accepted before
    submitted, unknown last, the service's order breaking ties."""
    first: dict[str, str | None] = {}
    for url, version in pairs:
        if url and url not in first:
            first[url] = version
    rank = {v: i for i, v in enumerate(PDF_VERSIONS)}
    return sorted(first, key=lambda u: rank.get(first[u] or "", len(rank)))


def _unpaywall(walk: _Walk, f: Facts) -> SourceTruth:
    node = _api(walk, f"https://api.unpaywall.org/v2/{f.doi}", "email=truth@sandbox.test")
    if isinstance(node, str):
        return walk.result(f, "unpaywall", False, None, node)
    if node.kind != "json":
        return walk.result(f, "unpaywall", False, None, None)
    locs = oa_locations(f)
    urls = _by_version([(loc.url_for_pdf, loc.version) for loc in locs])  # best is locs[0]
    return walk.result(f, "unpaywall", *walk.candidates(urls))


def _arxiv(walk: _Walk, f: Facts) -> SourceTruth:
    return walk.result(f, "arxiv", *walk.check(f"https://arxiv.org/pdf/{f.arxiv_id}"))


def _pmc(walk: _Walk, f: Facts) -> SourceTruth:
    pmcid = f.work.pmcid
    if pmcid is None:
        ident = f.doi or f.work.pmid
        node = _api(walk, f"https://www.ncbi.nlm.nih.gov/pmc/utils/idconv/v1.0/?ids={ident}"
                          "&format=json")
        if isinstance(node, str):
            return walk.result(f, "pmc", False, None, node)
        pmcid = f.pmcid
        if pmcid is None:
            return walk.result(f, "pmc", False, None, None)
    return walk.result(f, "pmc", *walk.check(f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/pdf/"))


def _doi_redirect(walk: _Walk, f: Facts) -> SourceTruth:
    node, final, fault = walk.follow(f"https://doi.org/{f.doi}")
    if fault is not None or node is None:
        return walk.result(f, "doi_redirect", False, None, fault)
    if node.kind == "pdf":
        return walk.result(f, "doi_redirect", *walk.check(final))
    if node.kind == "html" and node.status == 200:
        named = page_links(walk.world, node).named()  # the platform rule's, citation_pdf_url
        if named:
            return walk.result(f, "doi_redirect", *walk.candidates(named, base=final))
        return walk.result(f, "doi_redirect", False, None, None)
    return walk.result(f, "doi_redirect", False, None, _reason(node))


def _landing_scrape(walk: _Walk, f: Facts) -> SourceTruth:
    start = f.work.landing_url or f"https://doi.org/{f.doi}"
    node, final, fault = walk.follow(start)
    if fault is not None or node is None:
        return walk.result(f, "landing_scrape", False, None, fault)
    if node.kind == "pdf":
        return walk.result(f, "landing_scrape", *walk.check(final))
    if node.kind != "html" or node.status != 200:
        return walk.result(f, "landing_scrape", False, None, _reason(node))
    cands = page_links(walk.world, node).candidates()
    return walk.result(f, "landing_scrape", *walk.candidates(cands, base=final))


def _europe_pmc(walk: _Walk, f: Facts) -> SourceTruth:
    if f.work.doi:
        q = f'DOI:"{f.work.doi}"'
    elif f.work.pmcid:
        q = f"PMCID:{f.work.pmcid}"
    else:
        q = f"EXT_ID:{f.work.pmid} AND SRC:MED"
    node = _api(walk, "https://www.ebi.ac.uk/europepmc/webservices/rest/search?query="
                + quote(q, safe=":") + "&resultType=core&format=json")
    if isinstance(node, str):
        return walk.result(f, "europe_pmc", False, None, node)
    if node.idx < 0:
        return walk.result(f, "europe_pmc", False, None, None)
    return walk.result(f, "europe_pmc", *walk.candidates(epmc_candidates(f)))


def _wayback(walk: _Walk, f: Facts) -> SourceTruth:
    landing = f.work.landing_url
    if landing is None:
        node = walk.get(f"https://doi.org/{f.doi}")
        if node.fault == "hang":
            return walk.result(f, "wayback", False, None, "hang")
        if node.kind != "redirect" or not node.location:
            return walk.result(f, "wayback", False, None, None)
        landing = node.location
    hit, fault = _cdx(walk, landing)
    if hit is None:
        return walk.result(f, "wayback", False, None, fault)
    snap = walk.get(f"https://web.archive.org/web/{hit}id_/{landing}")
    if snap.fault in _TERMINAL:
        return walk.result(f, "wayback", False, None, snap.fault)
    meta = page_links(walk.world, snap).meta if snap.kind == "html" and snap.status == 200 \
        else None
    if not meta:
        return walk.result(f, "wayback", False, None, None)
    pdf = urljoin(landing, meta)
    hit, fault = _cdx(walk, pdf)
    if hit is None:
        return walk.result(f, "wayback", False, None, fault)
    return walk.result(f, "wayback", *walk.check(f"https://web.archive.org/web/{hit}id_/{pdf}"))


def _cdx(walk: _Walk, url: str) -> tuple[str | None, str | None]:
    """(newest 200 capture's timestamp or None, the fault of a broken answer or None)."""
    from .routes import archived

    node = _api(walk, f"https://web.archive.org/cdx/search/cdx?url={quote(url, safe=':/')}"
                      "&output=json&filter=statuscode:200")
    if isinstance(node, str):
        return None, node
    hit = archived(walk.world, url)
    return (hit[2] if hit else None), None


def _openalex(walk: _Walk, f: Facts) -> SourceTruth:
    node = _api(walk, f"https://api.openalex.org/works/doi:{f.doi}")
    if isinstance(node, str):
        return walk.result(f, "openalex", False, None, node)
    if node.kind != "json":
        return walk.result(f, "openalex", False, None, None)
    from .render import openalex_locations

    locs = openalex_locations(f)
    best = next((loc for loc in locs if loc["is_oa"]), None)
    urls = _by_version([(best["pdf_url"], best.get("version")) if best else (None, None)]
                       + [(loc["pdf_url"], loc.get("version")) for loc in locs])
    return walk.result(f, "openalex", *walk.candidates(urls))


def _crossref(walk: _Walk, f: Facts) -> SourceTruth:
    node = _api(walk, f"https://api.crossref.org/works/{f.doi}")
    if isinstance(node, str):
        return walk.result(f, "crossref", False, None, node)
    if node.kind != "json":
        return walk.result(f, "crossref", False, None, None)
    urls = [lk["URL"] for lk in crossref_links(f) if lk["content-type"] == "application/pdf"]
    return walk.result(f, "crossref", *walk.candidates(urls))


def _semantic_scholar(walk: _Walk, f: Facts) -> SourceTruth:
    w = f.work
    if w.doi:
        ident = f"DOI:{w.doi}"
    elif w.arxiv_id:
        ident = f"ARXIV:{w.arxiv_id}"
    elif w.pmcid:
        ident = f"PMCID:{w.pmcid[3:]}"
    else:
        ident = f"PMID:{w.pmid}"
    node = _api(walk, f"https://api.semanticscholar.org/graph/v1/paper/{ident}",
                "fields=openAccessPdf")
    if isinstance(node, str):
        return walk.result(f, "semantic_scholar", False, None, node)
    if node.kind != "json":
        return walk.result(f, "semantic_scholar", False, None, None)
    oa = s2_pdf(f)
    urls = [oa["url"]] if oa and oa.get("url") else []
    return walk.result(f, "semantic_scholar", *walk.candidates(urls))


def _doaj(walk: _Walk, f: Facts) -> SourceTruth:
    """The DOI search, then the full-text page's own links (no anchor guessing)."""
    node = _api(walk, "https://doaj.org/api/search/articles/" + quote(f'doi:"{f.doi}"', safe=""))
    if isinstance(node, str):
        return walk.result(f, "doaj", False, None, node)
    page_url = doaj_fulltext(f) if node.idx >= 0 else None
    if page_url is None:
        return walk.result(f, "doaj", False, None, None)
    page, final, fault = walk.follow(page_url)
    if fault is not None or page is None:
        return walk.result(f, "doaj", False, None, fault)
    if page.kind == "pdf":
        return walk.result(f, "doaj", page.fault is None, final, page.fault)
    if page.kind != "html" or page.status != 200:
        return walk.result(f, "doaj", False, None, _reason(page))
    links = page_links(walk.world, page)
    cands = links.named() + list(links.alternates)
    return walk.result(f, "doaj", *walk.candidates(cands, base=final))


def _biorxiv(walk: _Walk, f: Facts) -> SourceTruth:
    """The details API on bioRxiv, then medRxiv; the latest version's .full.pdf."""
    if not (f.work.doi or "").startswith("10.1101/"):
        return _not_applicable(f, "biorxiv")
    pre = preprint(f)
    for server in ("biorxiv", "medrxiv"):
        node = _api(walk, f"https://api.biorxiv.org/details/{server}/{f.work.doi}/na/JSON")
        if isinstance(node, str):
            return walk.result(f, "biorxiv", False, None, node)
        if node.idx >= 0 and pre is not None:
            return walk.result(f, "biorxiv", *walk.check(pre[2]))
    return walk.result(f, "biorxiv", False, None, None)


def _core(walk: _Walk, f: Facts) -> SourceTruth:
    """The DOI search (with a key configured), then CORE's copy, then the repository's."""
    node = _api(walk, "https://api.core.ac.uk/v3/search/works",
                "q=" + quote(f'doi:"{f.doi}"') + "&limit=5")
    if isinstance(node, str):
        return walk.result(f, "core", False, None, node)
    copies = core_copies(f) if node.idx >= 0 else None
    if copies is None:
        return walk.result(f, "core", False, None, None)
    return walk.result(f, "core", *walk.candidates(list(copies)))


def _zenodo(walk: _Walk, f: Facts) -> SourceTruth:
    """A Zenodo DOI's record: an open publication's paper (its largest PDF not named a
    supplement), else nothing."""
    if zenodo_recid(f.work.doi) is None:
        return _not_applicable(f, "zenodo")
    node = _api(walk, f"https://zenodo.org/api/records/{zenodo_recid(f.work.doi)}")
    if isinstance(node, str):
        return walk.result(f, "zenodo", False, None, node)
    rec = zenodo_record(f) if node.kind == "json" else None
    if rec is None or rec.rtype != "publication" or rec.access != "open" or not rec.paper:
        return walk.result(f, "zenodo", False, None, None)
    return walk.result(f, "zenodo", *walk.check(zenodo_file_url(rec.recid, rec.paper)))


def _wiley_tdm(walk: _Walk, f: Facts) -> SourceTruth:
    """Crossref's record, then its Wiley text-mining link (with a token configured, as
    the truth assumes: without one the source is skipped before any request)."""
    node = _api(walk, f"https://api.crossref.org/works/{f.doi}")
    if isinstance(node, str):
        return walk.result(f, "wiley_tdm", False, None, node)
    tdm = wiley_tdm_url(f) if node.kind == "json" else None
    if tdm is None:
        return walk.result(f, "wiley_tdm", False, None, None)
    return walk.result(f, "wiley_tdm", *walk.check(tdm))


_PROCEDURES = {
    "unpaywall": _unpaywall, "arxiv": _arxiv, "pmc": _pmc, "doi_redirect": _doi_redirect,
    "landing_scrape": _landing_scrape, "europe_pmc": _europe_pmc, "wayback": _wayback,
    "openalex": _openalex, "crossref": _crossref, "semantic_scholar": _semantic_scholar,
    "doaj": _doaj, "zenodo": _zenodo, "biorxiv": _biorxiv, "core": _core,
    "wiley_tdm": _wiley_tdm,
}
assert tuple(_PROCEDURES) == SOURCES


def truth_for_index(world: World, idx: int,
                    ignoring_robots: frozenset[str] = frozenset()) -> dict[str, SourceTruth]:
    f = world.facts(idx)
    out: dict[str, SourceTruth] = {}
    for source, procedure in _PROCEDURES.items():
        if not any(getattr(f.work, field) for field in SOURCE_SPECS[source].needs):
            out[source] = _not_applicable(f, source)
        else:
            out[source] = procedure(_Walk(world, robots=source not in ignoring_robots), f)
    return out
