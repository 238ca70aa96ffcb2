"""The notebook sequence keeps to the exercise contract and to nbgrader's rules.

These tests read the instructor notebooks (solutions/) and the committed
student notebooks (notebooks/) as data; the two marked slow generate a fresh
release with real nbgrader. nbval (``make test``, see the Makefile) separately
re-executes every instructor notebook and compares its outputs.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import nbformat
import pytest
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, notebook_names
from softsign_grader.release import generate_student_notebooks
from source_lib.grading.registry import EXERCISES

SOLUTIONS = REPO_ROOT / "solutions" / ASSIGNMENT
STUDENT = REPO_ROOT / "notebooks" / ASSIGNMENT

#: The graded functions of the exercise contract (the registry, which the README's table
#: shows: tests/test_registry.py) and the notebook of each.
CONTRACT = {entry.name: f"{entry.notebook}.ipynb" for entry in EXERCISES}

NOTEBOOKS = notebook_names()


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _solution_cells(notebook):
    return [c for c in notebook.cells if c.cell_type == "code" and _nbgrader(c).get("solution")]


def _test_cells(notebook):
    return [c for c in notebook.cells if _nbgrader(c).get("grade") and c.cell_type == "code"]


def _outside_solution(source: str) -> str:
    return re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", source, flags=re.DOTALL)


def _visible_part(source: str) -> str:
    return re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", source, flags=re.DOTALL)


def test_the_sequence_is_there():
    assert set(CONTRACT.values()) <= set(NOTEBOOKS)
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name) for name in NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_each_contract_function_is_defined_once_in_its_notebook(name):
    definitions = []
    for notebook_name in NOTEBOOKS:
        for cell in _read(SOLUTIONS / notebook_name).cells:
            if cell.cell_type == "code" and re.search(rf"^def {name}\(", cell.source, re.M):
                definitions.append((notebook_name, cell))
    assert len(definitions) == 1, f"def {name}( appears {len(definitions)} times"
    notebook_name, cell = definitions[0]
    assert notebook_name == CONTRACT[name]
    assert _nbgrader(cell).get("solution"), f"{name} is not in a solution cell"
    kept = _outside_solution(cell.source)
    assert re.search(rf"^def {name}\(", kept, re.M), "the signature must stay outside the solution"
    assert '"""' in kept, "the docstring must stay outside the solution region"


@pytest.mark.parametrize("notebook_name", NOTEBOOKS)
def test_every_exercise_has_descriptive_graded_tests(notebook_name):
    notebook = _read(SOLUTIONS / notebook_name)
    ids = [_nbgrader(c)["grade_id"] for c in notebook.cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for cell in _test_cells(notebook):
        meta = _nbgrader(cell)
        assert meta["grade_id"].startswith("test_"), meta["grade_id"]
        assert meta["points"] > 0
        assert meta["locked"]
        assert cell.source.lstrip().startswith('"""'), "a test cell opens with a one-line docstring"
        visible = _visible_part(cell.source)
        assert re.search(r"check_\w+\(|assert ", visible), (
            f"{meta['grade_id']} has no visible assertion"
        )
    for cell in _solution_cells(notebook):
        function = re.search(r"^def (\w+)\(", cell.source, re.M)
        if function is None:
            continue
        tests = [c for c in _test_cells(notebook) if re.search(rf"\b{function[1]}\b", c.source)]
        assert tests, f"{function[1]} has no test cell"
        points = sum(_nbgrader(c)["points"] for c in tests)
        heading = [
            c.source
            for c in notebook.cells
            if c.cell_type == "markdown" and f"`{function[1]}`" in c.source and "point" in c.source
        ]
        assert any(re.search(rf"\({points:g} points?\)", text) for text in heading), (
            f"no exercise heading for {function[1]} states its {points:g} points"
        )


@pytest.mark.parametrize("notebook_name", NOTEBOOKS)
def test_notebook_skeleton_and_figures(notebook_name):
    notebook = _read(SOLUTIONS / notebook_name)
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# "), "a notebook opens with its title"
    assert re.search(r"(?i)learning goals|you will", markdown)
    assert re.search(r"^## Setup", markdown, re.M)
    assert re.search(r"^## Summary", markdown, re.M)
    previous_markdown = ""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            previous_markdown = cell.source
            continue
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if images:
            assert "Figure" in previous_markdown, (
                "the markdown before each figure gives a sentence of alt text:\n"
                + cell.source[:200]
            )
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", (
                f"committed error output in {notebook_name}"
            )
            if output.get("output_type") == "execute_result":
                text = "".join(output.get("data", {}).get("text/plain", ""))
                assert not text.startswith("<Figure"), "end figure cells with plt.show()"


