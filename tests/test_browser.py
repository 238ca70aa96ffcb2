"""The student experience, end to end: ``make lab``'s JupyterLab in headless Chromium.

One student notebook runs in the browser: the first, in course order, with
math, figures and exercises (today ``01_softsign_definition.ipynb``), since it
has every piece the browser must handle. The test opens it from JupyterLab's
file browser, runs all cells, and checks that it renders (markdown and math),
that its figures appear as images, and that each test cell fails with the
check functions' short "not implemented yet" message rather than a
``NotImplementedError`` traceback. On the first notebook it also clicks
nbgrader's *Validate* button, which must list the failing tests, then types a
correct ``softsign`` into the first exercise, sees its tests pass, and
validates again.

Every student notebook's Run All is checked by the same rules, in a kernel
without a browser, by ``tests/test_student_notebooks_run.py``.

Notebooks and exercises are read from the files (nbgrader metadata), so new
notebooks are covered without changing this file. JupyterLab runs from a
scratch copy of the course; screenshots and the server log go to
``test-artifacts/browser/``. Outside CI a missing Chromium, Playwright or
``make`` skips these tests; under ``CI=true`` it fails them.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    IMAGES_JS,
    REPORT_ARTIFACTS,
    LabServer,
    NotebookPlan,
    NotebookUI,
    friendly_failure_problems,
    image_outputs,
    not_implemented,
    open_lab,
    plan_notebook,
    start_lab,
    student_notebooks,
    unavailable,
    unimplemented_exercise_error,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOKS = student_notebooks()


def _first_with_math_figures_and_exercises(names: list[str]) -> str | None:
    """The first of ``names`` whose plan has math, figures and exercises (None if none has)."""
    for name in names:
        plan = plan_notebook(name)
        if plan.has_math and plan.figures and plan.exercises:
            return name
    return None


#: The notebook that runs in the browser (see the module docstring).
BROWSER_NOTEBOOK = _first_with_math_figures_and_exercises(NOTEBOOKS)
#: What a student types for the first exercise (any correct form would do).
SOFTSIGN_BODY = "return x / (1 + np.abs(x))"
_workspaces = itertools.count(1)


@pytest.fixture(scope="module")
def browser_stack() -> None:
    """Make sure Playwright, Chromium and make are there (skip or fail otherwise)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if shutil.which("make") is None:
        unavailable("make is not installed (the test starts JupyterLab with `make lab`)")


