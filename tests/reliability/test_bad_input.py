"""Bad input: works CSVs, YAML plans and CLI arguments a researcher might really give.

Every case must end with a message naming the place (file, row, field, YAML path), exit
code 2 from the CLI, and nothing half-written. `run` cases all fail before the network;
a stand-in for the runner's network guards that (the sandbox is never started).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fallback_kit.contracts.plan import PlanError, load_plan, load_plan_text
from fallback_kit.contracts.works import WorkError, WorksFileError, read_works
from fallback_kit.faces.cli import main
from fallback_kit.record.store import RunStore, plan_hash

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PLAN = "default"
GOOD_CSV = "work_id,doi\nw1,10.1000/a\nw2,10.1000/b\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tree(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under `path` with its size and mtime, to prove nothing was written."""
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))}


# ---- works CSV -------------------------------------------------------------------------


def test_empty_csv_is_refused_naming_the_file(tmp_path):
    """An empty file raises WorksFileError with its path and what is expected."""
    path = write(tmp_path, "empty.csv", "")
    with pytest.raises(WorksFileError, match=r"empty\.csv: the file is empty \(expected a header"):
        read_works(path)


def test_header_only_csv_reads_as_no_works(tmp_path):
    """A header without rows is a valid, empty table: no works, no errors."""
    report = read_works(write(tmp_path, "header.csv", "work_id,doi,arxiv_id\n"))
    assert (len(report.works), len(report.errors)) == (0, 0)


def test_header_only_csv_is_refused_by_run(tmp_path, capsys, network):
    """`run` on a table without works stops with exit 2 before the network, writing nothing."""
    path = write(tmp_path, "header.csv", "work_id,doi\n")
    out = tmp_path / "out"
    code, _, err = cli(capsys, "run", str(path), "--plan", DEFAULT_PLAN, "--out", str(out),
                       "--no-progress")
    assert code == 2 and "header.csv: no usable works (0 bad rows)" in err
    assert not out.exists() and network == []


def test_bom_is_stripped_from_the_first_column(tmp_path):
    """A UTF-8 BOM (Excel) does not end up in the first column's name."""
    path = write(tmp_path, "bom.csv", "\ufeffwork_id,doi\nw1,10.1000/A\n".encode())
    report = read_works(path)
    assert report.ok and [(w.work_id, w.doi) for w in report] == [("w1", "10.1000/a")]


def test_latin1_bytes_name_the_line_and_byte(tmp_path):
    """A Latin-1 file is refused with the line, the byte and what to do."""
    data = "work_id,doi,title\nw1,10.1000/a,ok\nw2,10.1000/b,Caf\xe9 au lait\n".encode("latin-1")
    path = write(tmp_path, "latin1.csv", data)
    with pytest.raises(WorksFileError) as exc:
        read_works(path)
    msg = str(exc.value)
    assert "latin1.csv, line 3" in msg and "0xe9" in msg and "save the file as UTF-8" in msg


def test_latin1_csv_gives_exit_2_from_the_cli(tmp_path, capsys):
    """`dryrun` on a Latin-1 file prints one error line naming the file and exits 2."""
    path = write(tmp_path, "latin1.csv", "work_id,doi\nw\xe9,10.1000/a\n".encode("latin-1"))
    code, out, err = cli(capsys, "dryrun", str(path), "--plan", DEFAULT_PLAN)
    assert code == 2 and out == ""
    assert err.startswith("fallback-kit: error: ") and "latin1.csv, line 2" in err
    assert err.count("\n") == 1


def test_no_identifier_column_is_refused_naming_the_header(tmp_path):
    """A header without any identifier column says what it has and what it needs."""
    path = write(tmp_path, "cols.csv", "work_id,title\nw1,A paper\n")
    with pytest.raises(WorksFileError, match=r"no identifier column.*'work_id', 'title'.*doi"):
        read_works(path)


def test_missing_values_name_the_row(tmp_path):
    """A row shorter than the header (no DOI) is an error for that row only."""
    report = read_works(write(tmp_path, "short.csv", "work_id,doi\nw1,10.1000/a\nw2\n"))
    assert [w.work_id for w in report] == ["w1"]
    assert [(e.row, e.field) for e in report.errors] == [(3, None)]
    assert "row 3: no identifier" in str(report.errors[0])


