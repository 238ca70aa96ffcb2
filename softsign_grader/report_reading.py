"""What the class report reads: the gradebook's scores and the autograded notebooks' diagnoses.

The scores come from nbgrader's gradebook (:class:`nbgrader.api.Gradebook`), one score per
grade cell and submission, exactly as formgrader and ``nbgrader export`` count them; the
judge's diagnosis of each graded cell (``cell.metadata["softsign"]``) from the autograded
notebooks; the order of the cells from the released notebooks (the gradebook keeps none).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softsign_grader.judge import DIAGNOSIS_KEY
from softsign_grader.notices import UNREADABLE_KEY
from softsign_grader.report_model import Cell, ReportError

__all__ = [
    "Diagnoses",
    "GradebookRecords",
    "read_autograded",
    "read_diagnoses",
    "read_gradebook",
    "release_order",
]

#: ``{student: {notebook: {grade_id: diagnosis} or None}}``; None: no autograded file.
Diagnoses = dict[str, dict[str, dict[str, dict[str, Any]] | None]]


@dataclass
class GradebookRecords:
    """What the gradebook holds of one assignment.

    ``scores`` is ``{student: {(notebook, grade_id): score}}`` for the students with a
    submission; ``penalties`` their late penalties; ``waiting`` the ``(notebook, grade_id)``
    of each student's cells that need a manual grade and have none yet.
    """

    cells: list[Cell]
    students: list[str]
    scores: dict[str, dict[tuple[str, str], float]]
    penalties: dict[str, float]
    waiting: dict[str, set[tuple[str, str]]]


def _exercise_of(source: str, name: str) -> str:
    from softsign_grader.judge import check_calls

    calls = check_calls(source or "")
    return calls[0].target if calls else name


def release_order(root: Path, release: str, assignment: str) -> dict[tuple[str, str], int]:
    """Position of each grade cell in the released notebooks (the gradebook keeps no order)."""
    order: dict[tuple[str, str], int] = {}
    for path in sorted((root / release / assignment).glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for index, cell in enumerate(cells):
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id:
                order[(path.stem, grade_id)] = index
    return order


def _cells(record: Any) -> list[Cell]:
    """The graded cells of an assignment (:class:`nbgrader.api.Assignment`), by notebook."""
    sources = {
        (cell.notebook.name, cell.name): cell.source
        for notebook in record.notebooks
        for cell in notebook.source_cells
    }
    return [
        Cell(
            notebook.name,
            cell.name,
            float(cell.max_score or 0.0),
            _exercise_of(sources.get((notebook.name, cell.name), ""), cell.name),
            written=cell in notebook.grade_cells and cell.cell_type == "markdown",
        )
        for notebook in sorted(record.notebooks, key=lambda n: n.name)
        for cell in [*notebook.grade_cells, *notebook.task_cells]
    ]


def _grades(gradebook: Any, assignment: str) -> Any:
    """Every grade of the assignment: (student, notebook, grade_id, score, awaits a grade).

    A grade awaits a manual grade when nbgrader flags it for one and no grader has given
    one yet (a cell regraded after a manual grade is flagged for review, but has its grade).
    """
    from nbgrader.api import (
        Assignment,
        BaseCell,
        Grade,
        Notebook,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    return (
        gradebook.db.query(
            SubmittedAssignment.student_id,
            Notebook.name,
            BaseCell.name,
            Grade.score,
            Grade.needs_manual_grade & Grade.manual_score.is_(None),
        )
        .select_from(Grade)
        .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
        .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
        .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
        .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
        .join(BaseCell, Grade.cell_id == BaseCell.id)
        .filter(Assignment.name == assignment)
    )


def read_gradebook(
    db_url: str, course_id: str, assignment: str, policy: Any = None
) -> GradebookRecords:
    """Read the cells, students, scores, late penalties and pending manual grades.

    ``policy``, the course's late-penalty plugin (:func:`softsign_grader.late.late_policy`),
    computes each late penalty from the current scores, as the exports do
    (:func:`softsign_grader.late.notebook_penalties`); without it the penalties stored at
    autograding are read, which miss manual grades entered since.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from softsign_grader.late import notebook_penalties

    with Gradebook(db_url, course_id) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise ReportError(f"the gradebook has no assignment {assignment!r}") from None
        cells = _cells(record)
        students = sorted(student.id for student in gradebook.students)
        scores: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
        waiting: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for student, notebook, cell, score, awaiting in _grades(gradebook, assignment):
            scores[student][(notebook, cell)] = float(score or 0.0)
            if awaiting:
                waiting[student].add((notebook, cell))
        penalties = {
            submission.student_id: (
                float(submission.late_submission_penalty or 0.0)
                if policy is None
                else sum(notebook_penalties(submission, policy).values())
            )
            for submission in record.submissions
        }
    return GradebookRecords(cells, students, dict(scores), penalties, dict(waiting))


def read_autograded(path: Path) -> tuple[dict[str, dict[str, Any]] | None, bool]:
    """The judge's diagnoses in one autograded notebook, by grade_id (None: no file), and
    whether the exporter graded it in place of a submission it could not read.
    """
    try:
        notebook = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None, False
    found = {}
    unreadable = False
    for cell in notebook.get("cells", []) if isinstance(notebook, dict) else []:
        metadata = cell.get("metadata", {}) if isinstance(cell, dict) else {}
        metadata = metadata if isinstance(metadata, dict) else {}
        unreadable = unreadable or UNREADABLE_KEY in metadata
        grade = metadata.get("nbgrader", {})
        record = metadata.get(DIAGNOSIS_KEY)
        # only test cells carry the judge's diagnosis
        if grade.get("grade") and not grade.get("solution") and isinstance(record, dict):
            found[str(grade.get("grade_id"))] = record
    return found, unreadable


def read_diagnoses(
    folder: Callable[[str], Path],
    students: Sequence[str],
    notebooks: Sequence[str],
    *,
    progress: bool = False,
) -> tuple[Diagnoses, set[tuple[str, str]]]:
    """The diagnoses in each student's autograded notebooks (in ``folder(student)``), and
    the ``(student, notebook)`` pairs whose submitted file could not be read.
    """
    from tqdm import tqdm

    diagnoses: Diagnoses = {}
    invalid: set[tuple[str, str]] = set()
    for student in tqdm(
        students, desc="reading autograded notebooks", unit="student", disable=not progress
    ):
        where = folder(student)
        diagnoses[student] = {}
        for notebook in notebooks:
            records, unreadable = read_autograded(where / f"{notebook}.ipynb")
            diagnoses[student][notebook] = records
            if unreadable:
                invalid.add((student, notebook))
    return diagnoses, invalid
