"""Reading a submitted notebook so that a malformed file costs only itself.

:class:`TolerantNotebookExporter` is ``Autograde.exporter_class``: it reads each
submitted notebook through the vetted reader (:mod:`softsign_grader.submission`),
refuses shapes nbformat or nbgrader cannot take (:func:`notebook_shape_problem`), and
grades any notebook that cannot be read, validated or sanitized as the unanswered
release copy, with a notice at its top (:mod:`softsign_grader.notices`).
"""

from __future__ import annotations

import copy
import datetime
import os
import stat
from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import ValidationError
from nbformat.notebooknode import NotebookNode
from sqlalchemy.exc import SQLAlchemyError

from softsign_grader.notices import (
    SUBMISSION_NOTICE_KEY,
    UNREADABLE_KEY,
    submission_notice,
    unreadable_notice,
)
from softsign_grader.submission import UnsafeFile, read_text, skipped_manifest


class MalformedNotebook(ValueError):
    """A submitted file that is not a gradable notebook; the message says why, in plain words."""


#: JSON nested deeper than this is refused before nbformat reads it: nbformat,
#: ``copy.deepcopy`` and the schema validator recurse once or more per level (a
#: ``RecursionError`` deep inside nbconvert otherwise), and no notebook needs it.
MAX_JSON_DEPTH = 64

#: What reading a submitted file raises when the file, not the course, is at fault.
_UNREADABLE: tuple[type[BaseException], ...] = (
    OSError,  # UnsafeFile too: a link, FIFO, device or folder, a file over the cap
    ValueError,  # NotJSONError, UnicodeDecodeError, NBFormatError, MalformedNotebook
    RecursionError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    ValidationError,
)


