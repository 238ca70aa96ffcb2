"""The judge: nbgrader's ``Execute``, with every test cell decided outside the kernel.

:class:`JudgedExecute` takes the place of nbgrader's ``Execute`` preprocessor
in ``nbgrader autograde``. Ordinary cells (the student's solutions, figures,
prose code) run in the student's kernel as usual. An autograded test cell does
not: the judge reads the check calls in its source (as the gradebook
restored it), and for each one

1. draws a seed for this grading run, fresh from the operating system's
   random source and never sent to the kernel, and *plans* the check in this
   process: which calls of the student's function it needs, on which inputs
   (:mod:`source_lib.grading.replay`);
2. sends those calls to the kernel, where :mod:`source_lib.grading.collector`
   runs the student's function on them and publishes the outcomes as plain
   data;
3. runs the check again in this process on those outcomes, against its own
   reference, and writes the cell's output itself: nothing when it passed,
   the check's message when it failed, and an explanation when there is no
   verdict (the kernel died, timed out, or sent something unreadable).

Beside the output, the judge records its diagnosis of the cell in the cell's
metadata, ``cell.metadata["softsign"]`` (see :func:`diagnosis`): the verdict,
the check, the hint and one example input/expected/got, as small JSON-safe
data for the instructor's class report (:mod:`softsign_grader.report`).
It is written by the judge only: any ``softsign`` metadata a submission brings
along is removed before grading starts, and nbgrader scores from the outputs
alone, so the record never changes a score.

nbgrader then scores the cell from that output as usual (an error output
scores 0). Nothing the kernel prints, raises or displays reaches a test
cell's output, so no kernel output can earn or cost a point; a cell without a
verdict scores 0.

Failures cost only what they touch. A cell that runs out of time is
interrupted, as stock nbgrader does; a kernel that then answers within
``interrupt_grace`` seconds is kept, with whatever the cell defined before the
limit. A kernel that does not answer, or dies, is restarted, and the ordinary
cells that ran before are run again (so the student's definitions come back);
a replayed cell that times out again is never replayed a third time. One wall
clock (the sandbox's ``wall_clock_limit``) covers the notebook, restarts
included: when it runs out, the rest of the notebook scores 0. Printed output
is capped in bytes per cell.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import numpy as np
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer

from source_lib.grading import collector, registry
from source_lib.grading.framework import CALL_TIME_LIMIT, CHECKS, CheckFailure
from source_lib.grading.messages import Failure, shorten
from source_lib.grading.replay import Planner, Replayer, ReplayMismatch, session

__all__ = [
    "DIAGNOSIS_KEY",
    "CheckCall",
    "JudgedExecute",
    "check_calls",
    "diagnosis",
    "grader_fingerprint",
    "is_autograded_test",
    "parse_check_calls",
]

#: Where the collector's source is read from; it is sent to the kernel with each test cell.
COLLECTOR_SOURCE = Path(collector.__file__).read_text(encoding="utf-8")

#: Modules whose check functions a test cell may import (importing them registers
#: their checks in :data:`source_lib.grading.framework.CHECKS`): the registry's.
CHECK_MODULES = registry.CHECK_MODULES

TIMEOUT_ENAME = "CellTimeoutError"

#: The cell-metadata key under which the judge records its diagnosis of a test cell.
DIAGNOSIS_KEY = "softsign"

#: Version of the diagnosis record's layout (2: the failure's kind, mistake and error).
DIAGNOSIS_VERSION = 2

#: The verdict of each kind of failure (:data:`source_lib.grading.messages.KINDS`).
KIND_VERDICTS = {
    "not_implemented": "not_attempted",
    "timeout": "timeout",
    "raised": "error",
    "missing": "error",
    "not_callable": "error",
    "exit": "error",
}

#: Characters kept of each text field of a diagnosis.
DIAGNOSIS_TEXT_LIMIT = 300

#: What the sandbox's stand-in for a withheld reference says when it is called.
WITHHELD_MESSAGE = "is withheld while your notebook is graded"

#: The diagnosis of a function that called a withheld reference instead of computing.
WITHHELD_HINT = (
    "the function calls the course library's own implementation (withheld while "
    "grading) instead of computing the result itself"
)

#: Makes ``exit()``/``quit()`` in a notebook cell raise SystemExit (which IPython
#: reports as the cell's error) instead of ending the kernel after the cell. A
#: convenience for careless notebooks, not a defence: the kernel decides nothing.
KEEP_KERNEL_ON_EXIT = (
    "--IPKernelApp.exec_lines="
    "get_ipython().ask_exit = lambda *args, **kwargs: exec('raise SystemExit')"
)

for _module in CHECK_MODULES:
    importlib.import_module(_module)


def grader_fingerprint() -> str:
    """A digest of everything in this process that decides a verdict.

    That is the source of every module of ``source_lib`` (the checks, the
    references they compare with, the judge, the collector, the sandbox) and
    the versions of ``source_lib``, NumPy and nbgrader. ``softsign-grade``
    regrades everyone when it changes, so a fixed check reaches every student.
    """
    import nbgrader

    import source_lib

    package = Path(source_lib.__file__).resolve().parent
    digest = hashlib.sha256()
    for version in (source_lib.__version__, np.__version__, nbgrader.__version__):
        digest.update(f"{version}\0".encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def is_autograded_test(cell: NotebookNode) -> bool:
    """Whether ``cell`` is an autograded test cell (a grade cell of code, not a solution)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


