"""The World: a deterministic function of (works, profile, seed) that says what every
URL of the simulated scholarly web answers.

Each work has *locations* (publisher version, PMC copy, arXiv, a repository copy,
archive snapshots), each valid or broken; every API's answer is derived from them,
so the services agree with each other the way the real ones do. Facts are decided
lazily from a hash of (seed, work), so building a World of 100,000 works costs a few
dict inserts per work. `lookup()` maps a URL to a `Node` (what to answer, with which
fault); the server renders nodes and `truth()` walks them, so both see the same web.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..contracts.works import Work, read_works
from ._hash import h64, lognormal_ms, u01, weighted
from .answers import preprint_of, preprint_page
from .faults import (
    API_FAULTS,
    DOI_FAULTS,
    HANG_MS,
    ORDER_FAULTS,
    PDF_FAULTS,
    SLOW_BODY_MS,
    TRANSIENT_FAULTS,
    FaultRates,
)
from .latency import DEFAULT_LATENCY, PUBLISHER_LATENCY
from .model import (
    _SERVICE_HOSTS,
    HAL_BASE,
    HIDDEN_PMCID_BASE,
    HIDDEN_PMID_BASE,
    ROBOTS_PREFIX,
    SOURCES,
    ZENODO_BASE,
    Facts,
    Node,
    SourceTruth,
    _pii,
    _slug,
    _strip_version,
    _synthetic_title,
    _timestamp,
    _url_key,
    zenodo_recid,
)
from .platforms import ALWAYS_SHAPED, SHAPES, Site, own_site, site_key
from .profiles import Profile, get_profile
from .publishers import (
    PUBLISHERS,
    Publisher,
    publisher_for_doi,
    springeropen_host,
)

__all__ = ["SOURCES", "Facts", "Node", "SourceTruth", "World"]

class World:
    """The simulated scholarly web for a list of works; see the module docstring."""

    def __init__(self, works: list[Work], profile: Profile, seed: int, faults: FaultRates,
                 latency: Mapping[str, tuple[float, float]]) -> None:
        self.works = works
        self.profile_spec = profile
        self.profile = profile.name
        self.seed = seed
        self.faults = faults
        self.latency = {**DEFAULT_LATENCY, **latency}
        self._by_id: dict[str, int] = {}
        self._doi: dict[str, int] = {}
        self._arxiv: dict[str, int] = {}
        self._pmcid: dict[str, int] = {}
        self._pmid: dict[str, int] = {}
        self._landing: dict[str, int] = {}
        self._site: dict[str, int] = {}  # repository items (platforms.site_key)
        for i, w in enumerate(works):
            self._by_id.setdefault(w.work_id, i)
            if w.doi:
                self._doi.setdefault(w.doi, i)
            if w.arxiv_id:
                self._arxiv.setdefault(w.arxiv_id.lower(), i)
                self._arxiv.setdefault(_strip_version(w.arxiv_id).lower(), i)
            if w.pmcid:
                self._pmcid.setdefault(w.pmcid, i)
            if w.pmid:
                self._pmid.setdefault(w.pmid, i)
            if w.landing_url:
                self._landing.setdefault(_url_key(w.landing_url), i)
                item = site_key(w.landing_url)
                if item is not None:
                    self._site.setdefault(item, i)
        self.facts = lru_cache(maxsize=8192)(self._facts)

    # -- construction ----------------------------------------------------------------
    @classmethod
    def build(
        cls,
        works: Iterable[Work] | str | Path | Any,
        profile: str | Profile = "mixed",
        seed: int = 0,
        *,
        faults: Mapping[str, Any] | None = None,
        latency: Mapping[str, tuple[float, float]] | None = None,
        rates: Mapping[str, Any] | None = None,
    ) -> World:
        """Build a World: works (list, CSV path or DataFrame), a profile, a seed.

        `faults` overrides fault rates (see faults.FaultRates), `latency` per-host
        (median ms, p95 ms), `rates` any Profile rate (e.g. {"archived_pdf": 1.0}).
        """
        if isinstance(works, (str, Path)) or hasattr(works, "columns"):
            report = read_works(works)
            work_list = list(report.works)
        else:
            work_list = list(works)
        spec = get_profile(profile)
        if rates:
            spec = spec.with_overrides(rates)
        for host, pair in (latency or {}).items():
            if len(pair) != 2 or not 0 <= pair[0] <= pair[1]:
                raise ValueError(f"latency[{host!r}]: expected (median_ms, p95_ms) with"
                                 f" 0 <= median <= p95, got {pair!r}")
        return cls(work_list, spec, int(seed), FaultRates.from_spec(faults), dict(latency or {}))

    def __repr__(self) -> str:
        return f"World({len(self.works)} works, profile={self.profile!r}, seed={self.seed})"

    def __len__(self) -> int:
        return len(self.works)

    # -- public helpers --------------------------------------------------------------
    def index_of(self, work_id: str) -> int:
        try:
            return self._by_id[work_id]
        except KeyError:
            raise KeyError(f"work {work_id!r} is not in this World ({len(self.works)} works)")\
                from None

    def title_of(self, work_id: str) -> str:
        """The title the work's PDFs and pages carry (synthetic if the work has none)."""
        return self.facts(self.index_of(work_id)).title

    def truth(self, *, ignoring_robots: Iterable[str] = ()) -> list[Any]:
        """Ground truth for every work and every source (works x len(SOURCES) SourceTruth).

        Sources respect robots.txt unless named in `ignoring_robots` (a plan's sources
        with `robots_respect: false`): those reach the PDFs robots.txt forbids too.
        """
        from .truth import truth_for_index

        ignoring = frozenset(ignoring_robots)
        out: list[Any] = []
        for i in range(len(self.works)):
            out.extend(truth_for_index(self, i, ignoring).values())
        return out

    def truth_for(self, work_id: str, *,
                  ignoring_robots: Iterable[str] = ()) -> dict[str, SourceTruth]:
        """Ground truth of one work, keyed by source name."""
        from .truth import truth_for_index

        return truth_for_index(self, self.index_of(work_id), frozenset(ignoring_robots))

    def delay_ms(self, host: str, key: str) -> float:
        """The World-time delay of a request (deterministic per URL key)."""
        median, p95 = self.latency.get(host, PUBLISHER_LATENCY)
        return round(lognormal_ms(median, p95, u01(self.seed, "delay", key)), 3)

    def request_ms(self, node: Node) -> float:
        """The delay of a normal answer at this node, hang and trickle included."""
        base = self.delay_ms(node.host, node.key)
        if node.fault == "hang":
            return HANG_MS
        if node.fault == "slow_body":
            return base + SLOW_BODY_MS
        return base

    # -- facts -------------------------------------------------------------------------
    def _facts(self, idx: int) -> Facts:
        """Everything the World decides about one work, in named steps. Every draw is
        keyed by the seed, the work and its own name, so no step shifts another's."""
        w = self.works[idx]
        s, wid = self.seed, w.work_id
        y0, y1 = self.profile_spec.years
        year = y0 + h64(s, "year", wid) % (y1 - y0 + 1)
        title = w.title or _synthetic_title(s, wid)
        pub, host, key, landing = self._placement(idx, w)
        own = own_site(pub.key if pub else None, w.doi, w.landing_url, title, year,
                       u01(s, "platform", wid) < self.profile_spec.platform_pages)
        if own is not None:  # a platform site of its own (DSpace, HAL, legacy HighWire)
            pub = pub if pub is not None and not own.repository else PUBLISHERS["generic"]
            host, key = own.host, w.doi if own.platform == "oup_highwire" else str(idx)
            oa = "gold" if own.repository else self._oa_status(pub, wid)
            site = self._own_site(own, pub, wid)
        else:
            oa = self._oa_status(pub, wid)
            site = self._publisher_site(pub, host, key, landing, w.doi, wid)
        doi_fault = None
        if w.doi:
            doi_fault = self.faults.draw(s, "doi.org", "doi", f"doi.org/{w.doi}", DOI_FAULTS)
        pmc = self._pmc_facts(idx, w)
        return Facts(
            idx=idx, work=w, title=title, year=year, doi=w.doi, arxiv_id=w.arxiv_id,
            pub=pub, pub_host=host, key=key, oa=oa, doi_fault=doi_fault,
            **site,
            **pmc,
            repo_url=self._repository(idx, w.doi, oa, title, wid),
            **self._archive(site["landing_url"], site["pdf_url"], year, wid),
            **self._indexes(w, pmc),
            pdf_size=6_000 + h64(s, "size", wid) % 90_000,
            preprint_first=self.faults.draw(s, "api.unpaywall.org", "oa_order", f"order/{wid}",
                                            ORDER_FAULTS) is not None,
            platform=own.platform if own is not None else self._platform(
                pub, site["landing_url"], host, wid),
        )

    def _placement(
        self, idx: int, w: Work
    ) -> tuple[Publisher | None, str | None, str | None, str | None]:
        """The work's publisher, its host, the key in its URLs, and the landing page."""
        p, s = self.profile_spec, self.seed
        doi, landing = w.doi, w.landing_url
        pub: Publisher | None = None
        host: str | None = None
        key: str | None = None
        if doi and doi.startswith("10.48550/"):
            arxiv_id = w.arxiv_id
            landing = landing or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None)
        elif doi and doi.startswith("10.1101/") and not landing:  # a preprint's own page
            pre = preprint_of(doi, None)
            landing = preprint_page(pre[2]) if pre else None
        elif doi and zenodo_recid(doi) is not None:  # a Zenodo record, not a publisher's
            landing = landing or f"https://zenodo.org/records/{zenodo_recid(doi)}"
        elif doi or landing:
            if doi:
                pkey = publisher_for_doi(doi, s, p.publishers)
                pub = PUBLISHERS[pkey]
                host = springeropen_host(doi) if pkey == "springeropen" else pub.host
            if landing:
                lhost = (urlsplit(landing).hostname or "").lower()
                if pub is None or lhost != host:
                    pub, host = PUBLISHERS["generic"], lhost
                    if lhost in _SERVICE_HOSTS:
                        pub, host = None, None
            if pub is not None:
                if pub.key_kind == "doi" and doi:
                    key = doi
                elif pub.key_kind == "pii" and doi:
                    key = _pii(idx, doi)
                else:
                    pub = PUBLISHERS["generic"] if pub.key_kind != "index" else pub
                    key = str(idx)
        return pub, host, key, landing

    def _oa_status(self, pub: Publisher | None, wid: str) -> str:
        """none (no publisher), gold (always open), else hybrid, bronze or closed."""
        p = self.profile_spec
        if pub is None:
            return "none"
        if pub.always_open:
            return "gold"
        return weighted({"hybrid": p.hybrid, "bronze": p.bronze,
                         "closed": max(0.0, 1 - p.hybrid - p.bronze)}, self.seed, "oa", wid)

    def _publisher_site(
        self, pub: Publisher | None, host: str | None, key: str | None, landing: str | None,
        doi: str | None, wid: str,
    ) -> dict[str, Any]:
        """The publisher's pages for the work: landing, DOI hops, PDF and viewer URLs,
        and whether a bot challenge or robots.txt stands in the way."""
        p, s = self.profile_spec, self.seed
        doi_hops: tuple[str, ...] = ()
        blocked = robots = False
        pdf_url = viewer_url = None
        if pub is not None and host is not None and key is not None:
            if landing is None:
                landing = f"https://{host}{pub.landing[0]}{key}{pub.landing[1]}"
                if pub.doi_hop:
                    doi_hops = (f"https://{pub.doi_hop}/retrieve/pii/{key}",)
                elif doi and u01(s, "hop", wid) < p.extra_doi_hop:
                    doi_hops = (f"https://{host}/resolve/doi/{doi}",)
            challenge = self.faults.override("blocked", host)
            if challenge is None:
                challenge = pub.challenge
            blocked = u01(s, "blocked", wid) < challenge
            robots = self.faults.draw(s, host, "publisher", f"robots:{wid}",
                                      ("robots_disallow",)) is not None
            restricted = ROBOTS_PREFIX if robots else ""
            pdf_url = f"https://{host}{restricted}{pub.pdf[0]}{key}{pub.pdf[1]}".replace(
                "{host}", host)
            if pub.viewer:
                viewer_url = f"https://{host}{pub.viewer[0]}{key}{pub.viewer[1]}"
        return dict(landing_url=landing, doi_hops=doi_hops, blocked=blocked, robots=robots,
                    pdf_url=pdf_url, viewer_url=viewer_url)

    def _own_site(self, own: Site, pub: Publisher, wid: str) -> dict[str, Any]:
        """`_publisher_site` for a work on a platform site of its own: a repository item
        meets no bot challenge and no robots rule; the HighWire host has OUP's habits."""
        if own.repository:
            return dict(landing_url=own.landing, doi_hops=(), blocked=False, robots=False,
                        pdf_url=own.pdf, viewer_url=own.viewer)
        challenge = self.faults.override("blocked", own.host)
        blocked = u01(self.seed, "blocked", wid) < (pub.challenge if challenge is None
                                                     else challenge)
        robots = self.faults.draw(self.seed, own.host, "publisher", f"robots:{wid}",
                                  ("robots_disallow",)) is not None
        root = f"https://{own.host}"

        def restricted(url: str | None) -> str | None:
            return root + ROBOTS_PREFIX + url[len(root):] if url and robots else url

        return dict(landing_url=own.landing, doi_hops=(), blocked=blocked, robots=robots,
                    pdf_url=restricted(own.pdf), viewer_url=restricted(own.viewer))

    def _platform(self, pub: Publisher | None, landing: str | None, host: str | None,
                  wid: str) -> str | None:
        """The platform shape of the work's landing page, if its publisher has one (a
        `platform_pages` share, on the publisher's own host)."""
        shape = SHAPES.get(pub.key) if pub is not None else None
        if shape is None or landing is None or host is None:
            return None
        if (urlsplit(landing).hostname or "").lower() != host:
            return None
        if pub is not None and pub.key in ALWAYS_SHAPED:
            return shape
        return shape if u01(self.seed, "platform", wid) < self.profile_spec.platform_pages \
            else None

    def _pmc_facts(self, idx: int, w: Work) -> dict[str, Any]:
        """PMC and Europe PMC: ids (some hidden from the input), the PDF and its file."""
        p, s, wid, doi = self.profile_spec, self.seed, w.work_id, w.doi
        pmcid, pmid = w.pmcid, w.pmid
        if not pmcid and (doi or pmid) and u01(s, "hidden_pmc", wid) < p.hidden_pmc:
            pmcid = f"PMC{HIDDEN_PMCID_BASE + idx}"
        if pmcid and not pmid and u01(s, "hidden_pmid", wid) < 0.9:
            pmid = str(HIDDEN_PMID_BASE + idx)
        pmc_pdf = bool(pmcid) and u01(s, "pmc_pdf", wid) < p.pmc_has_pdf
        pmc_file = None
        if pmcid:
            base = doi.split("/", 1)[1] if doi else pmcid.lower()
            pmc_file = _slug(base)[:60] + ".pdf"
        epmc_oa = pmc_pdf and u01(s, "epmc_oa", wid) < p.europepmc_oa
        epmc_found = bool(pmcid or pmid) or (
            bool(doi) and u01(s, "epmc_med", wid) < p.europepmc_med_only)
        return dict(pmcid=pmcid, pmid=pmid, pmc_pdf=pmc_pdf, pmc_file=pmc_file,
                    epmc_oa=epmc_oa, epmc_found=epmc_found)

    def _repository(self, idx: int, doi: str | None, oa: str, title: str,
                    wid: str) -> str | None:
        """A repository copy (Zenodo or HAL), likelier when the publisher's is closed."""
        p, s = self.profile_spec, self.seed
        repo_rate = p.repository_if_closed if oa == "closed" else p.repository
        if not (doi and u01(s, "repo", wid) < repo_rate) or zenodo_recid(doi) is not None:
            return None
        if h64(s, "repo_host", wid) % 2:
            return f"https://zenodo.org/records/{ZENODO_BASE + idx}/files/" \
                   f"{_slug(title)[:40]}.pdf"
        return f"https://hal.science/hal-{HAL_BASE + idx:08d}/document"

    def _archive(self, landing: str | None, pdf_url: str | None, year: int,
                 wid: str) -> dict[str, Any]:
        """What the Wayback Machine holds: the landing page, the PDF, and when."""
        p, s = self.profile_spec, self.seed
        archived_landing = bool(landing) and u01(s, "arch", wid) < p.archived_landing
        archived_pdf = archived_landing and pdf_url is not None and (
            u01(s, "arch_pdf", wid) < p.archived_pdf / max(p.archived_landing, 1e-9))
        return dict(archived_landing=archived_landing, archived_pdf=archived_pdf,
                    ts_landing=_timestamp(s, wid, "landing", year),
                    ts_pdf=_timestamp(s, wid, "pdf", year))

    def _indexes(self, w: Work, pmc: dict[str, Any]) -> dict[str, Any]:
        """Which metadata services know the work (synthetic DOIs: all of them)."""
        p, s, wid, doi = self.profile_spec, self.seed, w.work_id, w.doi
        synthetic = bool(doi and doi.startswith("10.5555/"))

        def known(rate: float, name: str) -> bool:
            return bool(doi) and (synthetic or u01(s, name, wid) < rate)

        any_id = bool(doi or w.arxiv_id or pmc["pmcid"] or pmc["pmid"])
        return dict(
            unpaywall=known(p.unpaywall_known, "unpaywall"),
            openalex=known(p.openalex_known, "openalex"),
            crossref=known(p.crossref_known, "crossref"),
            s2=any_id and (synthetic or u01(s, "s2", wid) < p.semantic_scholar_known),
            s2_closed_url=u01(s, "s2q", wid) < p.s2_closed_with_url,
        )

    # -- lookups by identifier -------------------------------------------------------------
    def idx_by_doi(self, doi: str) -> int | None:
        return self._doi.get(doi.strip().lower())

    def idx_by_arxiv(self, arxiv_id: str) -> int | None:
        a = arxiv_id.strip().lower()
        if a.endswith(".pdf"):
            a = a[:-4]
        i = self._arxiv.get(a)
        return i if i is not None else self._arxiv.get(_strip_version(a))

    def idx_by_pmcid(self, pmcid: str) -> int | None:
        p = pmcid.strip().upper()
        if not p.startswith("PMC"):
            p = "PMC" + p
        i = self._pmcid.get(p)
        if i is None and p[3:].isdigit():
            n = int(p[3:]) - HIDDEN_PMCID_BASE
            if 0 <= n < len(self.works) and self.facts(n).pmcid == p:
                return n
        return i

    def idx_by_pmid(self, pmid: str) -> int | None:
        p = pmid.strip()
        i = self._pmid.get(p)
        if i is None and p.isdigit():
            n = int(p) - HIDDEN_PMID_BASE
            if 0 <= n < len(self.works) and self.facts(n).pmid == p:
                return n
        return i

    def idx_by_landing(self, url: str) -> int | None:
        return self._landing.get(_url_key(url))

    def idx_by_site(self, url: str) -> int | None:
        """The work whose repository item (DSpace handle, HAL id) `url` belongs to."""
        item = site_key(url)
        return self._site.get(item) if item is not None else None

    # -- faults ----------------------------------------------------------------------------
    def api_faults(self, node: Node, site: str = "api") -> Node:
        """Draw the transient and permanent faults of an API-like first request."""
        kinds = API_FAULTS if site == "api" else DOI_FAULTS
        self.transients(node, site)
        node.fault = self.faults.draw(self.seed, node.host, site, node.key, kinds)
        return node

    def transients(self, node: Node, site: str) -> Node:
        kind = self.faults.draw(self.seed, node.host, site, "t:" + node.key, TRANSIENT_FAULTS)
        if kind is not None:
            node.transient = 1 + h64(self.seed, "tn", node.key) % 3
            node.transient_kind = kind
        return node

    def pdf_fault(self, node: Node, location: str) -> Node:
        """Content faults of a PDF location (shared by every URL that reaches it)."""
        node.fault = self.faults.draw(self.seed, node.host, "pdf", location, PDF_FAULTS)
        return node

    def lookup(self, host: str, path: str, query: str = "") -> Node:
        """What `https://{host}{path}?{query}` answers in this World."""
        from .routes import route

        return route(self, host.lower(), path, parse_qsl(query, keep_blank_values=True),
                     query)

    def lookup_url(self, url: str) -> Node:
        parts = urlsplit(url)
        return self.lookup(parts.hostname or "", parts.path or "/", parts.query)


