"""The lists researchers have, read as entries: CSV (Zotero's too), DataFrames, BibTeX,
RIS, CSL-JSON, and one identifier per line (a text file or a Python list of strings).

The format is detected from the content and the file's extension; `format=` forces one.
`write_records` writes records back in their format (the misses of a run, to run again).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._base import Entry, Parsed, WorksFileError, read_text
from .bibtex import parse_bibtex, write_bibtex
from .csl_json import parse_csl_json, write_csl_json
from .lines import parse_lines, parse_strings, write_lines
from .ris import parse_ris, write_ris
from .tables import parse_csv, parse_dataframe, write_csv

__all__ = ["FORMATS", "Entry", "Parsed", "WorksFileError", "detect_format", "parse",
           "write_records"]

_READERS: dict[str, Callable[[str, str], Parsed]] = {
    "csv": parse_csv,
    "bibtex": parse_bibtex,
    "ris": parse_ris,
    "csl-json": parse_csl_json,
    "ids": parse_lines,
}
FORMATS = tuple(_READERS)
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".bib": "bibtex", ".bibtex": "bibtex",
               ".ris": "ris", ".json": "csl-json", ".csljson": "csl-json"}
_SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
_FILE_EXTENSIONS = {".txt", ".lst", ".list", ""}

_RIS_START = re.compile(r"^TY  ?- ", re.M)
_BIB_ENTRY = re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]", re.M)
# the start of an identifier or id URL, as a line of a headerless list begins
_ID_START = re.compile(
    r"^\s*(?:10\.\d{4,9}/|doi:|https?://|arxiv:|pmc\d|pmid:|\d{4}\.\d{4,5}(?:v\d+)?\s*$|\d+\s*$"
    r"|[a-z-]+(?:\.[a-z]{2})?/\d{7})",
    re.I,
)


def parse(source: Any, *, format: str | None = None) -> Parsed:
    """Read `source` (a path, a DataFrame, or a list of identifier strings) into entries."""
    if format is not None and format not in FORMATS:
        raise WorksFileError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if hasattr(source, "to_dict") and hasattr(source, "columns"):
        return parse_dataframe(source)
    if isinstance(source, list | tuple) or (hasattr(source, "tolist") and not
                                            isinstance(source, str | Path)):
        items = source.tolist() if hasattr(source, "tolist") else list(source)
        return parse_strings(items)
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in _SPREADSHEETS and format is None:
        raise WorksFileError(
            f"{path}: a spreadsheet ({suffix}); save it as CSV (UTF-8), or read it with "
            "pandas.read_excel and pass the DataFrame"
        )
    text = read_text(path)
    return _READERS[format or detect_format(text, suffix)](text, str(path))


def detect_format(text: str, suffix: str = "") -> str:
    """The format of a file from its content, the extension breaking ties."""
    head = text.lstrip()[:4096]
    first = head.split("\n", 1)[0].rstrip("\r")
    if _RIS_START.search(head):
        return "ris"
    if head.startswith(("[", "{")):
        return "csl-json"
    if _BIB_ENTRY.search(head) and not _looks_tabular(first):
        return "bibtex"
    if _ID_START.match(first) and "," not in first and ";" not in first and "\t" not in first:
        return "ids"
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    return "csv" if suffix not in _FILE_EXTENSIONS or _looks_tabular(first) else "ids"


def _looks_tabular(line: str) -> bool:
    return any(d in line for d in (",", ";", "\t"))


_WRITERS: dict[str, Callable[..., None]] = {
    "csv": write_csv,
    "bibtex": write_bibtex,
    "ris": write_ris,
    "csl-json": write_csl_json,
    "ids": write_lines,
}


def write_records(records: list[dict[str, Any]], path: str | Path, format: str,
                  **options: Any) -> Path:
    """Write the users' records in `format` (as read; options such as a CSV delimiter)."""
    if format not in _WRITERS:
        raise WorksFileError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    out = Path(path)
    if format == "csv":
        _WRITERS[format](records, out, **options)
    else:
        _WRITERS[format](records, out)
    return out
