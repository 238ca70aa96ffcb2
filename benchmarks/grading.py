"""Serial ``nbgrader autograde`` against parallel ``softsign-grade`` on a synthetic class.

Builds a class of N students (default 40) from the course's sample students
(``source_lib.sample_class``: right answers in several forms, the common
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
serial nbgrader is exactly one such worker. With J workers on at least J cores
the ratio is therefore close to J, less what does not divide:

- one nbgrader start-up per worker (a few seconds, paid in parallel);
- the merge into the course gradebook (a few milliseconds per student, serial);
- the tail: the last students finish while other workers are already idle, worst
  when a submission runs into the cell timeout near the end;
- shared resources: every kernel reads the same files and, on a laptop, the
  cores share memory bandwidth and a turbo budget, so per-core speed drops as
  more cores work.

So the ratio grows almost linearly with cores, about 0.85 to 0.95 of J for a
class that is large against J (hundreds of students), and flattens when
students per worker get few (a class of 40 on 32 cores is bound by its slowest
student). Beyond one machine, ``--shard i/n`` adds machines the same way: each
shard is an independent set of workers, and only the merge is serial.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

import nbformat

from source_lib.course import ASSIGNMENT, REPO_ROOT, make_course, notebook_names, run_nbgrader
from source_lib.parallel_grading import GRADING_ENVIRONMENT, default_jobs

#: nbgrader runs the `alembic` executable beside this Python when it creates a gradebook.
NBGRADER_ENV = {
    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
}


def sample_submissions(scratch: Path) -> dict[str, Path]:
    """Return ``{sample student: submission folder}`` for the course's sample class.

    Without ``source_lib.sample_class``, two kinds of student stand in: the
    instructor notebooks (every answer right) and the untouched student notebooks.
    """
    try:
        from source_lib.sample_class import build_sample_class
    except ImportError:
        right = scratch / "right"
        untouched = scratch / "untouched"
        shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, right)
        shutil.copytree(REPO_ROOT / "notebooks" / ASSIGNMENT, untouched)
        return {"right": right, "untouched": untouched}
    course = scratch / "sample-class"
    students = build_sample_class(course)
    return {student: course / "submitted" / student / ASSIGNMENT for student in sorted(students)}


def build_class(root: Path, students: int) -> dict[str, str]:
    """Create a released course in ``root`` with ``students`` submissions; return who is who."""
    make_course(root)
    run_nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root, env=NBGRADER_ENV)
    samples = sample_submissions(root.parent / "samples")
    names = sorted(samples)
    roster = {}
    for index in range(students):
        sample = names[index % len(names)]
        student = f"s{index:03d}_{sample}"
        shutil.copytree(samples[sample], root / "submitted" / student / ASSIGNMENT)
        roster[student] = sample
    return roster


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
        "source_lib.parallel_grading",
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
        env={**os.environ, **NBGRADER_ENV},
        check=False,
    )
    return seconds, result.stdout


@contextlib.contextmanager
def environment(extra: dict[str, str]):
    """Set environment variables (inherited by the kernels started inside) for a while."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def profile_notebook(path: Path) -> dict[str, float]:
    """Run one notebook as nbgrader does (fresh kernel, its folder as working directory).

    Returns the seconds spent starting the kernel, in the setup cell (the imports)
    and in all other cells.
    """
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    code = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    times = {"kernel start": 0.0, "imports": 0.0, "execution": 0.0}
    start = time.perf_counter()
    with client.setup_kernel():
        times["kernel start"] = time.perf_counter() - start
        for position, (index, cell) in enumerate(code):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
            key = "imports" if grade_id.startswith("setup") or position == 0 else "execution"
            began = time.perf_counter()
            client.execute_cell(cell, index)
            times[key] += time.perf_counter() - began
    return times


