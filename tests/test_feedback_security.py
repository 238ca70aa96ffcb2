"""Pages that show text, not code: nothing a student wrote runs in the feedback or the report.

One hostile notebook carries every attack the course knows of (scripts and
event handlers in markdown, in HTML, SVG, markdown and JavaScript outputs, in
metadata the template inserts raw, in the file names and error text of the
notices); :class:`FeedbackExporter` renders it in-process, with nbgrader's
feedback template as ``generate_feedback`` uses it and with nbconvert's own
lab template. The page must keep no student script, handler or
``javascript:`` URL, carry a Content-Security-Policy that forbids scripts, and
still show its MathML, figures and notices. Headless Chromium then opens the
page and the class report of a hostile class: no handler fires, no dialog
opens, no script is even refused (there is none left to refuse), while the
report's own sorting script still runs.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import nbformat
import nbgrader
import pytest
from browser_support import headless_chromium
from bs4 import BeautifulSoup, Tag
from nbformat import v4
from traitlets.config import Config

from softsign_grader.nbgrader_plugins import (
    SUBMISSION_NOTICE_KEY,
    FeedbackExporter,
    sanitize_feedback_html,
    unreadable_notice,
)
from softsign_grader.report import (
    ClassReport,
    ExerciseSummary,
    Finding,
    StudentSummary,
    render_html,
)

HOSTILE_IMG = '<img src=x onerror="window.pwned=11;alert(11)">'
#: A 1x1 PNG, as matplotlib's figures are embedded.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()
SVG = (
    "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10' onload='window.pwned=7'>"
    "<script>window.pwned=6;alert(6)</script><circle r='4'/></svg>"
)
STUDENT_MARKDOWN = (
    "# Answer\n\n"
    "<script>window.pwned=1;alert(1)</script>\n\n"
    '<img src=x onerror="window.pwned=2;alert(2)">\n\n'
    '<a href="javascript:window.pwned=3">click</a> and '
    '<a href="jav&#x09;ascript:alert(3)">me</a>\n\n'
    '<svg><script>window.pwned=12</script></svg><iframe srcdoc="<script>alert(13)</script>">'
    "</iframe>\n\n"
    '<math><mtext><table><mglyph><style><img src=x onerror="window.pwned=14">'
    "</style></mglyph></table></mtext></math>\n\n"
    '<details open ontoggle="window.pwned=15">x</details>\n\n'
    "The square $x^2$ and $$\\frac{x}{1+|x|}$$"
)


def _hostile_notebook() -> nbformat.NotebookNode:
    submission_notice = v4.new_markdown_cell(
        f"**These files of your submission were not used:** `{HOSTILE_IMG}.txt` "
        f"(a symbolic link), {HOSTILE_IMG}.txt <script>alert(10)</script>",
        metadata={SUBMISSION_NOTICE_KEY: [{"path": f"{HOSTILE_IMG}.txt", "reason": "a link"}]},
    )
    unreadable = unreadable_notice(
        f"{HOSTILE_IMG}.ipynb",
        ValueError(f"Notebook does not appear to be JSON: '{HOSTILE_IMG}<script>alert(9)"),
    )
    outputs = [
        v4.new_output(
            "display_data",
            data={
                "text/html": '<b onload="window.pwned=4">bold</b><script>window.pwned=5</script>'
            },
        ),
        v4.new_output("display_data", data={"image/svg+xml": SVG}),
        v4.new_output("display_data", data={"text/markdown": "md <script>window.pwned=8</script>"}),
        v4.new_output("display_data", data={"application/javascript": "window.pwned=16"}),
        v4.new_output(
            "display_data",
            data={"image/png": PNG},
            metadata={"image/png": {"alt": '"><img src=x onerror="window.pwned=17">'}},
        ),
        v4.new_output("stream", name="stdout", text="<script>window.pwned=18</script>\n"),
    ]
    code = v4.new_code_cell("show()", outputs=outputs)
    grade = v4.new_code_cell(
        "check()",
        metadata={
            "nbgrader": {
                "grade": True,
                "solution": False,
                "grade_id": 'x"><img src=x onerror="window.pwned=19">',
                "points": 1,
                "score": 0,
            }
        },
    )
    notebook = v4.new_notebook()
    notebook.cells = [
        unreadable,
        submission_notice,
        v4.new_markdown_cell(STUDENT_MARKDOWN),
        code,
        grade,
    ]
    return notebook


def _feedback_config() -> Config:
    """The HTML exporter's configuration as ``nbgrader generate_feedback`` sets it."""
    root = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(root / "templates")]
    config.HTMLExporter.extra_template_paths = [
        str(root / "static" / "node_modules" / "bootstrap" / "dist" / "css")
    ]
    return config


