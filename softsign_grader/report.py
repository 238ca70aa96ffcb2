"""The class report: what the class got wrong, at a glance.

``softsign-grade report ASSIGNMENT`` (or ``make report ASSIGNMENT=week1``) reads
the course's gradebook through nbgrader's API and the judge's diagnosis of every
graded cell from the autograded notebooks, and writes

* ``reports/ASSIGNMENT.html``: one self-contained page (figures embedded as PNG
  images with alt text, inline CSS, no script from anywhere; a few lines of
  inline script only make the student table sortable by clicking a heading).
  It opens from a file or an LMS attachment and reads on a phone;
* ``reports/ASSIGNMENT_students.csv``, ``ASSIGNMENT_exercises.csv`` and
  ``ASSIGNMENT_mistakes.csv``: the same tables, for a spreadsheet.

A written answer (a markdown cell graded by hand) is an exercise of its own,
named by its grade_id; until a grader scores it in formgrader it counts 0 and
is listed as "awaiting a manual grade", not as a mistake.

What it shows
-------------
Per exercise (a graded function, with all the test cells that check it): how
the points are distributed, the shares of students with full, partial and
zero points, the share who did not attempt it (the function still raises
``NotImplementedError``), and the diagnosed mistakes, ranked by how many
students made each, with the hint the students saw and one anonymised example
input/expected/got. Failures the checks could not name ("wrong value, no
known pattern") are counted apart, to show where a new hint is needed. Per
student: the total, the points of each exercise and what went wrong where
points were lost. Per class: the distribution of totals, the exercises ranked
by difficulty and a paragraph, generated from the numbers, on the three
things most worth revisiting in class.

Where the numbers come from
---------------------------
Scores are the gradebook's, exactly as ``nbgrader export`` and formgrader
compute them: a grade's score is its manual score if set, else its automatic
score, plus extra credit; a student's total is the sum over the assignment
minus the late penalty, never below 0; a student in the gradebook without a
submission scores 0. The diagnoses are the judge's records
(``cell.metadata["softsign"]``, see :func:`softsign_grader.judge.diagnosis`)
and are only used where a cell lost points, so a manual regrade that gives
full points also removes the mistake from the report. The report classifies
nothing by its wording: a failure the checks named (its record's ``mistake``)
is a diagnosed mistake, grouped by its hint (numbers in the hint aside); one
they could not name is counted as "no known pattern", by its ``kind`` ("wrong
value", "raised TypeError"...). A notebook the exporter could not read (it
marks the notice cell with :data:`softsign_grader.notices.UNREADABLE_KEY`) is
listed as such. Notebooks graded before the judge recorded diagnoses still get
their scores, and the page says plainly that their diagnoses are missing.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import html
import io
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from softsign_grader.judge import DIAGNOSIS_KEY
from softsign_grader.notices import UNREADABLE_KEY
from source_lib.grading.messages import KINDS, NOT_TAUGHT

__all__ = [
    "ClassReport",
    "ExerciseSummary",
    "Finding",
    "ReportError",
    "StudentSummary",
    "build_report",
    "load_report",
    "main",
    "write_report",
]

#: Okabe and Ito's colour-blind-safe palette: full, partial, zero points (and more).
FULL_COLOUR, PARTIAL_COLOUR, ZERO_COLOUR = "#009E73", "#E69F00", "#D55E00"
BLUE, SKY, GREY = "#0072B2", "#56B4E9", "#999999"

#: Verdicts of the judge that cost points because the student's code was wrong.
_WRONG = ("fail", "error", "timeout")


class ReportError(RuntimeError):
    """The report cannot be built (no gradebook, unknown assignment)."""


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class _Cell:
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
    waiting: list[str] = field(default_factory=list)  # students whose answer needs a manual grade
    written: bool = False  # a written answer, graded by hand (no diagnoses)

    @property
    def mean_share(self) -> float:
        """The class's mean share of this exercise's points (0 to 1)."""
        if not self.points or not self.max_score:
            return 1.0
        return sum(self.points.values()) / (len(self.points) * self.max_score)


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

    @property
    def totals(self) -> dict[str, float]:
        """Each student's total, as ``nbgrader export`` computes it."""
        return {row.student: row.total for row in self.students}

    @property
    def awaiting_manual_grade(self) -> int:
        """How many written answers still need a manual grade (scored 0 until then)."""
        return sum(len(exercise.waiting) for exercise in self.exercises)

    @property
    def has_diagnoses(self) -> bool:
        """Whether any notebook carries the judge's diagnoses."""
        return self.diagnosed_notebooks > 0

    def ranked_exercises(self) -> list[ExerciseSummary]:
        """The exercises, hardest (lowest mean share of points) first."""
        return sorted(self.exercises, key=lambda e: (e.mean_share, self.exercises.index(e)))

    def exercise(self, name: str) -> ExerciseSummary:
        """The exercise called ``name``."""
        for exercise in self.exercises:
            if exercise.name == name:
                return exercise
        raise KeyError(name)

    def revisit(self, count: int = 3) -> list[str]:
        """The ``count`` things most worth revisiting in class, as plain sentences."""
        return _revisit(self, count)


