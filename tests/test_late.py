"""Late work: the course's late-penalty plugin, through real autogrades.

``nbgrader_config.py`` installs :class:`softsign_grader.late.PerDayLatePenalty`
(10 % of a notebook's score per started day late, at most 50 %). Four copies
of a right notebook 01 (3 points) are submitted on time, a day and an hour
late, ten days late, and a day and an hour late with a two-day extension.
Without a due date nobody loses anything; with one, ``softsign-grade`` and
plain ``nbgrader autograde`` take the same penalties and ``nbgrader export``
subtracts them.
"""

from __future__ import annotations

import csv
import datetime
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import copy_released, run_softsign_grade
from nbgrader.api import Gradebook
from repo_root import REPO_ROOT

from softsign_grader.course import (
    ASSIGNMENT,
    course_id,
    run_nbgrader,
)
from softsign_grader.late import (
    PerDayLatePenalty,
    apply_late_penalties,
    late_fraction,
    main,
    notebook_penalties,
)
from softsign_grader.report_reading import read_gradebook
from softsign_grader.sample_class import build_sample_class

NOTEBOOK = "01_softsign_definition"
DUE = datetime.datetime(2026, 10, 5, 12, 0, 0)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
#: student -> submitted at
SUBMITTED = {
    "on_time": DUE - HOUR,
    "one_day_late": DUE + DAY + HOUR,
    "ten_days_late": DUE + 10 * DAY,
    "extended": DUE + DAY + HOUR,
}
#: student -> penalty on 3 points, with the due date
PENALTY = {"on_time": 0.0, "one_day_late": 0.6, "ten_days_late": 1.5, "extended": 0.0}


@pytest.mark.parametrize(
    ("seconds", "fraction"),
    [
        (0, 0.0),
        (-5, 0.0),
        (1, 0.1),
        (86_400, 0.1),
        (86_401, 0.2),
        (4 * 86_400 + 1, 0.5),
        (1e9, 0.5),
    ],
)
def test_late_fraction_counts_started_days_and_is_capped(seconds, fraction):
    assert late_fraction(seconds, 0.1, 0.5) == pytest.approx(fraction)


def test_the_plugin_gives_no_penalty_on_time_and_rejects_bad_settings():
    plugin = PerDayLatePenalty()
    assert plugin.late_submission_penalty("s", 3.0, 0) is None
    assert plugin.late_submission_penalty("s", 3.0, 2 * 86_400) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="fraction_per_day"):
        PerDayLatePenalty(fraction_per_day=2.0).late_submission_penalty("s", 3.0, 10)


def _penalties(course: Path, students: Iterable[str] = SUBMITTED) -> dict[str, float]:
    """Each student's penalty on notebook 01 (nbgrader stores None for "no penalty")."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        return {
            student: gradebook.find_submission_notebook(
                NOTEBOOK, ASSIGNMENT, student
            ).late_submission_penalty
            or 0.0
            for student in students
        }


def _softsign_grade(course: Path, *args: str) -> None:
    result = run_softsign_grade(course, *args)
    assert result.returncode == 0, result.stdout + result.stderr


def _late(course: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "softsign_grader.late", "--course", str(course), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.slow
def test_late_submissions_are_penalised_only_past_the_due_date(
    tmp_path, nbgrader_env, released_template
):
    course = copy_released(released_template, tmp_path / "course")
    build_sample_class(course, ["correct_plain"])
    solved = course / "submitted" / "correct_plain" / ASSIGNMENT
    for student, when in SUBMITTED.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy2(solved / f"{NOTEBOOK}.ipynb", folder)
        (folder / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    shutil.rmtree(course / "submitted" / "correct_plain")

    # No due date: nothing is late, whatever the timestamps (the two late students show it).
    run_nbgrader(["autograde", ASSIGNMENT, "--student=*_late"], course, env=nbgrader_env)
    late = ["one_day_late", "ten_days_late"]
    assert _penalties(course, late) == dict.fromkeys(late, 0.0)

    run_nbgrader(
        ["db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE:%Y-%m-%d %H:%M:%S} UTC"],
        course,
        env=nbgrader_env,
    )
    said = _late(course, "extend", ASSIGNMENT, "extended", "--days", "2")
    assert "extended: due 2026-10-07 12:00:00" in said
    assert "extended: +2 days" in _late(course, "show", ASSIGNMENT)

    _softsign_grade(course, ASSIGNMENT, "--jobs", "2", "--force")
    assert _penalties(course) == pytest.approx(PENALTY)
    output = tmp_path / "grades.csv"
    run_nbgrader(["export", "--to", str(output)], course, env=nbgrader_env)
    with output.open(newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    for student, penalty in PENALTY.items():
        assert float(rows[student]["raw_score"]) == 3.0
        assert float(rows[student]["score"]) == pytest.approx(3.0 - penalty), student

    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    assert _penalties(course) == pytest.approx(PENALTY)


# --------------------------------------------------------------------------- a gradebook

#: A late student's submission: 1 day and 1 hour late, so 20 % of each notebook's score.
LATE_BY = DAY + HOUR


def build_late_gradebook(course: Path) -> str:
    """A course folder with a gradebook built through nbgrader's API; return its URL.

    Assignment ``softsign`` (due :data:`DUE`, UTC) has notebook ``a`` (one code cell,
    3 points) and notebook ``b`` (one code cell and one written answer, 2 points each).
    Student ``late`` submitted :data:`LATE_BY` late and scored 3 + 2 at autograding,
    with the written answer still to grade; ``on_time`` scored the same on time. The
    stored penalties are those of autograding (20 % of 3 and of 2).
    """
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course)
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url, ASSIGNMENT) as gradebook:
        gradebook.add_assignment(ASSIGNMENT, duedate=DUE)
        for notebook in ("a", "b"):
            gradebook.add_notebook(notebook, ASSIGNMENT)
        gradebook.add_grade_cell("code_a", "a", ASSIGNMENT, max_score=3, cell_type="code")
        gradebook.add_grade_cell("code_b", "b", ASSIGNMENT, max_score=2, cell_type="code")
        gradebook.add_grade_cell("essay", "b", ASSIGNMENT, max_score=2, cell_type="markdown")
        for student, when in (("late", DUE + LATE_BY), ("on_time", DUE - HOUR)):
            gradebook.add_student(student)
            with gradebook.db.no_autoflush:
                gradebook.add_submission(ASSIGNMENT, student, timestamp=when)
            for cell, notebook, points in (("code_a", "a", 3.0), ("code_b", "b", 2.0)):
                grade = gradebook.find_grade(cell, notebook, ASSIGNMENT, student)
                grade.auto_score, grade.needs_manual_grade = points, False
            essay = gradebook.find_grade("essay", "b", ASSIGNMENT, student)
            essay.needs_manual_grade = True
        gradebook.db.commit()
        assert apply_late_penalties(gradebook, [ASSIGNMENT], PerDayLatePenalty()) == 2
    return url


def grade_essay(url: str, student: str, points: float) -> None:
    """Enter a manual grade as formgrader's ``PUT api/grade/ID`` does."""
    with Gradebook(url, ASSIGNMENT) as gradebook:
        grade = gradebook.find_grade("essay", "b", ASSIGNMENT, student)
        grade.manual_score = points
        grade.needs_manual_grade = False
        gradebook.db.commit()


