"""Small HTML tables for the notebook reprs (`_repr_html_`) of plans, resolutions and runs.

Every cell is escaped and cut to `MAX_CELL_CHARS`, and a table shows at most `MAX_ROWS`
rows: a repr is a glance, never a dump of every URL a run tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

MAX_CELL_CHARS = 120
MAX_ROWS = 12


def cell(value: Any) -> str:
    """One value as escaped, shortened text (`–` for nothing)."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    else:
        text = str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return escape(text)


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None,
          caption: str | None = None) -> str:
    """An HTML table of the first MAX_ROWS rows, saying how many more there are."""
    rows = list(rows)
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption style='text-align:left'><b>{escape(caption)}</b></caption>")
    if header:
        parts.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>")
    for row in rows[:MAX_ROWS]:
        parts.append("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
    if len(rows) > MAX_ROWS:
        width = len(header) if header else max(len(r) for r in rows)
        parts.append(f"<tr><td colspan='{width}'>… {len(rows) - MAX_ROWS} more</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def fields(pairs: Iterable[tuple[str, Any]], caption: str | None = None) -> str:
    """A two-column table of name / value."""
    return table([(name, value) for name, value in pairs], caption=caption)