# --------------------------------------------------------------------------- reading


def _exercise_of(source: str, name: str) -> str:
    from softsign_grader.judge import check_calls

    calls = check_calls(source or "")
    return calls[0].target if calls else name


def _release_order(root: Path, release: str, assignment: str) -> dict[tuple[str, str], int]:
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


def _read_gradebook(
    db_url: str, course_id: str, assignment: str
) -> tuple[
    list[_Cell],
    list[str],
    dict[str, dict[tuple[str, str], float]],
    dict[str, float],
    dict[str, set[tuple[str, str]]],
]:
    from nbgrader.api import (
        Assignment,
        BaseCell,
        Grade,
        Gradebook,
        MissingEntry,
        Notebook,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    with Gradebook(db_url, course_id) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise ReportError(f"the gradebook has no assignment {assignment!r}") from None
        sources = {
            (cell.notebook.name, cell.name): cell.source
            for notebook in record.notebooks
            for cell in notebook.source_cells
        }
        cells = [
            _Cell(
                notebook.name,
                cell.name,
                float(cell.max_score or 0.0),
                _exercise_of(sources.get((notebook.name, cell.name), ""), cell.name),
                written=cell in notebook.grade_cells and cell.cell_type == "markdown",
            )
            for notebook in sorted(record.notebooks, key=lambda n: n.name)
            for cell in [*notebook.grade_cells, *notebook.task_cells]
        ]
        students = sorted(student.id for student in gradebook.students)
        query = (
            gradebook.db.query(
                SubmittedAssignment.student_id,
                Notebook.name,
                BaseCell.name,
                Grade.score,
                Grade.needs_manual_grade,
            )
            .select_from(Grade)
            .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(BaseCell, Grade.cell_id == BaseCell.id)
            .filter(Assignment.name == assignment)
        )
        scores: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
        written = {(cell.notebook, cell.name) for cell in cells if cell.written}
        waiting: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for student, notebook, cell, score, manual in query:
            scores[student][(notebook, cell)] = float(score or 0.0)
            if manual and (notebook, cell) in written:
                waiting[student].add((notebook, cell))
        penalties = {
            student: float(penalty or 0.0)
            for student, penalty in gradebook.db.query(
                SubmittedAssignment.student_id, SubmittedAssignment.late_submission_penalty
            )
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .filter(Assignment.name == assignment)
        }
    return cells, students, dict(scores), penalties, dict(waiting)


def _read_autograded(path: Path) -> tuple[dict[str, dict[str, Any]] | None, bool]:
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


# --------------------------------------------------------------------------- summarising


_NUMBER = re.compile(r"[-+]?\d[\d.eE+-]*")


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


def summarise(
    assignment: str,
    cells: list[_Cell],
    students: list[str],
    scores: dict[str, dict[tuple[str, str], float]],
    penalties: dict[str, float],
    diagnoses: dict[str, dict[str, dict[str, dict[str, Any]] | None]],
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
    waiting = waiting or {}
    exercises: dict[str, list[_Cell]] = {}
    for cell in cells:
        exercises.setdefault(cell.exercise, []).append(cell)
    maximum = sum(cell.max_score for cell in cells)
    summaries = []
    student_points: dict[str, dict[str, float]] = {s: {} for s in students}
    student_missed: dict[str, list[tuple[str, str]]] = {s: [] for s in students}
    for name, group in exercises.items():
        top = sum(cell.max_score for cell in group)
        points: dict[str, float] = {}
        findings: dict[tuple[str, str, str], Finding] = {}
        full, partial, zero, not_attempted, awaiting = [], [], [], [], []
        for student in students:
            got = scores.get(student, {})
            earned = sum(got.get((cell.notebook, cell.name), 0.0) for cell in group)
            points[student] = earned
            student_points[student][name] = earned
            if top and earned >= top:
                full.append(student)
            elif earned > 0:
                partial.append(student)
            else:
                zero.append(student)
            reasons: list[tuple[str, str]] = []
            for cell in group:
                if got.get((cell.notebook, cell.name), 0.0) >= cell.max_score:
                    continue
                if student not in scores:
                    kind, text, problem = "no_record", "no submission", ""
                    record: dict[str, Any] | None = None
                else:
                    notebook = diagnoses.get(student, {}).get(cell.notebook)
                    record = None if notebook is None else notebook.get(cell.name)
                    kind, text, problem = _why(record)
                    if (student, cell.notebook) in invalid:
                        kind, text, record = "no_record", "notebook could not be read", None
                    elif notebook is None:
                        text = "notebook not submitted"
                    elif (cell.notebook, cell.name) in waiting.get(student, set()):
                        kind, text = "waiting", "awaiting a manual grade"
                        if student not in awaiting:
                            awaiting.append(student)
                    elif cell.written and (cell.notebook, cell.name) in got:
                        # nbgrader scores an unchanged answer 0 and flags no manual grade
                        unchanged = got[(cell.notebook, cell.name)] == 0.0
                        kind, text = (
                            ("not_attempted", "not attempted")
                            if unchanged
                            else ("manual", "graded by hand")
                        )
                reasons.append((kind, text))
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
            if any(kind == "not_attempted" for kind, _ in reasons):
                not_attempted.append(student)
            for _, text in dict.fromkeys(reasons):
                student_missed[student].append((name, text))
        ranked = sorted(findings.values(), key=lambda f: -f.count)  # stable: ties keep order
        summaries.append(
            ExerciseSummary(
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
                other=[
                    f for f in ranked if f.kind in ("no_verdict", "no_record", "waiting", "manual")
                ],
                waiting=awaiting,
                written=all(cell.written for cell in group),
            )
        )
    rows = []
    for student in students:
        submitted = student in scores
        raw = sum(scores.get(student, {}).values())
        total = max(0.0, raw - penalties.get(student, 0.0)) if submitted else 0.0
        rows.append(
            StudentSummary(
                student,
                total,
                maximum,
                submitted,
                student_points[student],
                student_missed[student],
            )
        )
    rows.sort(key=lambda row: (-row.total, row.student))
    graded = diagnosed = 0
    lost = []
    notebooks = sorted({cell.notebook for cell in cells})
    for student in students:
        if student not in scores:
            continue
        for notebook_name in notebooks:
            found = diagnoses.get(student, {}).get(notebook_name)
            if found is None:
                lost.append((student, notebook_name))
                continue
            graded += 1
            diagnosed += bool(found)
    return ClassReport(assignment, maximum, rows, summaries, graded, diagnosed, lost)


def load_report(
    course_root: Path | str,
    assignment: str,
    *,
    nbgrader_args: Sequence[str] = (),
    progress: bool = False,
) -> ClassReport:
    """Read a course's gradebook and autograded notebooks; return the report's numbers.

    Parameters
    ----------
    course_root : path
        The course folder (holding ``nbgrader_config.py``).
    assignment : str
        The assignment id, e.g. ``"softsign"``.
    nbgrader_args : sequence of str
        Extra ``--Class.trait=value`` options, as for nbgrader.
    progress : bool
        Show a progress bar while the autograded notebooks are read.
    """
    from softsign_grader.course import GradingError, load_course

    start = time.perf_counter()
    if not (Path(course_root) / "nbgrader_config.py").is_file():
        raise ReportError(f"{course_root} is no course folder (it has no nbgrader_config.py)")
    try:
        course = load_course(Path(course_root), nbgrader_args)
    except GradingError as error:
        raise ReportError(str(error)) from None
    if not course.db_path.exists():
        raise ReportError(f"no gradebook at {course.db_path}: grade the assignment first")
    cells, students, scores, penalties, waiting = _read_gradebook(
        course.db_url, course.course_id, assignment
    )
    order = _release_order(course.root, course.release_directory, assignment)
    cells.sort(key=lambda c: (c.notebook, order.get((c.notebook, c.name), 10**6), c.name))
    notebooks = sorted({cell.notebook for cell in cells})
    from tqdm import tqdm

    diagnoses: dict[str, dict[str, dict[str, dict[str, Any]] | None]] = {}
    invalid: set[tuple[str, str]] = set()
    submitted = [student for student in students if student in scores]
    for student in tqdm(
        submitted, desc="reading autograded notebooks", unit="student", disable=not progress
    ):
        folder = course.path(course.autograded_directory, student, assignment)
        diagnoses[student] = {}
        for notebook in notebooks:
            records, unreadable = _read_autograded(folder / f"{notebook}.ipynb")
            diagnoses[student][notebook] = records
            if unreadable:
                invalid.add((student, notebook))
    report = summarise(assignment, cells, students, scores, penalties, diagnoses, invalid, waiting)
    report.seconds = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------- the advice


def _share(count: int, whole: int) -> str:
    return f"{count} of {whole} students ({100 * count / whole:.0f}%)" if whole else "no students"


def _misconception(finding: Finding) -> bool:
    """Whether a diagnosed mistake is worth teaching (a wrong answer, not a stopped kernel).

    The failure's kind decides: one in :data:`source_lib.grading.messages.NOT_TAUGHT`
    (the code stopped, vanished or cheated) is no misconception.
    """
    return finding.verdict in ("fail", "error") and finding.failure not in NOT_TAUGHT


def _revisit(report: ClassReport, count: int) -> list[str]:
    whole = len(report.students)
    candidates: list[tuple[int, float, int, str]] = []
    for position, exercise in enumerate(report.exercises):
        lost = exercise.max_score * len(exercise.points) - sum(exercise.points.values())
        for finding in exercise.mistakes:
            if not _misconception(finding):
                continue
            candidates.append(
                (
                    finding.count,
                    lost,
                    position,
                    f"{exercise.name}: {_share(finding.count, whole)} made the mistake the "
                    f"checks explain as \u201c{finding.text}\u201d",
                )
            )
        unnamed = sum(f.count for f in exercise.unnamed)
        if unnamed:
            candidates.append(
                (
                    unnamed,
                    lost,
                    position,
                    f"{exercise.name}: {_share(unnamed, whole)} gave wrong answers the checks "
                    "could not name; their notebooks may show a misconception the hints miss",
                )
            )
    candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))
    chosen = [text for *_, text in candidates[:count]]
    if len(chosen) < count:
        named = {text.split(":")[0] for text in chosen}
        for exercise in report.ranked_exercises():
            if len(chosen) >= count or exercise.mean_share >= 1.0:
                break
            if exercise.name in named or exercise.waiting:
                continue
            chosen.append(
                f"{exercise.name}: the class earned {100 * exercise.mean_share:.0f}% of its "
                f"{exercise.max_score:g} points on average"
                + (
                    f", and {_share(len(exercise.not_attempted), whole)} did not attempt it"
                    if exercise.not_attempted
                    else ""
                )
            )
    return chosen


