"""The parallel grader's public names, gathered in one module.

Grading a class in parallel is split into modules of one job each:
:mod:`~softsign_grader.course` (the course and its gradebook),
:mod:`~softsign_grader.fingerprint` (which submissions are due),
:mod:`~softsign_grader.shards` (slicing a class for a cluster),
:mod:`~softsign_grader.run_lock` (one run at a time),
:mod:`~softsign_grader.worker` and :mod:`~softsign_grader.staging` (one student
in a worker process), :mod:`~softsign_grader.nbgrader_log` (what nbgrader logs),
:mod:`~softsign_grader.pool` (the worker pool),
:mod:`~softsign_grader.merge` (into the course gradebook),
:mod:`~softsign_grader.summary` (the outcomes and the summary),
:mod:`~softsign_grader.grading` (one run) and :mod:`~softsign_grader.cli` (the
``softsign-grade`` command). This module re-exports what scripts and tests
import from the parallel grader, and runs the command as
``python -m softsign_grader.parallel_grading``.
"""

from __future__ import annotations

import sys

from softsign_grader.cli import main
from softsign_grader.course import WORK_FOLDER, Course, GradingError, load_course
from softsign_grader.fingerprint import (
    GRADE_ENVIRONMENT_PREFIX,
    environment_salt,
    submission_fingerprint,
)
from softsign_grader.grading import grade
from softsign_grader.merge import merge
from softsign_grader.pool import default_jobs, grade_students
from softsign_grader.run_lock import run_lock
from softsign_grader.shards import parse_shard, shard_students
from softsign_grader.staging import skipped_notes, stage, staged_folder, staged_root, unstage
from softsign_grader.summary import RunSummary, StudentOutcome
from softsign_grader.worker import (
    GRADING_ENVIRONMENT,
    WORKER_OPTIONS,
    WorkerSettings,
    missing_notes,
)

__all__ = [
    "GRADE_ENVIRONMENT_PREFIX",
    "GRADING_ENVIRONMENT",
    "WORKER_OPTIONS",
    "WORK_FOLDER",
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

# The names the tests used before the split, kept for them.
_environment_salt = environment_salt
_missing = missing_notes
_skipped_notes = skipped_notes
_stage = stage
_staged_folder = staged_folder
_staged_root = staged_root
_unstage = unstage
_WorkerSettings = WorkerSettings

if __name__ == "__main__":
    sys.exit(main())
