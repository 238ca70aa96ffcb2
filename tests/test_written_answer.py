"""The written answer of notebook 04: graded by hand, shown to formgrader, never lost.

``explain_saturation`` is a markdown cell with nbgrader ``grade`` and
``solution``: the instructor version holds a model answer and a rubric in
its solution region, the student version "YOUR ANSWER HERE". nbgrader gives
an answered cell no automatic score and flags it for a manual grade; the
tests read that through ``NbGraderAPI``, the API formgrader's pages use, after
grading with the real ``softsign-grade`` CLI, then enter a grade as formgrader
does and check that a forced regrade keeps it. The grade is entered through a
real formgrader: a Jupyter server started in the course root, called over HTTP
as formgrader's pages call it (``/formgrader/api/...``); its submission page shows
the rubric under the answer, for graders only (``tests/test_rubric.py`` has the rest).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import copy_released, run_softsign_grade
from nbgrader.api import Gradebook
from repo_root import REPO_ROOT

from softsign_grader.course import (
    ASSIGNMENT,
    course_id,
    run_nbgrader,
    tool_path_env,
)
from softsign_grader.release import generate_student_notebooks
from softsign_grader.sample_class import build_sample_class

NOTEBOOK = "04_softsign_vs_tanh"
GRADE_ID = "explain_saturation"
METADATA = {
    "grade": True,
    "solution": True,
    "task": False,
    "locked": False,
    "points": 2,
    "grade_id": GRADE_ID,
    "schema_version": 3,
}


def _written(notebook: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [
        (index, cell)
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("grade")
    ]


def test_the_instructor_notebook_has_one_written_answer_with_a_rubric():
    notebooks = sorted((REPO_ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
    written = {path.stem: _written(nbformat.read(path, as_version=4)) for path in notebooks}
    assert {name: len(cells) for name, cells in written.items() if cells} == {NOTEBOOK: 1}
    notebook = nbformat.read(REPO_ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    ((index, cell),) = written[NOTEBOOK]
    assert cell.metadata["nbgrader"] == METADATA
    region = re.fullmatch(r"### BEGIN SOLUTION\n(.*)\n### END SOLUTION", cell.source, re.S)
    assert region, "the whole answer cell is the solution region"
    assert "Model answer" in region[1]
    assert "Rubric (2 points)" in region[1]
    heading = notebook.cells[index - 1]
    assert heading.cell_type == "markdown"
    assert re.match(r"## Exercise \d+: .*\(2 points, graded by hand\)", heading.source)
    assert "three sentences" in heading.source


@pytest.mark.slow
def test_the_student_sees_an_empty_answer_and_no_rubric(tmp_path):
    generate_student_notebooks(tmp_path)
    student = nbformat.read(tmp_path / f"{NOTEBOOK}.ipynb", as_version=4)
    ((_, cell),) = _written(student)
    assert cell.source == "YOUR ANSWER HERE"
    assert cell.metadata["nbgrader"]["grade_id"] == GRADE_ID
    text = json.dumps(student)
    assert "Rubric" not in text
    assert "Model answer" not in text


def _softsign_grade(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_softsign_grade(course, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _formgrader_api(course: Path):  # type: ignore[no-untyped-def]
    """The ``NbGraderAPI`` formgrader builds for this course (with an exchange of its own)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", str(course)).load_config()
    (course / "exchange").mkdir(exist_ok=True)
    config.Exchange.root = str(course / "exchange")
    coursedir = CourseDirectory(config=config, root=str(course))
    return NbGraderAPI(coursedir=coursedir, config=config)