def _paragraph(report: ClassReport) -> str:
    items = report.revisit()
    whole = len(report.students)
    if not whole:
        return "The gradebook holds no students yet."
    if not items and report.awaiting_manual_grade:
        return (
            f"Nothing to revisit yet: {report.awaiting_manual_grade} written answers still "
            "await a manual grade in formgrader, and count 0 in the totals until then."
        )
    if not items:
        return f"All {whole} students earned every point: nothing to revisit."
    ordinals = ["First", "Second", "Third", "Fourth", "Fifth"]
    sentences = [
        f"{ordinals[i] if i < len(ordinals) else 'Next'}, {item}." for i, item in enumerate(items)
    ]
    numbers = {1: "one thing", 2: "two things", 3: "three things"}
    intro = f"The {numbers.get(len(items), f'{len(items)} things')} most worth revisiting in class"
    if not report.has_diagnoses:
        intro += " (from the scores alone, since no diagnoses were recorded)"
    paragraph = f"{intro}: " + " ".join(sentences)
    if report.awaiting_manual_grade:
        paragraph += (
            f" {report.awaiting_manual_grade} written answers still await a manual grade in "
            "formgrader; until then they count 0 in the totals."
        )
    return paragraph


# --------------------------------------------------------------------------- figures


def _figure_png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _points_figure(exercise: ExerciseSummary) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    counts = Counter(exercise.points.values())
    values = sorted(set(counts) | {0.0, exercise.max_score})
    colours, hatches = [], []
    for value in values:
        if value >= exercise.max_score and exercise.max_score:
            colours.append(FULL_COLOUR)
            hatches.append("")
        elif value > 0:
            colours.append(PARTIAL_COLOUR)
            hatches.append("//")
        else:
            colours.append(ZERO_COLOUR)
            hatches.append("xx")
    figure, axes = plt.subplots(figsize=(4.2, 2.4))
    bars = axes.bar(
        [f"{value:g}" for value in values],
        [counts.get(value, 0) for value in values],
        color=colours,
        edgecolor="black",
        linewidth=0.6,
    )
    for bar, hatch in zip(bars, hatches, strict=True):
        bar.set_hatch(hatch)
    axes.set_xlabel(f"points earned (of {exercise.max_score:g})")
    axes.set_ylabel("students")
    axes.set_title(exercise.name, fontsize=10)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    parts = ", ".join(
        f"{counts.get(value, 0)} with {value:g} points" for value in values if counts.get(value)
    )
    alt = f"Bar chart of the points earned on {exercise.name}: {parts}."
    return _figure_png(figure), alt


