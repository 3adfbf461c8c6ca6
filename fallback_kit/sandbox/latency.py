"""Per-host latency: lognormal distributions given by a median and a 95th percentile.

The figures look like what a client in Europe sees from the real services (fast
resolvers and APIs, slower publisher pages and archives); they are simulation
choices, overridable with `World.build(..., latency={"doi.org": (50, 200)})`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_LATENCY", "PUBLISHER_LATENCY"]

#: host -> (median ms, p95 ms)
DEFAULT_LATENCY: Mapping[str, tuple[float, float]] = MappingProxyType({
    "api.unpaywall.org": (180.0, 900.0),
    "api.openalex.org": (150.0, 700.0),
    "api.crossref.org": (250.0, 1500.0),
    "api.semanticscholar.org": (220.0, 1200.0),
    "www.ebi.ac.uk": (300.0, 1500.0),
    "europepmc.org": (450.0, 2500.0),
    "www.ncbi.nlm.nih.gov": (250.0, 1000.0),
    "pmc.ncbi.nlm.nih.gov": (300.0, 1500.0),
    "arxiv.org": (200.0, 1000.0),
    "export.arxiv.org": (350.0, 2000.0),
    "doi.org": (80.0, 300.0),
    "linkinghub.elsevier.com": (120.0, 500.0),
    "www.sciencedirect.com": (600.0, 3000.0),
    "pdf.sciencedirectassets.com": (300.0, 1500.0),
    "archive.org": (400.0, 2500.0),
    "web.archive.org": (900.0, 6000.0),
    "zenodo.org": (500.0, 2500.0),
    "hal.science": (600.0, 3000.0),
    "doaj.org": (300.0, 1500.0),
    "api.biorxiv.org": (300.0, 1500.0),
    "www.biorxiv.org": (500.0, 2500.0),
    "www.medrxiv.org": (500.0, 2500.0),
    "api.core.ac.uk": (400.0, 2500.0),
    "core.ac.uk": (500.0, 3000.0),
})
PUBLISHER_LATENCY: tuple[float, float] = (450.0, 2500.0)
