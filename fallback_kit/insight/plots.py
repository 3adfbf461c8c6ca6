"""Figures of runs for notebooks: waterfalls, latency ECDFs, coverage, outcome heatmaps.

Every function takes a run (anything with `.attempts` and `.resolutions` DataFrames,
such as `open_run(...)`, or a pair `(attempts, resolutions)`), or several runs (a
mapping label -> run, or a list: the label is `run.meta["plan_name"]`, else the name of
the run's plan when it has one, else its run_id). Each returns a
`matplotlib.figure.Figure`; pass `ax=` to draw into an existing one. Figures are built
without pyplot, so nothing is shown or kept alive behind the notebook's back, and a
notebook cell shows the returned figure once.

Percentiles use linear interpolation (as `pandas.Series.quantile` and analysis.py do).
Outcome colours are fixed (`OUTCOME_COLORS`), so the same outcome has the same colour in
every figure of every run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.colors as mcolors
import matplotlib.transforms as mtransforms
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..contracts.events import NOT_TRIED, Outcome, ResolutionStatus
from .stats import LEVELS, percentiles

__all__ = [
    "OUTCOME_COLORS",
    "STATUS_COLORS",
    "compare_plans",
    "coverage_by_tier",
    "latency_percentiles",
    "outcomes_by_source",
    "source_latency_percentiles",
    "waterfall",
    "waterfall_sample",
]

#: One colour per attempt outcome: green wins, greys for "never asked", warm colours
#: for failures, purple for timeouts; `cancelled` is grey and drawn hatched and faded.
OUTCOME_COLORS: dict[str, str] = {
    "success": "#2ca02c",
    "no_pdf": "#9ecae1",
    "not_applicable": "#d9d9d9",
    "invalid_pdf": "#ff7f0e",
    "skipped": "#bdbdbd",
    "retryable": "#fdd835",
    "nonretryable": "#d62728",
    "timeout": "#9467bd",
    "cancelled": "#7f7f7f",
    "failed_local": "#6d4c41",
    "error": "#8c1c13",
}
#: Colours of the work endings that are not "resolved" in coverage figures.
STATUS_COLORS: dict[str, str] = {
    "not_found": "#bdbdbd",
    "budget_exhausted": "#9467bd",
    "failed_local": "#6d4c41",
    "transient": "#fdd835",
    "error": "#d62728",
}
CANCELLED_STYLE: dict[str, Any] = {"hatch": "///", "alpha": 0.45}
PERCENTILES: dict[str, float] = {f"P{round(q * 100)}": q for q in LEVELS}
NOT_REQUESTED = tuple(str(o) for o in NOT_TRIED)  # the source was never asked: no duration
_MIN_BAR_FRACTION = 0.004  # instantaneous attempts still get a visible sliver


# ---- inputs --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _RunData:
    label: str
    attempts: pd.DataFrame
    resolutions: pd.DataFrame
    meta: Mapping[str, Any] = field(default_factory=dict)


def _is_pair(x: Any) -> bool:
    return (isinstance(x, tuple) and len(x) == 2
            and all(isinstance(f, pd.DataFrame) for f in x))


def _label_of(run: Any, meta: Mapping[str, Any], attempts: pd.DataFrame,
              resolutions: pd.DataFrame) -> str:
    if meta.get("plan_name"):
        return str(meta["plan_name"])
    try:  # a stored run knows its plan; a broken plan text must not break a figure
        name = getattr(getattr(run, "plan", None), "name", None)
    except Exception:
        name = None
    if name and name != "plan":  # "plan" is what an unnamed plan is called: say nothing
        return str(name)
    run_id = meta.get("run_id") or getattr(run, "run_id", None)
    if not run_id:
        for df in (resolutions, attempts):
            if "run_id" in df.columns and len(df):
                run_id = df["run_id"].iloc[0]
                break
    return str(run_id) if run_id else "run"


def _one(run: Any, label: str | None = None) -> _RunData:
    """Normalise one run-like input; raise TypeError saying what is accepted."""
    if isinstance(run, _RunData):
        return run
    if _is_pair(run):
        attempts, resolutions = run
        meta: Mapping[str, Any] = {}
        source = None
    elif hasattr(run, "attempts") and hasattr(run, "resolutions"):
        attempts, resolutions = run.attempts, run.resolutions
        meta = getattr(run, "meta", None) or {}
        source = run
    else:
        raise TypeError(
            f"expected a run (an object with .attempts and .resolutions DataFrames, such as "
            f"open_run(path)) or a pair (attempts, resolutions), got {type(run).__name__}"
        )
    if label is None:
        label = _label_of(source, meta, attempts, resolutions)
    return _RunData(label=label, attempts=attempts, resolutions=resolutions, meta=meta)


def _many(runs: Any) -> list[_RunData]:
    """Several runs: a mapping label -> run, a list of runs, or a single run."""
    if isinstance(runs, Mapping):
        return [_one(r, str(label)) for label, r in runs.items()]
    if _is_pair(runs) or hasattr(runs, "attempts"):
        return [_one(runs)]
    if isinstance(runs, Iterable) and not isinstance(runs, str | bytes):
        out = [_one(r) for r in runs]
        seen: dict[str, int] = {}
        for i, r in enumerate(out):  # two runs of one plan still get two legend entries
            seen[r.label] = seen.get(r.label, 0) + 1
            if seen[r.label] > 1:
                out[i] = _RunData(label=f"{r.label} #{seen[r.label]}", attempts=r.attempts,
                                  resolutions=r.resolutions, meta=r.meta)
        if not out:
            raise ValueError("no runs given: pass a mapping label -> run or a list of runs")
        return out
    raise TypeError(f"expected runs as a mapping label -> run or a list, got {type(runs).__name__}")


def _figure_and_ax(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _order(values: Sequence[Any], series: pd.Series) -> list[str]:
    """Labels in their categorical order when the column has one, else as first seen."""
    present = [str(v) for v in dict.fromkeys(values) if isinstance(v, str)]
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in series.cat.categories]
        return [c for c in cats if c in present] + [p for p in present if p not in cats]
    return present


def _quantiles(values: Any) -> dict[str, float]:
    return percentiles(pd.Series(values, dtype="float64"), PERCENTILES)


def _durations(att: pd.DataFrame) -> pd.Series:
    if "duration_ms" in att.columns:
        return att["duration_ms"].astype("float64")
    return (att["t_end_ms"] - att["t_start_ms"]).astype("float64")


def _resolved(res: pd.DataFrame) -> pd.DataFrame:
    return res[res["status"].astype("object") == str(ResolutionStatus.RESOLVED)]


# ---- waterfall -------------------------------------------------------------------------


def _draw_waterfall(ax: Axes, data: _RunData, work_id: str, deadline_ms: float | None,
                    legend: bool) -> float:
    """Draw one work's waterfall into `ax`; return the right end of its time axis."""
    att = data.attempts[data.attempts["work_id"].astype("object") == work_id]
    att = att.sort_values("t_start_ms", kind="stable")
    res = data.resolutions[data.resolutions["work_id"].astype("object") == work_id]
    resolution = res.iloc[-1] if len(res) else None
    if deadline_ms is None and data.meta.get("total_timeout_ms") is not None:
        deadline_ms = float(data.meta["total_timeout_ms"])

    tiers = _order(list(att["tier"].astype("object")), data.attempts["tier"])
    rows: list[tuple[str, str]] = []  # (tier, source), top to bottom
    for tier in tiers:
        in_tier = att[att["tier"].astype("object") == tier]
        for source in dict.fromkeys(in_tier["source"].astype("object")):
            rows.append((tier, str(source)))
    y_of = {key: i for i, key in enumerate(rows)}

    t_max = float(att["t_end_ms"].max()) if len(att) else 0.0
    if resolution is not None:
        t_max = max(t_max, float(resolution["elapsed_ms"]))
    if deadline_ms is not None:
        t_max = max(t_max, float(deadline_ms))
    min_width = max(t_max, 1.0) * _MIN_BAR_FRACTION

    winner_index = None
    if resolution is not None and str(resolution["status"]) == str(ResolutionStatus.RESOLVED):
        wins = att[(att["outcome"].astype("object") == str(Outcome.SUCCESS))
                   & (att["source"].astype("object") == resolution["source"])]
        if len(wins):
            winner_index = wins.index[0]

    for idx, a in att.iterrows():
        outcome = str(a["outcome"])
        y = y_of[(str(a["tier"]), str(a["source"]))]
        start, end = float(a["t_start_ms"]), float(a["t_end_ms"])
        style: dict[str, Any] = {"edgecolor": "#333333", "linewidth": 0.6}
        if outcome == str(Outcome.CANCELLED):
            style.update(CANCELLED_STYLE)
        if idx == winner_index:
            style.update(edgecolor="black", linewidth=2.2)
        bars = ax.barh(y, max(end - start, min_width), left=start, height=0.6,
                       color=OUTCOME_COLORS.get(outcome, "#000000"), **style)
        bar = bars.patches[0]
        bar.set_gid(f"attempt:{outcome}" + (":winner" if idx == winner_index else ""))
        if idx == winner_index:
            ax.plot([end], [y], marker="*", markersize=14, color="gold",
                    markeredgecolor="black", linestyle="none", gid="winner")

    # tier groups: a shaded band behind every other tier, the tier name on the right
    trans = mtransforms.blended_transform_factory(ax.transAxes, ax.transData)
    for k, tier in enumerate(tiers):
        ys = [y_of[key] for key in rows if key[0] == tier]
        lo, hi = min(ys) - 0.5, max(ys) + 0.5
        if k % 2 == 1:
            ax.axhspan(lo, hi, color="#f0f0f0", zorder=0, gid="tier-band")
        if k:
            ax.axhline(lo, color="#999999", linewidth=0.8, gid="tier-separator")
        ax.text(1.01, (lo + hi) / 2, tier, transform=trans, ha="left", va="center",
                fontsize="small", style="italic", gid="tier-label")

    if deadline_ms is not None:
        ax.axvline(float(deadline_ms), color="#d62728", linestyle="--", linewidth=1.2,
                   gid="deadline")

    ax.set_yticks(range(len(rows)), [s for _, s in rows])
    ax.set_ylim(len(rows) - 0.5 if rows else 0.5, -0.5)
    right = max(t_max, 1.0) * 1.03
    ax.set_xlim(0, right)
    ax.set_xlabel("time since work start (ms)")
    if resolution is None:
        status = "no resolution"
    else:
        status = str(resolution["status"])
        if status == str(ResolutionStatus.RESOLVED):
            status += f" by {resolution['source']} in {float(resolution['elapsed_ms']):.0f} ms"
    ax.set_title(f"{work_id} — {status}", fontsize="medium")

    if legend:
        ax.legend(handles=_waterfall_handles(att["outcome"].astype("object"),
                                             winner_index is not None, deadline_ms),
                  loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize="small",
                  title="outcome", frameon=False)
    return right