def test_extra_values_name_the_row(tmp_path):
    """A row with more values than columns is refused by row; unknown columns are ignored."""
    path = write(tmp_path, "extra.csv",
                 "work_id,doi,notes\nw1,10.1000/a,fine\nw2,10.1000/b,x,surplus\n")
    report = read_works(path)
    assert [w.work_id for w in report] == ["w1"]
    assert "row 3: more values than columns" in str(report.errors[0])


def test_duplicate_ids_keep_the_first_and_name_both_rows(tmp_path):
    """A repeated work_id is reported with its row and the row of the first one."""
    path = write(tmp_path, "dup.csv", "work_id,doi\nw1,10.1000/a\nw2,10.1000/b\nw1,10.1000/c\n")
    report = read_works(path)
    assert [(w.work_id, w.doi) for w in report] == [("w1", "10.1000/a"), ("w2", "10.1000/b")]
    (error,) = report.errors
    assert (error.row, error.field) == (4, "work_id")
    assert "duplicate work_id 'w1' (first seen in row 2)" in str(error)


@pytest.mark.parametrize("bad_doi", ["10.1000", "doi:", "11.1000/x", "10.12/x", "not a doi",
                                     "10.1000/has space", "https://doi.org/", "10.abcd/x"])
def test_malformed_doi_names_row_and_field(tmp_path, bad_doi):
    """A malformed DOI is an error of its row and field; the good rows survive."""
    path = write(tmp_path, "doi.csv", f'work_id,doi\nw1,10.1000/a\nw2,"{bad_doi}"\nw3,10.1000/c\n')
    report = read_works(path)
    assert [w.work_id for w in report] == ["w1", "w3"]
    (error,) = report.errors
    assert isinstance(error, WorkError) and (error.row, error.field) == (3, "doi")
    assert "row 3, field 'doi'" in str(error) and "not a DOI" in str(error)


def test_million_character_doi_is_refused_quickly(tmp_path):
    """A 1,000,000-character DOI is one bad row (named), read in well under a second."""
    huge = "x" * 1_000_000
    path = write(tmp_path, "huge.csv", f"work_id,doi,title\nw1,10.1000/a,t\nw2,10.1000/{huge},t\n")
    t0 = time.perf_counter()
    report = read_works(path)
    assert time.perf_counter() - t0 < 1.0
    assert [w.work_id for w in report] == ["w1"]
    (error,) = report.errors
    assert (error.row, error.field) == (3, "doi") and "at most 2000" in str(error)


def test_ten_megabyte_title_is_cut_and_the_row_kept(tmp_path):
    """A 10 MB title (a pasted document) is cut; its row still runs (issue 14 section 7)."""
    from fallback_kit.contracts.works import MAX_TITLE_CHARS

    huge = "t" * 10_000_000
    path = write(tmp_path, "huge.csv", f"work_id,doi,title\nw1,10.1000/a,{huge}\n")
    t0 = time.perf_counter()
    report = read_works(path)
    assert time.perf_counter() - t0 < 2.0
    assert report.errors == [] and [w.work_id for w in report] == ["w1"]
    assert len(report[0].title or "") == MAX_TITLE_CHARS + 1 and report[0].title.endswith("…")
    assert len(report[0].columns["title"]) < 200_000  # the kept record is cut too


def test_100000_rows_read_in_a_few_seconds(tmp_path):
    """A 100,000-row table (mixed identifiers, a few bad rows) reads in under 5 CPU
    seconds (a guard against a quadratic slip, whatever else the machine is doing)."""
    lines = ["work_id,doi,arxiv_id,pmcid,pmid,title"]
    for i in range(100_000):
        doi = "bad doi" if i % 10_000 == 7 else f"10.{1000 + i % 9000}/x.{i}"
        arxiv = f"2101.{i:05d}" if i % 3 == 0 else ""
        pmcid = f"PMC{i + 1}" if i % 5 == 0 else ""
        pmid = f"{i + 1}" if i % 7 == 0 else ""
        lines.append(f"w{i},{doi},{arxiv},{pmcid},{pmid},Title {i}")
    path = write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    t0 = time.process_time()
    report = read_works(path)
    elapsed = time.process_time() - t0
    assert elapsed < 5.0, f"{elapsed:.1f} s"
    assert len(report.works) == 99_990 and len(report.errors) == 10
    assert report.errors[0].row == 9 and report.errors[0].field == "doi"


# ---- YAML plans ------------------------------------------------------------------------


