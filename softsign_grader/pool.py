"""Supervise a pool of grading workers: hand out students, restart dead workers, record outcomes.

A :class:`concurrent.futures.ProcessPoolExecutor` starts one worker process
(:mod:`softsign_grader.worker`) per job. Each task grades one student into the
worker's own gradebook and the run's scratch ``autograded/`` folder. A student
whose grading fails, whose worker dies or runs over ``student_timeout`` fails
alone; when a worker dies the pool is started again, and the students it was
grading at the time are graded again one at a time, so that only the one that
kills its worker fails. Nothing is written to the course itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from softsign_grader.course import Course, GradingError
from softsign_grader.staging import STAGED, remove_tree
from softsign_grader.summary import StudentOutcome
from softsign_grader.worker import WorkerSettings, grade_student, start_worker

__all__ = ["collect_logs", "default_jobs", "grade_students", "scratch_step"]

#: A Unix socket's path may have 107 bytes; the sandbox keeps its sockets in the
#: temporary folder only when that folder's path is at most this long.
_SHORT_TEMP_PATH = 60


def default_jobs() -> int:
    """Return the number of cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _pool_context() -> Any:
    """Fork where it is safe (Linux): the workers start with nbgrader already imported."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def _pool(settings: WorkerSettings, jobs: int) -> ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes, each started by :func:`start_worker`."""
    return ProcessPoolExecutor(
        jobs, mp_context=_pool_context(), initializer=start_worker, initargs=(settings,)
    )


def _workers(run_dir: Path) -> set[Path]:
    """The folders of the run's workers, one per process ever started."""
    return set(run_dir.glob("worker-*"))


def _overdue(run_dir: Path) -> set[str]:
    """The students whose worker stopped itself for taking too long (each told once)."""
    students = set()
    for marker in run_dir.glob("worker-*/overdue"):
        students.add(marker.read_text())
        marker.unlink()
    return students


def _startup_failure(run_dir: Path, earlier: set[Path]) -> str | None:
    """The end of a worker's log if no worker started since ``earlier`` got ready."""
    new = sorted(_workers(run_dir) - earlier)
    if any((folder / "ready").exists() for folder in new):
        return None
    logs = [folder / "nbgrader.log" for folder in new if (folder / "nbgrader.log").exists()]
    tail = logs[-1].read_text(errors="replace").splitlines()[-15:] if logs else ["(no log)"]
    return "\n".join(tail)


def grade_students(
    course: Course,
    assignment: str,
    students: Sequence[str],
    run_dir: Path,
    *,
    jobs: int,
    nbgrader_args: Sequence[str] = (),
    student_timeout: float | None = 1800.0,
    progress: bool = True,
    on_outcome: Callable[[StudentOutcome], None] | None = None,
) -> list[StudentOutcome]:
    """Autograde ``students`` with ``jobs`` nbgrader worker processes, results in ``run_dir``.

    Nothing is written to the course itself: the workers grade into their own
    gradebooks and ``run_dir/autograded``; ``on_outcome`` (the merge) is called in this
    process with each :class:`StudentOutcome` as soon as it is known. The students are
    handed out in the order given; ``student_timeout`` (seconds) stops a worker that
    spends longer on one student, who then fails. Returns the outcomes in the order
    they arrived; after Ctrl-C, only those of the students finished so far.
    """
    if not students:
        return []
    run_dir.mkdir(parents=True, exist_ok=True)
    template = run_dir / "gradebook.db"
    _snapshot(course.db_path, template)
    outcomes: list[StudentOutcome] = []
    with _temporary_folder(run_dir) as temp_dir:
        settings = WorkerSettings(
            course_root=str(course.root),
            course_id=course.course_id,
            assignment=assignment,
            nbgrader_args=tuple(nbgrader_args),
            run_dir=os.path.abspath(run_dir),  # the workers change folder
            template_db=os.path.abspath(template),
            autograded_step=scratch_step(course, run_dir),
            submitted_step=course.submitted_directory,
            staged_step=scratch_step(course, run_dir, STAGED),
            temp_dir=str(temp_dir),
            student_timeout=student_timeout,
        )
        bar = _progress_bar(len(students), assignment, progress)

        def record(outcome: StudentOutcome) -> None:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            bar.update(1)
            if outcome.status == "failed" and progress:
                bar.write(f"failed: {outcome.student}: {outcome.reason}", file=sys.stderr)

        try:
            _run_pool(settings, jobs, students, record)
        except KeyboardInterrupt:
            pass  # keep what is finished; the rest stays due
        finally:
            bar.close()
            remove_tree(run_dir / STAGED)  # what workers that died left of a submission
    return outcomes


