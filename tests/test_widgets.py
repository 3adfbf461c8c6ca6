"""The plan editor, driven as a notebook user would: set values, click buttons."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fallback_kit.contracts.plan import KNOWN_SOURCES, Plan, load_plan, load_plan_text  # noqa: E402
from fallback_kit.faces.widgets import PlanEditor  # noqa: E402

PLAN_YAML = """
name: small
budgets: {total_timeout_ms: 60000, total_attempts: 10, max_concurrent: 2,
          per_source_timeout_ms: 8000}
tiers:
  - {name: direct, parallel: 2, sources: [unpaywall, arxiv]}
  - {name: archive, parallel: 1, sources: [wayback]}
sources:
  unpaywall: {timeout_ms: 5000, retries_max: 2}
"""


@pytest.fixture(scope="module", autouse=True)
def _collect_garbage_at_a_safe_time() -> Iterator[None]:
    # The loop looptime leaves behind becomes garbage once pytest-asyncio replaces it; if the
    # collector finds it inside a later ast.parse (pytest rewriting an import), CPython 3.11.7
    # fails with "AST constructor recursion depth mismatch" (cpython#106905). Collect here.
    yield
    gc.collect()


@pytest.fixture
def plan() -> Plan:
    return load_plan_text(PLAN_YAML)


@pytest.fixture
def ed(plan: Plan) -> PlanEditor:
    return PlanEditor(plan)


def _figure(title: str) -> Figure:
    fig = Figure()
    fig.add_subplot().set_title(title)
    return fig


def test_editor_starts_valid_with_the_given_plan(ed: PlanEditor, plan: Plan) -> None:
    """A fresh editor holds the plan and no problems."""
    assert ed.plan == plan and ed.errors == []
    assert [r.name.value for r in ed.tier_rows] == ["direct", "archive"]


def test_invalid_budget_keeps_last_plan_and_labels_the_field(ed: PlanEditor, plan: Plan) -> None:
    """total_attempts = 0 is reported at its YAML path, beside its field; the plan stays."""
    ed.budget_fields["total_attempts"].value = 0
    assert ed.errors == [("budgets.total_attempts", "must be >= 1")]
    assert "budgets.total_attempts must be >= 1" in ed.field_error("budgets.total_attempts")
    assert "budgets.total_attempts" in ed.error_list.value
    assert ed.plan == plan


def test_fixing_the_field_clears_the_error(ed: PlanEditor) -> None:
    """A valid value again clears the label and updates the plan."""
    ed.budget_fields["total_attempts"].value = 0
    ed.budget_fields["total_attempts"].value = 7
    assert ed.errors == [] and ed.field_error("budgets.total_attempts") == ""
    assert ed.plan.budgets.total_attempts == 7


def test_tier_parallel_edits_the_plan(ed: PlanEditor) -> None:
    """Setting a tier's parallel changes the plan's tier."""
    ed.tier_rows[0].parallel.value = 3
    assert ed.plan.tiers[0].parallel == 3


def test_bad_tier_parallel_is_shown_on_that_tier(ed: PlanEditor) -> None:
    """parallel = 0 on tier 1 shows under tier 1, not elsewhere."""
    ed.tier_rows[1].parallel.value = 0
    assert ed.errors == [("tiers[1].parallel", "must be >= 1")]
    assert "must be >= 1" in ed.field_error("tiers[1].parallel")
    assert ed.tier_rows[1].parallel_error.value != ""
    assert ed.field_error("tiers[0].parallel") == ""


def test_tier_hedge_edits_the_plan_as_a_plan_override_would(ed: PlanEditor, plan: Plan) -> None:
    """A hedge of 300 ms on tier 0 gives the plan `tiers[0].hedge_after_ms=300` gives."""
    ed.tier_rows[0].hedge_after_ms.value = 300
    assert ed.errors == []
    assert ed.plan == plan.replace(**{"tiers[0].hedge_after_ms": 300})
    assert [t.hedge_after_ms for t in ed.plan.tiers] == [300, None]


def test_zero_tier_hedge_turns_hedging_off(plan: Plan) -> None:
    """The field shows the plan's hedge; clearing it to 0 gives hedge_after_ms None."""
    ed = PlanEditor(plan.replace(**{"tiers[1].hedge_after_ms": 2500}))
    assert [r.hedge_after_ms.value for r in ed.tier_rows] == [0, 2500]
    ed.tier_rows[1].hedge_after_ms.value = 0
    assert ed.errors == [] and ed.plan.tiers[1].hedge_after_ms is None
    assert "hedge_after_ms" not in ed.data["tiers"][1]


