"""The feedback students receive: it reads offline, wraps, describes its figures, and says
when a submitted file could not be read.

A course with notebook 01 is released, submitted by three students (right,
wrong for negative inputs, and a file that is not JSON), autograded and given
feedback, all by real nbgrader with the course's ``nbgrader_config.py``. The
tests read the feedback HTML, and one opens it in Debian's Chromium with the
network cut off.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from browser_support import headless_chromium
from bs4 import BeautifulSoup
from repo_root import REPO_ROOT

from softsign_grader.course import ASSIGNMENT, make_course, run_nbgrader
from softsign_grader.nbgrader_plugins import FeedbackExporter, figure_alt_text

NOTEBOOK = "01_softsign_definition"
BROKEN_TEXT = '{"cells": [ {"cell_type": "code", "source": "x = 1"'
WRONG_SOFTSIGN = "def softsign(x):\n    x = np.asarray(x, dtype=float)\n    return x / (1.0 + x)"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "feedback"
_SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.MULTILINE)


@dataclass(frozen=True)
class Feedback:
    """The graded course and what nbgrader said."""

    course: Path
    autograde_log: str
    feedback_log: str

    def page(self, student: str) -> Path:
        return self.course / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"

    def soup(self, student: str) -> BeautifulSoup:
        return BeautifulSoup(self.page(student).read_text(encoding="utf-8"), "html.parser")


def _submit(course: Path, student: str, text: str) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{NOTEBOOK}.ipynb").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory, nbgrader_env: dict[str, str]) -> Feedback:
    course = make_course(tmp_path_factory.mktemp("feedback") / "course", release=False)
    for path in (course / "solutions" / ASSIGNMENT).iterdir():
        if path.name != f"{NOTEBOOK}.ipynb":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    released = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    instructor = nbformat.read(course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", 4)
    answers = {cell.id: cell.source for cell in instructor.cells if "nbgrader" in cell.metadata}
    solved, wrong = nbformat.from_dict(released), nbformat.from_dict(released)
    for right_cell, wrong_cell in zip(solved.cells, wrong.cells, strict=True):
        if right_cell.metadata.get("nbgrader", {}).get("solution"):
            right_cell.source = _SOLUTION_MARKERS.sub("", answers[right_cell.id])
            wrong_cell.source = WRONG_SOFTSIGN
    _submit(course, "solved", nbformat.writes(solved))
    _submit(course, "wrong", nbformat.writes(wrong))
    _submit(course, "broken", BROKEN_TEXT)
    graded = run_nbgrader(["autograde", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    made = run_nbgrader(["generate_feedback", ASSIGNMENT, "--force"], course, env=nbgrader_env)
    return Feedback(course, graded.stdout + graded.stderr, made.stdout + made.stderr)


def _lines(soup: BeautifulSoup) -> list[str]:
    """The page's visible text, one line per block, whitespace collapsed."""
    body = soup.body
    assert body is not None
    blocks = body.find_all(["h1", "h2", "h3", "h4", "p", "li", "pre", "div"], recursive=True)
    lines = []
    for block in blocks:
        if block.find(["h1", "h2", "h3", "h4", "p", "li", "pre", "div"]):
            continue  # only the innermost blocks
        text = " ".join(block.get_text(" ").split())
        if text:
            lines.append(text)
    return lines


# --- a file that could not be read -----------------------------------------------------


@pytest.mark.slow
def test_an_unreadable_file_is_the_first_line_of_its_feedback(feedback: Feedback):
    first = _lines(feedback.soup("broken"))[0]
    assert first.startswith(
        f"Your submitted file {NOTEBOOK}.ipynb could not be read: it is not a valid notebook "
        "(NotJSONError: Notebook does not appear to be JSON"
    ), first
    assert first.endswith(
        "It was graded as the unchanged release copy, so every test below scores 0."
    )
    assert f"{NOTEBOOK}.ipynb is not a valid notebook (NotJSONError" in feedback.autograde_log


