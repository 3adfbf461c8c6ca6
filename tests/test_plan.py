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
    assert {n: (plan.timeout_ms(n), plan.policy(n).retries_max) for n in plan.source_names} == {
        "unpaywall": (8000, 2), "arxiv": (10000, 2), "pmc": (10000, 2),
        "doi_redirect": (10000, 1), "landing_scrape": (12000, 1), "europe_pmc": (8000, 2),
        "wayback": (12000, 3),
    }


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


# ---- rules that mutation testing found unguarded (issue 17) ------------------------------


def test_environment_variables_of_other_programs_are_ignored_and_the_rest_applied():
    """Only `FALLBACK_KIT_<SECTION>__…` and `FALLBACK_KIT_EMAIL` set the plan; every one of
    them is applied whatever variables sort before it."""
    env = {
        "AAA": "1",  # sorts first
        "FALLBACK_KIT_EMAIL": "me@lab.org",
        "FALLBACK_KIT_PROGRESS": "0",  # a setting of the CLI, not a plan path
        "FALLBACK_KIT_GATES__OFFLINE": "true",
        "FALLBACK_KIT_SOURCES__UNPAYWALL__TIMEOUT_MS": "5000",
    }
    plan = load_plan_text(MINIMAL, env=env)
    assert plan.politeness.email == "me@lab.org" and plan.gates.offline is True
    assert plan.policy("unpaywall").timeout_ms == 5000


@pytest.mark.parametrize("env,message", [
    ({"FALLBACK_KIT_BUDGTS__TOTAL_ATTEMPTS": "3"},
     "environment: FALLBACK_KIT_BUDGTS__TOTAL_ATTEMPTS is not a plan section — did you mean "
     "'BUDGETS'?"),
    ({"FALLBACK_KIT_BUDGETS__TOTAL_ATTEMPTS": " "},
     "environment: FALLBACK_KIT_BUDGETS__TOTAL_ATTEMPTS is empty; give a value or unset it"),
])
def test_a_misspelt_or_empty_plan_variable_is_refused(env, message):
    with pytest.raises(PlanError) as info:
        load_plan_text(MINIMAL, env=env)
    assert str(info.value) == message


def test_load_plan_reads_the_process_environment_unless_given_one(tmp_path, monkeypatch):
    """`env=None` means os.environ; overrides beat it; faults name the file."""
    f = tmp_path / "p.yaml"
    f.write_text("description: Überblick\n" + MINIMAL, encoding="utf-8")
    monkeypatch.setenv("FALLBACK_KIT_BUDGETS__TOTAL_ATTEMPTS", "7")
    assert load_plan(f).budgets.total_attempts == 7
    assert load_plan(f, env={}).budgets.total_attempts == 20
    assert load_plan(f, overrides={"budgets.total_attempts": 9}).budgets.total_attempts == 9
    assert load_plan(f).description == "Überblick"  # read as UTF-8 whatever the locale
    with pytest.raises(PlanError) as info:
        load_plan(f, env={}, overrides={"budgets.total_attempts": 0})
    assert str(info.value) == f"{f}: budgets.total_attempts must be >= 1"
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "nope.yaml")
    assert info.value.source == str(tmp_path / "nope.yaml")
    assert info.value.problems == [("", f"no such plan file: {tmp_path / 'nope.yaml'} "
                                        "(packaged plans: default, fast, thorough)")]


@pytest.mark.parametrize("text,message", [
    ("tiers:\n  - {name: a, sources: [arxiv]\n",
     "plan: YAML syntax error at line 3, column 1: expected ',' or '}', but got '<stream end>'"),
    (MINIMAL + "name: a\nname: b\n",
     "plan: YAML refused at line 4, column 1: the key 'name' is given twice"),
    ("- a\n- b\n", "plan: the plan must be a YAML mapping at the top level"),
    ("name: a\x07b\n",  # a reader error has no line and column, and a message of two lines
     "plan: YAML syntax error at unacceptable character #x0007: special characters are not "
     'allowed in "<unicode string>", position 7'),
])
def test_yaml_faults_say_where_exactly(text, message):
    """A YAML fault is one line: syntax error or refusal, line and column when known."""
    with pytest.raises(PlanError) as info:
        load_plan_text(text)
    assert str(info.value) == message and info.value.problems == [("", message[6:])]


