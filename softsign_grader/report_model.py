"""The class report's numbers: the records the tables, the page and the CSV files are made of.

:class:`ClassReport` holds everything the report shows; :mod:`softsign_grader.report_tables`
computes it from the gradebook's scores and the judge's diagnoses.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

__all__ = [
    "Cell",
    "ClassReport",
    "ExerciseSummary",
    "Finding",
    "ReportError",
    "StudentSummary",
]


class ReportError(RuntimeError):
    """The report cannot be built (no gradebook, unknown assignment)."""


@dataclass(frozen=True)
class Cell:
    """One graded cell of the assignment, and the exercise it checks."""

    notebook: str
    name: str
    max_score: float
    exercise: str
    written: bool = False  # a written answer (markdown), graded by hand


@dataclass
class Finding:
    """One kind of lost points in one exercise, and the students it cost.

    ``kind`` is ``"mistake"`` (a diagnosed mistake: ``text`` is its hint),
    ``"unnamed"`` (a failure the checks could not name: ``text`` is its
    problem, e.g. "wrong value"), ``"not_attempted"``, ``"no_verdict"`` (the
    judge could not decide: ``text`` says why) or ``"no_record"`` (points
    lost, but no diagnosis recorded: a notebook missing, not valid, or graded
    before diagnoses were recorded). A written answer, graded by hand, is
    ``"waiting"`` (it needs a manual grade in formgrader) or ``"manual"`` (a
    grader gave it less than full points).
    """

    kind: str
    text: str
    students: list[str] = field(default_factory=list)
    example: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    verdict: str = ""
    failure: str = ""  # the failure's kind (source_lib.grading.messages.KINDS), if any

    @property
    def count(self) -> int:
        """The number of students."""
        return len(self.students)


@dataclass
class ExerciseSummary:
    """One exercise: its points and what the class got wrong."""

    name: str
    notebook: str
    cells: list[str]
    max_score: float
    points: dict[str, float]  # by student
    full: list[str]
    partial: list[str]
    zero: list[str]
    not_attempted: list[str]
    mistakes: list[Finding]  # ranked
    unnamed: list[Finding]
    other: list[Finding]  # no verdict, no record, waiting for or given a manual grade
    #: by student, the cells (grade_ids) that need a manual grade and have none yet
    pending: dict[str, list[str]] = field(default_factory=dict)
    #: by student, the points of the cells graded (the exercise's points less the pending)
    graded_max: dict[str, float] = field(default_factory=dict)
    written: bool = False  # a written answer, graded by hand (no diagnoses)

    @property
    def waiting(self) -> list[str]:
        """The students with a cell of this exercise awaiting a manual grade."""
        return list(self.pending)

    @property
    def awaiting(self) -> int:
        """How many cells of this exercise await a manual grade, over all students."""
        return sum(len(cells) for cells in self.pending.values())

    @property
    def mean_share(self) -> float | None:
        """The class's mean share of the points of the graded cells (0 to 1).

        A cell awaiting a manual grade is left out (it is not a 0). None when no cell of
        the exercise is graded yet; 1.0 for an exercise worth no points.
        """
        if not self.points or not self.max_score:
            return 1.0
        graded = sum(self.graded_max.get(student, self.max_score) for student in self.points)
        if not graded:
            return None
        return sum(self.points.values()) / graded

    @property
    def diagnosed(self) -> int:
        """How many students' lost points the checks diagnosed (counted per finding)."""
        return sum(finding.count for finding in self.mistakes)

    @property
    def no_known_pattern(self) -> int:
        """How many students' wrong answers the checks could not name (counted per finding)."""
        return sum(finding.count for finding in self.unnamed)


@dataclass
class StudentSummary:
    """One student's total and what cost points."""

    student: str
    total: float
    max_score: float
    submitted: bool
    points: dict[str, float]  # by exercise
    missed: list[tuple[str, str]]  # (exercise, why)


@dataclass
class ClassReport:
    """Everything the report shows, computed from the gradebook and the autograded notebooks."""

    assignment: str
    max_score: float
    students: list[StudentSummary]  # sorted by total, highest first
    exercises: list[ExerciseSummary]  # in notebook order
    graded_notebooks: int  # submitted notebooks with an autograded file
    diagnosed_notebooks: int  # ... of which carry the judge's diagnoses
    lost_notebooks: list[tuple[str, str]]  # (student, notebook) in the gradebook, not autograded
    seconds: float = 0.0
    #: when the gradebook was read (the page shows it in UTC: grades may change after)
    read_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))

    @property
    def totals(self) -> dict[str, float]:
        """Each student's total, as ``nbgrader export`` computes it."""
        return {row.student: row.total for row in self.students}

    @property
    def awaiting_manual_grade(self) -> int:
        """How many cells still need a manual grade (scored 0 in the totals until then)."""
        return sum(exercise.awaiting for exercise in self.exercises)

    @property
    def has_diagnoses(self) -> bool:
        """Whether any notebook carries the judge's diagnoses."""
        return self.diagnosed_notebooks > 0

    def ranked_exercises(self) -> list[ExerciseSummary]:
        """The exercises with a graded cell, hardest (lowest mean share of points) first."""
        graded = [e for e in self.exercises if e.mean_share is not None]
        return sorted(graded, key=lambda e: (e.mean_share or 0.0, self.exercises.index(e)))

    def unranked_exercises(self) -> list[ExerciseSummary]:
        """The exercises of which no cell is graded yet (all await a manual grade)."""
        return [e for e in self.exercises if e.mean_share is None]

    def exercise(self, name: str) -> ExerciseSummary:
        """The exercise called ``name``."""
        for exercise in self.exercises:
            if exercise.name == name:
                return exercise
        raise KeyError(name)

    def revisit(self, count: int = 3) -> list[str]:
        """The ``count`` things most worth revisiting in class, as plain sentences."""
        from softsign_grader.report_advice import revisit

        return revisit(self, count)
