"""Read what nbgrader logs while it grades one student: errors, notes and timings.

nbgrader's :meth:`~nbgrader.apps.NbGraderAPI.autograde` reports only whether it
succeeded; why a student failed (the exception that stopped a notebook), what
nbgrader warned about and how long each notebook took are only in its log, which
:class:`StudentLog` collects while the worker grades the student.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

__all__ = ["StudentLog", "one_line"]


def one_line(message: str, limit: int = 300) -> str:
    """First line of a log message, paths relative to the course, at most ``limit`` long."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = line.replace(str(Path.cwd()) + os.sep, "")  # a worker runs in the course folder
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _exception(traceback: str) -> str:
    """The last line of a traceback, the exception's module left out."""
    name, _, detail = traceback.strip().splitlines()[-1].strip().partition(": ")
    return f"{name.rsplit('.', 1)[-1]}: {detail}" if detail else name


class StudentLog(logging.Handler):
    """Collect what nbgrader logs while it grades one student."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.notebook = ""
        self.notebook_started = 0.0
        self.notebook_seconds: dict[str, float] = {}

    def close_notebook(self) -> None:
        """Record the time spent on the notebook being graded, if any."""
        if self.notebook:
            self.notebook_seconds[self.notebook] = time.perf_counter() - self.notebook_started

    def emit(self, record: logging.LogRecord) -> None:
        """Take note of one record of nbgrader's log."""
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.errors.append(message)
        elif record.levelno >= logging.WARNING:
            if message.startswith("Skipping unknown notebook"):
                self.notes.append(one_line(message))
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
        notes = [one_line(m) for m in self.errors if not m.startswith(quiet)]
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
                return one_line(f"{self.notebook}: {short}" if self.notebook else short)
        for message in self.errors:
            if "unresponsive" in message:
                return f"{self.notebook}: the kernel stopped responding and could not be stopped"
        return one_line(self.errors[0]) if self.errors else "nbgrader failed"


# --------------------------------------------------------------------------- the pool
