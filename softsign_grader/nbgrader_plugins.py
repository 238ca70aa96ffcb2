"""nbgrader extensions that make the course's autograding trustworthy.

``nbgrader_config.py`` calls :func:`register`, which installs:

:class:`~softsign_grader.judge.JudgedExecute` (``nbgrader autograde``)
    nbgrader's ``Execute`` preprocessor, with every autograded test cell
    decided by the judge outside the student's kernel, and the kernel run in
    a bubblewrap sandbox (:mod:`softsign_grader.sandbox`).

:mod:`softsign_grader.repair` and :class:`ForgetOldGrades` (``nbgrader autograde``)
    Copy-pasted, split and oddly tagged cells grade like the originals; a
    notebook's old automatic scores are cleared before it is graded again.

:class:`RestoreHiddenTests` and :class:`KeepGradedAnswers` (``nbgrader autograde``)
    A test cell as released (without its hidden tests) gets its full source back
    silently, so nbgrader warns "checksum ... has changed!" only for a test cell a
    student edited. A written answer a grader scored in formgrader stays graded
    through a regrade while its submitted source is unchanged; a changed answer is
    flagged for manual grading again.

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

:func:`~softsign_grader.rubric.register_formgrader` (formgrader)
    When a TA opens a submission, each written answer (a hand-graded markdown cell)
    has under it, marked "For graders only", the model answer and rubric: the
    solution region of that cell in the instructor notebook, read when the page is
    shown. The page's mathematics is MathML, so it reads offline. The feedback
    exporter takes neither step and drops such a cell; the release and the
    student's kernel never see it.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import (
    ClearHiddenTests,
    Execute,
    NbGraderPreprocessor,
    OverwriteCells,
    SaveAutoGrades,
)

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
from softsign_grader.rubric import register_formgrader

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
    "KeepGradedAnswers",
    "MalformedNotebook",
    "RestoreHiddenTests",
    "TolerantNotebookExporter",
    "answer_checksum",
    "figure_alt_text",
    "notebook_shape_problem",
    "read_answer_checksums",
    "read_submitted_notebook",
    "register",
    "sanitize_feedback_html",
    "submission_notice",
    "unreadable_notice",
    "write_answer_checksums",
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


class RestoreHiddenTests(NbGraderPreprocessor):
    """Give a test cell as released its hidden tests back before nbgrader checks it.

    Runs just before ``OverwriteCells`` in ``nbgrader autograde``. The gradebook keeps
    a test cell's full source (with its hidden tests) and its checksum; the released
    cell lacks the hidden part, so ``OverwriteCells`` would warn that its checksum
    has changed for every submission. A locked cell whose source is exactly the
    released one (the gradebook's source with the hidden tests removed by nbgrader's
    ``ClearHiddenTests``, with the course's delimiters) gets the gradebook's source
    here; any other change is left for ``OverwriteCells`` to warn about and undo.
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Put back the full source of every locked cell submitted as released."""
        from nbgrader.api import Gradebook

        info = (resources or {}).get("nbgrader", {})
        if "db_url" not in info:
            return nb, resources
        clear = ClearHiddenTests(config=self.config)
        with Gradebook(info["db_url"]) as gradebook:
            try:
                notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            except Exception:  # not in the gradebook: OverwriteCells reports it
                return nb, resources
            locked = {c.name: c.source for c in notebook.source_cells if c.locked}
        for cell in nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            full = locked.get(grade_id) if isinstance(grade_id, str) else None
            if full is None or cell.source == full:
                continue
            released = NotebookNode(cell_type=cell.cell_type, source=full, metadata=cell.metadata)
            try:
                clear.preprocess_cell(released, {}, 0)
            except RuntimeError:  # unbalanced delimiters: nothing to compare with
                continue
            if released.source == cell.source:
                cell.source = full
        return nb, resources


def answer_checksum(cell: Any) -> str:
    """Return the SHA-256 hex digest of an answer cell, as a regrade compares it.

    It covers what a TA graded: the cell's type, its source and its attachments (a
    pasted picture keeps the same source, ``![image.png](attachment:image.png)``,
    whatever the picture).
    """
    answer = {
        "cell_type": cell.get("cell_type"),
        "source": cell.get("source", ""),
        "attachments": cell.get("attachments") or {},
    }
    text = json.dumps(answer, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


#: The gradebook table of the answer sources autograding last saw (their checksums).
ANSWERS_TABLE = "softsign_graded_answers"


def _answers_table() -> Any:
    import sqlalchemy as sa

    return sa.Table(
        ANSWERS_TABLE,
        sa.MetaData(),
        sa.Column("assignment", sa.String(128), primary_key=True),
        sa.Column("notebook", sa.String(128), primary_key=True),
        sa.Column("student", sa.String(128), primary_key=True),
        sa.Column("cell", sa.String(128), primary_key=True),
        sa.Column("checksum", sa.String(64), nullable=False),
    )


def read_answer_checksums(
    gradebook: Any, assignment: str, student: str
) -> dict[str, dict[str, str]]:
    """Return ``{notebook: {cell: checksum}}`` of a student's answers at their last autograde.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        An open gradebook (the table is created in it if missing).
    assignment, student : str
        The assignment and student ids.

    Returns
    -------
    dict
        The checksums (:func:`answer_checksum`) recorded by :class:`KeepGradedAnswers`.
    """
    import sqlalchemy as sa

    table = _answers_table()
    table.create(bind=gradebook.db.connection(), checkfirst=True)
    rows = gradebook.db.execute(
        sa.select(table.c.notebook, table.c.cell, table.c.checksum).where(
            table.c.assignment == assignment, table.c.student == student
        )
    )
    found: dict[str, dict[str, str]] = {}
    for notebook, cell, checksum in rows:
        found.setdefault(notebook, {})[cell] = checksum
    return found


def write_answer_checksums(
    gradebook: Any, assignment: str, student: str, checksums: dict[str, dict[str, str]]
) -> None:
    """Record ``{notebook: {cell: checksum}}`` of a student's answers, uncommitted.

    The rows of each notebook named in ``checksums`` are replaced; other notebooks'
    rows are kept. The caller commits (with the grades, so both change together).
    """
    import sqlalchemy as sa

    table = _answers_table()
    table.create(bind=gradebook.db.connection(), checkfirst=True)
    mine = (table.c.assignment == assignment, table.c.student == student)
    for notebook, cells in checksums.items():
        gradebook.db.execute(sa.delete(table).where(*mine, table.c.notebook == notebook))
        rows = [
            {
                "assignment": assignment,
                "student": student,
                "notebook": notebook,
                "cell": cell,
                "checksum": checksum,
            }
            for cell, checksum in cells.items()
        ]
        if rows:
            gradebook.db.execute(sa.insert(table), rows)


class KeepGradedAnswers(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, which keeps a grader's work on unchanged answers.

    ``SaveAutoGrades`` flags every cell with a manual score as needing a manual
    grade, so a regrade (``--force``) would send every written answer back to the
    graders. Here a manually graded answer cell (a solution cell with points) that
    a grader had finished (a manual score, not flagged) stays finished when its
    source is the one the previous autograde saw; an answer that changed, or that
    was still flagged, is flagged. The checksums of the answers autograded are kept
    in the gradebook's ``softsign_graded_answers`` table.
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Save the automatic grades, then unflag the finished, unchanged answers."""
        from nbgrader import utils
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        name, assignment, student = info["notebook"], info["assignment"], info["student"]
        answers = {
            cell.metadata.nbgrader["grade_id"]: answer_checksum(cell)
            for cell in nb.cells
            if utils.is_grade(cell) and utils.is_solution(cell)
        }
        with Gradebook(info["db_url"]) as gradebook:
            seen = read_answer_checksums(gradebook, assignment, student)
            try:
                notebook = gradebook.find_submission_notebook(name, assignment, student)
                finished = {
                    g.name
                    for g in notebook.grades
                    if g.manual_score is not None and not g.needs_manual_grade
                }
            except MissingEntry:
                finished = set()
        before = seen.get(name, {})
        keep = {c for c, digest in answers.items() if c in finished and before.get(c) == digest}
        nb, resources = super().preprocess(nb, resources)
        with Gradebook(info["db_url"]) as gradebook:
            for cell in sorted(keep):
                grade = gradebook.find_grade(cell, name, assignment, student)
                if grade.auto_score is None:
                    grade.needs_manual_grade = False
            write_answer_checksums(gradebook, assignment, student, {name: answers})
            gradebook.db.commit()
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
    replace = {Execute: JudgedExecute, SaveAutoGrades: KeepGradedAnswers}
    config.Autograde.autograde_preprocessors = [replace.get(step, step) for step in steps]
    # Pasted, split and odd cells first (softsign_grader.repair); the notebook's
    # format repair must stay first, since nbconvert validates after every step.
    repair.install(config)
    sanitize = list(config.Autograde.sanitize_preprocessors)
    sanitize = [*sanitize[:1], ForgetOldGrades, *sanitize[1:]]
    at = sanitize.index(OverwriteCells) if OverwriteCells in sanitize else len(sanitize)
    config.Autograde.sanitize_preprocessors = [*sanitize[:at], RestoreHiddenTests, *sanitize[at:]]
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
    # Formgrader: the rubric from the instructor notebook under each written answer, for
    # graders only, and the page's math as MathML (softsign_grader.rubric).
    register_formgrader(config)
