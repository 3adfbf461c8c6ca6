"""What the sources share: candidate checking, outcome ranking, metadata errors.

A source lists candidate URLs; `Candidates` checks them in order through the PDF
gate, skips duplicates (by normalised URL), keeps a short trace for `meta`, and when
none is valid returns the most telling outcome.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx

from ..contracts.events import Outcome
from ..contracts.plan import AcceptPolicy
from ..contracts.reasons import Reason, http_reason
from ..contracts.works import Work
from ..web.edge import (
    BadResponse,
    HttpStatusError,
    NetError,
    PdfCheck,
    RedirectError,
    ResponseTooLarge,
    host_of,
    normalize_url,
)
from ..web.gates import GateClosed
from ..web.paper_check import MISMATCH, VOLUME_LIKE, Expected, PaperVerdict, judge_pdf
from .base import Source, SourceContext, SourceResult

__all__ = [
    "PLACEHOLDER_EMAIL",
    "ApiSource",
    "Candidate",
    "Candidates",
    "contact_email",
    "expected_of",
    "license_accepted",
    "metadata_failure",
    "normalize_license",
    "surname",
    "ordered",
    "outcome_for_reason",
    "quote_doi",
]

#: sent when the user gave no email (politeness warns once in live mode); a
#: reserved example domain, so nobody real receives the services' mail
PLACEHOLDER_EMAIL = "anonymous@example.org"

#: gate reasons that concern the whole try, not one candidate: they propagate
_TRY_WIDE_GATES = (Reason.OFFLINE, Reason.OFFLINE_METADATA_ONLY, Reason.OFFLINE_NOT_CACHED)
_INVALID_REASONS = frozenset({
    Reason.HTML_INSTEAD_OF_PDF, Reason.TRUNCATED_PDF, Reason.NOT_PDF, Reason.EMPTY_BODY,
    # the right-paper check: another paper, a body that does not parse, a plan that
    # wants verified PDFs only
    Reason.WRONG_PAPER, Reason.UNREADABLE_PDF, Reason.UNVERIFIED,
})
# the higher, the more telling when no candidate was valid
_RANK = {Outcome.RETRYABLE: 4, Outcome.INVALID_PDF: 3, Outcome.SKIPPED: 2, Outcome.NO_PDF: 1}


def contact_email(ctx: SourceContext) -> str:
    """The contact to send to APIs that ask for one (ctx, then settings, else placeholder)."""
    return ctx.email or ctx.http.settings.email or PLACEHOLDER_EMAIL


def quote_doi(doi: str) -> str:
    """A DOI for a URL path: slashes kept, reserved characters escaped."""
    return quote(doi, safe="/:;()[]._-~+,")


def outcome_for_reason(
    reason: str, status: int | None = None, retryable: Collection[int] = ()
) -> Outcome:
    """The outcome of one failed candidate, from the PDF gate's reason; a status is
    retryable only when the plan's `thresholds.retryable_statuses` (`retryable`) says so."""
    if reason == "ok":
        return Outcome.SUCCESS
    if reason in _INVALID_REASONS:
        return Outcome.INVALID_PDF
    if status in retryable or reason in (Reason.TRANSPORT_ERROR, Reason.TIMEOUT):
        return Outcome.RETRYABLE
    if reason in (Reason.ROBOTS, Reason.BREAKER_OPEN, Reason.RATE_WAIT, Reason.UNSAFE_URL):
        return Outcome.SKIPPED
    return Outcome.NO_PDF


