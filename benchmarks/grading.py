"""Serial ``nbgrader autograde`` against parallel ``softsign-grade`` on a synthetic class.

Builds a class of N students (default 40) from the course's sample students
(``softsign_grader.sample_class``: right answers in several forms, the common
mistakes, the cheats, untouched notebooks), replicated in turn until there
are N. Two identical copies of the course are then graded, one by plain
``nbgrader autograde`` and one by ``softsign-grade --jobs J``; the script
prints both wall times, their ratio and the seconds per notebook, checks that
both gradebooks hold the same score for every cell of every student, and
breaks down where one autograded notebook's time goes.

Run it with ``make benchmark`` or ``python benchmarks/grading.py --students 40``.

How the ratio grows with cores
------------------------------
A worker is one nbgrader process plus the kernel it is running; the two take
turns (nbgrader waits while the kernel executes a cell, the kernel idles while
nbgrader sanitises and saves), so a worker keeps about one core busy, and
serial nbgrader is exactly one such worker (the script prints how many cores
each run kept busy on average). With J workers on at least J cores the ratio
is therefore about J, plus what the workers do better than plain nbgrader
(they stop a finished kernel at once instead of waiting for it to shut down,
and they fill the moments a lone nbgrader spends waiting), less what does not
divide:

- nbgrader's start-up (a few seconds, paid once: the workers are forked from the
  grader's process with nbgrader already imported, where the platform allows it);
- the merge into the course gradebook (a few milliseconds per student, done in the
  grader's process while the workers grade the next students);
- the tail: the last students finish while other workers are already idle, worst
  when a submission runs into the cell timeout near the end;
- shared resources: the cores share memory bandwidth, caches and a turbo budget,
  so per-core speed drops as more cores work, and anything else running on the
  machine takes its share.

So the ratio grows about linearly with cores as long as there are many more
students than workers (a class of hundreds on 8 or 16 cores), and flattens
when each worker gets only a few students (40 students on 32 cores are bound
by the slowest one). Beyond one machine, ``--shard i/n`` adds machines the
same way: each shard is an independent set of workers, only the merge is
serial.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from softsign_grader.course import ASSIGNMENT, make_course, run_nbgrader, tool_path_env
from softsign_grader.parallel_grading import GRADING_ENVIRONMENT, WORKER_OPTIONS, default_jobs

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = tool_path_env()


#: The ratio ``--jobs 2`` must reach on 2 cores, by class size.
TARGETS = "1.8x for 20 students, 1.9x for 40"


def build_class(root: Path, students: int) -> tuple[dict[str, str], str]:
    """Create a released course in ``root`` with ``students`` submissions.

    The submissions are the course's sample students
    (:func:`softsign_grader.sample_class.build_sample_class`), taken in turn.

    Returns
    -------
    roster : dict
        ``{student id: sample student it copies}``.
    model : str
        A student whose every answer is right (for the cost breakdown).
    """
    from softsign_grader.sample_class import build_sample_class

    make_course(root)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root, env=NBGRADER_ENV)
    expected = build_sample_class(root)  # from the notebooks just released
    samples = root.parent / "samples"
    (root / "submitted").rename(samples)
    names = sorted(expected)
    roster = {}
    for index in range(students):
        sample = names[index % len(names)]
        student = f"s{index:03d}_{sample}"
        source = samples / sample / ASSIGNMENT
        shutil.copytree(source, root / "submitted" / student / ASSIGNMENT)
        roster[student] = sample
    model = max(
        sorted(roster),
        key=lambda student: (
            sum(expected[roster[student]].values()),
            roster[student].startswith("correct"),
        ),
    )
    return roster, model


def gradebook_scores(course: Path) -> dict[tuple[str, str, str], float | None]:
    """Every grade cell's score of every student in a course's gradebook."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT) as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    key = (submission.student_id, notebook.name, grade.name)
                    scores[key] = grade.score
    return scores


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """Return the wall time of a call and its result."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def children_cpu_seconds() -> float:
    """CPU time (user + system) of all finished child processes, their kernels included."""
    try:
        import resource
    except ImportError:  # Windows
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade_serially(course: Path) -> float:
    """Plain ``nbgrader autograde``: one process, one student after another."""
    seconds, _ = timed(
        run_nbgrader, ["autograde", ASSIGNMENT], course, check=False, env=NBGRADER_ENV
    )
    return seconds


def grade_in_parallel(course: Path, jobs: int) -> tuple[float, str]:
    """``softsign-grade ASSIGNMENT --jobs J`` in a separate process, as an instructor runs it."""
    command = [
        sys.executable,
        "-m",
        "softsign_grader.parallel_grading",
        ASSIGNMENT,
        "--jobs",
        str(jobs),
        "--course-root",
        str(course),
        "--no-progress",
    ]
    seconds, result = timed(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        env=NBGRADER_ENV,
        check=False,
    )
    return seconds, result.stdout


#: Run in a fresh process by :func:`cost_breakdown`: nbgrader's own autograde of one student,
#: with the nbclient steps that run each notebook timed from inside.
PROFILER = r"""
import json, sys, time
began = time.perf_counter()
from nbgrader.apps.autogradeapp import AutogradeApp
from nbgrader.converters import Autograde
from nbclient.client import NotebookClient

course, student, assignment = sys.argv[1:4]
app = AutogradeApp()
app.initialize(
    [assignment, "--force", "--student", student, f"--CourseDirectory.root={course}", *sys.argv[4:]]
)
app.coursedir.assignment_id = assignment
ready = time.perf_counter()
seconds = {"kernel start": 0.0, "imports": 0.0, "execution": 0.0, "kernel shutdown": 0.0}

def timed(name, part):
    original = getattr(NotebookClient, name)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            seconds[part(args)] += time.perf_counter() - start
    setattr(NotebookClient, name, wrapper)

