"""The rubric beside a written answer: for the TA in formgrader, never for the student.

A course of one minimal assignment: its instructor notebook has two hand-graded
markdown answers (one with a solution region, one that is a solution as a whole),
their model answers and rubrics written with TeX. The fast tests cover the pure
parts and render a submission in-process exactly as formgrader does (its own
``FormgradeExtension`` configuration, its ``HTMLExporter``). The slow test runs the
real thing: ``nbgrader generate_assignment`` and ``autograde``, a real formgrader
(a Jupyter server) serving the submission page, and the feedback of both
``nbgrader generate_feedback`` and ``softsign-grade feedback``; the rubric appears
only in formgrader's page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import nbgrader
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter
from nbformat import v4
from repo_root import REPO_ROOT
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from softsign_grader.course import run_nbgrader, tool_path_env
from softsign_grader.feedback import FeedbackExporter
from softsign_grader.rubric import (
    GRADERS_ONLY_KEY,
    GraderRubric,
    hand_graded_answers,
    insert_rubrics,
    solution_region,
)

ASSIGNMENT = "essay"
NOTEBOOK = "answers"
STUDENT = "alice"
#: The course's command, as installed (else its module).
SOFTSIGN_GRADE = (
    [str(Path(sys.executable).with_name("softsign-grade"))]
    if Path(sys.executable).with_name("softsign-grade").exists()
    else [sys.executable, "-m", "softsign_grader.cli"]
)
#: Phrases that only the instructor's solution regions hold.
RUBRIC_PHRASES = ("Marking scheme for graders", "Model answer for graders", "Second rubric")
WHY = (
    "### BEGIN SOLUTION\n"
    "**Model answer for graders.** The gap $1 - f(x) = \\frac{1}{1 + x}$ shrinks like "
    "$1/x$, tanh's like $e^{-2x}$.\n\n"
    "**Marking scheme for graders (2 points).**\n\n"
    "- 1 point: the rates, $x^{-1}$ against $e^{-2x}$.\n"
    "- 1 point: the consequence for the gradient.\n"
    "### END SOLUTION"
)
#: A written answer with no delimiters: nbgrader replaces the whole cell.
WHOLE = "**Second rubric.** One point for $\\tanh'(0) = 1$."
STUDENT_ANSWER = (
    "Softsign's gap closes like $1/x$ but tanh's like $e^{-2x}$, so $$f'(x)=\\frac{1}{(1+x)^2}$$"
)


def _answer_cell(source: str, grade_id: str, points: int = 2) -> nbformat.NotebookNode:
    cell = v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": True,
        "task": False,
        "locked": False,
        "points": points,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    return cell


def _instructor_notebook() -> nbformat.NotebookNode:
    notebook = v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        v4.new_markdown_cell("## Exercise 1: why $\\tanh$ saturates sooner (2 points)"),
        _answer_cell(WHY, "why_slow"),
        v4.new_markdown_cell("## Exercise 2: the slope at $0$ (1 point)"),
        _answer_cell(WHOLE, "slope_at_zero", points=1),
    ]
    return notebook


def _make_course(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    folder = root / "solutions" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(_instructor_notebook(), folder / f"{NOTEBOOK}.ipynb")
    return root


def _answered(release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with the student's answer to the first question (the second left blank)."""
    submitted = nbformat.from_dict(release)
    (first,) = [
        c for c in submitted.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "why_slow"
    ]
    first.source = STUDENT_ANSWER
    return submitted


def _submission() -> nbformat.NotebookNode:
    """A submission as formgrader reads it: released (no solution regions), then answered."""
    submitted = _answered(_instructor_notebook())
    for cell in submitted.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "slope_at_zero":
            cell.source = "YOUR ANSWER HERE"
    return submitted


def _formgrader_exporter(course: Path) -> HTMLExporter:
    """The exporter formgrader's server extension builds, from its own app in ``course``."""
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension

    here = os.getcwd()
    os.chdir(course)
    try:
        app = FormgradeExtension()
        app.initialize([])
        return HTMLExporter(config=app.config)  # as FormgradeExtension.init_tornado_settings
    finally:
        os.chdir(here)


