"""``softsign-grade feedback``: parallel feedback, the same pages as nbgrader's, only when due.

One real run proves the plumbing: ``make grade-demo``'s program grades two sample
students with two parallel workers and writes their feedback with two more; the pages
exist, they are the files plain ``nbgrader generate_feedback`` writes for the same
class, and a rerun writes nothing. The two (right and wrong work) submit notebook 01
only (the demo's ``--submissions``): the plumbing is the same for every notebook, and
how the whole sample class grades is the session's serial run's test. Which students
are due is decided in process, on files alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, load_course, make_course, run_nbgrader, tool_path_env
from softsign_grader.feedback_run import due_for_feedback
from softsign_grader.sample_class import SUBMISSIONS_FOLDER

#: Right work, and softsign without its absolute value (a mistake in notebook 01).
STUDENTS = ["correct_branches", "mistake_missing_abs"]
#: The one notebook they submit (the others are "No submitted file").
NOTEBOOK = "01_softsign_definition"


def _light_students(folder: Path) -> Path:
    """The sample students :data:`STUDENTS`, submitting :data:`NOTEBOOK` only, in ``folder``."""
    others = sorted(path.stem for path in (REPO_ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
    others.remove(NOTEBOOK)
    folder.mkdir()
    for student in STUDENTS:
        text = (REPO_ROOT / SUBMISSIONS_FOLDER / f"{student}.toml").read_text()
        assert "[actions]" not in text, f"{student} has actions of its own"
        missing = f"\n[actions]\nmissing = {json.dumps(others)}\n"
        (folder / f"{student}.toml").write_text(text + missing)
    return folder


def _run(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ARGS`` in ``course``, as an instructor runs it."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=900,
        env=tool_path_env(),
        check=False,
    )


def _pages(course: Path) -> dict[str, bytes]:
    """Every file under ``feedback/``, by path relative to it, with the course root blanked."""
    root = course / "feedback"
    return {
        str(path.relative_to(root)): path.read_bytes().replace(str(course).encode(), b"COURSE")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.slow
def test_the_demo_grades_and_writes_nbgraders_feedback_in_parallel_once(
    tmp_path: Path, nbgrader_env: dict[str, str]
) -> None:
    course = tmp_path / "demo"
    submissions = _light_students(tmp_path / "submissions")
    demo = ("softsign_grader.demo", "--course-root", str(REPO_ROOT), "--dest", str(course))
    first = _run(REPO_ROOT, *demo, "--submissions", str(submissions), "--jobs", "2", *STUDENTS)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "graded 2, failed 0, unchanged 0" in first.stdout, first.stdout
    assert "with 2 workers" in first.stdout
    assert "feedback: written for 2 students" in first.stdout
    assert "s of wall time per notebook" in first.stdout
    assert "every cell has its expected score" in first.stdout
    plain = tmp_path / "plain"
    shutil.copytree(course, plain, ignore=shutil.ignore_patterns("feedback"))
    run_nbgrader(["generate_feedback", ASSIGNMENT], plain, env=nbgrader_env)

    pages = _pages(course)
    assert any(name.endswith(".html") for name in pages)
    assert {name.split("/")[0] for name in pages} == set(STUDENTS)
    assert {name.rsplit("/", 1)[-1] for name in pages} == {f"{NOTEBOOK}.html"}
    assert pages.keys() == _pages(plain).keys()
    assert pages == _pages(plain)

    times = {p: p.stat().st_mtime_ns for p in (course / "feedback").rglob("*.html")}
    again = _run(course, "softsign_grader.cli", "feedback", ASSIGNMENT, "--jobs", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "written for 0 students (0 notebooks), failed 0, up to date 2" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in times} == times

    # A TA's comment entered after the feedback makes that student due again, alone.
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, STUDENTS[1])
        (notebook,) = [n for n in submission.notebooks if n.name == NOTEBOOK]
        notebook.comments[0].manual_comment = "See the sign at x < 0."
        gradebook.db.commit()
    third = _run(course, "softsign_grader.cli", "feedback", ASSIGNMENT, "--jobs", "2")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "written for 1 students" in third.stdout
    assert "up to date 1" in third.stdout
    page = course / "feedback" / STUDENTS[1] / ASSIGNMENT
    assert any("See the sign at x &lt; 0." in f.read_text() for f in page.glob("*.html"))


def _touch(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    os.utime(path, (seconds, seconds))


def test_only_students_with_missing_or_older_pages_are_due(tmp_path: Path) -> None:
    course_root = make_course(tmp_path / "course", release=False)
    for student in ("current", "older", "missing", ".parallel_grading"):
        _touch(course_root / "autograded" / student / ASSIGNMENT / "a.ipynb", 100)
        _touch(course_root / "autograded" / student / ASSIGNMENT / "b.ipynb", 100)
    for student, seconds in (("current", 200), ("older", 200), ("missing", 200)):
        _touch(course_root / "feedback" / student / ASSIGNMENT / "a.html", seconds)
        _touch(course_root / "feedback" / student / ASSIGNMENT / "b.html", seconds)
    (course_root / "feedback" / "missing" / ASSIGNMENT / "b.html").unlink()
    _touch(course_root / "autograded" / "older" / ASSIGNMENT / "b.ipynb", 300)  # regraded
    (course_root / "autograded" / "other_assignment_only" / "week2").mkdir(parents=True)

    due, current = due_for_feedback(load_course(course_root), ASSIGNMENT)

    assert due == ["missing", "older"]
    assert current == ["current"]
