"""The class report's tables, computed from the gradebook's scores and the judge's diagnoses.

Each table has its function: the exercises (points, full/partial/zero, the findings ranked
by how many students each cost), what each student missed and why, the students' totals,
and the count of autograded, diagnosed and missing notebooks. :func:`summarise` puts them
together into one :class:`~softsign_grader.report_model.ClassReport`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from softsign_grader.report_model import (
    Cell,
    ClassReport,
    ExerciseSummary,
    Finding,
    StudentSummary,
)
from softsign_grader.report_reading import Diagnoses
from source_lib.grading.messages import KINDS

__all__ = ["summarise"]

#: Verdicts of the judge that cost points because the student's code was wrong.
_WRONG = ("fail", "error", "timeout")
#: Kinds of finding that are neither diagnosed mistakes nor unnamed failures.
_OTHER = ("no_verdict", "no_record", "waiting", "manual")

_NUMBER = re.compile(r"[-+]?\d[\d.eE+-]*")

#: (kind, text, problem, diagnosis) of a cell that lost points.
_Reason = tuple[str, str, str, dict[str, Any] | None]


def _key(text: str) -> str:
    """A hint with its numbers blanked, so that hints differing only in numbers group."""
    return _NUMBER.sub("#", text)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _label(diagnosis: dict[str, Any]) -> str:
    """What went wrong, named by the failure's kind (an exception by its class)."""
    kind, error = diagnosis.get("kind"), diagnosis.get("error")
    if kind == "raised" and error:
        return f"raised {error}"
    return KINDS.get(kind, "wrong answer") if isinstance(kind, str) else "wrong answer"


def _why(diagnosis: dict[str, Any] | None) -> tuple[str, str, str]:
    """(kind, text, problem) of a cell that lost points, from the diagnosis's fields."""
    if diagnosis is None:
        return "no_record", "no diagnosis recorded", ""
    verdict = diagnosis.get("verdict")
    problem = _text(diagnosis.get("problem"))
    if verdict == "not_attempted":
        return "not_attempted", "not attempted", problem
    if verdict in _WRONG:
        if diagnosis.get("mistake"):  # the checks named it; the hint says it to the student
            return "mistake", _text(diagnosis.get("hint")), problem
        return "unnamed", f"{_label(diagnosis)}, no known pattern", problem
    if verdict == "no_verdict":
        return "no_verdict", f"no verdict: {problem}", problem
    return "no_record", "lost points, but the judge recorded a pass", problem


@dataclass(frozen=True)
class _Grades:
    """The scores and diagnoses of every submission, read cell by cell."""

    scores: dict[str, dict[tuple[str, str], float]]
    diagnoses: Diagnoses
    invalid: Collection[tuple[str, str]]
    waiting: dict[str, set[tuple[str, str]]]

    def score(self, student: str, cell: Cell) -> float:
        """The student's score of the cell (0 without a grade)."""
        return self.scores.get(student, {}).get((cell.notebook, cell.name), 0.0)

    def pending(self, student: str, cell: Cell) -> bool:
        """Whether the cell needs a manual grade from the student and has none yet."""
        return (cell.notebook, cell.name) in self.waiting.get(student, set())

    def reason(self, student: str, cell: Cell) -> _Reason:
        """Why the student lost points on the cell."""
        if student not in self.scores:
            return "no_record", "no submission", "", None
        got = self.scores[student]
        notebook = self.diagnoses.get(student, {}).get(cell.notebook)
        record = None if notebook is None else notebook.get(cell.name)
        kind, text, problem = _why(record)
        if (student, cell.notebook) in self.invalid:
            return "no_record", "notebook could not be read", problem, None
        if notebook is None:
            return kind, "notebook not submitted", problem, record
        if self.pending(student, cell):
            return "waiting", "awaiting a manual grade", problem, record
        if cell.written and (cell.notebook, cell.name) in got:
            # nbgrader scores an unchanged answer 0 and flags no manual grade
            unchanged = got[(cell.notebook, cell.name)] == 0.0
            kind, text = (
                ("not_attempted", "not attempted") if unchanged else ("manual", "graded by hand")
            )
        return kind, text, problem, record


def _count(findings: dict[tuple[str, str, str], Finding], student: str, reason: _Reason) -> None:
    """Add the student to the finding of ``reason`` (made on its first student)."""
    kind, text, problem, record = reason
    # the same words for another kind of failure are another finding
    key = (kind, _text(record.get("kind")) if record else "", _key(text))
    finding = findings.get(key)
    if finding is None:
        example = record.get("example", {}) if record else {}
        finding = findings[key] = Finding(
            kind,
            text,
            example={
                k: _text(example[k])
                for k in ("input", "expected", "got")
                if isinstance(example, dict) and k in example
            },
            problem=problem,
            verdict=_text(record.get("verdict")) if record else "",
            failure=_text(record.get("kind")) if record else "",
        )
    if student not in finding.students:
        finding.students.append(student)


