"""The sources, by name.

`SOURCES` maps each plan name to its class; `get_source(name)` builds one (sources are
stateless, so one instance serves a whole run). What each source needs, calls and
takes as options is in the registry, `contracts/registry.py`.
"""

from __future__ import annotations

from ..contracts.registry import SOURCE_NAMES
from .arxiv import Arxiv
from .base import Source, SourceContext, SourceResult
from .biorxiv import Biorxiv
from .core import Core
from .crossref import Crossref
from .doaj import Doaj
from .doi_redirect import DoiRedirect
from .europe_pmc import EuropePmc
from .landing_scrape import LandingScrape
from .openalex import OpenAlex
from .pmc import Pmc
from .semantic_scholar import SemanticScholar
from .unpaywall import Unpaywall
from .wayback import Wayback
from .wiley_tdm import WileyTdm
from .zenodo import Zenodo

__all__ = ["SOURCES", "Source", "SourceContext", "SourceResult", "UnknownSource", "get_source"]

_CLASSES: dict[str, type[Source]] = {
    cls.name: cls
    for cls in (
        Unpaywall,
        Arxiv,
        Pmc,
        DoiRedirect,
        LandingScrape,
        EuropePmc,
        Wayback,
        OpenAlex,
        Crossref,
        SemanticScholar,
        Doaj,
        Zenodo,
        Biorxiv,
        Core,
        WileyTdm,
    )
}
if set(_CLASSES) != set(SOURCE_NAMES):  # pragma: no cover - a source added half-way
    raise ImportError(f"source classes {sorted(_CLASSES)} != registry {sorted(SOURCE_NAMES)}")

#: the classes by plan name, in the registry's order
SOURCES: dict[str, type[Source]] = {name: _CLASSES[name] for name in SOURCE_NAMES}


class UnknownSource(KeyError):
    """A plan names a source that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_source(name: str) -> Source:
    """A source by its plan name; an unknown name lists the known ones."""
    try:
        return SOURCES[name]()
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, SOURCES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownSource(
            f"unknown source {name!r}.{hint} Known sources: {', '.join(sorted(SOURCES))}"
        ) from None
