"""The instructor's tour of grading: ``make grade-demo`` (``python -m softsign_grader.demo``).

In a scratch copy of the course (``--course-root``, by default the folder found by
:func:`~softsign_grader.course.find_course_root` from the current one) made in
``.grade-demo/`` of the course (git-ignored), it runs the same commands an
instructor runs for a real class:

1. ``nbgrader generate_assignment ASSIGNMENT`` releases the assignment;
2. the course's sample class (``--submissions``, by default the course's
   :data:`~softsign_grader.sample_class.SUBMISSIONS_FOLDER`) is written to ``submitted/``;
3. ``softsign-grade ASSIGNMENT --jobs N`` grades every submission with N parallel
   nbgrader workers (``--jobs``, by default all cores; ``make grade-demo`` passes ``JOBS``);
4. ``softsign-grade feedback ASSIGNMENT --jobs N`` writes the feedback HTML;
5. ``nbgrader export`` writes ``grades.csv``;

then prints a per-student, per-exercise score table, with each student's
expected total beside the actual one, and ends by writing the class report
(``softsign-grade report ASSIGNMENT``: ``reports/ASSIGNMENT.html`` in the
scratch course) and printing its path. ``ASSIGNMENT`` is ``--assignment``,
by default :data:`softsign_grader.course.ASSIGNMENT`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from softsign_grader.course import (
    ASSIGNMENT,
    add_course_root_option,
    course_id,
    course_root_option,
    make_course,
    run_nbgrader,
    tool_path_env,
)
from softsign_grader.feedback_run import generate_feedback
from softsign_grader.grading import grade
from softsign_grader.report import build_report
from softsign_grader.sample_class import (
    SUBMISSIONS_FOLDER,
    GradedCell,
    build_sample_class,
    graded_cells,
    graded_functions,
    load_students,
)

__all__ = ["DEFAULT_DEST", "main", "score_table"]

#: Where the demo course is made, relative to the course root (git-ignored).
DEFAULT_DEST = Path(".grade-demo")
_MARKER = ".softsign-grade-demo"


def _environment() -> dict[str, str]:
    # nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
    return {"PATH": tool_path_env()["PATH"]}


def _step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.perf_counter()


def _read_scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    scores: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id(course)) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            cells = scores.setdefault(submission.student_id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[f"{notebook.name}/{grade.name}"] = grade.auto_score or 0.0
    return scores


def _cells(course: Path, assignment: str) -> list[GradedCell]:
    functions = graded_functions(course / "solutions" / assignment)
    return graded_cells(course / "notebooks" / assignment, functions)


def score_table(
    course: Path,
    scores: dict[str, dict[str, float]],
    expected: dict[str, dict[str, float]],
    assignment: str = ASSIGNMENT,
) -> str:
    """Return the per-student, per-exercise table of ``scores`` (with expected totals)."""
    functions = graded_functions(course / "solutions" / assignment)
    cells = _cells(course, assignment)
    exercises = [name for name in functions if any(name in cell.exercises for cell in cells)]
    columns = [f"E{i}" for i in range(1, len(exercises) + 1)]
    maximum = {name: sum(c.points for c in cells if name in c.exercises) for name in exercises}

    def exercise_score(cells_scores: dict[str, float], name: str) -> float:
        return sum(cells_scores.get(c.key, 0.0) for c in cells if name in c.exercises)

    width = max(len(student) for student in expected) + 1
    header = f"{'student':{width}}" + "".join(f"{column:>7}" for column in columns)
    header += f"{'total':>9}{'expected':>10}  check"
    lines = [header, "-" * len(header)]
    mismatches = 0
    for student in sorted(expected):
        got = scores.get(student, {})
        row = f"{student:{width}}"
        row += "".join(f"{exercise_score(got, name):>7g}" for name in exercises)
        total = sum(got.get(key, 0.0) for key in expected[student])
        wanted = sum(expected[student].values())
        same = all(got.get(key, 0.0) == points for key, points in expected[student].items())
        mismatches += not same
        row += f"{total:>9g}{wanted:>10g}  {'ok' if same else 'MISMATCH'}"
        lines.append(row)
    lines.append("-" * len(header))
    lines.append(f"{'max':{width}}" + "".join(f"{maximum[name]:>7g}" for name in exercises))
    lines.append("")
    lines += [f"  {column} = {name}" for column, name in zip(columns, exercises, strict=True)]
    verdict = (
        "every cell has its expected score"
        if not mismatches
        else f"{mismatches} students differ from their expected scores"
    )
    lines.append(f"\n{len(expected)} students; {verdict}.")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Grade the sample class as a real class is.")
    add_course_root_option(parser)
    parser.add_argument(
        "--dest", type=Path, help=f"scratch course folder (default: COURSE_ROOT/{DEFAULT_DEST})"
    )
    parser.add_argument(
        "--submissions",
        type=Path,
        help=f"the sample students' TOML files (default: COURSE_ROOT/{SUBMISSIONS_FOLDER})",
    )
    parser.add_argument("students", nargs="*", help="sample students to grade (default: all)")
    parser.add_argument(
        "--assignment", default=ASSIGNMENT, help=f"the assignment to grade (default {ASSIGNMENT})"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, help="parallel workers (default: all cores)"
    )
    return parser


def _indented(text: str) -> None:
    for line in text.splitlines():
        print(f"    {line}")


def _grade_and_feedback(course: Path, assignment: str, jobs: int | None) -> bool:
    """Grade with the parallel pool, then write the feedback in parallel; print both summaries.

    Returns
    -------
    bool
        Whether every student was graded and got feedback.
    """
    option = f" --jobs {jobs}" if jobs else ""
    _step(f"softsign-grade {assignment}{option}  (autograde with parallel nbgrader workers)")
    graded = grade(course, assignment, jobs=jobs, progress=False)
    _indented(graded.render())
    _step(f"softsign-grade feedback {assignment}{option}")
    feedback = generate_feedback(course, assignment, jobs=jobs)
    _indented(feedback.render())
    print(f"    feedback HTML in {course / 'feedback'}")
    return not (graded.failed or graded.interrupted or feedback.failed)


def main(argv: list[str] | None = None) -> int:
    """Release, autograde, write feedback and export the sample class; print the table."""
    parser = _parser()
    args = parser.parse_args(argv)
    assignment = args.assignment
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    root = course_root_option(parser, args)
    dest = (args.dest or root / DEFAULT_DEST).resolve()
    submissions = args.submissions or root / SUBMISSIONS_FOLDER
    if dest.exists():
        if not (dest / _MARKER).exists():
            parser.error(f"{dest} exists and was not made by the grade demo; choose another --dest")
        shutil.rmtree(dest)
    env = _environment()
    started = time.perf_counter()

    _step(f"making a scratch course in {dest}")
    course = make_course(dest, release=False, source=root)
    (course / _MARKER).write_text("made by python -m softsign_grader.demo\n")

    _step(f"nbgrader generate_assignment {assignment}  (release the student notebooks)")
    run_nbgrader(["generate_assignment", assignment, "--force"], course, env=env)

    _step("writing the sample class to submitted/ (as nbgrader collect would)")
    students = load_students(submissions)
    expected = build_sample_class(
        course, args.students or None, assignment=assignment, submissions=submissions
    )
    for student in expected:
        print(f"    {student:30} {students[student].description}")

    complete = _grade_and_feedback(course, assignment, args.jobs)

    _step("nbgrader export")
    run_nbgrader(["export", "--to", str(course / "grades.csv")], course, env=env)
    print(f"    {course / 'grades.csv'}")

    scores = _read_scores(course, assignment)
    print()
    print(score_table(course, scores, expected, assignment))

    _step(f"softsign-grade report {assignment}  (the class report)")
    page, report = build_report(course, assignment)
    print(f"    {len(report.students)} students; CSV files beside it")
    print(f"\nDone in {time.perf_counter() - started:.0f} s. The class report: {page}")
    differ = any(
        scores.get(student, {}).get(key, 0.0) != points
        for student, cells in expected.items()
        for key, points in cells.items()
    )
    return 1 if differ or not complete else 0


if __name__ == "__main__":
    sys.exit(main())
