"""A student whose visible tests pass is not surprised by the grade.

Every test cell runs its visible check calls in the student's notebook and
adds hidden calls when it is graded. Grading takes marks from a cell when any
of its calls fails, so a wrong function whose visible calls all pass would
lose marks the student had no way to see coming. For every sample student
with wrong or right answers (``tests/submissions/mistake_*.toml`` and
``correct_*.toml``, see :mod:`softsign_grader.sample_class`), these tests call the
checks directly, in this process, with the student's own functions, and
require, cell by cell:

* wherever the hidden calls fail, the visible calls fail too;
* wherever the sample expects the cell to lose marks, its visible calls fail;
* wherever it expects full marks, no call fails.

Checks draw some inputs at random, so each cell is run a few times. The same
property through real nbgrader is in ``test_grading.py``; this is the fast,
in-process version.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

import nbformat
import numpy as np
import pytest
from repo_root import REPO_ROOT

import source_lib
from softsign_grader.course import ASSIGNMENT
from softsign_grader.judge import CHECK_MODULES, parse_check_calls
from softsign_grader.sample_class import (
    SampleStudent,
    expected_scores,
    graded_cells,
    graded_functions,
    load_students,
)
from source_lib.grading.framework import CHECKS, CheckFailure

SOLUTIONS = REPO_ROOT / "solutions" / ASSIGNMENT
STUDENTS = {
    student_id: student
    for student_id, student in load_students().items()
    if student_id.startswith(("mistake_", "correct_"))
}
RUNS = 3  # each group draws random inputs: run every cell a few times

_HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S
)
_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
_DEFINITION = re.compile(r"^def (\w+)\(", re.M)


@dataclass(frozen=True)
class GradedCellCalls:
    """A test cell of an instructor notebook, its calls split into visible and hidden."""

    notebook: str
    grade_id: str
    visible: tuple
    hidden: tuple


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@cache
def _notebooks() -> dict[str, nbformat.NotebookNode]:
    return {
        path.stem: nbformat.read(path, as_version=4) for path in sorted(SOLUTIONS.glob("*.ipynb"))
    }


@cache
def _test_cells() -> dict[str, GradedCellCalls]:
    cells = {}
    for name, notebook in _notebooks().items():
        for cell in notebook.cells:
            meta = _nbgrader(cell)
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            hidden_source = "\n".join(_HIDDEN.findall(cell.source))
            hidden_source = "\n".join(
                line for line in hidden_source.splitlines() if "### " not in line
            )
            visible = tuple(parse_check_calls(_HIDDEN.sub("", cell.source)))
            hidden = tuple(parse_check_calls(hidden_source))
            cells[f"{name}/{meta['grade_id']}"] = GradedCellCalls(
                name, meta["grade_id"], visible, hidden
            )
    return cells


def _setup_namespace(notebook: nbformat.NotebookNode) -> dict:
    """What a solution cell finds in the student's kernel: the library and the Setup cell."""
    namespace: dict = {"np": np, "math": math}
    namespace.update({name: getattr(source_lib, name) for name in source_lib.__all__})
    for module in CHECK_MODULES:
        __import__(module)
    for cell in notebook.cells:
        if cell.cell_type == "code":  # the first code cell is the Setup cell
            source = "\n".join(
                line for line in cell.source.splitlines() if not line.lstrip().startswith("%")
            )
            exec(compile(source, "<setup>", "exec"), namespace)
            break
    return namespace


def _functions(student) -> dict[str, object]:
    """The student's graded functions, defined as their notebooks would define them."""
    functions = {}
    for notebook in _notebooks().values():
        namespace = _setup_namespace(notebook)
        for cell in notebook.cells:
            if cell.cell_type != "code" or not _nbgrader(cell).get("solution"):
                continue
            source = _MARKERS.sub("", cell.source)
            for name in _DEFINITION.findall(cell.source):
                source = student.solutions.get(name, source)
            exec(compile(source, "<solution>", "exec"), namespace)
            for name in _DEFINITION.findall(cell.source):
                functions[name] = namespace[name]
    return functions


def _fails(calls, functions) -> str | None:
    """The first failure message of ``calls``, or None when all pass."""
    for call in calls:
        try:
            CHECKS[call.check](functions[call.target], call.group)
        except CheckFailure as failure:
            return str(failure)
    return None


def _cases():
    functions = graded_functions(SOLUTIONS)
    cells = graded_cells(SOLUTIONS, functions)
    for student_id, student in sorted(STUDENTS.items()):
        expected = expected_scores(student, cells)
        for cell in cells:
            # a cell of an exercise the student left as the instructor solved it is
            # the same for every student: check it once, for the first correct one
            if not cell.exercises & set(student.solutions):
                continue
            yield pytest.param(
                student_id, cell.key, expected[cell.key], cell.points, id=f"{student_id}-{cell.key}"
            )


@cache
def _student_functions(student_id: str) -> dict[str, object]:
    return _functions(STUDENTS[student_id])


@pytest.mark.parametrize(("student_id", "key", "expected", "points"), list(_cases()))
def test_the_visible_calls_fail_wherever_grading_takes_marks(student_id, key, expected, points):
    cell = _test_cells()[key]
    functions = _student_functions(student_id)
    description = STUDENTS[student_id].description
    for _ in range(RUNS):
        visible = _fails(cell.visible, functions)
        hidden = _fails(cell.hidden, functions)
        if expected < points:
            assert visible, f"{key}: grading takes marks but the visible calls pass ({description})"
        if hidden:
            assert visible, (
                f"{key}: the hidden calls fail but the visible ones pass ({description}):\n{hidden}"
            )
        if expected == points:
            assert not visible, f"{key}: full marks expected ({description}):\n{visible}"
            assert not hidden, f"{key}: full marks expected ({description}):\n{hidden}"


def test_the_instructor_solutions_pass_every_call():
    functions = _functions(SampleStudent("instructor", "the instructor's solutions"))
    for key, cell in _test_cells().items():
        assert _fails(cell.visible + cell.hidden, functions) is None, key


def test_every_test_cell_has_visible_calls_and_every_group_is_covered():
    """Each hidden group sits beside the visible group that checks the same properties."""
    beside = {"hidden_values": "values", "hidden_arrays": "arrays"}
    for key, cell in _test_cells().items():
        assert cell.visible, f"{key} has no visible check"
        visible = {(call.check, call.group) for call in cell.visible}
        for call in cell.hidden:
            assert (call.check, beside.get(call.group, call.group)) in visible, key


#: Functions wrong only where a visible test must still see it: (test cell, source, exercise).
EDGE_MISTAKES = [
    pytest.param(
        "03_quotient_rule_derivation/test_softsign_derivative_values",
        "def softsign_derivative(x):\n    return 1 / (1 + abs(x)) ** 2\n",
        id="builtin-abs-squared-overflows-at-1e300",
    ),
]


@pytest.mark.parametrize(("key", "source"), EDGE_MISTAKES)
def test_a_function_that_fails_only_at_the_edge_fails_a_visible_call(key, source):
    """Notebook 03 promises softsign_derivative(1e300) == 0.0: a visible call tries it."""
    cell = _test_cells()[key]
    namespace: dict = {"np": np}
    exec(compile(source, "<solution>", "exec"), namespace)
    functions = {call.target: namespace[call.target] for call in cell.visible + cell.hidden}
    hidden = _fails(cell.hidden, functions)
    visible = _fails(cell.visible, functions)
    assert hidden, "grading must take marks for it"
    assert visible, f"{key}: the hidden calls fail but the visible ones pass:\n{hidden}"
    assert "OverflowError" in visible
