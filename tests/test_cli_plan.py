"""`plan`, `config`, `explain` and `dryrun` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fallback_kit.contracts.plan import load_plan, load_plan_text
from fallback_kit.faces.cli import main

ROOT = Path(__file__).parent.parent
DEFAULT = "default"


def test_plan_prints_the_effective_plan(capsys):
    """`plan` prints YAML that loads back to the effective plan, overrides included."""
    assert main(["plan", "--plan", DEFAULT, "--set", "budgets.total_attempts=7"]) == 0
    printed = load_plan_text(capsys.readouterr().out)
    expected = load_plan(DEFAULT, env={}, overrides={"budgets.total_attempts": 7})
    assert printed == expected


def test_config_shows_origins(capsys, monkeypatch):
    """`config` lists every value with yaml / env / override / default."""
    monkeypatch.setenv("FALLBACK_KIT_BUDGETS__MAX_CONCURRENT", "5")
    assert main(["config", "--plan", DEFAULT, "--set", "tiers[0].parallel=3"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["budgets.max_concurrent"][1:] == ["5", "env"]
    assert rows["tiers[0].parallel"][1:] == ["3", "override"]
    assert rows["budgets.total_timeout_ms"][1:] == ["120000", "yaml"]
    assert rows["sources.unpaywall.backoff_base_ms"][-1] == "default"


def test_set_addresses_a_host_name_with_dots(capsys):
    """A rate limit keyed by a host name ("web.archive.org") is reached with a quoted key,
    and `config` lists it under the same path."""
    path = 'politeness.rate_limits["web.archive.org"].per_second'
    assert main(["config", "--plan", DEFAULT, "--set", f"{path}=0.5"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows[path][1:] == ["0.5", "override"]
    plan = load_plan(DEFAULT, env={}, overrides={"politeness.rate_limits['web.archive.org']"
                                                 ".per_second": 0.5})
    assert plan.politeness.rate_limits["web.archive.org"].per_second == 0.5
    assert "web" not in plan.politeness.rate_limits  # not split at its dots


def test_explain_says_the_strategy(capsys):
    """`explain` names each tier, what runs in parallel, the budgets and the gates."""
    assert main(["explain", "--plan", DEFAULT]) == 0
    out = capsys.readouterr().out
    assert "Tier 1, direct_oa: unpaywall, arxiv, pmc (up to 2 at once)." in out
    assert "Tier 4, archive: wayback (one at a time)." in out
    assert "at most 120 s in all" in out and "at most 20 source tries" in out
    assert "opens after 5 failures within 30000 ms" in out


def test_dryrun_marks_not_applicable_sources(tmp_path, capsys):
    """`dryrun` shows which sources each work would try, without network."""
    works = tmp_path / "w.csv"
    works.write_text("work_id,doi,arxiv_id\nonly-arxiv,,2106.01234\nonly-doi,10.1371/x,\n")
    assert main(["dryrun", str(works), "--plan", DEFAULT]) == 0
    out = capsys.readouterr().out
    assert "only-arxiv: direct_oa[-unpaywall arxiv -pmc]" in out
    assert "only-doi: direct_oa[unpaywall -arxiv pmc]" in out


@pytest.mark.parametrize("argv,message", [
    (["plan", "--plan", "nope.yaml"], "no such plan file"),
    (["plan", "--plan", DEFAULT, "--set", "tiers[0].parallel=0"], "tiers[0].parallel must be >= 1"),
    (["plan", "--plan", DEFAULT, "--set", "oops"], "expected PATH=VALUE"),
    (["dryrun", "missing.csv", "--plan", DEFAULT], "missing.csv: no such file"),
])
def test_errors_exit_2_with_one_line(argv, message, capsys):
    """User errors end with one line naming the place and exit code 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
