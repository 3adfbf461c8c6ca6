"""`tune`: recommendations for a plan, each with its effect projected by replaying the
run's recorded attempts under the changed plan (no network).

The projections come from the same replay engine as the benchmarks' plan-ideal figures
(`simulate`). A try that was cancelled or never started tells us little about what it
would have done, so a projection that promotes such a source is cautious.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..contracts.events import FAILED, Outcome
from ..contracts.plan import Plan, PlanError
from ..contracts.works import read_works
from ..engine.replay import ReplayResult, SourceModel, models_from_attempts, replay
from ..sources import get_source
from .stats import percentile

__all__ = ["HEDGE_QUANTILES", "Projection", "Recommendation", "hedge_points", "hedge_tradeoff",
           "models_of_run", "project", "recommend", "tuned_plan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Projection:
    """The replayed figures of a plan on a run's works."""

    works: int
    resolved: int
    coverage: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    requests_per_resolved: float | None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommendation:
    """One change to the plan, why, and what the replay says it does."""

    title: str
    why: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    before: Projection | None = None
    after: Projection | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "why": self.why, "overrides": dict(self.overrides),
                "before": self.before.as_dict() if self.before else None,
                "after": self.after.as_dict() if self.after else None}


def summarize(results: list[ReplayResult]) -> Projection:
    resolved = [r for r in results if r.status == "resolved"]
    lat = [r.elapsed_ms for r in resolved]
    reqs = sum(r.requests for r in results)
    return Projection(
        works=len(results), resolved=len(resolved),
        coverage=len(resolved) / len(results) if results else 0.0,
        p50_ms=percentile(lat, 0.5), p95_ms=percentile(lat, 0.95),
        p99_ms=percentile(lat, 0.99),
        requests_per_resolved=reqs / len(resolved) if resolved else None,
    )


def project(plan: Plan, table: Mapping[str, Mapping[str, SourceModel]]) -> Projection:
    """Replay `plan` on source models and summarise."""
    return summarize(replay(plan, table))


def _source_stats(attempts: Any) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    for source, group in attempts.groupby("source", observed=True):
        tried = group[group["outcome"].astype(str).isin(_FINISHED)]
        wins = tried[tried["outcome"].astype(str) == "success"]
        dur = (tried["t_end_ms"] - tried["t_start_ms"]).clip(lower=1.0)
        win_dur = (wins["t_end_ms"] - wins["t_start_ms"]).tolist()
        stats[str(source)] = {
            "tries": float(len(tried)),
            "wins": float(len(wins)),
            "yield": len(wins) / len(tried) if len(tried) else 0.0,
            "mean_ms": float(dur.mean()) if len(tried) else 0.0,
            "p95_win_ms": percentile([float(x) for x in win_dur], 0.95) or 0.0,
            "wins_per_s": (len(wins) / (float(dur.sum()) / 1000)) if len(tried) else 0.0,
        }
    return stats


#: tries that were asked and ended without a PDF, and those that ended at all
_FAILED = tuple(str(o) for o in FAILED)
_FINISHED = (str(Outcome.SUCCESS), *_FAILED)


def models_of_run(run: Any, plan: Plan) -> dict[str, dict[str, SourceModel]]:
    """Source models from a run's attempts, plus a stand-in for each of the plan's
    sources that never started on a work (its tier was not reached, or the work was won
    first): a failure that costs the source's usual failing time and requests in this
    run. Without it, a change that starts such a source sooner (more parallelism, a
    hedge) would look free; with it, the projection counts its requests and stays
    cautious about what it finds."""
    attempts = run.attempts
    table = models_from_attempts(attempts)
    typical = _typical_failures(attempts)
    for work_id, source in _cancelled_before_a_request(attempts):
        if source in typical:  # it waited for a slot and never started: stand in for it
            table[work_id].pop(source, None)
    works = {w.work_id: w for w in read_works(run.works).works}
    for work_id, models in table.items():
        missing = [s for s in plan.source_names if s not in models and s in typical]
        work = works.get(work_id)
        if not missing or work is None:
            continue
        for source in missing:
            if not get_source(source).applicable(work):
                models[source] = SourceModel(success=False, duration_ms=0.0, requests=0,
                                             applicable=False)
                continue
            duration, requests = typical[source]
            models[source] = SourceModel(
                success=False, duration_ms=duration, requests=requests,
                request_starts_ms=tuple(duration * i / requests for i in range(requests)))
    return table


