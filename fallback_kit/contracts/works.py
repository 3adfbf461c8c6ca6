"""Works: the scholarly items to resolve, with their identifiers normalised.

Researchers paste identifiers in every form (`https://doi.org/10.1000/X`, `doi:…`,
`arXiv:2106.01234v2`, `PMC123`, `123`): we normalise them once here, so that sources
and the store only ever see one spelling. A bad row is reported with its row number
and field and never loses the other rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .inputs import FORMATS, Entry, Parsed, WorksFileError, parse

__all__ = [
    "FORMATS",
    "ID_FIELDS",
    "Work",
    "WorkError",
    "WorksFileError",
    "WorksReport",
    "identify",
    "normalize_arxiv_id",
    "normalize_doi",
    "normalize_pmcid",
    "normalize_pmid",
    "read_works",
    "work_from_mapping",
]

ID_FIELDS = ("doi", "arxiv_id", "pmcid", "pmid", "landing_url")
MAX_FIELD_CHARS = 2000  # a longer identifier is a pasted document, not an id
MAX_TITLE_CHARS = 1000  # a longer title is cut, the work kept

_COLUMN_ALIASES = {
    "id": "work_id",
    "work": "work_id",
    "arxiv": "arxiv_id",
    "arxivid": "arxiv_id",
    "pmc": "pmcid",
    "pmc_id": "pmcid",
    "pubmed": "pmid",
    "pubmed_id": "pmid",
    "landing": "landing_url",
    "link": "url",
    "identifiers": "identifier",
}
# `identifier` and `url` hold an id of any kind, detected (`identify`)
_KNOWN_COLUMNS = {"work_id", "title", "kind", "identifier", "url", *ID_FIELDS}

_DOI_PREFIX = re.compile(r"^(?:(?:https?://)?(?:(?:dx|www)\.)?doi\.org/|doi:\s*|urn:doi:)", re.I)
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")  # soft hyphen, zero-width, BOM
_URL_SCHEME = re.compile(r"^https?://", re.I)
_OPENING = {")": "(", "]": "[", "}": "{"}
_DOI_SHAPE = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z\-]*(?:\.[a-z]{2})?/\d{7})(v\d+)?$", re.I)
_ARXIV_PREFIX = re.compile(
    r"^(?:arxiv:\s*|https?://(?:export\.|www\.)?arxiv\.org/(?:abs|pdf)/)", re.I
)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)


class WorkError(ValueError):
    """An entry of the works input is unusable; names the row (or citation key) and field."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None,
                 entry: str | None = None):
        self.row = row
        self.field = field
        self.entry = entry
        self.detail = message
        where = []
        if entry is not None:
            where.append(f"entry {entry!r}")
        if row is not None:
            where.append(f"line {row}" if entry is not None else f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


def normalize_doi(raw: str) -> str:
    """Return the DOI in lower case without resolver prefix; raise ValueError if it is none.

    Text pasted from PDFs and web pages brings zero-width characters, a URL fragment
    (`#sec1`) and the sentence's trailing punctuation; they are never part of a DOI.
    """
    s = _INVISIBLE.sub("", raw).strip()
    if _URL_SCHEME.match(s):
        s = s.split("#", 1)[0]  # a fragment in a URL; a bare SICI DOI may end in '#'
    if "%" in s:
        s = unquote(s)
    s = _DOI_PREFIX.sub("", s).strip()
    s = _strip_trailing_punctuation(s)
    if not _DOI_SHAPE.match(s):
        raise ValueError(f"{raw.strip()!r} is not a DOI (expected 10.NNNN/suffix)")
    return s.lower()


def _strip_trailing_punctuation(s: str) -> str:
    """Drop sentence punctuation after a DOI; a closing bracket only if it closes nothing."""
    while s:
        last = s[-1]
        if last in ".,;:'\"" or (last in ")]}" and s.count(last) > s.count(_OPENING[last])):
            s = s[:-1]
        else:
            break
    return s


def normalize_arxiv_id(raw: str) -> str:
    """Return an arXiv id (`2106.01234v2`, `hep-th/9901001`); raise ValueError if it is none."""
    s = raw.strip()
    m = _ARXIV_DOI.match(s)
    if m:
        s = m.group(1)
    s = _ARXIV_PREFIX.sub("", s).strip()
    if s.lower().endswith(".pdf"):
        s = s[:-4]
    m = _ARXIV_NEW.match(s)
    if m:
        yymm, _, number = m.group(1).partition(".")
        if int(yymm) >= 1501 and len(number) == 4:  # arXiv numbers have 5 digits since 2015
            raise ValueError(f"{raw.strip()!r} is not an arXiv id: ids since 2015 have five "
                             "digits after the dot (a spreadsheet may have dropped a trailing 0)")
        return m.group(1) + (m.group(2) or "")
    m = _ARXIV_OLD.match(s)
    if m:
        archive, number = m.group(1).split("/")
        return f"{archive.lower()}/{number}" + (m.group(2) or "")
    raise ValueError(f"{raw.strip()!r} is not an arXiv id (e.g. 2106.01234 or hep-th/9901001)")


def normalize_pmcid(raw: str) -> str:
    """Return `PMC` + digits; accept the digits alone."""
    s = raw.strip().upper()
    s = s[3:] if s.startswith("PMC") else s
    if not s.isdigit():
        raise ValueError(f"{raw.strip()!r} is not a PMCID (expected PMC followed by digits)")
    return "PMC" + str(int(s))


def normalize_pmid(raw: str) -> str:
    s = raw.strip()
    if s.lower().startswith("pmid:"):
        s = s[5:].strip()
    if not s.isdigit() or int(s) == 0:
        raise ValueError(f"{raw.strip()!r} is not a PMID (expected digits)")
    return str(int(s))


def _normalize_url(raw: str) -> str:
    s = raw.strip()
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{s!r} is not an http(s) URL")
    return s


_NORMALIZERS = {
    "doi": normalize_doi,
    "arxiv_id": normalize_arxiv_id,
    "pmcid": normalize_pmcid,
    "pmid": normalize_pmid,
    "landing_url": _normalize_url,
}

_PMC_URL = re.compile(r"^https?://(?:www\.)?(?:ncbi\.nlm\.nih\.gov/pmc/articles/|"
                      r"pmc\.ncbi\.nlm\.nih\.gov/articles/|europepmc\.org/(?:article/PMC/)?)"
                      r"(PMC\d+)", re.I)
_PUBMED_URL = re.compile(r"^https?://(?:www\.)?(?:pubmed\.ncbi\.nlm\.nih\.gov/|"
                         r"ncbi\.nlm\.nih\.gov/pubmed/)(\d+)", re.I)


def identify(raw: str) -> tuple[str, str]:
    """The kind of one pasted identifier or URL and its normalised value.

    DOIs and doi.org URLs, arXiv ids and arxiv.org URLs, PMCIDs and PMC URLs, PMIDs and
    PubMed URLs; any other http(s) URL is a landing page. Raises ValueError.
    """
    s = _INVISIBLE.sub("", raw).strip()
    kind, value = _kind_of(s)
    return kind, _NORMALIZERS[kind](value)


def _kind_of(s: str) -> tuple[str, str]:
    """Which field a pasted string belongs to (and the part of it that is the id)."""
    if m := _PMC_URL.match(s):
        return "pmcid", m.group(1)
    if m := _PUBMED_URL.match(s):
        return "pmid", m.group(1)
    if _DOI_PREFIX.match(s) or s.startswith("10."):
        return "doi", s
    if _ARXIV_PREFIX.match(s) or _ARXIV_NEW.match(s) or _ARXIV_OLD.match(s):
        return "arxiv_id", s
    if s.upper().startswith("PMC"):
        return "pmcid", s
    if s.isdigit() or s.lower().startswith("pmid:"):
        return "pmid", s
    if _URL_SCHEME.match(s):
        return "landing_url", s
    raise ValueError(f"{s!r} is not a DOI, arXiv id, PMCID, PMID or URL")


@dataclass(frozen=True, slots=True, kw_only=True)
class Work:
    """One scholarly work with normalised identifiers (any may be None).

    `columns` is the user's own record as read (every column of their table, every field
    of their BibTeX entry), kept so that answers join back to it; it takes no part in
    equality.
    """

    work_id: str
    doi: str | None = None
    arxiv_id: str | None = None
    pmcid: str | None = None
    pmid: str | None = None
    title: str | None = None
    landing_url: str | None = None
    kind: str | None = None
    columns: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False,
                                       repr=False)

    @classmethod
    def create(cls, work_id: str | None = None, **fields: str | None) -> Work:
        """Build a Work from raw identifiers, normalising each; raises WorkError."""
        return work_from_mapping({"work_id": work_id, **fields})

    def identifiers(self) -> dict[str, str]:
        return {f: v for f in ID_FIELDS if (v := getattr(self, f)) is not None}


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN from pandas
            return None
        if value.is_integer() and abs(value) < 2**53:  # a number column read as float
            return str(int(value))
    s = str(value).strip()
    return s or None