def _totals_figure(report: ClassReport) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    totals = [row.total for row in report.students]
    top = report.max_score or 1.0
    figure, axes = plt.subplots(figsize=(6.0, 2.8))
    whole_points = top <= 40 and all(float(t).is_integer() for t in totals)
    bins: Any = [x - 0.5 for x in range(int(top) + 2)] if whole_points else 20
    axes.hist(
        totals,
        bins=bins,
        range=None if whole_points else (0, top),
        color=BLUE,
        edgecolor="black",
        linewidth=0.6,
        hatch="..",
    )
    axes.set_xlabel(f"total points (of {top:g})")
    axes.set_ylabel("students")
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    median = sorted(totals)[len(totals) // 2] if totals else 0.0
    alt = (
        f"Histogram of the {len(totals)} students' totals out of {top:g} points; "
        f"the median total is {median:g}."
    )
    return _figure_png(figure), alt


def _difficulty_figure(report: ClassReport) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    ranked = report.ranked_exercises()
    figure, axes = plt.subplots(figsize=(6.0, 0.45 * len(ranked) + 1.0))
    names = [exercise.name for exercise in ranked][::-1]
    shares = [100 * exercise.mean_share for exercise in ranked][::-1]
    axes.barh(names, shares, color=SKY, edgecolor="black", linewidth=0.6, hatch="//")
    for y, share in enumerate(shares):
        axes.text(share + 1, y, f"{share:.0f}%", va="center", fontsize=9)
    axes.set_xlim(0, 110)
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel("mean share of the exercise's points earned (%)")
    axes.set_ylabel("exercise")
    axes.spines[["top", "right"]].set_visible(False)
    listed = "; ".join(f"{e.name} {100 * e.mean_share:.0f}%" for e in ranked)
    alt = f"Horizontal bar chart of the exercises, hardest first: {listed}."
    return _figure_png(figure), alt


# --------------------------------------------------------------------------- writing


_CSS = """
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0; color: #1a1a1a; background: #fff; }
main { max-width: 62rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; } h2 { font-size: 1.3rem; margin-top: 2rem;
  border-bottom: 2px solid #0072B2; } h3 { font-size: 1.1rem; margin-bottom: 0.3rem; }
img { max-width: 100%; height: auto; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
th button { font: inherit; font-weight: bold; border: 0; background: none; padding: 0;
  cursor: pointer; text-decoration: underline dotted; }
.notice { border-left: 6px solid #E69F00; background: #fff6e0; padding: 0.5rem 0.8rem; }
.exercise { border: 1px solid #ccc; border-radius: 6px; padding: 0.6rem 0.9rem; margin: 1rem 0; }
.grid { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.grid > * { flex: 1 1 16rem; min-width: 0; }
h3, td, p { overflow-wrap: break-word; }
#students th { overflow-wrap: anywhere; min-width: 3rem; } td.why { min-width: 16rem; }
td.why ul { margin: 0; padding-left: 1.1rem; }
.exercise img { max-width: min(100%, 26rem); }
.example { margin-top: 0.3rem; padding-left: 0.5rem; border-left: 3px solid #56B4E9; }
code, .ex { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85rem; }
.muted { color: #555; }
"""

_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    var button = document.createElement("button");
    button.textContent = th.textContent; th.textContent = ""; th.appendChild(button);
    button.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.order !== "asc"; th.dataset.order = up ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.v || a.cells[column].textContent;
        var y = b.cells[column].dataset.v || b.cells[column].textContent;
        var d = (isNaN(x) || isNaN(y)) ? (x < y ? -1 : x > y ? 1 : 0) : x - y;
        return up ? d : -d;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

#: The page's Content-Security-Policy: the one script that runs is the sorting above (by its
#: hash), so a string that escaped escaping could still run nothing; images are embedded.
_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; script-src 'sha256-"
    + base64.b64encode(hashlib.sha256(_SORT_SCRIPT.encode()).digest()).decode()
    + "'"
)


