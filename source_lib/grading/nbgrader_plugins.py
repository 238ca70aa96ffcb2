"""nbgrader extensions that make the course's autograding trustworthy.

``nbgrader_config.py`` calls :func:`register`, which installs:

:class:`~source_lib.grading.judge.JudgedExecute` (``nbgrader autograde``)
    nbgrader's ``Execute`` preprocessor, with every autograded test cell
    decided by the judge outside the student's kernel, and the kernel run in
    a bubblewrap sandbox (:mod:`source_lib.grading.sandbox`).

:mod:`source_lib.grading.repair` and :class:`ForgetOldGrades` (``nbgrader autograde``)
    Copy-pasted, split and oddly tagged cells grade like the originals; a
    notebook's old automatic scores are cleared before it is graded again.

:class:`TolerantNotebookExporter` (``nbgrader autograde``)
    A submitted notebook that is not valid JSON does not abort the student's
    whole submission: the instructor's log says which file is broken and why,
    the notebook is graded as the unanswered release copy (every test cell
    scores 0), and the student's other notebooks are graded normally.
    A missing notebook is already scored 0 by nbgrader ("No submitted file").

:class:`ConciseFeedback` (``nbgrader generate_feedback``)
    In the feedback HTML, test cells show only their visible part (hidden
    tests are removed with nbgrader's own ``ClearHiddenTests`` delimiters) and
    a failed test shows the judge's message, not a traceback.
"""

from __future__ import annotations

import os
import re
from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor

from source_lib.grading import repair
from source_lib.grading.judge import WITHHELD_MESSAGE, JudgedExecute

#: Part of the message of a function withheld in the grading sandbox.
WITHHELD_MARK = WITHHELD_MESSAGE

__all__ = ["ConciseFeedback", "ForgetOldGrades", "TolerantNotebookExporter", "register"]


class ForgetOldGrades(NbGraderPreprocessor):
    """Clear a notebook's automatic scores before it is graded again.

    Runs first in ``nbgrader autograde``. If the new grading then fails, the
    gradebook shows no score for the notebook's cells (and flags them for
    manual grading) instead of keeping the marks of an earlier run that no
    longer stand. Manual scores and comments are left as they are.
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Reset ``auto_score`` of every grade of this submitted notebook."""
        from nbgrader.api import Gradebook, MissingEntry

        info = (resources or {}).get("nbgrader", {})
        try:
            with Gradebook(info["db_url"]) as gradebook:
                notebook = gradebook.find_submission_notebook(
                    info["notebook"], info["assignment"], info["student"]
                )
                for grade in notebook.grades:
                    if grade.auto_score is not None:
                        grade.auto_score = None
                        grade.needs_manual_grade = True
                gradebook.db.commit()
        except (KeyError, MissingEntry):
            pass
        return nb, resources


class TolerantNotebookExporter(NotebookExporter):
    """Notebook exporter that grades an unreadable submission as an unanswered one."""

    def from_filename(self, filename: str, resources: Any = None, **kwargs: Any) -> tuple[str, Any]:
        """Read ``filename``; if it is not a valid notebook, log why and use the release copy."""
        try:
            with open(filename, encoding="utf-8") as handle:
                nbformat.read(handle, as_version=4)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            reason = " ".join(str(error).split())[:300]
            self.log.error(
                "%s is not a valid notebook (%s: %s); it is graded as the unanswered "
                "release copy, so each of its test cells scores 0",
                filename,
                type(error).__name__,
                reason,
            )
            notebook = self._released_notebook(filename)
            resources = self._init_resources(resources)
            return self.from_notebook_node(notebook, resources=resources, **kwargs)
        return super().from_filename(filename, resources=resources, **kwargs)

    def _released_notebook(self, filename: str) -> NotebookNode:
        """The notebook as released to students (all exercises unanswered)."""
        coursedir = getattr(self.parent, "coursedir", None)
        if coursedir is not None:
            assignment = os.path.basename(os.path.dirname(os.path.abspath(filename)))
            release = os.path.join(
                coursedir.format_path(coursedir.release_directory, ".", assignment),
                os.path.basename(filename),
            )
            if os.path.exists(release):
                return nbformat.read(release, as_version=4)
            self.log.error("No released copy of %s at %s", filename, release)
        raise ValueError(f"{filename} is not a valid notebook and has no released copy")


class ConciseFeedback(NbGraderPreprocessor):
    """Feedback without hidden tests and without tracebacks in test cells."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: Any, cell_index: int
    ) -> tuple[NotebookNode, Any]:
        """Strip hidden-test regions and shorten error outputs of a test cell.

        In other cells, an error raised by a ``source_lib`` function that the
        grading sandbox withheld is shortened to its one-line message too.
        """
        if cell.cell_type != "code":
            return cell, resources
        if not utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error" and WITHHELD_MARK in str(output.get("evalue")):
                    output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
            return cell, resources
        cell.source = _hidden_region(self.config).sub("", cell.source).rstrip("\n")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
        return cell, resources


def _hidden_region(config: Any) -> re.Pattern[str]:
    """The hidden-tests region, with the delimiters nbgrader is configured to use."""
    clear = ClearHiddenTests(config=config)
    begin, end = (
        re.escape(text) for text in (clear.begin_test_delimeter, clear.end_test_delimeter)
    )
    return re.compile(
        rf"^[ \t]*#+[ \t]*{begin}.*?^[ \t]*#+[ \t]*{end}[^\n]*\n?", re.MULTILINE | re.DOTALL
    )


def register(config: Any) -> None:
    """Install the course's grading extensions into an nbgrader config object ``c``."""
    from nbgrader.converters import Autograde, GenerateFeedback

    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [
        JudgedExecute if step is Execute else step for step in steps
    ]
    # Pasted, split and odd cells first (source_lib.grading.repair); the notebook's
    # format repair must stay first, since nbconvert validates after every step.
    repair.install(config)
    sanitize = list(config.Autograde.sanitize_preprocessors)
    config.Autograde.sanitize_preprocessors = [*sanitize[:1], ForgetOldGrades, *sanitize[1:]]
    config.Autograde.exporter_class = TolerantNotebookExporter
    feedback = list(GenerateFeedback.class_traits()["preprocessors"].default())
    config.GenerateFeedback.preprocessors = [*feedback[:1], ConciseFeedback, *feedback[1:]]