@dataclass(frozen=True)
class CheckCall:
    """One ``check_NAME(function, group)`` line of a test cell."""

    check: str
    target: str
    group: str


class UnjudgeableCell(ValueError):
    """A test cell holds code the judge cannot run outside the kernel."""


def parse_check_calls(source: str) -> list[CheckCall]:
    """Return the check calls of a test cell's source, in order.

    A test cell may hold a docstring, imports of check functions and calls
    ``check_NAME(function, "group")`` (the group may also be given as
    ``group="..."``). Anything else raises :class:`UnjudgeableCell`, since the
    judge decides outside the kernel and cannot run arbitrary code there.

    Examples
    --------
    >>> parse_check_calls('from source_lib.grading.exercises import check_softsign\\n'
    ...                   'check_softsign(softsign, "values")')
    [CheckCall(check='check_softsign', target='softsign', group='values')]
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise UnjudgeableCell(f"the test cell is not valid Python ({error.msg})") from None
    calls = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in CHECK_MODULES:
            continue
        if isinstance(node, ast.Import) and all(a.name in CHECK_MODULES for a in node.names):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = _check_call(node.value)
            if call is not None:
                calls.append(call)
                continue
        raise UnjudgeableCell(
            f"line {node.lineno} of the test cell is not a check call the judge knows"
        )
    if not calls:
        raise UnjudgeableCell("the test cell calls no check")
    return calls


def check_calls(source: str) -> list[CheckCall]:
    """The check calls of a test cell's ``source``, or none when it cannot be judged."""
    try:
        return parse_check_calls(source)
    except UnjudgeableCell:
        return []


def _check_call(node: ast.Call) -> CheckCall | None:
    if not (isinstance(node.func, ast.Name) and node.func.id in CHECKS):
        return None
    arguments = list(node.args)
    keywords = {keyword.arg: keyword.value for keyword in node.keywords}
    if "func" in keywords:
        arguments.insert(0, keywords.pop("func"))
    if "group" in keywords:
        arguments.append(keywords.pop("group"))
    if keywords or not 1 <= len(arguments) <= 2 or not isinstance(arguments[0], ast.Name):
        return None
    group = "values"
    if len(arguments) == 2:
        if not (isinstance(arguments[1], ast.Constant) and isinstance(arguments[1].value, str)):
            return None
        group = arguments[1].value
    return CheckCall(node.func.id, arguments[0].id, group)


@dataclass
class Verdict:
    """The judge's decision on one test cell."""

    passed: bool
    message: str = ""  # the failure as the student reads it
    reason: str = ""  # "" when decided, else why there is no verdict
    call: CheckCall | None = None  # the check call that decided (the failing one)
    withheld: bool = False  # the failing call reached a reference withheld in the sandbox
    failure: Failure | None = None  # the failure as data, when a check failed

    @classmethod
    def failed(cls, error: CheckFailure, call: CheckCall, *, withheld: bool = False) -> Verdict:
        """The verdict of a check that raised ``error``: its message and its fields."""
        return cls(False, message=str(error), call=call, withheld=withheld, failure=error.failure)

    def outputs(self) -> list[NotebookNode]:
        """The cell's outputs: none for a pass, one error output otherwise."""
        if self.passed:
            return []
        ename = "CheckFailure" if not self.reason else "NoVerdict"
        text = self.message if not self.reason else self.reason
        return [
            nbformat.v4.new_output(
                "error",
                ename=ename,
                evalue=text,
                traceback=[f"\x1b[31m{ename}\x1b[39m: {text}"],
            )
        ]


