"""A grading worker process: load nbgrader once, then autograde one student per task.

:func:`start_worker` is the pool's initializer: it sends the process's output to
its own ``nbgrader.log``, copies the run's gradebook and loads nbgrader with the
course's configuration. :func:`grade_student` is the pool's task: it stages one
submission, autogrades it into the worker's gradebook and returns a
:class:`~softsign_grader.summary.StudentOutcome` with what autograding decided.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softsign_grader.course import tool_path_env
from softsign_grader.nbgrader_plugins import read_answer_checksums
from softsign_grader.run_lock import release_inherited_locks
from softsign_grader.staging import skipped_notes, stage, staged_folder, staged_root, unstage
from softsign_grader.summary import StudentOutcome

if TYPE_CHECKING:
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from softsign_grader.nbgrader_log import RecordingAutograde

__all__ = [
    "GRADING_ENVIRONMENT",
    "WORKER_OPTIONS",
    "Worker",
    "WorkerSettings",
    "grade_student",
    "missing_notes",
    "read_grades",
    "start_worker",
]

#: Environment variables set for the workers and the kernels they start, unless already set.
#: Agg never looks for a display; one BLAS thread per kernel stops N kernels on N cores from
#: each starting N threads and fighting over the cores.
GRADING_ENVIRONMENT: dict[str, str] = {
    "MPLBACKEND": "Agg",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}

#: nbgrader options of every worker, unless given on the command line. A kernel whose
#: notebook has run to the end is stopped at once instead of asked to shut down and
#: waited for (nbclient's default, about a second per notebook); its outputs are
#: already collected, so nothing of the grade depends on how it ends.
WORKER_OPTIONS: tuple[str, ...] = ("--Execute.shutdown_kernel=immediate",)

#: Course folders a worker sets itself; nbgrader refuses a trait given twice.
_WORKER_TRAITS = tuple(
    f"--CourseDirectory.{trait}="
    for trait in (
        "root",
        "db_url",
        "autograded_directory",
        "submitted_directory",
        "student_id_exclude",
    )
)
#: Exit status of a worker that stopped itself after ``student_timeout``.
_OVERDUE_EXIT = 70


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker process needs to start; plain data, so that it can be pickled."""

    course_root: str
    course_id: str
    assignment: str
    nbgrader_args: tuple[str, ...]
    run_dir: str
    template_db: str
    autograded_step: str
    #: The course's own ``submitted_directory`` (read through the vetted reader only).
    submitted_step: str
    #: Where the worker stages each submission for nbgrader (its ``submitted_directory``).
    staged_step: str
    temp_dir: str
    student_timeout: float | None


@dataclass
class Worker:
    """A started worker: its settings, folder, gradebook and loaded nbgrader."""

    settings: WorkerSettings
    folder: Path
    db_url: str
    api: NbGraderAPI


#: The worker of this process (set by :func:`start_worker` in each pool process).
_worker: Worker | None = None


def _log_to_file(path: Path) -> None:
    """Send nbgrader's log, and whatever else would print to the terminal, to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def start_worker(settings: WorkerSettings) -> None:
    """Pool initializer: load nbgrader and the course's configuration once per process."""
    global _worker
    release_inherited_locks()
    folder = Path(settings.run_dir) / f"worker-{os.getpid()}"
    folder.mkdir(parents=True)
    _log_to_file(folder / "nbgrader.log")
    os.environ.update(tool_path_env())
    for name, value in GRADING_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    os.environ["TMPDIR"] = tempfile.tempdir = settings.temp_dir
    db_path = folder / "gradebook.db"
    shutil.copyfile(settings.template_db, db_path)

    from nbgrader.apps import NbGraderAPI
    from nbgrader.apps.autogradeapp import AutogradeApp

    os.chdir(settings.course_root)
    sys.path.insert(0, settings.course_root)  # modules the course's config may import
    app = AutogradeApp()
    given = {arg.split("=", 1)[0] for arg in settings.nbgrader_args}
    app.initialize(
        [
            "--log-level=INFO",  # the logger may still have the level load_course gave it
            *(option for option in WORKER_OPTIONS if option.split("=", 1)[0] not in given),
            *(arg for arg in settings.nbgrader_args if not arg.startswith(_WORKER_TRAITS)),
            f"--CourseDirectory.root={settings.course_root}",
            f"--CourseDirectory.db_url=sqlite:///{db_path}",
            f"--CourseDirectory.autograded_directory={settings.autograded_step}",
            f"--CourseDirectory.submitted_directory={settings.staged_step}",
            "--CourseDirectory.student_id_exclude=",
        ]
    )
    api = NbGraderAPI(coursedir=app.coursedir, parent=app)
    api.log = app.log  # NbGraderAPI takes traitlets' logger; nbgrader's console log is the app's
    _worker = Worker(settings, folder, f"sqlite:///{db_path}", api)
    (folder / "ready").touch()