@pytest.mark.parametrize("yaml_text,problem", [
    ("budgets: [1]", ("budgets", "must be a mapping, got a list")),
    ("budgets: {total_attempts: true}",
     ("budgets.total_attempts", "must be an integer, got a boolean True")),
    ("budgets: {total_attempts: 1.5}",
     ("budgets.total_attempts", "must be an integer, got float 1.5")),
    ("budgets: {total_attempts: 1000000000001}",
     ("budgets.total_attempts", "must be <= 1,000,000,000,000")),
    ("gates: {offline: 1}", ("gates.offline", "must be true or false, got 1")),
    ("gates: {breakr: {}}", ("gates.breakr", "is not a known key — did you mean 'breaker'?")),
    ("politeness: {rate_limits: [api.org]}",
     ("politeness.rate_limits", "must be a mapping of host -> {per_second, burst}")),
    ("name: 5", ("name", "must be a string, got int 5")),
    ("description: {a: 1}", ("description", "must be a string, got a mapping {'a': 1}")),
    ("name: [a]", ("name", "must be a string, got a list ['a']")),
    ("  -", ("tiers[1]", "is empty: give it a name and sources")),
    ("  - {}", ("tiers[1]", "is empty: give it a name and sources")),
    ("  - {name: b, sources: arxiv}",
     ("tiers[1].sources", "must be a list of source names, got a string")),
    ("  - {name: b, sources: [null]}", ("tiers[1].sources[0]", "must be a source name, got null")),
    ("  - {name: b, sources: [true]}",
     ("tiers[1].sources[0]", "must be a source name, got a boolean")),
    ("gates: {offline_behavior: zzzzzz}",
     ("gates.offline_behavior", "must be one of metadata_only, block_all, cache_only "
                                "(known: metadata_only, block_all, cache_only)")),
    ("budgets: {total_attempts: null}",
     ("budgets.total_attempts", "must be an integer, got null (leave the key out for the "
                                "default)")),
])
def test_each_wrong_value_is_named_with_its_type(yaml_text, problem):
    """One clear line per fault: the YAML path, what was expected and what was given."""
    assert problems(MINIMAL + yaml_text + "\n") == [problem]


@pytest.mark.parametrize("value,ok", [
    (0.5, True), (10**12, True), (1, True),
    (0, False), (-1, False), (10**12 + 1, False), (".inf", False), (".nan", False), ("true", False),
])
def test_a_rate_is_a_positive_finite_number(value, ok):
    """per_second may be below 1 (one request every two seconds) but not 0 or infinite."""
    text = MINIMAL + f"politeness:\n  rate_limits:\n    api.org: {{per_second: {value}}}\n"
    if ok:
        plan = load_plan_text(text)
        assert plan.politeness.rate_limits["api.org"].per_second == float(value)
    else:
        [(path, _)] = problems(text)
        assert path == 'politeness.rate_limits["api.org"].per_second'


def test_a_host_name_without_dots_is_written_plainly_in_paths():
    [(path, msg)] = problems(MINIMAL + "politeness: {rate_limits: {XHOST: {per_second: 0}}}\n")
    assert (path, msg) == ("politeness.rate_limits.XHOST.per_second", "must be > 0")


@pytest.mark.parametrize("statuses,ok", [
    ([100, 599], True), ([99], False), ([600], False), ([True], False), ("429", False),
    ([429, "x"], False),
])
def test_statuses_are_http_status_codes(statuses, ok):
    text = MINIMAL + f"thresholds: {{retryable_statuses: {statuses!r}, terminal_statuses: []}}\n"
    if ok:
        assert load_plan_text(text).thresholds.retryable_statuses == tuple(statuses)
    else:
        assert problems(text) == [("thresholds.retryable_statuses",
                                   "must be a list of HTTP status codes (100-599)")]