def _no_verdict(reason: str, call: CheckCall | None = None) -> Verdict:
    return Verdict(False, reason=f"no verdict, so no points: {reason}", call=call)


def _capped(text: str | None) -> str | None:
    return None if text is None else shorten(str(text), DIAGNOSIS_TEXT_LIMIT)


def diagnosis(verdict: Verdict, calls: list[CheckCall]) -> dict[str, Any]:
    """The judge's record of one test cell, stored in ``cell.metadata["softsign"]``.

    Keys: ``version``; ``verdict``, one of

    ``"pass"``
        every check passed;
    ``"fail"``
        a check failed on a wrong answer (a wrong value, shape or type, a
        modified input, a missing ``return``);
    ``"not_attempted"``
        the student's function still raises ``NotImplementedError``;
    ``"error"``
        the function raised another exception, is not defined, or stopped Python;
    ``"timeout"``
        a call ran out of time, or the cell out of its budget;
    ``"no_verdict"``
        the judge could not decide (the kernel died, its answer was unreadable,
        the cell is not one the judge can run);

    ``check`` and ``function`` (the check call that decided, or the cell's
    first); then the fields of the check's
    :class:`~source_lib.grading.messages.Failure`, taken from the failure
    itself, never from its message: ``kind`` (one of
    :data:`source_lib.grading.messages.KINDS`, or None), ``mistake`` (the
    stable name of the mistake the hint explains, or None), ``error`` (the
    exception's class name, or None), ``problem`` (the message's first line
    without the function name, or why there is no verdict), ``hint`` (or
    None) and ``example``, the ``input``, ``expected`` and ``got`` the
    message shows (a hidden case has only its input's kind).

    A failure with a hint is a *diagnosed* mistake: the hint comes from one of
    the checks' models of a wrong answer (:class:`source_lib.grading.messages.Mistake`) or
    from one of their rules (wrong only for negative inputs, nan at 0, a
    scalar-only function given an array...). A failure without a hint is one
    the checks could not name. A function that reached one of ``source_lib``'s
    implementations, withheld in the sandbox (where it raises
    ``NotImplementedError``), is a ``"fail"`` of kind ``"withheld"`` with
    :data:`WITHHELD_HINT`, not ``"not_attempted"``. Every text is capped at
    :data:`DIAGNOSIS_TEXT_LIMIT` characters.
    """
    call = verdict.call or (calls[0] if calls else None)
    record: dict[str, Any] = {
        "version": DIAGNOSIS_VERSION,
        "verdict": "pass",
        "check": call.check if call else None,
        "function": call.target if call else None,
        "kind": None,
        "mistake": None,
        "error": None,
        "problem": None,
        "hint": None,
        "example": {},
    }
    if verdict.passed:
        return record
    if verdict.reason or verdict.failure is None:
        reason = verdict.reason or "the check failed without saying why"
        budget = "did not finish within its budget" in reason
        record["verdict"] = "timeout" if budget else "no_verdict"
        record["problem"] = _capped(reason.removeprefix("no verdict, so no points: "))
        return record
    failure = _withheld(verdict.failure) if verdict.withheld else verdict.failure
    fields = failure.as_record()
    record["verdict"] = KIND_VERDICTS.get(failure.kind, "fail")
    for key in ("kind", "mistake", "error", "problem", "hint"):
        record[key] = _capped(fields[key])
    record["example"] = {
        key: _capped(fields[key]) for key in ("input", "expected", "got") if fields[key] is not None
    }
    return record


def _withheld(failure: Failure) -> Failure:
    """A failure that reached a withheld reference, as the diagnosis records it."""
    return replace(
        failure,
        kind="withheld",
        problem="called a withheld reference",
        expected=None,
        got=None,
        hint=WITHHELD_HINT,
        mistake="withheld_reference",
        error=None,
    )


