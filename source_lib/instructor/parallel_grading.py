"""Autograde a whole class in parallel with real nbgrader, then merge into one gradebook.

``nbgrader autograde`` grades one student after another. This module runs the
same nbgrader on N worker processes at once and merges their results into the
course gradebook, so that ``nbgrader export``, ``nbgrader generate_feedback``
and formgrader see what a serial ``nbgrader autograde --force`` would have
left behind: the same students, submissions, timestamps, scores and comments
in ``gradebook.db``, and the same notebooks in ``autograded/``.

How it works
------------
Each worker is one long-lived Python process that loads nbgrader's
``AutogradeApp`` with the course's own configuration, once, and then grades
student after student with nbgrader's ``Autograde`` converter, so nbgrader's
start-up cost is paid once per worker rather than once per student. Each
worker has its own scratch course folder under the work folder: a copy of
``nbgrader_config.py``, a consistent copy of the course gradebook (which
already knows the assignment, its notebooks and its grade cells) and a
``submitted/`` folder holding links to the submissions of the students it
has been handed. Students are handed out one at a time to whichever worker
is free, so one slow submission (a cell that runs into the timeout) does not
hold up a whole shard.

When the workers are done, every graded (or failed) student's submission is
copied from the worker's gradebook into the course gradebook with
:class:`nbgrader.api.Gradebook`, and the worker's ``autograded/`` folder for
that student replaces the course's. A student whose grading fails (a notebook
that is not JSON, a dead kernel, a worker that had to be killed) fails alone:
the summary names the student and the reason, and the rest of the class is
graded normally.

Re-running grades only new or changed submissions. After a merge the
fingerprint of each graded submission (a SHA-256 hash of its files, of the
assignment's source cells as recorded in the gradebook, and of
``nbgrader_config.py``) is recorded beside ``autograded/``; an unchanged
submission is skipped unless ``--force`` is given.

Cluster use
-----------
``--shard i/n`` grades only the i-th of n slices of the class (students
sorted by id, every n-th one), so n machines of a Slurm array or an indexed
Kubernetes Job can grade one slice each on a shared file system. Each shard
leaves its gradebooks in the work folder; ``softsign-grade merge ASSIGNMENT
--shards n`` then merges them all into the course gradebook.

Examples
--------
From the course folder (the one with ``nbgrader_config.py``)::

    softsign-grade softsign --jobs 4
    softsign-grade softsign --force --student "a*"
    softsign-grade softsign --shard 2/8 --jobs 16     # on machine 2 of 8
    softsign-grade merge softsign --shards 8         # once all 8 are done
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import fnmatch
import glob
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GRADING_ENVIRONMENT",
    "WORKER_OPTIONS",
    "CourseLayout",
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

_RECORD_VERSION = 1
#: The summary lists at most this many notes; nbgrader's log has them all.
_MAX_NOTES = 20
_MANIFEST = "manifest.json"
#: Started as ``python -c``: finds this package even when it is not installed, without
#: putting the repository on the path of the students' kernels.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
_WORKER_BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {_PACKAGE_PARENT!r}); "
    "from source_lib.instructor.parallel_grading import main; sys.exit(main(sys.argv[1:]))"
)
#: Course folders the worker sets itself; nbgrader refuses a trait given twice.
_WORKSPACE_TRAITS = tuple(
    f"--CourseDirectory.{trait}="
    for trait in (
        "root",
        "db_url",
        "submitted_directory",
        "autograded_directory",
        "student_id_exclude",
        "source_directory",
        "release_directory",
    )
)
_NBGRADER_OPTION = re.compile(r"--[A-Za-z_]\w*\.[A-Za-z_][\w.]*=.*")


class GradingError(RuntimeError):
    """The class cannot be graded at all (no gradebook, unknown assignment, missing shards)."""


# --------------------------------------------------------------------------- course layout


@dataclass(frozen=True)
class CourseLayout:
    """Where an nbgrader course keeps its files, as its configuration says.

    Attributes
    ----------
    root : pathlib.Path
        The course folder (nbgrader's ``CourseDirectory.root``).
    db_path : pathlib.Path
        The SQLite gradebook.
    course_id : str
        nbgrader's ``CourseDirectory.course_id``.
    directory_structure : str
        nbgrader's ``CourseDirectory.directory_structure``.
    submitted_directory, autograded_directory, source_directory, release_directory : str
        nbgrader's folder names for each step.
    ignore : tuple of str
        Glob patterns of files nbgrader ignores in a submission.
    student_id_exclude : tuple of str
        Students nbgrader is configured to skip.
    """

    root: Path
    db_path: Path
    course_id: str
    directory_structure: str
    submitted_directory: str
    autograded_directory: str
    source_directory: str
    release_directory: str
    ignore: tuple[str, ...]
    student_id_exclude: tuple[str, ...]

    @property
    def db_url(self) -> str:
        """The gradebook's SQLAlchemy URL."""
        return f"sqlite:///{self.db_path}"

    @property
    def config_file(self) -> Path:
        """The course's ``nbgrader_config.py``."""
        return self.root / "nbgrader_config.py"

    def path(self, step: str, student_id: str, assignment_id: str) -> Path:
        """Return the folder of one step, student and assignment (nbgrader's ``format_path``)."""
        relative = self.directory_structure.format(
            nbgrader_step=step, student_id=student_id, assignment_id=assignment_id
        )
        return Path(os.path.normpath(self.root / relative))

    def default_work_dir(self) -> Path:
        """Return the default work folder: a hidden folder inside ``autograded/``."""
        return self.root / self.autograded_directory / WORK_FOLDER

    def submitted_students(self, assignment_id: str) -> list[str]:
        """Return the sorted ids of the students with a submission folder for the assignment."""
        pattern = str(self.path(self.submitted_directory, "*", assignment_id))
        regexp = re.escape(pattern).replace(r"\*", "(?P<student_id>[^/\\\\]+)", 1)
        students = set()
        for folder in glob.glob(pattern):  # as nbgrader globs: hidden folders are no students
            match = re.fullmatch(regexp, folder)
            if match and os.path.isdir(folder):
                students.add(match.group("student_id"))
        return sorted(student for student in students if student not in self.student_id_exclude)


def _sqlite_path(db_url: str, root: Path) -> Path:
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise GradingError(
            f"parallel grading needs an SQLite gradebook; this course uses {db_url!r}. "
            "Run plain `nbgrader autograde` instead."
        )
    path = Path(db_url[len(prefix) :])
    return path if path.is_absolute() else root / path


def load_course(root: Path, nbgrader_args: Sequence[str] = ()) -> CourseLayout:
    """Read a course's nbgrader configuration the way ``nbgrader autograde`` reads it.

    Parameters
    ----------
    root : pathlib.Path
        The course folder, holding ``nbgrader_config.py``.
    nbgrader_args : sequence of str
        Extra ``--Class.trait=value`` options, as given on nbgrader's command line.

    Returns
    -------
    CourseLayout
        Where the course keeps its gradebook and its submissions.
    """
    from nbgrader.apps.autogradeapp import AutogradeApp

    root = Path(root).resolve()
    app = AutogradeApp()
    previous = Path.cwd()
    os.chdir(root)
    try:
        # Quiet: the workers log nbgrader's configuration warnings once each.
        app.initialize(["--log-level=ERROR", f"--CourseDirectory.root={root}", *nbgrader_args])
    finally:
        os.chdir(previous)
    coursedir = app.coursedir
    excluded = tuple(s for s in coursedir.student_id_exclude.split(",") if s)
    return CourseLayout(
        root=root,
        db_path=_sqlite_path(coursedir.db_url, root),
        course_id=coursedir.course_id,
        directory_structure=coursedir.directory_structure,
        submitted_directory=coursedir.submitted_directory,
        autograded_directory=coursedir.autograded_directory,
        source_directory=coursedir.source_directory,
        release_directory=coursedir.release_directory,
        ignore=tuple(coursedir.ignore),
        student_id_exclude=excluded,
    )


# --------------------------------------------------------------------------- fingerprints


def _ignored(relative: Path, ignore: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in ignore)


def submission_fingerprint(folder: Path, ignore: Sequence[str] = (), salt: str = "") -> str:
    """Return a SHA-256 hex digest of every file in a submission folder.

    Parameters
    ----------
    folder : pathlib.Path
        A student's submission folder (``submitted/STUDENT/ASSIGNMENT``).
    ignore : sequence of str
        Glob patterns matched against each path component; matching files are left out
        (nbgrader's ``CourseDirectory.ignore``).
    salt : str
        Text hashed first: whatever else decides the grade (see :func:`grade`).

    Returns
    -------
    str
        The digest; it changes when any file is added, removed, renamed or edited.
    """
    digest = hashlib.sha256(salt.encode())
    files = sorted(
        path
        for path in Path(folder).rglob("*")
        if path.is_file() and not _ignored(path.relative_to(folder), ignore)
    )
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _assignment_salt(course: CourseLayout, assignment: str, nbgrader_args: Sequence[str]) -> str:
    """Describe what, besides the submission, decides the grades: tests, points, config, graders."""
    from nbgrader.api import Gradebook, MissingEntry

    from source_lib.grading.judge import grader_fingerprint

    parts = [*nbgrader_args, f"graders:{grader_fingerprint()}"]
    if course.config_file.exists():
        parts.append(hashlib.sha256(course.config_file.read_bytes()).hexdigest())
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
    return "\n".join(parts)


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

    Attributes
    ----------
    student : str
        The student id.
    status : str
        ``"graded"`` or ``"failed"``.
    reason : str
        Why grading failed (empty when graded).
    notes : list of str
        nbgrader's warnings worth an instructor's eye (a missing notebook scored 0).
    seconds : float
        Wall time spent grading the student.
    notebook_seconds : dict
        Wall time per notebook (sanitising, executing, saving the grades).
    workspace : str
        The worker folder that holds the result, relative to the run folder.
    fingerprint : str
        :func:`submission_fingerprint` of the graded submission.
    """

    student: str
    status: str
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notebook_seconds: dict[str, float] = field(default_factory=dict)
    workspace: str = ""
    fingerprint: str = ""


@dataclass
class RunSummary:
    """Totals of one grading run or merge, and what :func:`main` prints."""

    assignment: str
    outcomes: list[StudentOutcome]
    unchanged: list[str]
    seconds: float
    jobs: int
    shard: tuple[int, int] | None = None
    log_file: Path | None = None
    interrupted: list[str] = field(default_factory=list)

    @property
    def graded(self) -> list[StudentOutcome]:
        """The students graded successfully."""
        return [o for o in self.outcomes if o.status == "graded"]

    @property
    def failed(self) -> list[StudentOutcome]:
        """The students whose grading failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def notebook_count(self) -> int:
        """Number of notebooks graded (those of failed students included)."""
        return sum(len(o.notebook_seconds) for o in self.outcomes)

    def render(self) -> str:
        """Return the summary printed at the end of a run."""
        where = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        lines = [
            f"{self.assignment}{where}: graded {len(self.graded)}, failed {len(self.failed)}, "
            f"unchanged {len(self.unchanged)} in {_duration(self.seconds)} "
            f"with {self.jobs} worker{'s' if self.jobs != 1 else ''}"
        ]
        if not _kernels_isolated():
            from source_lib.grading.sandbox import NOT_ISOLATED_WARNING

            lines.append(f"Warning: {NOT_ISOLATED_WARNING}")
        busy = sum(o.seconds for o in self.outcomes)
        notebooks = self.notebook_count()
        if self.outcomes:
            per_student = self.seconds / len(self.outcomes)
            line = f"  {per_student:.2f} s per student of wall time"
            if notebooks:
                line += (
                    f", {busy / notebooks:.2f} s of worker time per notebook"
                    f" ({notebooks} notebooks)"
                )
            lines.append(line)
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
                more = len(notes) - _MAX_NOTES
                where = f" (see {self.log_file})" if self.log_file else ""
                lines.append(f"  ... and {more} more{where}")
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
    from source_lib.grading.sandbox import SandboxedKernelManager, kernel_manager_class

    try:
        return kernel_manager_class() is SandboxedKernelManager
    except (RuntimeError, ValueError):  # SOFTSIGN_SANDBOX=require without bwrap, or a typo
        return False


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


# --------------------------------------------------------------------------- workspaces


def _copy_gradebook(source: Path, dest: Path) -> None:
    """Copy an SQLite gradebook consistently, even while another process reads it."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        contextlib.closing(sqlite3.connect(dest)) as dst,
    ):
        src.backup(dst)


def _prepare_workspace(course: CourseLayout, dest: Path) -> Path:
    """Create a scratch course folder for one worker: config and a copy of the gradebook."""
    dest.mkdir(parents=True)
    if course.config_file.exists():
        shutil.copy2(course.config_file, dest / "nbgrader_config.py")
    _copy_gradebook(course.db_path, dest / "gradebook.db")
    return dest


def _worker_options(nbgrader_args: Sequence[str]) -> list[str]:
    """The :data:`WORKER_OPTIONS` that the instructor's own options do not set."""
    given = {arg.split("=", 1)[0] for arg in nbgrader_args}
    return [option for option in WORKER_OPTIONS if option.split("=", 1)[0] not in given]


def _worker_environment() -> dict[str, str]:
    env = dict(os.environ)
    for name, value in GRADING_ENVIRONMENT.items():
        env.setdefault(name, value)
    # nbgrader runs the `alembic` executable when it creates a gradebook; make sure the one
    # beside this Python is found even when the virtual environment is not activated.
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    return env


@dataclass
class _Worker:
    slot: int
    workspace: Path
    process: subprocess.Popen[str]
    log_path: Path
    ready: bool = False
    student: str | None = None
    started: float = 0.0
    graded: list[str] = field(default_factory=list)


def _reader(worker: _Worker, inbox: queue.Queue[tuple[_Worker, dict[str, Any] | None]]) -> None:
    assert worker.process.stdout is not None
    for line in worker.process.stdout:
        line = line.strip()
        if line:
            try:
                inbox.put((worker, json.loads(line)))
            except json.JSONDecodeError:
                continue
    inbox.put((worker, None))


def _start_worker(
    slot: int,
    generation: int,
    course: CourseLayout,
    assignment: str,
    run_dir: Path,
    nbgrader_args: Sequence[str],
    inbox: queue.Queue[tuple[_Worker, dict[str, Any] | None]],
) -> _Worker:
    workspace = _prepare_workspace(course, run_dir / f"worker-{slot}-{generation}")
    log_path = workspace / "nbgrader.log"
    command = [
        sys.executable,
        "-c",
        _WORKER_BOOTSTRAP,
        "_worker",
        assignment,
        "--workspace",
        str(workspace),
        "--course-root",
        str(course.root),
        "--",
        *_worker_options(nbgrader_args),
        *(arg for arg in nbgrader_args if not arg.startswith(_WORKSPACE_TRAITS)),
        # The workspace holds no instructor or release notebooks: read the course's.
        f"--CourseDirectory.source_directory={course.root / course.source_directory}",
        f"--CourseDirectory.release_directory={course.root / course.release_directory}",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=workspace,
            env=_worker_environment(),
            text=True,
            bufsize=1,
            start_new_session=os.name == "posix",
        )
    worker = _Worker(slot, workspace, process, log_path)
    threading.Thread(target=_reader, args=(worker, inbox), daemon=True).start()
    return worker


def _stop(worker: _Worker) -> None:
    """Kill a worker and everything in its process group."""
    process = worker.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def grade_students(
    course: CourseLayout,
    assignment: str,
    students: Sequence[str],
    run_dir: Path,
    *,
    jobs: int,
    nbgrader_args: Sequence[str] = (),
    student_timeout: float | None = 1800.0,
    progress: bool = True,
    fingerprints: dict[str, str] | None = None,
) -> list[StudentOutcome]:
    """Autograde ``students`` with ``jobs`` nbgrader worker processes, results in ``run_dir``.

    Nothing is written to the course itself: each worker grades into its own scratch
    course folder in ``run_dir``; :func:`merge` brings the results into the course.

    Parameters
    ----------
    course : CourseLayout
        The course, whose gradebook must already hold the assignment.
    assignment : str
        The nbgrader assignment id.
    students : sequence of str
        The students to grade.
    run_dir : pathlib.Path
        A folder that does not exist yet; it receives one scratch course per worker.
    jobs : int
        The number of worker processes.
    nbgrader_args : sequence of str
        Extra ``--Class.trait=value`` options for nbgrader.
    student_timeout : float or None
        A worker busy with one student longer than this is killed (with its kernels) and
        the student fails; a fresh worker takes its place.
    progress : bool
        Show a progress bar with an ETA on standard error.
    fingerprints : dict, optional
        Fingerprint of each student's submission, stored in the outcome.

    Returns
    -------
    list of StudentOutcome
        One per student, in the order they finished. After Ctrl-C, the workers are
        stopped and only the students finished so far are returned.
    """
    from tqdm import tqdm

    run_dir.mkdir(parents=True)
    pending = list(students)
    pending.reverse()  # pop() from the end hands out students in sorted order
    inbox: queue.Queue[tuple[_Worker, dict[str, Any] | None]] = queue.Queue()
    workers: dict[int, _Worker] = {}
    generations = dict.fromkeys(range(1, min(jobs, len(students)) + 1), 0)
    outcomes: list[StudentOutcome] = []
    fingerprints = fingerprints or {}

    def spawn(slot: int) -> None:
        generations[slot] += 1
        workers[slot] = _start_worker(
            slot, generations[slot], course, assignment, run_dir, nbgrader_args, inbox
        )

    def hand_out(worker: _Worker) -> None:
        if not pending:
            assert worker.process.stdin is not None
            worker.process.stdin.close()
            return
        student = pending.pop()
        request = {
            "student": student,
            "source": str(course.path(course.submitted_directory, student, assignment)),
        }
        assert worker.process.stdin is not None
        try:
            worker.process.stdin.write(json.dumps(request) + "\n")
            worker.process.stdin.flush()
        except OSError:  # the worker just died; its exit hands the student to another
            pending.append(student)
            return
        worker.student, worker.started = student, time.monotonic()

    def record(worker: _Worker, outcome: StudentOutcome) -> None:
        outcome.workspace = worker.workspace.name
        outcome.fingerprint = fingerprints.get(outcome.student, "")
        outcomes.append(outcome)
        worker.student = None
        bar.update(1)
        if outcome.status == "failed":
            if progress:
                bar.write(f"failed: {outcome.student}: {outcome.reason}", file=sys.stderr)
            bar.set_postfix_str(f"failed={sum(o.status == 'failed' for o in outcomes)}")

    bar = tqdm(
        total=len(students),
        desc=f"grading {assignment}",
        unit="student",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        for slot in generations:
            spawn(slot)
        while workers:
            try:
                worker, message = inbox.get(timeout=1.0)
            except queue.Empty:
                worker, message = None, None
            if worker is not None and workers.get(worker.slot) is not worker:
                continue  # a message from a worker that was already replaced
            if worker is not None and message is None:  # the worker exited
                code = worker.process.wait()
                del workers[worker.slot]
                if not worker.ready:
                    raise GradingError(
                        f"an nbgrader worker could not start (exit code {code}):\n"
                        + _tail(worker.log_path)
                    )
                if worker.student is not None:
                    record(
                        worker,
                        StudentOutcome(
                            worker.student,
                            "failed",
                            f"the grading process died (exit code {code}); see "
                            f"{worker.log_path.name}",
                            seconds=time.monotonic() - worker.started,
                        ),
                    )
                if pending:
                    spawn(worker.slot)
                continue
            if worker is not None and message is not None:
                if message.get("ready"):
                    worker.ready = True
                    hand_out(worker)
                    continue
                outcome = StudentOutcome(
                    student=message["student"],
                    status=message["status"],
                    reason=message.get("reason", ""),
                    notes=message.get("notes", []),
                    seconds=message.get("seconds", 0.0),
                    notebook_seconds=message.get("notebook_seconds", {}),
                )
                worker.graded.append(outcome.student)
                record(worker, outcome)
                hand_out(worker)
            if student_timeout is not None:
                now = time.monotonic()
                for busy in list(workers.values()):
                    if busy.student is not None and now - busy.started > student_timeout:
                        student = busy.student
                        _stop(busy)
                        del workers[busy.slot]
                        record(
                            busy,
                            StudentOutcome(
                                student,
                                "failed",
                                f"grading took longer than {student_timeout:g} s and was stopped",
                                seconds=now - busy.started,
                            ),
                        )
                        if pending:
                            spawn(busy.slot)
    except KeyboardInterrupt:
        pass  # keep what is finished: the caller merges it; the rest stays due
    finally:
        bar.close()
        for worker in list(workers.values()):
            _stop(worker)
    return outcomes


# --------------------------------------------------------------------------- the worker


def _one_line(message: str, limit: int = 300) -> str:
    """First line of a log message, paths relative to the workspace, at most ``limit`` long."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = line.replace(str(Path.cwd()) + os.sep, "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _StudentLog(logging.Handler):
    """Collect what nbgrader logs while it grades one student."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.notebook: str = ""
        self.notebook_started: float = 0.0
        self.notebook_seconds: dict[str, float] = {}

    def close_notebook(self) -> None:
        if self.notebook:
            elapsed = time.perf_counter() - self.notebook_started
            self.notebook_seconds[self.notebook] = elapsed

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors.append(message)
        elif record.levelno >= logging.WARNING:
            if message.startswith(("No submitted file", "Skipping unknown notebook")):
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
        timeouts = sum(m.startswith("Timeout waiting for execute reply") for m in self.errors)
        notes = [
            _one_line(message)
            for message in self.errors
            if not message.startswith(("Timeout waiting for execute reply", "Interrupting kernel"))
        ]
        if timeouts:
            notes.append(f"{timeouts} cell(s) stopped by the cell timeout, scoring 0")
        return notes

    def reason(self) -> str:
        """Turn nbgrader's error log into one line: the notebook and the exception."""
        for message in self.errors:
            if message.startswith("Traceback"):
                last = message.strip().splitlines()[-1].strip()
                name, _, detail = last.partition(": ")
                short = f"{name.rsplit('.', 1)[-1]}: {detail}" if detail else name
                return _one_line(f"{self.notebook}: {short}" if self.notebook else short)
        for message in self.errors:
            if "unresponsive" in message:
                return f"{self.notebook}: the kernel stopped responding and could not be stopped"
        return _one_line(self.errors[0]) if self.errors else "nbgrader failed"


def _link(source: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        return
    try:
        link.symlink_to(source, target_is_directory=True)
    except OSError:  # no symlinks (some Windows set-ups): copy instead
        shutil.copytree(source, link)


def _worker_main(
    assignment: str, workspace: Path, course_root: Path, nbgrader_args: list[str]
) -> int:
    """Grade the students named on standard input, one JSON line each, in ``workspace``."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to the log

    from nbgrader.apps.autogradeapp import AutogradeApp
    from nbgrader.converters import Autograde

    os.chdir(workspace)
    sys.path.insert(0, str(course_root))  # modules the course's config may import
    app = AutogradeApp()
    app.initialize(
        [
            assignment,
            "--force",
            *nbgrader_args,
            f"--CourseDirectory.root={workspace}",
            f"--CourseDirectory.db_url=sqlite:///{workspace / 'gradebook.db'}",
            "--CourseDirectory.submitted_directory=submitted",
            "--CourseDirectory.autograded_directory=autograded",
            "--CourseDirectory.student_id_exclude=",
        ]
    )
    coursedir = app.coursedir
    coursedir.assignment_id = assignment
    protocol.write(json.dumps({"ready": True}) + "\n")

    for line in iter(sys.stdin.readline, ""):
        request = json.loads(line)
        student = request["student"]
        link = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
        _link(Path(request["source"]), link)
        coursedir.student_id = student
        converter = Autograde(coursedir=coursedir, parent=app)
        collector = _StudentLog()
        converter.log.addHandler(collector)
        started = time.perf_counter()
        try:
            converter.start()
            status = "graded"
            collector.notes.extend(collector.graded_with_errors())
        except Exception as error:  # nbgrader raises NbGraderException after logging why
            status = "failed"
            if not collector.errors:
                collector.errors.append(f"{type(error).__name__}: {error}")
        finally:
            collector.close_notebook()
            converter.log.removeHandler(collector)
        answer = {
            "student": student,
            "status": status,
            "reason": collector.reason() if status == "failed" else "",
            "notes": collector.notes,
            "seconds": time.perf_counter() - started,
            "notebook_seconds": collector.notebook_seconds,
        }
        protocol.write(json.dumps(answer) + "\n")
    return 0


# --------------------------------------------------------------------------- merging


def _copy_submission(source: Any, target: Any, assignment: str, student: str) -> None:
    """Copy one student's submission of ``assignment`` from gradebook ``source`` to ``target``."""
    from nbgrader.api import MissingEntry

    try:
        theirs = source.find_submission(assignment, student)
    except MissingEntry:
        return  # nbgrader failed before it recorded anything
    person = source.find_student(student)
    target.update_or_create_student(
        student,
        first_name=person.first_name,
        last_name=person.last_name,
        email=person.email,
        lms_user_id=person.lms_user_id,
    )
    ours = target.update_or_create_submission(assignment, student)
    ours.timestamp = theirs.timestamp
    ours.extension = theirs.extension
    notebooks = {notebook.name: notebook for notebook in ours.notebooks}
    for their_notebook in theirs.notebooks:
        our_notebook = notebooks[their_notebook.name]
        our_notebook.flagged = their_notebook.flagged
        our_notebook.late_submission_penalty = their_notebook.late_submission_penalty
        grades = {grade.name: grade for grade in our_notebook.grades}
        for their_grade in their_notebook.grades:
            grade = grades[their_grade.name]
            grade.auto_score = their_grade.auto_score
            grade.manual_score = their_grade.manual_score
            grade.extra_credit = their_grade.extra_credit
            grade.needs_manual_grade = their_grade.needs_manual_grade
        comments = {comment.name: comment for comment in our_notebook.comments}
        for their_comment in their_notebook.comments:
            comment = comments[their_comment.name]
            comment.auto_comment = their_comment.auto_comment
            comment.manual_comment = their_comment.manual_comment
    target.db.commit()


def _record_path(work_dir: Path, assignment: str) -> Path:
    return work_dir / assignment / "graded.json"


def _read_record(work_dir: Path, assignment: str) -> dict[str, str]:
    path = _record_path(work_dir, assignment)
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


def _remove_tree(path: Path) -> None:
    from nbgrader.utils import rmtree

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        rmtree(str(path))


def _workspace_layout(course: CourseLayout, workspace: Path) -> CourseLayout:
    return dataclasses.replace(
        course,
        root=workspace,
        db_path=workspace / "gradebook.db",
        submitted_directory="submitted",
        autograded_directory="autograded",
    )


def _merge_run(
    course: CourseLayout,
    assignment: str,
    run_dir: Path,
    outcomes: Sequence[StudentOutcome],
    record_dir: Path,
) -> None:
    """Bring the results of one grading run (local, or one shard) into the course.

    For every student of ``outcomes``, failed ones included (as serial nbgrader leaves
    them), the submission in the worker's gradebook replaces the course's, and the
    worker's ``autograded/`` folder replaces the course's. The fingerprint of each graded
    submission is recorded in ``record_dir``; a failed student's is forgotten, so the
    next run tries again.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    by_workspace: dict[str, list[StudentOutcome]] = {}
    for outcome in outcomes:
        by_workspace.setdefault(outcome.workspace, []).append(outcome)
    record = _read_record(record_dir, assignment)
    with warnings.catch_warnings(), Gradebook(course.db_url, course.course_id) as target:
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless.
        warnings.simplefilter("ignore", SAWarning)
        for workspace_name, group in sorted(by_workspace.items()):
            workspace = run_dir / workspace_name
            layout = _workspace_layout(course, workspace)
            with Gradebook(layout.db_url, course.course_id) as source:
                for outcome in group:
                    _copy_submission(source, target, assignment, outcome.student)
            for outcome in group:
                graded = layout.path(layout.autograded_directory, outcome.student, assignment)
                dest = course.path(course.autograded_directory, outcome.student, assignment)
                _remove_tree(dest)
                if graded.is_dir():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(graded), str(dest))
                if outcome.status == "graded" and outcome.fingerprint:
                    record[outcome.student] = outcome.fingerprint
                else:
                    record.pop(outcome.student, None)
    _write_json(
        _record_path(record_dir, assignment),
        {"version": _RECORD_VERSION, "assignment": assignment, "fingerprints": record},
    )


def _students_in_gradebook(course: CourseLayout, assignment: str) -> set[str]:
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url, course.course_id) as gradebook:
        return {
            submission.student_id for submission in gradebook.assignment_submissions(assignment)
        }


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


def _open_course(course_root: Path, assignment: str, nbgrader_args: Sequence[str]) -> CourseLayout:
    course = load_course(course_root, nbgrader_args)
    if not course.db_path.exists():
        raise GradingError(
            f"no gradebook at {course.db_path}; run `nbgrader generate_assignment {assignment}` "
            "in the course folder first"
        )
    return course


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
        Where scratch courses, shard results and submission fingerprints live
        (default: ``autograded/.parallel_grading``).
    nbgrader_args : sequence of str
        Extra ``--Class.trait=value`` options for nbgrader.
    student_timeout : float or None
        Seconds after which a student's grading is stopped and counted as failed.
    progress : bool
        Show a progress bar on standard error.
    keep_work : bool
        Keep the workers' scratch courses (and their nbgrader logs) after merging.

    Returns
    -------
    RunSummary
        Who was graded, who failed and why, and how long it took.
    """
    started = time.monotonic()
    course = _open_course(course_root, assignment, nbgrader_args)
    work_dir = Path(work_dir) if work_dir else course.default_work_dir()
    salt = _assignment_salt(course, assignment, nbgrader_args)
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
    if force:
        due = list(students)
    else:
        record = _read_record(work_dir, assignment)
        known = _students_in_gradebook(course, assignment)
        due = [
            s
            for s in students
            if record.get(s) != fingerprints[s]
            or s not in known
            or not course.path(course.autograded_directory, s, assignment).is_dir()
        ]
    unchanged = [s for s in students if s not in set(due)]
    assignment_dir = work_dir / assignment
    if shard:
        run_dir = assignment_dir / "shards" / f"{shard[0]}-of-{shard[1]}"
        log_name = f"shard-{shard[0]}-of-{shard[1]}.log"
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = assignment_dir / f"run-{stamp}-{os.getpid()}"
        log_name = "grading.log"
    _remove_tree(run_dir)
    jobs = max(1, min(jobs or default_jobs(), len(due) or 1))
    outcomes: list[StudentOutcome] = []
    if due:
        outcomes = grade_students(
            course,
            assignment,
            due,
            run_dir,
            jobs=jobs,
            nbgrader_args=nbgrader_args,
            student_timeout=student_timeout,
            progress=progress,
            fingerprints=fingerprints,
        )
    else:
        run_dir.mkdir(parents=True)
    log_file = _collect_logs(run_dir, assignment_dir / log_name)
    finished = {outcome.student for outcome in outcomes}
    summary = RunSummary(assignment, outcomes, unchanged, 0.0, jobs, shard, log_file)
    summary.interrupted = [s for s in due if s not in finished]
    if shard:
        summary.seconds = time.monotonic() - started
        if summary.interrupted:
            return summary  # no manifest: the merge must not take a half-graded shard
        _write_json(
            run_dir / _MANIFEST,
            {
                "assignment": assignment,
                "shard": list(shard),
                "salt": hashlib.sha256(salt.encode()).hexdigest(),
                "jobs": jobs,
                "seconds": summary.seconds,
                "unchanged": unchanged,
                "outcomes": [asdict(o) for o in outcomes],
            },
        )
    else:
        _merge_run(course, assignment, run_dir, outcomes, work_dir)
        if not keep_work:
            _remove_tree(run_dir)
        summary.seconds = time.monotonic() - started
    return summary


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

    Parameters
    ----------
    course_root : pathlib.Path
        The course folder.
    assignment : str
        The nbgrader assignment id.
    shards : int, optional
        The n of the ``i/n`` shards; when given, all n must have finished, or nothing is
        merged. Without it, every finished shard found is merged.
    work_dir : pathlib.Path, optional
        The work folder the shards used.
    nbgrader_args : sequence of str
        The extra nbgrader options the shards were graded with.
    keep_work : bool
        Keep the shard folders after merging.

    Returns
    -------
    RunSummary
        All shards' outcomes together; ``seconds`` is the slowest shard's wall time.
    """
    course = _open_course(course_root, assignment, nbgrader_args)
    work_dir = Path(work_dir) if work_dir else course.default_work_dir()
    salt = hashlib.sha256(_assignment_salt(course, assignment, nbgrader_args).encode())
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
    for (index, count), (_, data) in sorted(finished.items()):
        if data["salt"] != salt.hexdigest():
            raise GradingError(
                f"shard {index}/{count} was graded against another version of the assignment, "
                "of nbgrader_config.py or of the grading code; grade it again. Nothing was merged."
            )
    outcomes: list[StudentOutcome] = []
    unchanged: list[str] = []
    for run_dir, data in (finished[key] for key in sorted(finished)):
        shard_outcomes = [StudentOutcome(**o) for o in data["outcomes"]]
        _merge_run(course, assignment, run_dir, shard_outcomes, work_dir)
        outcomes.extend(shard_outcomes)
        unchanged.extend(data["unchanged"])
        if not keep_work:
            _remove_tree(run_dir)
    seconds = max(data["seconds"] for _, data in finished.values())
    jobs = sum(data["jobs"] for _, data in finished.values())
    return RunSummary(assignment, outcomes, sorted(unchanged), seconds, jobs)


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
    parser.add_argument("assignment", help="the nbgrader assignment id, e.g. softsign")
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
        help=f"scratch, shard and fingerprint folder (default: autograded/{WORK_FOLDER})",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep scratch courses and logs after merging"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


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
            "to nbgrader. Exit status: 0 all graded, 1 some submissions failed, 2 nothing "
            "could be graded."
        ),
    )
    _common_options(parser)
    parser.add_argument(
        "-j", "--jobs", type=_positive_int, default=None, help="worker processes (default: cores)"
    )
    parser.add_argument(
        "-f", "--force", action="store_true", help="grade every submission, changed or not"
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
        description="Merge the gradebooks of `softsign-grade ASSIGNMENT --shard I/N` runs "
        "into the course gradebook.",
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


def _worker_command(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    own, nbgrader_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(prog="softsign-grade _worker")
    parser.add_argument("assignment")
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--course-root", type=Path, required=True)
    args = parser.parse_args(own)
    return _worker_main(args.assignment, args.workspace, args.course_root, nbgrader_args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``softsign-grade`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when every submission was graded, 1 when some failed, 2 when nothing could be.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_worker"]:
        return _worker_command(argv[1:])
    if argv[:1] == ["report"]:
        from source_lib.instructor.report import main as report_main

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