def _arxiv_from_number(value: float) -> str:
    """An arXiv id a spreadsheet read as a number, if no trailing zero can have been lost.

    `2106.01230` reads as 2106.0123; ids from 2015 on have five digits after the dot,
    earlier ones four, so a number with fewer digits than its month needs is refused.
    """
    text = repr(value)
    m = re.fullmatch(r"(\d{4})\.(\d+)", text)
    needed = 5 if m and int(m.group(1)) >= 1501 else 4
    if m is None or len(m.group(2)) != needed:
        raise ValueError(
            f"arXiv id read as a number ({text}): its trailing zeros may be lost; "
            "read the column as text (e.g. pandas dtype=str)"
        )
    return text


@lru_cache(maxsize=4096)
def _column_of(key: Any) -> str | None:
    """Our name for a user's column (aliases, any case), or None for a column we don't read."""
    name = str(key).strip().lower()
    column = _COLUMN_ALIASES.get(name, name)
    return column if column in _KNOWN_COLUMNS else None


def _raw_values(row: Mapping[str, Any], row_number: int | None,
                entry: str | None) -> dict[str, Any]:
    """The row's values under our column names; the first non-empty one of aliases wins."""
    values: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None:
            raise WorkError("more values than columns", row=row_number, entry=entry)
        column = _column_of(key)
        if column is None or values.get(column) is not None:
            continue
        if type(raw) is str:  # the common case (every CSV cell), without a call
            values[column] = raw.strip() or None
            continue
        if column == "arxiv_id" and isinstance(raw, float) and raw == raw:
            try:
                raw = _arxiv_from_number(raw)
            except ValueError as exc:
                raise WorkError(str(exc), row=row_number, field=column, entry=entry) from None
        values[column] = _clean(raw)
    return values