class JudgedExecute(Execute):
    """nbgrader's ``Execute`` whose autograded test cells are decided by the judge."""

    raise_on_iopub_timeout = Bool(
        False, help="A slow ungraded cell must not abort the submission."
    ).tag(config=True)

    cell_output_limit = Integer(
        200_000,
        help="Bytes of output kept per cell; the rest is dropped with a note.",
    ).tag(config=True)

    notebook_output_limit = Integer(
        4_000_000,
        help="Bytes of output kept for all of a notebook's ordinary cells together; beyond "
        "it, every cell's further output is dropped with a note.",
    ).tag(config=True)

    max_restarts = Integer(
        3,
        help="Kernel restarts per notebook after a dead kernel or a timeout.",
    ).tag(config=True)

    interrupt_grace = Float(
        5.0,
        help="Seconds an interrupted kernel has to answer after a timeout; a kernel that "
        "answers is kept, with the definitions it holds, as stock nbgrader keeps it; one that "
        "does not is restarted.",
    ).tag(config=True)

    call_time_limit = Integer(
        int(CALL_TIME_LIMIT),
        help="Seconds each call of a student's function may take in a test cell. "
        "A test cell's budget is this times its number of calls, plus a margin.",
    ).tag(config=True)

    # Traits of nbclient's NotebookClient, declared here for the type checker only.
    extra_arguments: list[str]
    timeout: int
    kc: Any

    def __init__(self, **kwargs: Any) -> None:
        if "kernel_manager_class" not in kwargs:
            from softsign_grader.sandbox import kernel_manager_class

            kwargs["kernel_manager_class"] = kernel_manager_class()
        super().__init__(**kwargs)

    # -- the notebook ------------------------------------------------------

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: Any = None
    ) -> tuple[NotebookNode, Any]:
        """Run the notebook; judge its test cells."""
        self._random = np.random.default_rng(secrets.randbits(128))
        self._replayable: list[int] = []
        self._restarts = 0
        self._dead = False
        self._output_bytes: dict[int, int] = {}
        self._notebook_bytes = 0
        self._output_dropped: set[int] = set()
        self._work_source = _submitted_folder(self, resources)
        for cell in nb.cells:  # only the judge writes diagnoses
            metadata = cell.get("metadata")
            if isinstance(metadata, dict):
                metadata.pop(DIAGNOSIS_KEY, None)
        self._withheld = sorted(
            {
                name
                for cell in nb.cells
                if is_autograded_test(cell)
                for call in check_calls(cell.source)
                for name in CHECKS[call.check].withholds
            }
        )
        saved_arguments = list(self.extra_arguments)
        self.extra_arguments = [*saved_arguments, KEEP_KERNEL_ON_EXIT]
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            self.extra_arguments = saved_arguments

    def create_kernel_manager(self) -> Any:
        """The kernel manager, told which references this notebook's tests withhold."""
        km = super().create_kernel_manager()
        if hasattr(km, "withheld"):
            km.withheld = self._withheld
        if hasattr(km, "work_source"):  # the submitted files, never the autograded notebook
            km.work_source = self._work_source
        return km

    def preprocess_cell(
        self, cell: NotebookNode, resources: Any, index: int
    ) -> tuple[NotebookNode, Any]:
        """Run an ordinary cell in the kernel; judge a test cell outside it."""
        if cell.cell_type != "code":
            return cell, resources
        if is_autograded_test(cell):
            verdict = self._judge(cell, index)
            cell.outputs = verdict.outputs()
            cell.execution_count = None
            cell.metadata[DIAGNOSIS_KEY] = diagnosis(verdict, check_calls(cell.source))
            if not verdict.passed:
                self.log.info(
                    "Test cell %s: %s",
                    cell.metadata.nbgrader.get("grade_id"),
                    (verdict.reason or verdict.message).splitlines()[0],
                )
            return cell, self.resources
        if self._dead:
            cell.outputs = [_note("not run: the kernel died too often in this notebook")]
            return cell, self.resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_note("the kernel died while running this cell"))
            self._recover()
            return cell, self.resources
        if not _timed_out(cell) or self._kernel_answers():
            # A kernel that answers after the interrupt keeps what the cell defined.
            self._replayable.append(index)
        else:
            self._recover()
        return cell, resources

    # -- judging a test cell -----------------------------------------------

    def _judge(self, cell: NotebookNode, index: int) -> Verdict:
        try:
            calls = parse_check_calls(cell.source)
        except UnjudgeableCell as error:
            self.log.error("Test cell %s: %s", cell.metadata.nbgrader.get("grade_id"), error)
            return _no_verdict(str(error))
        if self._dead:
            return _no_verdict("the kernel died too often in this notebook")
        plans = []
        for call in calls:
            seed = int(self._random.integers(2**63))
            planner = Planner(seed, call.target)
            try:
                with session(planner):
                    CHECKS[call.check](None, call.group)
            except CheckFailure as failure:  # the reference failed its own check: a course bug
                self.log.error("The judge cannot plan %s: %s", call.check, failure)
                return _no_verdict(f"{call.check} could not be planned", call)
            plans.append((call, seed, planner.calls))
        requested = [entry for _, _, entries in plans for entry in entries]
        outcomes = self._collect(requested, index)
        if isinstance(outcomes, str):
            return _no_verdict(outcomes)
        start = 0
        for call, seed, entries in plans:
            replayer = Replayer(seed, outcomes[start : start + len(entries)])
            start += len(entries)
            try:
                with session(replayer):
                    CHECKS[call.check](None, call.group)
            except CheckFailure as failure:
                last = replayer.outcomes[replayer.used - 1] if replayer.used else None
                withheld = (
                    last is not None
                    and last.kind == "not_implemented"
                    and WITHHELD_MESSAGE in (last.message or "")
                )
                return Verdict.failed(failure, call, withheld=withheld)
            except ReplayMismatch as error:
                return _no_verdict(f"the kernel's answers did not match the calls ({error})", call)
            if replayer.used != len(entries):
                return _no_verdict("the kernel's answers did not match the calls", call)
        return Verdict(True)

    def _collect(self, requested: list[dict[str, Any]], index: int) -> list[Any] | str:
        """Run the calls in the kernel; return their outcomes, or why there are none."""
        nonce = secrets.token_hex(8)
        request = json.dumps(
            {"nonce": nonce, "time_limit": self.call_time_limit, "calls": requested}
        )
        source = (
            f"_softsign_collector = {{}}\n"
            f"exec(compile({COLLECTOR_SOURCE!r}, 'softsign_collector', 'exec'), "
            f"_softsign_collector)\n"
            f"_softsign_collector['run']({request!r}, globals())\n"
            f"del _softsign_collector\n"
        )
        scratch = nbformat.v4.new_code_cell(source)
        original = self.nb.cells[index]
        saved_timeout = self.timeout
        self.timeout = self.call_time_limit * max(1, len(requested)) + 10
        try:
            self.execute_cell(scratch, index, store_history=False)
        except DeadKernelError:
            self._recover()
            return "the kernel died while the test ran"
        finally:
            self.timeout = saved_timeout
            self.nb.cells[index] = original  # execute_cell stored the scratch cell there
        if _timed_out(scratch):
            budget = self.call_time_limit * max(1, len(requested)) + 10
            if not self._kernel_answers():
                self._recover()
            return f"the test did not finish within its budget of {budget}s"
        for output in scratch.outputs:
            data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
            text = data.get(collector.MIME_TYPE)
            if not isinstance(text, str) or len(text) > 64 * 2**20:
                continue
            try:
                document = json.loads(text)
                if not isinstance(document, dict) or document.get("nonce") != nonce:
                    continue
                raw = document.get("outcomes")
                if not isinstance(raw, list) or len(raw) != len(requested):
                    return "the kernel's answer had the wrong number of results"
                return [collector.outcome_from_wire(item) for item in raw]
            except (ValueError, TypeError, collector.WireError) as error:
                return f"the kernel's answer could not be read ({shorten(str(error))})"
        return "the kernel returned no results (did the notebook stop the kernel?)"

    # -- keeping a broken notebook going ------------------------------------

    def _kernel_answers(self) -> bool:
        """Whether the kernel, interrupted after a timeout, answers within the grace period."""
        if self.kc is None or self.km is None:
            return False
        try:
            return bool(run_sync(self._async_kernel_answers)())
        except Exception:  # a kernel that is gone does not answer
            return False

    async def _async_kernel_answers(self) -> bool:
        if not await ensure_async(self.km.is_alive()):
            return False
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + self.interrupt_grace
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    def _recover(self) -> None:
        """Restart the kernel and rerun the ordinary cells that ran before."""
        if getattr(self.km, "wall_clock_left", None) == 0:
            self._dead = True
            self.log.warning("The notebook's wall-clock limit ran out; the rest scores 0")
            return
        if self._restarts >= self.max_restarts:
            self._dead = True
            self.log.warning("The kernel died or timed out too often; the rest scores 0")
            return
        self._restarts += 1
        self.log.warning("Restarting the kernel (restart %d)", self._restarts)
        try:
            run_sync(self._async_restart)()
        except Exception as error:  # a kernel that cannot start again
            self.log.error("The kernel could not be restarted: %s", error)
            self._dead = True
            return
        for earlier in list(self._replayable):
            original = self.nb.cells[earlier]
            scratch = nbformat.from_dict(original)
            scratch.outputs = []
            try:
                self.execute_cell(scratch, earlier, store_history=False)
            except DeadKernelError:
                self._dead = True
                return
            finally:
                self.nb.cells[earlier] = original
            if _timed_out(scratch):
                # Replayed once, timed out again: never replayed a third time.
                self._replayable.remove(earlier)
                if not self._kernel_answers():
                    self._recover()
                    return

    async def _async_restart(self) -> None:
        assert self.km is not None
        if self.kc is not None:
            await ensure_async(self.kc.stop_channels())
        await ensure_async(self.km.restart_kernel(now=True))
        self.kc = self.km.client()
        await ensure_async(self.kc.start_channels())
        await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        self.kc.allow_stdin = False

    # -- outputs -----------------------------------------------------------

    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        """Keep at most :attr:`cell_output_limit` bytes of an ordinary cell's output, and
        :attr:`notebook_output_limit` bytes of all ordinary cells together.

        While a test cell's calls run, only the collector's document is kept
        (what the student's function prints is of no use to the judge), and
        only the first few of those.
        """
        if self._is_test(cell_index):
            data = msg.get("content", {}).get("data") or {}
            collected = sum(1 for out in outs if collector.MIME_TYPE in out.get("data", {}))
            if msg.get("msg_type") != "display_data" or collector.MIME_TYPE not in data:
                return None
            if collected >= 4:
                return None
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._output_bytes.get(cell_index, 0)
        self._output_bytes[cell_index] = used + size
        self._notebook_bytes += size
        if used + size <= self.cell_output_limit:
            if self._notebook_bytes <= self.notebook_output_limit:
                return super().output(outs, msg, display_id, cell_index)
            limit, where = self.notebook_output_limit, "in this notebook"
        else:
            limit, where = self.cell_output_limit, "in this cell"
        if cell_index not in self._output_dropped:  # one note per cell
            self._output_dropped.add(cell_index)
            outs.append(
                nbformat.v4.new_output(
                    "stream",
                    name="stdout",
                    text=f"\n[output beyond {limit} bytes {where} was dropped]\n",
                )
            )
        return None

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        """Never let a display update reach a test cell's output."""
        cells = self._display_id_map.get(display_id, {})
        for cell_index in [i for i in cells if self._is_test(i)]:
            del cells[cell_index]
        super()._update_display_id(display_id, msg)

    def _is_test(self, cell_index: int) -> bool:
        cells = self.nb.cells
        return 0 <= cell_index < len(cells) and is_autograded_test(cells[cell_index])


def _submitted_folder(preprocessor: Any, resources: Any) -> str | None:
    """The student's submitted folder of this notebook, from nbgrader's converter, if known."""
    info = (resources or {}).get("nbgrader", {}) if isinstance(resources, dict) else {}
    exporter = getattr(preprocessor, "parent", None)
    coursedir = getattr(getattr(exporter, "parent", None), "coursedir", None)
    student, assignment = info.get("student"), info.get("assignment")
    if coursedir is None or not student or not assignment:
        return None
    folder = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    return folder if os.path.isdir(folder) else None


def _timed_out(cell: NotebookNode) -> bool:
    return any(
        output.get("output_type") == "error" and output.get("ename") == TIMEOUT_ENAME
        for output in cell.get("outputs", [])
    )


def _note(text: str) -> NotebookNode:
    return nbformat.v4.new_output(
        "error", ename="GradingNote", evalue=text, traceback=[f"GradingNote: {text}"]
    )