def _resources(notebook: str = NOTEBOOK) -> dict[str, Any]:
    """The resources formgrader's ``SubmissionHandler`` passes to the exporter."""
    return {
        "assignment_id": ASSIGNMENT,
        "notebook_id": notebook,
        "submission_id": "abc",
        "index": 0,
        "total": 1,
        "base_url": "",
        "student": STUDENT,
        "last_name": "",
        "first_name": "",
        "notebook_path": f"autograded/{STUDENT}/{ASSIGNMENT}/{notebook}.ipynb",
    }


def _rendered_text(page: str) -> str:
    """The text of the rendered markdown of a page (the notebook's prose, not its code)."""
    soup = BeautifulSoup(page, "html.parser")
    parts = []
    for block in soup.select(".rendered_html"):
        for code in block.find_all(["code", "pre"]):
            code.decompose()
        parts.append(block.get_text(" "))
    return "\n".join(parts)


def _check_ta_page(page: str) -> None:
    """The answers, each followed by its graders-only rubric, all math MathML, none raw TeX."""
    soup = BeautifulSoup(page, "html.parser")
    answers = soup.select(".nbgrader_cell")
    panels = soup.select("aside.softsign-rubric")
    assert len(answers) == 2
    assert len(panels) == 2
    # Each rubric comes right after its answer's cell, in page order.
    order = [
        "answer" if "nbgrader_cell" in (tag.get("class") or []) else "rubric"
        for tag in soup.select(".nbgrader_cell, aside.softsign-rubric")
    ]
    assert order == ["answer", "rubric", "answer", "rubric"]
    first, second = panels
    heading = first.select_one(".panel-heading")
    assert heading is not None
    assert "For graders only" in heading.get_text()
    assert "why_slow" in heading.get_text()
    assert f"solutions/{ASSIGNMENT}/{NOTEBOOK}.ipynb" in heading.get_text()
    assert "Marking scheme for graders (2 points)" in first.get_text()
    assert "Second rubric" in second.get_text()
    assert first.find("mfrac") is not None  # \frac{1}{1 + x}
    assert first.find("msup") is not None  # e^{-2x}
    assert "\\frac" not in first.get_text()
    # The student's answer: its math too is MathML, inline and display.
    student = answers[0]
    maths = student.find_all("math")
    assert {m.get("display") for m in maths} == {"inline", "block"}
    # No raw TeX is left in any prose of the page (headings included).
    text = _rendered_text(page)
    assert "$" not in text
    assert "\\tanh" not in text
    assert "\\frac" not in text


# --- the pure parts -------------------------------------------------------------------


def test_the_solution_region_is_what_clear_solutions_replaces():
    assert solution_region(WHY).startswith("**Model answer for graders.**")
    assert solution_region(WHY).endswith("the consequence for the gradient.")
    assert solution_region(WHOLE) == WHOLE
    two = (
        "a\n### BEGIN SOLUTION\nfirst\n### END SOLUTION\n"
        "b\n  ## BEGIN SOLUTION\nsecond\n## END SOLUTION"
    )
    assert solution_region(two) == "first\n\nsecond"
    assert solution_region("<!-- START -->\nx\n<!-- STOP -->", "START", "STOP") == "x"
    assert solution_region("### BEGIN SOLUTION\n### END SOLUTION") == ""


def test_every_hand_graded_markdown_answer_and_only_those_has_a_rubric():
    notebook = _instructor_notebook()
    code_answer = v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    code_answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "code"}
    task = v4.new_markdown_cell("A task.")
    task.metadata["nbgrader"] = {"task": True, "grade": False, "solution": False, "grade_id": "t"}
    ungraded = v4.new_markdown_cell("Free text.")
    ungraded.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "free"}
    notebook.cells += [code_answer, task, ungraded]
    answers = hand_graded_answers(notebook)
    assert sorted(answers) == ["slope_at_zero", "why_slow"]
    assert answers["slope_at_zero"] == WHOLE
    assert "Marking scheme for graders" in answers["why_slow"]