def _split(
    points: dict[str, float], tops: dict[str, float], pending: dict[str, list[str]]
) -> tuple[list[str], list[str], list[str]]:
    """The students with full, partial and zero points of the cells graded.

    A student all of whose cells await a manual grade is in none of the three.
    """
    full, partial, zero = [], [], []
    for student, earned in points.items():
        top = tops[student]
        if not top and student in pending:
            continue
        if top and earned >= top:
            full.append(student)
        elif earned > 0:
            partial.append(student)
        else:
            zero.append(student)
    return full, partial, zero


def _exercise(
    name: str,
    group: list[Cell],
    students: list[str],
    grades: _Grades,
    missed: dict[str, list[tuple[str, str]]],
) -> ExerciseSummary:
    """One exercise's summary; what each student missed in it goes into ``missed``."""
    top = sum(cell.max_score for cell in group)
    points = {student: sum(grades.score(student, cell) for cell in group) for student in students}
    findings: dict[tuple[str, str, str], Finding] = {}
    not_attempted: list[str] = []
    pending = {
        student: cells
        for student in students
        if (cells := [cell.name for cell in group if grades.pending(student, cell)])
    }
    tops = {
        student: sum(c.max_score for c in group if c.name not in pending.get(student, []))
        for student in students
    }
    for student in students:
        reasons = [
            grades.reason(student, cell)
            for cell in group
            if not grades.score(student, cell) >= cell.max_score
        ]
        for reason in reasons:
            _count(findings, student, reason)
        if any(reason[0] == "not_attempted" for reason in reasons):
            not_attempted.append(student)
        missed[student].extend((name, text) for _, text in dict.fromkeys(r[:2] for r in reasons))
    ranked = sorted(findings.values(), key=lambda f: -f.count)  # stable: ties keep order
    full, partial, zero = _split(points, tops, pending)
    return ExerciseSummary(
        name=name,
        notebook=group[0].notebook,
        cells=[cell.name for cell in group],
        max_score=top,
        points=points,
        full=full,
        partial=partial,
        zero=zero,
        not_attempted=not_attempted,
        mistakes=[f for f in ranked if f.kind == "mistake"],
        unnamed=[f for f in ranked if f.kind == "unnamed"],
        other=[f for f in ranked if f.kind in _OTHER],
        pending=pending,
        graded_max=tops,
        written=all(cell.written for cell in group),
    )


def _students(
    students: list[str],
    exercises: list[ExerciseSummary],
    missed: dict[str, list[tuple[str, str]]],
    grades: _Grades,
    penalties: dict[str, float],
    maximum: float,
) -> list[StudentSummary]:
    """Each student's total (as ``nbgrader export``), points and misses; highest total first."""
    rows = []
    for student in students:
        submitted = student in grades.scores
        raw = sum(grades.scores.get(student, {}).values())
        total = max(0.0, raw - penalties.get(student, 0.0)) if submitted else 0.0
        points = {exercise.name: exercise.points[student] for exercise in exercises}
        rows.append(StudentSummary(student, total, maximum, submitted, points, missed[student]))
    rows.sort(key=lambda row: (-row.total, row.student))
    return rows


def _notebooks(
    cells: list[Cell], students: list[str], grades: _Grades
) -> tuple[int, int, list[tuple[str, str]]]:
    """How many submitted notebooks were autograded, how many of those carry diagnoses, and
    the ``(student, notebook)`` pairs of the submissions without an autograded notebook.
    """
    graded = diagnosed = 0
    lost = []
    notebooks = sorted({cell.notebook for cell in cells})
    for student in students:
        if student not in grades.scores:
            continue
        for notebook_name in notebooks:
            found = grades.diagnoses.get(student, {}).get(notebook_name)
            if found is None:
                lost.append((student, notebook_name))
                continue
            graded += 1
            diagnosed += bool(found)
    return graded, diagnosed, lost


def summarise(
    assignment: str,
    cells: list[Cell],
    students: list[str],
    scores: dict[str, dict[tuple[str, str], float]],
    penalties: dict[str, float],
    diagnoses: Diagnoses,
    invalid: Collection[tuple[str, str]] = (),
    waiting: dict[str, set[tuple[str, str]]] | None = None,
) -> ClassReport:
    """Compute the report from the gradebook's scores and the judge's diagnoses.

    ``diagnoses`` is ``{student: {notebook: {grade_id: diagnosis} or None}}``,
    None for a notebook without an autograded file. ``invalid`` holds the
    ``(student, notebook)`` pairs whose submitted file could not be read
    (graded as the unanswered release copy). ``waiting`` holds, per
    student, the ``(notebook, grade_id)`` of written answers that still need
    a manual grade.
    """
    grades = _Grades(scores, diagnoses, invalid, waiting or {})
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.exercise, []).append(cell)
    maximum = sum(cell.max_score for cell in cells)
    missed: dict[str, list[tuple[str, str]]] = {student: [] for student in students}
    exercises = [_exercise(name, group, students, grades, missed) for name, group in groups.items()]
    rows = _students(students, exercises, missed, grades, penalties, maximum)
    graded, diagnosed, lost = _notebooks(cells, students, grades)
    return ClassReport(assignment, maximum, rows, exercises, graded, diagnosed, lost)
