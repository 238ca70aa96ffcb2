"""Move work and marks between nbgrader and a learning-management system (Canvas, Moodle).

Three pieces, each plain nbgrader underneath:

* :data:`LMS_FILE_NAME_PATTERN`, the ``FileNameCollectorPlugin.named_regexp`` that
  ``nbgrader zip_collect ASSIGNMENT`` needs to read an LMS "download all
  submissions" archive (``nbgrader_config.py`` sets it). It understands

  - Canvas: ``doejane_12345_67890_01_softsign_definition.ipynb``, that is
    ``<name>_[LATE_]<user id>_<submission id>_<file name>``, where a file
    submitted a second time ends in ``-1`` before ``.ipynb``;
  - Moodle: ``Jane Doe_12345_assignsubmission_file_/01_softsign_definition.ipynb``,
    a folder ``<full name>_<participant id>_assignsubmission_file_`` per student.

  The number after the name becomes the nbgrader student id, so import the
  roster with the same ids (``nbgrader db student import roster.csv``).
* :class:`LmsExportPlugin`, an nbgrader export plugin that writes one CSV row
  per student with the student id, each assignment's total and each
  notebook's points, late penalties taken from the current scores (the notebook
  columns sum to the total), for an LMS gradebook import::

      nbgrader export --exporter=softsign_grader.lms.LmsExportPlugin --to lms.csv

  or ``softsign-grade lms export ASSIGNMENT`` (``--total-only``: the id and the
  totals only).
* The README's "Marks to an LMS" section says how Canvas and Moodle map the columns.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin, LateSubmissionPlugin
from traitlets import Bool, Dict, Unicode

# The collect plugins live in softsign_grader/collect.py and extract.py; importable here too.
from softsign_grader.collect import LmsCollectorPlugin
from softsign_grader.course import add_course_root_option, course_root_option, run_nbgrader
from softsign_grader.extract import SafeExtractorPlugin
from softsign_grader.late import apply_late_penalties, late_policy, notebook_penalties

__all__ = [
    "EXPORTER",
    "LMS_FILE_NAME_PATTERN",
    "LmsCollectorPlugin",
    "LmsExportPlugin",
    "SafeExtractorPlugin",
    "export_rows",
    "main",
]

#: ``FileNameCollectorPlugin.named_regexp`` for Canvas and Moodle downloads. nbgrader
#: matches it against the whole path of each extracted file (hence the leading ``.*/``).
LMS_FILE_NAME_PATTERN = (
    r".*/"
    # Canvas "doejane" or Moodle "Jane Doe": anything up to the first "_<digits>_" that
    # is followed by the rest of the layout.
    r"(?P<name>[^/]+?)_"
    r"(?:LATE_)?"  # Canvas marks late work in the name only; nbgrader's timestamp decides
    r"(?P<student_id>\d+)_"
    r"(?:\d+_|assignsubmission_file_/)"  # Canvas submission id, or Moodle's folder suffix
    r"(?P<file_id>[^/]+?)"
    # Canvas numbers a resubmitted file: 01_softsign_definition-1.ipynb. LmsCollectorPlugin
    # reads the number to keep a student's highest-numbered file.
    r"(?:-(?P<resubmission>\d+))?"
    r"\.ipynb$"
)


#: ``nbgrader export --exporter=...`` for :class:`LmsExportPlugin`.
EXPORTER = "softsign_grader.lms.LmsExportPlugin"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _points(value: float | None) -> str:
    return f"{float(value or 0.0):g}"


def _layout(
    gradebook: Gradebook, assignments: list[str] | None, column_names: dict[str, str]
) -> list[tuple[Any, str, list[str]]]:
    """(assignment, total column, notebook names) of each exported assignment."""
    chosen = [a for a in gradebook.assignments if not assignments or a.name in assignments]
    unknown = set(assignments or ()) - {a.name for a in chosen}
    if unknown:
        raise ValueError(f"the gradebook has no assignment {', '.join(sorted(unknown))}")
    return [
        (
            assignment,
            column_names.get(assignment.name, assignment.name),
            sorted(notebook.name for notebook in assignment.notebooks),
        )
        for assignment in chosen
    ]


def _assignment_columns(
    gradebook: Gradebook,
    assignment: Any,
    student: str,
    notebooks: list[str],
    policy: LateSubmissionPlugin | None,
) -> tuple[float, float, bool, dict[str, float]]:
    """(total, late penalty, needs a manual grade, points per notebook) of one student.

    Each notebook's points are its score less its own late penalty (nbgrader
    penalises notebook by notebook), so they sum to the total.
    """
    try:
        submission = gradebook.find_submission(assignment.name, student)
    except MissingEntry:
        return 0.0, 0.0, False, dict.fromkeys(notebooks, 0.0)
    if policy is None:
        penalties = {
            str(nb.name): float(nb.late_submission_penalty or 0.0) for nb in submission.notebooks
        }
    else:
        penalties = notebook_penalties(submission, policy)
    scores = {str(nb.name): float(nb.score or 0.0) for nb in submission.notebooks}
    points = {
        name: max(0.0, scores.get(name, 0.0) - penalties.get(name, 0.0)) for name in notebooks
    }
    return (
        sum(points.values()),
        sum(penalties.values()),
        bool(submission.needs_manual_grade),
        points,
    )


def export_rows(
    gradebook: Gradebook,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    column_names: dict[str, str] | None = None,
    id_column: str = "student_id",
    *,
    policy: LateSubmissionPlugin | None = None,
    total_only: bool = False,
) -> tuple[list[str], list[dict[str, str]]]:
    """Return the header and the rows of the LMS export.

    One row per student of the gradebook (in id order); per assignment a
    total column (named by ``column_names[assignment]``, else the assignment
    id), its maximum, the late penalty, whether a grade is still missing, and
    one column per notebook, ``ASSIGNMENT/NOTEBOOK``: the notebook's points
    less its late penalty. The total is the points of every cell, manual
    grades and extra credit included, less the late penalty, never below 0,
    and the notebook columns sum to it. A student with no submission gets 0
    everywhere. ``id_column`` names the student id's column (Canvas's import
    reads ``ID``).

    ``policy`` (the course's late-penalty plugin,
    :func:`softsign_grader.late.late_policy`) computes each penalty from the
    current scores (:func:`softsign_grader.late.notebook_penalties`); without it
    the penalties stored in the gradebook are used. ``total_only`` keeps the id
    column and the total columns only.
    """
    layout = _layout(gradebook, assignments, column_names or {})
    header = [id_column, "last_name", "first_name", "email"]
    for assignment, total, notebooks in layout:
        header += [
            total,
            f"{assignment.name} max",
            f"{assignment.name} late penalty",
            f"{assignment.name} needs manual grade",
            *(f"{assignment.name}/{notebook}" for notebook in notebooks),
        ]
    rows = []
    for student in sorted(gradebook.students, key=lambda s: s.id):
        if students and student.id not in students:
            continue
        row = {
            id_column: student.id,
            "last_name": _text(student.last_name),
            "first_name": _text(student.first_name),
            "email": _text(student.email),
        }
        for assignment, total, notebooks in layout:
            name = assignment.name
            points, penalty, waiting, per_notebook = _assignment_columns(
                gradebook, assignment, student.id, notebooks, policy
            )
            row[total] = _points(points)
            row[f"{name} max"] = _points(assignment.max_score)
            row[f"{name} late penalty"] = _points(penalty)
            row[f"{name} needs manual grade"] = "yes" if waiting else "no"
            row.update({f"{name}/{nb}": _points(value) for nb, value in per_notebook.items()})
        rows.append(row)
    if total_only:
        header = [id_column, *(total for _, total, _ in layout)]
        rows = [{column: row[column] for column in header} for row in rows]
    return header, rows


class LmsExportPlugin(ExportPlugin):
    """``nbgrader export`` plugin: one row per student, totals and per-notebook points.

    Before exporting, it stores every exported submission's late penalty as the
    course's late-penalty plugin computes it from the current scores
    (:func:`softsign_grader.late.apply_late_penalties`), so a manual grade entered
    after autograding is penalised in the export, formgrader and ``nbgrader
    export`` alike.

    Configure the total column's header per assignment, e.g. for Canvas, whose
    import recognises an existing assignment by its header::

        c.LmsExportPlugin.column_names = {"softsign": "softsign (12345)"}
    """

    column_names = Dict(
        value_trait=Unicode(),
        default_value={},
        help="Header of each assignment's total column, by assignment id (default: the id).",
    ).tag(config=True)
    id_column = Unicode("student_id", help="Header of the student id column.").tag(config=True)
    total_only = Bool(
        False, help="Write the student id and each assignment's total only (no other columns)."
    ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the CSV to ``--to`` (default ``lms_grades.csv``)."""
        dest = Path(self.to or "lms_grades.csv")
        assignments = [str(a) for a in self.assignment] or None
        students = [str(s) for s in self.student] or None
        layout = _layout(gradebook, assignments, dict(self.column_names))
        policy = late_policy(self.config)
        changed = apply_late_penalties(
            gradebook, [assignment.name for assignment, _, _ in layout], policy, students or ()
        )
        if changed:
            self.log.info("Updated %d late penalties to the current scores", changed)
        header, rows = export_rows(
            gradebook,
            assignments,
            students,
            dict(self.column_names),
            self.id_column,
            policy=policy,
            total_only=self.total_only,
        )
        with dest.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        self.log.info("Exported %d students to %s", len(rows), dest)
        self._warn_waiting(gradebook, [assignment.name for assignment, _, _ in layout], students)

    def _warn_waiting(
        self, gradebook: Gradebook, assignments: list[str], students: list[str] | None
    ) -> None:
        """Warn when exported submissions still need a manual grade."""
        waiting = sum(
            bool(submission.needs_manual_grade)
            for name in assignments
            for submission in gradebook.assignment_submissions(name)
            if not students or submission.student_id in students
        )
        if waiting:
            self.log.warning(
                "%d submissions still need a manual grade (formgrader): their totals are not final",
                waiting,
            )


