"""RIS (`.ris`, the tagged format of EndNote, Zotero, Mendeley, publishers), read with rispy.

Fields keep rispy's names (`doi`, `urls`, `id`, `type_of_reference`...). RIS has no PMID
tag: exporters put `PMID: …` in a note (N1), read like Zotero's Extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._base import Entry, Parsed, WorksFileError, add_missing, ids_from_note, jsonable

KEY = "id"  # the ID tag


def parse_ris(text: str, source: str) -> Parsed:
    import rispy

    try:
        records = rispy.loads(text)
    except (ValueError, KeyError, IndexError) as exc:
        raise WorksFileError(f"{source}: not a readable RIS file ({exc})") from None
    if not records:
        raise WorksFileError(f"{source}: no RIS records (each starts with 'TY  - ')")
    return Parsed(format="ris", source=source,
                  entries=[_entry(i, r) for i, r in enumerate(records, 1)], key=KEY)


def _entry(number: int, r: dict[str, Any]) -> Entry:
    fields: dict[str, Any] = {
        "title": r.get("title") or r.get("primary_title"),
        "kind": r.get("type_of_reference"),
        "doi": r.get("doi"),
    }
    for note in r.get("notes") or []:
        add_missing(fields, ids_from_note(note))
    urls = [u for u in r.get("urls") or [] if isinstance(u, str) and u.strip()]
    if urls:
        fields["url"] = urls[0]
    key = r.get(KEY)
    return Entry(row=None, fields=fields, columns={k: jsonable(v) for k, v in r.items()},
                 entry=str(key) if key else f"#{number}")


def write_ris(records: list[dict[str, Any]], path: Path) -> None:
    import rispy

    path.write_text(rispy.dumps(records), encoding="utf-8")
