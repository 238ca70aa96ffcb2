"""Fingerprint submissions, and decide which ones are due for grading.

A submission's fingerprint hashes what the vetted reader takes from its folder,
salted with whatever else decides its grade (the assignment's tests and points,
``nbgrader_config.py``, the grading code, the ``SOFTSIGN_*`` settings). The
fingerprints of graded submissions are recorded beside ``autograded/``
(``graded.json``); a submission whose fingerprint is unchanged is not graded again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from softsign_grader.course import Course, GradingError
from softsign_grader.shards import shard_students, write_json
from softsign_grader.submission import DEFAULT_LIMITS, Limits, read_submission

__all__ = [
    "GRADE_ENVIRONMENT_PREFIX",
    "assignment_salt",
    "due_students",
    "environment_salt",
    "read_record",
    "submission_fingerprint",
    "write_record",
]

#: Environment variables with this prefix may change a verdict (the sandbox's mode, a
#: judge's secret): a change of any of them regrades everyone. Only a hash is kept.
GRADE_ENVIRONMENT_PREFIX = "SOFTSIGN_"

#: Version of the record of graded fingerprints; a record of another version is ignored.
RECORD_VERSION = 2


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


def assignment_salt(course: Course, assignment: str, nbgrader_args: Sequence[str]) -> str:
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


def environment_salt() -> str:
    """A digest of the ``SOFTSIGN_*`` environment variables: their values are never stored."""
    settings = sorted(
        (k, v) for k, v in os.environ.items() if k.startswith(GRADE_ENVIRONMENT_PREFIX)
    )
    return hashlib.sha256(json.dumps(settings).encode()).hexdigest()


# --------------------------------------------------------------------------- shards


def read_record(path: Path) -> dict[str, str]:
    """Return the recorded fingerprints ``{student: fingerprint}`` of graded submissions."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("version") != RECORD_VERSION:
        return {}
    return dict(data.get("fingerprints", {}))


def write_record(path: Path, assignment: str, fingerprints: dict[str, str]) -> None:
    """Record the fingerprints ``{student: fingerprint}`` of the graded submissions."""
    write_json(
        path, {"version": RECORD_VERSION, "assignment": assignment, "fingerprints": fingerprints}
    )


def due_students(
    course: Course,
    assignment: str,
    salt: str,
    work_dir: Path,
    force: bool,
    student: str | None,
    shard: tuple[int, int] | None,
) -> tuple[dict[str, str], list[str]]:
    """Return the fingerprint of every selected submission, and the students due for grading.

    ``salt`` is the assignment's (:func:`assignment_salt`); the ``SOFTSIGN_*`` settings
    are added to it here.
    """
    salt = f"{salt}\n{environment_salt()}"
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
    known = course.gradebook_submissions(assignment)
    record = {} if force else read_record(work_dir / assignment / "graded.json")
    due = [
        s
        for s in students
        if force
        or record.get(s) != fingerprints[s]
        or s not in known
        or not course.path(course.autograded_directory, s, assignment).is_dir()
    ]
    return fingerprints, due