def main(argv: list[str] | None = None) -> int:
    """``softsign-grade lms export ASSIGNMENT [--to FILE] [--total-only]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the LMS grade CSV of an assignment")
    export.add_argument("assignments", nargs="+", help="assignment ids, e.g. week1")
    export.add_argument("--to", type=Path, default=None, help="the CSV file (lms_grades.csv)")
    add_course_root_option(export, "--course")
    export.add_argument(
        "--total-only",
        action="store_true",
        help="only the student id and each assignment's total (for an LMS import)",
    )
    args = parser.parse_args(argv)
    course = course_root_option(export, args)
    if not (course / "nbgrader_config.py").is_file():
        parser.error(f"{course} is no course folder (it has no nbgrader_config.py)")
    dest = (args.to or course / "lms_grades.csv").resolve()
    assignments = "[" + ",".join(repr(a) for a in args.assignments) + "]"
    result = run_nbgrader(
        [
            "export",
            f"--exporter={EXPORTER}",
            f"--to={dest}",
            f"--ExportPlugin.assignment={assignments}",
            *(["--LmsExportPlugin.total_only=True"] if args.total_only else []),
        ],
        course,
        check=False,
    )
    sys.stderr.write(result.stdout + result.stderr)
    if result.returncode == 0:
        print(dest)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
