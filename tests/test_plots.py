"""Figures of runs: the right artists at the right places, drawn without warnings."""

from __future__ import annotations

import io
from itertools import combinations
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fallback_kit.contracts.events import Attempt, Outcome, Resolution, ResolutionStatus  # noqa: E402
from fallback_kit.insight import plots  # noqa: E402

O, S = Outcome, ResolutionStatus  # noqa: E741


def _att(work: str, tier: str, source: str, outcome: Outcome, t0: float, t1: float,
         run_id: str = "r1") -> dict[str, Any]:
    return Attempt(run_id=run_id, work_id=work, tier=tier, source=source, outcome=outcome,
                   t_start_ms=t0, t_end_ms=t1).to_dict()


def _res(work: str, status: ResolutionStatus, elapsed: float, source: str | None = None,
         tier: str | None = None, requests: int = 1, run_id: str = "r1") -> dict[str, Any]:
    return Resolution(run_id=run_id, work_id=work, status=status, source=source, tier=tier,
                      elapsed_ms=elapsed, requests=requests).to_dict()


ATTEMPTS = [
    _att("w1", "direct_oa", "unpaywall", O.NO_PDF, 0, 120),
    _att("w1", "direct_oa", "arxiv", O.SUCCESS, 5, 300),
    _att("w1", "direct_oa", "pmc", O.CANCELLED, 130, 300),
    _att("w2", "direct_oa", "unpaywall", O.NO_PDF, 0, 100),
    _att("w2", "direct_oa", "arxiv", O.NOT_APPLICABLE, 0, 0),
    _att("w2", "direct_oa", "pmc", O.TIMEOUT, 0, 500),
    _att("w2", "archive", "wayback", O.SUCCESS, 500, 900),
    _att("w3", "direct_oa", "unpaywall", O.NONRETRYABLE, 0, 50),
    _att("w3", "archive", "wayback", O.NO_PDF, 50, 400),
    _att("w4", "direct_oa", "unpaywall", O.TIMEOUT, 0, 1000),
    _att("w5", "direct_oa", "unpaywall", O.SUCCESS, 0, 80),
]
RESOLUTIONS = [
    _res("w1", S.RESOLVED, 300, "arxiv", "direct_oa", requests=3),
    _res("w2", S.RESOLVED, 900, "wayback", "archive", requests=5),
    _res("w3", S.NOT_FOUND, 400, requests=2),
    _res("w4", S.BUDGET_EXHAUSTED, 1000, requests=1),
    _res("w5", S.RESOLVED, 80, "unpaywall", "direct_oa", requests=1),
]


SOURCES = ["unpaywall", "arxiv", "pmc", "doi_redirect", "wayback"]


class FakeRun:
    """What open_run gives, reduced to what the plots read."""

    def __init__(self, attempts: pd.DataFrame, resolutions: pd.DataFrame,
                 meta: dict[str, Any] | None = None) -> None:
        self.attempts, self.resolutions, self.meta = attempts, resolutions, meta or {}