class TolerantNotebookExporter(NotebookExporter):
    """Notebook exporter that grades an ungradable submitted notebook as an unanswered one.

    ``nbgrader autograde`` converts each notebook twice: from ``submitted/``
    with ``Autograde.sanitize_preprocessors``, then the result, from
    ``autograded/``, with ``autograde_preprocessors``. A notebook that cannot
    be read (not a regular file, not UTF-8, not JSON, nested too deeply, not
    shaped like a notebook: :func:`read_submitted_notebook`), or whose sanitize
    steps fail (a step raises, or nbconvert's validation after a step does), is
    replaced by its release copy with :func:`unreadable_notice` first: each of
    its test cells scores 0, and the student's other notebooks are graded as
    usual. The instructor's log gets one error line naming the file and the
    reason. The second pass is not guarded: the first one validated its input.

    In the first pass, when the staging of the submission folder left files out
    (a ``FOLDER.skipped.json`` manifest beside it,
    :func:`softsign_grader.submission.skipped_manifest`), the notebook gets
    a :func:`submission_notice` at its top (after the unreadable notice, if any).
    """

    def from_filename(
        self, filename: str, resources: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Convert ``filename``; if it cannot be graded, log why and use the release copy."""
        resources = _file_resources(filename, resources)
        sanitizing = getattr(self.parent, "_sanitizing", False) is True
        try:
            notebook = read_submitted_notebook(filename)
        except _UNREADABLE as error:
            return self._graded_as_release(filename, resources, error, None, sanitizing, **kwargs)
        if not sanitizing:
            return self.from_notebook_node(notebook, resources=resources, **kwargs)
        try:
            for cell in notebook.cells:  # a notice the student wrote is not the course's
                metadata = cell.get("metadata") if isinstance(cell, dict) else None
                if isinstance(metadata, dict):
                    metadata.pop(UNREADABLE_KEY, None)
                    metadata.pop(SUBMISSION_NOTICE_KEY, None)
            self._add_notices(notebook, filename)
            return self.from_notebook_node(notebook, resources=copy.deepcopy(resources), **kwargs)
        except SQLAlchemyError:
            raise  # the gradebook's fault, not the student's: nbgrader stops the run
        except Exception as error:  # a sanitize step failed on this notebook
            plain = _sanitize_problem(notebook, error)
            return self._graded_as_release(filename, resources, plain, error, True, **kwargs)

    def _graded_as_release(
        self,
        filename: str,
        resources: dict[str, Any],
        error: BaseException,
        cause: BaseException | None,
        sanitizing: bool,
        **kwargs: Any,
    ) -> tuple[NotebookNode, dict[str, Any]]:
        """Log why ``filename`` is not graded, then convert its release copy with the notice."""
        detail = f"{type(error).__name__}: {_one_line(error)}"
        if cause is not None:  # what failed, for the instructor, unless the reason says it
            failure = f"{type(cause).__name__}{_failed_step(cause)}: {_one_line(cause)}"
            detail += "" if failure in detail else f"; {failure}"
        self.log.error(
            "%s is not a valid notebook (%s); it is graded as the unanswered release copy, "
            "so each of its test cells scores 0",
            filename,
            detail,
        )
        notebook = self._released_notebook(filename)
        notice = unreadable_notice(os.path.basename(filename), error)
        if sanitizing:
            self._add_notices(notebook, filename, notice)
        else:
            notebook.cells.insert(0, notice)
        return self.from_notebook_node(notebook, resources=resources, **kwargs)

    def _add_notices(
        self, notebook: NotebookNode, filename: str, unreadable: NotebookNode | None = None
    ) -> None:
        """Put the unreadable notice, then the notice of files left out, first in ``notebook``."""
        cells = [] if unreadable is None else [unreadable]
        skipped = skipped_manifest(os.path.dirname(os.path.abspath(filename)))
        if skipped:
            cells.append(submission_notice(skipped))
        minor = notebook.get("nbformat_minor")
        if not (isinstance(minor, int) and minor >= 5):
            for cell in cells:  # cell ids are nbformat 4.5; older notebooks must not have them
                cell.pop("id", None)
        notebook.cells[:0] = cells

    def _released_notebook(self, filename: str) -> NotebookNode:
        """The notebook as released to students (all exercises unanswered)."""
        coursedir = getattr(self.parent, "coursedir", None)
        if coursedir is not None:
            assignment = os.path.basename(os.path.dirname(os.path.abspath(filename)))
            release = os.path.join(
                coursedir.format_path(coursedir.release_directory, ".", assignment),
                os.path.basename(filename),
            )
            if os.path.exists(release):
                return nbformat.read(release, as_version=4)
            self.log.error("No released copy of %s at %s", filename, release)
        raise ValueError(f"{filename} is not a valid notebook and has no released copy")


def read_submitted_notebook(filename: str | os.PathLike[str]) -> NotebookNode:
    """Read a student's notebook file as nbformat 4, refusing what nbgrader cannot grade.

    The file is read by :func:`softsign_grader.submission.read_text` (no
    link followed, no FIFO or device opened, size capped); JSON nested deeper
    than :data:`MAX_JSON_DEPTH` and JSON that nbformat cannot read raise
    :class:`MalformedNotebook`, saying what is wrong in plain words. Problems
    the course's repairs fix (cell ids, ``nbgrader`` metadata) are left to them.

    Raises
    ------
    UnsafeFile, OSError, UnicodeDecodeError, NotJSONError, MalformedNotebook
        And, for shapes the checks here do not name, whatever nbformat raises.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "nb.ipynb")
    ...     with open(path, "w", encoding="utf-8") as handle:
    ...         _ = handle.write('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, '
    ...                          '"cells": null}')
    ...     read_submitted_notebook(path)
    Traceback (most recent call last):
    ...
    softsign_grader.reading.MalformedNotebook: its cells are not a list (they are null)
    """
    path = os.fspath(filename)
    try:
        text = read_text(path)
    except UnsafeFile as error:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            raise MalformedNotebook("it is a folder, not a file") from error
        raise MalformedNotebook(f"it is {error.reason}") from error
    except UnicodeDecodeError as error:
        raise MalformedNotebook(f"it is not UTF-8 text ({error.reason})") from error
    try:
        data = nbformat.reader.parse_json(text)
    except RecursionError:
        raise MalformedNotebook(
            f"it is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
        ) from None
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise MalformedNotebook(f"it is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    problem = notebook_shape_problem(data)
    try:
        major, minor = nbformat.reader.get_version(data)
        if major not in nbformat.versions:
            raise MalformedNotebook(f"its nbformat version {major!r} is not one nbformat reads")
        notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
        return nbformat.convert(notebook, 4)
    except Exception as error:  # nbformat's readers and converters fail in many ways
        if problem is not None:
            raise MalformedNotebook(problem) from error
        if isinstance(error, RecursionError):
            raise MalformedNotebook(f"it is nested too deeply for nbformat ({error})") from error
        if isinstance(error, _UNREADABLE):
            raise
        raise MalformedNotebook(
            f"nbformat could not read it ({type(error).__name__}: {_one_line(error)})"
        ) from error


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether JSON ``data`` nests lists and objects more than ``limit`` deep (no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words ("null", "a number", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_text(value: Any) -> bool:
    """Whether ``value`` is notebook text: a string, or a list of strings."""
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(line, str) for line in value)
    )


def notebook_shape_problem(data: Any) -> str | None:
    """The first thing in parsed JSON ``data`` that no notebook has, in plain words (or None).

    Only what the course's repairs cannot fix is named: cell ids and
    ``nbgrader`` metadata are not checked.

    Examples
    --------
    >>> notebook_shape_problem([1, 2]) is None
    False
    >>> notebook_shape_problem({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
    ...     "cells": [{"cell_type": "markdown", "metadata": {}, "source": 5}]})
    'the source of cell 1 is not text (it is a number)'
    """
    if not isinstance(data, dict):
        return f"it is {_json_kind(data)}, not a notebook (a JSON object)"
    for key in ("nbformat", "nbformat_minor"):
        if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
            return f"its {key} version is missing or not a number"
    if not isinstance(data.get("metadata"), dict):
        return f"its metadata is not an object (it is {_json_kind(data.get('metadata'))})"
    cells = data.get("cells")
    if not isinstance(cells, list):
        return f"its cells are not a list (they are {_json_kind(cells)})"
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            return f"cell {number} is not an object (it is {_json_kind(cell)})"
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            return f"cell {number} has no valid cell type"
        if "metadata" not in cell:
            return f"cell {number} has no metadata"
        source = cell.get("source")
        if not _is_text(source):
            kind = "a list of more than text" if isinstance(source, list) else _json_kind(source)
            return f"the source of cell {number} is not text (it is {kind})"
        if cell["cell_type"] != "code":
            continue
        outputs = cell.get("outputs")
        if not isinstance(outputs, list):
            return f"the outputs of cell {number} are not a list (they are {_json_kind(outputs)})"
        if not all(isinstance(output, dict) for output in outputs):
            return f"an output of cell {number} is not an object"
        count = cell.get("execution_count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            return f"the execution count of cell {number} is not a number"
    return None


def _sanitize_problem(notebook: Any, error: BaseException) -> MalformedNotebook:
    """Why a sanitize step failed on ``notebook``, in plain words."""
    problem = notebook_shape_problem(notebook)
    if problem is not None:
        return MalformedNotebook(problem)
    if isinstance(error, RecursionError):
        return MalformedNotebook(f"it is nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    if isinstance(error, ValidationError):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in getattr(error, "absolute_path", [])
        ).lstrip(".")
        at = f" at {where}" if where else ""
        return MalformedNotebook(f"it does not follow the notebook format ({error.message}{at})")
    return MalformedNotebook(
        f"nbgrader could not prepare it for grading ({type(error).__name__}"
        f"{_failed_step(error)}: {_one_line(error)})"
    )


def _failed_step(error: BaseException) -> str:
    """`` in STEP``, the preprocessor whose code raised ``error``, if one did."""
    step = None
    traceback = error.__traceback__
    while traceback is not None:
        owner = traceback.tb_frame.f_locals.get("self")
        if isinstance(owner, Preprocessor):
            step = type(owner).__name__
        traceback = traceback.tb_next
    return "" if step is None else f" in {step}"


def _one_line(error: BaseException) -> str:
    """``str(error)`` on one line, at most 300 characters."""
    return " ".join(str(error).split())[:300]


def _file_resources(filename: str, resources: dict[str, Any] | None) -> dict[str, Any]:
    """``resources`` with the file's name, folder and date, as nbconvert's ``from_filename``."""
    resources = ResourcesDict() if resources is None else resources
    if not resources.get("metadata"):
        resources["metadata"] = ResourcesDict()
    path, basename = os.path.split(filename)
    resources["metadata"]["name"] = os.path.splitext(basename)[0]
    resources["metadata"]["path"] = path
    try:
        modified = datetime.datetime.fromtimestamp(os.lstat(filename).st_mtime, tz=datetime.UTC)
    except OSError:
        return resources
    resources["metadata"]["modified_date"] = modified.strftime("%B %-d, %Y")
    return resources
