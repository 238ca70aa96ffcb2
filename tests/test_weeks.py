"""A course of several assignments: nothing in the tooling assumes the name ``softsign``.

The test course splits the instructor notebooks into two weekly assignments,
``week1`` (notebooks 01 and 02) and ``week2`` (03 and 04). Each is released
with ``nbgrader generate_assignment``, one sample student submits each week,
and both are graded by the ``softsign-grade`` CLI (two workers): every cell scores
what the sample student is expected to score, and the exports and class reports
of each week hold that week's scores. (That plain ``nbgrader autograde`` grades
an assignment of another name as the pool does is ``test_parallel_grading``'s
tiny class, ``week1``.)
"""

from __future__ import annotations

import ast
import csv
import shutil
from pathlib import Path

import pytest
from conftest import run_softsign_grade
from nbgrader.api import Gradebook
from repo_root import REPO_ROOT

from softsign_grader.course import (
    ASSIGNMENT,
    assignment_names,
    course_id,
    notebook_names,
    run_nbgrader,
)
from softsign_grader.lms import export_rows
from softsign_grader.report import build_report
from softsign_grader.sample_class import build_sample_class

WEEKS = {
    "week1": ["01_softsign_definition", "02_derivative_of_abs"],
    "week2": ["03_quotient_rule_derivation", "04_softsign_vs_tanh"],
}
#: Who submits which week: right answers in week 1, one mistake in week 2.
STUDENT = {"week1": "correct_plain", "week2": "mistake_missing_square"}


def test_no_instructor_module_names_the_assignment():
    """The assignment id appears as a literal only as course.py's default, ASSIGNMENT."""
    found = []
    # The judge and the sandbox name the graded function softsign and the metadata key
    # "softsign", which share the assignment's name without being it.
    for path in sorted((REPO_ROOT / "softsign_grader").glob("*.py")):
        if path.name in ("judge.py", "sandbox.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and (text == ASSIGNMENT or f"/{ASSIGNMENT}/" in text):
                found.append(f"{path.name}:{node.lineno}")
    assert found == ["course.py:" + str(_assignment_line())], found


def _assignment_line() -> int:
    source = (REPO_ROOT / "softsign_grader" / "course.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ASSIGNMENT" for t in node.targets
        ):
            return node.lineno
    raise AssertionError("course.py defines no ASSIGNMENT")


def _weekly_course(dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    for week, notebooks in WEEKS.items():
        folder = dest / "solutions" / week
        folder.mkdir(parents=True)
        for name in notebooks:
            shutil.copy2(REPO_ROOT / "solutions" / ASSIGNMENT / f"{name}.ipynb", folder)
    return dest


def _scores(course: Path, assignment: str) -> dict[str, dict[str, float | None]]:
    """Every grade cell's score of ``assignment``, by student and "notebook/grade_id"."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        return {
            submission.student_id: {
                f"{notebook.name}/{grade.name}": grade.score
                for notebook in submission.notebooks
                for grade in notebook.grades
            }
            for submission in gradebook.assignment_submissions(assignment)
        }


def _softsign_grade(course: Path, *args: str) -> str:
    result = run_softsign_grade(course, *args, timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_two_weekly_assignments(tmp_path, nbgrader_env):
    course = _weekly_course(tmp_path / "course")
    assert assignment_names(course) == sorted(WEEKS)
    expected = {}
    for week, notebooks in WEEKS.items():
        run_nbgrader(["generate_assignment", week, "--force"], course, env=nbgrader_env)
        assert notebook_names(course, "notebooks", week) == [f"{n}.ipynb" for n in notebooks]
        expected[week] = build_sample_class(course, [STUDENT[week]], assignment=week)
        submitted = sorted(p.stem for p in (course / "submitted" / STUDENT[week] / week).iterdir())
        assert set(submitted) <= set(notebooks)
        assert {key.split("/")[0] for key in expected[week][STUDENT[week]]} == set(notebooks)
    for week in WEEKS:
        said = _softsign_grade(course, week, "--jobs", "2")
        assert "graded 1, failed 0" in said, said

    for week, student in STUDENT.items():
        got = _scores(course, week)
        assert set(got) == {student}
        for key, points in expected[week][student].items():
            assert got[student][key] == pytest.approx(points), (week, key)
    week2 = expected["week2"][STUDENT["week2"]]
    submitted = {p.stem for p in (course / "submitted" / STUDENT["week2"] / "week2").iterdir()}
    lost = [key for key, points in week2.items() if points == 0 and key.split("/")[0] in submitted]
    assert lost  # the mistake costs the derivative's cells of notebook 03, not the week
    assert all(key.startswith("03_quotient_rule_derivation/") for key in lost)
    assert sum(week2.values()) > 0

    output = tmp_path / "grades.csv"
    run_nbgrader(["export", "--to", str(output)], course, env=nbgrader_env)
    with output.open(newline="") as handle:
        rows = {(row["assignment"], row["student_id"]): row for row in csv.DictReader(handle)}
    for week, student in STUDENT.items():
        assert float(rows[(week, student)]["score"]) == pytest.approx(
            sum(expected[week][student].values())
        )
        other = next(w for w in WEEKS if w != week)
        assert float(rows[(other, student)]["score"]) == 0.0  # did not submit that week

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        header, lms_rows = export_rows(gradebook)
    by_student = {row["student_id"]: row for row in lms_rows}
    for week, student in STUDENT.items():
        assert float(by_student[student][week]) == pytest.approx(
            sum(expected[week][student].values())
        )
        for notebook in WEEKS[week]:
            assert f"{week}/{notebook}" in header

    for week, student in STUDENT.items():
        page, report = build_report(course, week, output_dir=tmp_path / "reports")
        assert page.name == f"{week}.html"
        assert report.assignment == week
        assert report.totals[student] == pytest.approx(sum(expected[week][student].values()))
        shown = {exercise.notebook for exercise in report.exercises}
        assert shown
        assert shown <= set(WEEKS[week])
        assert (tmp_path / "reports" / f"{week}_students.csv").exists()