def _frames(categorical: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    att, res = pd.DataFrame(ATTEMPTS), pd.DataFrame(RESOLUTIONS)
    if categorical:  # as run.py types them: plan order, every outcome even if unused
        tiers = ["direct_oa", "doi_follow", "archive"]
        att["outcome"] = pd.Categorical(att["outcome"], categories=[str(o) for o in O])
        att["tier"] = pd.Categorical(att["tier"], categories=tiers)
        att["source"] = pd.Categorical(att["source"], categories=SOURCES)
        res["status"] = pd.Categorical(res["status"], categories=[str(s) for s in S])
        res["tier"] = pd.Categorical(res["tier"], categories=tiers)
        res["source"] = pd.Categorical(res["source"], categories=SOURCES)
    return att, res


@pytest.fixture
def run() -> FakeRun:
    return FakeRun(*_frames(categorical=True), meta={"plan_name": "default", "run_id": "r1"})


def _render(fig: Figure) -> Figure:
    fig.savefig(io.BytesIO(), format="png")  # layout and text warnings only show on draw
    return fig


def _drawn(fig: Figure) -> Any:
    """Draw `fig` on an Agg canvas and return its renderer, to measure text where it landed."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _bars(ax: Any) -> list[Any]:
    return [p for p in ax.patches if str(p.get_gid() or "").startswith("attempt:")]


def _line(ax: Any, gid: str) -> Any:
    return next(line for line in ax.get_lines() if line.get_gid() == gid)


def test_waterfall_draws_one_bar_per_attempt_from_start_to_end(run: FakeRun) -> None:
    """Each attempt of the work is one bar spanning t_start_ms -> t_end_ms."""
    fig = _render(plots.waterfall(run, "w1"))
    bars = _bars(fig.axes[0])
    spans = sorted((b.get_x(), b.get_width()) for b in bars)
    assert spans == [(0.0, 120.0), (5.0, 295.0), (130.0, 170.0)]


def test_waterfall_marks_cancelled_attempts_hatched_and_faded(run: FakeRun) -> None:
    """Cancelled bars carry the cancelled style; the others do not."""
    bars = _bars(plots.waterfall(run, "w1").axes[0])
    styles = {b.get_gid(): (b.get_hatch(), b.get_alpha()) for b in bars}
    assert styles["attempt:cancelled"] == ("///", 0.45)
    assert styles["attempt:no_pdf"] == (None, None)


def test_waterfall_colours_bars_by_outcome(run: FakeRun) -> None:
    """A bar's face colour is the documented colour of its outcome."""
    bars = _bars(plots.waterfall(run, "w2").axes[0])
    timeout = next(b for b in bars if b.get_gid() == "attempt:timeout")
    assert matplotlib.colors.to_hex(timeout.get_facecolor()) == plots.OUTCOME_COLORS["timeout"]


def test_waterfall_marks_the_winner_with_a_star_and_bold_edge(run: FakeRun) -> None:
    """The winning attempt has a bold edge and a star at its end."""
    ax = plots.waterfall(run, "w1").axes[0]
    winner = next(b for b in _bars(ax) if b.get_gid().endswith(":winner"))
    assert winner.get_x() == 5.0 and winner.get_linewidth() == pytest.approx(2.2)
    star = _line(ax, "winner")
    assert list(star.get_xdata()) == [300.0] and star.get_marker() == "*"


def test_waterfall_groups_sources_by_tier_in_plan_order(run: FakeRun) -> None:
    """Rows are sources grouped by tier, with the tier names as labels."""
    ax = _render(plots.waterfall(run, "w2")).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["unpaywall", "arxiv", "pmc",
                                                              "wayback"]
    tiers = [t.get_text() for t in ax.texts if t.get_gid() == "tier-label"]
    assert tiers == ["direct_oa", "archive"]


def test_waterfall_draws_the_given_deadline(run: FakeRun) -> None:
    """`deadline_ms` is a vertical line at that x."""
    ax = plots.waterfall(run, "w1", deadline_ms=1500).axes[0]
    assert list(_line(ax, "deadline").get_xdata()) == [1500, 1500]


def test_waterfall_takes_the_deadline_from_run_meta(run: FakeRun) -> None:
    """Without `deadline_ms`, meta["total_timeout_ms"] gives the deadline."""
    run.meta["total_timeout_ms"] = 2000
    ax = plots.waterfall(run, "w1").axes[0]
    assert list(_line(ax, "deadline").get_xdata()) == [2000.0, 2000.0]


def test_waterfall_has_no_deadline_line_when_none_is_known(run: FakeRun) -> None:
    """No deadline given and none in meta: no deadline line."""
    ax = plots.waterfall(run, "w1").axes[0]
    assert not [line for line in ax.get_lines() if line.get_gid() == "deadline"]


def test_waterfall_titles_with_work_and_status_and_labels_time(run: FakeRun) -> None:
    """Title names the work and its resolution; x axis is labelled with its unit."""
    ax = plots.waterfall(run, "w3").axes[0]
    assert ax.get_title() == "w3 — not_found"
    assert ax.get_xlabel() == "time since work start (ms)"


def test_waterfall_accepts_a_pair_of_frames_and_an_ax() -> None:
    """A (attempts, resolutions) pair works, and `ax=` draws into the caller's figure."""
    fig = Figure()
    ax = fig.add_subplot()
    out = plots.waterfall(_frames(), "w2", ax=ax)
    assert out is fig and len(_bars(ax)) == 4


def test_waterfall_names_an_unknown_work(run: FakeRun) -> None:
    """Asking for a work the run lacks says which work."""
    with pytest.raises(KeyError, match="'nope'"):
        plots.waterfall(run, "nope")


def test_waterfall_sample_draws_n_works_reproducibly(run: FakeRun) -> None:
    """n small waterfalls, the same works for the same seed."""
    a = _render(plots.waterfall_sample(run, 3, seed=1))
    b = plots.waterfall_sample(run, 3, seed=1)
    titles = [ax.get_title() for ax in a.axes]
    assert len(a.axes) == 3 and titles == [ax.get_title() for ax in b.axes]
    n_attempts = {w: sum(1 for x in ATTEMPTS if x["work_id"] == w)
                  for w in ("w1", "w2", "w3", "w4", "w5")}
    expected = sum(n_attempts[t.split(" ")[0]] for t in titles)
    assert sum(len(_bars(ax)) for ax in a.axes) == expected


def test_waterfall_sample_shares_a_time_axis_wide_enough_for_all(run: FakeRun) -> None:
    """Every small waterfall spans the slowest sampled work."""
    fig = plots.waterfall_sample(run, 5)
    assert [ax.get_xlim()[1] for ax in fig.axes] == pytest.approx([1000 * 1.03] * 5)


def test_latency_percentiles_marks_exact_percentiles(run: FakeRun) -> None:
    """P50/P95/P99 markers sit at the interpolated quantiles of resolved elapsed_ms."""
    ax = _render(plots.latency_percentiles(run)).axes[0]
    elapsed = pd.Series([300.0, 900.0, 80.0])
    for name, q in (("P50", 0.5), ("P95", 0.95), ("P99", 0.99)):
        marker = _line(ax, f"{name}:default")
        assert marker.get_xdata()[0] == pytest.approx(elapsed.quantile(q))
        assert marker.get_ydata()[0] == q


def test_latency_percentiles_ecdf_steps_to_one(run: FakeRun) -> None:
    """The ECDF is over resolved works only and ends at 1."""
    ax = plots.latency_percentiles(run).axes[0]
    ecdf = _line(ax, "ecdf:default")
    assert list(ecdf.get_xdata()) == [80.0, 80.0, 300.0, 900.0]
    assert list(ecdf.get_ydata()) == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_latency_percentiles_overlays_runs_with_their_labels(run: FakeRun) -> None:
    """A mapping of runs gives one curve per label, in the legend."""
    att, res = _frames()
    fast = res.assign(elapsed_ms=res["elapsed_ms"] / 2)
    ax = _render(plots.latency_percentiles({"slow": run, "fast": (att, fast)})).axes[0]
    assert _line(ax, "P50:fast").get_xdata()[0] == pytest.approx(150.0)
    legend = [t.get_text().split() for t in ax.get_legend().get_texts()]
    assert legend[:3] == [["run", "(n)", "P50", "P95", "P99"],
                          ["slow", "(3)", "300", "840", "888"],
                          ["fast", "(3)", "150", "420", "444"]]


def test_latency_percentiles_values_stay_legible_with_many_runs() -> None:
    """Five close runs: no two texts of the figure overlap, and none sits on the curves."""
    att, res = _frames()
    runs = {f"plan{k}": (att, res.assign(elapsed_ms=res["elapsed_ms"] + 7 * k)) for k in range(5)}
    fig = plots.latency_percentiles(runs)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    texts = [t for t in [*ax.texts, *ax.get_legend().get_texts()] if t.get_text()]
    assert len(texts) >= 5
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not [(a.get_text(), b.get_text())
                for (a, ba), (b, bb) in combinations(zip(texts, boxes, strict=True), 2)
                if ba.overlaps(bb)]
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for box in boxes)