class Formgrader:
    """A Jupyter server with nbgrader's formgrader, started in a course root."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call formgrader's API and return the decoded JSON reply."""
        request = urllib.request.Request(
            f"{self.url}/formgrader/api/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read())

    def page(self, path: str) -> str:
        """Return the HTML of a formgrader page, e.g. ``submissions/<id>/`` (a TA's view)."""
        request = urllib.request.Request(
            f"{self.url}/formgrader/{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            return str(reply.read().decode())


@contextlib.contextmanager
def formgrader(course: Path, home: Path) -> Iterator[Formgrader]:
    """Start ``jupyter server`` in ``course`` (formgrader's course root) and stop it after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = tool_path_env()
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        folder = home / variable.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[variable] = str(folder)
    env["HOME"] = str(home)
    log = home / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "server",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={course}",
                f"--IdentityProvider.token={token}",
                f"--Exchange.root={home / 'exchange'}",
            ],
            cwd=course,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Formgrader(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                server.call("GET", "status")
                break
            except (OSError, urllib.error.URLError):
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.5)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _state(course: Path, student: str) -> dict[str, object]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        grade = gradebook.find_grade(GRADE_ID, NOTEBOOK, ASSIGNMENT, student)
        comment = gradebook.find_comment(GRADE_ID, NOTEBOOK, ASSIGNMENT, student)
        submission = gradebook.find_submission(ASSIGNMENT, student)
        return {
            "auto_score": grade.auto_score,
            "manual_score": grade.manual_score,
            "extra_credit": grade.extra_credit,
            "needs_manual_grade": bool(grade.needs_manual_grade),
            "manual_comment": comment.manual_comment,
            "total": submission.score,
        }


@pytest.mark.slow
def test_formgrader_asks_for_the_grade_and_regrading_keeps_it(
    tmp_path, nbgrader_env, released_template
):
    course = copy_released(released_template, tmp_path / "course")
    students = ["correct_plain", "untouched"]
    build_sample_class(course, students)
    for student in students:
        for path in (course / "submitted" / student / ASSIGNMENT).glob("*.ipynb"):
            if path.stem != NOTEBOOK:
                path.unlink()

    _softsign_grade(course, ASSIGNMENT, "--jobs", "2")

    api = _formgrader_api(course)
    listed = {
        entry["student"]: entry for entry in api.get_notebook_submissions(ASSIGNMENT, NOTEBOOK)
    }
    assert listed["correct_plain"]["needs_manual_grade"] is True
    assert listed["untouched"]["needs_manual_grade"] is False  # unchanged: 0, nothing to read
    assert api.get_submission(ASSIGNMENT, "correct_plain")["needs_manual_grade"] is True
    answered = _state(course, "correct_plain")
    assert answered["auto_score"] is None
    assert answered["needs_manual_grade"] is True
    assert answered["total"] == 6.0  # the two autograded exercises; the answer counts 0 so far
    untouched = _state(course, "untouched")
    assert (untouched["auto_score"], untouched["needs_manual_grade"]) == (0.0, False)

    # A TA grades the answer in formgrader, whose pages call these API handlers.
    with formgrader(course, tmp_path / "jupyter") as server:
        listed = {
            entry["student"]: entry
            for entry in server.call("GET", f"submitted_notebooks/{ASSIGNMENT}/{NOTEBOOK}")
        }
        assert listed["correct_plain"]["needs_manual_grade"] is True
        assert listed["untouched"]["needs_manual_grade"] is False
        submission = listed["correct_plain"]["id"]
        # The TA sees the instructor notebook's model answer and rubric under the answer,
        # marked for graders only, its math as MathML (softsign_grader.rubric).
        page = server.page(f"submissions/{submission}/")
        panel = page[page.index('id="explain_saturation-comment"') :]
        panel = panel[panel.index("softsign-rubric") :]
        assert "For graders only" in panel[:400]
        assert "Rubric (2 points)" in panel
        assert "<math" in panel
        assert "$" not in panel[: panel.index("</aside>")]
        grades = server.call("GET", f"grades?submission_id={submission}")
        (grade,) = [g for g in grades if g["name"] == GRADE_ID]
        assert (grade["auto_score"], grade["max_score"]) == (None, 2.0)
        comments = server.call("GET", f"comments?submission_id={submission}")
        (comment,) = [c for c in comments if c["name"] == GRADE_ID]
        server.call("PUT", f"grade/{grade['id']}", {"manual_score": 1.5, "extra_credit": 0.25})
        server.call(
            "PUT",
            f"comment/{comment['id']}",
            {"manual_comment": "Right rates; say what it means for learning."},
        )
    graded = _state(course, "correct_plain")
    assert graded["needs_manual_grade"] is False
    assert graded["total"] == 7.75

    _softsign_grade(course, ASSIGNMENT, "--jobs", "2", "--force")
    regraded = _state(course, "correct_plain")
    # The grade, extra credit and comment survive, and so does "graded": the answer's
    # source is unchanged (KeepGradedAnswers), so the TA's work is not flagged again.
    assert regraded == graded
    listed = {
        entry["student"]: entry
        for entry in _formgrader_api(course).get_notebook_submissions(ASSIGNMENT, NOTEBOOK)
    }
    assert listed["correct_plain"]["score"] == 7.75
    assert listed["correct_plain"]["needs_manual_grade"] is False

    # Plain nbgrader leaves the same state.
    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    assert _state(course, "correct_plain") == regraded
