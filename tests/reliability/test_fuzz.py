"""Fuzzing the two parsers of user input: works (rows, CSV files) and plans (YAML, dicts).

The only exceptions allowed out are the documented ones (WorkError, WorksFileError,
PlanError); anything else (KeyError, TypeError, AttributeError, ...) is a bug. Every
plan that is accepted must survive a round trip through `to_yaml()`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fallback_kit.contracts.plan import (
    KNOWN_SOURCES,
    PlanError,
    load_plan_text,
    packaged_plan_text,
    plan_from_dict,
)
from fallback_kit.contracts.works import (
    ID_FIELDS,
    Work,
    WorkError,
    WorksFileError,
    read_works,
    work_from_mapping,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEXT = packaged_plan_text("default")
DEFAULT_DICT = yaml.safe_load(DEFAULT_TEXT)

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_PLANS = settings(FUZZ, max_examples=80)  # each example parses the default plan (~10 ms)

# ---- works -----------------------------------------------------------------------------

COLUMNS = ["work_id", "doi", "arxiv_id", "pmcid", "pmid", "title", "landing_url", "kind", "id",
           "arxiv", "pmc", "pubmed", "url", " DOI ", "Title", "notes"]
ID_LIKE = st.sampled_from([
    "10.1000/abc", "https://doi.org/10.1000/X", "doi:10.1000/y", "10.48550/arXiv.2106.01234",
    "2106.01234v2", "arXiv:hep-th/9901001", "PMC123", "123", "pmid: 42", "0", "PMC", "10.1/x",
    "https://example.org/p", "ftp://x", "%31%30.1000/a", "10.1000/%zz", "", " ", "\x00", "nan",
])
VALUE = st.one_of(st.none(), ID_LIKE, st.text(max_size=40), st.integers(), st.floats(),
                  st.text(min_size=1900, max_size=2100, alphabet="10./ab"))


def _check_work(work: Work) -> None:
    assert work.work_id and isinstance(work.work_id, str)
    assert any(work.identifiers().values())
    if work.doi is not None:
        assert work.doi == work.doi.lower() and work.doi.startswith("10.")
    if work.pmcid is not None:
        assert work.pmcid.startswith("PMC") and work.pmcid[3:].isdigit()
    if work.pmid is not None:
        assert work.pmid.isdigit() and work.pmid != "0"


@FUZZ
@given(row=st.dictionaries(st.one_of(st.sampled_from(COLUMNS), st.text(max_size=12)), VALUE,
                           max_size=8),
       row_number=st.one_of(st.none(), st.integers(2, 10**6)))
def test_work_from_mapping_raises_only_work_error(row, row_number):
    """Any row of strings -> a normalised Work or a WorkError naming its row."""
    try:
        work = work_from_mapping(row, row_number=row_number)
    except WorkError as exc:
        assert exc.row == row_number
        assert exc.field is None or exc.field in (*ID_FIELDS, "work_id", "title", "kind")
        return
    _check_work(work)


@FUZZ
@given(row=st.dictionaries(st.sampled_from(["doi", "arxiv_id", "pmcid", "pmid", "landing_url"]),
                           ID_LIKE, min_size=1, max_size=5))
def test_normalisation_is_idempotent(row):
    """Normalising an accepted work's identifiers again gives the same work."""
    try:
        work = work_from_mapping(row)
    except WorkError:
        return
    again = work_from_mapping({"work_id": work.work_id, **work.identifiers()})
    assert again == work


@st.composite
def csv_table(draw: Any) -> str:
    """A plausible table: a header of known/odd columns, rows of id-like values, odd quoting."""
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5))
    lines = [",".join(columns)]
    for _ in range(draw(st.integers(0, 8))):
        n = len(columns) + draw(st.sampled_from([0, 0, 0, -1, 1]))
        cells = [draw(ID_LIKE) for _ in range(max(0, n))]
        cells = [f'"{c}"' if draw(st.booleans()) else c.replace(",", " ") for c in cells]
        lines.append(",".join(cells))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