@pytest.fixture
def late_course(late_template, tmp_path) -> tuple[Path, str]:
    """A copy of the late gradebook's course folder, and the gradebook's URL."""
    course = shutil.copytree(late_template, tmp_path / "course")
    return course, f"sqlite:///{course / 'gradebook.db'}"


def test_a_manual_grade_is_penalised_everywhere(late_course):
    _, url = late_course
    grade_essay(url, "late", 2.0)
    grade_essay(url, "on_time", 2.0)
    policy = PerDayLatePenalty()
    with Gradebook(url, ASSIGNMENT) as gradebook:
        late = gradebook.find_submission(ASSIGNMENT, "late")
        # what autograding stored: 20 % of the 2 points b had then
        assert late.late_submission_penalty == pytest.approx(0.6 + 0.4)
        assert notebook_penalties(late, policy) == pytest.approx({"a": 0.6, "b": 0.8})
        on_time = gradebook.find_submission(ASSIGNMENT, "on_time")
        assert notebook_penalties(on_time, policy) == {"a": 0.0, "b": 0.0}
    # The class report computes the penalty from the current scores...
    book = read_gradebook(url, ASSIGNMENT, ASSIGNMENT, policy)
    assert book.penalties == pytest.approx({"late": 1.4, "on_time": 0.0})
    # ... and storing it brings nbgrader's own readers (nbgrader export, feedback) up to date.
    with Gradebook(url, ASSIGNMENT) as gradebook:
        assert apply_late_penalties(gradebook, [ASSIGNMENT], policy) == 1
        assert apply_late_penalties(gradebook, [ASSIGNMENT], policy) == 0
    with Gradebook(url, ASSIGNMENT) as gradebook:
        late = gradebook.find_submission(ASSIGNMENT, "late")
        assert late.late_submission_penalty == pytest.approx(1.4)
        assert late.score == pytest.approx(7.0)
        # only the penalty is written: the TA's grade stays
        assert gradebook.find_grade("essay", "b", ASSIGNMENT, "late").manual_score == 2.0
    assert read_gradebook(url, ASSIGNMENT, ASSIGNMENT).penalties["late"] == pytest.approx(1.4)


def test_an_extension_is_granted_without_sqlalchemy_warnings(late_course, capsys):
    course, url = late_course
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["--course", str(course), "extend", ASSIGNMENT, "newcomer", "--days", "2"]) == 0
        assert main(["--course", str(course), "extend", ASSIGNMENT, "late", "--days", "2"]) == 0
    assert [str(warning.message) for warning in caught] == []
    said = capsys.readouterr()
    assert "newcomer was not in the gradebook; added" in said.out
    assert "late: due 2026-10-07 12:00:00 UTC" in said.out
    assert said.err == ""
    with Gradebook(url, ASSIGNMENT) as gradebook:
        late = gradebook.find_submission(ASSIGNMENT, "late")
        assert late.total_seconds_late == 0
        # within the extension now: no penalty from the current scores
        assert notebook_penalties(late, PerDayLatePenalty()) == {"a": 0.0, "b": 0.0}