def test_latency_percentiles_aligns_the_values_of_runs_in_columns(run: FakeRun) -> None:
    """The header and the rows of the legend table end their columns at the same places."""
    att, res = _frames()
    ax = plots.latency_percentiles({"a long plan name": run, "b": (att, res)}).axes[0]
    header, *rows = [t.get_text() for t in ax.get_legend().get_texts()][:3]
    assert rows[1].startswith("b (3) ")
    for column in ("P50", "P95", "P99"):
        end = header.index(column) + 3
        assert all(row[end - 1].isdigit() and row[end:end + 1] in ("", " ") for row in rows)
    assert ax.get_legend().get_texts()[0].get_family() == ["monospace"]


def test_runs_in_a_list_are_labelled_by_plan_name_then_run_id(run: FakeRun) -> None:
    """List labels come from meta plan_name, else run_id; duplicates are numbered."""
    att, res = _frames()
    other = FakeRun(att.assign(run_id="r9"), res.assign(run_id="r9"))
    ax = plots.latency_percentiles([run, other, run]).axes[0]
    gids = {line.get_gid() for line in ax.get_lines()}
    assert {"ecdf:default", "ecdf:r9", "ecdf:default #2"} <= gids


def test_source_latency_percentiles_per_source_without_untried(run: FakeRun) -> None:
    """Per-source P95 of durations; not_applicable tries are left out."""
    ax = _render(plots.source_latency_percentiles(run)).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["unpaywall (n=5)", "arxiv (n=1)", "pmc (n=2)", "wayback (n=2)"]
    p95 = _line(ax, "P95").get_xdata()
    unpaywall = pd.Series([120.0, 100.0, 50.0, 1000.0, 80.0]).quantile(0.95)
    assert list(p95) == pytest.approx([unpaywall, 295.0,
                                       pd.Series([170.0, 500.0]).quantile(0.95),
                                       pd.Series([400.0, 350.0]).quantile(0.95)])


