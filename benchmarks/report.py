"""How long the class report takes: the sample class, and a synthetic class of 300.

Two timings of :func:`softsign_grader.report.build_report` (reading the
gradebook and every autograded notebook, computing, drawing the figures,
writing the HTML page and the CSV files):

* the **sample class** (``tests/submissions``), graded by real nbgrader: the
  course given with ``--sample-course`` (for example ``.grade-demo`` after
  ``make grade-demo``), else a scratch copy graded here first (minutes);
* a **synthetic class** of ``--students`` students (default 300): the course
  is released with ``nbgrader generate_assignment``, the students and their
  scores are added through nbgrader's ``Gradebook`` API, and each student's
  autograded notebooks are the instructor notebooks (with their outputs and
  figures, so about the size of real autograded notebooks) carrying judge
  diagnoses drawn at random (seeded): right answers, the checks' own modelled
  mistakes, wrong values with no known pattern, untouched exercises.

The target is under 10 s for 300 students on 2 cores. Run it with
``make benchmark`` or ``python benchmarks/report.py --students 300``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from softsign_grader.course import (
    ASSIGNMENT,
    REPO_ROOT,
    make_course,
    run_nbgrader,
    tool_path_env,
)
from softsign_grader.judge import DIAGNOSIS_KEY, DIAGNOSIS_VERSION, check_calls
from softsign_grader.report import build_report

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = {"PATH": tool_path_env()["PATH"]}
TARGET_SECONDS = 10.0


def _known_mistakes() -> dict[str, list[str]]:
    """The hints of the checks' modelled mistakes, by graded function."""
    import source_lib.grading.exercises
    import source_lib.grading.network_exercise

    hints: dict[str, list[str]] = {}
    for module in (source_lib.grading.exercises, source_lib.grading.network_exercise):
        for value in vars(module).values():
            name, mistakes = getattr(value, "name", None), getattr(value, "mistakes", None)
            if isinstance(name, str) and isinstance(mistakes, tuple):
                hints.setdefault(name, []).extend(m.hint for m in mistakes)
    return hints


def _record(verdict: str, function: str, hint: str | None, problem: str | None) -> dict:
    """A judge record (:func:`softsign_grader.judge.diagnosis`) of the given verdict."""
    example = {"input": "x = -3.0", "expected": "-0.75", "got": "1.5"} if verdict == "fail" else {}
    kind = {"fail": "wrong_value", "not_attempted": "not_implemented"}.get(verdict)
    return {
        "version": DIAGNOSIS_VERSION,
        "verdict": verdict,
        "check": f"check_{function}",
        "function": function,
        "kind": kind,
        "mistake": "value_pattern" if hint and verdict == "fail" else None,
        "error": "NotImplementedError" if verdict == "not_attempted" else None,
        "problem": problem,
        "hint": hint,
        "example": example,
    }


def synthetic_class(root: Path, students: int, seed: int = 0) -> Path:
    """Make a released course with ``students`` synthetic graded students; return it."""
    from nbgrader.api import Gradebook

    course = make_course(root, release=False)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=NBGRADER_ENV)
    rng = np.random.default_rng(seed)
    mistakes = _known_mistakes()
    templates = {}
    for path in sorted((course / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        tests = [
            cell
            for cell in notebook["cells"]
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
            and not cell["metadata"]["nbgrader"].get("solution")
        ]
        if tests:
            templates[path.stem] = (notebook, tests)
    ids = [f"student{i:04d}" for i in range(students)]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT) as gradebook:
        for student in ids:
            gradebook.add_student(student)
            gradebook.add_submission(ASSIGNMENT, student)
        grades = {}
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grades[(submission.student_id, notebook.name, grade.name)] = grade
        for student in ids:
            folder = course / "autograded" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            for name, (notebook, tests) in templates.items():
                for cell in tests:
                    grade_id = cell["metadata"]["nbgrader"]["grade_id"]
                    points = float(cell["metadata"]["nbgrader"].get("points", 0))
                    calls = check_calls("".join(cell["source"]))
                    function = calls[0].target if calls else grade_id
                    draw = rng.random()
                    if draw < 0.7:
                        record, score = _record("pass", function, None, None), points
                    elif draw < 0.85 and mistakes.get(function):
                        hints = mistakes[function]
                        hint = hints[int(rng.integers(len(hints)))]
                        record, score = _record("fail", function, hint, "wrong value"), 0.0
                    elif draw < 0.93:
                        record, score = _record("fail", function, None, "wrong value"), 0.0
                    else:
                        hint = f"replace `raise NotImplementedError()` in `{function}`"
                        record = _record("not_attempted", function, hint, "not implemented yet")
                        score = 0.0
                    cell["metadata"][DIAGNOSIS_KEY] = record
                    grade = grades[(student, name, grade_id)]
                    grade.auto_score = score
                    grade.needs_manual_grade = False
                (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        gradebook.db.commit()
    return course


def _graded_sample_class(root: Path) -> Path:
    from softsign_grader.sample_class import build_sample_class

    course = make_course(root, release=False)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], course, env=NBGRADER_ENV)
    build_sample_class(course)
    print("    grading the sample class with nbgrader autograde (a few minutes)...", flush=True)
    run_nbgrader(["autograde", ASSIGNMENT], course, env=NBGRADER_ENV)
    return course


def _time(course: Path, output: Path, repeats: int) -> tuple[float, float, str]:
    """First and best wall time of ``repeats`` builds, and what the report held."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, report = build_report(course, ASSIGNMENT, output_dir=output)
        times.append(time.perf_counter() - start)
    findings = sum(len(e.mistakes) + len(e.unnamed) for e in report.exercises)
    held = (
        f"{len(report.students):4d} students, {report.diagnosed_notebooks} notebooks "
        f"with diagnoses, {findings} kinds of mistake"
    )
    return times[0], min(times), held


def main(argv: list[str] | None = None) -> int:
    """Time the report on the sample class and on a synthetic class; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300, help="synthetic class size")
    parser.add_argument(
        "--sample-course",
        type=Path,
        default=REPO_ROOT / ".grade-demo",
        help="a graded sample class (default .grade-demo; graded here if missing)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (best kept)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    scratch = Path(tempfile.mkdtemp(prefix="report-benchmark-"))
    try:
        sample = args.sample_course
        if not (sample / "gradebook.db").exists():
            sample = _graded_sample_class(scratch / "sample")
        sample_first, sample_best, sample_held = _time(
            sample, scratch / "sample-report", args.repeats
        )
        start = time.perf_counter()
        with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy's autoflush
            warnings.simplefilter("ignore")
            synthetic = synthetic_class(scratch / "synthetic", args.students)
        made = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (synthetic / "autograded").rglob("*.ipynb"))
        first, best, held = _time(synthetic, scratch / "synthetic-report", args.repeats)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"class report on {cores} cores (first run, best of {args.repeats}):")
    print(f"  sample class     {sample_first:6.2f} s  {sample_best:6.2f} s   {sample_held}")
    print(f"  synthetic class  {first:6.2f} s  {best:6.2f} s   {held}")
    print(f"  ({size / 2**20:.0f} MiB of synthetic autograded notebooks, made in {made:.0f} s)")
    seconds = first
    verdict = "within" if seconds < TARGET_SECONDS else "OVER"
    print(f"  {verdict} the target of {TARGET_SECONDS:g} s for {args.students} students")
    return 0 if seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