def test_each_rubric_goes_right_under_its_answer_and_says_when_it_is_missing():
    release = _instructor_notebook()
    nb = insert_rubrics(nbformat.from_dict(release), {"why_slow": "R1"}, "sol/answers.ipynb")
    kinds = [
        (
            "rubric"
            if GRADERS_ONLY_KEY in c.metadata
            else c.metadata.get("nbgrader", {}).get("grade_id")
        )
        for c in nb.cells
    ]
    assert kinds == [None, "why_slow", "rubric", None, "slope_at_zero", "rubric"]
    assert nb.cells[2].source == "R1"
    assert "has no answer cell slope_at_zero" in nb.cells[5].source
    unread = insert_rubrics(nbformat.from_dict(release), None, "sol/answers.ipynb")
    assert "could not be read" in unread.cells[2].source
    # A graders-only cell never gets a rubric of its own, even if it is marked as an answer.
    odd = _answer_cell("R1", "why_slow")
    odd.metadata[GRADERS_ONLY_KEY] = {"label": "?"}
    assert len(insert_rubrics(v4.new_notebook(cells=[odd]), {"why_slow": "R1"}, "s").cells) == 1


def test_the_course_config_gives_formgrader_the_rubric_and_feedback_neither():
    config = PyFileConfigLoader("nbgrader_config.py", str(REPO_ROOT)).load_config()
    assert "softsign_grader.rubric.GraderRubric" in config.HTMLExporter.preprocessors
    assert config.HTMLExporter.filters["markdown2html"].startswith("softsign_grader.rubric.")
    feedback = FeedbackExporter(config=config)
    assert not any(isinstance(p, GraderRubric) for p in feedback._preprocessors)
    assert feedback.environment.filters["markdown2html"] == feedback.markdown2html
    plain = HTMLExporter(config=config)
    assert any(isinstance(p, GraderRubric) for p in plain._preprocessors)


def test_the_step_acts_only_in_formgrader(tmp_path):
    course = _make_course(tmp_path / "course")
    release = _submission()
    config = PyFileConfigLoader("nbgrader_config.py", str(course)).load_config()
    config.CourseDirectory.root = str(course)
    templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"
    config.HTMLExporter.extra_template_basedirs = [str(templates)]
    for template in ("lab", "classic", "feedback"):
        config.HTMLExporter.template_name = template
        step = GraderRubric(parent=HTMLExporter(config=config))
        nb, _ = step.preprocess(nbformat.from_dict(release), _resources())
        assert len(nb.cells) == len(release.cells), template
    config.HTMLExporter.template_name = "formgrade"
    inside = GraderRubric(parent=FeedbackExporter(config=config))
    nb, _ = inside.preprocess(nbformat.from_dict(release), _resources())
    assert len(nb.cells) == len(release.cells)
    formgrade = GraderRubric(parent=HTMLExporter(config=config))
    nb, _ = formgrade.preprocess(nbformat.from_dict(release), {"nbgrader": {}})
    assert len(nb.cells) == len(release.cells)  # generate_feedback's resources
    nb, _ = formgrade.preprocess(nbformat.from_dict(release), _resources())
    assert len(nb.cells) == len(release.cells) + 2


def test_a_student_cannot_pass_a_cell_of_their_own_off_as_the_rubric(tmp_path):
    course = _make_course(tmp_path / "course")
    submitted = _submission()
    fake = v4.new_markdown_cell("**Rubric.** Full marks for any answer.")
    fake.metadata[GRADERS_ONLY_KEY] = {"label": "Model answer and rubric of why_slow"}
    submitted.cells.insert(2, fake)
    path = course / "autograded" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(submitted, path)
    page, _ = _formgrader_exporter(course).from_filename(str(path), resources=_resources())
    soup = BeautifulSoup(page, "html.parser")
    panels = soup.select("aside.softsign-rubric")
    assert len(panels) == 2
    assert all("Full marks for any answer" not in panel.get_text() for panel in panels)
    assert "Full marks for any answer" in page  # shown, as the student's own text


def test_a_feedback_page_leaves_out_a_graders_only_cell():
    answers = hand_graded_answers(_instructor_notebook())
    nb = insert_rubrics(_submission(), answers, "s")
    assert sum(GRADERS_ONLY_KEY in cell.metadata for cell in nb.cells) == 2
    page, _ = FeedbackExporter(config=Config()).from_notebook_node(
        nb, resources={"nbgrader": {"notebook": NOTEBOOK, "score": 0, "max_score": 3}}
    )
    assert "softsign-rubric" not in page
    assert "Marking scheme for graders" not in page
    assert "For graders only" not in page