def test_yaml_syntax_error_gives_line_and_column():
    """A YAML syntax error names the line and column of the fault."""
    text = "name: p\ntiers:\n  - name: a\n    sources: [unpaywall\n  - name: b\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text, source="bad.yaml")
    msg = str(exc.value)
    assert msg.startswith("bad.yaml: YAML syntax error at line 5, column 9")


def test_tab_indentation_is_a_syntax_error_with_position():
    """Tabs in indentation are reported with their line, not a traceback."""
    with pytest.raises(PlanError, match=r"line 3, column 1"):
        load_plan_text("name: p\ntiers:\n\t- name: a\n")


def test_unknown_source_gets_a_suggestion():
    """A misspelt source is named with its YAML path and the closest known name."""
    text = "tiers:\n  - name: a\n    sources: [unpaywal, arxiv]\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text)
    assert exc.value.problems == [
        ("tiers[0].sources[0]", ": unknown source 'unpaywal' — did you mean 'unpaywall'?")]


def test_unknown_key_gets_a_suggestion():
    """A misspelt key names its path and suggests the real one."""
    text = "budgets: {total_atempts: 3}\ntiers: [{name: a, sources: [arxiv]}]\n"
    with pytest.raises(PlanError, match=r"budgets\.total_atempts is not a known key — did you "
                                        r"mean 'total_attempts'\?"):
        load_plan_text(text)


@pytest.mark.parametrize("snippet, path, words", [
    ("budgets: {total_attempts: three}", "budgets.total_attempts", "must be an integer"),
    ("budgets: [1, 2]", "budgets", "must be a mapping"),
    ("budgets: {max_concurrent: 2.5}", "budgets.max_concurrent", "must be an integer"),
    ("budgets: {max_concurrent: true}", "budgets.max_concurrent", "must be an integer"),
    ("sources: {arxiv: {retries_max: '2'}}", "sources.arxiv.retries_max", "must be an integer"),
    ("sources: {arxiv: {robots_respect: 'yes please'}}", "sources.arxiv.robots_respect",
     "must be true or false"),
    ("sources: {arxiv: 5}", "sources.arxiv", "must be a mapping"),
    ("gates: {offline_behavior: blockall}", "gates.offline_behavior", "did you mean 'block_all'"),
    ("thresholds: {retryable_statuses: [429, 999]}", "thresholds.retryable_statuses",
     "HTTP status codes"),
    ("politeness: {rate_limits: {doi.org: {per_second: fast}}}",
     'politeness.rate_limits["doi.org"].per_second', "must be a number"),
    ("politeness: {email: nobody}", "politeness.email", "is not an email address"),
    ("name: [a, b]", "name", "must be a string"),
])
def test_wrong_types_name_their_yaml_path(snippet, path, words):
    """A value of the wrong type is reported with its YAML path and what was expected."""
    text = snippet + "\ntiers: [{name: a, sources: [arxiv]}]\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text)
    hits = [msg for p, msg in exc.value.problems if p == path]
    assert hits and words in hits[0], exc.value.problems


def test_wrong_tier_shapes_name_their_path():
    """Tiers of the wrong shape name the tier: sources not a list, parallel a string."""
    text = "tiers:\n  - {name: a, sources: arxiv}\n  - {name: b, sources: [pmc], parallel: two}\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text)
    paths = [p for p, _ in exc.value.problems]
    assert paths == ["tiers[0].sources", "tiers[1].parallel"]


@pytest.mark.parametrize("key", ["total_timeout_ms", "total_attempts", "max_concurrent",
                                 "per_source_timeout_ms"])
@pytest.mark.parametrize("value", [0, -1, -120000])
def test_zero_or_negative_budgets_are_refused(key, value):
    """Each budget must be >= 1; the message names budgets.<key>."""
    text = f"budgets: {{{key}: {value}}}\ntiers: [{{name: a, sources: [arxiv]}}]\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text)
    assert (f"budgets.{key}", "must be >= 1") in exc.value.problems


def test_every_fault_is_listed_at_once():
    """Several faults come back together, each with its path, in one PlanError."""
    text = ("budgets: {total_attempts: 0, max_concurrent: -2}\n"
            "tiers:\n  - {name: a, sources: [arxiv], parallel: 0}\n")
    with pytest.raises(PlanError) as exc:
        load_plan_text(text)
    assert [p for p, _ in exc.value.problems] == [
        "budgets.total_attempts", "budgets.max_concurrent", "tiers[0].parallel"]


