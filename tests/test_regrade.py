"""A regrade that fails leaves no stale marks; one that succeeds scores afresh.

Real nbgrader with the course's own configuration: a right notebook 01 is
graded (3 of 3 points), then graded again with ``--force`` while the kernel
cannot start (an unknown kernel name), as when a regrade crashes. The old 3
points must not survive that failure: the cells have no automatic score and
are flagged for manual grading. A third, healthy regrade scores 3 again.

A regrade keeps a grader's work: a written answer scored by hand stays graded
while its source is unchanged and is flagged again once it changes. A test
cell submitted as released (without its hidden tests) raises no "checksum has
changed" warning; an edited one does.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from conftest import copy_released
from nbgrader.api import Gradebook

from softsign_grader.course import ASSIGNMENT, course_id, run_nbgrader
from softsign_grader.sample_class import build_sample_class

pytestmark = pytest.mark.slow

NOTEBOOK = "01_softsign_definition"
STUDENT = "correct_plain"


def _grades(course: Path) -> dict[str, tuple[float | None, bool]]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, STUDENT)
        return {g.name: (g.auto_score, bool(g.needs_manual_grade)) for g in notebook.grades}


def test_a_failed_regrade_leaves_no_stale_marks(
    tmp_path: Path, nbgrader_env: dict[str, str], released_template: Path
):
    course = copy_released(released_template, tmp_path / "course")
    build_sample_class(course)
    for folder in (course / "submitted").iterdir():
        if folder.name != STUDENT:
            shutil.rmtree(folder)
    for path in (course / "submitted" / STUDENT / ASSIGNMENT).glob("*.ipynb"):
        if path.stem != NOTEBOOK:
            path.unlink()

    run_nbgrader(["autograde", ASSIGNMENT], course, env=nbgrader_env)
    assert _grades(course) == {
        "test_softsign_values": (2.0, False),
        "test_softsign_arrays": (1.0, False),
    }

    broken = run_nbgrader(
        ["autograde", ASSIGNMENT, "--force", "--Execute.kernel_name=no-such-kernel"],
        course,
        env=nbgrader_env,
        check=False,
    )
    assert "no-such-kernel" in broken.stdout + broken.stderr
    assert _grades(course) == {
        "test_softsign_values": (None, True),
        "test_softsign_arrays": (None, True),
    }

    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    assert _grades(course) == {
        "test_softsign_values": (2.0, False),
        "test_softsign_arrays": (1.0, False),
    }


WRITTEN = "04_softsign_vs_tanh"
ANSWER = "explain_saturation"


def _submit_released(course: Path, student: str, notebook: str) -> Path:
    """Submit the release copy of ``notebook`` for ``student``; return the submitted file."""
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        course / "notebooks" / ASSIGNMENT / f"{notebook}.ipynb", folder / f"{notebook}.ipynb"
    )
    return folder / f"{notebook}.ipynb"


def _edit_cell(path: Path, grade_id: str, edit: Callable[[str], str]) -> None:
    notebook = nbformat.read(path, as_version=4)
    (cell,) = [
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    cell.source = edit(cell.source)
    nbformat.write(notebook, path)


def _answer_state(course: Path, student: str) -> tuple[float | None, bool, str | None]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        grade = gradebook.find_grade(ANSWER, WRITTEN, ASSIGNMENT, student)
        comment = gradebook.find_comment(ANSWER, WRITTEN, ASSIGNMENT, student)
        return grade.manual_score, bool(grade.needs_manual_grade), comment.manual_comment


def test_a_regrade_keeps_a_graded_written_answer_until_it_changes(
    tmp_path: Path, nbgrader_env: dict[str, str], released_template: Path
):
    course = copy_released(released_template, tmp_path / "course")
    student = "writer"
    answer = _submit_released(course, student, WRITTEN)
    _edit_cell(answer, ANSWER, lambda _: "The derivative decays like 1/x², not exponentially.")
    run_nbgrader(["autograde", ASSIGNMENT], course, env=nbgrader_env)
    assert _answer_state(course, student) == (None, True, None)

    # A TA grades the answer as formgrader's API handlers do.
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        grade = gradebook.find_grade(ANSWER, WRITTEN, ASSIGNMENT, student)
        grade.manual_score, grade.needs_manual_grade = 1.5, False
        comment = gradebook.find_comment(ANSWER, WRITTEN, ASSIGNMENT, student)
        comment.manual_comment = "Say what it means for learning."
        gradebook.db.commit()
    # A regrade of the unchanged answer keeps it graded: test_written_answer shows it, with
    # the pool and with plain nbgrader, after a grade entered in a real formgrader.

    _edit_cell(answer, ANSWER, lambda source: source + " Gradients survive deep stacks.")
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    assert _answer_state(course, student) == (1.5, True, "Say what it means for learning.")
    # Flagged and not yet looked at again: a further regrade keeps the flag.
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    assert _answer_state(course, student) == (1.5, True, "Say what it means for learning.")


def test_only_an_edited_test_cell_warns_that_its_checksum_changed(
    tmp_path: Path, nbgrader_env: dict[str, str], released_template: Path
):
    course = copy_released(released_template, tmp_path / "course")
    _submit_released(course, "plain", NOTEBOOK)
    edited = _submit_released(course, "edited", NOTEBOOK)
    _edit_cell(edited, "test_softsign_arrays", lambda source: source + "\n# my own check")

    def log(student: str) -> str:
        args = ["autograde", ASSIGNMENT, f"--student={student}"]
        result = run_nbgrader(args, course, env=nbgrader_env)
        return result.stdout + result.stderr

    assert "has changed" not in log("plain")
    warned = [line for line in log("edited").splitlines() if "has changed" in line]
    assert len(warned) == 1, warned
    assert "test_softsign_arrays" in warned[0]


def test_an_answer_is_changed_when_its_picture_is():
    """A pasted picture keeps its source; the checksum a regrade compares still changes."""
    from softsign_grader.nbgrader_plugins import answer_checksum

    def answer(picture: str) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_markdown_cell("![image.png](attachment:image.png)")
        cell["attachments"] = {"image.png": {"image/png": picture}}
        return cell

    assert answer_checksum(answer("AAAA")) == answer_checksum(answer("AAAA"))
    assert answer_checksum(answer("AAAA")) != answer_checksum(answer("BBBB"))
    plain = nbformat.v4.new_markdown_cell("three sentences")
    assert answer_checksum(plain) != answer_checksum(nbformat.v4.new_code_cell("three sentences"))