def test_plan_errors_list_every_fault_after_their_source():
    e = PlanError([("a.b", "must be >= 1"), ("c", ": unknown x"), ("", "whole")], source="p.yaml")
    assert str(e) == "p.yaml: a.b must be >= 1; c: unknown x; whole"
    assert e.source == "p.yaml"
    assert str(PlanError([("a", "is bad")], source="")) == "a is bad"
    assert str(PlanError([("a", "is bad")])) == "plan: a is bad"


def test_replace_marks_its_values_as_overrides_and_names_the_plan_in_faults():
    plan = load_plan_text("name: mine\n" + MINIMAL, env={"FALLBACK_KIT_EMAIL": "a@b.org"})
    new = plan.replace(**{"budgets.total_attempts": 4})
    origins = {path: origin for path, _, origin in new.describe_sources()}
    assert origins["budgets.total_attempts"] == "override"
    assert origins["politeness.email"] == "env" and origins["name"] == "yaml"
    with pytest.raises(PlanError) as info:
        plan.replace(**{"budgets.total_attempts": 0})
    assert str(info.value) == "mine: budgets.total_attempts must be >= 1"


def test_a_value_set_on_a_whole_section_is_the_origin_of_its_keys():
    """An override of `sources.unpaywall` (a mapping) is where each of its keys comes from;
    a key the plan never set is a default."""
    plan = load_plan_text(MINIMAL, overrides={"sources.unpaywall": {"timeout_ms": 5000}})
    origins = {path: origin for path, _, origin in plan.describe_sources()}
    assert origins["sources.unpaywall.timeout_ms"] == "override"
    assert origins["sources.unpaywall.retries_max"] == "override"
    assert origins["tiers[0].parallel"] == "default" and origins["tiers[0].name"] == "yaml"
    tiers = load_plan_text(MINIMAL, overrides={"tiers": [{"name": "b", "sources": ["arxiv"]}]})
    origins = {path: origin for path, _, origin in tiers.describe_sources()}
    assert origins["tiers[0].parallel"] == "override"


def test_the_written_plan_keeps_every_non_default_section():
    """to_yaml writes what differs from the defaults (thresholds, politeness, cache, accept,
    a tier's hedge), in the plan's own order, so that it reads back equal."""
    text = MINIMAL + (
        "  - {name: b, sources: [arxiv], hedge_after_ms: 300}\n"
        "thresholds: {retryable_statuses: [503], terminal_statuses: [404]}\n"
        "politeness: {email: me@lab.org}\ncache: {max_age: 0}\n"
        "accept: {licenses: [CC-BY], check_paper: false}\n")
    plan = load_plan_text(text)
    data = plan.to_dict()
    assert list(data) == ["name", "budgets", "tiers", "sources", "gates", "thresholds",
                          "politeness", "cache", "accept"]
    assert data["thresholds"] == {"retryable_statuses": [503], "terminal_statuses": [404]}
    assert data["politeness"] == {"email": "me@lab.org"}
    assert data["cache"] == {"max_age": 0} and data["accept"]["licenses"] == ["cc-by"]
    assert [t.get("hedge_after_ms") for t in data["tiers"]] == [None, 300]
    assert data["sources"]["unpaywall"] == {  # timeout_ms unset: the budget's
        "retries_max": 1, "robots_respect": False, "backoff_base_ms": 250, "backoff_cap_ms": 5000}
    assert load_plan_text(plan.to_yaml()) == plan
    assert "cache" not in load_plan_text(MINIMAL).to_dict()
    assert "accept" not in load_plan_text(MINIMAL).to_dict()
    assert "politeness" not in load_plan_text(MINIMAL).to_dict()


