"""Work and marks to and from an LMS, through real nbgrader commands.

* ``nbgrader zip_collect`` with the course's ``named_regexp`` reads a real zip file
  laid out as Canvas and Moodle lay out "download all submissions";
* ``nbgrader db student import`` reads the README's example roster;
* the LMS export (an nbgrader export plugin) of the graded sample class agrees
  with ``nbgrader export`` and counts a manual grade entered afterwards.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from conftest import NBGRADER_ENV
from nbgrader.api import Gradebook
from repo_root import REPO_ROOT
from test_late import grade_essay

from softsign_grader.course import ASSIGNMENT, course_id, run_nbgrader
from softsign_grader.late import PerDayLatePenalty
from softsign_grader.lms import LMS_FILE_NAME_PATTERN, export_rows

#: ``nbgrader export --exporter=...``: nbgrader's CSV after storing up-to-date penalties.
LATE_EXPORTER = "softsign_grader.late.LateCsvExportPlugin"

ROSTER = REPO_ROOT / "docs" / "roster_example.csv"

#: Archive member -> (student id, notebook) it must be collected as; None: skipped.
CANVAS = {
    "doejane_12345_67890_01_softsign_definition.ipynb": ("12345", "01_softsign_definition"),
    "doejane_12345_67890_02_derivative_of_abs-1.ipynb": ("12345", "02_derivative_of_abs"),
    "roeravi_LATE_23456_78901_01_softsign_definition.ipynb": ("23456", "01_softsign_definition"),
    "smith_anne_34567_89012_04_softsign_vs_tanh.ipynb": ("34567", "04_softsign_vs_tanh"),
    "doejane_12345_67890_notes.txt": None,
    "doejane_12345_67890_my_homework.ipynb": None,  # not a notebook of the assignment
}
MOODLE = {
    "Jane Doe_45678_assignsubmission_file_/01_softsign_definition.ipynb": (
        "45678",
        "01_softsign_definition",
    ),
    "Jane Doe_45678_assignsubmission_file_/03_quotient_rule_derivation.ipynb": (
        "45678",
        "03_quotient_rule_derivation",
    ),
    "Ravi van Roe_56789_assignsubmission_file_/02_derivative_of_abs.ipynb": (
        "56789",
        "02_derivative_of_abs",
    ),
}


@pytest.mark.parametrize(
    ("path", "student", "file_id"),
    [
        (
            "/x/extracted/doejane_12345_67890_01_softsign_definition.ipynb",
            "12345",
            "01_softsign_definition",
        ),
        (
            "/x/doe_jane_LATE_12345_67890_01_softsign_definition-2.ipynb",
            "12345",
            "01_softsign_definition",
        ),
        (
            "/x/Jane Doe_12345_assignsubmission_file_/06_activation_family.ipynb",
            "12345",
            "06_activation_family",
        ),
    ],
)
def test_the_pattern_reads_canvas_and_moodle_names(path, student, file_id):
    match = re.match(LMS_FILE_NAME_PATTERN, path)
    assert match is not None
    assert (match["student_id"], match["file_id"]) == (student, file_id)


@pytest.mark.parametrize(
    "path", ["/x/01_softsign_definition.ipynb", "/x/doejane_01_softsign_definition.ipynb"]
)
def test_the_pattern_rejects_names_without_a_student_id(path):
    assert re.match(LMS_FILE_NAME_PATTERN, path) is None


@pytest.fixture(scope="module")
def released_course(released_template) -> Path:
    """The session's released course (conftest.py); each test copies it before changing it."""
    return released_template


def _submitted(course: Path) -> dict[tuple[str, str], bytes]:
    found = {}
    for path in (course / "submitted").glob(f"*/{ASSIGNMENT}/*"):
        if path.suffix == ".ipynb":
            found[(path.parents[1].name, path.stem)] = path.read_bytes()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("layout", [CANVAS, MOODLE], ids=["canvas", "moodle"])
def test_zip_collect_reads_an_lms_download(released_course, nbgrader_env, tmp_path, layout):
    course = tmp_path / "course"
    shutil.copytree(released_course, course)
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    contents = {}
    with zipfile.ZipFile(archive / "submissions.zip", "w") as bundle:
        for index, member in enumerate(layout):
            contents[member] = f'{{"member": {index}, "name": "{member}"}}'.encode()
            bundle.writestr(member, contents[member])
    result = run_nbgrader(["zip_collect", ASSIGNMENT], course, env=nbgrader_env)
    log = result.stdout + result.stderr
    expected = {target: contents[member] for member, target in layout.items() if target}
    assert _submitted(course) == expected, log
    skipped = sum(target is None for target in layout.values())
    if skipped:
        assert f"{len(expected)} files collected, {skipped} files skipped" in log
    else:
        assert f"{len(expected)} files collected" in log