CSV_TEXT = st.one_of(
    csv_table(),
    st.text(max_size=300),
    st.text(alphabet=',"\n\r\t ;abc10./PMCxyz\x00\ufeff', max_size=300),
    st.builds(lambda header, body: header + body,
              st.sampled_from(["work_id,doi\n", "doi\n", "id,doi,title\r\n", "\ufeffdoi,pmid\n",
                               '"work_id","doi"\n', "work_id;doi\n"]),
              st.text(alphabet=',"\n\r10./abcPMCv\x00 ', max_size=300)),
)


@FUZZ
@given(text=CSV_TEXT)
def test_read_works_on_random_csv_text(tmp_path, text):
    """Random CSV text -> a WorksReport (works + row errors) or a WorksFileError, nothing else."""
    path = tmp_path / "works.csv"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        report = read_works(path)
    except WorksFileError as exc:
        assert str(path) in str(exc)
        return
    ids = [w.work_id for w in report]
    assert len(ids) == len(set(ids))
    for work in report:
        _check_work(work)
    assert all(isinstance(e, WorkError) and (e.row or 0) >= 2 for e in report.errors)


@FUZZ
@given(data=st.binary(max_size=300))
def test_read_works_on_random_bytes(tmp_path, data):
    """Random bytes (any encoding) -> a report or a WorksFileError naming the file."""
    path = tmp_path / "works.csv"
    path.write_bytes(data)
    try:
        report = read_works(path)
    except WorksFileError as exc:
        assert str(path) in str(exc)
        return
    assert all(isinstance(e, WorkError) for e in report.errors)


@settings(max_examples=60, deadline=None)
@example(columns=[0, 1], rows=1)  # pd.read_csv(path, header=None)
@given(columns=st.lists(st.one_of(st.sampled_from(COLUMNS), st.integers(0, 3), st.none(),
                                  st.floats(allow_nan=False)), min_size=1, max_size=4,
                        unique_by=repr),
       rows=st.integers(0, 3))
def test_read_works_on_a_dataframe_with_any_column_names(columns, rows):
    """A DataFrame with odd column names (ints from header=None, None, floats) never crashes."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([["10.1000/a"] * len(columns) for _ in range(rows)], columns=columns)
    try:
        report = read_works(df)
    except (WorksFileError, WorkError):
        return
    assert all(isinstance(e, WorkError) for e in report.errors)


# ---- plans -----------------------------------------------------------------------------


def _round_trips(text: str) -> None:
    """If `text` is an accepted plan, its YAML reloads to the very same plan."""
    try:
        plan = load_plan_text(text)
    except PlanError as exc:
        assert exc.problems and all(isinstance(m, str) and m for _, m in exc.problems)
        return
    dumped = plan.to_yaml()
    again = load_plan_text(dumped)
    assert again.to_yaml() == dumped
    assert (again.tiers, again.budgets, again.gates, again.thresholds) == (
        plan.tiers, plan.budgets, plan.gates, plan.thresholds)
    if "nan" not in dumped:
        assert again == plan


YAMLISH = st.one_of(
    st.text(max_size=200),
    st.text(alphabet="tiers:name sourc-[]{},\n  '\"#&*!|>%@`?0123456789.", max_size=200),
    st.builds(lambda a, b: a + b, st.sampled_from(["tiers:\n  - name: a\n    sources: [",
                                                   "budgets: {", "name: p\ntiers: [{", "- ",
                                                   "tiers: [{name: a, sources: [arxiv]}]\n"]),
              st.text(max_size=120)),
)


@FUZZ
@given(text=YAMLISH)
def test_load_plan_text_on_yamlish_text(text):
    """Random YAML-ish text -> a plan that round-trips, or a PlanError; nothing else."""
    _round_trips(text)


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                   st.floats(allow_nan=True), st.text(max_size=10),
                   st.sampled_from(list(KNOWN_SOURCES) + ["block_all", "cache_only", "x@y.org"]))
ANY_DATA = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(DEFAULT_DICT)


@st.composite
def mutated_default(draw: Any) -> dict[str, Any]:
    """The default plan's dict with a few values replaced, deleted or keys added."""
    data = copy.deepcopy(DEFAULT_DICT)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        node: Any = data
        try:
            for part in path[:-1]:
                node = node[part]
            action = draw(st.sampled_from(["set", "delete", "add"]))
            if action == "set":
                node[path[-1]] = draw(ANY_DATA)
            elif action == "delete" and isinstance(node, dict):
                del node[path[-1]]
            elif isinstance(node, dict):
                node[draw(st.text(max_size=8))] = draw(ANY_DATA)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this branch
    return data


