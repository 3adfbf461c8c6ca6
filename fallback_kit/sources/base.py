"""The contract every source implements.

A source knows one service: which identifiers it needs, which URLs to ask, how to
read the answer, and which candidate URLs might hold the PDF. It never decides by
itself that bytes are a PDF (that is `net.Fetcher.check_pdf`), never sleeps, retries
or times itself out (the orchestrator does), and gets all its HTTP through
`ctx.http`, so the same code runs live, on the sandbox or on a mock transport.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..contracts.events import Outcome
from ..contracts.plan import AcceptPolicy, Thresholds
from ..contracts.registry import SOURCE_SPECS
from ..contracts.works import Work

if TYPE_CHECKING:  # pragma: no cover
    from ..web.edge import Fetcher

__all__ = ["Source", "SourceContext", "SourceResult"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceResult:
    """What one try of a source concluded.

    On success `url` is the validated PDF URL. Otherwise `url` is the most telling
    URL tried and `reason` a short machine-readable word (`no_oa_location`,
    `html_instead_of_pdf`, `blocked`, `paywall`, ...). A source that hit a transient
    failure returns `Outcome.RETRYABLE` (with `retry_after_s` when the server said
    so) and the orchestrator decides whether to try again.
    """

    outcome: Outcome
    reason: str = ""
    url: str | None = None
    status: int | None = None
    host: str | None = None
    bytes: int = 0
    requests: int = 0
    retry_after_s: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: the whole PDF when the right-paper check fetched it (never recorded; a download
    #: may keep these bytes instead of fetching them again)
    body: builtins.bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceContext:
    """What a source may use during one try."""

    http: Fetcher
    email: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # the source's plan policy extras
    #: the plan's statuses: which HTTP answers a source reports as retryable
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: the plan's acceptance rules (right-paper check, versions, licences); None: none apply
    accept: AcceptPolicy | None = None
    #: the work being resolved (its title and DOI are what the right-paper check compares)
    work: Work | None = None


class Source:
    """Base class of the sources; subclasses set `name` and write `find`.

    A subclass whose `name` is in the source registry (contracts/registry.py) takes its
    `needs`, `hosts` and `summary` from there, so they are written once.
    """

    name: ClassVar[str]
    #: identifiers of which the source needs at least one (Work field names)
    needs: ClassVar[tuple[str, ...]] = ()
    #: the hosts the source calls first; their gates are checked before a try starts
    hosts: ClassVar[tuple[str, ...]] = ()
    #: one line for `explain` and the README
    summary: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = SOURCE_SPECS.get(cls.__dict__.get("name", ""))
        if spec is not None:
            cls.needs, cls.hosts, cls.summary = spec.needs, spec.hosts, spec.summary

    def option(self, ctx: SourceContext, key: str) -> Any:
        """The plan's value of option `key` for this source, else its registry default."""
        return ctx.options.get(key, SOURCE_SPECS[self.name].options[key].default)

    def applicable(self, work: Work) -> bool:
        """True if the work has an identifier this source can start from."""
        return any(getattr(work, f, None) for f in self.needs)

    async def find(self, work: Work, ctx: SourceContext) -> SourceResult:
        """Look for a PDF of `work`; return a SourceResult, or raise on transport trouble."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<source {self.name}>"
