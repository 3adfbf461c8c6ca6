"""Synthetic corpora: works with 10.5555 DOIs and the identifiers a profile calls for.

`fallback-kit sandbox corpus --profile biomed --n 10000 --seed 1 > works.csv`. Every
row is a hash of (seed, row), so 10,000 rows take a fraction of a second and the same
arguments always give the same file.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from typing import TextIO

from ..contracts.works import Work
from ._hash import h64, u01, weighted
from .model import _synthetic_title
from .profiles import Profile, get_profile

__all__ = ["COLUMNS", "synthetic_rows", "synthetic_works", "write_corpus"]

COLUMNS = ("work_id", "doi", "arxiv_id", "pmcid", "pmid", "title", "landing_url", "kind")


def synthetic_rows(profile: str | Profile = "mixed", n: int = 1000,
                   seed: int = 0) -> Iterator[dict[str, str]]:
    """Rows (column -> text, empty when absent) of a synthetic corpus."""
    p = get_profile(profile)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    for i in range(n):
        wid = f"syn-{seed}-{i:06d}"
        doi = f"10.5555/{p.name}.{seed}.{i:06d}" if u01(seed, "c_doi", i) < p.p_doi else ""
        arxiv = ""
        if u01(seed, "c_arxiv", i) < p.p_arxiv:
            yy = 10 + (i // 90000) % 15  # ids are unique: the row picks the number
            mm = 1 + h64(seed, "am", i) % 12
            arxiv = f"{yy:02d}{mm:02d}.{10000 + i % 90000:05d}"
        pmcid = f"PMC{1_000_000 + 13 * i + h64(seed, 'pmc', i) % 13}" \
            if u01(seed, "c_pmcid", i) < p.p_pmcid else ""
        pmid = str(10_000_000 + 17 * i + h64(seed, "pmid", i) % 17) \
            if u01(seed, "c_pmid", i) < p.p_pmid else ""
        landing = ""
        if u01(seed, "c_landing", i) < p.p_landing_url or not (doi or arxiv or pmcid or pmid):
            landing = f"https://repository.example.org/items/{seed}-{i:06d}"
        yield {
            "work_id": wid, "doi": doi, "arxiv_id": arxiv, "pmcid": pmcid, "pmid": pmid,
            "title": _synthetic_title(seed, wid).capitalize(), "landing_url": landing,
            "kind": weighted(dict(p.kinds), seed, "kind", i),
        }


def synthetic_works(profile: str | Profile = "mixed", n: int = 1000,
                    seed: int = 0) -> list[Work]:
    """The same corpus as Work records (already normalised: no parsing needed)."""
    return [Work(work_id=r["work_id"], doi=r["doi"] or None, arxiv_id=r["arxiv_id"] or None,
                 pmcid=r["pmcid"] or None, pmid=r["pmid"] or None, title=r["title"],
                 landing_url=r["landing_url"] or None, kind=r["kind"])
            for r in synthetic_rows(profile, n, seed)]


def write_corpus(out: TextIO | None = None, *, profile: str | Profile = "mixed", n: int = 1000,
                 seed: int = 0) -> int:
    """Write the corpus as CSV (header first); returns the number of rows."""
    stream = out if out is not None else sys.stdout
    writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in synthetic_rows(profile, n, seed):
        writer.writerow(row)
        count += 1
    return count