def _waterfall_handles(outcomes: Iterable[str], winner: bool,
                       deadline_ms: float | None) -> list[Any]:
    present = set(map(str, outcomes))
    handles: list[Any] = []
    for o in OUTCOME_COLORS:
        if o in present:
            extra = CANCELLED_STYLE if o == str(Outcome.CANCELLED) else {}
            handles.append(Patch(facecolor=OUTCOME_COLORS[o], edgecolor="#333333", label=o,
                                 **extra))
    if winner:
        handles.append(Line2D([], [], marker="*", markersize=12, color="gold",
                              markeredgecolor="black", linestyle="none", label="winner"))
    if deadline_ms is not None:
        handles.append(Line2D([], [], color="#d62728", linestyle="--", label="deadline"))
    return handles


def waterfall(run: Any, work_id: str, *, ax: Axes | None = None,
              deadline_ms: float | None = None) -> Figure:
    """One work's attempts on its own clock: which source ran when, how each ended,
    which one won, and how close the work came to its deadline.

    Rows are sources grouped by tier (tier names on the right), bars run from
    `t_start_ms` to `t_end_ms` coloured by outcome; cancelled tries are hatched and
    faded, the winner has a bold edge and a star. `deadline_ms` defaults to
    `run.meta["total_timeout_ms"]` when the run has it.
    """
    data = _one(run)
    known = set(data.attempts["work_id"].astype("object")) | set(
        data.resolutions["work_id"].astype("object"))
    if work_id not in known:
        raise KeyError(f"work {work_id!r} is not in this run ({len(known)} works); "
                       "pick one from run.resolutions['work_id']")
    n_rows = int(data.attempts.loc[data.attempts["work_id"].astype("object") == work_id,
                                   "source"].nunique())
    fig, ax = _figure_and_ax(ax, (9.0, 1.4 + 0.35 * max(n_rows, 1)))
    _draw_waterfall(ax, data, work_id, deadline_ms, legend=True)
    return fig


