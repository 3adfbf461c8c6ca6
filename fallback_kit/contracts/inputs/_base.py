"""What every input format reader gives back, and the helpers they share.

A reader turns the user's file into `Entry`s: the identifiers it found under our field
names (`doi`, `arxiv_id`, `pmcid`, `pmid`, `title`, `landing_url`, `kind`, or `identifier`
for "any kind, detect it"), and the user's own record, kept whole, so that answers can be
joined back to it and misses written out again in the same format. Readers never
normalise identifiers: the rules live in `contracts.works`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_CELL_CHARS = 100_000  # a longer cell of the user's record is cut (never the row dropped)


class WorksFileError(ValueError):
    """The works input as a whole cannot be read (missing, empty, wrong encoding, wrong kind)."""


@dataclass(slots=True)
class Entry:
    """One entry of the input: where it is, what identifies it, and the user's record."""

    row: int | None  # the line (files) or the row as a CSV would number it (tables)
    fields: dict[str, Any]  # identifiers and title under our names (or a table's own columns)
    columns: dict[str, Any]  # the user's record as read, JSON-able, kept whole
    entry: str | None = None  # a citation key, for formats that name their entries
    error: str | None = None  # the entry could not be parsed at all


@dataclass(slots=True)
class Parsed:
    """A whole input: its format, the entries, and the key column the format itself has."""

    format: str
    source: str
    entries: Iterable[Entry]
    header: list[str] | None = None  # tables only: the column names in order
    key: str | None = None  # the format's own key (Zotero's `Key`, a BibTeX citation key)
    extra: dict[str, Any] = field(default_factory=dict)  # what a writer needs (delimiter...)


# Zotero and CSL processors keep ids without a field of their own as `Name: value` lines
# in Extra/note (https://www.zotero.org/support/kb/item_types_and_fields#citing_fields_from_extra)
_EXTRA_LINE = re.compile(r"^\s*(pmid|pmcid|arxiv|arxiv id|doi)\s*:\s*(\S+)", re.I | re.M)
_EXTRA_FIELDS = {"pmid": "pmid", "pmcid": "pmcid", "arxiv": "arxiv_id", "arxiv id": "arxiv_id",
                 "doi": "doi"}


def ids_from_note(text: Any) -> dict[str, str]:
    """The identifiers in `Name: value` lines of a Zotero Extra or CSL note field."""
    if not isinstance(text, str):
        return {}
    found: dict[str, str] = {}
    for m in _EXTRA_LINE.finditer(text):
        found.setdefault(_EXTRA_FIELDS[m.group(1).lower()], m.group(2))
    return found


def add_missing(fields: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Fill fields that are empty from `more` (an id in Extra never overrides a column)."""
    for name, value in more.items():
        if fields.get(name) in (None, ""):
            fields[name] = value


def jsonable(value: Any) -> Any:
    """A cell as JSON can store it: NaN -> None, numpy scalars -> Python, dates -> ISO text."""
    if value is None or isinstance(value, bool | int | str):
        return _cut(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "isoformat"):
        try:
            return str(value.isoformat())
        except (TypeError, ValueError):  # NaT
            return None
    try:
        if value != value:  # pandas NA-likes
            return None
    except (TypeError, ValueError):
        return None
    return _cut(str(value))


def neutralise_formula(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first, and not
    a number) gets a leading apostrophe; anything else is returned as it is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "…"


def read_text(path: Path) -> str:
    """The file as text (UTF-8, with or without BOM); a WorksFileError names what is wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorksFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorksFileError(f"{path}: is a directory, expected a works file") from None
    except PermissionError:
        raise WorksFileError(f"{path}: not readable (permission denied)") from None
    except OSError as exc:
        raise WorksFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    hint = binary_hint(data)
    if hint:
        raise WorksFileError(f"{path}: {hint}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WorksFileError(
            f"{path}, line {line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start});"
            " save the file as UTF-8"
        ) from None


_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the old .xls / .doc container


def binary_hint(data: bytes) -> str | None:
    """What to do with a spreadsheet or other binary file given as a works list."""
    if data.startswith(_ZIP) or data.startswith(_OLE):
        return ("a spreadsheet or other binary file (Excel, OpenDocument), not text; save it as "
                "CSV (UTF-8), or read it with pandas.read_excel and pass the DataFrame")
    if data.startswith(b"%PDF"):
        return "a PDF file, not a list of works; give a CSV, BibTeX, RIS or CSL-JSON file"
    return None