def _e(text: Any) -> str:
    """``text`` escaped for HTML text and quoted attribute values (every student string)."""
    return html.escape(str(text), quote=True)


def _percent(count: int, whole: int) -> str:
    return f"{100 * count / whole:.0f}%" if whole else "-"


def _image(png: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{png}" alt="{_e(alt)}">'


def _example(example: dict[str, str]) -> str:
    return "<br>".join(
        f"<span class='ex'>{_e(key)}: {_e(value)}</span>" for key, value in example.items()
    )


def _finding_rows(findings: list[Finding], whole: int) -> list[str]:
    rows = []
    for rank, finding in enumerate(findings, 1):
        example = _example(finding.example)
        rows.append(
            f"<tr><td class='n'>{rank}</td><td>{_e(finding.text)}"
            + (f"<div class='example'>{example}</div>" if example else "")
            + f"</td><td class='n'>{finding.count}</td>"
            f"<td class='n'>{_percent(finding.count, whole)}</td></tr>"
        )
    return rows


def _exercise_section(exercise: ExerciseSummary, whole: int, diagnosed: bool) -> str:
    png, alt = _points_figure(exercise)
    parts = [
        f"<section class='exercise' id='exercise-{_e(exercise.name)}'>",
        f"<h3><code>{_e(exercise.name)}</code> <span class='muted'>({_e(exercise.notebook)}, "
        f"{exercise.max_score:g} points, cells {_e(', '.join(exercise.cells))})</span></h3>",
        "<div class='grid'><div>",
        _image(png, alt),
        "</div><div><div class='scroll'><table><tbody>",
        f"<tr><th>full points</th><td class='n'>{len(exercise.full)}</td>"
        f"<td class='n'>{_percent(len(exercise.full), whole)}</td></tr>",
        f"<tr><th>partial points</th><td class='n'>{len(exercise.partial)}</td>"
        f"<td class='n'>{_percent(len(exercise.partial), whole)}</td></tr>",
        f"<tr><th>zero points</th><td class='n'>{len(exercise.zero)}</td>"
        f"<td class='n'>{_percent(len(exercise.zero), whole)}</td></tr>",
        f"<tr><th>not attempted</th><td class='n'>{len(exercise.not_attempted)}</td>"
        f"<td class='n'>{_percent(len(exercise.not_attempted), whole)}</td></tr>",
        f"<tr><th>mean</th><td class='n' colspan='2'>{100 * exercise.mean_share:.0f}% "
        "of the points</td></tr>",
        "</tbody></table></div></div></div>",
    ]
    head = (
        "<thead><tr><th>#</th><th>{} <span class='muted'>(and one anonymised example)</span>"
        "</th><th>students</th><th>share</th></tr></thead>"
    )
    if exercise.mistakes:
        parts += [
            "<h4>Diagnosed mistakes, most frequent first</h4><div class='scroll'><table>",
            head.format("hint the students saw"),
            "<tbody>",
            *_finding_rows(exercise.mistakes, whole),
            "</tbody></table></div>",
        ]
    elif diagnosed:
        parts.append("<p class='muted'>No diagnosed mistakes.</p>")
    if exercise.unnamed:
        parts += [
            "<h4>Wrong, no known pattern <span class='muted'>(a new hint may be needed)</span>"
            "</h4><div class='scroll'><table>",
            head.format("problem"),
            "<tbody>",
            *_finding_rows(exercise.unnamed, whole),
            "</tbody></table></div>",
        ]
    if exercise.other:
        parts += [
            "<h4>Points lost without a diagnosis</h4><div class='scroll'><table>",
            head.format("why"),
            "<tbody>",
            *_finding_rows(exercise.other, whole),
            "</tbody></table></div>",
        ]
    parts.append("</section>")
    return "\n".join(parts)


def _student_table(report: ClassReport) -> str:
    names = [exercise.name for exercise in report.exercises]
    head = "".join(f"<th>{_e(name)}</th>" for name in names)
    rows = []
    for row in report.students:
        cells = "".join(
            f"<td class='n' data-v='{row.points[name]:g}'>{row.points[name]:g}</td>"
            for name in names
        )
        missed = (
            "<ul>"
            + "".join(f"<li><code>{_e(name)}</code>: {_e(why)}</li>" for name, why in row.missed)
            + "</ul>"
            if row.missed
            else "-"
        )
        if not row.submitted:
            missed = "no submission"
        rows.append(
            f"<tr><td>{_e(row.student)}</td><td class='n' data-v='{row.total:g}'>"
            f"{row.total:g}</td>{cells}<td class='why' data-v='{len(row.missed)}'>{missed}</td>"
            "</tr>"
        )
    return (
        "<div class='scroll'><table class='sortable' id='students'><thead><tr>"
        f"<th>student</th><th>total (of {report.max_score:g})</th>{head}"
        "<th>missed, and why</th></tr></thead><tbody>" + "\n".join(rows) + "</tbody></table></div>"
    )


def _notices(report: ClassReport) -> list[str]:
    notices = []
    if not report.has_diagnoses and report.graded_notebooks:
        notices.append(
            "No diagnoses are recorded in the autograded notebooks, for example because they "
            "were graded before the judge recorded its diagnoses (or a ClearMetadataPreprocessor "
            "removed them). The scores below are complete; the mistakes are not. Regrade with "
            "<code>softsign-grade ASSIGNMENT --force</code> to get them."
        )
    elif report.graded_notebooks > report.diagnosed_notebooks:
        missing = report.graded_notebooks - report.diagnosed_notebooks
        notices.append(
            f"{missing} of {report.graded_notebooks} autograded notebooks carry no diagnoses "
            "(graded before the judge recorded them); their scores are counted, their "
            "mistakes are not."
        )
    if report.lost_notebooks:
        count = len(report.lost_notebooks)
        notices.append(
            f"{count} notebook{'s' if count != 1 else ''} of the submissions "
            f"{'are' if count != 1 else 'is'} missing (not submitted, so not autograded); "
            f"{'their' if count != 1 else 'its'} cells score 0."
        )
    return notices


def render_html(report: ClassReport) -> str:
    """Return the report as one self-contained HTML page."""
    whole = len(report.students)
    totals_png, totals_alt = _totals_figure(report)
    difficulty_png, difficulty_alt = _difficulty_figure(report)
    ranked = report.ranked_exercises()
    mean_total = sum(row.total for row in report.students) / whole if whole else 0.0
    difficulty_rows = "".join(
        f"<tr><td class='n'>{rank}</td><td><a href='#exercise-{_e(e.name)}'>{_e(e.name)}</a></td>"
        f"<td class='n'>{100 * e.mean_share:.0f}%</td><td class='n'>{len(e.zero)}</td>"
        f"<td class='n'>{len(e.not_attempted)}</td>"
        f"<td class='n'>{sum(f.count for f in e.mistakes)}</td>"
        f"<td class='n'>{sum(f.count for f in e.unnamed)}</td></tr>"
        for rank, e in enumerate(ranked, 1)
    )
    name = _e(report.assignment)
    body = [
        "<!DOCTYPE html>",
        f"<html lang='en'><head><meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">",
        "<meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Class report: {name}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>Class report: {name}</h1>",
        f"<p class='muted'>{whole} students, {len(report.exercises)} exercises, "
        f"{report.max_score:g} points. Scores from the gradebook (as <code>nbgrader export</code>"
        "), diagnoses from the judge's records in the autograded notebooks. Tables also as CSV "
        f"files beside this page: <code>{name}_students.csv</code>, "
        f"<code>{name}_exercises.csv</code>, <code>{name}_mistakes.csv</code>.</p>",
        *[f"<p class='notice'>{notice}</p>" for notice in _notices(report)],
        "<h2>The class</h2>",
        f"<p id='revisit'>{_e(_paragraph(report))}</p>",
        f"<p>Mean total {mean_total:.1f} of {report.max_score:g} points.</p>",
        "<div class='grid'><div>",
        _image(totals_png, totals_alt),
        "</div><div>",
        _image(difficulty_png, difficulty_alt),
        "</div></div>",
        "<h3>Exercises, hardest first</h3><div class='scroll'><table><thead><tr>"
        "<th>#</th><th>exercise</th><th>mean points</th><th>zero</th><th>not attempted</th>"
        "<th>diagnosed</th><th>no known pattern</th></tr></thead>"
        f"<tbody>{difficulty_rows}</tbody></table></div>",
        "<h2>Exercises</h2>",
        *[_exercise_section(e, whole, report.has_diagnoses) for e in report.exercises],
        "<h2>Students</h2>",
        "<p class='muted'>Sorted by total, highest first; click a heading to sort by it.</p>",
        _student_table(report),
        f"<script>{_SORT_SCRIPT}</script>",
        "</main></body></html>",
    ]
    return "\n".join(body)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_report(report: ClassReport, directory: Path | str) -> Path:
    """Write ``ASSIGNMENT.html`` and its CSV files into ``directory``; return the page's path."""
    import matplotlib

    matplotlib.use("Agg")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = report.assignment
    names = [exercise.name for exercise in report.exercises]
    _write_csv(
        directory / f"{name}_students.csv",
        ["student_id", "total", "max_score", *names, "missed"],
        [
            [
                row.student,
                f"{row.total:g}",
                f"{row.max_score:g}",
                *[f"{row.points[n]:g}" for n in names],
                "; ".join(f"{exercise}: {why}" for exercise, why in row.missed),
            ]
            for row in report.students
        ],
    )
    _write_csv(
        directory / f"{name}_exercises.csv",
        [
            "difficulty_rank",
            "exercise",
            "notebook",
            "max_score",
            "mean_share",
            "full",
            "partial",
            "zero",
            "not_attempted",
            "diagnosed",
            "no_known_pattern",
        ],
        [
            [
                rank,
                e.name,
                e.notebook,
                f"{e.max_score:g}",
                f"{e.mean_share:.4f}",
                len(e.full),
                len(e.partial),
                len(e.zero),
                len(e.not_attempted),
                sum(f.count for f in e.mistakes),
                sum(f.count for f in e.unnamed),
            ]
            for rank, e in enumerate(report.ranked_exercises(), 1)
        ],
    )
    _write_csv(
        directory / f"{name}_mistakes.csv",
        ["exercise", "kind", "rank", "text", "students", "input", "expected", "got"],
        [
            [
                e.name,
                f.kind,
                rank,
                f.text,
                f.count,
                f.example.get("input", ""),
                f.example.get("expected", ""),
                f.example.get("got", ""),
            ]
            for e in report.exercises
            for group in (e.mistakes, e.unnamed, e.other)
            for rank, f in enumerate(group, 1)
        ],
    )
    page = directory / f"{name}.html"
    page.write_text(render_html(report), encoding="utf-8")
    return page


def build_report(
    course_root: Path | str,
    assignment: str,
    *,
    output_dir: Path | str | None = None,
    nbgrader_args: Sequence[str] = (),
    progress: bool = False,
) -> tuple[Path, ClassReport]:
    """Build the class report of ``assignment``; return the page's path and the numbers.

    The page and its CSV files go into ``output_dir`` (default: ``reports/`` in the course).
    """
    start = time.perf_counter()
    report = load_report(course_root, assignment, nbgrader_args=nbgrader_args, progress=progress)
    directory = Path(output_dir) if output_dir else Path(course_root) / "reports"
    page = write_report(report, directory)
    report.seconds = time.perf_counter() - start
    return page, report


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``softsign-grade report ASSIGNMENT``."""
    parser = argparse.ArgumentParser(
        prog="softsign-grade report",
        description="Write the class report (HTML and CSV) of an assignment from the course "
        "gradebook and the judge's diagnoses in the autograded notebooks.",
    )
    parser.add_argument("assignment", help="the nbgrader assignment id, e.g. softsign")
    parser.add_argument(
        "--course-root",
        type=Path,
        default=None,
        help="the course folder, holding nbgrader_config.py (default: the current folder)",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=None, help="where to write (default: COURSE/reports)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args, nbgrader_args = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    unknown = [a for a in nbgrader_args if not re.fullmatch(r"--\w+\.\w[\w.]*=.*", a)]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    course_root = (args.course_root or Path.cwd()).resolve()
    try:
        page, report = build_report(
            course_root,
            args.assignment,
            output_dir=args.output_dir,
            nbgrader_args=nbgrader_args,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    except ReportError as error:
        print(f"softsign-grade report: {error}", file=sys.stderr)
        return 2
    shown = page.relative_to(Path.cwd()) if page.is_relative_to(Path.cwd()) else page
    print(
        f"Class report of {len(report.students)} students written to {shown} "
        f"(and CSV files beside it) in {report.seconds:.1f} s."
    )
    if not report.has_diagnoses:
        print("No diagnoses recorded: the report shows scores only.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
