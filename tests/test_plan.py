"""Plan loading, precedence, validation messages and round trips."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pytest

from fallback_kit.contracts import plan as plan_module
from fallback_kit.contracts.plan import (
    BreakerPolicy,
    Budgets,
    GatePolicy,
    Plan,
    PlanError,
    Politeness,
    RateLimitPolicy,
    SourcePolicy,
    Thresholds,
    Tier,
    load_plan,
    load_plan_text,
    packaged_plans,
)
from fallback_kit.faces.cli import main
from fallback_kit.web import gates as gates_module

MINIMAL = "tiers:\n  - {name: a, sources: [unpaywall]}\n"


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PlanError) as info:
        load_plan_text(text)
    return info.value.problems


@pytest.mark.parametrize("name", ["default", "fast", "thorough"])
def test_shipped_plans_load_and_round_trip(name):
    """Every shipped plan loads and to_yaml() reads back equal."""
    plan = load_plan(name, env={})
    assert load_plan_text(plan.to_yaml()) == plan


def test_the_ready_plans_ship_inside_the_package(tmp_path, monkeypatch):
    """In an empty folder, a packaged plan loads by its bare name (issue 12)."""
    monkeypatch.chdir(tmp_path)
    assert packaged_plans() == ("default", "fast", "thorough")
    assert load_plan("fast", env={}).name == "fast"
    with pytest.raises(PlanError, match="no such plan file: nope .packaged plans: default"):
        load_plan("nope", env={})


def test_a_file_of_that_name_wins_over_the_packaged_plan(tmp_path, monkeypatch, capsys):
    """`default` names a packaged plan unless a file of that name exists."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text("name: mine\n" + MINIMAL, encoding="utf-8")
    assert load_plan("default", env={}).name == "mine"
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "fast.yaml").write_text("name: local\n" + MINIMAL, encoding="utf-8")
    assert main(["plan", "--plan", "fast"]) == 0
    assert "name: local" in capsys.readouterr().out


