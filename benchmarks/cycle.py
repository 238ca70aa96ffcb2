"""The whole grading cycle of a synthetic class: grade, feedback, LMS export.

Builds a class of N students (default 300) from a few of the course's sample
students (``softsign_grader.sample_class``: right answers in three forms, a call of
the withheld reference, an untouched release), copied in turn until there are N. Then it runs,
as an instructor does, on all the machine's cores (``--jobs``):

1. ``softsign-grade ASSIGNMENT --jobs J`` (autograde with parallel workers);
2. ``softsign-grade feedback ASSIGNMENT --jobs J`` (the feedback pages, in parallel);
3. ``softsign-grade lms export ASSIGNMENT`` (the LMS grade CSV);

and prints each phase's wall time, its seconds per submitted notebook, and the totals.

Run it with ``python benchmarks/cycle.py --students 300`` (the default; about as long
as grading 300 students takes on this machine) or with a small ``--students`` to try it.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from softsign_grader.course import ASSIGNMENT, make_course, run_nbgrader, tool_path_env
from softsign_grader.pool import default_jobs

#: The sample students the class is copied from, each submitting every graded notebook:
#: right answers in three forms, a call of the withheld reference, an untouched release.
SAMPLES = (
    "correct_plain",
    "correct_branches",
    "correct_tricks",
    "cheat_reference",
    "untouched",
)


def build_class(root: Path, students: int) -> int:
    """Create a released course in ``root`` with ``students`` submissions; return the notebooks."""
    from softsign_grader.sample_class import build_sample_class

    env = tool_path_env()
    make_course(root)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root, env=env)
    build_sample_class(root, list(SAMPLES))
    samples = root.parent / "samples"
    (root / "submitted").rename(samples)
    for index in range(students):
        sample = SAMPLES[index % len(SAMPLES)]
        shutil.copytree(
            samples / sample / ASSIGNMENT, root / "submitted" / f"s{index:04d}" / ASSIGNMENT
        )
    return len(list((root / "submitted").glob(f"*/{ASSIGNMENT}/*.ipynb")))


def phase(course: Path, *args: str) -> tuple[float, str]:
    """Run ``softsign-grade ARGS`` in ``course``; return its wall time and output."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "softsign_grader.cli", *args],
        cwd=course,
        capture_output=True,
        text=True,
        env=tool_path_env(),
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"softsign-grade {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return seconds, result.stdout


def main(argv: list[str] | None = None) -> int:
    """Build the class, run the three phases, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300, help="class size (default 300)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="parallel workers")
    parser.add_argument("--keep", type=Path, default=None, help="keep the course in this folder")
    args = parser.parse_args(argv)
    if args.students < 1 or args.jobs < 1:
        parser.error("--students and --jobs must be at least 1")
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: the folder must be new or empty")
    sys.stdout.reconfigure(line_buffering=True)

    with tempfile.TemporaryDirectory(prefix="softsign-cycle-") as scratch:
        course = (args.keep or Path(scratch)) / "course"
        start = time.perf_counter()
        notebooks = build_class(course, args.students)
        built = time.perf_counter() - start
        print(
            f"Synthetic class: {args.students} students, {notebooks} submitted notebooks "
            f"(copies of {', '.join(SAMPLES)}), built in {built:.1f} s; "
            f"{args.jobs} workers on {os.cpu_count()} cores."
        )
        jobs = ("--jobs", str(args.jobs))
        phases = {
            "grade": (ASSIGNMENT, *jobs, "--no-progress"),
            "feedback": ("feedback", ASSIGNMENT, *jobs),
            "lms export": ("lms", "export", ASSIGNMENT, "--to", str(course / "lms.csv")),
        }
        total = 0.0
        for name, command in phases.items():
            seconds, _ = phase(course, *command)
            total += seconds
            print(
                f"  {name:<11}{seconds:8.1f} s  {seconds / notebooks:6.3f} s per notebook  "
                f"softsign-grade {' '.join(command)}"
            )
        print(f"  {'total':<11}{total:8.1f} s  {total / notebooks:6.3f} s per notebook")
        with open(course / "lms.csv", newline="") as exported:
            rows = len(list(csv.reader(exported))) - 1
        pages = len(list((course / "feedback").glob(f"*/{ASSIGNMENT}/*.html")))
        print(f"LMS rows: {rows} of {args.students}; feedback pages: {pages} of {notebooks}.")
    return 0 if rows == args.students and pages == notebooks else 1


if __name__ == "__main__":
    sys.exit(main())