def startup_seconds(course: Path, repeats: int = 3) -> float:
    """Seconds nbgrader needs to start, read its configuration and find nothing to do."""
    runs = []
    for _ in range(repeats):
        seconds, _ = timed(
            run_nbgrader,
            ["autograde", ASSIGNMENT, "--student", "nobody-at-all"],
            course,
            check=False,
            env=NBGRADER_ENV,
        )
        runs.append(seconds)
    return min(runs)


def cost_breakdown(course: Path, student: str) -> None:
    """Print where one autograded notebook's time goes, for one student's submission."""
    submitted = course / "submitted" / student / ASSIGNMENT
    names = notebook_names(course)
    notebooks = [submitted / name for name in names if (submitted / name).exists()]
    startup = startup_seconds(course)
    one_student, _ = timed(
        run_nbgrader,
        ["autograde", ASSIGNMENT, "--student", student, "--force"],
        course,
        check=False,
        env=NBGRADER_ENV,
    )
    plain = [profile_notebook(path) for path in notebooks]
    with environment(GRADING_ENVIRONMENT):
        tuned = [profile_notebook(path) for path in notebooks]
    count = len(notebooks)
    parts = {key: mean(run[key] for run in plain) for key in plain[0]}
    tuned_parts = {key: mean(run[key] for run in tuned) for key in tuned[0]}
    per_notebook = (one_student - startup) / count
    bookkeeping = per_notebook - sum(parts.values())
    print(f"\nWhere the time of one autograded notebook goes ({student}, {count} notebooks):")
    print(f"  nbgrader start-up, once per process   {startup:6.2f} s")
    print(f"  whole notebook inside nbgrader        {per_notebook:6.2f} s, of which")
    env_note = ", ".join(f"{k}={v}" for k, v in GRADING_ENVIRONMENT.items())
    for key, value in parts.items():
        print(f"    {key:<34}  {value:6.2f} s   ({tuned_parts[key]:.2f} s with the worker env)")
    print(f"    {'nbgrader: sanitise, save, database':<34}  {bookkeeping:6.2f} s")
    print(f"  worker env: {env_note}")
    for name, run in zip(names, plain, strict=False):
        cells = ", ".join(f"{key} {value:.2f}" for key, value in run.items())
        print(f"    {name:<40} {cells}")


def main(argv: list[str] | None = None) -> int:
    """Build the class, grade it both ways, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40, help="class size (default 40)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="parallel workers")
    parser.add_argument("--no-profile", action="store_true", help="skip the cost breakdown")
    parser.add_argument("--keep", type=Path, default=None, help="keep the courses in this folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="softsign-benchmark-") as scratch:
        base = args.keep or Path(scratch)
        template = base / "template"
        roster = build_class(template, args.students)
        serial, parallel = base / "serial", base / "parallel"
        for copy in (serial, parallel):
            shutil.copytree(template, copy, symlinks=True)
        notebooks = args.students * len(notebook_names(template))
        kinds = sorted(set(roster.values()))
        print(
            f"Synthetic class: {args.students} students x {len(notebook_names(template))} "
            f"notebooks = {notebooks} notebooks, from {len(kinds)} sample students "
            f"({', '.join(kinds)}); {os.cpu_count()} cores."
        )

        serial_seconds = grade_serially(serial)
        print(
            f"serial   nbgrader autograde           {serial_seconds:7.1f} s  "
            f"{serial_seconds / notebooks:5.2f} s per notebook"
        )
        parallel_seconds, report = grade_in_parallel(parallel, args.jobs)
        print(
            f"parallel softsign-grade --jobs {args.jobs:<5} {parallel_seconds:7.1f} s  "
            f"{parallel_seconds / notebooks:5.2f} s per notebook"
        )
        ratio = serial_seconds / parallel_seconds
        print(f"ratio {ratio:.2f}x with {args.jobs} workers")
        print("softsign-grade said:\n  " + report.strip().replace("\n", "\n  "))
        same = gradebook_scores(serial) == gradebook_scores(parallel)
        print(f"same score for every cell of every student: {'yes' if same else 'NO'}")

        if not args.no_profile:
            first = sorted(roster)[0]
            cost_breakdown(serial, first)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