@FUZZ
@given(data=mutated_default())
def test_plan_from_dict_on_mutated_default(data):
    """Mutations of the default plan's dict -> a valid plan (round-trips) or a PlanError."""
    try:
        plan = plan_from_dict(data)
    except PlanError as exc:
        assert exc.problems
        return
    _round_trips(plan.to_yaml())


@FUZZ_PLANS
@given(data=mutated_default())
def test_load_plan_text_on_mutated_default_yaml(data):
    """The same mutations written as YAML text go through load_plan_text alike."""
    _round_trips(yaml.safe_dump(data, allow_unicode=True))


OVERRIDE_PATH = st.one_of(
    st.sampled_from(["budgets.total_attempts", "tiers[0].parallel", "tiers[9].parallel",
                     "tiers.x.y", "name.x.y", "budgets[0]", "sources.arxiv.retries_max",
                     "gates.breaker.cooldown_ms", "tiers[0].sources[0]", "politeness.email", ""]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.[]0123456789", max_size=30),
)


@FUZZ_PLANS
@example(overrides={"tiers.x.y": 1})  # --set tiers.x.y=1
@given(overrides=st.dictionaries(OVERRIDE_PATH, SCALAR, min_size=1, max_size=3))
def test_overrides_on_any_path_raise_only_plan_error(overrides):
    """`--set PATH=VALUE` on any path -> a plan or a PlanError naming the path."""
    try:
        plan = load_plan_text(DEFAULT_TEXT, overrides=overrides)
    except PlanError as exc:
        assert exc.problems
        return
    _round_trips(plan.to_yaml())


@FUZZ_PLANS
@example(overrides={"tiers[9].parallel": 2})
@given(overrides=st.dictionaries(OVERRIDE_PATH, SCALAR, min_size=1, max_size=3))
def test_plan_replace_raises_only_plan_error(overrides):
    """`Plan.replace(**{path: value})` -> a new plan or a PlanError, like the loader."""
    base = load_plan_text(DEFAULT_TEXT)
    try:
        plan = base.replace(**overrides)
    except PlanError as exc:
        assert exc.problems
        return
    _round_trips(plan.to_yaml())


@FUZZ_PLANS
@example(env={"FALLBACK_KIT_NAME__X__Y": "1"})
@given(env=st.dictionaries(
    st.builds(lambda a, b: "FALLBACK_KIT_" + a + b,
              st.sampled_from(["NAME", "BUDGETS", "SOURCES", "GATES", "THRESHOLDS", "POLITENESS",
                               "EMAIL", "OTHER"]),
              st.text(alphabet="ABCXYZ_", max_size=20)),
    st.text(max_size=20), min_size=1, max_size=3))
def test_environment_variables_raise_only_plan_error(env):
    """Any FALLBACK_KIT_* variables -> a plan or a PlanError, never a traceback."""
    try:
        plan = load_plan_text(DEFAULT_TEXT, env=env)
    except PlanError as exc:
        assert exc.problems
        return
    _round_trips(plan.to_yaml())
