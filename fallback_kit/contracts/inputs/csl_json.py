"""CSL-JSON (`.json`): the citation data Zotero, Mendeley and citeproc processors export.

An array of items with `id`, `type`, `title`, `DOI`, `PMID`, `PMCID`, `URL`
(https://citeproc-js.readthedocs.io/en/latest/csl-json/markup.html); other ids may sit in
`note` as `Name: value` lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._base import Entry, Parsed, WorksFileError, add_missing, ids_from_note, jsonable

KEY = "id"


def parse_csl_json(text: str, source: str) -> Parsed:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise WorksFileError(f"{source}: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise WorksFileError(f"{source}, line {exc.lineno}: not JSON ({exc.msg})") from None
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        doc = doc["items"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise WorksFileError(f"{source}: expected a CSL-JSON array of items")
    return Parsed(format="csl-json", source=source,
                  entries=[_entry(i, item) for i, item in enumerate(doc, 1)], key=KEY)


def _entry(number: int, item: Any) -> Entry:
    if not isinstance(item, dict):
        return Entry(row=None, fields={}, columns={}, entry=f"#{number}",
                     error=f"expected an object, got {type(item).__name__}")
    fields: dict[str, Any] = {
        "title": item.get("title"),
        "kind": item.get("type"),
        "doi": item.get("DOI"),
        "pmid": item.get("PMID"),
        "pmcid": item.get("PMCID"),
    }
    add_missing(fields, ids_from_note(item.get("note")))
    archive_id = item.get("number")  # Zotero writes a preprint's Archive ID here
    if isinstance(archive_id, str) and archive_id.lower().startswith("arxiv:"):
        add_missing(fields, {"arxiv_id": archive_id})
    if isinstance(item.get("URL"), str) and item["URL"].strip():
        fields["url"] = item["URL"]
    key: Any = item.get(KEY)
    return Entry(row=None, fields=fields, columns={str(k): jsonable(v) for k, v in item.items()},
                 entry=str(key) if key not in (None, "") else f"#{number}")


def write_csl_json(records: list[dict[str, Any]], path: Path) -> None:
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