def test_the_written_plan_is_readable_yaml():
    """Keys in the plan's order, short lists on one line, long text wrapped near 100."""
    plan = load_plan_text("description: xxx" + " word" * 40 + "\n" + MINIMAL)
    text = plan.to_yaml()
    assert text.startswith("name: plan\ndescription: xxx word")
    assert "tiers:\n- name: a\n  parallel: 1\n  sources: [unpaywall]\n" in text
    assert len(text.splitlines()[1]) == 101  # broken at the first space past column 100


def test_each_section_has_the_documented_defaults():
    """The defaults the README and docs promise, read from a plan that sets nothing."""
    plan = load_plan_text(MINIMAL)
    assert plan.gates == GatePolicy(skip_if_breaker_open=True, offline=False,
                                    offline_behavior="metadata_only",
                                    skip_if_rate_wait_exceeds_ms=5_000)
    assert plan.gates.breaker == BreakerPolicy(failure_threshold=5, window_ms=30_000,
                                               cooldown_ms=15_000, half_open_probes=1)
    assert plan.policy("unpaywall") == SourcePolicy(timeout_ms=None, retries_max=1,
                                                    robots_respect=False, backoff_base_ms=250,
                                                    backoff_cap_ms=5_000)
    assert (plan.name, plan.description, plan.cache.max_age) == ("plan", "", 86_400)


def test_an_unreadable_plan_file_is_one_line(tmp_path):
    """A folder or a file that is not UTF-8 names the file and why, without a traceback."""
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: \xe9\n".encode("latin-1"))
    for path, why in ((tmp_path, "Is a directory"),
                      (latin, "'utf-8' codec can't decode byte 0xe9 in position 6: invalid "
                              "continuation byte")):
        with pytest.raises(PlanError) as info:
            load_plan(path, env={})
        assert str(info.value) == f"{path}: cannot read plan file: {why}"


def test_a_rate_that_is_no_number_names_its_type():
    """Like every fault: the path, what was expected and what was given."""
    text = MINIMAL + "politeness: {rate_limits: {a.org: {per_second: abc}}}\n"
    assert problems(text) == [('politeness.rate_limits["a.org"].per_second',
                               "must be a number, got a string 'abc'")]


