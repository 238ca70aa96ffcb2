"""Deciding a test cell outside the kernel: its checks planned, replayed and recorded.

For each check call of a test cell (:mod:`softsign_grader.cell_checks`), the
judge draws a seed and *plans* the check in this process
(:func:`plan_checks`): which calls of the student's function it needs, on
which inputs (:mod:`source_lib.grading.replay`). Once the kernel has run those
calls, the check runs again in this process on the outcomes, against its own
reference (:func:`replay_checks`), and gives a :class:`Verdict`: a pass, the
check's failure, or no verdict and why. :func:`diagnosis` turns a verdict into
the small JSON-safe record the judge stores in the cell's metadata for the
instructor's class report (:mod:`softsign_grader.report`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
from nbformat.notebooknode import NotebookNode

from softsign_grader.cell_checks import CheckCall
from source_lib.grading.formatting import shorten
from source_lib.grading.framework import CHECKS, CheckFailure
from source_lib.grading.messages import WITHHELD_HINT, WITHHELD_MARKER, Failure
from source_lib.grading.replay import Planner, Replayer, ReplayMismatch, session

__all__ = [
    "DIAGNOSIS_TEXT_LIMIT",
    "DIAGNOSIS_VERSION",
    "KIND_VERDICTS",
    "WITHHELD_HINT",
    "WITHHELD_MESSAGE",
    "Plan",
    "Verdict",
    "diagnosis",
    "grader_fingerprint",
    "no_verdict",
    "plan_checks",
    "replay_checks",
]

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

#: What the sandbox's stand-in for a withheld reference says when it is called (the words
#: of :mod:`source_lib.grading.messages`, which the visible tests use too).
WITHHELD_MESSAGE = WITHHELD_MARKER


def grader_fingerprint() -> str:
    """A digest of everything in this process that decides a verdict.

    That is the source of every module of both packages: ``source_lib`` (the
    checks, the references they compare with, the collector) and
    ``softsign_grader`` (the judge, the repairs, the sandbox, the nbgrader
    plugins, the late penalty), and the versions of ``source_lib``, NumPy and
    nbgrader. ``softsign-grade`` regrades everyone when it changes, so a fixed
    check or grading step reaches every student.
    """
    import nbgrader

    import softsign_grader
    import source_lib

    digest = hashlib.sha256()
    for version in (source_lib.__version__, np.__version__, nbgrader.__version__):
        digest.update(f"{version}\0".encode())
    for module in (source_lib, softsign_grader):
        package = Path(str(module.__file__)).resolve().parent
        for path in sorted(package.rglob("*.py")):
            relative = f"{package.name}/{path.relative_to(package).as_posix()}"
            digest.update(relative.encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


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
        """The verdict of a check that raised ``error``: its message and its fields.

        ``withheld`` is true, whatever is passed, for a failure of kind ``"withheld"``.
        """
        withheld = withheld or error.failure.kind == "withheld"
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


def no_verdict(reason: str, call: CheckCall | None = None) -> Verdict:
    """The verdict of a cell the judge could not decide, and why: it scores 0."""
    return Verdict(False, reason=f"no verdict, so no points: {reason}", call=call)


@dataclass(frozen=True)
class Plan:
    """One check call planned: its seed and the calls of the student's function it needs."""

    call: CheckCall
    seed: int
    requests: list[dict[str, Any]]


def plan_checks(
    calls: list[CheckCall], random: np.random.Generator, log: Any
) -> list[Plan] | Verdict:
    """Plan each check call with a fresh seed drawn from ``random``.

    Returns the plans, in order, or no verdict when a check cannot be planned
    (its reference failed its own check: a course bug, logged to ``log``).
    """
    plans = []
    for call in calls:
        seed = int(random.integers(2**63))
        planner = Planner(seed, call.target)
        try:
            with session(planner):
                CHECKS[call.check](None, call.group)
        except CheckFailure as failure:  # the reference failed its own check: a course bug
            log.error("The judge cannot plan %s: %s", call.check, failure)
            return no_verdict(f"{call.check} could not be planned", call)
        plans.append(Plan(call, seed, planner.calls))
    return plans


def replay_checks(plans: list[Plan], outcomes: list[Any]) -> Verdict:
    """Run each planned check again on the kernel's ``outcomes`` (all plans' calls, in order)."""
    start = 0
    for plan in plans:
        replayer = Replayer(plan.seed, outcomes[start : start + len(plan.requests)])
        start += len(plan.requests)
        try:
            with session(replayer):
                CHECKS[plan.call.check](None, plan.call.group)
        except CheckFailure as failure:
            return Verdict.failed(failure, plan.call)
        except ReplayMismatch as error:
            return no_verdict(f"the kernel's answers did not match the calls ({error})", plan.call)
        if replayer.used != len(plan.requests):
            return no_verdict("the kernel's answers did not match the calls", plan.call)
    return Verdict(True)


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
    :data:`~source_lib.grading.messages.WITHHELD_HINT`, not ``"not_attempted"``:
    the check itself classifies it so
    (:func:`~source_lib.grading.messages.outcome_failure`), with the words a
    visible test uses for it. Every text is capped at
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
    failure = verdict.failure
    if verdict.withheld and failure.kind != "withheld":
        failure = _withheld(failure)
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