def waterfall_sample(run: Any, n: int, *, seed: int = 0) -> Figure:
    """Waterfalls of `n` works drawn at random (reproducibly with `seed`), stacked on one
    shared time axis so that fast and slow works can be told apart at a glance."""
    data = _one(run)
    ids = list(dict.fromkeys(data.resolutions["work_id"].astype("object")))
    ids += [w for w in dict.fromkeys(data.attempts["work_id"].astype("object")) if w not in ids]
    if not ids:
        raise ValueError("the run has no works to draw")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    chosen = random.Random(seed).sample(ids, min(n, len(ids)))
    heights = [max(1, int(data.attempts.loc[data.attempts["work_id"].astype("object") == w,
                                            "source"].nunique())) for w in chosen]
    fig = Figure(figsize=(9.0, 0.9 * len(chosen) + 0.3 * sum(heights)), layout="constrained")
    axes = fig.subplots(len(chosen), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    right = 1.0
    for ax, wid in zip(axes, chosen, strict=True):
        right = max(right, _draw_waterfall(ax, data, str(wid), None, legend=False))
        ax.set_xlabel("")
        ax.title.set_fontsize("small")
        ax.tick_params(axis="y", labelsize="small")
    axes[0].set_xlim(0, right)  # each draw set its own limit on the shared axis: widest wins
    axes[-1].set_xlabel("time since work start (ms)")
    deadline = data.meta.get("total_timeout_ms")
    outcomes = data.attempts.loc[data.attempts["work_id"].astype("object").isin(chosen),
                                 "outcome"].astype("object")
    winners = any(line.get_gid() == "winner" for ax in axes for line in ax.get_lines())
    fig.legend(handles=_waterfall_handles(outcomes, winners, deadline), loc="outside right upper",
               fontsize="small", title="outcome", frameon=False)
    fig.suptitle(f"{data.label}: {len(chosen)} sampled works (seed {seed})")
    return fig


# ---- latency ---------------------------------------------------------------------------


def latency_percentiles(runs: Any, *, ax: Axes | None = None, logx: bool = False) -> Figure:
    """ECDF of the time to resolve a work (resolved works only), one curve per run, with
    P50/P95/P99 marked on each curve: how long most works wait, and how long the tail is.

    The values are written in the legend beside the axes, one aligned row per run (a small
    table): written next to the markers they collide as soon as two curves run close.
    """
    datas = _many(runs)
    fig, ax = _figure_and_ax(ax, (9.5, 4.5))
    markers = {"P50": "o", "P95": "s", "P99": "^"}
    colors = [f"C{i % 10}" for i in range(len(datas))]
    samples = [np.sort(_resolved(d.resolutions)["elapsed_ms"].astype("float64").dropna())
               for d in datas]
    header, *rows = _percentile_rows([d.label for d in datas], samples)
    for data, values, row, color in zip(datas, samples, rows, colors, strict=True):
        if values.size == 0:
            ax.plot([], [], color=color, label=row)
            continue
        y = np.arange(1, values.size + 1) / values.size
        ax.step(np.concatenate([[values[0]], values]), np.concatenate([[0.0], y]), where="post",
                color=color, label=row, gid=f"ecdf:{data.label}")
        for name, value in _quantiles(values).items():
            ax.plot([value], [PERCENTILES[name]], marker=markers[name], color=color,
                    markeredgecolor="black", linestyle="none", gid=f"{name}:{data.label}")
    for q in PERCENTILES.values():
        ax.axhline(q, color="#cccccc", linewidth=0.6, zorder=0)
    if logx:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time to resolve a work (ms)")
    ax.set_ylabel("share of resolved works")
    ax.set_title("Resolution latency (ECDF) with P50 / P95 / P99")
    handles, _ = ax.get_legend_handles_labels()
    handles.insert(0, Line2D([], [], linestyle="none", label=header))  # the table's header
    handles += [Line2D([], [], marker=m, color="#555555", linestyle="none", label=k)
                for k, m in markers.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              prop={"family": "monospace", "size": "small"}, title="latency (ms)",
              title_fontproperties={"size": "small"})
    return fig


def _percentile_rows(labels: Sequence[str], samples: Sequence[np.ndarray]) -> list[str]:
    """A header and one legend row per run, `label (n)  P50  P95  P99`, padded so that a
    monospace font aligns them in columns like a table."""
    cells: list[list[str]] = [["run (n)", *PERCENTILES]]
    for label, values in zip(labels, samples, strict=True):
        q = _quantiles(values)
        numbers = [f"{q[k]:,.0f}" for k in PERCENTILES] if values.size else ["-"] * 3
        cells.append([f"{label} ({values.size})", *numbers])
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    return ["  ".join([row[0].ljust(widths[0]),
                       *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
            for row in cells]


def source_latency_percentiles(run: Any, *, ax: Axes | None = None) -> Figure:
    """P50/P95/P99 of each source's attempt durations (tries that sent a request, so
    `not_applicable` and `skipped` are left out): which sources are slow, and how
    unpredictable each one is."""
    data = _one(run)
    att = data.attempts[~data.attempts["outcome"].astype("object").isin(NOT_REQUESTED)]
    durations = _durations(att)
    sources = _order(list(att.sort_values("t_start_ms")["source"].astype("object")),
                     data.attempts["source"])
    tier_rank = {t: i for i, t in enumerate(_order(list(att["tier"].astype("object")),
                                                   data.attempts["tier"]))}
    first_tier = {str(s): str(t) for s, t in zip(att["source"].astype("object"),
                                                 att["tier"].astype("object"), strict=True)}
    sources.sort(key=lambda s: tier_rank.get(first_tier.get(s, ""), len(tier_rank)))
    fig, ax = _figure_and_ax(ax, (8.0, 1.2 + 0.45 * max(len(sources), 1)))
    markers = {"P50": "o", "P95": "s", "P99": "^"}
    table: dict[str, dict[str, float]] = {}
    labels = []
    for y, source in enumerate(sources):
        values = durations[att["source"].astype("object") == source]
        q = _quantiles(values)
        table[source] = q
        labels.append(f"{source} (n={len(values)})")
        ax.plot([q["P50"], q["P99"]], [y, y], color="#999999", linewidth=1.5, zorder=1)
    for k, (name, marker) in enumerate(markers.items()):
        xs = [table[s][name] for s in sources]
        ax.plot(xs, range(len(sources)), marker=marker, linestyle="none", color=f"C{k}",
                markeredgecolor="black", label=name, gid=name, zorder=2)
    ax.set_yticks(range(len(sources)), labels)
    ax.set_ylim(len(sources) - 0.5 if sources else 0.5, -0.5)
    ax.set_xlabel("attempt duration (ms)")
    ax.set_title(f"{data.label}: attempt duration per source")
    ax.grid(axis="x", color="#e0e0e0")
    # beside the axes: inside, any corner can be where the slowest source's markers are
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


# ---- coverage and outcomes --------------------------------------------------------------


def coverage_by_tier(runs: Any, *, ax: Axes | None = None, normalize: bool = True) -> Figure:
    """One stacked bar per run: works resolved by each tier (plan order, greens), then
    not found, budget exhausted and error; as a share of done works (`normalize=True`)
    or as counts."""
    datas = _many(runs)
    resolved = {t for d in datas for t in _resolved(d.resolutions)["tier"].astype("object")}
    tiers = [t for t in _merge_orders([_plan_tiers(d) for d in datas]) if t in resolved]
    greens = [mcolors.to_hex(c) for c in
              _sequential("Greens", len(tiers))]
    segments = [(f"resolved: {t}", greens[i]) for i, t in enumerate(tiers)]
    segments += [(s, STATUS_COLORS[s]) for s in STATUS_COLORS]
    counts = np.zeros((len(datas), len(segments)))
    for i, d in enumerate(datas):
        res = d.resolutions
        status = res["status"].astype("object")
        resolved_tiers = res.loc[status == "resolved", "tier"].astype("object")
        for j, t in enumerate(tiers):
            counts[i, j] = int((resolved_tiers == t).sum())
        for j, s in enumerate(STATUS_COLORS, start=len(tiers)):
            counts[i, j] = int((status == s).sum())
    totals = counts.sum(axis=1, keepdims=True)
    values = np.divide(counts * 100.0, totals, out=np.zeros_like(counts), where=totals > 0) \
        if normalize else counts
    fig, ax = _figure_and_ax(ax, (2.0 + 1.3 * len(datas), 4.5))
    x = np.arange(len(datas))
    bottom = np.zeros(len(datas))
    for j, (label, color) in enumerate(segments):
        bars = ax.bar(x, values[:, j], bottom=bottom, color=color, edgecolor="white",
                      width=0.6, label=label)
        for i, bar in enumerate(bars.patches):
            bar.set_gid(f"{label}|{datas[i].label}")
            if counts[i, j]:
                ax.text(x[i], bottom[i] + values[i, j] / 2, f"{int(counts[i, j])}",
                        ha="center", va="center", fontsize="x-small")
        bottom += values[:, j]
    ax.set_xticks(x, [d.label for d in datas])
    ax.set_ylabel("share of done works (%)" if normalize else "works")
    if normalize:
        ax.set_ylim(0, 100)
    ax.set_title("Coverage by tier (counts in the bars)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return fig


def _plan_tiers(data: _RunData) -> list[str]:
    """The run's tiers in plan order: the categories a stored run gives its tier columns,
    else the order in which each work's attempts reached them (merged over works), since
    the first tier seen in resolutions is just the first work to finish."""
    for df in (data.resolutions, data.attempts):
        if "tier" in df.columns and isinstance(df["tier"].dtype, pd.CategoricalDtype):
            return [str(c) for c in df["tier"].cat.categories]
    att = data.attempts.sort_values("t_start_ms", kind="stable")
    per_work = dict.fromkeys(tuple(t for t in dict.fromkeys(tiers) if isinstance(t, str))
                             for _, tiers in att["tier"].astype("object").groupby(
                                 att["work_id"].astype("object"), sort=False))
    order = _merge_orders(list(per_work))
    rest = [t for t in dict.fromkeys(data.resolutions["tier"].astype("object"))
            if isinstance(t, str) and t not in order]
    return order + rest


def _merge_orders(orders: Sequence[Sequence[str]]) -> list[str]:
    """One order of the tiers of several plans that keeps each plan's own order: a tier
    comes once every tier some plan puts before it has come; among those ready (or, when
    plans contradict each other, among all left) the lowest position in a plan goes first,
    then the first seen."""
    seen = list(dict.fromkeys(t for order in orders for t in order))
    rank = {t: (min(o.index(t) for o in orders if t in o), k) for k, t in enumerate(seen)}
    before: dict[str, set[str]] = {t: set() for t in seen}
    for order in orders:
        for i, t in enumerate(order):
            before[t].update(order[:i])
    out: list[str] = []
    left = set(seen)
    while left:
        ready = [t for t in left if not before[t] & left] or list(left)
        out.append(min(ready, key=rank.__getitem__))
        left.remove(out[-1])
    return out


def _sequential(cmap_name: str, n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps[cmap_name]
    if n == 0:
        return []
    return [cmap(v) for v in np.linspace(0.85, 0.4, n)]


def outcomes_by_source(run: Any, *, ax: Axes | None = None) -> Figure:
    """Source x outcome counts as a heatmap with the count in each cell: where each
    source spends its tries, and how they fail."""
    data = _one(run)
    att = data.attempts
    sources = _order(list(att["source"].astype("object")), att["source"])
    outcomes = [str(o) for o in Outcome]
    table = pd.crosstab(att["source"].astype("object"), att["outcome"].astype("object"))
    table = table.reindex(index=sources, columns=outcomes, fill_value=0)
    counts = table.to_numpy(dtype="int64")
    fig, ax = _figure_and_ax(ax, (1.5 + 0.75 * len(outcomes), 1.5 + 0.45 * max(len(sources), 1)))
    image = ax.imshow(counts, cmap="Blues", aspect="auto", vmin=0,
                      vmax=max(int(counts.max()) if counts.size else 1, 1))
    high = (counts.max() if counts.size else 0) * 0.6
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize="small",
                    color="white" if counts[i, j] > high and counts[i, j] else "black",
                    gid=f"cell:{sources[i]}:{outcomes[j]}")
    ax.set_xticks(range(len(outcomes)), outcomes, rotation=35, ha="right")
    ax.set_yticks(range(len(sources)), sources)
    ax.set_xlabel("outcome")
    ax.set_ylabel("source")
    ax.set_title(f"{data.label}: attempts by source and outcome")
    fig.colorbar(image, ax=ax, label="attempts")
    return fig


def compare_plans(runs: Any, *, ax: Axes | None = None) -> Figure:
    """Coverage against P95 resolution latency, one labelled point per plan; the marker
    area grows with the requests spent per resolved work. Up and left is better."""
    datas = _many(runs)
    rows: list[dict[str, Any]] = []
    for d in datas:
        res = d.resolutions
        resolved = _resolved(res)
        done = len(res)
        rows.append({
            "label": d.label,
            "coverage": 100.0 * len(resolved) / done if done else math.nan,
            "p95": _quantiles(resolved["elapsed_ms"])["P95"],
            "rpr": float(res["requests"].sum()) / len(resolved) if len(resolved) else math.nan,
        })
    fig, ax = _figure_and_ax(ax, (7.0, 5.0))
    rpr = np.array([r["rpr"] for r in rows], dtype="float64")
    # area grows with requests per resolved work, capped so that one costly plan does not
    # cover the others (the annotation gives the exact figure)
    sizes = np.where(np.isnan(rpr), 40.0, np.minimum(40.0 + 60.0 * np.nan_to_num(rpr), 900.0))
    for k, (r, size) in enumerate(zip(rows, sizes, strict=True)):
        ax.scatter([r["p95"]], [r["coverage"]], s=[size], color=f"C{k % 10}", alpha=0.8,
                   edgecolor="black", gid=f"plan:{r['label']}", label=r["label"])
        rpr_text = "n/a" if math.isnan(r["rpr"]) else f"{r['rpr']:.2f}"
        ax.annotate(f"{r['label']}\n{rpr_text} req/resolved", (r["p95"], r["coverage"]),
                    xytext=(8, 6), textcoords="offset points", fontsize="small")
    finite = [r["p95"] for r in rows if not math.isnan(r["p95"])]
    if finite:
        ax.set_xlim(0, max(finite) * 1.25 or 1.0)
    ax.set_ylim(0, 105)
    ax.set_xlabel("P95 time to resolve a work (ms)")
    ax.set_ylabel("coverage (% of done works resolved)")
    ax.set_title("Plans: coverage vs P95 latency\n"
                 "(marker area grows with requests per resolved work)", fontsize="medium")
    ax.grid(color="#e8e8e8")
    ax.legend(loc="lower right", fontsize="small", title="plan")
    return fig
