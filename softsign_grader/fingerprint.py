"""Fingerprint submissions, and decide which ones are due for grading.

A submission's fingerprint hashes what the vetted reader takes from its folder,
salted with whatever else decides its automatic score: the assignment's tests and
points, the grading code, the configuration sections the autograding pipeline reads
(:data:`SCORING_SECTIONS` and the classes of its preprocessors) and the ``SOFTSIGN_*``
settings that can change a verdict. Export, exchange, collection and release settings,
and the sandbox's mode, are left out: changing them regrades no one. The fingerprints
of graded submissions are recorded beside ``autograded/`` (``graded.json``); a
submission whose fingerprint is unchanged is not graded again, and
:func:`due_students` says why each other one is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from softsign_grader.course import Course, GradingError
from softsign_grader.shards import shard_students, write_json
from softsign_grader.submission import DEFAULT_LIMITS, Limits, read_submission

__all__ = [
    "GRADE_ENVIRONMENT_PREFIX",
    "SCORING_SECTIONS",
    "assignment_salt",
    "due_students",
    "environment_salt",
    "read_record",
    "scoring_config",
    "submission_fingerprint",
    "write_record",
]

#: Environment variables with this prefix may change a verdict (a judge's secret): a
#: change of any of them regrades everyone. Only a hash is kept.
GRADE_ENVIRONMENT_PREFIX = "SOFTSIGN_"

#: ``SOFTSIGN_*`` settings that decide no score: the sandbox's mode only isolates the
#: kernel (the judge decides every test cell outside it), and the marker is set inside it.
NOT_SCORING_ENVIRONMENT = frozenset({"SOFTSIGN_SANDBOX", "SOFTSIGN_GRADING_SANDBOX"})

#: Configuration sections that decide automatic scores, besides the classes (and their
#: bases) of the configured ``Autograde`` preprocessors and late penalty plugin: the
#: pipeline itself, nbgrader's cell checks and delimiters, the judge, the execution
#: timeout, and the grading kernels' limits. Sections not listed (``LmsExportPlugin``,
#: ``Exchange*``, ``ZipCollectApp``, ``GenerateAssignment``, ``CourseDirectory``, ...)
#: do not enter the fingerprint.
SCORING_SECTIONS = (
    "Autograde",
    "Execute",
    "JudgedExecute",
    "ExecutePreprocessor",
    "NotebookClient",
    "ClearSolutions",
    "ClearHiddenTests",
    "OverwriteCells",
    "SaveAutoGrades",
    "AssignLatePenalties",
    "LateSubmissionPlugin",
    "KernelManager",
    "AsyncKernelManager",
    "SandboxedKernelManager",
    "UnsandboxedKernelManager",
    "_GradingKernelManager",
)

#: Version of the record of graded fingerprints; a record of another version is ignored.
RECORD_VERSION = 3


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


def _section_names(config: Mapping[str, Any]) -> set[str]:
    """The sections of ``config`` that decide scores (:data:`SCORING_SECTIONS` and more)."""
    from nbgrader.converters import Autograde

    names = set(SCORING_SECTIONS)
    autograde = config.get("Autograde", {})
    steps = [
        *autograde.get(
            "sanitize_preprocessors", Autograde.class_traits()["sanitize_preprocessors"].default()
        ),
        *autograde.get(
            "autograde_preprocessors", Autograde.class_traits()["autograde_preprocessors"].default()
        ),
        config.get("AssignLatePenalties", {}).get("plugin_class", ""),
    ]
    for step in steps:
        if isinstance(step, type):
            names.update(base.__name__ for base in step.__mro__)
        elif isinstance(step, str) and step:
            names.add(step.rsplit(".", 1)[-1])
    return names


def _plain(value: Any) -> Any:
    """A stable JSON form of a configuration value (classes and functions by name)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def scoring_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the part of a loaded nbgrader configuration that decides automatic scores.

    Parameters
    ----------
    config : traitlets.config.Config
        The course's configuration, with the command line's options, as loaded by
        :func:`softsign_grader.course.load_course`.

    Returns
    -------
    dict
        ``{section: {trait: value}}`` of the sections that decide scores, in a stable,
        JSON-serialisable form (classes and functions by dotted name).
    """
    names = _section_names(config)
    return {name: _plain(dict(config[name])) for name in sorted(names) if config.get(name)}


def assignment_salt(course: Course, assignment: str, nbgrader_args: Sequence[str] = ()) -> str:
    """A digest of what, besides a submission, decides its scores: tests, points, config, code.

    ``nbgrader_args`` are already in the course's loaded configuration (see
    :func:`scoring_config`); they count only where they set a scoring trait.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from softsign_grader.judge import grader_fingerprint

    app = course.coursedir.parent or course.coursedir  # the app's config has the files'
    config = scoring_config(app.config)
    parts = [f"graders:{grader_fingerprint()}", json.dumps(config, sort_keys=True)]
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
    """A digest of the ``SOFTSIGN_*`` settings that may change a verdict (never their values).

    The sandbox's mode (:data:`NOT_SCORING_ENVIRONMENT`) is left out.
    """
    settings = sorted(
        (k, v)
        for k, v in os.environ.items()
        if k.startswith(GRADE_ENVIRONMENT_PREFIX) and k not in NOT_SCORING_ENVIRONMENT
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


#: Why a submission is graded in a run (:func:`due_students`).
REASON_NEW = "new"
REASON_SUBMISSION = "submission changed"
REASON_GRADING = "grading changed"
REASON_FORCE = "--force"


def _why_due(recorded: str | None, fingerprint: str, graded: bool) -> str | None:
    """Why a submission is due (``None``: it is not), from its recorded and new fingerprints.

    A fingerprint is ``SALT:CONTENT`` (:func:`due_students`): a change of the content is
    a changed submission; a change of the salt alone, a change of how it is graded.
    """
    if recorded is None or not graded:
        return REASON_NEW
    if recorded == fingerprint:
        return None
    if recorded.rpartition(":")[2] != fingerprint.rpartition(":")[2]:
        return REASON_SUBMISSION
    return REASON_GRADING


def due_students(
    course: Course,
    assignment: str,
    salt: str,
    work_dir: Path,
    force: bool,
    student: str | None,
    shard: tuple[int, int] | None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Return the fingerprint of every selected submission, and why each due one is due.

    ``salt`` is the assignment's (:func:`assignment_salt`); the ``SOFTSIGN_*`` settings
    that decide scores are added to it here. A fingerprint is ``SALT:CONTENT``: a digest
    of the salt, then the submission's digest. The reasons are :data:`REASON_NEW` (never
    graded, or not in the gradebook or ``autograded/``), :data:`REASON_SUBMISSION`,
    :data:`REASON_GRADING` (tests, points, scoring configuration or code) and
    :data:`REASON_FORCE`; the students due are the reasons' keys, in order.
    """
    salted = hashlib.sha256(f"{salt}\n{environment_salt()}".encode()).hexdigest()[:16]
    students = course.submitted_students(assignment)
    if student:
        students = [s for s in students if fnmatch.fnmatchcase(s, student)]
    if shard:
        students = shard_students(students, *shard)
    fingerprints = {
        s: salted
        + ":"
        + submission_fingerprint(
            course.path(course.submitted_directory, s, assignment), course.ignore
        )
        for s in students
    }
    known = course.gradebook_submissions(assignment)
    record = read_record(work_dir / assignment / "graded.json")
    due: dict[str, str] = {}
    for s in students:
        graded = s in known and course.path(course.autograded_directory, s, assignment).is_dir()
        why = _why_due(record.get(s), fingerprints[s], graded)
        if force:
            why = REASON_FORCE
        if why:
            due[s] = why
    return fingerprints, due
