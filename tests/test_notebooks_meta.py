"""Fast checks of the committed notebooks, without running them (nbval runs them in CI).

Each notebook must start with a parameter cell read from the environment, hold no error
output, and have its outputs committed, so that nbval has something to compare; cells
whose output cannot be the same twice (figures, widgets) must be marked to be ignored.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = [
    "01_quickstart.ipynb",
    "02_waterfalls_and_latency.ipynb",
    "03_plan_editor.ipynb",
    "04_benchmark_corpora.ipynb",
]
IGNORED = ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP")
VOLATILE_MIME = ("image/png", "application/vnd.jupyter.widget-view+json")


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / name, as_version=4)


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def _checked(cell: nbformat.NotebookNode) -> bool:
    return not any(marker in cell.source for marker in IGNORED)


def test_the_four_notebooks_are_there() -> None:
    """The notebooks directory holds exactly the four notebooks of the tour."""
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb")) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_valid_nbformat(name: str) -> None:
    """Each notebook passes nbformat's schema validation."""
    nbformat.validate(_read(name))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cell_reads_parameters_from_environment(name: str) -> None:
    """The first code cell is the parameter cell: network, seed, sample size from the env."""
    first = _code_cells(_read(name))[0]
    assert "parameters" in first.metadata.get("tags", [])
    assert 'NETWORK = os.environ.get("FALLBACK_KIT_NETWORK", "sandbox")' in first.source
    for var in ("FALLBACK_KIT_SEED", "FALLBACK_KIT_SAMPLE_SIZE", "FALLBACK_KIT_TIME_SCALE"):
        assert f'os.environ.get("{var}"' in first.source, var
    assert "FALLBACK_KIT_PROGRESS" not in first.source  # the progress bar shows in notebooks


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_cells_that_show_a_progress_bar_ignore_their_output(name: str) -> None:
    """A cell that runs works with the progress bar on keeps no output for nbval to compare
    (a widget's text changes every run)."""
    for cell in _code_cells(_read(name)):
        runs = "run_works(" in cell.source and "progress=False" not in cell.source
        if runs:
            assert "NBVAL_IGNORE_OUTPUT" in cell.source, cell.source[:120]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_error_or_stderr_output(name: str) -> None:
    """No committed output is an error or a stderr stream (a warning would break nbval)."""
    bad = [
        (i, out.get("ename") or out.get("name"))
        for i, cell in enumerate(_code_cells(_read(name)))
        for out in cell.outputs
        if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr")
    ]
    assert bad == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_code_cell_was_executed_in_order(name: str) -> None:
    """Outputs are committed from one top-to-bottom run: execution counts 1, 2, 3, ..."""
    counts = [c.execution_count for c in _code_cells(_read(name))]
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_checked_cells_have_committed_outputs(name: str) -> None:
    """At least three cells are compared by nbval, and they have outputs to compare."""
    checked = [c for c in _code_cells(_read(name)) if _checked(c) and c.outputs]
    assert len(checked) >= 3


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_figure_and_widget_cells_are_ignored_by_nbval(name: str) -> None:
    """A cell showing a figure or a widget is marked NBVAL_IGNORE_OUTPUT."""
    unmarked = [
        cell.source.splitlines()[0]
        for cell in _code_cells(_read(name))
        if _checked(cell)
        and any(mime in out.get("data", {}) for out in cell.outputs for mime in VOLATILE_MIME)
    ]
    assert unmarked == []


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_inline_matplotlib(name: str) -> None:
    """Figures are shown inline (the backend nbval and nbconvert capture)."""
    assert any("%matplotlib inline" in c.source for c in _code_cells(_read(name)))


def test_sanitize_cfg_rewrites_run_ids_and_timestamps() -> None:
    """notebooks/sanitize.cfg parses and hides a run id, a timestamp and a duration."""
    cfg = configparser.ConfigParser()
    cfg.read(NOTEBOOKS_DIR / "sanitize.cfg")
    text = "run_id='20261129T094006Z-b4375f' at 2026-11-29T09:40:06.665+00:00 done in 9.3 s"
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    assert text == "run_id='RUN-ID' at TIMESTAMP done in N s"
