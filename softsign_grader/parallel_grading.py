"""Autograde a whole class in parallel with real nbgrader, then merge into one gradebook.

``nbgrader autograde`` grades one student after another. This module runs the
same nbgrader in a pool of worker processes and merges their results into the
course gradebook, so that ``nbgrader export``, ``nbgrader generate_feedback``
and formgrader see what a serial ``nbgrader autograde --force`` would have
left behind: the same students, submissions, timestamps, scores and comments
in ``gradebook.db``, and the same notebooks in ``autograded/``.

How it works
------------
A :class:`concurrent.futures.ProcessPoolExecutor` starts one worker process per
job. Each worker loads nbgrader with the course's own configuration once, and
then grades one student per task with :meth:`nbgrader.apps.NbGraderAPI.autograde`,
into a gradebook of its own (a copy of the course gradebook taken when the run
starts) and a scratch ``autograded/`` folder of the run. A task returns what
autograding decided: the submission's timestamp and, per notebook, the late
penalty, each grade cell's ``auto_score`` and ``needs_manual_grade`` and each
comment's ``auto_comment``.

The merge writes only those fields into the course gradebook, through
:class:`nbgrader.api.Gradebook`, as each student finishes, and moves the
student's autograded notebooks into the course's ``autograded/`` folder. A
manual score, manual comment, extra credit, flag or extension (what a grader
writes in formgrader) is never written by the merge, so one written while a run
is going survives it. As with plain nbgrader, a grade cell that has a manual
score is marked as needing a manual grade again when its notebook is regraded.

A student whose grading fails (a notebook that is not JSON, a dead kernel, a
worker process that died or ran over ``--student-timeout``) fails alone: the
summary names the student and the reason, the exit status is 1, and the rest of
the class is graded normally. When a worker process dies, the pool is started
again; the students it was grading at the time are graded again one at a time,
so that only the one that kills its worker fails.

Nothing of a submission is followed or trusted outside the sandbox: the
fingerprints and the workers read a submission folder only through the vetted
reader (:mod:`softsign_grader.submission`: regular files only, never a
symbolic link, FIFO or device, capped in size, count, depth and time). Before
nbgrader sees a student, the worker copies what the reader took into a staging
folder of the run (``RUN/staged/STUDENT/ASSIGNMENT``), writes beside it the
manifest of what was left out (``...ASSIGNMENT.skipped.json``, which the
feedback reads), and points its ``CourseDirectory.submitted_directory`` there;
so nbgrader's copy of the submission's other files, its ``timestamp.txt`` and
its notebooks are regular, capped files. The summary names each file left out
(``skipped PATH: REASON``). The staged copy is removed once the student is graded.

Only one run grades a course at a time: a run holds an exclusive lock
(:func:`fcntl.flock`) on ``gradebook.db.lock`` beside the gradebook, which
names the process that holds it, and a second run stops at once with exit
status 2. The lock is released when the process ends, however it ends.

Re-running grades only new or changed submissions. After a merge the
fingerprint of each graded submission (a SHA-256 hash of its files, of the
assignment's source cells and points as recorded in the gradebook, of
``nbgrader_config.py``, of the grading code and of the ``SOFTSIGN_*``
environment variables, hashed, never stored) is recorded beside
``autograded/``; an unchanged submission is skipped unless ``--force`` is given.

Cluster use
-----------
``--shard i/n`` grades only the i-th of n slices of the class (students
sorted by id, every n-th one), so n machines of a Slurm array or an indexed
Kubernetes Job can grade one slice each on a shared file system. Each shard
leaves its results in the work folder; ``softsign-grade merge ASSIGNMENT
--shards n`` then merges them all into the course gradebook.

Examples
--------
From the course folder (the one with ``nbgrader_config.py``)::

    softsign-grade ASSIGNMENT --jobs 4
    softsign-grade ASSIGNMENT --force --student "a*"
    softsign-grade ASSIGNMENT --shard 2/8 --jobs 16     # on machine 2 of 8
    softsign-grade merge ASSIGNMENT --shards 8         # once all 8 are done
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import hashlib
import json
import logging
import multiprocessing
import os
import re
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softsign_grader.course import tool_path_env
from softsign_grader.submission import (
    DEFAULT_LIMITS,
    MANIFEST_SUFFIX,
    Limits,
    Skipped,
    Submission,
    copy_submission,
    read_submission,
    write_skipped_manifest,
)

if TYPE_CHECKING:
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "GRADING_ENVIRONMENT",
    "WORKER_OPTIONS",
    "Course",
    "GradingError",
    "RunSummary",
    "StudentOutcome",
    "default_jobs",
    "grade",
    "grade_students",
    "load_course",
    "main",
    "merge",
    "parse_shard",
    "run_lock",
    "shard_students",
    "submission_fingerprint",
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

#: Name of the work folder created inside the course's ``autograded/`` folder. It starts
#: with a dot, so nbgrader's ``autograded/*/ASSIGNMENT`` globs never see it.
WORK_FOLDER = ".parallel_grading"

#: Environment variables with this prefix may change a verdict (the sandbox's mode, a
#: judge's secret): a change of any of them regrades everyone. Only a hash is kept.
GRADE_ENVIRONMENT_PREFIX = "SOFTSIGN_"

_RECORD_VERSION = 2
#: The summary lists at most this many notes; nbgrader's log has them all.
_MAX_NOTES = 20
#: A student's outcome names at most this many skipped files; the manifest has them all.
_MAX_SKIPPED_NOTES = 50
#: The run's folder (inside the run folder) of the submissions staged for nbgrader.
_STAGED = "staged"
_MANIFEST = "manifest.json"
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
_NBGRADER_OPTION = re.compile(r"--[A-Za-z_]\w*\.[A-Za-z_][\w.]*=.*")
#: Exit status of a worker that stopped itself after ``student_timeout``.
_OVERDUE_EXIT = 70
#: A Unix socket's path may have 107 bytes; the sandbox keeps its sockets in the
#: temporary folder only when that folder's path is at most this long.
_SHORT_TEMP_PATH = 60


class GradingError(RuntimeError):
    """The class cannot be graded at all (no gradebook, unknown assignment, a run in progress)."""


# --------------------------------------------------------------------------- the course


@dataclass(frozen=True)
class Course:
    """An nbgrader course: its :class:`nbgrader.coursedir.CourseDirectory` and gradebook.

    Every other attribute is the ``CourseDirectory`` trait of that name, as the
    course's configuration sets it (``autograded_directory``, ``ignore``, ...).
    """

    coursedir: CourseDirectory
    db_path: Path

    def __getattr__(self, name: str) -> Any:
        if name == "coursedir":  # not set yet (while being copied)
            raise AttributeError(name)
        return getattr(self.coursedir, name)

    @property
    def root(self) -> Path:
        """The course folder (``CourseDirectory.root``)."""
        return Path(self.coursedir.root)

    @property
    def db_url(self) -> str:
        """The gradebook's SQLAlchemy URL."""
        return f"sqlite:///{self.db_path}"

    def path(self, step: str, student_id: str, assignment_id: str) -> Path:
        """Return the folder of one step, student and assignment (``format_path``)."""
        return Path(os.path.normpath(self.coursedir.format_path(step, student_id, assignment_id)))

    def default_work_dir(self) -> Path:
        """Return the default work folder: a hidden folder inside ``autograded/``."""
        return self.root / self.autograded_directory / WORK_FOLDER

    def lock_path(self) -> Path:
        """Return the run lock's file, beside the gradebook."""
        return self.db_path.with_name(self.db_path.name + ".lock")

    def submitted_students(self, assignment_id: str) -> list[str]:
        """Return the sorted ids of the students with a submission (less the excluded ones)."""
        from nbgrader.apps import NbGraderAPI

        api = NbGraderAPI(coursedir=self.coursedir)
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        return sorted(set(api.get_submitted_students(assignment_id)) - excluded)


