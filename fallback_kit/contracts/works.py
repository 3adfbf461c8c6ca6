"""Works: the scholarly items to resolve, with their identifiers normalised.

Researchers paste identifiers in every form (`https://doi.org/10.1000/X`, `doi:…`,
`arXiv:2106.01234v2`, `PMC123`, `123`): we normalise them once here, so that sources
and the store only ever see one spelling. A bad row is reported with its row number
and field and never loses the other rows.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "ID_FIELDS",
    "Work",
    "WorkError",
    "WorksFileError",
    "WorksReport",
    "normalize_arxiv_id",
    "normalize_doi",
    "normalize_pmcid",
    "normalize_pmid",
    "read_works",
    "work_from_mapping",
]

ID_FIELDS = ("doi", "arxiv_id", "pmcid", "pmid", "landing_url")
MAX_FIELD_CHARS = 2000  # a longer identifier is a pasted document, not an id

_COLUMN_ALIASES = {
    "id": "work_id",
    "work": "work_id",
    "arxiv": "arxiv_id",
    "arxivid": "arxiv_id",
    "pmc": "pmcid",
    "pmc_id": "pmcid",
    "pubmed": "pmid",
    "pubmed_id": "pmid",
    "url": "landing_url",
    "landing": "landing_url",
}
_KNOWN_COLUMNS = {"work_id", "title", "kind", *ID_FIELDS}

_DOI_PREFIX = re.compile(
    r"^(?:https?://(?:dx\.)?doi\.org/|https?://doi\.org/|doi\.org/|doi:\s*|urn:doi:)", re.I
)
_DOI_SHAPE = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z\-]*(?:\.[a-z]{2})?/\d{7})(v\d+)?$", re.I)
_ARXIV_PREFIX = re.compile(r"^(?:arxiv:|https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/)", re.I)
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.I)


class WorkError(ValueError):
    """A row of the works table is unusable; names the row and the field."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None):
        self.row = row
        self.field = field
        self.detail = message
        where = []
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class WorksFileError(ValueError):
    """The works file as a whole cannot be read (missing, empty, wrong encoding)."""


def normalize_doi(raw: str) -> str:
    """Return the DOI in lower case without resolver prefix; raise ValueError if it is none."""
    s = raw.strip()
    if "%" in s:
        s = unquote(s)
    s = _DOI_PREFIX.sub("", s).strip()
    if not _DOI_SHAPE.match(s):
        raise ValueError(f"{raw.strip()!r} is not a DOI (expected 10.NNNN/suffix)")
    return s.lower()


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Work:
    """One scholarly work with normalised identifiers (any may be None)."""

    work_id: str
    doi: str | None = None
    arxiv_id: str | None = None
    pmcid: str | None = None
    pmid: str | None = None
    title: str | None = None
    landing_url: str | None = None
    kind: str | None = None

    @classmethod
    def create(cls, work_id: str | None = None, **fields: str | None) -> Work:
        """Build a Work from raw identifiers, normalising each; raises WorkError."""
        return work_from_mapping({"work_id": work_id, **fields})

    def identifiers(self) -> dict[str, str]:
        return {f: v for f in ID_FIELDS if (v := getattr(self, f)) is not None}


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from pandas
        return None
    s = str(value).strip()
    return s or None


