"""Grade a class in parallel: choose the students due, run the pool, merge or keep a shard.

:func:`grade` is one grading run of an assignment: it takes the run lock, skips
the submissions whose fingerprint is unchanged, grades the rest with the worker
pool (:mod:`softsign_grader.pool`) and merges each outcome into the course
gradebook as it arrives (:mod:`softsign_grader.merge`), or, for a ``--shard``
run, leaves the outcomes and a manifest for ``softsign-grade merge``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from softsign_grader.course import Course, open_course
from softsign_grader.fingerprint import assignment_salt, due_students, environment_salt
from softsign_grader.merge import Merge
from softsign_grader.pool import collect_logs, default_jobs, grade_students
from softsign_grader.run_lock import run_lock
from softsign_grader.shards import MANIFEST, shard_name, write_json
from softsign_grader.staging import remove_tree
from softsign_grader.summary import RunSummary, StudentOutcome

__all__ = ["grade"]


def _run_folder(
    course: Course, assignment: str, work_dir: Path, shard: tuple[int, int] | None
) -> tuple[Path, contextlib.AbstractContextManager[None]]:
    """A run's folder, and its lock: the course's, or the shard's (shards run side by side)."""
    if shard:
        run_dir = work_dir / assignment / "shards" / shard_name(shard)
        return run_dir, run_lock(run_dir.with_suffix(".lock"), f"shard {shard[0]}/{shard[1]}")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = work_dir / assignment / f"run-{stamp}-{os.getpid()}"
    return run_dir, run_lock(course.lock_path(), "a grading run of this course")


def grade(
    course_root: Path,
    assignment: str,
    *,
    jobs: int | None = None,
    force: bool = False,
    shard: tuple[int, int] | None = None,
    student: str | None = None,
    work_dir: Path | None = None,
    nbgrader_args: Sequence[str] = (),
    student_timeout: float | None = 1800.0,
    progress: bool = True,
    keep_work: bool = False,
) -> RunSummary:
    """Autograde every new or changed submission of ``assignment`` in parallel.

    Parameters
    ----------
    course_root : pathlib.Path
        The course folder, holding ``nbgrader_config.py`` and ``submitted/``.
    assignment : str
        The nbgrader assignment id; the course gradebook must already hold it.
    jobs : int, optional
        Worker processes; all cores by default.
    force : bool
        Grade every submission, changed or not.
    shard : tuple of int, optional
        ``(i, n)``: grade only slice i of n (see :func:`shard_students`) and leave the
        result in the work folder for :func:`merge`, instead of merging it now.
    student : str, optional
        Grade only the students whose id matches this glob pattern.
    work_dir : pathlib.Path, optional
        Runs, shard results and fingerprints (default: ``autograded/.parallel_grading``).
    nbgrader_args : sequence of str
        Extra ``--Class.trait=value`` options for nbgrader.
    student_timeout : float or None
        Seconds after which a student's grading is stopped and counted as failed.
    progress : bool
        Show a progress bar on standard error.
    keep_work : bool
        Keep the run's folder (the workers' gradebooks and nbgrader logs).

    Returns
    -------
    RunSummary
        Who was graded, who failed and why, and how long it took.

    Raises
    ------
    GradingError
        When nothing can be graded: no gradebook, an unknown assignment, or another
        run of the same course (or shard) in progress.
    """
    started, began = time.monotonic(), time.time()
    course = open_course(course_root, assignment, nbgrader_args)
    work_dir = Path(work_dir) if work_dir else course.default_work_dir()
    run_dir, lock = _run_folder(course, assignment, work_dir, shard)
    with lock:
        salt = assignment_salt(course, assignment, nbgrader_args)
        fingerprints, reasons = due_students(
            course, assignment, salt, work_dir, force, student, shard
        )
        due = list(reasons)
        jobs = max(1, min(jobs or default_jobs(), len(due) or 1))
        remove_tree(run_dir)
        run_dir.mkdir(parents=True)
        merging = None if shard else Merge(course, assignment, work_dir)

        def finished(outcome: StudentOutcome) -> None:
            outcome.fingerprint = fingerprints.get(outcome.student, "")
            if merging is not None:  # merged at once; a shard's wait for `merge`
                merging.add(outcome, run_dir)

        try:
            outcomes = grade_students(
                course,
                assignment,
                due,
                run_dir,
                jobs=jobs,
                nbgrader_args=nbgrader_args,
                student_timeout=student_timeout,
                progress=progress,
                on_outcome=finished,
            )
        finally:
            if merging is not None:
                merging.close()
        log_name = f"shard-{shard_name(shard)}.log" if shard else "grading.log"
        log_file = collect_logs(run_dir, work_dir / assignment / log_name)
        unchanged = [s for s in fingerprints if s not in set(due)]
        summary = RunSummary(assignment, outcomes, unchanged, 0.0, jobs, shard, log_file)
        summary.reasons = reasons
        summary.interrupted = sorted(set(due) - {o.student for o in outcomes})
        if shard and not summary.interrupted:  # the merge must not take a half-graded shard
            manifest = {"salt": salt, "environment": environment_salt(), "started": began}
            write_json(run_dir / MANIFEST, {**manifest, **asdict(summary), "log_file": None})
        if not shard and not keep_work:
            remove_tree(run_dir)
    summary.seconds = time.monotonic() - started
    return summary