def test_a_plan_file_is_read_as_utf8_whatever_the_locale(tmp_path):
    """A plan written in UTF-8 (a description with accents) loads on a machine whose
    locale is plain ASCII (a bare C locale, as in many containers and cron jobs)."""
    import os
    import subprocess
    import sys

    src = tmp_path / "accents.yaml"
    src.write_text(load_plan("default").to_yaml().replace(
        "\ndescription:", "\ndescription: Résumé des sources — ", 1), encoding="utf-8")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "utf-8"}
    code = ("import sys; from fallback_kit.contracts.plan import load_plan; "
            "print(load_plan(sys.argv[1]).description)")
    out = subprocess.run([sys.executable, "-c", code, str(src)], env=env, capture_output=True,
                         text=True, encoding="utf-8", check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Résumé des sources — ")


@pytest.mark.parametrize(("text", "env", "overrides", "expected"), [
    ("- a\n- b\n", None, None, "mine.yaml: the plan must be a YAML mapping at the top level"),
    ("name: x\ntiers: 3\n", None, {"tiers[0].name": "t"},
     "mine.yaml: tiers[0].name cannot be overridden: "),
    ("name: x\nbudgets: 3\n", {"FALLBACK_KIT_BUDGETS__TOTAL_ATTEMPTS": "4"}, None,
     "mine.yaml: budgets.total_attempts cannot be set from the environment: "),
])
def test_a_plan_error_before_validation_names_the_plan_file(text, env, overrides, expected):
    """Faults found before validation (not a mapping, an override or a variable that
    cannot be set) name the file they are in, as validation's faults do."""
    with pytest.raises(PlanError) as err:
        load_plan_text(text, env=env, overrides=overrides, source="mine.yaml")
    assert str(err.value).startswith(expected) and err.value.source == "mine.yaml"


@pytest.mark.parametrize(("value", "ok"), [(10**12, True), (10**12 + 1, False), (1, True),
                                           (0, False)])
def test_a_whole_number_is_taken_from_its_minimum_up_to_10_to_the_12(value, ok):
    text = MINIMAL + f"budgets: {{total_attempts: {value}}}\n"
    if ok:
        assert load_plan_text(text).budgets.total_attempts == value
    else:
        [(path, _)] = problems(text)
        assert path == "budgets.total_attempts"


@pytest.mark.parametrize(("yaml_text", "path"), [
    ("accept: {bogus: 1}", "accept.bogus"),
    ("accept: {versions: 3}", "accept.versions"),
    ("accept: {versions: [1, 2]}", "accept.versions"),
    ("accept: {licenses: 3}", "accept.licenses"),
    ("accept: {max_pdf_bytes: x}", "accept.max_pdf_bytes"),
    ("gates: {breaker: {bogus: 1}}", "gates.breaker.bogus"),
    ("sources: {bogus: {}}", "sources.bogus"),
    ("politeness: {bogus: 1}", "politeness.bogus"),
    ("politeness: {email: 3}", "politeness.email"),
    ("bogus: 1", "bogus"),
    ("name: 3", "name"),
    ("thresholds: {retryable_statuses: [503], terminal_statuses: [503]}", "thresholds"),
])
def test_each_sections_fault_is_named_by_its_own_yaml_path(yaml_text, path):
    """Every section names its faults from its own place in the YAML (a fault in
    `accept` is `accept.<key>`, never another section's or a bare key)."""
    assert [p for p, _ in problems(MINIMAL + yaml_text + "\n")] == [path]


def test_a_plan_that_sets_nothing_gets_every_documented_default():
    from fallback_kit.contracts.plan import AcceptPolicy

    plan = load_plan_text(MINIMAL, env=None)
    assert (plan.budgets, plan.gates, plan.politeness, plan.thresholds, plan.accept) == (
        Budgets(), GatePolicy(), Politeness(), Thresholds(), AcceptPolicy())


def test_nested_and_list_settings_are_kept():
    """The breaker inside gates, the accepted versions and licences are read, not
    left at their defaults."""
    plan = load_plan_text(MINIMAL + "gates: {breaker: {failure_threshold: 7}}\n"
                          "accept: {versions: [acceptedVersion], licenses: [CC-BY]}\n")
    assert plan.gates.breaker.failure_threshold == 7
    assert (plan.accept.versions, plan.accept.licenses) == (("acceptedVersion",), ("cc-by",))


def test_a_plan_error_is_named_plan_unless_its_source_is_given():
    from fallback_kit.contracts.plan import plan_from_dict

    with pytest.raises(PlanError, match=r"^plan: tiers must list at least one tier$"):
        plan_from_dict({"tiers": []})


@pytest.mark.parametrize(("tiers", "expected"), [
    ("tiers: 3", [("tiers", "must be a list of tiers, got int")]),
    ("tiers:\n  - 3\n  - {name: b, sources: [bogus]}",
     ["tiers[0]", "tiers[1].sources[0]"]),
    ("tiers:\n  -\n  - {name: b, sources: [bogus]}",
     ["tiers[0]", "tiers[1].sources[0]"]),
    ("tiers:\n  - {name: a, sources: [unpaywall], bogus: 1}\n  - {name: 3, sources: [arxiv]}",
     ["tiers[0].bogus", "tiers[1].name", "tiers[1].name"]),
    ("tiers:\n  - {name: a, sources: [unpaywall]}\n  - {name: a, sources: [arxiv]}",
     [("tiers[1].name", "'a' is used by another tier")]),
])
def test_every_faulty_tier_is_named_by_its_place(tiers, expected):
    """A fault in one tier does not hide the next tier's; each names its own path."""
    found = problems(tiers + "\n")
    if isinstance(expected[0], tuple):
        assert found == expected
    else:
        assert [path for path, _ in found] == expected
