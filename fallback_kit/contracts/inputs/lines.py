"""One identifier or URL per line (a text file, or a Python list of strings).

Each line may be any kind: a DOI, an arXiv id, a PMCID, a PMID, or a doi.org, arxiv.org,
PMC or PubMed URL; the kind is detected by `contracts.works`. Blank lines and lines
starting with `#` are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._base import Entry, Parsed

COLUMN = "identifier"  # the user's record of a line: the line as written


def parse_lines(text: str, source: str) -> Parsed:
    entries = [_entry(i, line) for i, line in enumerate(text.splitlines(), 1)
               if line.strip() and not line.lstrip().startswith("#")]
    return Parsed(format="ids", source=source, entries=entries)


def parse_strings(items: Iterable[Any]) -> Parsed:
    """A Python list of identifiers; rows count from 1 like the list's items."""
    entries = [_entry(i, item) for i, item in enumerate(items, 1)]
    return Parsed(format="ids", source="<list>", entries=entries)


def _entry(number: int, value: Any) -> Entry:
    text = value.strip() if isinstance(value, str) else value
    return Entry(row=number, fields={COLUMN: text}, columns={COLUMN: text})


def write_lines(records: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(f"{r.get(COLUMN, '')}\n" for r in records), encoding="utf-8")