def load_course(root: Path, nbgrader_args: Sequence[str] = ()) -> Course:
    """Read a course's configuration, with ``nbgrader_args``, as ``nbgrader autograde`` does."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.utils import chdir

    root = Path(root).resolve()
    app = AutogradeApp()
    with chdir(str(root)):
        # Quiet: the workers log nbgrader's configuration warnings.
        app.initialize(["--log-level=ERROR", f"--CourseDirectory.root={root}", *nbgrader_args])
    prefix = "sqlite:///"
    db_url = str(app.coursedir.db_url)
    if not db_url.startswith(prefix):
        raise GradingError(
            f"parallel grading needs an SQLite gradebook; this course uses {db_url!r}. "
            "Run plain `nbgrader autograde` instead."
        )
    db_path = Path(db_url[len(prefix) :])
    return Course(app.coursedir, db_path if db_path.is_absolute() else root / db_path)


def _open_course(course_root: Path, assignment: str, nbgrader_args: Sequence[str]) -> Course:
    course = load_course(course_root, nbgrader_args)
    if not course.db_path.exists():
        raise GradingError(
            f"no gradebook at {course.db_path}; run `nbgrader generate_assignment {assignment}` "
            "in the course folder first"
        )
    return course


# --------------------------------------------------------------------------- fingerprints


def submission_fingerprint(
    folder: Path, ignore: Sequence[str] = (), salt: str = "", limits: Limits = DEFAULT_LIMITS
) -> str:
    """Return a SHA-256 hex digest of what the vetted reader takes from a submission folder.

    The folder is read with :func:`softsign_grader.submission.read_submission`: a
    symbolic link, FIFO, device or socket is never followed or read, only named (so a
    change of a link's target does not change the digest, and a link to a FIFO or to
    ``/dev/zero`` cannot hang or exhaust the run), and every file is capped.

    Parameters
    ----------
    folder : pathlib.Path
        A student's submission folder (``submitted/STUDENT/ASSIGNMENT``).
    ignore : sequence of str
        Globs of file and folder names left out (nbgrader's ``CourseDirectory.ignore``).
    salt : str
        Text hashed first: whatever else decides the grade (see :func:`grade`).
    limits : Limits
        The reader's caps (those of the staging copy the workers grade).

    Returns
    -------
    str
        The digest; it changes when any regular file is added, removed, renamed or
        edited, and when a file left out appears, goes or is left out for another reason.
    """
    return read_submission(folder, limits, list(ignore)).fingerprint(salt)


def _assignment_salt(course: Course, assignment: str, nbgrader_args: Sequence[str]) -> str:
    """A digest of what, besides a submission, decides its grades: tests, points, config, code."""
    from nbgrader.api import Gradebook, MissingEntry

    from softsign_grader.judge import grader_fingerprint

    parts = [*nbgrader_args, f"graders:{grader_fingerprint()}"]
    config_file = course.root / "nbgrader_config.py"
    if config_file.exists():
        parts.append(hashlib.sha256(config_file.read_bytes()).hexdigest())
    with Gradebook(course.db_url, course.course_id) as gradebook:
        try:
            record = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(
                f"the gradebook {course.db_path} has no assignment {assignment!r}; "
                f"run `nbgrader generate_assignment {assignment}` first"
            ) from None
        if not record.notebooks:
            raise GradingError(
                f"the assignment {assignment!r} has no notebooks in the gradebook; "
                f"run `nbgrader generate_assignment {assignment}` first"
            )
        for notebook in record.notebooks:
            parts.append(notebook.name)
            parts.extend(f"{c.name}:{c.checksum}" for c in notebook.source_cells)
            parts.extend(f"{c.name}:{c.max_score}" for c in notebook.grade_cells)
            parts.extend(f"{c.name}:{c.max_score}" for c in notebook.task_cells)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _environment_salt() -> str:
    """A digest of the ``SOFTSIGN_*`` environment variables: their values are never stored."""
    settings = sorted(
        (k, v) for k, v in os.environ.items() if k.startswith(GRADE_ENVIRONMENT_PREFIX)
    )
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()


# --------------------------------------------------------------------------- shards


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (1 <= i <= n) into ``(i, n)``.

    Examples
    --------
    >>> parse_shard("2/4")
    (2, 4)
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"a shard is written i/n, for example 2/4, not {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: i must be between 1 and n")
    return index, count


def shard_students(students: Sequence[str], index: int, count: int) -> list[str]:
    """Return shard ``index`` of ``count``: every ``count``-th student id in sorted order.

    The slice depends only on the sorted ids, so every machine of a job array computes
    the same partition, and every student lands in exactly one shard.

    Examples
    --------
    >>> shard_students(["d", "a", "c", "b", "e"], 2, 2)
    ['b', 'd']
    """
    return sorted(students)[index - 1 :: count]


def default_jobs() -> int:
    """Return the number of cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


# --------------------------------------------------------------------------- outcomes


@dataclass
class StudentOutcome:
    """What happened to one student's submission.

    ``status`` is ``"graded"`` or ``"failed"`` (``reason`` says why); ``notes`` are
    warnings worth an instructor's eye; ``seconds`` and ``notebook_seconds`` are the
    worker's wall time, in all and per notebook; ``fingerprint`` is the submission's
    (:func:`submission_fingerprint`); ``grades`` is what autograding wrote to the
    worker's gradebook (:func:`_read_grades`), None when nbgrader recorded nothing.
    """

    student: str
    status: str
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notebook_seconds: dict[str, float] = field(default_factory=dict)
    fingerprint: str = ""
    grades: dict[str, Any] | None = None


@dataclass
class RunSummary:
    """Totals of one grading run or merge, and what :func:`main` prints.

    ``seconds`` is wall time: of the run, or for a merge from the first shard's start to
    the end of the merge.
    """

    assignment: str
    outcomes: list[StudentOutcome]
    unchanged: list[str]
    seconds: float
    jobs: int
    shard: tuple[int, int] | None = None
    log_file: Path | None = None
    interrupted: list[str] = field(default_factory=list)
    merged_shards: int = 0

    @property
    def graded(self) -> list[StudentOutcome]:
        """The students graded successfully."""
        return [o for o in self.outcomes if o.status == "graded"]

    @property
    def failed(self) -> list[StudentOutcome]:
        """The students whose grading failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def render(self) -> str:
        """Return the summary printed at the end of a run."""
        where = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        span = f" of {self.merged_shards} shards" if self.merged_shards else ""
        lines = [
            f"{self.assignment}{where}: graded {len(self.graded)}, failed {len(self.failed)}, "
            f"unchanged {len(self.unchanged)} in {_duration(self.seconds)}{span} "
            f"with {self.jobs} worker{'s' if self.jobs != 1 else ''}"
        ]
        if self.merged_shards:
            lines.append("  wall time from the first shard's start to the end of this merge")
        if not _kernels_isolated():
            from softsign_grader.sandbox import NOT_ISOLATED_WARNING

            lines.append(f"Warning: {NOT_ISOLATED_WARNING}")
        notebooks = sum(len(o.notebook_seconds) for o in self.outcomes)
        if self.outcomes and notebooks:
            busy = sum(o.seconds for o in self.outcomes)
            lines.append(
                f"  {busy / notebooks:.2f} s of worker time per notebook ({notebooks} notebooks)"
            )
        failed = sorted(self.failed, key=lambda o: o.student)
        if failed:
            lines.append("Failed:")
            width = max(len(o.student) for o in failed)
            lines.extend(f"  {o.student:<{width}}  {o.reason}" for o in failed)
        noted = sorted((o for o in self.outcomes if o.notes), key=lambda o: o.student)
        notes = [f"  {o.student}: {note}" for o in noted for note in o.notes]
        if notes:
            lines.append("Notes:")
            lines.extend(notes[:_MAX_NOTES])
            if len(notes) > _MAX_NOTES:
                more = f" (see {self.log_file})" if self.log_file else ""
                lines.append(f"  ... and {len(notes) - _MAX_NOTES} more{more}")
        if self.failed and self.log_file:
            lines.append(f"nbgrader's full log: {self.log_file}")
        if self.interrupted:
            lines.append(
                f"Interrupted: {len(self.interrupted)} submission(s) not graded yet; "
                "run the same command again to grade them."
            )
        return "\n".join(lines)


def _kernels_isolated() -> bool:
    """Whether the grading kernels run in the bubblewrap sandbox."""
    from softsign_grader.sandbox import SandboxedKernelManager, kernel_manager_class

    try:
        return kernel_manager_class() is SandboxedKernelManager
    except (
        RuntimeError,
        ValueError,
    ):  # SOFTSIGN_SANDBOX=require without bwrap, or a typo
        return False


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


# --------------------------------------------------------------------------- the run lock

#: Lock files this process holds; a forked worker closes its copies.
_held_locks: set[int] = set()


@contextlib.contextmanager
def run_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive :func:`fcntl.flock` on ``path`` (created, never deleted).

    The file then names this process (pid, host, start time, command). If another
    process holds the lock, :class:`GradingError` says which one and what it guards
    (``what``), at once. The operating system releases the lock when its process
    ends, however it ends, so a lock is never stale.
    """
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradingError(
                f"{what} is already running: {_lock_holder(path)}. Wait for it to end, or "
                f"stop that process; its lock ({path}) is released when it ends."
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        _held_locks.add(fd)
        try:
            yield
        finally:
            _held_locks.discard(fd)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _lock_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return (
            f"process {holder['pid']} on {holder['host']}, since {holder['since']} "
            f"({holder['command']})"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (which has not written its name yet)"


# --------------------------------------------------------------------------- the worker


@dataclass(frozen=True)
class _WorkerSettings:
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
class _Worker:
    settings: _WorkerSettings
    folder: Path
    db_url: str
    api: NbGraderAPI


#: The worker of this process (set by :func:`_start_worker` in each pool process).
_worker: _Worker | None = None


def _start_worker(settings: _WorkerSettings) -> None:
    """Pool initializer: load nbgrader and the course's configuration once per process."""
    global _worker
    for fd in list(_held_locks):  # the lock belongs to the process that took it
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()
    folder = Path(settings.run_dir) / f"worker-{os.getpid()}"
    folder.mkdir(parents=True)
    # nbgrader's log, and whatever else would print to the terminal, goes to a file.
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(folder / "nbgrader.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
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
    _worker = _Worker(settings, folder, f"sqlite:///{db_path}", api)
    (folder / "ready").touch()


def _grade_student(student: str) -> StudentOutcome:
    """Pool task: autograde one student with nbgrader; return what it decided."""
    from nbgrader.api import Gradebook

    worker = _worker
    if worker is None:
        raise RuntimeError("_grade_student runs in a worker started by _start_worker")
    settings = worker.settings
    staged = _staged_folder(worker, student)
    watchdog = None
    if settings.student_timeout is not None:
        watchdog = threading.Timer(settings.student_timeout, _stop_overdue, (worker, student))
        watchdog.daemon = True
        watchdog.start()
    started = time.perf_counter()
    collector = _StudentLog()
    try:
        submission = _stage(worker, student, staged)
        worker.api.log.addHandler(collector)
        try:
            result = worker.api.autograde(settings.assignment, student, force=True, create=True)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            collector.close_notebook()
            worker.api.log.removeHandler(collector)
        # nbgrader graded the staged copy: a notebook the reader left out was not submitted.
        with Gradebook(worker.db_url, settings.course_id) as gradebook:
            grades = _read_grades(gradebook, settings.assignment, student, staged)
    finally:
        if watchdog is not None:
            watchdog.cancel()
        _unstage(staged, _staged_root(worker))
    skipped = _skipped_notes(submission.skipped)
    outcome = StudentOutcome(
        student,
        "graded" if result["success"] else "failed",
        seconds=time.perf_counter() - started,
        notebook_seconds=collector.notebook_seconds,
        grades=grades,
    )
    if result["success"]:
        outcome.notes = [
            *skipped,
            *collector.notes,
            *collector.graded_with_errors(),
            *_missing(grades),
        ]
    else:
        if not collector.errors:
            lines = str(result.get("error", "")).strip().splitlines()
            collector.errors.append(lines[-1] if lines else "nbgrader failed")
        outcome.reason = collector.reason()
        outcome.notes = [*skipped, *collector.notes]
    return outcome


def _staged_root(worker: _Worker) -> Path:
    """The run's staging folder, as this worker's nbgrader sees it (``RUN/staged``)."""
    root = worker.api.coursedir.root
    return Path(os.path.normpath(os.path.join(root, worker.settings.staged_step)))


def _staged_folder(worker: _Worker, student: str) -> Path:
    """Where ``student``'s submission is staged: nbgrader's submitted folder in this worker."""
    coursedir = worker.api.coursedir
    staged = Path(
        os.path.normpath(
            coursedir.format_path(
                coursedir.submitted_directory, student, worker.settings.assignment
            )
        )
    )
    root = _staged_root(worker)
    if not _plain_name(student) or not staged.is_relative_to(root) or staged == root:
        raise GradingError(f"{student!r} is not a student id a folder can be named by")
    return staged


def _stage(worker: _Worker, student: str, staged: Path) -> Submission:
    """Copy ``student``'s submission into ``staged`` through the vetted reader; return it.

    Only the regular files the reader takes are copied (capped, never through a link);
    what it left out is listed beside the staged folder (``STAGED.skipped.json``, read by
    the feedback) and in nbgrader's log.
    """
    settings = worker.settings
    coursedir = worker.api.coursedir
    source = Path(coursedir.format_path(settings.submitted_step, student, settings.assignment))
    _unstage(staged, None)  # what a worker that died on this student left
    submission = copy_submission(source, staged, DEFAULT_LIMITS, list(coursedir.ignore))
    write_skipped_manifest(staged, submission.skipped)
    for item in submission.skipped[:_MAX_SKIPPED_NOTES]:
        worker.api.log.warning("Skipped %s of %s: %s", item.path, student, item.reason)
    if len(submission.skipped) > _MAX_SKIPPED_NOTES:
        more = len(submission.skipped) - _MAX_SKIPPED_NOTES
        worker.api.log.warning("... and %d more files of %s skipped", more, student)
    return submission


def _unstage(staged: Path, root: Path | None) -> None:
    """Remove a staged submission and its manifest, and its emptied folders below ``root``."""
    _remove_tree(staged)
    _remove_tree(staged.with_name(staged.name + MANIFEST_SUFFIX))
    if root is None:
        return
    for parent in staged.parents:
        if parent == root or not parent.is_relative_to(root):
            break
        try:
            parent.rmdir()
        except OSError:  # not empty: another student's staging
            break


def _skipped_notes(skipped: Sequence[Skipped]) -> list[str]:
    """One note per file the reader left out (``skipped PATH: REASON``), at most a few dozen."""
    notes = [f"skipped {item.path}: {item.reason}" for item in skipped[:_MAX_SKIPPED_NOTES]]
    if len(skipped) > _MAX_SKIPPED_NOTES:
        notes.append(f"... and {len(skipped) - _MAX_SKIPPED_NOTES} more files skipped")
    return notes


def _stop_overdue(worker: _Worker, student: str) -> None:
    """Watchdog: end this worker (its sandboxed kernels die with it); the pool restarts."""
    with contextlib.suppress(OSError):
        (worker.folder / "overdue").write_text(student)
    os._exit(_OVERDUE_EXIT)


def _read_grades(
    gradebook: Gradebook, assignment: str, student: str, submitted: Path
) -> dict[str, Any] | None:
    """Return what autograding wrote for one submission, as plain data.

    ``{"timestamp": ISO text or None, "notebooks": {name: {"submitted": bool,
    "max_score": float, "late_submission_penalty": float or None,
    "grades": {grade id: [auto_score, needs_manual_grade]},
    "comments": {grade id: auto_comment}}}}``, or None when there is no submission.
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
            "grades": {g.name: [g.auto_score, g.needs_manual_grade] for g in notebook.grades},
            "comments": {c.name: c.auto_comment for c in notebook.comments},
        }
        for notebook in submission.notebooks
    }
    timestamp = submission.timestamp.isoformat() if submission.timestamp else None
    return {"timestamp": timestamp, "notebooks": notebooks}


def _missing(grades: dict[str, Any] | None) -> list[str]:
    """Notes on the notebooks that have points but were not submitted (they score 0)."""
    if grades is None:
        return []
    return [
        f"No submitted file: {name}.ipynb (0 of {data['max_score']:g} points)"
        for name, data in sorted(grades["notebooks"].items())
        if not data["submitted"] and data["max_score"]
    ]


def _one_line(message: str, limit: int = 300) -> str:
    """First line of a log message, paths relative to the course, at most ``limit`` long."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = line.replace(str(Path.cwd()) + os.sep, "")  # a worker runs in the course folder
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _exception(traceback: str) -> str:
    """The last line of a traceback, the exception's module left out."""
    name, _, detail = traceback.strip().splitlines()[-1].strip().partition(": ")
    return f"{name.rsplit('.', 1)[-1]}: {detail}" if detail else name


class _StudentLog(logging.Handler):
    """Collect what nbgrader logs while it grades one student."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.notebook = ""
        self.notebook_started = 0.0
        self.notebook_seconds: dict[str, float] = {}

    def close_notebook(self) -> None:
        if self.notebook:
            self.notebook_seconds[self.notebook] = time.perf_counter() - self.notebook_started

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors.append(message)
        elif record.levelno >= logging.WARNING:
            if message.startswith("Skipping unknown notebook"):
                self.notes.append(_one_line(message))
        elif message.startswith("Sanitizing "):
            self.close_notebook()
            self.notebook = Path(message.split(" ", 1)[1]).name
            self.notebook_started = time.perf_counter()

    def graded_with_errors(self) -> list[str]:
        """Errors nbgrader logged without giving up on the student, as notes.

        A course plugin grading a broken notebook as unanswered is worth the
        instructor's eye; cells stopped by the cell timeout are summed up in one note.
        """
        quiet = ("Timeout waiting for execute reply", "Interrupting kernel")
        timeouts = sum(m.startswith(quiet[0]) for m in self.errors)
        notes = [_one_line(m) for m in self.errors if not m.startswith(quiet)]
        if timeouts:
            notes.append(f"{timeouts} cell(s) stopped by the cell timeout, scoring 0")
        return notes

    def reason(self) -> str:
        """Turn nbgrader's error log into one line: the notebook and the exception."""
        for message in self.errors:
            if message.startswith("Traceback"):
                # The exception that ended it, and the one it interrupted, if any.
                parts = re.split(r"\n\s*(?:During handling|The above exception).*\n", message)
                errors = [_exception(part) for part in parts[::-1]]
                short = errors[0] + (f" (after {errors[-1]})" if len(errors) > 1 else "")
                return _one_line(f"{self.notebook}: {short}" if self.notebook else short)
        for message in self.errors:
            if "unresponsive" in message:
                return f"{self.notebook}: the kernel stopped responding and could not be stopped"
        return _one_line(self.errors[0]) if self.errors else "nbgrader failed"


# --------------------------------------------------------------------------- the pool


def _pool_context() -> Any:
    """Fork where it is safe (Linux): the workers start with nbgrader already imported."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def _pool(settings: _WorkerSettings, jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        jobs, mp_context=_pool_context(), initializer=_start_worker, initargs=(settings,)
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
    from tqdm import tqdm

    if not students:
        return []
    run_dir.mkdir(parents=True, exist_ok=True)
    template = run_dir / "gradebook.db"
    _snapshot(course.db_path, template)
    outcomes: list[StudentOutcome] = []
    with _temporary_folder(run_dir) as temp_dir:
        settings = _WorkerSettings(
            course_root=str(course.root),
            course_id=course.course_id,
            assignment=assignment,
            nbgrader_args=tuple(nbgrader_args),
            run_dir=os.path.abspath(run_dir),  # the workers change folder
            template_db=os.path.abspath(template),
            autograded_step=_scratch_step(course, run_dir),
            submitted_step=course.submitted_directory,
            staged_step=_scratch_step(course, run_dir, _STAGED),
            temp_dir=str(temp_dir),
            student_timeout=student_timeout,
        )
        tqdm.monitor_interval = 0  # no monitor thread: the pool forks from this process
        bar = tqdm(
            total=len(students),
            desc=f"grading {assignment}",
            unit="student",
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )

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
            _remove_tree(run_dir / _STAGED)  # what workers that died left of a submission
    return outcomes


def _run_pool(
    settings: _WorkerSettings,
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
                running[pool.submit(_grade_student, student)] = student
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
    settings: _WorkerSettings,
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


def _scratch_step(course: Course, run_dir: Path, name: str = "autograded") -> str:
    """A step of a run's workers inside ``run_dir``, as nbgrader takes it (relative to the root).

    ``"autograded"``: their notebooks go to ``run_dir/autograded``; :data:`_STAGED`: the
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


# --------------------------------------------------------------------------- merging


class _Merge:
    """Write outcomes into the course: gradebook fields autograding owns, notebooks, record.

    One gradebook session for all students; one commit per student.
    """

    def __init__(self, course: Course, assignment: str, work_dir: Path) -> None:
        self.course = course
        self.assignment = assignment
        self.record_path = work_dir / assignment / "graded.json"
        self.record = _read_record(self.record_path)
        self._gradebook: Gradebook | None = None

    def add(self, outcome: StudentOutcome, run_dir: Path) -> None:
        """Merge one student's outcome, graded into ``run_dir``.

        A merge that fails (a locked or unwritable gradebook, an unwritable
        ``autograded/`` folder, an outcome whose student id is not a plain name) fails
        that student alone: ``outcome`` becomes ``failed`` with the reason, its
        gradebook changes are rolled back, and its submission is not recorded as
        graded, so the next run grades it again.
        """
        self.record.pop(outcome.student, None)
        if not _plain_name(outcome.student):
            outcome.status, outcome.grades = "failed", None
            outcome.reason = f"{outcome.student!r} is not a student id a folder can be named by"
            return
        if outcome.grades is None:  # nbgrader never got to it: the course keeps what it has
            return
        try:
            _merge_grades(self.gradebook(), self.assignment, outcome.student, outcome.grades)
            graded = self.course.path(
                _scratch_step(self.course, run_dir), outcome.student, self.assignment
            )
            if graded.is_dir():  # nothing to move (merged before): keep what the course has
                dest = self.course.path(
                    self.course.autograded_directory, outcome.student, self.assignment
                )
                _remove_tree(dest)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(graded), str(dest))
        except Exception as error:  # one student's merge must not stop the rest
            with contextlib.suppress(Exception):
                self.gradebook().db.rollback()
            outcome.status = "failed"
            outcome.reason = f"its results could not be merged: {type(error).__name__}: {error}"
            return
        if outcome.status == "graded" and outcome.fingerprint:
            self.record[outcome.student] = outcome.fingerprint

    def gradebook(self) -> Gradebook:
        if self._gradebook is None:
            from nbgrader.api import Gradebook

            self._gradebook = Gradebook(self.course.db_url, self.course.course_id)
        return self._gradebook

    def close(self) -> None:
        """Close the gradebook and write the fingerprints of the graded submissions."""
        if self._gradebook is not None:
            self._gradebook.close()
            self._gradebook = None
        _write_json(
            self.record_path,
            {
                "version": _RECORD_VERSION,
                "assignment": self.assignment,
                "fingerprints": self.record,
            },
        )


def _merge_grades(
    gradebook: Gradebook, assignment: str, student: str, grades: dict[str, Any]
) -> None:
    """Write what autograding decided for one student into ``gradebook``, and nothing else.

    Manual scores, manual comments, extra credit, flags and extensions are left as they
    are. As ``nbgrader autograde`` does, a grade cell of a submitted notebook that has a
    manual score is marked as needing a manual grade (its grader should look again).
    """
    from nbgrader.api import MissingEntry
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless.
        warnings.simplefilter("ignore", SAWarning)
        try:
            gradebook.find_student(student)
        except MissingEntry:
            gradebook.add_student(student)
        timestamp = {"timestamp": grades["timestamp"]} if grades["timestamp"] else {}
        submission = gradebook.update_or_create_submission(assignment, student, **timestamp)
        for notebook in submission.notebooks:
            theirs = grades["notebooks"].get(notebook.name)
            if theirs is None:
                continue
            notebook.late_submission_penalty = theirs["late_submission_penalty"]
            for grade in notebook.grades:
                if grade.name in theirs["grades"]:
                    auto_score, needs_manual_grade = theirs["grades"][grade.name]
                    grade.auto_score = auto_score
                    grade.needs_manual_grade = bool(needs_manual_grade) or (
                        theirs["submitted"] and grade.manual_score is not None
                    )
            for comment in notebook.comments:
                if comment.name in theirs["comments"]:
                    comment.auto_comment = theirs["comments"][comment.name]
        gradebook.db.commit()


def _read_record(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("version") != _RECORD_VERSION:
        return {}
    return dict(data.get("fingerprints", {}))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True))
    partial.replace(path)


def _plain_name(student: str) -> bool:
    """Whether ``student`` names one folder: not empty, no path separator, not ``.``/``..``."""
    return (
        bool(student) and student not in {".", ".."} and "/" not in student and "\0" not in student
    )


def _remove_tree(path: Path) -> None:
    from nbgrader.utils import rmtree

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        rmtree(str(path))


def _submissions_in_gradebook(course: Course, assignment: str) -> set[str]:
    """The students with a submission of ``assignment`` in the course gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        return {s.student_id for s in gradebook.assignment_submissions(assignment)}


def _collect_logs(run_dir: Path, dest: Path) -> Path | None:
    """Concatenate the workers' nbgrader logs into one file."""
    logs = sorted(run_dir.glob("worker-*/nbgrader.log"))
    if not logs:
        return None
    with open(dest, "w") as out:
        for log in logs:
            out.write(f"===== {log.parent.name} =====\n")
            out.write(log.read_text(errors="replace"))
    return dest


# --------------------------------------------------------------------------- grade and merge


def _shard_name(shard: tuple[int, int]) -> str:
    return f"{shard[0]}-of-{shard[1]}"


def _run_folder(
    course: Course, assignment: str, work_dir: Path, shard: tuple[int, int] | None
) -> tuple[Path, contextlib.AbstractContextManager[None]]:
    """A run's folder, and its lock: the course's, or the shard's (shards run side by side)."""
    if shard:
        run_dir = work_dir / assignment / "shards" / _shard_name(shard)
        return run_dir, run_lock(run_dir.with_suffix(".lock"), f"shard {shard[0]}/{shard[1]}")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = work_dir / assignment / f"run-{stamp}-{os.getpid()}"
    return run_dir, run_lock(course.lock_path(), "a grading run of this course")


def _due_students(
    course: Course,
    assignment: str,
    salt: str,
    work_dir: Path,
    force: bool,
    student: str | None,
    shard: tuple[int, int] | None,
) -> tuple[dict[str, str], list[str]]:
    """Return the fingerprint of every selected submission, and the students due for grading.

    ``salt`` is the assignment's (:func:`_assignment_salt`); the ``SOFTSIGN_*`` settings
    are added to it here.
    """
    salt = f"{salt}\n{_environment_salt()}"
    students = course.submitted_students(assignment)
    if student:
        students = [s for s in students if fnmatch.fnmatchcase(s, student)]
    if shard:
        students = shard_students(students, *shard)
    fingerprints = {
        s: submission_fingerprint(
            course.path(course.submitted_directory, s, assignment), course.ignore, salt
        )
        for s in students
    }
    known = _submissions_in_gradebook(course, assignment)
    record = {} if force else _read_record(work_dir / assignment / "graded.json")
    due = [
        s
        for s in students
        if force
        or record.get(s) != fingerprints[s]
        or s not in known
        or not course.path(course.autograded_directory, s, assignment).is_dir()
    ]
    return fingerprints, due


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
    course = _open_course(course_root, assignment, nbgrader_args)
    work_dir = Path(work_dir) if work_dir else course.default_work_dir()
    run_dir, lock = _run_folder(course, assignment, work_dir, shard)
    with lock:
        salt = _assignment_salt(course, assignment, nbgrader_args)
        fingerprints, due = _due_students(course, assignment, salt, work_dir, force, student, shard)
        jobs = max(1, min(jobs or default_jobs(), len(due) or 1))
        _remove_tree(run_dir)
        run_dir.mkdir(parents=True)
        merging = None if shard else _Merge(course, assignment, work_dir)

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
        log_name = f"shard-{_shard_name(shard)}.log" if shard else "grading.log"
        log_file = _collect_logs(run_dir, work_dir / assignment / log_name)
        unchanged = [s for s in fingerprints if s not in set(due)]
        summary = RunSummary(assignment, outcomes, unchanged, 0.0, jobs, shard, log_file)
        summary.interrupted = sorted(set(due) - {o.student for o in outcomes})
        if shard and not summary.interrupted:  # the merge must not take a half-graded shard
            manifest = {"salt": salt, "environment": _environment_salt(), "started": began}
            _write_json(run_dir / _MANIFEST, {**manifest, **asdict(summary), "log_file": None})
        if not shard and not keep_work:
            _remove_tree(run_dir)
    summary.seconds = time.monotonic() - started
    return summary


def _finished_shards(
    work_dir: Path, assignment: str, shards: int | None
) -> dict[tuple[int, int], tuple[Path, dict[str, Any]]]:
    finished: dict[tuple[int, int], tuple[Path, dict[str, Any]]] = {}
    for manifest in sorted((work_dir / assignment / "shards").glob(f"*/{_MANIFEST}")):
        data = json.loads(manifest.read_text())
        if data.get("assignment") == assignment:
            finished[(data["shard"][0], data["shard"][1])] = (manifest.parent, data)
    if shards is not None:
        missing = [i for i in range(1, shards + 1) if (i, shards) not in finished]
        if missing:
            names = ", ".join(f"{i}/{shards}" for i in missing)
            raise GradingError(f"shard(s) {names} have not finished; nothing was merged")
        finished = {key: value for key, value in finished.items() if key[1] == shards}
    if not finished:
        raise GradingError(f"no finished shards of {assignment!r} in {work_dir}")
    return finished


def merge(
    course_root: Path,
    assignment: str,
    *,
    shards: int | None = None,
    work_dir: Path | None = None,
    nbgrader_args: Sequence[str] = (),
    keep_work: bool = False,
) -> RunSummary:
    """Merge the results of ``grade(..., shard=(i, n))`` runs into the course gradebook.

    With ``shards`` (the n of ``i/n``), all n must have finished, or nothing is merged;
    without, every finished shard found is merged. ``work_dir`` and ``nbgrader_args``
    must be those the shards were graded with; ``keep_work`` keeps their folders. The
    summary's ``seconds`` is the wall time from the first shard's start to the end of
    the merge.
    """
    course = _open_course(course_root, assignment, nbgrader_args)
    work_dir = Path(work_dir) if work_dir else course.default_work_dir()
    with contextlib.ExitStack() as locks:
        locks.enter_context(run_lock(course.lock_path(), "a grading run of this course"))
        finished = _finished_shards(work_dir, assignment, shards)
        for (index, count), (run_dir, _) in sorted(finished.items()):
            locks.enter_context(run_lock(run_dir.with_suffix(".lock"), f"shard {index}/{count}"))
        salt = _assignment_salt(course, assignment, nbgrader_args)
        environments = {data.get("environment") for _, data in finished.values()}
        for (index, count), (_, data) in sorted(finished.items()):
            if data.get("salt") != salt or len(environments) > 1:
                raise GradingError(
                    f"shard {index}/{count} was graded against another version of the "
                    "assignment, of nbgrader_config.py, of the grading code or of the "
                    "SOFTSIGN_* settings; grade it again. Nothing was merged."
                )
        outcomes: list[StudentOutcome] = []
        unchanged: list[str] = []
        merging = _Merge(course, assignment, work_dir)
        try:
            for run_dir, data in (finished[key] for key in sorted(finished)):
                for item in data["outcomes"]:
                    outcome = StudentOutcome(**item)
                    merging.add(outcome, run_dir)
                    outcomes.append(outcome)
                unchanged.extend(data["unchanged"])
        finally:
            merging.close()
        if not keep_work:
            for run_dir, _ in finished.values():
                _remove_tree(run_dir)
    began = min(data["started"] for _, data in finished.values())
    jobs = sum(data["jobs"] for _, data in finished.values())
    summary = RunSummary(assignment, outcomes, sorted(unchanged), time.time() - began, jobs)
    summary.merged_shards = len(finished)
    return summary


# --------------------------------------------------------------------------- command line


def _shard_argument(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="the nbgrader assignment id")
    parser.add_argument(
        "--course-root",
        type=Path,
        default=None,
        help="the course folder, holding nbgrader_config.py (default: the current folder)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help=f"run, shard and fingerprint folder (default: autograded/{WORK_FOLDER})",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the workers' gradebooks and logs"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


_EXIT_STATUS = (
    "Exit status: 0 all graded, 1 some students failed (listed under Failed:), 2 nothing "
    "could be graded (usage, configuration, or another run of the course in progress), "
    "130 interrupted."
)


def _grade_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="softsign-grade",
        description=(
            "Autograde every new or changed submission of an assignment with N parallel "
            "nbgrader workers and merge the results into the course gradebook. "
            "`softsign-grade merge ASSIGNMENT --shards N` merges the results of --shard runs; "
            "`softsign-grade report ASSIGNMENT` writes the class report (reports/ASSIGNMENT.html)."
        ),
        epilog=(
            "Options of the form --Class.trait=value (e.g. --Execute.timeout=30) are passed "
            f"to nbgrader. {_EXIT_STATUS}"
        ),
    )
    _common_options(parser)
    parser.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        default=None,
        help="worker processes (default: cores)",
    )
    parser.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="grade every submission, changed or not",
    )
    parser.add_argument(
        "--shard",
        type=_shard_argument,
        default=None,
        metavar="I/N",
        help="grade only slice I of N of the class (sorted by student id) and leave the "
        "result for `softsign-grade merge`",
    )
    parser.add_argument(
        "--student", default=None, help="grade only students whose id matches this glob"
    )
    parser.add_argument(
        "--student-timeout",
        type=float,
        default=1800.0,
        help="seconds after which one student's grading is stopped and failed (default 1800)",
    )
    return parser