def work_from_mapping(row: Mapping[str, Any], *, row_number: int | None = None) -> Work:
    """Normalise one row (a dict of column -> raw value) into a Work, or raise WorkError."""
    values: dict[str, str | None] = {}
    for key, raw in row.items():
        if key is None:
            raise WorkError("more values than columns", row=row_number)
        name = str(key).strip().lower()
        column = _COLUMN_ALIASES.get(name, name)
        if column in _KNOWN_COLUMNS:
            values[column] = _clean(raw)
    for name, value in values.items():
        if value is not None and len(value) > MAX_FIELD_CHARS:
            raise WorkError(
                f"value is {len(value):,} characters long (at most {MAX_FIELD_CHARS})",
                row=row_number,
                field=name,
            )
    fields: dict[str, str | None] = {"title": values.get("title"), "kind": values.get("kind")}
    for name, normalize in _NORMALIZERS.items():
        value = values.get(name)
        if value is None:
            continue
        try:
            fields[name] = normalize(value)
        except ValueError as exc:
            raise WorkError(str(exc), row=row_number, field=name) from None
    doi = fields.get("doi")
    if doi and fields.get("arxiv_id") is None and _ARXIV_DOI.match(doi):
        try:
            fields["arxiv_id"] = normalize_arxiv_id(doi)
        except ValueError:
            pass
    if not any(fields.get(f) for f in ID_FIELDS):
        raise WorkError(
            "no identifier: give at least one of " + ", ".join(ID_FIELDS), row=row_number
        )
    work_id = values.get("work_id") or _default_work_id(fields)
    return Work(work_id=work_id, **fields)


def _default_work_id(fields: Mapping[str, str | None]) -> str:
    for name in ID_FIELDS:
        value = fields.get(name)
        if value:
            return f"{name.removesuffix('_id')}:{value}"
    raise AssertionError("unreachable: a work without identifiers was accepted")


@dataclass(slots=True)
class WorksReport:
    """The good works of a table, plus every bad row and duplicate id, in order."""

    works: list[Work] = field(default_factory=list)
    errors: list[WorkError] = field(default_factory=list)
    source: str = "<table>"

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


def _collect(rows: Iterable[tuple[int, Mapping[str, Any]]], source: str) -> WorksReport:
    report = WorksReport(source=source)
    seen: dict[str, int] = {}
    for row_number, row in rows:
        try:
            work = work_from_mapping(row, row_number=row_number)
        except WorkError as exc:
            report.errors.append(exc)
            continue
        if work.work_id in seen:
            report.errors.append(
                WorkError(
                    f"duplicate work_id {work.work_id!r} (first seen in row {seen[work.work_id]});"
                    " this row was left out",
                    row=row_number,
                    field="work_id",
                )
            )
            continue
        seen[work.work_id] = row_number
        report.works.append(work)
    return report


def _check_columns(names: list[Any], source: str) -> None:
    """Refuse a table without any identifier column, naming what it has."""
    columns = {_COLUMN_ALIASES.get(str(c).strip().lower(), str(c).strip().lower()) for c in names}
    if not columns & set(ID_FIELDS):
        raise WorksFileError(
            f"{source}: no identifier column; the header has {names!r}, "
            f"expected at least one of {', '.join(ID_FIELDS)}"
        )


def _csv_rows(text: str, source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise WorksFileError(f"{source}: the file is empty (expected a header row)")
    _check_columns(list(reader.fieldnames), source)
    try:
        for row in reader:
            # reader.line_num is the physical line; data rows count from 2 (after the header)
            yield reader.line_num, row
    except csv.Error as exc:
        raise WorksFileError(f"{source}, line {reader.line_num}: {exc}") from None


def read_works(source: str | Path | Any) -> WorksReport:
    """Read works from a CSV path (UTF-8, with or without BOM) or a pandas DataFrame.

    Returns a WorksReport: `.works` holds every good row, `.errors` every bad one.
    Raises WorksFileError only when the table as a whole is unusable.
    """
    if hasattr(source, "to_dict") and hasattr(source, "columns"):
        _check_columns(list(source.columns), "<DataFrame>")
        records = source.to_dict(orient="records")
        return _collect(((i + 2, r) for i, r in enumerate(records)), "<DataFrame>")
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorksFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorksFileError(f"{path}: is a directory, expected a CSV file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WorksFileError(
            f"{path}, line {line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start});"
            " save the file as UTF-8"
        ) from None
    return _collect(_csv_rows(text, str(path)), str(path))


def with_fields(work: Work, **changes: Any) -> Work:
    """A copy of `work` with fields changed (sources use it to add ids they discover)."""
    return replace(work, **changes)