def test_negative_tier_hedge_is_shown_on_that_tier(ed: PlanEditor) -> None:
    """hedge -5 ms on tier 1 is an error under tier 1; the plan keeps no hedge."""
    ed.tier_rows[1].hedge_after_ms.value = -5
    assert ed.errors == [("tiers[1].hedge_after_ms", "must be >= 1")]
    assert "must be >= 1" in ed.field_error("tiers[1].hedge_after_ms")
    assert ed.tier_rows[1].hedge_error.value != "" and ed.tier_rows[0].hedge_error.value == ""
    assert ed.plan.tiers[1].hedge_after_ms is None


def test_duplicate_tier_name_is_an_error_on_the_name(ed: PlanEditor) -> None:
    """Renaming a tier to another tier's name is flagged on that name field."""
    ed.tier_rows[1].name.value = "direct"
    assert ed.errors[0][0] == "tiers[1].name"
    assert "used by another tier" in ed.field_error("tiers[1].name")


def test_source_timeout_and_retries_edit_the_policy(ed: PlanEditor) -> None:
    """Per-source timeout_ms and retries_max reach the plan's source policy."""
    row = ed.tier_rows[0].source_rows[1]
    assert row.name == "arxiv"
    row.timeout_ms.value = 4000
    row.retries_max.value = 0
    assert ed.plan.policy("arxiv").timeout_ms == 4000
    assert ed.plan.policy("arxiv").retries_max == 0


def test_zero_timeout_means_the_per_source_budget(ed: PlanEditor) -> None:
    """A timeout of 0 removes the source's own timeout: the budget applies."""
    ed.tier_rows[0].source_rows[0].timeout_ms.value = 0
    assert ed.plan.policy("unpaywall").timeout_ms is None
    assert ed.plan.timeout_ms("unpaywall") == 8000


def test_source_timeout_over_the_total_budget_is_labelled(ed: PlanEditor) -> None:
    """A source timeout above the deadline is shown beside that source."""
    ed.tier_rows[0].source_rows[0].timeout_ms.value = 90_000
    assert ed.errors[0][0] == "sources.unpaywall.timeout_ms"
    assert "exceeds budgets.total_timeout_ms" in ed.tier_rows[0].source_rows[0].timeout_error.value


def test_gates_edit_the_plan(ed: PlanEditor) -> None:
    """The three gate fields reach the plan's gates."""
    ed.gate_fields["skip_if_breaker_open"].value = False
    ed.gate_fields["offline_behavior"].value = "block_all"
    ed.gate_fields["skip_if_rate_wait_exceeds_ms"].value = 250
    g = ed.plan.gates
    assert (g.skip_if_breaker_open, g.offline_behavior, g.skip_if_rate_wait_exceeds_ms) == (
        False, "block_all", 250)


def test_negative_rate_wait_is_labelled_on_the_gate(ed: PlanEditor) -> None:
    """A negative rate wait is an error beside the gate field."""
    ed.gate_fields["skip_if_rate_wait_exceeds_ms"].value = -1
    assert "must be >= 0" in ed.field_error("gates.skip_if_rate_wait_exceeds_ms")


