"""The rubric of a written answer, beside the student's answer in formgrader, for graders only.

A hand-graded answer is a markdown cell with nbgrader's ``grade`` and ``solution``
flags. In the instructor notebook its solution region (``### BEGIN SOLUTION`` ...
``### END SOLUTION``, or the whole cell when it has no delimiters, as nbgrader's
``ClearSolutions`` reads it) holds the model answer and the rubric. That region is
the rubric's only source: ``generate_assignment`` replaces it with "YOUR ANSWER
HERE", and nothing here writes it anywhere else.

When a TA opens a submission, formgrader renders the autograded notebook with an
nbconvert ``HTMLExporter`` (template ``formgrade``). :func:`register_formgrader` sets
two public traits of that exporter:

``HTMLExporter.preprocessors``: :class:`GraderRubric`
    reads the instructor notebook of the submission (cached while the file is
    unchanged) and puts, under each hand-graded answer, a cell with that answer's
    solution region, marked :data:`~softsign_grader.feedback.GRADERS_ONLY_KEY`. It
    does nothing in any other exporter: only formgrader's, whose template is
    ``formgrade`` and whose resources name the submission, gets a rubric. The mark
    on any cell the submission brought is removed first, so a student cannot pass a
    cell of their own off as the rubric.
``HTMLExporter.filters["markdown2html"]``: :func:`formgrader_markdown2html`
    writes the page's mathematics as MathML (``latex2mathml``, as the feedback pages
    do), so the answer's and the rubric's math reads without MathJax, that is without
    the network; it shows the rubric cell as a panel headed "For graders only".

MathML rather than a local MathJax: no installed package serves a MathJax that the
formgrade template could load, MathML is rendered by every current browser, and the
feedback pages already rely on the same converter.

The feedback exporter takes neither setting (``FeedbackExporter`` has its own,
empty, ones) and drops a graders-only cell should one reach it; autograding never
sees the rubric, so neither the student's kernel nor the autograded notebook does.
"""

from __future__ import annotations

import functools
import html
import os
from typing import Any

import nbformat
from jinja2 import pass_context
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode

from softsign_grader.feedback import GRADERS_ONLY_KEY, FeedbackExporter, markdown_to_html

__all__ = [
    "GRADERS_ONLY_KEY",
    "RUBRIC_CSS",
    "GraderRubric",
    "formgrader_markdown2html",
    "hand_graded_answers",
    "insert_rubrics",
    "register_formgrader",
    "rubric_panel",
    "solution_region",
]

#: nbgrader's default solution delimiters (``ClearSolutions``); the configured ones win.
BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"

#: How the rubric panel stands apart from the student's answer (formgrader's Bootstrap 3
#: ``panel-warning``, plus a dashed border that survives a page printed in grey).
RUBRIC_CSS = "border-style: dashed; margin: 0.5em 0 1.5em 0;"


def solution_region(source: str, begin: str = BEGIN_SOLUTION, end: str = END_SOLUTION) -> str:
    """The text of a cell that ``ClearSolutions`` would replace: its solution region(s).

    The lines strictly between a line holding ``begin`` and the next line holding
    ``end``; several regions are joined by a blank line. A cell with no ``begin``
    line is a solution as a whole (nbgrader replaces all of it).

    Examples
    --------
    >>> solution_region("Intro\\n### BEGIN SOLUTION\\n**Rubric.** 1 point\\n### END SOLUTION")
    '**Rubric.** 1 point'
    >>> solution_region("No delimiters: all of it.")
    'No delimiters: all of it.'
    """
    lines = source.split("\n")
    if not any(begin in line for line in lines):
        return source.strip("\n")
    regions: list[list[str]] = []
    inside = False
    for line in lines:
        if begin in line:
            inside = True
            regions.append([])
        elif end in line:
            inside = False
        elif inside:
            regions[-1].append(line)
    return "\n\n".join("\n".join(region).strip("\n") for region in regions).strip("\n")


def _is_hand_graded_answer(cell: Any) -> bool:
    """A markdown cell that nbgrader grades by hand: ``grade`` and ``solution`` with a grade id."""
    info = cell.get("metadata", {}).get("nbgrader", {})
    return (
        cell.get("cell_type") == "markdown"
        and bool(info.get("grade"))
        and bool(info.get("solution"))
        and isinstance(info.get("grade_id"), str)
    )


