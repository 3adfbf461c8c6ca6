"""Plain bad input ends with one line and exit 2 (never a traceback, never a silent
default), and nothing a user or a server writes lets anyone in: YAML is bounded, the
contact email is redacted by value, a plan's name stays a name, CSV cells stay text.
"""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml

from fallback_kit.contracts.events import Attempt, Resolution, ResolutionStatus
from fallback_kit.contracts.plan import PlanError, load_plan, load_plan_text
from fallback_kit.contracts.safe_yaml import MAX_DEPTH, YamlRefused, load_yaml
from fallback_kit.contracts.works import Work
from fallback_kit.engine.batch import default_out_dir
from fallback_kit.faces.cli import main
from fallback_kit.record.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PLAN = "default"  # the packaged plan
GOOD_CSV = "work_id,doi\nw1,10.1000/a\nw2,10.1000/b\n"
MINI = "name: mini\ntiers:\n  - name: t\n    sources: [unpaywall]\n"


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str,
        plan: str = DEFAULT_PLAN) -> tuple[int, str]:
    works = tmp_path / "works.csv"
    works.write_text(GOOD_CSV)
    out = tmp_path / "out"
    code = main(["run", str(works), "--plan", plan, "--out", str(out), "--no-progress", *argv])
    _, err = capsys.readouterr()
    assert not out.exists(), "nothing may be written"
    return code, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---- 6. bad input: one line, exit 2 ------------------------------------------------------