@pytest.fixture(scope="module")
def lab(browser_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab started by ``make lab`` in a scratch copy of the course; always shut down."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    server = start_lab(tmp_path_factory.mktemp("jupyterlab"), ARTIFACTS / "jupyterlab.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(
    browser_stack: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    """Headless Debian Chromium with a fresh profile; always closed."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": 1400, "height": 900},
        )
        try:
            context.set_default_timeout(60_000)
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def lab_pages(lab: LabServer, browser: BrowserContext) -> Iterator[list[Page]]:
    """The page showing JupyterLab, loaded once and shared (the last one is current)."""
    pages: list[Page] = []
    yield pages
    for page in pages:
        if not page.is_closed():
            page.close()


@pytest.fixture
def open_notebook(
    lab: LabServer,
    browser: BrowserContext,
    lab_pages: list[Page],
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[str], NotebookUI]]:
    """Open a pristine student notebook from JupyterLab's file browser.

    On teardown, pass or fail, the page is photographed (``final.png``), the
    notebook closed without saving and its kernel shut down. If closing fails
    (the test broke the page), the page is dropped and the next test loads
    JupyterLab afresh.
    """
    opened: list[NotebookUI] = []
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)

    def _open(name: str) -> NotebookUI:
        if not lab_pages or lab_pages[-1].is_closed():
            page = browser.new_page()
            lab_pages.append(page)
            open_lab(page, lab, workspace=f"browser-test-{next(_workspaces)}")
        lab.restore(name)
        ui = NotebookUI(lab_pages[-1], plan_notebook(name), folder)
        opened.append(ui)
        ui.open()
        return ui

    try:
        yield _open
    finally:
        for ui in opened:
            try:
                ui.screenshot("final")
                ui.close()
            except Exception:  # a page left unusable: the next test starts a new one
                ui.page.close()
        lab.shutdown_sessions()


def _check_kernel_is_the_courses(lab: LabServer) -> None:
    """Every running kernel is the Python of the environment the course runs in."""
    commands = lab.kernel_commands()
    assert commands, "no kernel process found for the open notebook"
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    for command in commands.values():
        assert Path(command[0]).parent.resolve() == venv_bin, (
            f"the kernel runs {command[0]}, not the course environment's Python in {venv_bin}"
        )


def _check_rendered(ui: NotebookUI) -> None:
    """The title is a heading, markdown and math render, shipped figures show, nothing else."""
    plan = ui.plan
    heading = ui.cell(plan.markdown_cells[0]).locator("h1").first.text_content() or ""
    for words in re.split(r"\$[^$]*\$", plan.title):  # the title's text outside its math
        assert words.strip() in heading, f"title {plan.title!r} shows as {heading!r}"
    for index in plan.markdown_cells:
        if not (ui.cell(index).locator(".jp-RenderedMarkdown").text_content() or "").strip():
            ui.fail_at(index, "markdown cell renders empty")
    if plan.has_math:
        ui.page.locator(".jp-NotebookPanel mjx-container").first.wait_for(state="attached")
    # The notebook reads before it runs: the teaching cells' figures are shipped and
    # show at once; solution, test and try-it cells open empty.
    shipped = 0
    for index in plan.code_cells:
        outputs = plan.cells[index].get("outputs", [])
        shown = ui.cell(index).locator(".jp-OutputArea-output").count()
        if not outputs and shown:
            ui.fail_at(index, f"opened with {shown} outputs, though the file holds none")
        if outputs and (index in plan.tests or index in plan.solutions):
            ui.fail_at(index, "a solution or test cell was released with outputs")
        images = image_outputs(plan.cells[index])
        if images:
            loaded = ui.wait_for_images(index, images)
            if loaded != images:
                ui.fail_at(index, f"{loaded} of its {images} shipped images show before running")
            shipped += images
    if plan.figures:
        assert shipped, "no teaching figure shows before Run All"


@pytest.mark.parametrize("name", [BROWSER_NOTEBOOK])
def test_student_notebook_runs_in_jupyterlab(
    name: str | None, open_notebook: Callable[[str], NotebookUI], lab: LabServer
) -> None:
    """Open, render, run all; figures are images; test cells fail with the short message."""
    assert name is not None, "no student notebook has math, figures and exercises"
    ui = open_notebook(name)
    plan = ui.plan
    _check_kernel_is_the_courses(lab)
    _check_rendered(ui)
    ui.screenshot("opened")

    ui.run_all()
    ui.screenshot("ran")
    counts = ui.counts()
    for index in plan.code_cells:
        if counts[index] is None:
            ui.fail_at(index, "did not run")

    # Only an unimplemented exercise may make a cell other than a test cell fail.
    for index in plan.code_cells:
        error = ui.error_text(index)
        if (
            error
            and index not in plan.tests
            and not unimplemented_exercise_error(plan, index, error)
        ):
            ui.fail_at(index, f"fails, not because an exercise is unimplemented:\n{error}")

    for index, expected in plan.figures.items():
        if not_implemented(ui.error_text(index)):
            continue  # a figure of the student's own function: it comes with the exercise
        shown = ui.wait_for_images(index, expected)
        if shown != expected:
            ui.fail_at(index, f"{shown} images shown, {expected} expected")
    if plan.figures:
        ui.output_screenshot(next(iter(plan.figures)), "figure")

    for index, exercise in plan.tests.items():
        text = ui.error_text(index)
        problems = friendly_failure_problems(text, exercise.function)
        if problems:
            ui.fail_at(index, f"test of {exercise.function}: {problems}\n{text}")
    if plan.tests:
        ui.cell_screenshot(next(iter(plan.tests)), "test")


def _validate(ui: NotebookUI, shot: str) -> str:
    """Click nbgrader's *Validate* toolbar button; return the result dialog's text."""
    page = ui.page
    toolbar = page.locator(".jp-NotebookPanel-toolbar")
    toolbar.locator(".jp-ToolbarButtonComponent", has_text="Validate").click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=150_000)
    ui.screenshot(shot)
    text = dialog.locator(".jp-Dialog-body").inner_text()
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    dialog.wait_for(state="detached")
    return text


def _test_call(plan: NotebookPlan, index: int) -> str:
    """The last line of a test cell: its visible ``check_...(...)`` call."""
    return plan.cells[index].source.strip().splitlines()[-1]


def test_validate_then_solve_first_exercise(open_notebook: Callable[[str], NotebookUI]) -> None:
    """A student's round trip on the first notebook, with nbgrader's Validate button.

    Validate on the untouched notebook lists every test cell as failed, with
    the short message. Run All stops at the first exercise; typing a correct
    ``softsign`` there and re-running makes its test cells pass, and Validate
    no longer reports them (with no other exercise left: "Success!").
    """
    assert NOTEBOOKS, "no student notebooks"
    ui = open_notebook(NOTEBOOKS[0])
    plan = ui.plan
    exercise = plan.exercises[0]
    assert exercise.function == "softsign", f"the first exercise is {exercise.function}"

    report = _validate(ui, "validate")
    assert report.count("The following cell failed:") == len(plan.tests), report
    for index in plan.tests:
        assert _test_call(plan, index) in report, f"test cell {index} is not in the report"
    for each in plan.exercises:
        assert f"{each.function}: not implemented yet" in report, report

    # Run All stops at the first cell that calls the unimplemented function.
    before = ui.highest_count()
    ui.menu("Run", "runmenu:run-all")
    ui.wait_until_run(before, timeout=120)
    counts = ui.counts()
    stopped = next((i for i in plan.code_cells if counts[i] is None), len(plan.cells))
    assert stopped > exercise.solution_cell, "Run All stopped before the first exercise"

    # Replace `raise NotImplementedError()` with the body, typed key by key.
    solution = ui.cell(exercise.solution_cell)
    solution.locator(".cm-line", has_text="raise NotImplementedError()").click()
    ui.page.keyboard.press("End")
    ui.page.keyboard.press("Shift+Home")
    ui.page.keyboard.type(SOFTSIGN_BODY)
    code = solution.locator(".cm-content").inner_text()
    assert f"    {SOFTSIGN_BODY}" in code.splitlines(), code
    assert "NotImplementedError" not in code, code
    ui.cell_screenshot(exercise.solution_cell, "typed")

    # Shift+Enter from the solution cell down to the exercise's last test cell.
    before = ui.highest_count()
    for _ in range(exercise.solution_cell, exercise.test_cells[-1] + 1):
        ui.page.keyboard.press("Shift+Enter")
    ui.wait_until_run(before, timeout=120)
    counts = ui.counts()
    for index in exercise.test_cells:
        if (counts[index] or 0) <= before:
            ui.fail_at(index, "the test cell did not run again")
        if ui.error_text(index):
            ui.fail_at(index, f"the test still fails:\n{ui.error_text(index)}")
    ui.cell_screenshot(exercise.test_cells[-1], "passed")

    report = _validate(ui, "validate-after-fix")
    for index in exercise.test_cells:
        assert _test_call(plan, index) not in report, f"Validate still reports cell {index}"
    remaining = [i for i in plan.tests if i not in exercise.test_cells]
    assert report.count("The following cell failed:") == len(remaining), report
    if not remaining:
        assert "Success! Your notebook passes all the tests." in report, report


@pytest.mark.slow
# The first test to ask for the session's graded sample class pays for grading it.
@pytest.mark.timeout(1800)
def test_the_class_report_renders_with_its_figures(
    graded_sample_class, browser: BrowserContext, tmp_path: Path
):
    """The sample class's report, opened from its file: figures load, nothing is fetched.

    Screenshots (a desktop and a phone width) go to ``test-artifacts/report/``.
    """
    from softsign_grader.course import ASSIGNMENT
    from softsign_grader.report import build_report

    path, report = build_report(graded_sample_class.course, ASSIGNMENT, output_dir=tmp_path)
    REPORT_ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    try:
        page.set_viewport_size({"width": 1100, "height": 1400})
        page.goto(path.as_uri(), wait_until="load")
        assert page.title() == f"Class report: {ASSIGNMENT}"
        images = page.evaluate(IMAGES_JS)
        assert len(images) == len(report.exercises) + 2, images
        for image in images:
            assert image["complete"], image["alt"]
            assert image["width"] > 0, image["alt"]
            assert image["alt"].strip()
        assert "most worth revisiting" in page.inner_text("#revisit")
        assert all(url.startswith(("file:", "data:")) for url in fetched), fetched
        page.screenshot(path=str(REPORT_ARTIFACTS / "class_report.png"))

        # The student table starts sorted by total; a click on "student" sorts by id.
        column = "#students tbody tr td:first-child"
        first = page.locator(column).all_inner_texts()
        assert first == [row.student for row in report.students]
        page.locator("#students th button", has_text="student").click()
        assert page.locator(column).all_inner_texts() == sorted(first)

        page.set_viewport_size({"width": 390, "height": 844})
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a phone"
        page.screenshot(path=str(REPORT_ARTIFACTS / "class_report_phone.png"), full_page=True)
    finally:
        page.close()
