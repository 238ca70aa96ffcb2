"""Shared fixtures.

``graded_sample_class`` autogrades the whole sample class (``tests/submissions``,
built by :func:`softsign_grader.sample_class.build_sample_class`) once per test
session with plain, serial ``nbgrader autograde``, so that every test that needs
a graded class (the grading tests, the parallel-grading comparison) shares it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from softsign_grader.course import (
    ASSIGNMENT,
    course_id,
    make_course,
    run_nbgrader,
    tool_path_env,
)
from softsign_grader.sample_class import build_sample_class

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = {"PATH": tool_path_env()["PATH"]}


def run_softsign_grade(
    course: Path, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``softsign-grade ARGS`` (the console script, else the module) on ``course``."""
    script = Path(sys.executable).with_name("softsign-grade")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-m", "softsign_grader.parallel_grading"]
    )
    return subprocess.run(
        [*command, *args, "--course-root", str(course), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tool_path_env(),
        check=False,
    )


@dataclass(frozen=True)
class GradedClass:
    """The sample class after ``nbgrader autograde``.

    Attributes
    ----------
    course : Path
        The course directory (``gradebook.db``, ``submitted/``, ``autograded/``).
    expected : dict
        ``{student: {"notebook/grade_id": points}}`` from ``build_sample_class``.
    scores : dict
        The same shape, read from the gradebook (``auto_score``; None if absent), for
        the autograded test cells (code cells).
    manual : dict
        ``{student: {"notebook/grade_id": needs_manual_grade}}`` for the written
        answers (markdown cells graded by hand).
    log : str
        nbgrader's output (stdout and stderr).
    seconds : float
        Wall time of ``nbgrader autograde``.
    """

    course: Path
    expected: dict[str, dict[str, float]]
    scores: dict[str, dict[str, float | None]]
    manual: dict[str, dict[str, bool]]
    log: str
    seconds: float


def read_scores(course: Path, assignment: str = ASSIGNMENT) -> dict[str, dict[str, float | None]]:
    """Return every autograded test cell's score in ``course``'s gradebook, by student."""
    return {
        student: {key: score for key, (score, written, _) in cells.items() if not written}
        for student, cells in _read_grades(course, assignment).items()
    }


def read_manual(course: Path, assignment: str = ASSIGNMENT) -> dict[str, dict[str, bool]]:
    """Return whether each written answer needs a manual grade, by student."""
    return {
        student: {key: manual for key, (_, written, manual) in cells.items() if written}
        for student, cells in _read_grades(course, assignment).items()
    }


def _read_grades(
    course: Path, assignment: str
) -> dict[str, dict[str, tuple[float | None, bool, bool]]]:
    """``{student: {key: (auto_score, written answer, needs_manual_grade)}}``."""
    from nbgrader.api import Gradebook

    grades: dict[str, dict[str, tuple[float | None, bool, bool]]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            cells = grades.setdefault(submission.student_id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    written = grade.cell.cell_type == "markdown"
                    cells[f"{notebook.name}/{grade.name}"] = (
                        grade.auto_score,
                        written,
                        bool(grade.needs_manual_grade),
                    )
    return grades


@pytest.fixture(scope="session")
def nbgrader_env() -> dict[str, str]:
    """Environment for :func:`softsign_grader.course.run_nbgrader` (finds `alembic`)."""
    return dict(NBGRADER_ENV)


@pytest.fixture(scope="session")
def graded_sample_class(tmp_path_factory: pytest.TempPathFactory) -> GradedClass:
    """The sample class, released, submitted and autograded serially by real nbgrader."""
    course = make_course(tmp_path_factory.mktemp("graded-sample-class") / "course", release=False)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=NBGRADER_ENV)
    expected = build_sample_class(course)
    start = time.perf_counter()
    result = run_nbgrader(["autograde", ASSIGNMENT], course, env=NBGRADER_ENV)
    seconds = time.perf_counter() - start
    return GradedClass(
        course=course,
        expected=expected,
        scores=read_scores(course),
        manual=read_manual(course),
        log=result.stdout + result.stderr,
        seconds=seconds,
    )
