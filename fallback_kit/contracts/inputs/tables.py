"""Tables: CSV files (comma, semicolon or tab separated; Zotero's CSV export) and DataFrames.

Every column of the user's table is kept as read. Zotero's CSV export has no PMID or
PMCID column: Zotero keeps them as `PMID: …` lines in the `Extra` column, read here.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._base import (
    MAX_CELL_CHARS,
    Entry,
    Parsed,
    WorksFileError,
    add_missing,
    ids_from_note,
    jsonable,
    neutralise_formula,
)

DELIMITERS = (",", ";", "\t")
_EXCEL_SEP = re.compile(r"^sep=[,;\t|]\r?(\n|$)")
ZOTERO_COLUMNS = ("Key", "Item Type", "Extra")  # the header of Zotero's CSV export has these
_ZOTERO_ARCHIVE_ID = "Archive ID"  # preprints: `arXiv:2106.01234`


def parse_csv(text: str, source: str) -> Parsed:
    """A CSV text; the delimiter is the one of `, ; TAB` its header line uses most."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    if not text.strip():
        raise WorksFileError(f"{source}: the file is empty (expected a header row)")
    delimiter = sniff_delimiter(text)
    first_line = 1
    if _EXCEL_SEP.match(text):  # Excel's `sep=;` line names the delimiter
        delimiter = text[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        first_line = 2
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise WorksFileError(f"{source}, line {first_line}: {exc}") from None
    except StopIteration:
        raise WorksFileError(f"{source}: the file is empty (expected a header row)") from None
    if not any(h.strip() for h in header):
        raise WorksFileError(f"{source}: the first line is empty (expected a header row)")
    check_header(header, source)
    zotero = all(c in header for c in ZOTERO_COLUMNS)
    return Parsed(format="csv", source=source,
                  entries=_csv_entries(reader, header, source, first_line - 1),
                  header=header, key="Key" if zotero else None,
                  extra={"delimiter": delimiter, "zotero": zotero})


def sniff_delimiter(text: str) -> str:
    """The delimiter the header line uses most (a comma when it uses none)."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def check_header(header: list[Any], source: str) -> None:
    """Refuse a header that names a column twice: its second value would hide the first."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        key = str(name).strip()
        if key in seen:
            raise WorksFileError(
                f"{source}: the header names column {key!r} twice (columns {seen[key]} and {i});"
                " rename one of them"
            )
        seen[key] = i


def _csv_entries(reader: Any, header: list[str], source: str, offset: int) -> Iterator[Entry]:
    names = [h.strip() for h in header]
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # a blank line, as csv.DictReader skips it
            if len(cells) > len(names):
                message = f"more values than columns ({len(cells)} for {len(names)})"
                yield Entry(row=reader.line_num + offset, fields={}, columns={}, error=message)
                continue
            row: dict[str, Any] = dict(zip(names, cells, strict=False))
            if len(cells) < len(names):
                row.update({n: None for n in names[len(cells):]})
            yield table_entry(row, reader.line_num + offset,
                              plain=max(map(len, cells), default=0) <= MAX_CELL_CHARS)
    except csv.Error as exc:
        raise WorksFileError(f"{source}, line {reader.line_num + offset}: {exc}") from None


def table_entry(row: dict[str, Any], row_number: int, *, plain: bool = False) -> Entry:
    """A row of a table: its own columns are the fields (aliases apply), plus Zotero's ids."""
    fields = row
    more = ids_from_note(row.get("Extra"))
    archive_id = row.get(_ZOTERO_ARCHIVE_ID)
    if isinstance(archive_id, str) and archive_id.lower().startswith("arxiv:"):
        more.setdefault("arxiv_id", archive_id)
    if more:
        fields = dict(row)
        add_missing(fields, more)
    # `plain`: every cell is short text already (a CSV row), kept as it is
    columns = row if plain else {k: jsonable(v) for k, v in row.items()}
    return Entry(row=row_number, fields=fields, columns=columns)


def parse_dataframe(df: Any) -> Parsed:
    """A pandas DataFrame; rows are numbered as the same rows of a CSV would be (from 2)."""
    header = [str(c) for c in df.columns]
    check_header(header, "<DataFrame>")
    zotero = all(c in header for c in ZOTERO_COLUMNS)
    records = df.to_dict(orient="records")
    entries = (table_entry({str(k): v for k, v in r.items()}, i + 2)
               for i, r in enumerate(records))
    return Parsed(format="csv", source="<DataFrame>", entries=entries, header=header,
                  key="Key" if zotero else None, extra={"delimiter": ",", "zotero": zotero})


def write_csv(records: list[dict[str, Any]], path: Path, *, delimiter: str = ",",
              header: list[str] | None = None) -> None:
    """The records as a CSV with the user's header (cells that spreadsheets would run as
    formulas are quoted with a leading apostrophe)."""
    columns = list(header or dict.fromkeys(k for r in records for k in r))
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(columns)
        for r in records:
            w.writerow([_cell(r.get(c)) for c in columns])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(neutralise_formula(value if isinstance(value, str) else str(value)))