def test_source_latency_percentiles_legend_never_covers_the_axes(run: FakeRun) -> None:
    """The marker legend sits beside the axes, so no source's markers can hide under it."""
    fig = plots.source_latency_percentiles(run)
    renderer = _drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    assert legend.x0 >= ax.get_window_extent(renderer).x1


def _segment(ax: Any, label: str, run_label: str) -> Any:
    return next(p for p in ax.patches if p.get_gid() == f"{label}|{run_label}")


def test_coverage_by_tier_stacks_counts_per_status(run: FakeRun) -> None:
    """Counts: resolved by each tier, then not found, budget exhausted, error."""
    ax = _render(plots.coverage_by_tier({"a": run}, normalize=False)).axes[0]
    heights = {k: _segment(ax, k, "a").get_height() for k in
               ("resolved: direct_oa", "resolved: archive", "not_found", "budget_exhausted",
                "error")}
    assert heights == {"resolved: direct_oa": 2, "resolved: archive": 1, "not_found": 1,
                       "budget_exhausted": 1, "error": 0}


def test_coverage_by_tier_normalises_each_bar_to_100(run: FakeRun) -> None:
    """As shares, the segments of a run sum to 100 %."""
    ax = plots.coverage_by_tier([run]).axes[0]
    mine = [p for p in ax.patches if str(p.get_gid()).endswith("|default")]
    assert sum(p.get_height() for p in mine) == pytest.approx(100.0)
    assert _segment(ax, "resolved: direct_oa", "default").get_height() == pytest.approx(40.0)