def metadata_failure(exc: NetError, ctx: SourceContext, **meta: Any) -> SourceResult:
    """A SourceResult for a service API call that failed (status, size, bad body)."""
    status = getattr(exc, "status", None)
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(exc, HttpStatusError):
        reason = http_reason(exc.status)
        retryable = exc.status in ctx.thresholds.retryable_statuses
        outcome = Outcome.RETRYABLE if retryable else Outcome.NONRETRYABLE
    elif isinstance(exc, RedirectError):
        reason, outcome = exc.reason, Outcome.NONRETRYABLE
    elif isinstance(exc, ResponseTooLarge):
        reason, outcome = Reason.TOO_LARGE, Outcome.NONRETRYABLE
    elif isinstance(exc, BadResponse):
        reason, outcome = Reason.BAD_RESPONSE, Outcome.RETRYABLE
    else:
        reason, outcome = Reason.NET_ERROR, Outcome.RETRYABLE
    return SourceResult(
        outcome=outcome,
        reason=reason,
        url=exc.url,
        status=status,
        host=host_of(exc.url),
        requests=ctx.http.requests,
        bytes=ctx.http.bytes_read,
        retry_after_s=retry_after,
        meta={**meta, "error": str(exc)},
    )


def result(
    ctx: SourceContext,
    outcome: Outcome,
    reason: str,
    *,
    url: str | None = None,
    status: int | None = None,
    **meta: Any,
) -> SourceResult:
    """A SourceResult with the fetcher's request and byte counts filled in."""
    return SourceResult(
        outcome=outcome,
        reason=reason,
        url=url,
        status=status,
        host=host_of(url) if url else None,
        requests=ctx.http.requests,
        bytes=ctx.http.bytes_read,
        meta=meta,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A URL that may hold the PDF, with where it came from and, when the source says,
    which version (`publishedVersion`, ...) under which licence (`cc-by`, ...)."""

    url: str
    label: str = ""
    referer: str | None = None
    version: str | None = None
    license: str | None = None
    #: request headers with the user's key (a TDM token): the whole file is fetched at
    #: once, since a later download without the key would fail; never shown or stored
    headers: Mapping[str, str] | None = field(default=None, repr=False, compare=False)


def expected_of(work: Work | None, meta: Mapping[str, Any]) -> Expected:
    """What the right-paper check compares with: the works file's title and DOI first,
    then the source's metadata (`title`, `year`, `first_author`, `doi` in its meta)."""
    year = meta.get("year")
    return Expected(
        title=(work.title if work is not None else None) or _text(meta.get("title")),
        doi=(work.doi if work is not None else None) or _text(meta.get("doi")),
        first_author=_text(meta.get("first_author")),
        year=year if isinstance(year, int) and not isinstance(year, bool) else None,
        arxiv_id=work.arxiv_id if work is not None else None,
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def ordered(candidates: Iterable[Candidate], policy: AcceptPolicy | None) -> list[Candidate]:
    """Candidates in the plan's order of version (stable: the source's order breaks ties,
    an unknown version comes last); no reordering without a policy."""
    out = list(candidates)
    if policy is None:
        return out
    rank = {v: i for i, v in enumerate(policy.versions)}
    return sorted(out, key=lambda c: rank.get(c.version or "", len(rank)))


_CC_PARTS = ("by", "nc", "nd", "sa")


def normalize_license(value: Any) -> str | None:
    """One licence vocabulary for every source: `cc-by`, `cc-by-nc-sa`, `cc0`,
    `publisher-specific`, `other-oa`, ... (Unpaywall's spelling); None when unknown.

    Reads Unpaywall/OpenAlex words (`cc-by`, `publisher-specific-oa`), Europe PMC's
    (`cc by-nc`), Semantic Scholar's (`CCBY`) and Creative Commons URLs (Crossref).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    low = value.strip().lower()
    if "creativecommons.org" in low:
        if "/publicdomain/" in low:
            return "cc0"
        path = low.split("/licenses/", 1)[-1].split("/", 1)[0]
        low = "cc-" + path
    flat = low.replace(" ", "-").replace("_", "-")
    if flat in ("cc0", "cc-0", "public-domain", "pd"):
        return "cc0"
    if flat.startswith("cc"):
        rest = flat[2:].replace("-", "")
        parts = [p for p in _CC_PARTS if p in rest]
        if parts and "".join(parts) == rest:
            return "cc-" + "-".join(parts)
    if flat.startswith("publisher-specific"):
        return "publisher-specific"
    return re.split(r"[,:]", flat, maxsplit=1)[0].strip("-") or None


def surname(name: Any) -> str | None:
    """The family name in `Marianne Bertrand` / `Bertrand, Marianne` (None if no name)."""
    if not isinstance(name, str) or not name.strip():
        return None
    if "," in name:
        return name.split(",", 1)[0].strip() or None
    return name.split()[-1]


def license_accepted(license: str | None, policy: AcceptPolicy | None) -> bool:
    """True when the plan takes any licence, or this one (an unknown one is refused)."""
    if policy is None or not policy.licenses:
        return True
    return (license or "").lower() in policy.licenses


class Candidates:
    """Checks candidates in order; remembers what each one gave."""

    def __init__(self, ctx: SourceContext, meta: Mapping[str, Any] | None = None) -> None:
        self.ctx = ctx
        self.meta: dict[str, Any] = dict(meta or {})  # the source's findings, in every result
        self.tried: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._best: tuple[int, Outcome, str, str | None, int | None, float | None] | None = None
        self._last_exc: BaseException | None = None
        self._only_exceptions = True
        #: a volume-like PDF: the answer only if no better candidate turns up
        self._volume: SourceResult | None = None

    def __repr__(self) -> str:
        return f"<Candidates tried={len(self.tried)}>"

    def fresh(self, urls: Iterable[Candidate]) -> list[Candidate]:
        """The candidates not seen yet (by normalised URL), in order, without repeats."""
        out: list[Candidate] = []
        keys = set(self._seen)
        for c in urls:
            if not c.url or not isinstance(c.url, str):
                continue
            key = normalize_url(c.url)
            if key in keys:
                continue
            keys.add(key)
            out.append(c)
        return out

    async def first_valid(self, candidates: Iterable[Candidate]) -> SourceResult | None:
        """Check each fresh candidate, in the plan's order of version, skipping licences
        the plan refuses; the first valid PDF's SourceResult, else None."""
        policy = self.ctx.accept
        for c in ordered(self.fresh(candidates), policy):
            self._seen.add(normalize_url(c.url))
            if not license_accepted(c.license, policy):
                self.tried.append({"url": c.url, "label": c.label, "reason": "license_refused",
                                   "license": c.license})
                continue
            found = await self.check(c)
            if found is not None:
                return found
        return None

    async def check(self, c: Candidate) -> SourceResult | None:
        policy = self.ctx.accept
        checking = policy is not None and policy.check_paper
        try:
            if (policy is not None and checking) or c.headers:  # one GET of the whole file
                verdict = await self.ctx.http.fetch_pdf(
                    c.url, max_bytes=(policy or AcceptPolicy()).max_pdf_bytes,
                    referer=c.referer, headers=c.headers)
            else:
                verdict = await self.ctx.http.check_pdf(c.url, referer=c.referer)
        except GateClosed as exc:
            if exc.reason in _TRY_WIDE_GATES:
                raise
            self._note(c, exc.reason, None, None, exc.host)
            self._only_exceptions = False
            return None
        except (httpx.TransportError, NetError) as exc:  # one bad host: try the next one
            timed_out = isinstance(exc, httpx.TimeoutException)
            reason = Reason.TIMEOUT if timed_out else Reason.TRANSPORT_ERROR
            self._note(c, reason, None, None, host_of(c.url))
            self._last_exc = exc
            return None
        self._only_exceptions = False
        if not verdict.ok:
            self._note(c, verdict.reason, verdict.status, verdict.retry_after_s, verdict.host,
                       verdict)
            return None
        extra: dict[str, Any] = {"version": c.version, "license": c.license}
        body: bytes | None = verdict.body or None if c.headers else None
        if policy is not None and checking:
            paper = await self._paper(c, verdict, policy)
            if paper is None:
                return None
            body = verdict.body
            extra.update(paper=paper.verdict, paper_detail=paper.detail)
        self.tried.append({"url": c.url, "reason": Reason.OK, "status": verdict.status,
                           **({"paper": extra["paper"]} if "paper" in extra else {})})
        found = SourceResult(
            outcome=Outcome.SUCCESS,
            reason=Reason.OK,
            url=c.url,
            status=verdict.status,
            host=host_of(c.url),
            requests=self.ctx.http.requests,
            bytes=self.ctx.http.bytes_read,
            meta={
                **self.meta,
                "final_url": verdict.final_url,
                "candidate": c.label,
                **extra,
                "tried": self.tried,
            },
            body=body,
        )
        if extra.get("paper") == VOLUME_LIKE:  # not the work's PDF while a better one exists
            if self._volume is None:
                self._volume = found
            return None
        return found

    async def _paper(
        self, c: Candidate, whole: PdfCheck, policy: AcceptPolicy
    ) -> PaperVerdict | None:
        """Judge the first pages of a whole PDF; None (noted) when the plan refuses it."""
        expected = expected_of(self.ctx.work, self.meta)
        paper = await asyncio.to_thread(judge_pdf, whole.body, expected)
        refusal = None
        if paper.rejects:
            refusal = Reason.WRONG_PAPER if paper.verdict == MISMATCH else Reason.UNREADABLE_PDF
        elif policy.require_verified and not paper.verified:
            refusal = Reason.UNVERIFIED
        if refusal is None:
            return paper
        self._note(c, refusal, whole.status, None, whole.host)
        self.tried[-1].update(paper=paper.verdict, paper_detail=paper.detail)
        return None

    def _note(
        self,
        c: Candidate,
        reason: str,
        status: int | None,
        retry_after: float | None,
        host: str | None,
        verdict: PdfCheck | None = None,
    ) -> None:
        self.tried.append({"url": c.url, "label": c.label, "reason": reason, "status": status})
        outcome = outcome_for_reason(reason, status, self.ctx.thresholds.retryable_statuses)
        rank = _RANK.get(outcome, 0)
        if self._best is None or rank > self._best[0]:
            self._best = (rank, outcome, reason, c.url, status, retry_after)

    def conclude(self, *, empty_reason: str, meta: Mapping[str, Any] | None = None) -> SourceResult:
        """The outcome when no candidate was valid: the most telling failure, or
        NO_PDF with `empty_reason` when there was nothing to check.

        If every candidate failed with a transport exception, that exception is raised
        again so the orchestrator classifies it (timeout / retryable).
        """
        extra = {**self.meta, **(meta or {}), "tried": self.tried}
        if self._volume is not None:
            return replace(self._volume, requests=self.ctx.http.requests,
                           bytes=self.ctx.http.bytes_read,
                           meta={**self._volume.meta, "tried": self.tried})
        if self._best is None:
            return result(self.ctx, Outcome.NO_PDF, empty_reason, **extra)
        if self._only_exceptions and self._last_exc is not None:
            raise self._last_exc
        _, outcome, reason, url, status, retry_after = self._best
        return SourceResult(
            outcome=outcome,
            reason=reason,
            url=url,
            status=status,
            host=host_of(url or ""),
            requests=self.ctx.http.requests,
            bytes=self.ctx.http.bytes_read,
            retry_after_s=retry_after if outcome is Outcome.RETRYABLE else None,
            meta=extra,
        )


class ApiSource(Source):
    """A source whose `find` turns service-API failures (NetError) into results."""

    async def find(self, work: Work, ctx: SourceContext) -> SourceResult:
        try:
            return await self.search(work, ctx)
        except NetError as exc:
            return metadata_failure(exc, ctx)

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        raise NotImplementedError