@pytest.mark.slow
def test_a_readable_file_has_no_such_notice(feedback: Feedback):
    for student in ("solved", "wrong"):
        page = feedback.page(student).read_text(encoding="utf-8")
        assert "could not be read" not in page
        assert _lines(feedback.soup(student))[0].startswith(f"{NOTEBOOK} (Score: ")


# --- offline math, alt text, no warnings -------------------------------------------------


@pytest.mark.slow
def test_feedback_math_is_mathml_with_no_mathjax(feedback: Feedback):
    for student in ("solved", "wrong", "broken"):
        page = feedback.page(student).read_text(encoding="utf-8")
        soup = feedback.soup(student)
        assert "mathjax" not in page.lower()
        assert not [tag for tag in soup.find_all("script") if tag.get("src")]
        assert len(soup.find_all("math")) >= 20
        for markdown in soup.select(".text_cell_render"):
            for code in markdown.find_all(["code", "pre"]):
                code.decompose()
            assert "$" not in markdown.get_text(), markdown.get_text()[:300]


@pytest.mark.slow
def test_every_figure_has_the_alt_text_of_its_figure_sentence(feedback: Feedback):
    images = feedback.soup("solved").find_all("img")
    assert images
    assert all(image.get("alt") for image in images)
    assert images[0]["alt"].startswith("Figure: softsign (solid blue) and tanh (dashed orange)")
    assert "Alternative text is missing" not in feedback.feedback_log


@pytest.mark.slow
def test_generate_feedback_warns_of_no_unknown_config(feedback: Feedback):
    assert "not recognized" not in feedback.feedback_log
    assert "display_data_priority" not in feedback.feedback_log


def test_markdown_math_becomes_mathml_but_code_keeps_its_dollars():
    html = FeedbackExporter().markdown2html({}, "Inline $x^2$, display $$\\frac{1}{1+|x|}$$, `$y$`")
    soup = BeautifulSoup(html, "html.parser")
    assert [math.get("display") for math in soup.find_all("math")] == ["inline", "block"]
    assert soup.code is not None
    assert soup.code.get_text() == "$y$"


def test_figure_alt_text_reads_the_last_figure_paragraph():
    text = "*Figure: first.*\n\nMore.\n\n*Figure: the $f(x)$ curve,\nwrapped.*\n\nAfter."
    assert figure_alt_text(text) == "Figure: the f(x) curve, wrapped."


# --- in a real browser ---------------------------------------------------------------------

_OVERFLOWING_JS = """
() => Array.from(document.querySelectorAll('pre')).filter(
  pre => pre.offsetParent !== null && pre.scrollWidth > pre.clientWidth + 1
).map(pre => pre.textContent.slice(0, 120))
"""
_MATH_JS = """
() => Array.from(document.querySelectorAll('math')).map(math => {
  const box = math.getBoundingClientRect();
  return [box.width, box.height];
})
"""


@pytest.mark.browser
@pytest.mark.slow
def test_feedback_renders_offline_and_wraps_in_chromium(feedback: Feedback):
    """No request leaves the page; math is laid out; no line runs past the right edge."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    with headless_chromium() as browser:
        page = browser.new_page(viewport={"width": 800, "height": 900})

        def refuse(route):  # the page must need nothing from the network
            requests.append(route.request.url)
            route.abort()

        page.route(re.compile(r"^https?://"), refuse)
        for student in ("wrong", "broken"):
            page.goto(feedback.page(student).as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(ARTIFACTS / f"{student}.png"), full_page=True)
            assert page.evaluate(_OVERFLOWING_JS) == [], f"{student}: lines cut at the edge"
            boxes = page.evaluate(_MATH_JS)
            assert len(boxes) >= 20
            assert all(width > 0 and height > 0 for width, height in boxes)
        page.goto(feedback.page("wrong").as_uri())
        assert page.locator("pre", has_text="softsign: wrong value").count() >= 1
    assert requests == []
