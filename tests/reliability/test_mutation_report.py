"""`mutation_report.py`: the kill rates of RELIABILITY.md and the survivors' sorting.

A small `mutants/` folder in mutmut 3's layout (the mutated functions beside the
original, the verdicts in a `.meta` file) stands in for a finished run.
"""

from __future__ import annotations

import json
from pathlib import Path

import mutation_report as mr  # tests/reliability is on sys.path (pytest's rootdir-less import)
import pytest

KILLED, SURVIVED, TIMEOUT, NOT_CHECKED = 1, 0, 36, None

MUTANTS_PY = '''
def x_cap__mutmut_orig(n):
    if n > 10:
        raise ValueError("too many")
    return n

def x_cap__mutmut_1(n):
    if n > 10:
        raise ValueError("XXtoo manyXX")
    return n

def x_cap__mutmut_2(n):
    if n >= 10:
        raise ValueError("too many")
    return n

def x_cap__mutmut_3(n):
    if n > 11:
        raise ValueError("too many")
    return n

def x_cap__mutmut_4(n):
    if n > 10:
        raise ValueError("too many")
    return None

def x_cap__mutmut_7(n=2):
    if n > 10:
        raise ValueError("too many")
    return n
'''

VERDICTS = {
    "pkg.mod.x_cap__mutmut_1": SURVIVED,
    "pkg.mod.x_cap__mutmut_2": SURVIVED,
    "pkg.mod.x_cap__mutmut_3": SURVIVED,
    "pkg.mod.x_cap__mutmut_4": KILLED,
    "pkg.mod.x_cap__mutmut_5": TIMEOUT,
    "pkg.mod.x_cap__mutmut_6": NOT_CHECKED,
    "pkg.mod.x_cap__mutmut_7": KILLED,
}


@pytest.fixture
def mutants(tmp_path: Path) -> Path:
    root = tmp_path / "mutants"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text(MUTANTS_PY)
    (root / "pkg" / "mod.py.meta").write_text(json.dumps({"exit_code_by_key": VERDICTS}))
    return root


def _explanations(tmp_path: Path, text: str) -> dict[str, mr.Explanation]:
    path = tmp_path / "explained.txt"
    path.write_text(text)
    return mr.explained(path)


def test_the_kill_rate_counts_timeouts_as_kills_and_leaves_out_the_unchecked(mutants):
    stats = mr.report(mutants, known={})["pkg/mod.py"]
    assert stats["killed"] == 2 and stats["timeout"] == 1 and stats["survived"] == 3
    assert stats["not checked"] == 1 and stats["total"] == 7
    assert stats["kill_rate"] == 0.5  # 3 caught of the 6 checked


def test_a_change_only_in_a_raised_message_is_sorted_as_a_message(mutants):
    rows = {row["mutant"]: row for row in mr.survivors(mutants, known={})}
    assert rows["pkg.mod.x_cap__mutmut_1"]["category"] == "message"
    assert rows["pkg.mod.x_cap__mutmut_2"]["category"] == "open"
    assert rows["pkg.mod.x_cap__mutmut_2"]["change"] == "if n >= 10:"
    assert "pkg.mod.x_cap__mutmut_4" not in rows  # killed: not a survivor


def test_a_changed_default_argument_is_shown_by_the_signature():
    functions = mr._functions(__import__("ast").parse(MUTANTS_PY))
    assert mr.classify(functions, "pkg.mod.x_cap__mutmut_7") == ("open", "def (n=2)")


def test_an_explanation_holds_only_for_the_change_it_was_written_for(tmp_path, mutants):
    known = _explanations(tmp_path, "# pkg/mod.py\n"
                          "pkg.mod.x_cap__mutmut_2 | n is never 10 | if n >= 10:\n"
                          "pkg.mod.x_cap__mutmut_3 | n is never 11 | if n >= 10:\n")
    rows = {row["mutant"]: row for row in mr.survivors(mutants, known=known)}
    assert rows["pkg.mod.x_cap__mutmut_2"]["category"] == "equivalent"
    assert rows["pkg.mod.x_cap__mutmut_2"]["why"] == "n is never 10"
    # mutmut renumbered: _3 is now another change; its old reason must not cover it
    assert rows["pkg.mod.x_cap__mutmut_3"]["category"] == "stale"
    assert rows["pkg.mod.x_cap__mutmut_3"]["why"] == "written for: if n >= 10:"
    sorted_out = mr.report(mutants, known=known)["pkg/mod.py"]["survivors_by_category"]
    assert sorted_out == {"message": 1, "equivalent": 1, "stale": 1}


def test_the_changed_line_is_last_and_may_hold_the_separator(tmp_path):
    known = _explanations(tmp_path, "a.b.x_f__mutmut_1 | why | x = a | b\n")
    assert known["a.b.x_f__mutmut_1"] == mr.Explanation(why="why", change="x = a | b")


def test_an_explanation_without_its_changed_line_is_refused_with_its_line_number(tmp_path):
    with pytest.raises(ValueError, match=r"explained.txt:2: want"):
        _explanations(tmp_path, "# header\na.b.x_f__mutmut_1 | why only\n")


def test_every_recorded_explanation_reads():
    """The project's own list parses, one mutant a line, each with a reason and a line."""
    known = mr.explained()
    assert known and all(e.why and e.change for e in known.values())


def test_the_command_line_wants_a_finished_run(tmp_path, capsys):
    assert mr.main(["--mutants", str(tmp_path / "none")]) == 2
    assert "run `make mutate` first" in capsys.readouterr().err