def cell_part(args):
    grade_id = args[0].metadata.get("nbgrader", {}).get("grade_id", "")
    return "imports" if grade_id.startswith("setup") else "execution"

timed("start_new_kernel", lambda args: "kernel start")
timed("start_new_kernel_client", lambda args: "kernel start")
timed("execute_cell", cell_part)
timed("_cleanup_kernel", lambda args: "kernel shutdown")
Autograde(coursedir=app.coursedir, parent=app).start()
done = time.perf_counter()
print(json.dumps({"startup": ready - began, "grading": done - ready, **seconds}))
"""


def profile_student(
    course: Path, student: str, extra_env: dict[str, str], nbgrader_args: list[str]
) -> dict[str, float]:
    """Autograde one student with nbgrader in a fresh process; return where the time went."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROFILER, str(course), student, ASSIGNMENT, *nbgrader_args],
        cwd=course,
        capture_output=True,
        text=True,
        env={**NBGRADER_ENV, **extra_env},
        check=True,
    )
    wall = time.perf_counter() - start
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    # Interpreter start and nbgrader's imports and configuration, before any grading.
    figures["startup"] = wall - figures["grading"]
    return figures


def cost_breakdown(course: Path, student: str, repeats: int = 2) -> None:
    """Print where the time of one autograded notebook goes, for one right submission."""
    count = len(list((course / "submitted" / student / ASSIGNMENT).glob("*.ipynb")))
    rows = {}
    settings = (("plain", {}, []), ("worker", dict(GRADING_ENVIRONMENT), list(WORKER_OPTIONS)))
    for label, extra, options in settings:
        runs = [profile_student(course, student, extra, options) for _ in range(repeats)]
        rows[label] = {key: min(run[key] for run in runs) for key in runs[0]}
    print(f"\nWhere the time goes: nbgrader autograde of {student} ({count} notebooks),")
    print(f"best of {repeats}; per notebook except start-up. 'worker' is how softsign-grade runs")
    print(
        "nbgrader: "
        + " ".join([*WORKER_OPTIONS, *(f"{k}={v}" for k, v in GRADING_ENVIRONMENT.items())])
    )
    plain, tuned = rows["plain"], rows["worker"]
    parts = {
        "kernel start": "kernel start (with the course's exec_lines)",
        "imports": "imports (the setup cell)",
        "execution": "execution (all other cells)",
        "kernel shutdown": "kernel shutdown",
    }
    for row in (plain, tuned):
        row["nbgrader"] = row["grading"] - sum(row[part] for part in parts)

    def line(label: str, first: float, second: float) -> None:
        print(f"  {label:<46}{first:8.2f}{second:12.2f}")

    print(f"  {'seconds':<46}{'plain':>8}{'worker':>12}")
    line("nbgrader start-up (once per process)", plain["startup"], tuned["startup"])
    for part, label in parts.items():
        line(label, plain[part] / count, tuned[part] / count)
    line(
        "nbgrader: sanitise, write, gradebook", plain["nbgrader"] / count, tuned["nbgrader"] / count
    )
    line("total per notebook", plain["grading"] / count, tuned["grading"] / count)


def main(argv: list[str] | None = None) -> int:
    """Build the class, grade it both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40, help="class size (default 40)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="parallel workers")
    parser.add_argument("--no-profile", action="store_true", help="skip the cost breakdown")
    parser.add_argument("--keep", type=Path, default=None, help="keep the courses in this folder")
    args = parser.parse_args(argv)
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: the folder must be new or empty")
    sys.stdout.reconfigure(line_buffering=True)

    with tempfile.TemporaryDirectory(prefix="softsign-benchmark-") as scratch:
        base = args.keep or Path(scratch)
        template = base / "template"
        roster, model = build_class(template, args.students)
        serial, parallel = base / "serial", base / "parallel"
        for copy in (serial, parallel):
            shutil.copytree(template, copy, symlinks=True)
        # Sample students submit only the graded notebooks, and some miss one on purpose.
        notebooks = len(list((template / "submitted").glob(f"*/{ASSIGNMENT}/*.ipynb")))
        kinds = sorted(set(roster.values()))
        print(
            f"Synthetic class: {args.students} students, {notebooks} submitted notebooks, "
            f"copies of {len(kinds)} sample students ({', '.join(kinds)}); "
            f"{os.cpu_count()} cores."
        )

        cpu = children_cpu_seconds()
        serial_seconds = grade_serially(serial)
        serial_cpu, cpu = children_cpu_seconds() - cpu, children_cpu_seconds()
        print(
            f"serial   nbgrader autograde           {serial_seconds:7.1f} s  "
            f"{serial_seconds / notebooks:5.2f} s per notebook, "
            f"{serial_cpu / serial_seconds:.2f} cores busy on average"
        )
        parallel_seconds, report = grade_in_parallel(parallel, args.jobs)
        parallel_cpu = children_cpu_seconds() - cpu
        print(
            f"parallel softsign-grade --jobs {args.jobs:<5} {parallel_seconds:7.1f} s  "
            f"{parallel_seconds / notebooks:5.2f} s per notebook, "
            f"{parallel_cpu / parallel_seconds:.2f} cores busy on average"
        )
        ratio = serial_seconds / parallel_seconds
        target = f"target on 2 cores: {TARGETS}" if args.jobs == 2 else "no target"
        print(f"ratio {ratio:.2f}x with {args.jobs} workers ({target})")
        print("softsign-grade said:\n  " + report.strip().replace("\n", "\n  "))
        same = gradebook_scores(serial) == gradebook_scores(parallel)
        print(f"same score for every cell of every student: {'yes' if same else 'NO'}")

        if not args.no_profile:
            cost_breakdown(serial, model)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
