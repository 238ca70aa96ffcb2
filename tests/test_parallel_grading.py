"""Parallel autograding leaves the gradebook that serial ``nbgrader autograde`` leaves.

Two classes are graded here, both through real nbgrader:

- a tiny class of a two-notebook assignment written below, with its own minimal
  nbgrader configuration, whose students include a dead kernel, a notebook that is
  not JSON and a submission too slow for the per-student time limit: it checks
  failure isolation, re-grading only what changed, and ``nbgrader export``;
- the course's sample class (``source_lib.instructor.sample_class``), graded serially once by
  the session fixture ``graded_sample_class`` and here again in parallel, in one
  run and in two shards merged afterwards: every cell of every student must get
  the same score.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from source_lib.instructor.course import ASSIGNMENT, run_nbgrader
from source_lib.instructor.parallel_grading import (
    parse_shard,
    shard_students,
    submission_fingerprint,
)

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = {
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
}


# --------------------------------------------------------------------------- helpers


def softsign_grade() -> list[str]:
    """The ``softsign-grade`` console script (or the module, if the script is not installed)."""
    script = Path(sys.executable).with_name("softsign-grade")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "source_lib.instructor.parallel_grading"]


def grade_command(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``softsign-grade ARGS`` on ``course``."""
    return subprocess.run(
        [*softsign_grade(), *args, "--course-root", str(course), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **NBGRADER_ENV},
        check=False,
    )


def gradebook_state(course: Path, students: set[str] | None = None) -> dict:
    """Everything autograding writes to the gradebook, per student, as plain data."""
    from nbgrader.api import Gradebook

    state = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            if students is not None and submission.student_id not in students:
                continue
            entry = {"timestamp": submission.timestamp, "extension": submission.extension}
            for notebook in submission.notebooks:
                entry[notebook.name] = (notebook.flagged, notebook.late_submission_penalty)
                for grade in notebook.grades:
                    entry[f"{notebook.name}/{grade.name}"] = (
                        grade.auto_score,
                        grade.manual_score,
                        grade.extra_credit,
                        grade.needs_manual_grade,
                    )
                for comment in notebook.comments:
                    entry[f"{notebook.name}/{comment.name}/comment"] = (
                        comment.auto_comment,
                        comment.manual_comment,
                    )
            state[submission.student_id] = entry
    return state


def scores(course: Path, students: set[str] | None = None) -> dict[str, dict[str, float]]:
    """Score of every grade cell of every student: ``{student: {notebook/grade_id: points}}``."""
    return {
        student: {key: values[0] for key, values in entry.items() if key.count("/") == 1 and values}
        for student, entry in gradebook_state(course, students).items()
    }


def autograded_files(course: Path) -> dict[str, list[str]]:
    """The files nbgrader left in ``autograded/``, per student."""
    root = course / "autograded"
    return {
        folder.name: sorted(p.name for p in (folder / ASSIGNMENT).iterdir())
        for folder in sorted(root.iterdir())
        if (folder / ASSIGNMENT).is_dir() and not folder.name.startswith(".")
    }


def remove_submissions(course: Path) -> None:
    """Forget every student: the gradebook as ``nbgrader generate_assignment`` left it."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT) as gradebook:
        for student in gradebook.students:
            gradebook.remove_student(student.id)
    shutil.rmtree(course / "autograded", ignore_errors=True)
    shutil.rmtree(course / "feedback", ignore_errors=True)


# --------------------------------------------------------------------------- a tiny class

TINY_CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "softsign"
c.CourseDirectory.source_directory = "solutions"
c.Execute.timeout = 10
"""


