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
from pathlib import Path

import pytest
from conftest import copy_released, run_softsign_grade
from nbgrader.api import Gradebook

from softsign_grader.course import (
    ASSIGNMENT,
    course_id,
    run_nbgrader,
)
from softsign_grader.late import PerDayLatePenalty, late_fraction
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


def _penalties(course: Path) -> dict[str, float]:
    """Each student's penalty on notebook 01 (nbgrader stores None for "no penalty")."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        return {
            student: gradebook.find_submission_notebook(
                NOTEBOOK, ASSIGNMENT, student
            ).late_submission_penalty
            or 0.0
            for student in SUBMITTED
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

    # No due date: nothing is late, whatever the timestamps.
    run_nbgrader(["autograde", ASSIGNMENT], course, env=nbgrader_env)
    assert _penalties(course) == dict.fromkeys(SUBMITTED, 0.0)

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