@pytest.mark.parametrize("notebook_name", NOTEBOOKS)
def test_instructor_notebooks_are_committed_with_outputs(notebook_name):
    notebook = _read(SOLUTIONS / notebook_name)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "execute the notebook before committing it"


@pytest.fixture(scope="module")
def fresh_generation(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The student notebooks generated afresh from solutions/ (once for this module)."""
    return generate_student_notebooks(tmp_path_factory.mktemp("generated"))


@pytest.mark.slow
def test_student_notebooks_match_a_fresh_generation(fresh_generation):
    assert sorted(p.name for p in fresh_generation) == notebook_names(folder="notebooks")
    for path in fresh_generation:
        fresh = json.loads(path.read_text())
        committed = json.loads((STUDENT / path.name).read_text())
        assert committed == fresh, (
            f"notebooks/{ASSIGNMENT}/{path.name} differs from solutions/: run `make notebooks`"
        )


def _output_text(cell) -> str:
    """Everything a cell's outputs show as text (images left out)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(str(output.get("text", "")))
        parts += [str(output.get(key, "")) for key in ("ename", "evalue")]
        for mime, data in output.get("data", {}).items():
            if not mime.startswith("image/"):
                parts.append(data if isinstance(data, str) else json.dumps(data))
    return "\n".join(parts)


def _solution_lines(notebook) -> set[str]:
    """The lines of the solution regions and hidden tests, long enough to be telling."""
    lines = set()
    for cell in notebook.cells:
        regions = re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)(.*?)### END \1", cell.source, re.S)
        for _, region in regions:
            lines |= {line.strip() for line in region.splitlines() if len(line.strip()) >= 12}
    return lines


def _code_names(source: str) -> set[str]:
    """The names a code cell's tokens use, outside strings and comments (not after a dot).

    Read with :mod:`tokenize`, independently of the release's own reading; a
    cell that does not tokenize counts as using every word it holds.
    """
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return set(re.findall(r"\w+", source))
    names, after_dot = set(), False
    for token in tokens:
        if token.type == tokenize.NAME and not after_dot:
            names.add(token.string)
        after_dot = token.type == tokenize.OP and token.string == "."
    return names


def _comparable(outputs) -> list:
    return [{k: v for k, v in output.items() if k != "execution_count"} for output in outputs]


def check_student_notebook(student, instructor) -> None:
    """The release hides solutions and hidden tests, also in outputs, and keeps teaching outputs.

    Solution cells, test cells and every cell that calls a function defined in
    a solution cell above it (the exercise's "try it" cell) have no outputs;
    every other code cell shows the instructor notebook's outputs, so its
    figures are there before the student runs anything. No output shows a
    line of a solution region or of the hidden tests.
    """
    text = json.dumps(student)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "NBVAL_IGNORE_OUTPUT"):
        assert marker not in text
    for cell in _solution_cells(student):
        if re.search(r"^def \w+\(", cell.source, re.M):
            assert "raise NotImplementedError" in cell.source
    assert len(student.cells) == len(instructor.cells)
    secrets = _solution_lines(instructor)
    solved: set[str] = set()
    for index, (cell, original) in enumerate(zip(student.cells, instructor.cells, strict=True)):
        if cell.cell_type != "code":
            continue
        shown = _output_text(cell)
        leaked = [line for line in secrets if line in shown]
        assert not leaked, f"cell {index} shows solution lines {leaked}"
        calls_solution = bool(_code_names(cell.source) & solved)
        if _nbgrader(cell).get("solution") or _nbgrader(cell).get("grade") or calls_solution:
            assert not cell.get("outputs"), f"cell {index} shows the solution's outputs"
        else:
            assert _comparable(cell.outputs) == _comparable(original.outputs), (
                f"cell {index} lost its teaching outputs"
            )
            assert cell.execution_count is None
        if _nbgrader(cell).get("solution"):
            solved |= set(re.findall(r"^def (\w+)\(", cell.source, re.M))


@pytest.mark.parametrize("notebook_name", NOTEBOOKS)
def test_student_notebooks_hide_solutions(notebook_name):
    check_student_notebook(_read(STUDENT / notebook_name), _read(SOLUTIONS / notebook_name))


@pytest.mark.slow
def test_a_fresh_release_keeps_teaching_outputs_and_hides_solutions(fresh_generation):
    for path in fresh_generation:
        check_student_notebook(_read(path), _read(SOLUTIONS / path.name))
    figures = sum(
        "image/png" in output.get("data", {})
        for path in fresh_generation
        for cell in _read(path).cells
        for output in cell.get("outputs", [])
    )
    assert figures >= len(NOTEBOOKS), "the release shows (nearly) no figures"