def test_source_in_two_tiers_is_refused():
    """A source listed in two tiers is refused at its second place, naming the first tier."""
    text = "tiers:\n  - {name: a, sources: [arxiv, pmc]}\n  - {name: b, sources: [pmc]}\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text)
    assert exc.value.problems == [("tiers[1].sources[0]", ": source 'pmc' is already in tier "
                                   "'a'; a source may appear in one tier only")]


@pytest.mark.parametrize("text, words", [
    ("", "tiers must list at least one tier"),
    ("- a\n- b\n", "must be a YAML mapping at the top level"),
    ("just a string\n", "must be a YAML mapping at the top level"),
    ("tiers: []\n", "tiers must list at least one tier"),
    ("tiers: {a: 1}\n", "tiers must be a list of tiers"),
    ("tiers: [{}]\n", "tiers[0] is empty"),
    ("tiers: [{name: a}]\n", "tiers[0].sources must list at least one source"),
    ("tiers: [{name: a, sources: [1]}]\n", "tiers[0].sources[0] must be a source name"),
    ("tiers: [{name: a, sources: [arxiv]}, {name: a, sources: [pmc]}]\n", "is used by another"),
])
def test_plan_shape_errors_say_what_is_wrong(text, words):
    """Plans of the wrong shape are refused with a message that names the fault."""
    with pytest.raises(PlanError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_plan_text(text)


def test_missing_plan_file_names_it(tmp_path):
    """load_plan on a missing file raises PlanError naming the path."""
    with pytest.raises(PlanError, match=r"no such plan file: .*nope\.yaml"):
        load_plan(tmp_path / "nope.yaml", env={})


def test_plan_directory_is_refused(tmp_path):
    """A directory given as plan file is refused, not a traceback."""
    with pytest.raises(PlanError, match="cannot read plan file"):
        load_plan(tmp_path, env={})


def test_bad_env_value_names_the_variable_path():
    """A bad FALLBACK_KIT_* value is reported with the plan path it sets."""
    text = "tiers: [{name: a, sources: [arxiv]}]\n"
    with pytest.raises(PlanError) as exc:
        load_plan_text(text, env={"FALLBACK_KIT_BUDGETS__TOTAL_ATTEMPTS": "0"})
    assert ("budgets.total_attempts", "must be >= 1") in exc.value.problems


# ---- the command line ------------------------------------------------------------------


def test_cli_missing_works_file(tmp_path, capsys):
    """`dryrun` on a missing CSV: exit 2 and one line naming the file."""
    code, out, err = cli(capsys, "dryrun", str(tmp_path / "missing.csv"), "--plan", DEFAULT_PLAN)
    assert code == 2 and out == ""
    assert err == f"fallback-kit: error: {tmp_path / 'missing.csv'}: no such file\n"


def test_cli_missing_plan_file(tmp_path, capsys):
    """`plan --plan` on a missing file: exit 2 naming the file."""
    code, out, err = cli(capsys, "plan", "--plan", str(tmp_path / "nope.yaml"))
    assert code == 2 and out == "" and "no such plan file" in err and "nope.yaml" in err


def test_cli_bad_plan_names_the_yaml_path(tmp_path, capsys):
    """`explain` on an invalid plan: exit 2, the message names file and YAML path."""
    plan = write(tmp_path, "bad.yaml", "tiers:\n  - {name: a, sources: [arxiv], parallel: 0}\n")
    code, out, err = cli(capsys, "explain", "--plan", str(plan))
    assert code == 2 and out == ""
    assert "bad.yaml: tiers[0].parallel must be >= 1" in err


def test_cli_bad_override_names_it(tmp_path, capsys):
    """A --set without '=' and a --set with a bad value both exit 2 with their path."""
    code, _, err = cli(capsys, "plan", "--plan", DEFAULT_PLAN, "--set", "budgets.total_attempts")
    assert code == 2 and "--set 'budgets.total_attempts': expected PATH=VALUE" in err
    code, _, err = cli(capsys, "plan", "--plan", DEFAULT_PLAN, "--set",
                       "budgets.total_attempts=0")
    assert code == 2 and "budgets.total_attempts must be >= 1" in err


@pytest.mark.parametrize("override", ["tiers.x.y=1", "name.first.second=1"])
def test_cli_set_through_a_list_or_string_is_exit_2(capsys, override):
    """--set on a path that walks through a list or a string exits 2 naming the path."""
    code, out, err = cli(capsys, "plan", "--plan", DEFAULT_PLAN, "--set", override)
    assert code == 2 and out == ""
    assert override.split("=")[0] in err and err.count("\n") == 1


def test_cli_unknown_option_is_an_argparse_error(capsys):
    """An unknown option exits 2 through argparse with its usage line."""
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--no-such-option"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["missing_works", "latin1_works", "bad_plan", "no_plan",
                                  "concurrency_0", "negative_time_scale"])
