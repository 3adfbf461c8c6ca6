"""The one rule for scaled time (contracts/timescale.py), and that the engine and the
sandbox follow it."""

from __future__ import annotations

import math

import pytest

from fallback_kit.contracts.plan import load_plan_text
from fallback_kit.contracts.timescale import TimeScale
from fallback_kit.engine.orchestrator import make_gates

PLAN = """
name: t
tiers: [{name: a, sources: [unpaywall]}]
politeness: {rate_limits: {"api.unpaywall.org": {per_second: 2, burst: 1}}}
gates: {skip_if_rate_wait_exceeds_ms: 4000, breaker: {window_ms: 60000, cooldown_ms: 30000}}
"""


def test_budgets_shrink_with_the_factor_and_stay_whole_at_zero():
    """A budget is scaled by the factor, and keeps its real length at factor 0."""
    assert TimeScale(0.1).budget_s(5000) == pytest.approx(0.5)
    assert TimeScale(0).budget_s(5000) == 5.0
    assert TimeScale(1).budget_ms(250) == 250


def test_waits_shrink_with_the_factor_and_vanish_at_zero():
    """A wait the web imposes is scaled by the factor and is nothing at factor 0."""
    assert TimeScale(0.5).wait_s(2.0) == 1.0
    assert TimeScale(0).wait_s(2.0) == 0
    assert TimeScale(0).rate(3.0) is None
    assert TimeScale(0.1).rate(1.0) == pytest.approx(10.0)


def test_recorded_times_are_in_the_webs_milliseconds():
    """Real seconds map back to the web's milliseconds (unscaled at factor 0)."""
    assert TimeScale(0.1).web_ms(0.5) == pytest.approx(5000)
    assert TimeScale(0).web_ms(0.5) == pytest.approx(500)


@pytest.mark.parametrize("bad", [-1, math.inf, math.nan, "fast"])
def test_a_bad_factor_is_refused(bad):
    """A negative, infinite or non-numeric factor is refused with a clear message."""
    with pytest.raises(ValueError, match="time scale"):
        TimeScale(bad)


def test_gates_follow_the_rule():
    """make_gates scales rate limits and cooldowns as waits and the window as a budget."""
    plan = load_plan_text(PLAN)
    gates = make_gates(plan, time_scale=0.1)
    assert gates.rate_limits["api.unpaywall.org"].per_second == pytest.approx(20)
    assert gates.breaker_config.window_ms == 6000
    assert gates.breaker_config.cooldown_ms == 3000
    instant = make_gates(plan, time_scale=0)
    assert instant.rate_limits == {}
    assert instant.breaker_config.window_ms == 60000
    assert instant.breaker_config.cooldown_ms == 0
