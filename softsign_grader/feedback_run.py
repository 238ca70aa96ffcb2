"""Feedback for a class in parallel: ``softsign-grade feedback ASSIGNMENT --jobs N``.

Plain ``nbgrader generate_feedback`` writes one student's feedback after another.
:func:`generate_feedback` hands the students out to N worker processes instead;
each loads nbgrader and the course's configuration once, then runs nbgrader's own
``GenerateFeedback`` converter for one student per task, exactly as ``nbgrader
generate_feedback --student ID --force`` would, so the pages are the same.

Only the students who are due get feedback: those with an autograded notebook
whose feedback page is missing or older than the notebook, and those whose grades
changed since their feedback was written (a TA's manual grade or comment, a late
penalty: a digest of each student's grades is kept in the work folder). Late
penalties are brought up to date with the current scores first
(:func:`softsign_grader.late.apply_late_penalties`). A rerun after nothing changed
writes nothing. The run holds the course's run lock, so it never reads
``autograded/`` while a grading run writes it. Nothing but ``feedback/`` is written
(and nbgrader's log, in the parallel grader's work folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from softsign_grader.course import Course, open_course, tool_path_env
from softsign_grader.pool import collect_logs, default_jobs
from softsign_grader.run_lock import release_inherited_locks, run_lock
from softsign_grader.staging import remove_tree

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI

__all__ = [
    "FeedbackOutcome",
    "FeedbackSummary",
    "due_for_feedback",
    "generate_feedback",
    "grade_digests",
]

#: The workers' nbgrader log, beside the grading runs' logs in the work folder.
LOG_NAME = "feedback.log"
#: The digest of each student's grades when their feedback was last written.
DIGESTS_NAME = "feedback-grades.json"


@dataclass
class FeedbackOutcome:
    """One student's feedback: ``ok`` or not (``reason`` says why), notebooks and seconds."""

    student: str
    ok: bool
    notebooks: int = 0
    seconds: float = 0.0
    reason: str = ""


@dataclass
class FeedbackSummary:
    """Totals of one feedback run, and what ``softsign-grade feedback`` prints."""

    assignment: str
    outcomes: list[FeedbackOutcome]
    up_to_date: list[str]
    seconds: float
    jobs: int
    log_file: Path | None = None

    @property
    def failed(self) -> list[FeedbackOutcome]:
        """The students whose feedback nbgrader could not write."""
        return [o for o in self.outcomes if not o.ok]

    def render(self) -> str:
        """Return the summary printed at the end of a run."""
        done = [o for o in self.outcomes if o.ok]
        notebooks = sum(o.notebooks for o in done)
        lines = [
            f"{self.assignment} feedback: written for {len(done)} students ({notebooks} "
            f"notebooks), failed {len(self.failed)}, up to date {len(self.up_to_date)} in "
            f"{self.seconds:.1f} s with {self.jobs} worker{'s' if self.jobs != 1 else ''}"
        ]
        if notebooks:
            busy = sum(o.seconds for o in done)
            lines.append(
                f"  {busy / notebooks:.2f} s of worker time per notebook, "
                f"{self.seconds / notebooks:.2f} s of wall time per notebook"
            )
        if self.failed:
            lines.append("Failed:")
            width = max(len(o.student) for o in self.failed)
            lines += [f"  {o.student:<{width}}  {o.reason}" for o in self.failed]
            if self.log_file:
                lines.append(f"nbgrader's full log: {self.log_file}")
        return "\n".join(lines)


def _graded_notebooks(course: Course, student: str, assignment: str) -> list[Path]:
    return sorted(course.path(course.autograded_directory, student, assignment).glob("*.ipynb"))