@pytest.mark.slow
def test_zip_collect_without_the_pattern_collects_nothing(released_course, nbgrader_env, tmp_path):
    """What the pattern fixes: nbgrader's default ``named_regexp`` matches no file."""
    course = tmp_path / "course"
    shutil.copytree(released_course, course)
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as bundle:
        for member in CANVAS:
            bundle.writestr(member, "{}")
    result = run_nbgrader(
        ["zip_collect", ASSIGNMENT, "--FileNameCollectorPlugin.named_regexp="],
        course,
        env=nbgrader_env,
    )
    assert result.returncode == 0  # nbgrader does not fail: hence the pattern in the config
    assert _submitted(course) == {}


@pytest.mark.slow
def test_roster_import(released_course, nbgrader_env, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(released_course, course)
    run_nbgrader(["db", "student", "import", str(ROSTER)], course, env=nbgrader_env)
    listed = run_nbgrader(["db", "student", "list"], course, env=nbgrader_env).stdout
    with ROSTER.open(newline="") as handle:
        roster = list(csv.DictReader(handle))
    assert len(roster) == 3
    for row in roster:
        assert f"{row['id']} ({row['last_name']}, {row['first_name']}) -- {row['email']}" in listed
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        assert sorted(student.id for student in gradebook.students) == sorted(
            row["id"] for row in roster
        )
        header, rows = export_rows(gradebook, [ASSIGNMENT])
    # Students without a submission export as 0, with their names.
    assert [row["student_id"] for row in rows] == sorted(row["id"] for row in roster)
    assert all(row[ASSIGNMENT] == "0" for row in rows)
    assert rows[0]["last_name"] == "Doe"
    assert header[:5] == ["student_id", "last_name", "first_name", "email", ASSIGNMENT]


def _run_module(module: str, *args: str | Path, cwd: Path | None = None) -> CompletedProcess:
    """``python -m module args`` with nbgrader's tools on PATH; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env={**os.environ, **NBGRADER_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _lms_export(course: Path, dest: Path) -> dict[str, dict[str, str]]:
    result = _run_module("softsign_grader.lms", "export", ASSIGNMENT, cwd=course)
    produced = Path(result.stdout.strip())
    assert produced == course / "lms_grades.csv"
    shutil.copy(produced, dest)
    with dest.open(newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_lms_export_of_the_graded_class(graded_sample_class, nbgrader_env, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(graded_sample_class.course, course)
    plain = tmp_path / "grades.csv"
    run_nbgrader(["export", "--to", str(plain)], course, env=nbgrader_env)
    with plain.open(newline="") as handle:
        nbgrader_rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    rows = _lms_export(course, tmp_path / "lms.csv")
    assert set(rows) == set(nbgrader_rows) == set(graded_sample_class.expected)
    notebooks = sorted(p.stem for p in (course / "notebooks" / ASSIGNMENT).glob("*.ipynb"))
    for student, expected in graded_sample_class.expected.items():
        row = rows[student]
        assert float(row[ASSIGNMENT]) == pytest.approx(float(nbgrader_rows[student]["score"]))
        assert float(row[ASSIGNMENT]) == pytest.approx(sum(expected.values()))
        assert float(row[f"{ASSIGNMENT} max"]) == pytest.approx(
            float(nbgrader_rows[student]["max_score"])
        )
        per_notebook = [float(row[f"{ASSIGNMENT}/{name}"]) for name in notebooks]
        assert sum(per_notebook) == pytest.approx(sum(expected.values()))
        for name in notebooks:
            wanted = sum(v for key, v in expected.items() if key.startswith(f"{name}/"))
            assert float(row[f"{ASSIGNMENT}/{name}"]) == pytest.approx(wanted), (student, name)
        written = any(graded_sample_class.manual.get(student, {}).values())
        assert row[f"{ASSIGNMENT} needs manual grade"] == ("yes" if written else "no")

    # A TA grades one written answer in formgrader: the export counts it.
    student = "correct_plain"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        grade = gradebook.find_grade(
            "explain_saturation", "04_softsign_vs_tanh", ASSIGNMENT, student
        )
        grade.manual_score = 1.5
        grade.needs_manual_grade = False  # as formgrader's PUT api/grade/ID does
        gradebook.db.commit()
    again = _lms_export(course, tmp_path / "lms-again.csv")
    before = float(rows[student][ASSIGNMENT])
    assert float(again[student][ASSIGNMENT]) == pytest.approx(before + 1.5)
    assert float(again[student][f"{ASSIGNMENT}/04_softsign_vs_tanh"]) == pytest.approx(
        float(rows[student][f"{ASSIGNMENT}/04_softsign_vs_tanh"]) + 1.5
    )
    assert again[student][f"{ASSIGNMENT} needs manual grade"] == "no"

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        header, canvas = export_rows(
            gradebook, [ASSIGNMENT], column_names={ASSIGNMENT: "softsign (12345)"}, id_column="ID"
        )
        with pytest.raises(ValueError, match="no assignment week9"):
            export_rows(gradebook, ["week9"])
    assert header[0] == "ID"
    assert header[4] == "softsign (12345)"
    assert {row["ID"]: row["softsign (12345)"] for row in canvas} == {
        student: row[ASSIGNMENT] for student, row in again.items()
    }


# --------------------------------------------------------------------------- late work


@pytest.fixture
def late_course(late_template, tmp_path) -> Path:
    return shutil.copytree(late_template, tmp_path / "course")


def test_the_notebook_columns_sum_to_the_penalised_total(late_course):
    url = f"sqlite:///{late_course / 'gradebook.db'}"
    grade_essay(url, "late", 2.0)  # after autograding: the stored penalty is stale
    with Gradebook(url, ASSIGNMENT) as gradebook:
        header, rows = export_rows(gradebook, [ASSIGNMENT], policy=PerDayLatePenalty())
        _, ids_and_totals = export_rows(
            gradebook,
            [ASSIGNMENT],
            column_names={ASSIGNMENT: "softsign (12345)"},
            id_column="ID",
            policy=PerDayLatePenalty(),
            total_only=True,
        )
    assert header == [
        *("student_id", "last_name", "first_name", "email"),
        *(ASSIGNMENT, f"{ASSIGNMENT} max", f"{ASSIGNMENT} late penalty"),
        *(f"{ASSIGNMENT} needs manual grade", f"{ASSIGNMENT}/a", f"{ASSIGNMENT}/b"),
    ]
    late, on_time = rows
    # 7 points, 20 % late: 5.6, of which notebook a 3 - 0.6 and notebook b 4 - 0.8
    assert float(late[ASSIGNMENT]) == pytest.approx(5.6)
    assert float(late[f"{ASSIGNMENT} late penalty"]) == pytest.approx(1.4)
    assert float(late[f"{ASSIGNMENT}/a"]) == pytest.approx(2.4)
    assert float(late[f"{ASSIGNMENT}/b"]) == pytest.approx(3.2)
    for row in rows:
        columns = float(row[f"{ASSIGNMENT}/a"]) + float(row[f"{ASSIGNMENT}/b"])
        assert columns == pytest.approx(float(row[ASSIGNMENT]))
    assert float(on_time[ASSIGNMENT]) == pytest.approx(5.0)  # the essay is not graded yet
    assert on_time[f"{ASSIGNMENT} needs manual grade"] == "yes"
    assert ids_and_totals == [
        {"ID": "late", "softsign (12345)": "5.6"},
        {"ID": "on_time", "softsign (12345)": "5"},
    ]


@pytest.mark.slow
def test_every_export_penalises_a_later_manual_grade(late_course, nbgrader_env, tmp_path):
    """The LMS export, ``nbgrader export`` and ``late apply`` all count the new total."""
    course = late_course
    url = f"sqlite:///{course / 'gradebook.db'}"
    grade_essay(url, "late", 2.0)
    lms = _run_module("softsign_grader.lms", "export", ASSIGNMENT, "--total-only", cwd=course)
    assert "Updated 1 late penalties" in lms.stderr
    with (course / "lms_grades.csv").open(newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["student_id", ASSIGNMENT],
            ["late", "5.6"],
            ["on_time", "5"],
        ]
    # The stored penalty is now the current one: plain nbgrader export agrees.
    grades = tmp_path / "grades.csv"
    run_nbgrader(["export", "--to", str(grades)], course, env=nbgrader_env)
    with grades.open(newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["late"]["score"]) == pytest.approx(5.6)

    # A second manual grade: LateCsvExportPlugin (nbgrader export) and `late apply` catch it.
    grade_essay(url, "late", 1.0)
    run_nbgrader(
        ["export", f"--exporter={LATE_EXPORTER}", "--to", str(grades)], course, env=nbgrader_env
    )
    with grades.open(newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["late"]["score"]) == pytest.approx(6 * 0.8)
    grade_essay(url, "late", 0.0)
    applied = _run_module("softsign_grader.late", "--course", course, "apply", ASSIGNMENT)
    assert f"{ASSIGNMENT}: 1 late penalties updated" in applied.stdout
    with Gradebook(url, ASSIGNMENT) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "late")
        assert submission.late_submission_penalty == pytest.approx(0.2 * 5)