def _cancelled_before_a_request(attempts: Any) -> list[tuple[str, str]]:
    """(work_id, source) of the tries cancelled before they sent anything."""
    cancelled = attempts[attempts["outcome"].astype(str) == "cancelled"]
    return [(str(w), str(s)) for w, s, m in zip(cancelled["work_id"], cancelled["source"],
                                                cancelled["meta"], strict=True)
            if isinstance(m, dict) and not m.get("requests")]


def _typical_failures(attempts: Any) -> dict[str, tuple[float, int]]:
    """Per source, the median duration and the mean request count (at least 1) of its
    tries that ended without a PDF."""
    out: dict[str, tuple[float, int]] = {}
    failed = attempts[attempts["outcome"].astype(str).isin(_FAILED)]
    for source, group in failed.groupby("source", observed=True):
        duration = float((group["t_end_ms"] - group["t_start_ms"]).median())
        requests = [int(m.get("requests") or 1) if isinstance(m, dict) else 1
                    for m in group["meta"]]
        out[str(source)] = (max(0.0, duration), max(1, round(sum(requests) / len(requests))))
    return out


def hedge_points(plan: Plan, attempts: Any, *, q: float = 0.95,
                 min_wins: int = 5) -> dict[str, int]:
    """Hedge points from a run: for each tier but the last, the `q` quantile of how long
    the tier took to win, counted from the moment the tier started in that work.

    A tier's clock starts when its first try starts (that is when `hedge_after_ms` starts
    counting), not when the work started: counting from the work's start would add the
    earlier tiers' time and put the hedge point of a late tier far too late.
    Tiers with fewer than `min_wins` wins get no hedge point. Returns plan overrides,
    `{"tiers[i].hedge_after_ms": ms}`.
    """
    if attempts is None or len(attempts) == 0:
        return {}
    tier_col = attempts["tier"].astype(str)
    started = attempts.groupby([attempts["work_id"], tier_col], observed=True)["t_start_ms"].min()
    wins = attempts[attempts["outcome"].astype(str) == "success"]
    out: dict[str, int] = {}
    for i, tier in enumerate(plan.tiers[:-1]):
        tier_wins = wins[wins["tier"].astype(str) == tier.name]
        took = [float(row.t_end_ms) - float(started[(row.work_id, tier.name)])
                for row in tier_wins.itertuples(index=False)]
        p = percentile(took, q)
        if p is not None and len(took) >= min_wins:
            out[f"tiers[{i}].hedge_after_ms"] = max(1, int(p))
    return out


#: the quantiles of each tier's win latency that `hedge_tradeoff` tries
HEDGE_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)


def hedge_tradeoff(plan: Plan, attempts: Any, table: Mapping[str, Mapping[str, SourceModel]],
                   quantiles: Sequence[float] = HEDGE_QUANTILES) -> list[dict[str, Any]]:
    """What hedging every tier at each quantile of its win latency would buy: per
    quantile, the hedge points (`hedge_points` on `attempts`) and the replayed P95 and
    P99 cuts, extra requests and change in works resolved, against `plan` unhedged.

    One engine, two inputs: `table` is a run's own models (`models_of_run`) for a
    projection, or the sandbox truth (`simulate.models_from_truth`) for the plan-ideal.
    An earlier hedge point cuts the tail more and sends more requests; this is the curve
    behind `tune`'s P95 rule.
    """
    base = project(plan, table)
    rows: list[dict[str, Any]] = []
    for q in quantiles:
        overrides = hedge_points(plan, attempts, q=q)
        proj = project(plan.replace(**overrides), table) if overrides else base
        rows.append({
            "quantile": q, "overrides": overrides,
            "p95_cut": _cut(base.p95_ms, proj.p95_ms), "p99_cut": _cut(base.p99_ms, proj.p99_ms),
            "extra_requests": (_requests(proj) / _requests(base) - 1) if _requests(base)
            else None,
            "resolved_change": proj.resolved - base.resolved,
        })
    return rows


def _cut(before: float | None, after: float | None) -> float | None:
    """1 - after/before: the share cut (negative: grown)."""
    return 1 - after / before if before and after is not None else None