def test_add_tier_appends_a_tier_with_a_free_source(ed: PlanEditor) -> None:
    """Adding a tier gives a new last tier holding a source no tier used."""
    ed.add_tier_button.click()
    assert [t.name for t in ed.plan.tiers] == ["direct", "archive", "tier3"]
    assert ed.plan.tiers[2].sources == ("pmc",)
    assert len(ed.tier_rows) == 3


def test_remove_tier_drops_it(ed: PlanEditor) -> None:
    """The remove button of tier 0 removes that tier."""
    ed.tier_rows[0].remove_button.click()
    assert [t.name for t in ed.plan.tiers] == ["archive"]


def test_removing_the_last_tier_is_an_error_not_a_crash(ed: PlanEditor, plan: Plan) -> None:
    """A plan with no tier is refused; the last valid plan stays."""
    ed.tier_rows[1].remove_button.click()
    ed.tier_rows[0].remove_button.click()
    assert ed.errors == [("tiers", "must list at least one tier")]
    assert "at least one tier" in ed.tiers_error.value
    assert [t.name for t in ed.plan.tiers] == ["direct"]


def test_move_tier_down_and_up(ed: PlanEditor) -> None:
    """Down on the first tier swaps it with the second; up swaps back."""
    ed.tier_rows[0].down_button.click()
    assert [t.name for t in ed.plan.tiers] == ["archive", "direct"]
    ed.tier_rows[1].up_button.click()
    assert [t.name for t in ed.plan.tiers] == ["direct", "archive"]


def test_a_tier_keeps_its_hedge_when_it_moves(ed: PlanEditor) -> None:
    """The hedge belongs to the tier, so it follows the tier down and its field too."""
    ed.tier_rows[0].hedge_after_ms.value = 400
    ed.tier_rows[0].down_button.click()
    assert [(t.name, t.hedge_after_ms) for t in ed.plan.tiers] == [("archive", None),
                                                                    ("direct", 400)]
    assert [r.hedge_after_ms.value for r in ed.tier_rows] == [0, 400]


def test_add_source_offers_only_unused_known_sources(ed: PlanEditor) -> None:
    """The add dropdown lists known sources no tier uses; adding appends to the tier."""
    choices = list(ed.tier_rows[1].add_source.options)
    assert choices == [s for s in KNOWN_SOURCES if s not in ("unpaywall", "arxiv", "wayback")]
    ed.tier_rows[1].add_source.value = "crossref"
    ed.tier_rows[1].add_source_button.click()
    assert ed.plan.tiers[1].sources == ("wayback", "crossref")
    assert "crossref" not in ed.tier_rows[0].add_source.options


def test_remove_and_reorder_sources(ed: PlanEditor) -> None:
    """Sources move within a tier and leave it."""
    ed.tier_rows[0].source_rows[0].down_button.click()
    assert ed.plan.tiers[0].sources == ("arxiv", "unpaywall")
    ed.tier_rows[0].source_rows[0].remove_button.click()
    assert ed.plan.tiers[0].sources == ("unpaywall",)


def test_emptying_a_tier_shows_the_error_on_its_sources(ed: PlanEditor) -> None:
    """A tier left without sources is flagged on that tier."""
    ed.tier_rows[1].source_rows[0].remove_button.click()
    assert ed.errors == [("tiers[1].sources", "must list at least one source")]
    assert "at least one source" in ed.tier_rows[1].sources_error.value


def test_save_writes_yaml_that_loads_back_equal(ed: PlanEditor, tmp_path: Path) -> None:
    """Save YAML writes the plan where asked; load_plan reads back the same plan."""
    ed.tier_rows[0].parallel.value = 1
    target = tmp_path / "sub" / "mine.yaml"
    ed.save_path.value = str(target)
    ed.save_button.click()
    assert load_plan(target, env={}) == ed.plan
    assert str(target) in ed.save_status.value