def work_from_mapping(row: Mapping[str, Any], *, row_number: int | None = None,
                      work_id: str | None = None, entry: str | None = None,
                      columns: Mapping[str, Any] | None = None) -> Work:
    """Normalise one row (a dict of column -> raw value) into a Work, or raise WorkError.

    `work_id` (the user's key) is taken as it is; `entry` names the row in errors (a
    citation key); `columns` is the user's record, kept on the Work.
    """
    values = _raw_values(row, row_number, entry)
    pasted = {name: values.pop(name, None) for name in ("identifier", "url")}
    title = values.pop("title", None)
    if title is not None and len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS] + "…"  # a pasted document; the ids may still be fine
    for name, value in values.items():
        if value is not None and len(value) > MAX_FIELD_CHARS:
            raise WorkError(
                f"value is {len(value):,} characters long (at most {MAX_FIELD_CHARS})",
                row=row_number,
                field=name,
                entry=entry,
            )
    fields: dict[str, str | None] = {"title": title, "kind": values.get("kind")}
    for name, raw in pasted.items():
        if raw is None:
            continue
        try:
            if len(raw) > MAX_FIELD_CHARS:
                raise ValueError(f"value is {len(raw):,} characters long (at most "
                                 f"{MAX_FIELD_CHARS})")
            kind, value = identify(raw)
        except ValueError as exc:
            if name == "identifier":
                raise WorkError(str(exc), row=row_number, entry=entry) from None
            continue  # a `url` that is no URL is a note, not an identifier
        values.setdefault(kind, None)
        if values[kind] is None:
            fields[kind] = value
    for name, normalize in _NORMALIZERS.items():
        value = values.get(name)
        if value is None:
            continue
        try:
            fields[name] = normalize(value)
        except ValueError as exc:
            raise WorkError(str(exc), row=row_number, field=name, entry=entry) from None
    doi = fields.get("doi")
    if doi and fields.get("arxiv_id") is None and _ARXIV_DOI.match(doi):
        try:
            fields["arxiv_id"] = normalize_arxiv_id(doi)
        except ValueError:
            pass
    if not any(fields.get(f) for f in ID_FIELDS):
        raise WorkError(
            "no identifier: give at least one of " + ", ".join(ID_FIELDS), row=row_number,
            entry=entry,
        )
    work_id = work_id or values.get("work_id") or _default_work_id(fields)
    return Work(work_id=work_id, **fields, columns=columns if columns is not None else {})


def _default_work_id(fields: Mapping[str, str | None]) -> str:
    for name in ID_FIELDS:
        value = fields.get(name)
        if value:
            return f"{name.removesuffix('_id')}:{value}"
    raise AssertionError("unreachable: a work without identifiers was accepted")


@dataclass(slots=True)
class WorksReport:
    """The good works of an input, plus every bad entry and duplicate id, in order.

    `format`, `key` and `options` say how the input was read, so that the misses of a
    run can be written back in the same format (`inputs.write_records`).
    """

    works: list[Work] = field(default_factory=list)
    errors: list[WorkError] = field(default_factory=list)
    source: str = "<table>"
    format: str | None = None
    key: str | None = None
    header: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Work]:
        return iter(self.works)

    def __len__(self) -> int:
        return len(self.works)

    def __getitem__(self, index: int) -> Work:
        return self.works[index]

    @property
    def ok(self) -> bool:
        return not self.errors

    def __repr__(self) -> str:
        return (
            f"WorksReport({len(self.works)} works, {len(self.errors)} errors, from {self.source})"
        )