def _legend(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _tiered(tiers: list[str], rename: dict[str, str] | None = None) -> FakeRun:
    """The test run with some tiers renamed, typed as run.py types it with plan `tiers`."""
    att, res = _frames()
    for df in (att, res):
        df["tier"] = pd.Categorical(df["tier"].replace(rename or {}), categories=tiers)
    return FakeRun(att, res)


def test_coverage_by_tier_stacks_tiers_in_plan_order_not_as_first_resolved() -> None:
    """Without tier categories, tiers follow the order works reached them, not which
    tier's work happened to finish first."""
    att, res = _frames()
    ax = _render(plots.coverage_by_tier({"a": (att, res.iloc[[1, 0, 2, 3, 4]])},
                                        normalize=False)).axes[0]
    assert _legend(ax)[:2] == ["resolved: direct_oa", "resolved: archive"]
    assert _segment(ax, "resolved: archive", "a").get_y() == pytest.approx(2)


def test_coverage_by_tier_keeps_plan_order_across_runs() -> None:
    """A run resolved only by its last tier does not put that tier first."""
    tiers = ["direct_oa", "doi_follow", "archive"]
    only_archive = _tiered(tiers)
    only_archive.resolutions = only_archive.resolutions.iloc[[1, 2, 3]]
    ax = plots.coverage_by_tier({"a": only_archive, "b": _tiered(tiers)}).axes[0]
    assert _legend(ax)[:2] == ["resolved: direct_oa", "resolved: archive"]


def test_coverage_by_tier_merges_different_plans_by_position() -> None:
    """Plans with different tiers give one order that keeps each plan's own order."""
    a = _tiered(["direct_oa", "archive"])
    b = _tiered(["landing", "direct_oa", "archive"], rename={"direct_oa": "landing"})
    b.resolutions.loc[0, "tier"] = "direct_oa"
    ax = plots.coverage_by_tier({"a": a, "b": b}).axes[0]
    assert _legend(ax)[:3] == ["resolved: landing", "resolved: direct_oa", "resolved: archive"]


def test_outcomes_by_source_annotates_each_cell_with_its_count(run: FakeRun) -> None:
    """Every (source, outcome) cell shows the number of such attempts."""
    ax = _render(plots.outcomes_by_source(run)).axes[0]
    cells = {t.get_gid(): t.get_text() for t in ax.texts}
    att = pd.DataFrame(ATTEMPTS)
    for source in att["source"].unique():
        for outcome in O:
            n = int(((att["source"] == source) & (att["outcome"] == str(outcome))).sum())
            assert cells[f"cell:{source}:{outcome}"] == str(n)


def test_outcomes_by_source_image_holds_the_counts(run: FakeRun) -> None:
    """The heatmap colours are drawn from the same counts."""
    ax = plots.outcomes_by_source(run).axes[0]
    data = np.asarray(ax.images[0].get_array())
    assert data.sum() == len(ATTEMPTS) and data.shape == (4, len(O))


def test_compare_plans_places_each_plan_at_p95_and_coverage(run: FakeRun) -> None:
    """One point per plan at (P95 latency, coverage %), annotated with requests/resolved."""
    att, res = _frames()
    worse = res.assign(status=["resolved", "not_found", "not_found", "not_found", "resolved"])
    fig = _render(plots.compare_plans({"default": run, "fast": (att, worse)}))
    ax = fig.axes[0]
    points = {c.get_gid(): tuple(c.get_offsets()[0]) for c in ax.collections}
    p95 = pd.Series([300.0, 900.0, 80.0]).quantile(0.95)
    assert points["plan:default"] == pytest.approx((p95, 60.0))
    assert points["plan:fast"] == pytest.approx((pd.Series([300.0, 80.0]).quantile(0.95), 40.0))
    notes = [t.get_text() for t in ax.texts]
    assert "default\n4.00 req/resolved" in notes and "fast\n6.00 req/resolved" in notes


def test_compare_plans_grows_markers_with_requests(run: FakeRun) -> None:
    """More requests per resolved work draws a bigger marker."""
    att, res = _frames()
    costly = res.assign(requests=res["requests"] * 3)
    ax = plots.compare_plans({"cheap": run, "costly": (att, costly)}).axes[0]
    size = {c.get_gid(): c.get_sizes()[0] for c in ax.collections}
    assert size["plan:costly"] > size["plan:cheap"]


def test_plots_reject_something_that_is_not_a_run() -> None:
    """A wrong input says what a run is."""
    with pytest.raises(TypeError, match="attempts and .resolutions"):
        plots.outcomes_by_source(42)
