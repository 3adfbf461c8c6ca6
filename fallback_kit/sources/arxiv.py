"""arXiv: the PDF at https://arxiv.org/pdf/{id} (optionally confirmed by the Atom API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from ..contracts.reasons import Reason
from ..contracts.works import Work
from ._common import ApiSource, Candidate, Candidates
from .base import SourceContext, SourceResult

PDF = "https://arxiv.org/pdf/"
API = "https://export.arxiv.org/api/query"
_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
#: what arXiv serves: the authors' preprint (a journal DOI in the record names where it
#: was published, not that this PDF is that version)
VERSION = "submittedVersion"


@dataclass(frozen=True, slots=True)
class ArxivEntry:
    id: str
    pdf_url: str | None
    doi: str | None


def _well_formed_prefix(text: str) -> str:
    """The feed cut after its last complete entry and closed (the API's answers can
    arrive cut; the reference sample is cut on purpose)."""
    end = text.rfind("</entry>")
    if end < 0:
        head = text.split("<entry", 1)[0]
        return head.rstrip() + "\n</feed>"
    return text[: end + len("</entry>")] + "\n</feed>"


def parse_arxiv_atom(text: str) -> list[ArxivEntry]:
    """Entries of an export.arxiv.org Atom answer: id, PDF link, DOI; tolerant of a cut feed."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        root = ElementTree.fromstring(_well_formed_prefix(text))
    entries = []
    for e in root.iter(_ATOM + "entry"):
        ident = (e.findtext(_ATOM + "id") or "").strip()
        pdf = None
        for link in e.findall(_ATOM + "link"):
            if link.get("title") == "pdf" or link.get("type") == "application/pdf":
                pdf = link.get("href")
                break
        doi = (e.findtext(_ARXIV + "doi") or "").strip() or None
        entries.append(ArxivEntry(ident, pdf, doi))
    return entries


class Arxiv(ApiSource):
    name = "arxiv"

    async def search(self, work: Work, ctx: SourceContext) -> SourceResult:
        assert work.arxiv_id
        candidates: list[Candidate] = []
        meta: dict[str, Any] = {}
        if self.option(ctx, "use_api"):
            resp = await ctx.http.get_text(API, params={"id_list": work.arxiv_id})
            entries = parse_arxiv_atom(resp.text) if resp.status == 200 else []
            entries = [e for e in entries if e.pdf_url]
            meta["api_entries"] = len(entries)
            if entries and entries[0].pdf_url:
                candidates.append(
                    Candidate(entries[0].pdf_url.replace("http://", "https://", 1), "atom",
                              version=VERSION)
                )
        candidates.append(Candidate(PDF + work.arxiv_id, "pdf", version=VERSION))
        cands = Candidates(ctx, meta)
        found = await cands.first_valid(candidates)
        if found is not None:
            return found
        return cands.conclude(empty_reason=Reason.NO_PDF_LINK, meta=meta)