def hand_graded_answers(
    nb: Any, begin: str = BEGIN_SOLUTION, end: str = END_SOLUTION
) -> dict[str, str]:
    """``{grade_id: solution region}`` of the hand-graded markdown answers of a notebook.

    Examples
    --------
    >>> from nbformat import v4
    >>> answer = v4.new_markdown_cell("### BEGIN SOLUTION\\nModel.\\n### END SOLUTION")
    >>> answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "why"}
    >>> hand_graded_answers(v4.new_notebook(cells=[v4.new_markdown_cell("Intro"), answer]))
    {'why': 'Model.'}
    """
    return {
        cell.metadata["nbgrader"]["grade_id"]: solution_region(str(cell.source), begin, end)
        for cell in nb.cells
        if _is_hand_graded_answer(cell)
    }


@functools.lru_cache(maxsize=16)
def _read_answers(
    path: str, mtime_ns: int, size: int, begin: str, end: str
) -> tuple[tuple[str, str], ...]:
    """The answers of the instructor notebook at ``path``, as it is at ``mtime_ns``/``size``."""
    del mtime_ns, size  # the cache key: a changed file is read again
    notebook = nbformat.read(path, as_version=4)
    return tuple(hand_graded_answers(notebook, begin, end).items())


def _instructor_answers(path: str, begin: str, end: str) -> dict[str, str]:
    status = os.stat(path)
    return dict(_read_answers(path, status.st_mtime_ns, status.st_size, begin, end))


def _graders_only_cell(label: str, text: str) -> NotebookNode:
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata[GRADERS_ONLY_KEY] = {"label": label}
    return cell


def insert_rubrics(nb: Any, answers: dict[str, str] | None, source: str) -> Any:
    """``nb`` with a graders-only cell under each hand-graded answer.

    Parameters
    ----------
    nb : NotebookNode
        The submission as formgrader shows it (changed in place and returned).
    answers : dict or None
        :func:`hand_graded_answers` of the instructor notebook, or ``None`` when it
        could not be read.
    source : str
        The instructor notebook's path, as the panel names it.

    Examples
    --------
    >>> from nbformat import v4
    >>> answer = v4.new_markdown_cell("My answer.")
    >>> answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "why"}
    >>> nb = insert_rubrics(v4.new_notebook(cells=[answer]), {"why": "Model."}, "sol.ipynb")
    >>> [cell.source for cell in nb.cells]
    ['My answer.', 'Model.']
    >>> nb.cells[1].metadata[GRADERS_ONLY_KEY]["label"]
    'Model answer and rubric of why, from sol.ipynb'
    """
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if not _is_hand_graded_answer(cell) or GRADERS_ONLY_KEY in cell.get("metadata", {}):
            continue
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if answers is None:
            text = f"*The instructor notebook {source} could not be read: no rubric to show.*"
        elif grade_id not in answers:
            text = f"*The instructor notebook {source} has no answer cell {grade_id}.*"
        else:
            text = answers[grade_id] or "*Its solution region is empty.*"
        cells.append(
            _graders_only_cell(f"Model answer and rubric of {grade_id}, from {source}", text)
        )
    nb.cells = cells
    return nb


def _solution_delimiters(config: Any) -> tuple[str, str]:
    """``ClearSolutions``' delimiters, as configured (without building the preprocessor)."""
    from nbgrader.preprocessors import ClearSolutions

    traits = ClearSolutions.class_traits()
    section = config.ClearSolutions if "ClearSolutions" in config else {}
    return (
        str(section.get("begin_solution_delimeter", traits["begin_solution_delimeter"].default())),
        str(section.get("end_solution_delimeter", traits["end_solution_delimeter"].default())),
    )


def _course_directory(config: Any, resources: dict[str, Any]) -> Any:
    """The course formgrader serves, as a ``CourseDirectory``.

    Its root is where formgrader read the submission from (``autograded/<student>/
    <assignment>`` under the root, as the course's ``directory_structure`` lays it out),
    else the configured root (by default the server's working folder, as formgrader's).
    """
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    folder = resources.get("metadata", {}).get("path")
    student = resources.get("student")
    if not isinstance(folder, str) or not isinstance(student, str) or not folder:
        return coursedir
    expected = coursedir.format_path(
        coursedir.autograded_directory, student, resources["assignment_id"]
    )
    relative = os.path.relpath(os.path.normpath(expected), coursedir.root)
    folder = os.path.normpath(os.path.abspath(folder))
    if relative.startswith("..") or not folder.endswith(os.sep + relative):
        return coursedir
    return CourseDirectory(config=config, root=folder[: -len(relative) - 1])