def test_run_in_an_empty_folder_uses_the_packaged_default(tmp_path, monkeypatch, capsys):
    """`fallback-kit run works.csv --sandbox` from a folder with nothing else in it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "works.csv").write_text("work_id,doi\nw1,10.1234/abc\n", encoding="utf-8")
    code = main(["run", "works.csv", "--sandbox", "--no-progress", "--out", "out"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out").is_dir()


def test_default_plan_is_the_four_tier_plan():
    """The default plan has the tiers, budgets and thresholds the README promises."""
    plan = load_plan("default", env={})
    assert [(t.name, t.sources, t.parallel) for t in plan.tiers] == [
        ("direct_oa", ("unpaywall", "arxiv", "pmc"), 2),
        ("doi_follow", ("doi_redirect",), 1),
        ("landing_scrape", ("landing_scrape", "europe_pmc"), 2),
        ("archive", ("wayback",), 1),
    ]
    b = plan.budgets
    assert (b.total_timeout_ms, b.total_attempts, b.max_concurrent, b.per_source_timeout_ms) == (
        120_000,
        20,
        3,
        10_000,
    )
    assert plan.thresholds.retryable_statuses == (429, 502, 503, 504)
    assert plan.thresholds.terminal_statuses == (400, 401, 403, 404, 405, 410)
    for name in plan.source_names:
        assert 6000 <= plan.timeout_ms(name) <= 12000
        assert 1 <= plan.policy(name).retries_max <= 3


def test_precedence_yaml_env_override():
    """Environment beats YAML and overrides beat both; origins say which."""
    text = MINIMAL + "budgets: {total_attempts: 5, max_concurrent: 2}\n"
    env = {
        "FALLBACK_KIT_BUDGETS__TOTAL_ATTEMPTS": "7",
        "FALLBACK_KIT_BUDGETS__MAX_CONCURRENT": "4",
        "FALLBACK_KIT_EMAIL": "me@lab.org",
        "FALLBACK_KIT_PROGRESS": "0",
    }
    plan = load_plan_text(text, env=env, overrides={"budgets.max_concurrent": 9})
    assert plan.budgets.total_attempts == 7 and plan.budgets.max_concurrent == 9
    assert plan.politeness.email == "me@lab.org"
    origins = {path: origin for path, _, origin in plan.describe_sources()}
    assert origins["budgets.total_attempts"] == "env"
    assert origins["budgets.max_concurrent"] == "override"
    assert origins["tiers[0].name"] == "yaml"
    assert origins["budgets.total_timeout_ms"] == "default"


def test_parallel_below_one_names_its_path():
    """A non-positive parallel is reported with its YAML path."""
    text = MINIMAL + "  - {name: b, sources: [arxiv]}\n  - {name: c, sources: [pmc], parallel: 0}\n"
    assert ("tiers[2].parallel", "must be >= 1") in problems(text)


def test_unknown_source_gets_a_suggestion():
    """A misspelt source names the place and suggests the right name."""
    text = "tiers:\n  - {name: a, sources: [arxiv]}\n  - {name: b, sources: [unpaywal]}\n"
    with pytest.raises(PlanError) as info:
        load_plan_text(text)
    assert "tiers[1].sources[0]: unknown source 'unpaywal' — did you mean 'unpaywall'?" in str(
        info.value
    )


def test_source_in_two_tiers_is_refused():
    """A source may appear in one tier only."""
    text = "tiers:\n  - {name: a, sources: [arxiv]}\n  - {name: b, sources: [arxiv]}\n"
    ((path, msg),) = problems(text)
    assert path == "tiers[1].sources[0]" and "already in tier 'a'" in msg


def test_tier_without_sources_is_refused():
    """An empty tier is a fault at load time."""
    assert ("tiers[0].sources", "must list at least one source") in problems(
        "tiers:\n  - {name: a, sources: []}\n"
    )


@pytest.mark.parametrize(
    "field", ["total_timeout_ms", "total_attempts", "max_concurrent", "per_source_timeout_ms"]
)
@pytest.mark.parametrize("value", [0, -5])
def test_non_positive_budget_is_refused(field, value):
    """Budgets must be positive."""
    assert (f"budgets.{field}", "must be >= 1") in problems(
        MINIMAL + f"budgets: {{{field}: {value}}}\n"
    )


def test_wrong_type_and_unknown_key():
    """Wrong types and unknown keys are named, with a suggestion for the key."""
    got = problems(MINIMAL + "budgets: {total_attempts: many, total_timeout: 5}\n")
    assert ("budgets.total_attempts", "must be an integer, got a string 'many'") in got
    assert any(
        p == "budgets.total_timeout" and "did you mean 'total_timeout_ms'" in m for p, m in got
    )


def test_yaml_syntax_error_has_line_and_column():
    """A YAML syntax error says where."""
    ((path, msg),) = problems("tiers:\n  - {name: a, sources: [arxiv]\n")
    assert msg.startswith("YAML syntax error at line ") and "column" in msg


def test_offline_behavior_must_be_known():
    """offline_behavior is one of the three behaviours."""
    got = problems(MINIMAL + "gates: {offline_behavior: cache_onyl}\n")
    assert got[0][0] == "gates.offline_behavior" and "did you mean 'cache_only'" in got[0][1]


def test_replace_revalidates():
    """Plan.replace applies dotted overrides and validates again."""
    plan = load_plan_text(MINIMAL)
    assert plan.replace(**{"tiers[0].parallel": 3}).tiers[0].parallel == 3
    with pytest.raises(PlanError):
        plan.replace(**{"budgets.total_attempts": 0})


# ---- defaults written once (issue 12) -----------------------------------------------

SECTIONS = (Budgets, Tier, SourcePolicy, BreakerPolicy, GatePolicy, Thresholds,
            RateLimitPolicy, Politeness, Plan)


def _int_defaults() -> Counter:
    out: Counter = Counter()
    for cls in SECTIONS:
        for f in fields(cls):
            values = f.default if isinstance(f.default, tuple) else (f.default,)
            out.update(v for v in values if type(v) is int and v > 1)
    return out


def test_each_default_is_written_once_in_plan_py():
    """A default number appears in contracts/plan.py as often as fields have it: on the
    field, never again in the loader or the writer."""
    tree = ast.parse(Path(plan_module.__file__).read_text(encoding="utf-8"))
    written = Counter(n.value for n in ast.walk(tree)
                      if isinstance(n, ast.Constant) and type(n.value) is int)
    defaults = _int_defaults()
    assert defaults  # the scan sees the defaults
    assert {v: written[v] for v in defaults} == dict(defaults)


@pytest.mark.parametrize("section", ["budgets", "gates", "thresholds"])
def test_an_absent_value_is_the_dataclass_default_and_a_null_is_a_fault(section):
    """A key left out takes the field's default; a null (which once became 1) is named."""
    empty = load_plan_text(MINIMAL)
    cls = type(getattr(empty, section))
    assert getattr(empty, section) == cls()
    ruled = [f for f in fields(cls) if "kind" in f.metadata and not f.metadata.get("optional")]
    nulls = "\n".join(f"  {f.name}:" for f in ruled)
    with pytest.raises(PlanError) as info:
        load_plan_text(f"{MINIMAL}{section}:\n{nulls}\n")
    assert {path for path, _ in info.value.problems} == {f"{section}.{f.name}" for f in ruled}


def test_the_gates_use_the_plans_config_shapes():
    """One shape per config: the breaker and rate-limit settings of the gates are the
    plan's dataclasses, not clones."""
    assert gates_module.BreakerConfig is BreakerPolicy
    assert gates_module.RateLimit is RateLimitPolicy


def test_a_rate_limit_needs_its_rate():
    [(path, msg)] = problems(MINIMAL + "politeness:\n  rate_limits:\n    a.org: {burst: 2}\n")
    assert (path, msg) == ('politeness.rate_limits["a.org"].per_second', "is required")


def test_plan_loading_is_made_of_short_steps():
    """No function of contracts/plan.py is longer than 40 lines (plan_from_dict was 134)."""
    tree = ast.parse(Path(plan_module.__file__).read_text(encoding="utf-8"))
    long = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 40}
    assert long == {}