def _key_value(entry: Entry, key: str) -> str:
    """The user's key of an entry, unchanged (a whole number read as float loses its .0)."""
    raw = entry.columns.get(key)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = "" if raw is None else str(raw)
    if not text.strip():
        raise WorkError(f"no value in the key column {key!r}", row=entry.row, entry=entry.entry)
    if len(text) > MAX_FIELD_CHARS:
        raise WorkError(f"key is {len(text):,} characters long (at most {MAX_FIELD_CHARS})",
                        row=entry.row, entry=entry.entry)
    return text


def _work_of(entry: Entry, key: str | None) -> Work:
    if entry.error is not None:
        raise WorkError(entry.error, row=entry.row, entry=entry.entry)
    work_id = _key_value(entry, key) if key is not None else None
    return work_from_mapping(entry.fields, row_number=entry.row, work_id=work_id,
                             entry=entry.entry, columns=entry.columns)


def _collect(entries: Iterable[Entry], report: WorksReport) -> WorksReport:
    seen: dict[str, str] = {}
    for entry in entries:
        try:
            work = _work_of(entry, report.key)
        except WorkError as exc:
            report.errors.append(exc)
            continue
        if work.work_id in seen:
            report.errors.append(
                WorkError(
                    f"duplicate work_id {work.work_id!r} (first seen in {seen[work.work_id]});"
                    " this one was left out",
                    row=entry.row,
                    field="work_id",
                    entry=entry.entry,
                )
            )
            continue
        seen[work.work_id] = (f"row {entry.row}" if entry.entry is None
                              else f"entry {entry.entry!r}")
        report.works.append(work)
    return report


def _check_columns(names: list[Any], source: str, key: str | None) -> None:
    """Refuse a table without any identifier column, or without the key column asked for."""
    columns = {_COLUMN_ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in names}
    if not columns & {*ID_FIELDS, "identifier", "url"}:
        hint = ""
        if any(_is_identifier(str(c)) for c in names):
            hint = ("; the first line holds identifiers, so the file has no header row: "
                    "add one (e.g. doi,title)")
        raise WorksFileError(
            f"{source}: no identifier column; the header has {names!r}, "
            f"expected at least one of {', '.join(ID_FIELDS)}{hint}"
        )
    if key is not None and key not in [str(c).strip() for c in names]:
        raise WorksFileError(f"{source}: no key column {key!r}; the header has {names!r}")


def _is_identifier(text: str) -> bool:
    try:
        return identify(text)[0] != "landing_url"
    except ValueError:
        return False


def read_works(source: str | Path | Any, *, format: str | None = None,
               key: str | None = None) -> WorksReport:
    """Read works from a file (CSV, Zotero CSV, BibTeX, RIS, CSL-JSON, one id per line),
    a pandas DataFrame, or a list of identifier strings.

    The format is detected from the content and the extension; `format` forces one of
    `inputs.FORMATS`. `key` names the user's column (or field) that becomes each work's
    `work_id` unchanged; by default a format's own key is used (Zotero's `Key`, the
    BibTeX citation key, a CSL-JSON or RIS `id`), else a `work_id` column, else one made
    from the first identifier. Every column of the input is kept on `Work.columns`.

    Returns a WorksReport: `.works` holds every good entry, `.errors` every bad one.
    Raises WorksFileError only when the input as a whole is unusable.
    """
    if isinstance(source, list | tuple) and source and all(isinstance(w, Work) for w in source):
        return WorksReport(works=list(source), source="<works>")
    parsed = parse(source, format=format)
    if parsed.header is not None:
        _check_columns(parsed.header, parsed.source, key)
    elif key is not None and parsed.format == "ids":
        raise WorksFileError(f"{parsed.source}: a list of identifiers has no key column {key!r}")
    report = WorksReport(source=parsed.source, format=parsed.format, header=parsed.header,
                         options=dict(parsed.extra))
    report.key = key if key is not None else _format_key(parsed)
    return _collect(parsed.entries, report)


def _format_key(parsed: Parsed) -> str | None:
    """The format's own key, used when the entries have one (RIS and CSL ids are optional)."""
    if parsed.key is None:
        return None
    if parsed.format in ("ris", "csl-json"):
        entries = list(parsed.entries)
        parsed.entries = entries
        if not all(e.columns.get(parsed.key) not in (None, "") for e in entries if not e.error):
            return None
    return parsed.key


def with_fields(work: Work, **changes: Any) -> Work:
    """A copy of `work` with fields changed (sources use it to add ids they discover)."""
    return replace(work, **changes)