def _render(template: str) -> str:
    config = _feedback_config() if template == "feedback" else Config()
    resources: dict[str, Any] = {
        "nbgrader": {"notebook": "answers", "score": 0, "max_score": 1, "late_penalty": 0}
    }
    page, _ = FeedbackExporter(config=config).from_notebook_node(
        _hostile_notebook(), resources=resources
    )
    return page


@pytest.fixture(scope="module", params=["feedback", "lab"])
def page(request: pytest.FixtureRequest) -> str:
    return _render(request.param)


def _soup(page: str) -> BeautifulSoup:
    return BeautifulSoup(page, "html.parser")


# --- in-process ----------------------------------------------------------------------


def test_no_student_script_handler_or_javascript_url_survives(page: str):
    soup = _soup(page)
    assert soup.find_all("script") == []
    assert "<script" not in page.lower()
    for tag in soup.find_all(True):
        handlers = [name for name in tag.attrs if name.lower().startswith("on")]
        assert handlers == [], f"<{tag.name}> keeps {handlers}"
        for name in ("href", "src", "action", "formaction", "xlink:href", "srcdoc"):
            value = re.sub(r"[\x00-\x20]", "", str(tag.get(name, ""))).lower()
            assert not value.startswith(("javascript:", "vbscript:", "data:text")), tag
    assert soup.find_all(["iframe", "object", "embed", "svg", "style", "form", "base"]) == [
        *soup.head.find_all("style")  # type: ignore[union-attr]
    ]


def test_the_page_forbids_scripts_first_thing_in_its_head(page: str):
    head = _soup(page).head
    assert head is not None
    first = head.find(True)
    assert isinstance(first, Tag)
    assert first.name == "meta"
    assert first["http-equiv"] == "Content-Security-Policy"
    policy = [part.strip() for part in str(first["content"]).split(";")]
    assert "script-src 'none'" in policy
    assert "default-src 'none'" in policy
    assert "img-src data:" in policy


def test_mathml_and_the_png_figure_survive(page: str):
    soup = _soup(page)
    maths = soup.find_all("math", display=True)  # (the mXSS attempt leaves an empty <math>)
    assert [math.get("display") for math in maths] == ["inline", "block"]
    assert maths[0].find("msup") is not None
    assert maths[1].find("mfrac") is not None
    sources = [image.get("src", "") for image in soup.find_all("img")]
    assert f"data:image/png;base64,{PNG}" in sources
    assert any(source.startswith("data:image/svg+xml;base64,") for source in sources)
    assert all(source.startswith("data:image/") for source in sources if source), sources


def test_each_notice_is_a_banner_whose_html_reads_as_text(page: str):
    body = _soup(page).body
    assert body is not None
    banners = body.find_all("div", role="alert")
    assert len(banners) == 2
    unreadable, files = (" ".join(banner.get_text(" ").split()) for banner in banners)
    assert unreadable.startswith(f"Your submitted file {HOSTILE_IMG}.ipynb could not be read")
    assert f"JSON: '{HOSTILE_IMG}<script>alert(9))." in unreadable
    assert files.startswith(f"These files of your submission were not used: {HOSTILE_IMG}.txt")
    assert "<script>alert(10)</script>" in files
    for banner in banners:
        assert banner.find_all(["img", "script"]) == []
    first = body.find(True)
    assert isinstance(first, Tag)
    assert "softsign-unreadable" in first.get("class", [])


def test_student_text_is_kept_as_text():
    html = sanitize_feedback_html(
        "<p>1 &lt; 2 &amp; <code>&lt;script&gt;</code></p>"
        '<table><tr><td colspan="2">cell</td></tr></table>'
        '<a href="#top">top</a> <a href="https://example.org/x">link</a>'
    )
    assert "<p>1 &lt; 2 &amp; <code>&lt;script&gt;</code></p>" in html
    assert '<td colspan="2">cell</td>' in html
    assert 'href="#top"' in html
    assert 'href="https://example.org/x"' in html


# --- class report ----------------------------------------------------------------------