@pytest.mark.parametrize(("argv", "words"), [
    (["--profile", "bogus"], "--profile 'bogus'"),
    (["--time-scale", "inf"], "--time-scale"),
    (["--time-scale", "nan"], "--time-scale"),
    (["--seed", str(2**64)], "--seed"),
    (["--seed", "-1"], "--seed"),
    (["--set", "budgets.total_timeout_ms=1.0e+300"], "budgets.total_timeout_ms"),
    (["--set", "budgets.total_timeout_ms=" + "9" * 40], "budgets.total_timeout_ms"),
    (["--set", 'politeness.rate_limits["x.org"].per_second=.inf'], "per_second"),
    (["--set", 'politeness.rate_limits["x.org"].per_second=.nan'], "per_second"),
    (["--set", "budgets.total_attempts=null"], "budgets.total_attempts must be an integer"),
    (["--retry-failed", "bogus"], "--retry-failed"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_run_options_are_one_line_and_exit_2(tmp_path, capsys, network, argv, words):
    code, err = run(capsys, tmp_path, *argv)
    assert code == 2 and words in one_line(err)
    assert network == []


def test_an_empty_environment_value_is_refused(monkeypatch):
    """Before: FALLBACK_KIT_BUDGETS__TOTAL_TIMEOUT_MS= became 1 ms."""
    with pytest.raises(PlanError, match="FALLBACK_KIT_BUDGETS__TOTAL_TIMEOUT_MS is empty"):
        load_plan_text(MINI, env={"FALLBACK_KIT_BUDGETS__TOTAL_TIMEOUT_MS": ""})


def test_a_misspelt_environment_section_is_named_with_a_suggestion():
    with pytest.raises(PlanError, match="did you mean 'BUDGETS'"):
        load_plan_text(MINI, env={"FALLBACK_KIT_BUDGET__TOTAL_TIMEOUT_MS": "5000"})
    # the tool's own single-word variables are no plan paths and stay allowed
    load_plan_text(MINI, env={"FALLBACK_KIT_PROGRESS": "0", "FALLBACK_KIT_SEED": "3"})


def test_yaml_null_for_a_number_is_refused():
    with pytest.raises(PlanError, match="budgets.total_timeout_ms must be an integer, got null"):
        load_plan_text(MINI + "budgets:\n  total_timeout_ms:\n")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1.0e+300"])
def test_non_finite_rates_are_refused(value):
    text = MINI + f'politeness:\n  rate_limits:\n    "x.org": {{per_second: {value}}}\n'
    with pytest.raises(PlanError, match="per_second"):
        load_plan_text(text)


def test_a_duplicate_yaml_key_is_refused_naming_its_line():
    """Before: a second `tiers:` silently replaced the first."""
    text = MINI + "tiers:\n  - name: u\n    sources: [arxiv]\n"
    with pytest.raises(PlanError, match=r"line 5, column 1: the key 'tiers' is given twice"):
        load_plan_text(text)


def test_an_unreadable_plan_is_exit_2(tmp_path, capsys, network, monkeypatch):
    plan = tmp_path / "plan.yaml"
    plan.write_text(MINI)
    real = Path.read_text

    def denied(self: Path, *a: Any, **kw: Any) -> str:
        if self == plan:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", denied)
    code, err = run(capsys, tmp_path, plan=str(plan))
    assert code == 2 and "permission denied" in one_line(err).lower()


def test_an_unreadable_works_file_is_exit_2(tmp_path, capsys, network, monkeypatch):
    works = tmp_path / "works.csv"
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self.name == works.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, err = run(capsys, tmp_path)
    assert code == 2 and "permission denied" in one_line(err).lower()


# ---- 5. YAML loading is bounded ---------------------------------------------------------


LAUGHS = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
          + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n"
                    for i in range(8)))


@pytest.mark.parametrize("text", [
    LAUGHS,
    "name: x\ntiers: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "name: x\ntiers: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
    "name: x\n" + "".join("  " * i + f"k{i}:\n" for i in range(200)),
], ids=["billion-laughs", "brackets", "braces", "block-nesting"])
def test_hostile_yaml_is_refused_fast(text):
    t0 = time.perf_counter()
    with pytest.raises(PlanError, match="YAML refused"):
        load_plan_text(text)
    assert time.perf_counter() - t0 < 1.0


def test_hostile_yaml_in_a_plan_file_and_in_a_set_value(tmp_path, capsys):
    plan = tmp_path / "bomb.yaml"
    plan.write_text(LAUGHS)
    assert main(["plan", "--plan", str(plan)]) == 2
    assert "YAML refused" in one_line(capsys.readouterr().err)
    with pytest.raises(YamlRefused):
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_safe_yaml_still_reads_plans_with_anchors_and_merges():
    text = ("base: &b {timeout_ms: 5000, retries_max: 1}\n"
            "sources:\n  unpaywall: {<<: *b, retries_max: 2}\n")
    data = load_yaml(text)
    assert data["sources"]["unpaywall"] == {"timeout_ms": 5000, "retries_max": 2}
    for path in sorted((ROOT / "fallback_kit" / "plans").glob("*.yaml")):
        assert load_yaml(path.read_text()) == yaml.safe_load(path.read_text()), path


def test_every_yaml_load_goes_through_load_yaml():
    """One safe loader: no module of the package calls PyYAML's loaders directly."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "fallback_kit").rglob("*.py")
                 if p.name != "safe_yaml.py"
                 and any(f"yaml.{fn}(" in p.read_text() for fn in
                         ("safe_load", "load", "full_load", "unsafe_load", "load_all",
                          "safe_load_all"))]
    assert offenders == []


# ---- 5. redaction by value, plan names, CSV formulas ------------------------------------


EMAIL = "Secret.Person+oa@example.edu"


def test_the_email_is_redacted_by_value_wherever_a_server_echoes_it():
    """A server echoes the contact email in a path, in a parameter of another name and in
    a message: no form of it reaches an Attempt or a Resolution."""
    from fakes import FakeSource, Step, fake_factory, make_plan

    from fallback_kit.contracts.events import ListSink, Outcome
    from fallback_kit.engine.orchestrator import Orchestrator
    from fallback_kit.sources.base import SourceResult

    echoes = [f"https://api.example.org/u/{quote(EMAIL, safe='')}/x.pdf"
              f"?contact={quote_plus(EMAIL)}", f"https://api.example.org/{EMAIL.lower()}/y"]
    nope = SourceResult(outcome=Outcome.NO_PDF, reason=f"no record for {EMAIL}", url=echoes[1],
                        meta={"echo": echoes[0], "who": {EMAIL: [EMAIL.upper()]}})
    win = SourceResult(outcome=Outcome.SUCCESS, url=echoes[0], meta={"final_url": echoes[0]})
    plan = make_plan([{"name": "a", "sources": ["crossref"]}, {"name": "b", "sources": ["pmc"]}],
                     politeness={"email": EMAIL})
    sink = ListSink()
    orch = Orchestrator(plan, sink=sink, fetcher_factory=fake_factory, sources={
        "crossref": FakeSource("crossref", [Step(0, nope)]),
        "pmc": FakeSource("pmc", [Step(0, win)])})
    res = asyncio.run(orch.resolve(Work(work_id="w", doi="10.1/x")))
    assert res.status is ResolutionStatus.RESOLVED
    text = repr([e.to_dict() for e in sink.events if isinstance(e, Attempt | Resolution)])
    forms = {EMAIL, quote(EMAIL), quote(EMAIL, safe=""), quote_plus(EMAIL)}
    assert not [f for f in forms if f.lower() in text.lower()], text
    assert "REDACTED" in text


@pytest.mark.parametrize("name", ["/etc/cron.d/x", "../../../tmp/x", "..", "a/../../b",
                                  "C:\\Windows\\x", ""])
def test_a_plan_name_never_steers_the_run_outside_runs(name):
    plan = load_plan_text(MINI).replace(name=name) if name else load_plan_text(MINI)
    out = default_out_dir(plan)
    assert out.parent == Path("runs") and not out.is_absolute() and ".." not in out.parts
    assert len(out.parts) == 2


def test_csv_export_neutralises_formulas(tmp_path, capsys):
    plan_yaml = load_plan_text(MINI).to_yaml()
    store = RunStore.create(tmp_path / "run", plan_yaml=plan_yaml)
    store.add_works([Work(work_id="w1", doi="10.1/x", title='=HYPERLINK("http://evil","x")'),
                     Work(work_id="+w2", doi="10.1/y", title="@SUM(A1:A9)"),
                     Work(work_id="w3", doi="10.1/z", title="-2+3")])
    store.close()
    assert main(["export", str(tmp_path / "run"), "--format", "csv",
                 "--out", str(tmp_path / "x")]) == 0
    with (tmp_path / "x" / "works.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [v for row in rows for v in row.values() if v]
    assert not [c for c in cells if c[0] in "=+-@"], cells
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in cells
    capsys.readouterr()


def test_plan_load_of_a_real_plan_still_works():
    assert load_plan(DEFAULT_PLAN, env={}).name == "default"
