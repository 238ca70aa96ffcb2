"""Record what nbgrader's autograde did for one student: failure, timings, skipped notebooks.

:class:`RecordingAutograde` is nbgrader's :class:`~nbgrader.converters.Autograde`
converter that keeps, as data, the exception that stopped the student (and the
notebook it stopped in), the seconds spent on each notebook and the notebooks it
skipped because the gradebook does not know them. :class:`StudentLog` keeps only
what nbgrader's preprocessors report through the log alone while a student is
graded to the end: the errors of the course's preprocessors (the judge, the
reader) and the cells stopped by the cell timeout (nbclient).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from nbgrader.converters import Autograde
from nbgrader.preprocessors.execute import UnresponsiveKernelError

__all__ = ["RecordingAutograde", "StudentLog", "failure_reason", "one_line"]

_T = TypeVar("_T")

#: Messages nbclient logs when a cell runs into the cell timeout (counted, not listed).
_TIMEOUT_MESSAGES = ("Timeout waiting for execute reply", "Interrupting kernel")


def one_line(message: str, limit: int = 300) -> str:
    """First line of a message, paths relative to the course, at most ``limit`` long."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = line.replace(str(Path.cwd()) + os.sep, "")  # a worker runs in the course folder
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _describe(error: BaseException) -> str:
    """``Name: detail`` of an exception, its module left out, its last line of detail."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1].strip()}" if lines else type(error).__name__


def _chain(error: BaseException) -> list[BaseException]:
    """The exception and those it interrupted or was raised from, outermost first."""
    chain = [error]
    while True:
        inner = chain[-1].__cause__ or (
            None if chain[-1].__suppress_context__ else chain[-1].__context__
        )
        if inner is None or inner in chain:
            return chain
        chain.append(inner)


def failure_reason(error: BaseException, notebook: str = "") -> str:
    """One line on why grading stopped: the notebook, the exception and the one it ended.

    Examples
    --------
    >>> try:
    ...     try:
    ...         raise KeyError("x")
    ...     except KeyError:
    ...         raise ValueError("bad")
    ... except ValueError as error:
    ...     failure_reason(error, "a.ipynb")
    "a.ipynb: ValueError: bad (after KeyError: 'x')"
    """
    if isinstance(error, UnresponsiveKernelError):
        return f"{notebook}: the kernel stopped responding and could not be stopped"
    chain = _chain(error)
    short = _describe(chain[0]) + (f" (after {_describe(chain[-1])})" if len(chain) > 1 else "")
    return one_line(f"{notebook}: {short}" if notebook else short)


class RecordingAutograde(Autograde):
    """nbgrader's ``Autograde`` converter that records what happened to the student.

    After :meth:`start`, ``error`` is the exception that made nbgrader give up on
    the student (None if it did not) and ``error_notebook`` the file name of the
    notebook being graded then ("" outside any notebook); ``notebook_seconds``
    maps each notebook's file name to the seconds spent on it; ``unknown_notebooks``
    lists the submitted notebooks the gradebook does not know (nbgrader skips them).
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.error: BaseException | None = None
        self.error_notebook = ""
        self.notebook_seconds: dict[str, float] = {}
        self.unknown_notebooks: list[str] = []

    def _recorded(self, notebook: str, step: Callable[..., _T], *args: str) -> _T:
        """Run one step of grading; keep the first exception that escapes it."""
        try:
            return step(*args)
        except BaseException as error:
            if self.error is None:
                self.error, self.error_notebook = error, notebook
            raise

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        """nbgrader's step, its exception recorded."""
        return self._recorded("", super().init_destination, assignment_id, student_id)

    def run_pre_convert_hook(self) -> None:
        """nbgrader's step, its exception recorded."""
        self._recorded("", super().run_pre_convert_hook)

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        """nbgrader's step, its exception and the notebooks it skipped recorded."""
        submitted = list(self.notebooks)
        try:
            self._recorded("", super().init_assignment, assignment_id, student_id)
        finally:
            kept = set(self.notebooks)
            self.unknown_notebooks = [path for path in submitted if path not in kept]

    def convert_single_notebook(self, notebook_filename: str) -> None:
        """Sanitize and autograde one notebook, its time and exception recorded."""
        name = Path(notebook_filename).name
        started = time.perf_counter()
        try:
            self._recorded(name, super().convert_single_notebook, notebook_filename)
        finally:
            self.notebook_seconds[name] = time.perf_counter() - started

    def set_permissions(self, assignment_id: str, student_id: str) -> None:
        """nbgrader's step, its exception recorded."""
        self._recorded("", super().set_permissions, assignment_id, student_id)

    def run_post_convert_hook(self) -> None:
        """nbgrader's step, its exception recorded."""
        self._recorded("", super().run_post_convert_hook)


class StudentLog(logging.Handler):
    """Collect the errors logged while a student is graded to the end.

    The course's preprocessors (the judge, the reader) and nbclient report them
    only through nbgrader's log: a plugin grading a broken notebook as unanswered
    is worth the instructor's eye; cells stopped by the cell timeout are counted.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep one error of nbgrader's log."""
        self.errors.append(record.getMessage())

    def graded_with_errors(self) -> list[str]:
        """The errors logged without nbgrader giving up on the student, as notes."""
        timeouts = sum(m.startswith(_TIMEOUT_MESSAGES[0]) for m in self.errors)
        notes = [one_line(m) for m in self.errors if not m.startswith(_TIMEOUT_MESSAGES)]
        if timeouts:
            notes.append(f"{timeouts} cell(s) stopped by the cell timeout, scoring 0")
        return notes
