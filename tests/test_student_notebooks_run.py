"""Every student notebook's Run All, in a kernel of the course's environment, without a browser.

Each student notebook, as released, is executed by nbclient the way a student's
Run All goes on past errors (``allow_errors``), in its own folder, with the
``python3`` kernel, and with ``NBGRADER_EXECUTION`` set as nbgrader's *Validate*
sets it (so notebook 05 trains only its smoke-run networks). The outputs must
then follow the rules that ``tests/test_browser.py`` checks in JupyterLab:
every code cell ran; a cell other than a test cell fails only because it uses
an exercise not done yet (a ``NotImplementedError``); each figure cell shows
its images unless it plots the student's own unfinished function; and each
test cell fails with the check functions' short "not implemented yet" message,
not a traceback.

The browser test runs one notebook, for what only a browser shows (rendering,
math, figures as images, Run All through the menus); this module covers every
notebook's run. A last test edits the outputs of an executed notebook to prove
that each rule can fail.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import nbformat
import pytest
from browser_support import (
    STUDENT_DIR,
    NotebookPlan,
    friendly_failure_problems,
    image_outputs,
    not_implemented,
    plan_notebook,
    student_notebooks,
    unimplemented_exercise_error,
)
from nbclient import NotebookClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NOTEBOOKS = student_notebooks()
#: ANSI escape sequences (colours, hyperlinks) in a traceback; JupyterLab renders, not shows them.
#: (nbconvert's ``strip_ansi`` removes the colour codes only, not the hyperlinks.)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def error_text(cell: Any) -> str:
    """The stderr and error text of an executed code cell, as JupyterLab shows it.

    Mirrors ``NotebookUI.error_text`` in the browser: the text of every stream
    to stderr and of every error, joined by newlines. JupyterLab shows an error
    as its traceback lines joined by newlines (IPython's last line is
    ``ename: evalue``), or as ``ename: evalue`` when there is no traceback,
    with the ANSI colours rendered rather than shown.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_output
    >>> raised = new_output("error", ename="E", evalue="x", traceback=["\\x1b[31mE\\x1b[39m: x"])
    >>> error_text(new_code_cell(outputs=[raised]))
    'E: x'
    >>> error_text(new_code_cell(outputs=[new_output("error", ename="E", evalue="x")]))
    'E: x'
    """
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream" and output.name == "stderr":
            texts.append(output.text)
        elif output.output_type == "error":
            traceback = "\n".join(output.get("traceback", []))
            texts.append(traceback or f"{output.ename}: {output.evalue}")
    return _ANSI.sub("", "\n".join(texts))


def run_all_problems(plan: NotebookPlan, cells: Sequence[Any]) -> list[str]:
    """List what is wrong with the executed ``cells`` of the notebook of ``plan``.

    The rules of ``test_student_notebook_runs_in_jupyterlab``, read from the
    cells' outputs instead of a page. Returns an empty list when all is well.
    """
    if len(cells) != len(plan.cells):
        return [f"{len(cells)} cells executed, {len(plan.cells)} in the notebook"]
    problems = []
    for index in plan.code_cells:
        if cells[index].get("execution_count") is None:
            problems.append(f"cell {index}: did not run")

    for index in plan.code_cells:
        error = error_text(cells[index])
        if (
            error
            and index not in plan.tests
            and not unimplemented_exercise_error(plan, index, error)
        ):
            problems.append(
                f"cell {index}: fails, not because an exercise is unimplemented:\n{error}"
            )

    for index, expected in plan.figures.items():
        if not_implemented(error_text(cells[index])):
            continue  # a figure of the student's own function: it comes with the exercise
        shown = image_outputs(cells[index])
        if shown != expected:
            problems.append(f"cell {index}: {shown} images shown, {expected} expected")

    for index, exercise in plan.tests.items():
        text = error_text(cells[index])
        for problem in friendly_failure_problems(text, exercise.function):
            problems.append(f"cell {index}, test of {exercise.function}: {problem}\n{text}")
    return problems


@pytest.fixture(scope="module")
def run_all() -> Callable[[str], Any]:
    """Execute a student notebook as a student's Run All does; each notebook once per module."""
    executed: dict[str, Any] = {}

    def _run(name: str) -> Any:
        if name not in executed:
            notebook = nbformat.read(STUDENT_DIR / name, as_version=4)
            with pytest.MonkeyPatch.context() as patch:
                # As nbgrader's Validate runs it: notebook 05 trains its smoke-run networks
                # only (the rules checked here do not depend on the experiment's size; nbval
                # runs the full experiment in the instructor notebook).
                patch.setenv("NBGRADER_EXECUTION", "validate")
                NotebookClient(
                    notebook,
                    timeout=120,
                    kernel_name="python3",
                    allow_errors=True,
                    resources={"metadata": {"path": str(STUDENT_DIR)}},
                ).execute()
            executed[name] = notebook
        return executed[name]

    return _run


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_student_notebook_runs_all(name: str, run_all: Callable[[str], Any]) -> None:
    """All cells run; only exercises fail; figures show; test cells give the short message."""
    plan = plan_notebook(name)
    problems = run_all_problems(plan, run_all(name).cells)
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_rules_catch_a_broken_run(run_all: Callable[[str], Any]) -> None:
    """Each rule reports a problem when the outputs of an executed notebook are edited to break it.

    The edits: a test cell shows a bare ``NotImplementedError`` traceback (the
    one a cell calling the unfinished exercise shows), a cell that uses no
    exercise fails, a figure loses its image, a cell did not run.
    """
    assert NOTEBOOKS, "no student notebooks"
    name = NOTEBOOKS[0]
    plan = plan_notebook(name)
    ran = run_all(name)
    assert run_all_problems(plan, ran.cells) == []
    assert plan.tests, "the first notebook has no test cell"
    assert plan.figures, "the first notebook has no figure"
    test_cell = next(iter(plan.tests))
    figure = next(iter(plan.figures))
    functions = [exercise.function for exercise in plan.exercises]
    plain = next(
        index
        for index in plan.code_cells
        if index not in plan.tests and not any(f in plan.cells[index].source for f in functions)
    )
    bare = next(
        output
        for index in plan.code_cells
        if index not in plan.tests
        for output in ran.cells[index].outputs
        if output.output_type == "error" and output.ename == "NotImplementedError"
    )
    failure = nbformat.v4.new_output(
        "error", ename="NameError", evalue="name 'x' is not defined", traceback=[]
    )

    def broken(edit: Callable[[list[Any]], None]) -> list[str]:
        cells = copy.deepcopy(list(ran.cells))
        edit(cells)
        return run_all_problems(plan, cells)

    def bare_traceback(cells: list[Any]) -> None:
        cells[test_cell].outputs = [bare]

    def plain_fails(cells: list[Any]) -> None:
        cells[plain].outputs.append(failure)

    def no_image(cells: list[Any]) -> None:
        cells[figure].outputs = [o for o in cells[figure].outputs if not o.get("data")]

    def not_run(cells: list[Any]) -> None:
        cells[plain].execution_count = None

    problems = broken(bare_traceback)
    assert any(
        p.startswith(f"cell {test_cell}, test of ") and "a bare NotImplementedError traceback" in p
        for p in problems
    ), problems
    assert any(p.startswith(f"cell {plain}: fails, not because") for p in broken(plain_fails))
    assert f"cell {figure}: 0 images shown, {plan.figures[figure]} expected" in broken(no_image)
    assert broken(not_run) == [f"cell {plain}: did not run"]