def _merge_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="softsign-grade merge",
        description="Merge the results of `softsign-grade ASSIGNMENT --shard I/N` runs "
        "into the course gradebook.",
        epilog=_EXIT_STATUS,
    )
    _common_options(parser)
    parser.add_argument(
        "--shards",
        type=_positive_int,
        default=None,
        metavar="N",
        help="require all N shards to have finished before merging anything",
    )
    return parser


def _split_nbgrader_options(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[argparse.Namespace, list[str]]:
    args, extra = parser.parse_known_args(argv)
    unknown = [option for option in extra if not _NBGRADER_OPTION.fullmatch(option)]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args, extra


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``softsign-grade`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every submission was graded, 1 when some failed, 2 when nothing could be,
        130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        from softsign_grader.report import main as report_main

        return report_main(argv[1:])
    merging = argv[:1] == ["merge"]
    parser = _merge_parser() if merging else _grade_parser()
    args, nbgrader_args = _split_nbgrader_options(parser, argv[1:] if merging else argv)
    course_root = (args.course_root or Path.cwd()).resolve()
    try:
        if merging:
            summary = merge(
                course_root,
                args.assignment,
                shards=args.shards,
                work_dir=args.work_dir,
                nbgrader_args=nbgrader_args,
                keep_work=args.keep_work,
            )
        else:
            summary = grade(
                course_root,
                args.assignment,
                jobs=args.jobs,
                force=args.force,
                shard=args.shard,
                student=args.student,
                work_dir=args.work_dir,
                nbgrader_args=nbgrader_args,
                student_timeout=args.student_timeout,
                progress=not args.no_progress,
                keep_work=args.keep_work,
            )
    except GradingError as error:
        print(f"softsign-grade: {error}", file=sys.stderr)
        return 2
    if summary.log_file and summary.log_file.is_relative_to(Path.cwd()):
        summary.log_file = summary.log_file.relative_to(Path.cwd())
    print(summary.render())
    if summary.interrupted:
        return 130
    if not merging and args.shard:
        print(
            f"Shard {args.shard[0]}/{args.shard[1]} is ready; when all {args.shard[1]} are, run "
            f"`softsign-grade merge {args.assignment} --shards {args.shard[1]}`."
        )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
