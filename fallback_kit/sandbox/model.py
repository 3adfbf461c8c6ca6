"""The World's vocabulary: the nodes it answers with, the facts it decides per work, the
truth it reports, and the small rules (ids, hosts, titles) that routes, renderers and the
truth share with the World without importing it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..contracts.registry import SOURCE_NAMES
from ..contracts.works import Work
from ._hash import h64, pick
from .publishers import PUBLISHER_HOSTS, Publisher

if TYPE_CHECKING:  # pragma: no cover
    from .world import World

#: registry sources the sandbox does not simulate (every one is, since zenodo and wiley_tdm
#: joined: see docs/sandbox.md)
NOT_SIMULATED: frozenset[str] = frozenset()
#: the sources the sandbox simulates, in the registry's order (contracts/registry.py)
SOURCES = tuple(name for name in SOURCE_NAMES if name not in NOT_SIMULATED)
HIDDEN_PMCID_BASE = 50_000_000
HIDDEN_PMID_BASE = 60_000_000
ZENODO_BASE = 10_000_000
HAL_BASE = 4_000_000
CORE_BASE = 500_000_000
ROBOTS_PREFIX = "/restricted"
#: a Zenodo DOI names a record: 10.5281/zenodo.<record id>
_ZENODO_DOI = re.compile(r"^10\.5281/zenodo\.(\d+)$")

_WORDS_A = ("Adaptive", "Robust", "Scalable", "Comparative", "Longitudinal", "Bayesian",
            "Structural", "Genomic", "Quantum", "Distributed", "Spatial", "Neural", "Clinical",
            "Evolutionary", "Stochastic", "Open")
_WORDS_B = ("analysis", "inference", "models", "dynamics", "signatures", "estimation",
            "networks", "mechanisms", "outcomes", "representations", "assessment", "patterns")
_WORDS_C = ("protein folding", "coastal wetlands", "graph neural networks", "urban mobility",
            "cortical circuits", "soil microbiomes", "dark matter halos", "citation networks",
            "antibiotic resistance", "sea ice", "language models", "cardiac tissue",
            "galaxy clusters", "crop yields", "immune memory", "river deltas")
_WORDS_D = ("in practice", "at scale", "under uncertainty", "across cohorts", "revisited",
            "from observational data", "in low-resource settings", "over two decades")


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceTruth:
    """What one source can reach for one work, following its documented procedure."""

    work_id: str
    source: str
    holds_pdf: bool
    pdf_url: str | None
    fault: str | None
    transient: int
    requests: tuple[tuple[str, float], ...]

    @property
    def expected_ms(self) -> float:
        """Sum of the World-time delays of the requests (unscaled)."""
        return sum(ms for _, ms in self.requests)


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """Everything decided about one work (derived from a hash of seed and work)."""

    idx: int
    work: Work
    title: str
    year: int
    doi: str | None
    arxiv_id: str | None
    pmcid: str | None
    pmid: str | None
    pub: Publisher | None
    pub_host: str | None
    key: str | None
    oa: str  # gold | hybrid | bronze | closed | none
    landing_url: str | None
    doi_hops: tuple[str, ...]
    doi_fault: str | None
    blocked: bool
    robots: bool
    pdf_url: str | None
    viewer_url: str | None
    pmc_pdf: bool
    pmc_file: str | None
    epmc_oa: bool
    epmc_found: bool
    repo_url: str | None
    archived_landing: bool
    archived_pdf: bool
    ts_landing: str
    ts_pdf: str
    unpaywall: bool
    openalex: bool
    crossref: bool
    s2: bool
    s2_closed_url: bool
    pdf_size: int
    #: Unpaywall and OpenAlex list the preprint before the published version (the
    #: `preprint_first` trap): the client's `accept.versions` order must put it back
    preprint_first: bool = False
    #: the real platform whose page shape the landing page takes (sandbox/platforms.py)
    platform: str | None = None

    @property
    def is_open(self) -> bool:
        return self.oa in ("gold", "hybrid", "bronze")


class Node:
    """What one URL answers: a kind, a status and, for faults, what goes wrong.

    kind: json | atom | text | html | pdf | redirect | error.  `variant` says which
    API or page; `role` says what the URL is to a work (landing, hop, pdf, doi, api),
    which the Wayback Machine uses to know what it archived.
    """

    __slots__ = ("kind", "variant", "status", "idx", "location", "fault", "transient",
                 "transient_kind", "key", "host", "role", "data")

    def __init__(self, kind: str, variant: str = "", *, status: int = 200, idx: int = -1,
                 location: str | None = None, key: str = "", host: str = "",
                 role: str = "", data: Any = None) -> None:
        self.kind = kind
        self.variant = variant
        self.status = status
        self.idx = idx
        self.location = location
        self.fault: str | None = None
        self.transient = 0
        self.transient_kind: str | None = None
        self.key = key
        self.host = host
        self.role = role
        self.data = data

    def __repr__(self) -> str:
        extra = f" -> {self.location}" if self.location else ""
        fault = f" fault={self.fault}" if self.fault else ""
        return f"<Node {self.kind}/{self.variant} {self.status} work#{self.idx}{extra}{fault}>"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-").lower() or "article"


# -- helpers ---------------------------------------------------------------------------------
_SERVICE_HOSTS = frozenset({
    "api.unpaywall.org", "arxiv.org", "export.arxiv.org", "www.ncbi.nlm.nih.gov",
    "pmc.ncbi.nlm.nih.gov", "doi.org", "dx.doi.org", "www.ebi.ac.uk", "europepmc.org",
    "archive.org", "web.archive.org", "api.openalex.org", "api.crossref.org",
    "api.semanticscholar.org", "linkinghub.elsevier.com", "pdf.sciencedirectassets.com",
    "zenodo.org", "hal.science", "doaj.org", "api.biorxiv.org", "www.biorxiv.org",
    "www.medrxiv.org", "api.core.ac.uk", "core.ac.uk", "api.wiley.com",
})
SERVICE_HOSTS = _SERVICE_HOSTS
KNOWN_PUBLISHER_HOSTS = frozenset(PUBLISHER_HOSTS)


def zenodo_recid(doi: str | None) -> int | None:
    """The record id a Zenodo DOI names, else None."""
    m = _ZENODO_DOI.match(doi or "")
    return int(m.group(1)) if m else None


def _strip_version(arxiv_id: str) -> str:
    return re.sub(r"v\d+$", "", arxiv_id)


def _url_key(url: str) -> str:
    parts = urlsplit(url.strip())
    key = (parts.hostname or "").lower() + (parts.path or "/")
    if parts.query:
        key += "?" + parts.query
    return key


def _pii(idx: int, doi: str) -> str:
    return f"S{idx:08d}{h64('pii', doi) % 10**8:08d}"


def pii_index(pii: str) -> int | None:
    if len(pii) == 17 and pii[0] == "S" and pii[1:].isdigit():
        return int(pii[1:9])
    return None


def _timestamp(seed: int, wid: str, what: str, year: int) -> str:
    h = h64(seed, "ts", what, wid)
    y = min(2024, year + 1 + h % 6)
    month = 1 + (h >> 8) % 12
    day = 1 + (h >> 16) % 28
    hh, mm, ss = (h >> 24) % 24, (h >> 32) % 60, (h >> 40) % 60
    return f"{y:04d}{month:02d}{day:02d}{hh:02d}{mm:02d}{ss:02d}"


def _synthetic_title(seed: int, wid: str) -> str:
    return (f"{pick(_WORDS_A, seed, 'ta', wid)} {pick(_WORDS_B, seed, 'tb', wid)} of "
            f"{pick(_WORDS_C, seed, 'tc', wid)} {pick(_WORDS_D, seed, 'td', wid)}")


# -- what pages link, and who wrote what --------------------------------------------
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


_GIVEN = (
    "Maria",
    "Wei",
    "Aisha",
    "John",
    "Elena",
    "Kenji",
    "Priya",
    "Lucas",
    "Fatima",
    "Olga",
    "Tomás",
    "Hannah",
    "Jonas",
    "Amara",
    "Ravi",
    "Sofia",
)
_FAMILY = (
    "Garcia",
    "Chen",
    "Okafor",
    "Smith",
    "Rossi",
    "Tanaka",
    "Patel",
    "Silva",
    "Haddad",
    "Ivanova",
    "Müller",
    "Nguyen",
    "Kowalski",
    "Andersen",
    "Mensah",
    "Dubois",
)


def authors(world: World, f: Facts) -> list[tuple[str, str]]:
    n = 1 + h64(world.seed, "nauth", f.work.work_id) % 5
    return [
        (
            pick(_GIVEN, world.seed, "given", f.work.work_id, i),
            pick(_FAMILY, world.seed, "family", f.work.work_id, i),
        )
        for i in range(n)
    ]


def other_work(world: World, idx: int) -> int:
    """The work whose PDF a `wrong_paper` location serves instead (the next one)."""
    return (idx + 1) % len(world) if len(world) > 1 else idx