def grade_digests(course: Course, assignment: str) -> dict[str, str]:
    """A digest of every student's grades, comments and late penalties, by student id.

    It changes whenever anything a feedback page shows from the gradebook changes.
    """
    from nbgrader.api import Gradebook

    digests = {}
    with Gradebook(course.db_url, course.course_id) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            parts = [
                [
                    notebook.name,
                    notebook.late_submission_penalty,
                    [
                        [g.name, g.auto_score, g.manual_score, g.extra_credit]
                        for g in notebook.grades
                    ],
                    [[c.name, c.auto_comment, c.manual_comment] for c in notebook.comments],
                ]
                for notebook in submission.notebooks
            ]
            text = json.dumps(parts, sort_keys=True, default=str)
            digests[submission.student_id] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def _read_digests(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def due_for_feedback(
    course: Course, assignment: str, changed: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """Split the autograded students into those due for feedback and those up to date.

    A student is due when one of their autograded notebooks has no feedback page, or
    one newer than the page, or when they are in ``changed`` (their grades changed
    since their feedback was written). Students in
    ``CourseDirectory.student_id_exclude`` and the parallel grader's hidden work
    folder are left out.

    Returns
    -------
    tuple of list of str
        The due students and the up-to-date ones, each sorted.
    """
    folder = course.root / course.autograded_directory
    excluded = set(filter(None, course.student_id_exclude.split(",")))
    due: list[str] = []
    current: list[str] = []
    students = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for student in students:
        notebooks = _graded_notebooks(course, student, assignment)
        if student.startswith(".") or student in excluded or not notebooks:
            continue
        pages = course.path(course.feedback_directory, student, assignment)
        stale = student in changed or any(
            not (pages / f"{nb.stem}.html").exists()
            or (pages / f"{nb.stem}.html").stat().st_mtime < nb.stat().st_mtime
            for nb in notebooks
        )
        (due if stale else current).append(student)
    return due, current


@dataclass(frozen=True)
class _Settings:
    """What a feedback worker needs to start; plain data, so that it can be pickled."""

    course_root: str
    assignment: str
    nbgrader_args: tuple[str, ...]
    run_dir: str


@dataclass
class _Worker:
    settings: _Settings
    api: NbGraderAPI


_worker: _Worker | None = None


def _start_worker(settings: _Settings) -> None:
    """Pool initializer: log to a file of its own, load nbgrader and the course once."""
    global _worker
    release_inherited_locks()
    folder = Path(settings.run_dir) / f"worker-{os.getpid()}"
    folder.mkdir(parents=True)
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(folder / "nbgrader.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.update(tool_path_env())
    os.chdir(settings.course_root)
    sys.path.insert(0, settings.course_root)  # modules the course's config may import

    from nbgrader.apps import NbGraderAPI
    from nbgrader.apps.generatefeedbackapp import GenerateFeedbackApp

    app = GenerateFeedbackApp()
    app.initialize(
        [
            "--log-level=INFO",
            *settings.nbgrader_args,
            f"--CourseDirectory.root={settings.course_root}",
        ]
    )
    api = NbGraderAPI(coursedir=app.coursedir, parent=app)
    api.log = app.log
    _worker = _Worker(settings, api)


def _feedback_for(student: str) -> FeedbackOutcome:
    """Pool task: one student's feedback, by nbgrader's ``GenerateFeedback`` converter."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log, temp_attrs

    worker = _worker
    if worker is None:
        raise RuntimeError("_feedback_for runs in a worker started by _start_worker")
    assignment = worker.settings.assignment
    started = time.perf_counter()
    api = worker.api
    with temp_attrs(api.coursedir, assignment_id=assignment, student_id=student):
        converter = GenerateFeedback(coursedir=api.coursedir, parent=api)
        converter.force = True  # the student is due: rewrite their pages
        result = capture_log(converter)
    seconds = time.perf_counter() - started
    pages = api.coursedir.format_path(api.coursedir.feedback_directory, student, assignment)
    notebooks = len(list(Path(pages).glob("*.html")))
    if result["success"]:
        return FeedbackOutcome(student, True, notebooks, seconds)
    lines = str(result.get("error", "")).strip().splitlines()
    return FeedbackOutcome(student, False, 0, seconds, lines[-1] if lines else "nbgrader failed")


def _run_pool(settings: _Settings, students: Sequence[str], jobs: int) -> list[FeedbackOutcome]:
    """Feedback for ``students`` with ``jobs`` workers; a student whose worker dies fails."""
    import multiprocessing

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    outcomes = []
    with ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(settings,),
    ) as pool:
        tasks: dict[Future[FeedbackOutcome], str] = {
            pool.submit(_feedback_for, student): student for student in students
        }
        for task in as_completed(tasks):
            try:
                outcomes.append(task.result())
            except BrokenProcessPool:
                reason = "a feedback worker died (see nbgrader's log)"
                outcomes.append(FeedbackOutcome(tasks[task], False, reason=reason))
            except Exception as error:  # costs this student only
                reason = f"{type(error).__name__}: {error}"
                outcomes.append(FeedbackOutcome(tasks[task], False, reason=reason))
    return outcomes


def _refresh_late_penalties(course: Course, assignment: str) -> None:
    """Store every late penalty of the current scores, so the pages show the right totals."""
    from nbgrader.api import Gradebook

    from softsign_grader.late import apply_late_penalties, course_late_policy

    with Gradebook(course.db_url, course.course_id) as gradebook:
        apply_late_penalties(gradebook, [assignment], course_late_policy(course))


def generate_feedback(
    course_root: Path,
    assignment: str,
    *,
    jobs: int | None = None,
    nbgrader_args: Sequence[str] = (),
) -> FeedbackSummary:
    """Write the feedback of every student due (:func:`due_for_feedback`) with N workers.

    Parameters
    ----------
    course_root : pathlib.Path
        The course folder, holding ``nbgrader_config.py`` and ``autograded/``.
    assignment : str
        The nbgrader assignment id.
    jobs : int, optional
        Worker processes; all cores by default (never more than the students due).
    nbgrader_args : sequence of str
        Extra ``--Class.trait=value`` options for nbgrader.

    Returns
    -------
    FeedbackSummary
        Who got feedback, who failed and why, who was up to date, and the times.

    Raises
    ------
    GradingError
        When the course has no gradebook, or a grading run of it is in progress.
    """
    started = time.perf_counter()
    course = open_course(course_root, assignment, nbgrader_args)
    work_dir = course.default_work_dir() / assignment
    with run_lock(course.lock_path(), "a grading run of this course"):
        _refresh_late_penalties(course, assignment)
        digests, digests_path = grade_digests(course, assignment), work_dir / DIGESTS_NAME
        written = _read_digests(digests_path)
        changed = frozenset(s for s, d in digests.items() if written.get(s) != d)
        due, current = due_for_feedback(course, assignment, changed)
        jobs = max(1, min(jobs or default_jobs(), len(due) or 1))
        outcomes, log_file = [], None
        if due:
            run_dir = work_dir / f"feedback-{os.getpid()}"
            remove_tree(run_dir)
            run_dir.mkdir(parents=True)
            settings = _Settings(str(course.root), assignment, tuple(nbgrader_args), str(run_dir))
            try:
                outcomes = _run_pool(settings, due, jobs)
            finally:
                log_file = collect_logs(run_dir, work_dir / LOG_NAME)
                remove_tree(run_dir)
        kept = {s: written[s] for s in written if s in digests}
        kept.update(
            {o.student: digests[o.student] for o in outcomes if o.ok and o.student in digests}
        )
        work_dir.mkdir(parents=True, exist_ok=True)
        digests_path.write_text(json.dumps(kept, indent=1, sort_keys=True), encoding="utf-8")
    seconds = time.perf_counter() - started
    return FeedbackSummary(assignment, outcomes, current, seconds, jobs, log_file)
