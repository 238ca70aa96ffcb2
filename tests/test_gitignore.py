"""Students' work, personal data and marks are git-ignored wherever the README puts them.

``git check-ignore`` is asked about every path the README tells the instructor to use
for a submission, a roster, a grade or a report, and about every CSV file it has a tool
write (``--to NAME.csv``); the course's own files stay tracked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")

#: (what the README names, a path the course writes there) for every place of student data.
STUDENT_DATA = [
    ("downloaded/softsign/archive/", "downloaded/softsign/archive/ann_attempt_1.zip"),
    ("submitted/", "submitted/ann/softsign/01_softsign_definition.ipynb"),
    ("autograded/", "autograded/ann/softsign/01_softsign_definition.ipynb"),
    ("feedback/", "feedback/ann/softsign/01_softsign_definition.html"),
    ("gradebook.db", "gradebook.db"),
    ("roster.csv", "roster.csv"),
    ("grades.csv", "grades.csv"),
    ("lms_grades.csv", "lms_grades.csv"),
    ("reports/", "reports/softsign.html"),
    ("softsign_students.csv", "reports/softsign_students.csv"),
]

#: Course files the README points to that must stay tracked.
COURSE_FILES = [
    "docs/roster_example.csv",
    "nbgrader_config.py",
    "solutions/softsign/01_softsign_definition.ipynb",
    "notebooks/softsign/01_softsign_definition.ipynb",
    "source_lib/activations.py",
]

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a clone"
)


def _ignored(paths: list[str]) -> set[str]:
    """The paths among ``paths`` that git ignores (tracked or not, existing or not)."""
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return set(result.stdout.split())


def test_every_place_of_student_data_the_readme_names_is_ignored():
    for named, _ in STUDENT_DATA:
        assert named in README, f"the README no longer names {named}: update this test"
    paths = [path for _, path in STUDENT_DATA]
    assert set(paths) - _ignored(paths) == set()


def test_every_csv_file_the_readme_has_a_tool_write_is_ignored():
    written = sorted(set(re.findall(r"--to\s+([\w./-]+\.csv)", README)))
    assert written, "the README names no --to CSV file"
    assert set(written) - _ignored(written) == set()


def test_the_course_files_stay_tracked():
    assert _ignored(COURSE_FILES) == set()