def _progress_bar(total: int, assignment: str, progress: bool) -> Any:
    """A tqdm progress bar on standard error (disabled unless ``progress``)."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: the pool forks from this process
    return tqdm(
        total=total,
        desc=f"grading {assignment}",
        unit="student",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _run_pool(
    settings: WorkerSettings,
    jobs: int,
    students: Sequence[str],
    record: Callable[[StudentOutcome], None],
) -> None:
    """Hand out ``students`` to a pool of ``jobs`` workers, one each at a time; record each.

    When a worker dies, the pool stops every task in progress. The student that ran
    over the time limit fails, and the others are graded again. If no one ran over,
    the students in progress are suspects, graded again one at a time: a suspect that
    kills a worker alone fails. The pool is then started again.
    """
    run_dir = Path(settings.run_dir)
    due = deque(students)
    suspects: deque[str] = deque()
    running: dict[Future[StudentOutcome], str] = {}
    earlier, pool = _workers(run_dir), _pool(settings, jobs)
    try:
        while due or suspects or running:
            source, window = (suspects, 1) if suspects else (due, jobs)
            while source and len(running) < window:
                student = source.popleft()
                running[pool.submit(grade_student, student)] = student
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            lost = _settle(done, running, record)
            if not lost:
                continue
            lost += _settle(list(running), running, record)  # a broken pool ends them all
            failure = _startup_failure(run_dir, earlier)
            if failure is not None:
                raise GradingError(f"the nbgrader workers could not start:\n{failure}")
            _judge_lost(lost, _overdue(run_dir), settings, record, due, suspects)
            pool.shutdown(wait=True)
            earlier, pool = _workers(run_dir), _pool(settings, jobs)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _judge_lost(
    lost: list[str],
    overdue: set[str],
    settings: WorkerSettings,
    record: Callable[[StudentOutcome], None],
    due: deque[str],
    suspects: deque[str],
) -> None:
    """Fail the students that a dead worker is to blame on; put the others back in line."""
    for student in lost:
        if student in overdue:
            reason = f"grading took longer than {settings.student_timeout:g} s and was stopped"
            record(StudentOutcome(student, "failed", reason))
        elif len(lost) == 1:
            reason = "its grading process died (see nbgrader's log)"
            record(StudentOutcome(student, "failed", reason))
        elif overdue:
            due.appendleft(student)  # not the one that ran over
        else:
            suspects.append(student)


def _settle(
    futures: Iterable[Future[StudentOutcome]],
    running: dict[Future[StudentOutcome], str],
    record: Callable[[StudentOutcome], None],
) -> list[str]:
    """Record the outcomes of finished ``futures``; return the students a dead worker lost."""
    lost = []
    for future in futures:
        student = running.pop(future)
        try:
            outcome = future.result()
        except BrokenProcessPool:
            lost.append(student)
        except Exception as error:  # costs this student only
            record(StudentOutcome(student, "failed", f"{type(error).__name__}: {error}"))
        else:
            record(outcome)
    return lost


@contextlib.contextmanager
def _temporary_folder(run_dir: Path) -> Iterator[Path]:
    """The workers' and kernels' temporary folder, removed at the end whatever happens.

    It is ``run_dir/tmp`` when that path is short enough for the sandbox to keep its
    kernels' sockets there too, else a folder of the run's own in the system's
    temporary folder; either way nothing is left behind by a worker that was killed.
    """
    folder = run_dir / "tmp"
    if len(str(folder)) <= _SHORT_TEMP_PATH:
        folder.mkdir()
    else:
        folder = Path(tempfile.mkdtemp(prefix="softsign-grade-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def scratch_step(course: Course, run_dir: Path, name: str = "autograded") -> str:
    """A step of a run's workers inside ``run_dir``, as nbgrader takes it (relative to the root).

    ``"autograded"``: their notebooks go to ``run_dir/autograded``; :data:`STAGED`: the
    submissions they stage for nbgrader. Relative, so that nbgrader's patterns escape the
    course root (``format_path(..., escape=True)`` leaves an absolute step unescaped).
    """
    return os.path.relpath(run_dir / name, course.root)


def _snapshot(course_db: Path, dest: Path) -> None:
    """Copy an SQLite gradebook consistently, even while formgrader writes to it."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{course_db}?mode=ro", uri=True)) as source,
        contextlib.closing(sqlite3.connect(dest)) as copy,
    ):
        source.backup(copy)


def collect_logs(run_dir: Path, dest: Path) -> Path | None:
    """Concatenate the workers' nbgrader logs into one file."""
    logs = sorted(run_dir.glob("worker-*/nbgrader.log"))
    if not logs:
        return None
    with open(dest, "w") as out:
        for log in logs:
            out.write(f"===== {log.parent.name} =====\n")
            out.write(log.read_text(errors="replace"))
    return dest