def grade_student(student: str) -> StudentOutcome:
    """Pool task: autograde one student with nbgrader; return what it decided."""
    from nbgrader.api import Gradebook

    from softsign_grader.nbgrader_log import StudentLog, failure_reason, one_line

    worker = _worker
    if worker is None:
        raise RuntimeError("grade_student runs in a worker started by start_worker")
    settings = worker.settings
    staged = staged_folder(worker, student)
    watchdog = None
    if settings.student_timeout is not None:
        watchdog = threading.Timer(settings.student_timeout, _stop_overdue, (worker, student))
        watchdog.daemon = True
        watchdog.start()
    started = time.perf_counter()
    collector = StudentLog()
    try:
        submission = stage(worker, student, staged)
        worker.api.log.addHandler(collector)
        try:
            converter, result = _autograde(worker, student)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            worker.api.log.removeHandler(collector)
        # nbgrader graded the staged copy: a notebook the reader left out was not submitted.
        with Gradebook(worker.db_url, settings.course_id) as gradebook:
            grades = read_grades(gradebook, settings.assignment, student, staged)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        unstage(staged, staged_root(worker))
    skipped = skipped_notes(submission.skipped)
    unknown = [
        one_line(f"Skipping unknown notebook: {path}") for path in converter.unknown_notebooks
    ]
    outcome = StudentOutcome(
        student,
        "graded" if result["success"] else "failed",
        seconds=time.perf_counter() - started,
        notebook_seconds=converter.notebook_seconds,
        grades=grades,
    )
    if result["success"]:
        outcome.notes = [
            *skipped,
            *unknown,
            *collector.graded_with_errors(),
            *missing_notes(grades),
        ]
    else:
        if converter.error is not None:
            outcome.reason = failure_reason(converter.error, converter.error_notebook)
        else:  # nbgrader gave up outside the steps the converter records
            lines = str(result.get("error", "")).strip().splitlines()
            outcome.reason = one_line(lines[-1] if lines else "nbgrader failed")
        outcome.notes = [*skipped, *unknown]
    return outcome


def _autograde(worker: Worker, student: str) -> tuple[RecordingAutograde, dict[str, Any]]:
    """Autograde one student as :meth:`nbgrader.apps.NbGraderAPI.autograde` does.

    Returns
    -------
    tuple
        The :class:`~softsign_grader.nbgrader_log.RecordingAutograde` converter that
        graded (what happened, as data) and nbgrader's result (``success``, ``error``,
        ``log``).
    """
    from nbgrader.utils import capture_log, temp_attrs

    from softsign_grader.nbgrader_log import RecordingAutograde

    api = worker.api
    with temp_attrs(api.coursedir, assignment_id=worker.settings.assignment, student_id=student):
        converter = RecordingAutograde(coursedir=api.coursedir, parent=api)
        converter.force = True
        converter.create_student = True
        result: dict[str, Any] = capture_log(converter)
    return converter, result


def _stop_overdue(worker: Worker, student: str) -> None:
    """Watchdog: end this worker (its sandboxed kernels die with it); the pool restarts."""
    with contextlib.suppress(OSError):
        (worker.folder / "overdue").write_text(student)
    os._exit(_OVERDUE_EXIT)


def read_grades(
    gradebook: Gradebook, assignment: str, student: str, submitted: Path
) -> dict[str, Any] | None:
    """Return what autograding wrote for one submission, as plain data.

    ``{"timestamp": ISO text or None, "notebooks": {name: {"submitted": bool,
    "max_score": float, "late_submission_penalty": float or None,
    "grades": {grade id: [auto_score, needs_manual_grade, manual_score]},
    "comments": {grade id: auto_comment}}}, "answers": {notebook: {cell: checksum}}}``
    (the checksums of the graded written answers, see
    :class:`~softsign_grader.nbgrader_plugins.KeepGradedAnswers`), or None when there
    is no submission.
    """
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return None
    notebooks = {
        notebook.name: {
            "submitted": (submitted / f"{notebook.name}.ipynb").exists(),
            "max_score": notebook.max_score,
            "late_submission_penalty": notebook.late_submission_penalty,
            "grades": {
                g.name: [g.auto_score, g.needs_manual_grade, g.manual_score]
                for g in notebook.grades
            },
            "comments": {c.name: c.auto_comment for c in notebook.comments},
        }
        for notebook in submission.notebooks
    }
    timestamp = submission.timestamp.isoformat() if submission.timestamp else None
    answers = read_answer_checksums(gradebook, assignment, student)
    return {"timestamp": timestamp, "notebooks": notebooks, "answers": answers}


def missing_notes(grades: dict[str, Any] | None) -> list[str]:
    """Notes on the notebooks that have points but were not submitted (they score 0)."""
    if grades is None:
        return []
    return [
        f"No submitted file: {name}.ipynb (0 of {data['max_score']:g} points)"
        for name, data in sorted(grades["notebooks"].items())
        if not data["submitted"] and data["max_score"]
    ]