def test_run_refuses_bad_input_before_the_network(tmp_path, capsys, network, case):
    """`run` with bad works, plan or options: exit 2, one line, no run dir, no network."""
    works = write(tmp_path, "works.csv", GOOD_CSV)
    plan = DEFAULT_PLAN
    extra: list[str] = []
    if case == "missing_works":
        works = tmp_path / "missing.csv"
    elif case == "latin1_works":
        works = write(tmp_path, "works.csv", b"work_id,doi\nw\xe9,10.1000/a\n")
    elif case == "bad_plan":
        plan = str(write(tmp_path, "bad.yaml", "tiers: [{name: a, sources: [unpaywal]}]\n"))
    elif case == "no_plan":
        plan = str(tmp_path / "nope.yaml")
    elif case == "concurrency_0":
        extra = ["--concurrency", "0"]
    else:
        extra = ["--time-scale", "-1"]
    out = tmp_path / "run-out"
    code, stdout, err = cli(capsys, "run", str(works), "--plan", plan, "--out", str(out),
                            "--no-progress", *extra)
    assert code == 2 and stdout == ""
    assert err.startswith("fallback-kit: error: ") and err.count("\n") == 1
    assert not out.exists() and network == []


def test_run_out_under_a_regular_file_is_refused(tmp_path, capsys, network):
    """`run --out` below a regular file: exit 2 naming the directory; nothing written."""
    works = write(tmp_path, "works.csv", GOOD_CSV)
    blocker = write(tmp_path, "blocker", "not a directory\n")
    before = tree(tmp_path)
    code, stdout, err = cli(capsys, "run", str(works), "--plan", DEFAULT_PLAN,
                            "--out", str(blocker / "run"), "--no-progress")
    assert code == 2 and stdout == ""
    assert f"{blocker / 'run'}: cannot create the run directory" in err
    assert "choose another --out" in err
    assert tree(tmp_path) == before


def test_run_out_is_checked_before_the_network_opens(tmp_path, capsys, network):
    """An unusable --out is refused before the sandbox (or the live web) is set up."""
    works = write(tmp_path, "works.csv", GOOD_CSV)
    blocker = write(tmp_path, "blocker", "not a directory\n")
    code, _, _ = cli(capsys, "run", str(works), "--plan", DEFAULT_PLAN,
                     "--out", str(blocker / "run"), "--no-progress")
    assert code == 2
    assert network == [], "the network was opened before --out was checked"


OTHER_PLAN = "name: other\ntiers: [{name: a, sources: [arxiv]}]\n"


@pytest.fixture
def other_run(tmp_path: Path) -> Path:
    """A run directory holding a run of another plan."""
    out = tmp_path / "runs" / "other"
    store = RunStore.create(out, plan_yaml=OTHER_PLAN, meta={})
    store.close()
    return out


def test_run_refuses_an_out_holding_another_plans_run(tmp_path, capsys, network, other_run):
    """`run --out` on another plan's run: exit 2, says --force, the old run is untouched."""
    works = write(tmp_path, "works.csv", GOOD_CSV)
    before = tree(other_run)
    code, stdout, err = cli(capsys, "run", str(works), "--plan", DEFAULT_PLAN,
                            "--out", str(other_run), "--no-progress")
    assert code == 2 and stdout == ""
    assert f"{other_run}: holds a run of another plan; use --force" in err
    assert tree(other_run) == before
    store = RunStore.open(other_run, read_only=True)
    try:
        assert store.plan_hash == plan_hash(OTHER_PLAN)
    finally:
        store.close()


def test_stats_on_a_missing_run_dir(tmp_path, capsys):
    """`stats` on a directory without a run: exit 2 naming it."""
    code, out, err = cli(capsys, "stats", str(tmp_path / "nowhere"))
    assert code == 2 and out == "" and "nowhere: no such directory" in err
