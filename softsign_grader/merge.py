"""Merge grading outcomes into the course: gradebook fields autograding owns, notebooks, record.

The merge writes only what autograding decided (timestamps, late penalties,
``auto_score``, ``needs_manual_grade``, ``auto_comment``) into the course
gradebook through :class:`nbgrader.api.Gradebook`, and moves each student's
autograded notebooks into the course's ``autograded/`` folder. A manual score,
manual comment, extra credit, flag or extension (what a grader writes in
formgrader) is never written, so one written while a run is going survives it.
:func:`merge` merges the results of ``--shard`` runs in the same way.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from softsign_grader.course import Course, GradingError, open_course
from softsign_grader.fingerprint import assignment_salt, read_record, write_record
from softsign_grader.nbgrader_plugins import write_answer_checksums
from softsign_grader.pool import scratch_step
from softsign_grader.run_lock import run_lock
from softsign_grader.shards import finished_shards
from softsign_grader.staging import plain_name, remove_tree
from softsign_grader.summary import RunSummary, StudentOutcome

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

__all__ = ["Merge", "merge"]


class Merge:
    """Write outcomes into the course: gradebook fields autograding owns, notebooks, record.

    One gradebook session for all students; one commit per student.
    """

    def __init__(self, course: Course, assignment: str, work_dir: Path) -> None:
        self.course = course
        self.assignment = assignment
        self.record_path = work_dir / assignment / "graded.json"
        self.record = read_record(self.record_path)
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
        if not plain_name(outcome.student):
            outcome.status, outcome.grades = "failed", None
            outcome.reason = f"{outcome.student!r} is not a student id a folder can be named by"
            return
        if outcome.grades is None:  # nbgrader never got to it: the course keeps what it has
            return
        try:
            _merge_grades(self.gradebook(), self.assignment, outcome.student, outcome.grades)
            graded = self.course.path(
                scratch_step(self.course, run_dir), outcome.student, self.assignment
            )
            if graded.is_dir():  # nothing to move (merged before): keep what the course has
                dest = self.course.path(
                    self.course.autograded_directory, outcome.student, self.assignment
                )
                remove_tree(dest)
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
        """The course gradebook, opened on first use."""
        if self._gradebook is None:
            from nbgrader.api import Gradebook

            self._gradebook = Gradebook(self.course.db_url, self.course.course_id)
        return self._gradebook

    def close(self) -> None:
        """Close the gradebook and write the fingerprints of the graded submissions."""
        if self._gradebook is not None:
            self._gradebook.close()
            self._gradebook = None
        write_record(self.record_path, self.assignment, self.record)


def _merge_grades(
    gradebook: Gradebook, assignment: str, student: str, grades: dict[str, Any]
) -> None:
    """Write what autograding decided for one student into ``gradebook``, and nothing else.

    Manual scores, manual comments, extra credit, flags and extensions are left as they
    are. Whether a cell needs a manual grade is what the worker's autograde decided: a
    written answer a TA graded keeps its grade while its source is unchanged
    (:class:`~softsign_grader.nbgrader_plugins.KeepGradedAnswers`), and the answers'
    checksums are merged with the grades, in the same commit.
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
                    auto_score, needs_manual_grade, *seen = theirs["grades"][grade.name]
                    grade.auto_score = auto_score
                    # The worker's autograde decided it (KeepGradedAnswers): a graded
                    # written answer whose source is unchanged stays graded. A manual
                    # score the worker did not see (written during the run) is flagged
                    # for its grader to look again, as nbgrader flags it.
                    unseen = grade.manual_score is not None and (
                        not seen or seen[0] != grade.manual_score
                    )
                    grade.needs_manual_grade = bool(needs_manual_grade) or (
                        theirs["submitted"] and unseen
                    )
            for comment in notebook.comments:
                if comment.name in theirs["comments"]:
                    comment.auto_comment = theirs["comments"][comment.name]
        write_answer_checksums(gradebook, assignment, student, grades.get("answers", {}))
        gradebook.db.commit()


def _check_salts(finished: dict[tuple[int, int], tuple[Path, dict[str, Any]]], salt: str) -> None:
    """Refuse shards graded against another assignment, config, code or environment."""
    environments = {data.get("environment") for _, data in finished.values()}
    for (index, count), (_, data) in sorted(finished.items()):
        if data.get("salt") != salt or len(environments) > 1:
            raise GradingError(
                f"shard {index}/{count} was graded against another version of the "
                "assignment, of nbgrader_config.py, of the grading code or of the "
                "SOFTSIGN_* settings; grade it again. Nothing was merged."
            )


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
    course = open_course(course_root, assignment, nbgrader_args)
    work_dir = Path(work_dir) if work_dir else course.default_work_dir()
    with contextlib.ExitStack() as locks:
        locks.enter_context(run_lock(course.lock_path(), "a grading run of this course"))
        finished = finished_shards(work_dir, assignment, shards)
        for (index, count), (run_dir, _) in sorted(finished.items()):
            locks.enter_context(run_lock(run_dir.with_suffix(".lock"), f"shard {index}/{count}"))
        _check_salts(finished, assignment_salt(course, assignment, nbgrader_args))
        outcomes: list[StudentOutcome] = []
        unchanged: list[str] = []
        merging = Merge(course, assignment, work_dir)
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
                remove_tree(run_dir)
    began = min(data["started"] for _, data in finished.values())
    jobs = sum(data["jobs"] for _, data in finished.values())
    summary = RunSummary(assignment, outcomes, sorted(unchanged), time.time() - began, jobs)
    summary.merged_shards = len(finished)
    return summary