def test_save_refuses_an_invalid_plan(ed: PlanEditor, tmp_path: Path) -> None:
    """With problems on screen nothing is written."""
    ed.budget_fields["max_concurrent"].value = 0
    ed.save_path.value = str(tmp_path / "x.yaml")
    ed.save_button.click()
    assert not (tmp_path / "x.yaml").exists() and "not saved" in ed.save_status.value


def test_save_path_defaults_to_plans_edited(ed: PlanEditor) -> None:
    """The save field starts at plans/edited.yaml."""
    assert ed.save_path.value == "plans/edited.yaml"


def test_run_without_loop_calls_sync_on_run_and_shows_figures(plan: Plan) -> None:
    """A sync on_run gets the plan; its figures land in the result area as PNGs."""
    seen: list[Plan] = []

    def on_run(p: Plan) -> list[Figure]:
        seen.append(p)
        return [_figure("a"), _figure("b")]

    ed = PlanEditor(plan, on_run=on_run)
    ed.tier_rows[0].parallel.value = 1
    ed.run_button.click()
    assert seen == [ed.plan]
    assert [set(o["data"]) for o in ed.result_output.outputs] == [{"text/plain", "image/png"}] * 2
    assert "run #1 done" in ed.status.value


def test_second_run_keeps_the_previous_result_beside(plan: Plan) -> None:
    """After two runs, the first run's outputs sit in the previous area."""
    results = iter([_figure("first"), "second"])
    ed = PlanEditor(plan, on_run=lambda p: next(results))
    ed.run_button.click()
    first = ed.result_output.outputs
    ed.run_button.click()
    assert ed.previous_output.outputs == first
    assert ed.result_output.outputs[0]["data"] == {"text/plain": "'second'"}


def test_async_on_run_without_a_loop_runs_to_completion(plan: Plan) -> None:
    """An async on_run with no running loop is run synchronously."""
    async def on_run(p: Plan) -> str:
        await asyncio.sleep(0)
        return p.name

    ed = PlanEditor(plan, on_run=on_run)
    ed.run_button.click()
    assert ed.last_result == "small" and ed.task is None


async def test_async_on_run_is_scheduled_on_the_running_loop(plan: Plan) -> None:
    """Inside a running loop the click returns at once; the task finishes later."""
    gate = asyncio.Event()

    async def on_run(p: Plan) -> Figure:
        await gate.wait()
        return _figure("done")

    ed = PlanEditor(plan, on_run=on_run)
    ed.run_button.click()
    assert ed.task is not None and not ed.task.done()
    assert ed.run_button.disabled and "run #1" in ed.status.value
    gate.set()
    await ed.task
    assert "image/png" in ed.result_output.outputs[0]["data"]
    assert not ed.run_button.disabled


def test_on_run_failure_is_shown_not_raised(plan: Plan) -> None:
    """An exception in on_run becomes a status line."""
    def on_run(p: Plan) -> Any:
        raise RuntimeError("sandbox down")

    ed = PlanEditor(plan, on_run=on_run)
    ed.run_button.click()
    assert "sandbox down" in ed.status.value and isinstance(ed.last_error, RuntimeError)


def test_run_refuses_while_the_plan_is_invalid(plan: Plan) -> None:
    """With problems on screen on_run is not called."""
    calls: list[Plan] = []
    ed = PlanEditor(plan, on_run=calls.append)
    ed.budget_fields["total_attempts"].value = 0
    ed.run_button.click()
    assert calls == [] and "fix them" in ed.status.value


def test_works_are_passed_as_second_argument(plan: Plan) -> None:
    """Given works, on_run receives (plan, works)."""
    calls: list[tuple[Any, ...]] = []
    ed = PlanEditor(plan, on_run=lambda *a: calls.append(a), works=["w1"])
    ed.run_button.click()
    assert calls == [(ed.plan, ["w1"])]


def test_editor_displays_as_its_root_widget(ed: PlanEditor) -> None:
    """The mime bundle is the root container's widget view."""
    bundle = ed._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == ed.widget.model_id
