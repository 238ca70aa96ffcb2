"""nbgrader extensions that make the course's autograding trustworthy.

``nbgrader_config.py`` calls :func:`register`, which installs three pieces:

:class:`GuardedExecute` (``nbgrader autograde``)
    nbgrader's ``Execute`` preprocessor, plus proof that the genuine check
    functions ran. The kernel imports :mod:`source_lib.checks` before any
    student code runs, and every check leaves a signed receipt in a file
    only this process names. A test cell that calls ``check_*`` functions
    earns its points only if each call left a receipt and all of them passed.
    Replacing ``source_lib.checks`` in ``sys.modules``, swapping a check for a
    stub, or anything else that keeps the genuine checks from running, scores
    0 for that cell. The early import also makes a student's ``exit()`` an
    error of its own cell instead of a dead kernel.

:class:`TolerantNotebookExporter` (``nbgrader autograde``)
    A submitted notebook that is not valid JSON does not abort the student's
    whole submission: the instructor's log says which file is broken and why,
    the notebook is graded as the unanswered release copy (every test cell
    scores 0), and the student's other notebooks are graded normally.
    A missing notebook is already scored 0 by nbgrader ("No submitted file").

:class:`ConciseFeedback` (``nbgrader generate_feedback``)
    In the feedback HTML, test cells show only their visible part (hidden
    tests are removed) and a failed test shows the check's message, not a
    traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor

from source_lib.checks import RECEIPTS_ENV, RECEIPTS_KEY_ENV, receipt_is_genuine

__all__ = ["ConciseFeedback", "GuardedExecute", "TolerantNotebookExporter", "register"]

#: A line of a test cell that calls a check function.
CHECK_CALL = re.compile(r"^\s*check_\w+\s*\(", re.MULTILINE)
HIDDEN_REGION = re.compile(
    r"^[ \t]*#+[ \t]*BEGIN HIDDEN TESTS.*?^[ \t]*#+[ \t]*END HIDDEN TESTS[^\n]*\n?",
    re.MULTILINE | re.DOTALL,
)
EARLY_IMPORT = "import source_lib.checks"
NOT_RUN_MESSAGE = (
    "the course's check functions did not run in this test cell (they were replaced, "
    "bypassed or interrupted), so it earns no points"
)


class GuardedExecute(Execute):
    """``Execute`` that awards a test cell only when genuine checks ran and passed in it."""

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: Any = None
    ) -> tuple[NotebookNode, Any]:
        """Execute the notebook with a private receipt file and key for the checks."""
        key = secrets.token_hex(32)
        handle, path = tempfile.mkstemp(prefix="softsign-receipts-", suffix=".jsonl")
        os.close(handle)
        saved_env = {name: os.environ.get(name) for name in (RECEIPTS_ENV, RECEIPTS_KEY_ENV)}
        saved_arguments = list(self.extra_arguments)
        os.environ[RECEIPTS_ENV] = path
        os.environ[RECEIPTS_KEY_ENV] = key
        # Import the checks before any student code runs: the key leaves the
        # kernel's environment and the checks hold NumPy's genuine functions.
        self.extra_arguments = [
            *saved_arguments,
            "--IPKernelApp.exec_lines=import source_lib.checks",
        ]
        self._receipts_path = path
        self._receipts_key = key.encode()
        self._receipts_offset = 0
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            self.extra_arguments = saved_arguments
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            with contextlib.suppress(OSError):
                os.remove(path)

    def on_cell_execute(self, **kwargs: Any) -> None:
        """Remember where the receipts of the cell about to run will start."""
        try:
            self._receipts_offset = os.path.getsize(self._receipts_path)
        except OSError:
            self._receipts_offset = 0

    def on_cell_executed(self, **kwargs: Any) -> None:
        """After a test cell ran, check that its genuine checks ran and passed."""
        super().on_cell_executed(**kwargs)
        cell = kwargs["cell"]
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return
        calls = len(CHECK_CALL.findall(cell.source))
        if calls == 0 or any(output.output_type == "error" for output in cell.outputs):
            return
        receipts = self._read_receipts()
        genuine = [record for record in receipts if receipt_is_genuine(record, self._receipts_key)]
        if len(genuine) >= calls and all(record.get("passed") is True for record in genuine):
            return
        self.log.warning(
            "Test cell %s: %d of %d checks left a genuine receipt; scoring it 0",
            cell.metadata.get("nbgrader", {}).get("grade_id"),
            len(genuine),
            calls,
        )
        cell.outputs.append(
            nbformat.v4.new_output(
                "error",
                ename="CheckNotRun",
                evalue=NOT_RUN_MESSAGE,
                traceback=[f"\x1b[31mCheckNotRun\x1b[39m: {NOT_RUN_MESSAGE}"],
            )
        )

    def _read_receipts(self) -> list[dict[str, Any]]:
        try:
            with open(self._receipts_path, encoding="utf-8") as handle:
                handle.seek(self._receipts_offset)
                lines = handle.read().splitlines()
        except OSError:
            return []
        receipts = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                receipts.append(record)
        return receipts


class TolerantNotebookExporter(NotebookExporter):
    """Notebook exporter that grades an unreadable submission as an unanswered one."""

    def from_filename(self, filename: str, resources: Any = None, **kwargs: Any) -> tuple[str, Any]:
        """Read ``filename``; if it is not a valid notebook, log why and use the release copy."""
        try:
            with open(filename, encoding="utf-8") as handle:
                nbformat.read(handle, as_version=4)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            reason = " ".join(str(error).split())[:300]
            self.log.error(
                "%s is not a valid notebook (%s: %s); it is graded as the unanswered "
                "release copy, so each of its test cells scores 0",
                filename,
                type(error).__name__,
                reason,
            )
            notebook = self._released_notebook(filename)
            resources = self._init_resources(resources)
            return self.from_notebook_node(notebook, resources=resources, **kwargs)
        return super().from_filename(filename, resources=resources, **kwargs)

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


class ConciseFeedback(NbGraderPreprocessor):
    """Feedback without hidden tests and without tracebacks in test cells."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: Any, cell_index: int
    ) -> tuple[NotebookNode, Any]:
        """Strip hidden-test regions and shorten error outputs of a test cell."""
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        cell.source = HIDDEN_REGION.sub("", cell.source).rstrip("\n")
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"\x1b[31m{output.ename}\x1b[39m: {output.evalue}"]
        return cell, resources


def register(config: Any) -> None:
    """Install the course's grading extensions into an nbgrader config object ``c``."""
    from nbgrader.converters import Autograde, GenerateFeedback

    steps = Autograde.class_traits()["autograde_preprocessors"].default()
    config.Autograde.autograde_preprocessors = [
        GuardedExecute if step is Execute else step for step in steps
    ]
    config.Autograde.exporter_class = TolerantNotebookExporter
    feedback = list(GenerateFeedback.class_traits()["preprocessors"].default())
    config.GenerateFeedback.preprocessors = [*feedback[:1], ConciseFeedback, *feedback[1:]]
