"""Concepts written once (issue 12): the grouping of outcomes, the percentile, the
bot-challenge markers and the vocabulary of failure reasons."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fallback_kit
from fallback_kit.contracts.events import FAILED, NOT_TRIED, Outcome
from fallback_kit.contracts.reasons import Reason
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


# ---- the vocabulary of reasons ----------------------------------------------------------

PKG = Path(fallback_kit.__file__).parent
#: functions whose string returns are reasons
REASON_FUNCTIONS = {"classify_pdf_bytes", "validate_pdf_file", "_why_not_found",
                    "_gate_before_try", "outcome_for_reason"}
#: calls whose first argument (or, for `result`, third) is a reason
REASON_CALLS = {"GateClosed": 0, "_Refused": 0, "result": 2}


def _literals(node: ast.AST | None) -> list[str]:
    """The plain string constants an expression can evaluate to (f-strings are patterns
    built by `http_reason` / `download_reason` or free text, and left out)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [s for v in node.values for s in _literals(v)]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for e in node.elts for s in _literals(e)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("frozenset", "set"):
        return [s for a in node.args for s in _literals(a)]
    return []


def _is_reason_name(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and "reason" in node.id.lower()) or (
        isinstance(node, ast.Attribute) and node.attr == "reason")


def _reason_literals(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        values: list[str] = []
        if isinstance(node, ast.keyword) and node.arg in ("reason", "empty_reason"):
            values = _literals(node.value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                elts = target.elts if isinstance(target, ast.Tuple) else [target]
                vals = (node.value.elts if isinstance(target, ast.Tuple)
                        and isinstance(node.value, ast.Tuple) else [node.value] * len(elts))
                values += [s for t, v in zip(elts, vals, strict=False) if _is_reason_name(t)
                           for s in _literals(v)]
        elif isinstance(node, ast.Compare) and _is_reason_name(node.left):
            values = [s for c in node.comparators for s in _literals(c)]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            pos = REASON_CALLS.get(name)
            if pos is not None and len(node.args) > pos:
                values = _literals(node.args[pos])
        elif isinstance(node, ast.FunctionDef) and node.name in REASON_FUNCTIONS:
            values = [s for r in ast.walk(node) if isinstance(r, ast.Return)
                      for s in _literals(r.value)]
        found += [(getattr(node, "lineno", 0), v) for v in values if v]
    return found


def _package_reasons() -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for path in PKG.rglob("*.py"):
        if "sandbox" in path.parts:  # the simulated web's own truth, not a recorded reason
            continue
        for line, value in _reason_literals(ast.parse(path.read_text(encoding="utf-8"))):
            where.setdefault(value, []).append(f"{path.relative_to(PKG)}:{line}")
    return where


def test_every_reason_the_package_writes_is_in_the_vocabulary():
    """A reason string literal anywhere in the package (sources, the gates, the PDF gate,
    downloads, the orchestrator) must be a `Reason` (contracts/reasons.py)."""
    vocabulary = {str(r) for r in Reason}
    stray = {v: w for v, w in _package_reasons().items() if v not in vocabulary}
    assert stray == {}


def test_the_scan_sees_the_reasons():
    """The scan finds reasons in every place it must look (so it cannot pass empty)."""
    seen = _package_reasons()
    for word in ("not_pdf", "truncated_pdf", "redirect_loop", "too_small", "encrypted_pdf",
                 "offline_not_cached", "unsafe_url"):
        assert word in seen, word
    bad = ast.parse('def classify_pdf_bytes():\n    return "not_a_pdf"\n')
    assert _reason_literals(bad) == [(1, "not_a_pdf")]


def test_not_a_pdf_is_gone():
    assert "not_a_pdf" not in {str(r) for r in Reason}
    assert "not_a_pdf" not in _package_reasons()
