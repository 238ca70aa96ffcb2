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
  notebook's points, for an LMS gradebook import::

      nbgrader export --exporter=source_lib.instructor.lms.LmsExportPlugin --to lms.csv

  or ``python -m source_lib.instructor.lms export ASSIGNMENT``.
* The README's "Marks to an LMS" section says how Canvas and Moodle map the columns.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Unicode

from source_lib.instructor.course import run_nbgrader

__all__ = ["EXPORTER", "LMS_FILE_NAME_PATTERN", "LmsExportPlugin", "export_rows", "main"]

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
    r"(?:-\d+)?"  # Canvas numbers a resubmitted file: 01_softsign_definition-1.ipynb
    r"\.ipynb$"
)


#: ``nbgrader export --exporter=...`` for :class:`LmsExportPlugin`.
EXPORTER = "source_lib.instructor.lms.LmsExportPlugin"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _points(value: float | None) -> str:
    return f"{float(value or 0.0):g}"


def export_rows(
    gradebook: Gradebook,
    assignments: list[str] | None = None,
    students: list[str] | None = None,
    column_names: dict[str, str] | None = None,
    id_column: str = "student_id",
) -> tuple[list[str], list[dict[str, str]]]:
    """Return the header and the rows of the LMS export.

    One row per student of the gradebook (in id order); per assignment a
    total column (named by ``column_names[assignment]``, else the assignment
    id), the late penalty, whether a grade is still missing, and one column
    per notebook, ``ASSIGNMENT/NOTEBOOK``. The total is what ``nbgrader
    export`` calls ``score``: the points of every cell, manual grades and
    extra credit included, less the late penalty, never below 0. A student
    with no submission gets 0 everywhere. ``id_column`` names the student id's
    column (Canvas's import reads ``ID``).
    """
    column_names = column_names or {}
    chosen = [a for a in gradebook.assignments if not assignments or a.name in assignments]
    unknown = set(assignments or ()) - {a.name for a in chosen}
    if unknown:
        raise ValueError(f"the gradebook has no assignment {', '.join(sorted(unknown))}")
    header = [id_column, "last_name", "first_name", "email"]
    layout = []
    for assignment in chosen:
        total = column_names.get(assignment.name, assignment.name)
        notebooks = sorted(notebook.name for notebook in assignment.notebooks)
        layout.append((assignment.name, total, notebooks))
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
        for (name, total, notebooks), assignment in zip(layout, chosen, strict=True):
            row[f"{name} max"] = _points(assignment.max_score)
            try:
                submission = gradebook.find_submission(name, student.id)
            except MissingEntry:
                row[total] = _points(0.0)
                row[f"{name} late penalty"] = _points(0.0)
                row[f"{name} needs manual grade"] = "no"
                row.update({f"{name}/{notebook}": _points(0.0) for notebook in notebooks})
                continue
            penalty = float(submission.late_submission_penalty or 0.0)
            row[total] = _points(max(0.0, float(submission.score or 0.0) - penalty))
            row[f"{name} late penalty"] = _points(penalty)
            row[f"{name} needs manual grade"] = "yes" if submission.needs_manual_grade else "no"
            scores = {notebook.name: notebook.score for notebook in submission.notebooks}
            row.update(
                {f"{name}/{notebook}": _points(scores.get(notebook)) for notebook in notebooks}
            )
        rows.append(row)
    return header, rows


class LmsExportPlugin(ExportPlugin):
    """``nbgrader export`` plugin: one row per student, totals and per-notebook points.

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

    def export(self, gradebook: Gradebook) -> None:
        """Write the CSV to ``--to`` (default ``lms_grades.csv``)."""
        dest = Path(self.to or "lms_grades.csv")
        header, rows = export_rows(
            gradebook,
            [str(a) for a in self.assignment] or None,
            [str(s) for s in self.student] or None,
            dict(self.column_names),
            self.id_column,
        )
        with dest.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)
        waiting = sum(
            row[column] == "yes"
            for row in rows
            for column in header
            if column.endswith(" needs manual grade")
        )
        self.log.info("Exported %d students to %s", len(rows), dest)
        if waiting:
            self.log.warning(
                "%d submissions still need a manual grade (formgrader): their totals are not final",
                waiting,
            )


def main(argv: list[str] | None = None) -> int:
    """``python -m source_lib.instructor.lms export ASSIGNMENT [--to FILE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write the LMS grade CSV of an assignment")
    export.add_argument("assignments", nargs="+", help="assignment ids, e.g. week1")
    export.add_argument("--to", type=Path, default=None, help="the CSV file (lms_grades.csv)")
    export.add_argument("--course", type=Path, default=Path.cwd(), help="the course root")
    args = parser.parse_args(argv)
    course = args.course.resolve()
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