def _requests(p: Projection) -> float:
    return (p.requests_per_resolved or 0.0) * p.resolved


def recommend(run: Any, plan: Plan | None = None) -> list[Recommendation]:
    """Recommendations for `plan` (default: the run's own) from the run's attempts."""
    plan = plan or run.plan
    attempts = run.attempts
    table = models_of_run(run, plan)
    before = project(plan, table)
    stats = _source_stats(attempts)
    recs: list[Recommendation] = []

    def consider(title: str, why: str, overrides: dict[str, Any]) -> None:
        try:
            changed = plan.replace(**overrides)
        except PlanError:
            return
        after = project(changed, table)
        recs.append(Recommendation(title=title, why=why, overrides=overrides, plan=changed,
                                   before=before, after=after))

    # 1. reorder sources within each tier by wins per second of trying (where the order
    #    matters: a tier that runs all its sources at once starts them together)
    for i, tier in enumerate(plan.tiers):
        order = sorted(tier.sources, key=lambda s: -stats.get(s, {}).get("wins_per_s", 0.0))
        if list(order) != list(tier.sources) and tier.parallel < len(order):
            consider(f"reorder tier {tier.name}: {', '.join(order)}",
                     "sources that find more PDFs per second of trying go first",
                     {f"tiers[{i}].sources": order})
    # 2. drop sources that found nothing in a tier that has other sources
    for i, tier in enumerate(plan.tiers):
        dead = [s for s in tier.sources
                if stats.get(s, {}).get("tries", 0) >= 5 and stats[s]["wins"] == 0]
        keep = [s for s in tier.sources if s not in dead]
        if dead and keep:
            consider(f"drop {', '.join(dead)} from tier {tier.name}",
                     f"tried {int(sum(stats[s]['tries'] for s in dead))} times, found nothing",
                     {f"tiers[{i}].sources": keep})
    # 3. timeouts near the P95 of successful tries (with 50% head-room)
    for source in plan.source_names:
        st = stats.get(source)
        if not st or st["wins"] < 5:
            continue
        proposed = int(max(1000, st["p95_win_ms"] * 1.5) // 500 * 500 + 500)
        if proposed < plan.timeout_ms(source) * 0.8:
            consider(f"timeout of {source}: {plan.timeout_ms(source)} -> {proposed} ms",
                     f"its successful tries took at most {st['p95_win_ms']:.0f} ms (P95)",
                     {f"sources.{source}.timeout_ms": proposed})
    # 4. parallelism: run a whole tier at once
    for i, tier in enumerate(plan.tiers):
        if tier.parallel < len(tier.sources):
            consider(f"parallel {len(tier.sources)} in tier {tier.name}",
                     "all sources of the tier at once: lower latency for a few more requests",
                     {f"tiers[{i}].parallel": len(tier.sources)})
    # 5. hedging at the P95 of each tier's successful latency
    for key, p95 in hedge_points(plan, attempts).items():
        i = int(key[len("tiers["):key.index("]")])
        if plan.tiers[i].hedge_after_ms is None:
            consider(f"hedge tier {plan.tiers[i].name} after {p95} ms",
                     "start the next tier when this one is slower than 95% of its wins",
                     {key: p95})
    return recs


def tuned_plan(plan: Plan, recs: list[Recommendation], run: Any) -> tuple[Plan, Projection]:
    """Apply, greedily, every recommendation that keeps the projected coverage and P95 and
    gains something (coverage, a latency percentile, or fewer requests)."""
    table = models_of_run(run, plan)
    best, best_proj = plan, project(plan, table)
    for rec in recs:
        try:
            candidate = best.replace(**rec.overrides)
        except PlanError:
            continue
        proj = project(candidate, table)
        if _keeps(proj, best_proj) and _gains(proj, best_proj):
            best, best_proj = candidate, proj
    return best, best_proj


def _keeps(new: Projection, old: Projection) -> bool:
    return new.resolved >= old.resolved and (new.p95_ms or 0) <= (old.p95_ms or 0)


def _gains(new: Projection, old: Projection) -> bool:
    faster = any((getattr(new, k) or 0) < (getattr(old, k) or 0)
                 for k in ("p50_ms", "p95_ms", "p99_ms"))
    cheaper = (new.requests_per_resolved or 0) < (old.requests_per_resolved or 0)
    return new.resolved > old.resolved or faster or cheaper
