"""A regrade that fails leaves no stale marks; one that succeeds scores afresh.

Real nbgrader with the course's own configuration: a right notebook 01 is
graded (3 of 3 points), then graded again with ``--force`` while the kernel
cannot start (an unknown kernel name), as when a regrade crashes. The old 3
points must not survive that failure: the cells have no automatic score and
are flagged for manual grading. A third, healthy regrade scores 3 again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
