"""Stage a student's submission for a worker's nbgrader, through the vetted reader.

Before nbgrader sees a student, the worker copies what
:mod:`softsign_grader.submission` takes from the submission folder (regular,
capped files only) into the run's staging folder (``RUN/staged/STUDENT/ASSIGNMENT``),
with the manifest of what was left out beside it, and removes both once the
student is graded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from softsign_grader.course import GradingError
from softsign_grader.submission import (
    DEFAULT_LIMITS,
    MANIFEST_SUFFIX,
    Skipped,
    Submission,
    copy_submission,
    write_skipped_manifest,
)

if TYPE_CHECKING:
    from softsign_grader.worker import Worker

__all__ = [
    "MAX_SKIPPED_NOTES",
    "STAGED",
    "plain_name",
    "remove_tree",
    "skipped_notes",
    "stage",
    "staged_folder",
    "staged_root",
    "unstage",
]

#: A student's outcome names at most this many skipped files; the manifest has them all.
MAX_SKIPPED_NOTES = 50
#: The run's folder (inside the run folder) of the submissions staged for nbgrader.
STAGED = "staged"


def staged_root(worker: Worker) -> Path:
    """The run's staging folder, as this worker's nbgrader sees it (``RUN/staged``)."""
    root = worker.api.coursedir.root
    return Path(os.path.normpath(os.path.join(root, worker.settings.staged_step)))


def staged_folder(worker: Worker, student: str) -> Path:
    """Where ``student``'s submission is staged: nbgrader's submitted folder in this worker."""
    coursedir = worker.api.coursedir
    staged = Path(
        os.path.normpath(
            coursedir.format_path(
                coursedir.submitted_directory, student, worker.settings.assignment
            )
        )
    )
    root = staged_root(worker)
    if not plain_name(student) or not staged.is_relative_to(root) or staged == root:
        raise GradingError(f"{student!r} is not a student id a folder can be named by")
    return staged


def stage(worker: Worker, student: str, staged: Path) -> Submission:
    """Copy ``student``'s submission into ``staged`` through the vetted reader; return it.

    Only the regular files the reader takes are copied (capped, never through a link);
    what it left out is listed beside the staged folder (``STAGED.skipped.json``, read by
    the feedback) and in nbgrader's log.
    """
    settings = worker.settings
    coursedir = worker.api.coursedir
    source = Path(coursedir.format_path(settings.submitted_step, student, settings.assignment))
    unstage(staged, None)  # what a worker that died on this student left
    submission = copy_submission(source, staged, DEFAULT_LIMITS, list(coursedir.ignore))
    write_skipped_manifest(staged, submission.skipped)
    for item in submission.skipped[:MAX_SKIPPED_NOTES]:
        worker.api.log.warning("Skipped %s of %s: %s", item.path, student, item.reason)
    if len(submission.skipped) > MAX_SKIPPED_NOTES:
        more = len(submission.skipped) - MAX_SKIPPED_NOTES
        worker.api.log.warning("... and %d more files of %s skipped", more, student)
    return submission


def unstage(staged: Path, root: Path | None) -> None:
    """Remove a staged submission and its manifest, and its emptied folders below ``root``."""
    remove_tree(staged)
    remove_tree(staged.with_name(staged.name + MANIFEST_SUFFIX))
    if root is None:
        return
    for parent in staged.parents:
        if parent == root or not parent.is_relative_to(root):
            break
        try:
            parent.rmdir()
        except OSError:  # not empty: another student's staging
            break


def skipped_notes(skipped: Sequence[Skipped]) -> list[str]:
    """One note per file the reader left out (``skipped PATH: REASON``), at most a few dozen."""
    notes = [f"skipped {item.path}: {item.reason}" for item in skipped[:MAX_SKIPPED_NOTES]]
    if len(skipped) > MAX_SKIPPED_NOTES:
        notes.append(f"... and {len(skipped) - MAX_SKIPPED_NOTES} more files skipped")
    return notes


def plain_name(student: str) -> bool:
    """Whether ``student`` names one folder: not empty, no path separator, not ``.``/``..``."""
    return (
        bool(student) and student not in {".", ".."} and "/" not in student and "\0" not in student
    )


def remove_tree(path: Path) -> None:
    """Remove a file, a link or a folder tree, if there is one."""
    from nbgrader.utils import rmtree

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        rmtree(str(path))
