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
named by its grade_id. A cell that needs a manual grade and has none yet (nbgrader
flags it, no grader has scored it in formgrader) counts 0 in the totals, as in
``nbgrader export``, but is "awaiting a manual grade": not a zero, not a mistake,
and left out of the exercise's share of points. Exercises are ranked by the cells
graded; one with no cell graded yet is listed last, unranked. The page gives the
count of cells awaiting a grade and the time the gradebook was read, in UTC.

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
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from softsign_grader.course import add_course_root_option, course_root_option
from softsign_grader.late import course_late_policy
from softsign_grader.report_csv import write_csv_files
from softsign_grader.report_model import (
    ClassReport,
    ExerciseSummary,
    Finding,
    ReportError,
    StudentSummary,
)
from softsign_grader.report_page import render_html
from softsign_grader.report_reading import read_diagnoses, read_gradebook, release_order
from softsign_grader.report_tables import summarise

__all__ = [
    "ClassReport",
    "ExerciseSummary",
    "Finding",
    "ReportError",
    "StudentSummary",
    "build_report",
    "load_report",
    "main",
    "render_html",
    "summarise",
    "write_report",
]


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
    book = read_gradebook(course.db_url, course.course_id, assignment, course_late_policy(course))
    order = release_order(course.root, course.release_directory, assignment)
    cells = sorted(
        book.cells, key=lambda c: (c.notebook, order.get((c.notebook, c.name), 10**6), c.name)
    )
    diagnoses, invalid = read_diagnoses(
        lambda student: course.path(course.autograded_directory, student, assignment),
        [student for student in book.students if student in book.scores],
        sorted({cell.notebook for cell in cells}),
        progress=progress,
    )
    report = summarise(
        assignment,
        cells,
        book.students,
        book.scores,
        book.penalties,
        diagnoses,
        invalid,
        book.waiting,
    )
    report.seconds = time.perf_counter() - start
    return report


def write_report(report: ClassReport, directory: Path | str) -> Path:
    """Write ``ASSIGNMENT.html`` and its CSV files into ``directory``; return the page's path."""
    import matplotlib

    matplotlib.use("Agg")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_csv_files(report, directory)
    page = directory / f"{report.assignment}.html"
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
    add_course_root_option(parser)
    parser.add_argument(
        "--output-dir", type=Path, default=None, help="where to write (default: COURSE/reports)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args, nbgrader_args = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    unknown = [a for a in nbgrader_args if not re.fullmatch(r"--\w+\.\w[\w.]*=.*", a)]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    course_root = course_root_option(parser, args)
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