def _cell(kind: str, source: str, cell_id: str, **nbgrader) -> nbformat.NotebookNode:
    metadata = {
        "grade": False,
        "grade_id": cell_id,
        "locked": False,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    metadata.update(nbgrader)
    make = new_code_cell if kind == "code" else new_markdown_cell
    return make(source, metadata={"nbgrader": metadata}, id=cell_id)


def _tiny_notebook(name: str, body: str) -> nbformat.NotebookNode:
    notebook = new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.cells = [
        _cell("markdown", f"# {name}", f"{name}-intro", locked=True),
        _cell("code", "import numpy as np", f"{name}-setup", locked=True),
        _cell(
            "code",
            f'def {name}(x):\n    """Exercise."""\n    ### BEGIN SOLUTION\n{body}\n'
            "    ### END SOLUTION",
            f"{name}_solution",
            solution=True,
        ),
        _cell(
            "code",
            f"assert np.isclose({name}(1.0), 0.5)",
            f"test_{name}_one",
            grade=True,
            locked=True,
            points=2,
        ),
        _cell(
            "code",
            f"assert np.isclose({name}(-3.0), -0.75)",
            f"test_{name}_negative",
            grade=True,
            locked=True,
            points=1,
        ),
    ]
    return notebook


def _answer(path: Path, body: str) -> None:
    """Put ``body`` where the student notebook says ``raise NotImplementedError()``."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("raise NotImplementedError()", body.strip())
    nbformat.write(notebook, path)


RIGHT = "return x / (1 + np.abs(x))"
WRONG = "return x / (1 + x)"

#: Student -> (answer to notebook 01, answer to notebook 02); None leaves it untouched.
TINY_STUDENTS = {
    "ada": (RIGHT, RIGHT),
    "ben": (RIGHT, WRONG),
    "cy": (None, None),
    "dee": ("import os\n    os._exit(1)", RIGHT),  # the kernel dies
    "eve": (RIGHT, "not JSON"),  # notebook 02 is not a notebook at all
}


def build_tiny_class(root: Path) -> Path:
    """A two-notebook assignment, released with real nbgrader, and five submissions."""
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(TINY_CONFIG)
    for name in ("one", "two"):
        nbformat.write(
            _tiny_notebook(name, f"    {RIGHT}"),
            root / "solutions" / ASSIGNMENT / f"0{'12'[name == 'two']}_{name}.ipynb",
        )
    run_nbgrader(["generate_assignment", ASSIGNMENT], root, env=NBGRADER_ENV)
    released = root / "release" / ASSIGNMENT
    for student, answers in TINY_STUDENTS.items():
        folder = root / "submitted" / student / ASSIGNMENT
        shutil.copytree(released, folder)
        (folder / "timestamp.txt").write_text("2024-05-01 12:00:00.000000 UTC")
        for notebook, answer in zip(sorted(folder.glob("*.ipynb")), answers, strict=True):
            if answer == "not JSON":
                notebook.write_text("{ this is not a notebook")
            elif answer is not None:
                _answer(notebook, answer)
    return root


@pytest.fixture(scope="module")
def tiny_class(tmp_path_factory) -> dict[str, Path]:
    """The tiny class graded twice: serially by plain nbgrader and in parallel."""
    base = tmp_path_factory.mktemp("tiny")
    original = build_tiny_class(base / "original")
    serial = base / "serial"
    parallel = base / "parallel"
    shutil.copytree(original, serial, symlinks=True)
    shutil.copytree(original, parallel, symlinks=True)
    result = run_nbgrader(["autograde", ASSIGNMENT], serial, check=False, env=NBGRADER_ENV)
    (base / "serial.log").write_text(result.stderr)
    result = grade_command(parallel, ASSIGNMENT, "--jobs", "2")
    (base / "parallel.log").write_text(result.stdout + result.stderr)
    return {"original": original, "serial": serial, "parallel": parallel, "base": base}


# --------------------------------------------------------------------------- pure functions


def test_parse_shard_reads_i_of_n():
    assert parse_shard("1/1") == (1, 1)
    assert parse_shard(" 3 / 8 ") == (3, 8)
    for bad in ("0/4", "5/4", "2", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)


def test_shards_partition_the_class_whatever_the_order():
    students = [f"student{i:03d}" for i in range(23)]
    shards = [shard_students(students[::-1], index, 4) for index in range(1, 5)]
    assert sorted(s for shard in shards for s in shard) == students
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shards[0] == shard_students(sorted(students), 1, 4)


def test_fingerprint_changes_with_every_file_and_ignores_checkpoints(tmp_path):
    (tmp_path / "01.ipynb").write_text("{}")
    first = submission_fingerprint(tmp_path, [".ipynb_checkpoints"])
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "01-checkpoint.ipynb").write_text("{ }")
    assert submission_fingerprint(tmp_path, [".ipynb_checkpoints"]) == first
    assert submission_fingerprint(tmp_path, [".ipynb_checkpoints"], salt="v2") != first
    (tmp_path / "01.ipynb").write_text("{ }")
    edited = submission_fingerprint(tmp_path, [".ipynb_checkpoints"])
    assert edited != first
    (tmp_path / "01.ipynb").rename(tmp_path / "02.ipynb")
    assert submission_fingerprint(tmp_path, [".ipynb_checkpoints"]) not in {first, edited}


# --------------------------------------------------------------------------- the tiny class


def test_parallel_gradebook_is_the_serial_gradebook(tiny_class):
    serial, parallel = tiny_class["serial"], tiny_class["parallel"]
    assert gradebook_state(parallel) == gradebook_state(serial)
    assert set(gradebook_state(serial)) == set(TINY_STUDENTS)
    points = scores(parallel)
    assert sum(points["ada"].values()) == 6
    assert sum(points["ben"].values()) == 3 + 2  # x / (1 + x) is right at 1, wrong at -3
    assert sum(points["cy"].values()) == 0
    assert autograded_files(parallel) == autograded_files(serial)


def test_a_broken_submission_fails_that_student_only(tiny_class):
    log = (tiny_class["base"] / "parallel.log").read_text()
    serial_log = (tiny_class["base"] / "serial.log").read_text()
    for student in ("dee", "eve"):
        assert f"for student '{student}'" in serial_log  # plain nbgrader fails them too
    assert "graded 3, failed 2, unchanged 0" in log
    failures = log.split("Failed:")[1]
    assert "dee" in failures
    assert "01_one.ipynb: DeadKernelError" in failures
    assert "eve" in failures
    assert "02_two.ipynb: NotJSONError" in failures
    assert set(autograded_files(tiny_class["parallel"])) == {"ada", "ben", "cy"}


def test_export_sees_what_it_sees_after_serial_grading(tiny_class):
    tables = []
    for course in (tiny_class["serial"], tiny_class["parallel"]):
        run_nbgrader(["export"], course, env=NBGRADER_ENV)
        with open(course / "grades.csv", newline="") as handle:
            tables.append(sorted(csv.DictReader(handle), key=lambda row: row["student_id"]))
    assert tables[0] == tables[1]
    assert len(tables[0]) == len(TINY_STUDENTS)


def test_rerun_grades_only_new_or_changed_submissions(tiny_class, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(tiny_class["parallel"], course, symlinks=True)
    again = grade_command(course, ASSIGNMENT, "--student", "[a-d]*")
    assert "graded 0, failed 1, unchanged 3" in again.stdout  # a failure is tried again
    corrected = course / "submitted" / "ben" / ASSIGNMENT / "02_two.ipynb"
    notebook = nbformat.read(corrected, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace(WRONG, RIGHT)
    nbformat.write(notebook, corrected)
    changed = grade_command(course, ASSIGNMENT, "--student", "[a-c]*")
    assert "graded 1, failed 0, unchanged 2" in changed.stdout
    assert sum(scores(course)["ben"].values()) == 6
    forced = grade_command(course, ASSIGNMENT, "--force", "--jobs", "1", "--student", "[ab]*")
    assert "graded 2, failed 0, unchanged 0" in forced.stdout


def test_a_submission_over_the_time_limit_is_stopped(tiny_class, tmp_path):
    build = tmp_path / "course"
    shutil.copytree(tiny_class["original"], build, symlinks=True)
    shutil.rmtree(build / "submitted")
    released = build / "release" / ASSIGNMENT
    for student, answer in (("ann", "import time\n    time.sleep(8)\n    " + RIGHT), ("bo", RIGHT)):
        folder = build / "submitted" / student / ASSIGNMENT
        shutil.copytree(released, folder)
        for notebook in folder.glob("*.ipynb"):
            _answer(notebook, answer)
    result = grade_command(build, ASSIGNMENT, "--jobs", "1", "--student-timeout", "4")
    assert result.returncode == 1, result.stderr
    assert "graded 1, failed 1" in result.stdout
    assert "ann  grading took longer than 4 s" in result.stdout
    assert sum(scores(build)["bo"].values()) == 6


def test_a_course_without_gradebook_is_refused(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(TINY_CONFIG)
    result = grade_command(tmp_path, ASSIGNMENT)
    assert result.returncode == 2
    assert "generate_assignment" in result.stderr
    assert not (tmp_path / "gradebook.db").exists()


# --------------------------------------------------------------------------- the sample class


def ungraded_copy(graded_class, dest: Path, students: list[str] | None = None) -> Path:
    """Copy the serially graded sample class as it was before grading, to grade it again.

    Submissions stay; the gradebook keeps the assignment but forgets every student,
    and ``autograded/`` goes, so nothing of the serial run can leak into the result.
    """
    shutil.copytree(
        graded_class.course,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns("autograded", "feedback", "grades.csv"),
    )
    if students is not None:
        for folder in (dest / "submitted").iterdir():
            if folder.name not in students:
                shutil.rmtree(folder)
    remove_submissions(dest)
    assert gradebook_state(dest) == {}
    return dest


@pytest.mark.slow
def test_sample_class_parallel_scores_equal_serial(graded_sample_class, tmp_path):
    serial = graded_sample_class.course
    course = ungraded_copy(graded_sample_class, tmp_path / "course")
    result = grade_command(course, ASSIGNMENT, "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"graded {len(graded_sample_class.expected)}, failed 0" in result.stdout
    assert scores(course) == scores(serial)
    assert gradebook_state(course) == gradebook_state(serial)
    assert autograded_files(course) == autograded_files(serial)
    for student, expected in graded_sample_class.expected.items():
        for key, points in expected.items():
            assert scores(course, {student})[student][key] == pytest.approx(points), (student, key)


#: A few sample students for the shard test: a broken file, right, wrong and untouched work.
SHARD_STUDENTS = ["broken_files", "correct_branches", "mistake_missing_abs", "untouched"]


@pytest.mark.slow
def test_two_shards_merged_equal_serial(graded_sample_class, tmp_path):
    students = [s for s in SHARD_STUDENTS if s in graded_sample_class.expected]
    course = ungraded_copy(graded_sample_class, tmp_path / "course", students)
    # Two "machines" at once, one worker each, on the same course folder.
    shards = [
        subprocess.Popen(
            [*softsign_grade(), ASSIGNMENT, "--shard", f"{index}/2", "--jobs", "1"],
            cwd=course,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **NBGRADER_ENV},
        )
        for index in (1, 2)
    ]
    outputs = [shard.communicate(timeout=900)[0] for shard in shards]
    for index, (shard, output) in enumerate(zip(shards, outputs, strict=True), start=1):
        assert shard.returncode == 0, output
        assert f"(shard {index}/2): graded {len(shard_students(students, index, 2))}" in output
    assert gradebook_state(course) == {}  # shards leave the course gradebook alone

    early = grade_command(course, "merge", ASSIGNMENT, "--shards", "3")
    assert early.returncode == 2
    assert "3/3 have not finished; nothing was merged" in early.stderr
    assert gradebook_state(course) == {}

    merged = grade_command(course, "merge", ASSIGNMENT, "--shards", "2")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert f"graded {len(students)}, failed 0" in merged.stdout
    serial = graded_sample_class.course
    assert scores(course) == scores(serial, set(students))
    assert gradebook_state(course) == gradebook_state(serial, set(students))
    assert autograded_files(course) == {
        student: files for student, files in autograded_files(serial).items() if student in students
    }
    again = grade_command(course, ASSIGNMENT)
    assert f"graded 0, failed 0, unchanged {len(students)}" in again.stdout


def test_the_summary_warns_when_kernels_are_not_isolated(monkeypatch):
    from source_lib.instructor.parallel_grading import RunSummary

    summary = RunSummary("softsign", [], [], 1.0, 2)
    monkeypatch.setenv("SOFTSIGN_SANDBOX", "off")
    assert "grading kernels are NOT isolated" in summary.render()
