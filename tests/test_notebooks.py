"""The course notebooks as files: safe for nbval, and solutions that match."""

import itertools
import json
import re
from pathlib import Path

import ipywidgets
import pytest

import promlab.widgets
from promlab.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
ALL = NOTEBOOKS + SOLUTIONS
# Cells that build these show live data or random model ids in their output:
# every ipywidgets widget, every promlab panel and chart, plotly figures, displays.
# ipywidgets' Stack shares its name with promlab's, which builds no widget.
WIDGETS = [
    name
    for name in dir(ipywidgets)
    if isinstance(getattr(ipywidgets, name), type)
    and issubclass(getattr(ipywidgets, name), ipywidgets.Widget)
    and name != "Stack"
]
PANELS = [n for n in dir(promlab.widgets) if callable(getattr(promlab.widgets, n))]
PROMLAB = [*PANELS, "live", "dashboard", "static", "LiveChart", "DashboardView"]
BUILDERS = sorted({n for n in [*WIDGETS, *PROMLAB] if not n.startswith("_")})
VOLATILE = re.compile(
    r"\b(" + "|".join(BUILDERS) + r")\(|FigureWidget|go\.Figure|widgets\.|progress=True"
    r"|display\(|\.show\("
)
IGNORE = "NBVAL_IGNORE_OUTPUT"
NAME = re.compile(r"^\d\d-[a-z0-9]+(-[a-z0-9]+)*\.ipynb$")


def cells(path: Path) -> list[dict]:
    """Return a notebook's cells with their source joined into one string."""
    doc = json.loads(path.read_text())
    for cell in doc["cells"]:
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
    return doc["cells"]


def ids(paths: list[Path]) -> list[str]:
    """Name parametrized cases by folder and file."""
    return [f"{p.parent.name}/{p.name}" for p in paths]


def test_the_course_starts_with_start_here() -> None:
    assert NOTEBOOKS[0].name == "00-start-here.ipynb"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_notebook_names_are_numbered_kebab_case(path: Path) -> None:
    assert NAME.match(path.name), path.name


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_first_cell_is_the_title_and_every_code_cell_follows_markdown(path: Path) -> None:
    book = cells(path)
    assert book[0]["cell_type"] == "markdown"
    assert book[0]["source"].startswith("# ")
    for before, cell in itertools.pairwise(book):
        if cell["cell_type"] == "code":
            assert before["cell_type"] == "markdown", f"say what to look for:\n{cell['source']}"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_cells_with_live_output_are_ignored_by_nbval(path: Path) -> None:
    for cell in cells(path):
        if cell["cell_type"] != "code" or not VOLATILE.search(cell["source"]):
            continue
        assert IGNORE in cell["source"], f"mark this cell {IGNORE}:\n{cell['source']}"


@pytest.mark.parametrize(
    "source",
    [
        "charts.live('up', stack)",
        "view = charts.dashboard('promlab-web', stack)",
        "charts.static('up', stack)",
        "RuleEditor(stack, 'http.rules.yml')",
        "FailurePanel(stack)",
        "TrafficPanel(stack)",
        "inbox_panel(stack)",
        "go.Figure()",
        "IntSlider()",
    ],
)
def test_the_live_output_check_knows_every_widget_builder(source: str) -> None:
    assert VOLATILE.search(source), source


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_committed_notebooks_hold_no_widget_state_or_volatile_output(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert "widgets" not in doc.get("metadata", {})
    for cell in cells(path):
        if cell["cell_type"] == "code" and IGNORE in cell["source"]:
            assert cell["outputs"] == [], cell["source"][:60]


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_no_shell_escapes_whose_failure_would_pass(path: Path) -> None:
    for cell in cells(path):
        if cell["cell_type"] == "code":
            for line in cell["source"].splitlines():
                assert not line.lstrip().startswith("!"), line


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_code_lines_fit_a_notebook_column(path: Path) -> None:
    for cell in cells(path):
        if cell["cell_type"] == "code":
            for line in cell["source"].splitlines():
                assert len(line) < 80, line


@pytest.mark.parametrize("solution", SOLUTIONS, ids=ids(SOLUTIONS))
def test_solution_keeps_the_exercise_notebooks_markdown(solution: Path) -> None:
    exercise = ROOT / "notebooks" / solution.name
    assert exercise.exists(), f"{solution.name} has no exercise notebook"
    prose = [c["source"] for c in cells(exercise) if c["cell_type"] == "markdown"]
    answer = [c["source"] for c in cells(solution) if c["cell_type"] == "markdown"]
    assert answer == prose