def _hostile_report() -> ClassReport:
    evil = '<img src=x onerror="window.pwned=20;alert(20)">'
    name = "softsign"
    mistake = Finding(
        kind="mistake",
        text=f"hint {evil}",
        students=[f"s1{evil}"],
        example={"x": f"1{evil}", "got": "<script>window.pwned=21</script>"},
    )
    exercise = ExerciseSummary(
        name=name,
        notebook=f"01{evil}",
        cells=[f"cell{evil}"],
        max_score=2.0,
        points={f"s1{evil}": 0.0, "s2'\"><script>alert(22)</script>": 2.0},
        full=["s2'\"><script>alert(22)</script>"],
        partial=[],
        zero=[f"s1{evil}"],
        not_attempted=[],
        mistakes=[mistake],
        unnamed=[Finding(kind="unnamed", text=f"wrong value {evil}", students=["s3"])],
        other=[],
    )
    students = [
        StudentSummary(
            student="s2'\"><script>alert(22)</script>",
            total=2.0,
            max_score=2.0,
            submitted=True,
            points={name: 2.0},
            missed=[],
        ),
        StudentSummary(
            student=f"s1{evil}",
            total=0.0,
            max_score=2.0,
            submitted=True,
            points={name: 0.0},
            missed=[(name, f"because {evil}")],
        ),
    ]
    return ClassReport(
        assignment="softsign",
        max_score=2.0,
        students=students,
        exercises=[exercise],
        graded_notebooks=2,
        diagnosed_notebooks=2,
        lost_notebooks=[(f"s4{evil}", f"02{evil}")],
    )


@pytest.fixture(scope="module")
def report_page() -> str:
    return render_html(_hostile_report())


def test_the_class_report_escapes_student_ids_and_messages(report_page: str):
    soup = _soup(report_page)
    assert len(soup.find_all("script")) == 1  # the report's own sorting
    assert "alert(" not in soup.find("script").get_text()  # type: ignore[union-attr]
    for tag in soup.find_all(True):
        assert not [name for name in tag.attrs if name.lower().startswith("on")], tag
    assert all(image["src"].startswith("data:image/png;base64,") for image in soup("img"))
    text = soup.get_text()
    assert 's1<img src=x onerror="window.pwned=20;alert(20)">' in text
    assert "s2'\"><script>alert(22)</script>" in text
    policy = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert policy is not None
    assert "script-src 'sha256-" in policy["content"]


# --- in Chromium -----------------------------------------------------------------------

_STATE_JS = """
() => ({
  pwned: typeof window.pwned,
  scripts: document.scripts.length,
  maths: Array.from(document.querySelectorAll('math[display]')).map(
    m => m.getBoundingClientRect().width),
  images: Array.from(document.images).filter(i => i.src.startsWith('data:image/png'))
    .map(i => i.complete && i.naturalWidth > 0),
})
"""


@pytest.mark.browser
def test_nothing_a_student_wrote_runs_in_chromium(tmp_path: Path, report_page: str):
    feedback = tmp_path / "feedback.html"
    feedback.write_text(_render("feedback"), encoding="utf-8")
    report = tmp_path / "report.html"
    report.write_text(report_page, encoding="utf-8")
    dialogs: list[str] = []
    console: list[str] = []
    errors: list[str] = []
    with headless_chromium() as browser:
        page = browser.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route(re.compile(r"^https?://"), lambda route: route.abort())

        # The harness sees a script that runs: an unsanitized page sets window.pwned.
        page.set_content("<script>window.pwned = 1</script><img src=x onerror=alert(0)>")
        page.wait_for_timeout(300)
        assert page.evaluate("typeof window.pwned") == "number"
        assert dialogs == ["0"]
        dialogs.clear()

        page.goto(feedback.as_uri(), wait_until="load")
        page.wait_for_timeout(1000)
        page.locator("details").first.click()  # a toggle handler, were there one
        page.mouse.move(5, 5)
        page.wait_for_timeout(300)
        state = page.evaluate(_STATE_JS)
        assert state["pwned"] == "undefined"
        assert state["scripts"] == 0
        assert len(state["maths"]) == 2
        assert all(width > 0 for width in state["maths"])
        assert state["images"] == [True]
        banner = page.locator("div[role=alert]").first
        assert "could not be read" in banner.inner_text()
        colour = banner.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent"), "the CSS did not apply"

        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.locator("#students th button").count() >= 3  # its own script ran
    assert dialogs == []
    assert errors == []
    refused = [text for text in console if "Content Security Policy" in text and "script" in text]
    assert refused == [], refused
