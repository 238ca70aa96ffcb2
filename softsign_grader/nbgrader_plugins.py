"""nbgrader extensions that make the course's autograding trustworthy.

``nbgrader_config.py`` calls :func:`register`, which installs:

:class:`~softsign_grader.judge.JudgedExecute` (``nbgrader autograde``)
    nbgrader's ``Execute`` preprocessor, with every autograded test cell
    decided by the judge outside the student's kernel, and the kernel run in
    a bubblewrap sandbox (:mod:`softsign_grader.sandbox`).

:mod:`softsign_grader.repair` and :class:`ForgetOldGrades` (``nbgrader autograde``)
    Copy-pasted, split and oddly tagged cells grade like the originals; a
    notebook's old automatic scores are cleared before it is graded again.

:class:`TolerantNotebookExporter` (``nbgrader autograde``)
    A submitted notebook that nbgrader cannot read, validate or sanitize (not
    JSON, nested too deeply, null or wrong-typed fields, a folder or a link
    named like a notebook, ...) does not abort the student's whole submission:
    the instructor's log says which file is broken and why, the notebook is
    graded as the unanswered release copy (every test cell scores 0) with a
    notice at its top that says so in plain words, and the student's other
    notebooks are graded normally. Files the staging of the submission left out
    are listed in a notice at the top too. A missing notebook is already scored
    0 by nbgrader ("No submitted file").

:class:`ConciseFeedback`, :class:`FigureAltText`, :class:`FeedbackExporter` (``generate_feedback``)
    In the feedback HTML, test cells show only their visible part (hidden
    tests are removed with nbgrader's own ``ClearHiddenTests`` delimiters) and
    a failed test shows the judge's message, not a traceback. The page reads
    offline: its mathematics is MathML written when the feedback is generated
    (no MathJax from a CDN), long output lines wrap, every figure has alt text,
    and the notices of an unreadable submission or of files not taken are its first
    lines. Nothing a student wrote runs there: the page is sanitized and runs no script.
"""

from __future__ import annotations

import os
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from softsign_grader import repair, submission
from softsign_grader.feedback import (
    ConciseFeedback,
    FeedbackExporter,
    FigureAltText,
    figure_alt_text,
    sanitize_feedback_html,
)
from softsign_grader.judge import WITHHELD_MESSAGE, JudgedExecute
from softsign_grader.notices import (
    SUBMISSION_NOTICE_KEY,
    UNREADABLE_KEY,
    submission_notice,
    unreadable_notice,
)
from softsign_grader.reading import (
    MAX_JSON_DEPTH,
    MalformedNotebook,
    TolerantNotebookExporter,
    notebook_shape_problem,
    read_submitted_notebook,
)

#: Part of the message of a function withheld in the grading sandbox.
WITHHELD_MARK = WITHHELD_MESSAGE

__all__ = [
    "MAX_JSON_DEPTH",
    "SUBMISSION_NOTICE_KEY",
    "UNREADABLE_KEY",
    "ConciseFeedback",
    "FeedbackExporter",
    "FigureAltText",
    "ForgetOldGrades",
    "MalformedNotebook",
    "TolerantNotebookExporter",
    "figure_alt_text",
    "notebook_shape_problem",
    "read_submitted_notebook",
    "register",
    "sanitize_feedback_html",
    "submission_notice",
    "unreadable_notice",
]


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


def quarantine_unsafe_entries(
    assignment: str = "", student: str = "", notebooks: Any = (), **_: Any
) -> None:
    """``Autograde.pre_convert_hook``: leave only regular files in each submission folder.

    nbgrader calls it per student, just before ``init_assignment`` copies the
    submission's files with ``shutil.copy`` (which follows links and blocks on a FIFO).
    Links, FIFOs, devices, sockets and files over the vetted reader's caps are moved,
    unfollowed, into ``<assignment>.quarantine/`` beside the folder and listed in the
    manifest that the student's feedback shows (:func:`softsign_grader.submission.quarantine`).
    """
    from traitlets.log import get_logger

    log = get_logger()  # the nbgrader application's log
    folders = {os.path.dirname(os.path.abspath(path)) for path in notebooks or ()}
    for folder in sorted(folders):
        for item in submission.quarantine(folder):
            log.warning("Submission %s: %s moved aside, never read", folder, item)


def register(config: Any) -> None:
    """Install the course's grading extensions into an nbgrader config object ``c``."""
    from nbgrader.converters import Autograde, GenerateFeedback

    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [
        JudgedExecute if step is Execute else step for step in steps
    ]
    # Pasted, split and odd cells first (softsign_grader.repair); the notebook's
    # format repair must stay first, since nbconvert validates after every step.
    repair.install(config)
    sanitize = list(config.Autograde.sanitize_preprocessors)
    config.Autograde.sanitize_preprocessors = [*sanitize[:1], ForgetOldGrades, *sanitize[1:]]
    config.Autograde.exporter_class = TolerantNotebookExporter
    # nbgrader's own copy of a submission follows links: move them aside first.
    config.Autograde.pre_convert_hook = quarantine_unsafe_entries
    feedback = list(GenerateFeedback.class_traits()["preprocessors"].default())
    config.GenerateFeedback.preprocessors = [
        *feedback[:1],
        ConciseFeedback,
        FigureAltText,
        *feedback[1:],
    ]
    config.GenerateFeedback.exporter_class = FeedbackExporter
