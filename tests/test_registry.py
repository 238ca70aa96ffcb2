"""The registry of exercises is the one list, and the README and the code agree with it.

``source_lib.grading.registry`` names every graded function: its notebook, its check
and the check's module, its reference and what the sandbox withholds for it. These
tests hold the README's table of notebooks to it, check that every entry's check,
reference and notebook exist, and that the lists derived from it elsewhere are it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest
from repo_root import REPO_ROOT

import source_lib
from softsign_grader import edition, judge, sandbox, student_release
from softsign_grader.course import ASSIGNMENT, notebook_names
from source_lib.grading.framework import CHECKS
from source_lib.grading.registry import (
    CHECK_MODULES,
    EXERCISE,
    EXERCISES,
    GRADED_FUNCTIONS,
    WRITTEN_ANSWERS,
    exercises_of,
)

SOLUTIONS = REPO_ROOT / "solutions" / ASSIGNMENT
README = REPO_ROOT / "README.md"
TABLE_HEADER = [
    "notebook",
    "what you learn on the core path",
    "core path",
    "Going deeper (optional)",
    "graded exercises",
]
#: What the table says of a notebook without graded work.
NOTHING = "none"

ids = lambda entry: entry.name  # noqa: E731


def _cells(row: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is a pipe inside a cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def readme_table() -> dict[str, str]:
    """``{notebook: its "graded exercises" cell}`` from the README's table of notebooks."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if _cells(line) == TABLE_HEADER)
    table: dict[str, str] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        notebook, *_, graded = _cells(line)
        table[notebook.strip("`")] = graded
    return table


def _graded_in(cell: str) -> tuple[list[str], list[str]]:
    """The code names of a "graded exercises" cell, and the rest of its items in words."""
    names = re.findall(r"`([^`]+)`", cell)
    words = [item.strip() for item in re.sub(r"`[^`]+`", "", cell).split(",")]
    return names, [item for item in words if item]


# --------------------------------------------------------------------------- the README


def test_the_readme_table_lists_every_notebook():
    assert sorted(readme_table()) == [Path(name).stem for name in notebook_names()]


@pytest.mark.parametrize("notebook", sorted(readme_table()))
def test_the_readme_table_names_the_registry_exercises(notebook: str):
    names, words = _graded_in(readme_table()[notebook])
    assert names == [entry.name for entry in exercises_of(notebook)], notebook
    written = [answer.description for answer in WRITTEN_ANSWERS if answer.notebook == notebook]
    if not names and not written:
        assert words == [NOTHING], notebook
    else:
        assert words == written, notebook


# --------------------------------------------------------------------------- each entry


@pytest.mark.parametrize("entry", EXERCISES, ids=ids)
def test_each_entry_has_its_check(entry):
    module = importlib.import_module(entry.check_module)
    check = getattr(module, entry.check)
    assert CHECKS[entry.check] is check
    assert check.exercise == entry.name
    assert check.withholds == entry.withholds


@pytest.mark.parametrize("entry", EXERCISES, ids=ids)
def test_each_reference_resolves(entry):
    assert entry.reference.startswith(f"{source_lib.__name__}.")
    reference = entry.reference_function()
    assert callable(reference)
    assert reference.__name__ == entry.name
    assert getattr(source_lib, entry.name) is reference, "the reference source_lib exports"


@pytest.mark.parametrize("entry", EXERCISES, ids=ids)
def test_each_notebook_exists_and_grades_its_exercise(entry):
    path = SOLUTIONS / f"{entry.notebook}.ipynb"
    assert path.is_file(), path
    notebook = nbformat.read(path, as_version=4)
    tests = [cell.source for cell in notebook.cells if judge.is_autograded_test(cell)]
    called = {call.check for source in tests for call in judge.check_calls(source)}
    assert entry.check in called, f"no test cell of {entry.notebook} calls {entry.check}"


@pytest.mark.parametrize("answer", WRITTEN_ANSWERS, ids=lambda answer: answer.grade_id)
def test_each_written_answer_is_a_manually_graded_cell(answer):
    notebook = nbformat.read(SOLUTIONS / f"{answer.notebook}.ipynb", as_version=4)
    cells = [
        cell
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") == answer.grade_id
    ]
    assert len(cells) == 1, answer
    grading = cells[0].metadata["nbgrader"]
    assert cells[0].cell_type == "markdown"
    assert grading.get("grade")
    assert grading.get("solution")


def test_every_check_of_a_test_cell_is_registered():
    """A test cell calls only registered checks, each in its exercise's notebook."""
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if not judge.is_autograded_test(cell):
                continue
            for call in judge.check_calls(cell.source):
                entry = EXERCISE[CHECKS[call.check].exercise]
                assert (entry.check, entry.notebook) == (call.check, path.stem)


def test_names_are_unique():
    assert len(GRADED_FUNCTIONS) == len(set(GRADED_FUNCTIONS)) == len(EXERCISES)


# --------------------------------------------------------------------------- derived lists


def test_the_grading_engine_reads_the_registry():
    assert judge.CHECK_MODULES == CHECK_MODULES
    assert sandbox.GRADED_FUNCTIONS == edition.GRADED_FUNCTIONS == GRADED_FUNCTIONS
    prefix = f"{source_lib.__name__}."
    stand_ins = tuple(module.removeprefix(prefix) for module in CHECK_MODULES)
    assert stand_ins == edition.EDITION_STAND_INS
    assert set(CHECK_MODULES) == {entry.check_module for entry in EXERCISES}


def test_the_student_release_ships_the_check_modules():
    package_dir = Path(source_lib.__file__).resolve().parent
    modules = student_release.student_modules(package_dir, [])
    assert set(CHECK_MODULES) <= set(modules)