def test_formgrader_shows_the_rubric_under_the_answer_with_math_as_mathml(tmp_path):
    """Rendered in-process by formgrader's own app and exporter, as its submission page is."""
    course = _make_course(tmp_path / "course")
    submitted = _submission()
    path = course / "autograded" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(submitted, path)
    exporter = _formgrader_exporter(course)
    page, _ = exporter.from_filename(str(path), resources=_resources())
    _check_ta_page(page)
    # The instructor notebook is read again once it changes (an edited rubric shows at once).
    instructor = course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    notebook = nbformat.read(instructor, as_version=4)
    notebook.cells[3].source = "**Second rubric, revised.** Two points."
    nbformat.write(notebook, instructor)
    os.utime(instructor, ns=(1, 1))
    page, _ = exporter.from_filename(str(path), resources=_resources())
    assert "Second rubric, revised" in page
    # A notebook with no instructor copy says so where the rubric would be.
    page, _ = exporter.from_filename(str(path), resources=_resources("renamed"))
    assert "could not be read: no rubric to show" in page


# --- the real thing -------------------------------------------------------------------


def _no_rubric_in(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    for phrase in RUBRIC_PHRASES:
        assert phrase not in text, f"{phrase!r} in {path}"


@pytest.mark.slow
def test_the_ta_sees_the_rubric_and_the_student_never_does(tmp_path, nbgrader_env):
    from test_written_answer import formgrader

    course = _make_course(tmp_path / "course")
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    released = course / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    _no_rubric_in(released)
    submission = course / "submitted" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    submission.parent.mkdir(parents=True)
    nbformat.write(_answered(nbformat.read(released, as_version=4)), submission)

    run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    autograded = course / "autograded" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    _no_rubric_in(autograded)  # what the student's kernel ran
    _no_rubric_in(course / "gradebook.db")

    with formgrader(course, tmp_path / "jupyter") as server:
        (entry,) = server.call("GET", f"submitted_notebooks/{ASSIGNMENT}/{NOTEBOOK}")
        page = server.page(f"submissions/{entry['id']}/")
    _check_ta_page(page)
    assert "Marking scheme for graders (2 points)" in page
    # The grading form is intact: a score box per answer, the rubric panels hold none.
    soup = BeautifulSoup(page, "html.parser")
    assert [i["id"] for i in soup.select("input.score")] == ["why_slow", "slope_at_zero"]
    assert soup.select("aside.softsign-rubric input, aside.softsign-rubric textarea") == []

    result = subprocess.run(
        [*SOFTSIGN_GRADE, "feedback", ASSIGNMENT, "--course-root", str(course)],
        capture_output=True,
        text=True,
        timeout=900,
        env=tool_path_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    feedback = course / "feedback" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert re.search(r"<math", feedback.read_text())  # the student's own math, as MathML
    _no_rubric_in(feedback)
    assert "For graders only" not in feedback.read_text()
    shutil.rmtree(course / "feedback")
    run_nbgrader(["generate_feedback", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    _no_rubric_in(feedback)
    assert "For graders only" not in feedback.read_text()


@pytest.mark.browser
def test_the_math_reads_in_chromium_with_no_network(tmp_path):
    """Formgrader's page, every request off the machine refused: the math still lays out."""
    from browser_support import headless_chromium

    course = _make_course(tmp_path / "course")
    path = course / "autograded" / STUDENT / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(_submission(), path)
    page_file = tmp_path / "submission.html"
    html, _ = _formgrader_exporter(course).from_filename(str(path), resources=_resources())
    page_file.write_text(html, encoding="utf-8")
    refused: list[str] = []
    with headless_chromium() as browser:
        page = browser.new_page()
        page.route(
            re.compile(r"^(https?|wss?)://"),
            lambda route: (refused.append(route.request.url), route.abort()),
        )
        page.goto(page_file.as_uri(), wait_until="load")
        sizes = page.evaluate(
            """() => ['aside.softsign-rubric math', '.nbgrader_cell math'].map(
              s => Array.from(document.querySelectorAll(s)).map(m => {
                const r = m.getBoundingClientRect(); return [r.width, r.height]; }))"""
        )
        text = page.locator("aside.softsign-rubric").first.inner_text()
    assert any("mathjax" in url.lower() for url in refused)  # the CDN was out of reach
    rubric, answers = sizes
    assert len(rubric) >= 6
    assert len(answers) == 3
    assert all(width > 0 and height > 0 for width, height in rubric + answers)
    assert text.startswith("For graders only")
    assert "$" not in text