class GraderRubric(Preprocessor):
    """Formgrader's exporter step: the instructor notebook's rubric under each written answer.

    Acts only in formgrader's ``HTMLExporter`` (template ``formgrade``, resources
    with ``assignment_id`` and ``notebook_id``), never in ``generate_feedback``.
    The instructor notebook is ``<source_directory>/<assignment>/<notebook>.ipynb``
    of the course (``CourseDirectory``), its solution delimiters those of nbgrader's
    ``ClearSolutions`` as configured.
    """

    def _in_formgrader(self, resources: Any) -> bool:
        exporter = self.parent
        return (
            getattr(exporter, "template_name", None) == "formgrade"
            and not isinstance(exporter, FeedbackExporter)
            and isinstance(resources, dict)
            and isinstance(resources.get("assignment_id"), str)
            and isinstance(resources.get("notebook_id"), str)
        )

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Insert the graders-only rubric cells (formgrader only).

        First, in any exporter, the graders-only mark is taken off every cell the
        submission brought: a student who sets it on a cell of their own (a "rubric"
        that awards full marks) gets a plain markdown cell, not a graders' panel.
        """
        for cell in nb.cells:
            cell.get("metadata", {}).pop(GRADERS_ONLY_KEY, None)
        if not self._in_formgrader(resources) or not any(map(_is_hand_graded_answer, nb.cells)):
            return nb, resources
        coursedir = _course_directory(self.config, resources)
        folder = coursedir.format_path(coursedir.source_directory, ".", resources["assignment_id"])
        path = os.path.normpath(os.path.join(folder, f"{resources['notebook_id']}.ipynb"))
        shown = os.path.relpath(path, coursedir.root)
        begin, end = _solution_delimiters(self.config)
        try:
            answers: dict[str, str] | None = _instructor_answers(path, begin, end)
        except Exception as error:  # missing, unreadable or invalid: say so on the page
            self.log.warning("No rubric for %s: %s", path, error)
            answers = None
        return insert_rubrics(nb, answers, shown), resources


def rubric_panel(label: str, body_html: str) -> str:
    """The rubric's panel: a heading that says it is for graders only, then ``body_html``.

    Examples
    --------
    >>> page = rubric_panel("Rubric of why, from a<b.ipynb", "<p>Model.</p>")
    >>> page.startswith('<aside class="panel panel-warning softsign-rubric"')
    True
    >>> print(page[page.index("<div"):])
    <div class="panel-heading"><strong>For graders only</strong> (students never see this):
    Rubric of why, from a&lt;b.ipynb</div><div class="panel-body"><p>Model.</p></div></aside>
    """
    return (
        f'<aside class="panel panel-warning softsign-rubric" role="note" '
        f'aria-label="For graders only" style="{RUBRIC_CSS}">'
        '<div class="panel-heading"><strong>For graders only</strong> (students never see '
        f"this): {html.escape(label)}</div>"
        f'<div class="panel-body">{body_html}</div></aside>'
    )


@pass_context
def formgrader_markdown2html(context: Any, source: str) -> str:
    """Formgrader's ``markdown2html`` filter: math as MathML, a rubric cell as its panel.

    Renders as nbconvert's own filter does (the cell's attachments, heading anchors),
    with nbconvert's default anchor settings.
    """
    cell = context.get("cell") or {}
    resources = context.get("resources") or {}
    body = markdown_to_html(
        source,
        attachments=cell.get("attachments", {}),
        path=resources.get("metadata", {}).get("path", ""),
    )
    graders_only = cell.get("metadata", {}).get(GRADERS_ONLY_KEY)
    if graders_only is None:
        return body
    return rubric_panel(str(graders_only.get("label", "")), body)


def register_formgrader(config: Any) -> None:
    """Set formgrader's exporter to show the rubrics and MathML; keep both out of feedback.

    ``HTMLExporter`` is the class formgrader instantiates; ``FeedbackExporter``, its
    subclass that ``generate_feedback`` uses, gets empty lists of its own (a subclass's
    section wins over its parent's in traitlets' configuration).
    """
    step = f"{__name__}.GraderRubric"
    preprocessors = list(config.HTMLExporter.get("preprocessors", []))
    if step not in preprocessors:
        preprocessors.append(step)
    config.HTMLExporter.preprocessors = preprocessors
    filters = dict(config.HTMLExporter.get("filters", {}))
    filters["markdown2html"] = f"{__name__}.formgrader_markdown2html"
    config.HTMLExporter.filters = filters
    config.FeedbackExporter.preprocessors = []
    config.FeedbackExporter.filters = {}
