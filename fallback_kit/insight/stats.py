"""The one percentile of the package: tables (analysis), figures (plots) and the
replayed projections (tuning) all read it, so a P95 means the same number everywhere.

Linear interpolation between the closest ranks (numpy's and pandas' default): the
q-quantile of sorted values v[0..n-1] is v[k] + (v[k+1] - v[k]) * frac at k = (n-1) q.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["LEVELS", "percentile", "percentiles"]

#: the percentiles the tables and figures report
LEVELS: tuple[float, ...] = (0.50, 0.95, 0.99)


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The `q` quantile (0..1) of `values`, None and NaN left out; None when empty."""
    clean = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    if not clean:
        return None
    k = (len(clean) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(clean) - 1)
    return clean[lo] + (clean[hi] - clean[lo]) * (k - lo)


def percentiles(values: Iterable[float | None], labels: Mapping[str, float]) -> dict[str, float]:
    """`{label: percentile}` for each `label: q` (NaN when there are no values), for tables."""
    clean = sorted(float(v) for v in values if v is not None and not math.isnan(float(v)))
    out: dict[str, float] = {}
    for label, q in labels.items():
        p = percentile(clean, q)
        out[label] = math.nan if p is None else p
    return out
