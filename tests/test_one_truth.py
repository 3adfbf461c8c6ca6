"""Concepts written once (issue 12): the grouping of outcomes, the percentile, the
bot-challenge markers and the vocabulary of failure reasons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallback_kit.contracts.events import FAILED, NOT_TRIED, Outcome
from fallback_kit.insight import analysis, plots, tuning
from fallback_kit.insight.stats import LEVELS, percentile, percentiles
from fallback_kit.web.edge import classify_pdf_bytes
from fallback_kit.web.landing import CHALLENGE_MARKERS, parse_landing


def test_every_outcome_is_in_exactly_one_group():
    groups = [{Outcome.SUCCESS}, {Outcome.CANCELLED}, NOT_TRIED, FAILED]
    for outcome in Outcome:
        assert sum(outcome in g for g in groups) == 1, outcome


def test_analysis_tuning_and_plots_group_outcomes_alike():
    assert set(plots.NOT_REQUESTED) == {str(o) for o in NOT_TRIED}
    assert set(tuning._FAILED) == {str(o) for o in FAILED}
    assert set(tuning._FINISHED) == {str(o) for o in FAILED | {Outcome.SUCCESS}}


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50),
       st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_the_percentile_is_numpys_linear_one(values, q):
    assert percentile(values, q) == pytest.approx(float(np.quantile(values, q)))


def test_tables_and_figures_read_the_one_percentile():
    values = pd.Series([40.0, 50.0, 100.0, 300.0, 1000.0, None])
    expected = [percentile(values.dropna(), q) for q in LEVELS]
    assert list(analysis._pcts(values).values()) == expected
    assert list(plots._quantiles(values).values()) == expected
    assert all(math.isnan(v) for v in percentiles([], analysis.QUANTILES).values())
    assert percentile([], 0.5) is None


@pytest.mark.parametrize("marker", CHALLENGE_MARKERS)
def test_one_list_of_challenge_markers(marker):
    """The landing parser and the PDF gate both know every marker."""
    page = f"<html><head><title>Hold on</title></head><body>{marker.upper()}</body></html>"
    assert parse_landing(page, "https://example.org/").challenge
    assert classify_pdf_bytes(page.encode(), status=200, complete=True) == "blocked"
