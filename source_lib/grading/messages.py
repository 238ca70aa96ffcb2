"""The words a student reads when a check fails: why did this cell score 0?

A failure message is short and always has the same shape::

    softsign: wrong value
      input:    x = -3.0
      expected: -0.75
      got:      1.5
      hint:     right for x >= 0 but wrong for negative x: is the absolute value
                missing from the denominator?

The first line names the function and the problem, the fields below say
what it was given, what it should have returned and what it did return
(:func:`failure_message`), each wrapped to :data:`MESSAGE_WIDTH`
(:func:`field`), values rendered by :func:`format_value`: how values and
fields read is :mod:`source_lib.grading.formatting`. While a hidden
group runs, the input is only described (:func:`hidden_description`), and
neither the expected nor the returned value is shown, so hidden cases stay
hidden.

The hint comes from one of these, first match wins:

* what went wrong when the function was called (:func:`outcome_problem`: not
  defined, not implemented, too slow, an exception, for which
  :func:`hint_for_exception` knows the usual causes: a ``math`` function
  given an array, ``if x < 0`` on an array, a Python loop over a scalar, a
  Python float overflowing in ``**``...);
* the shape, the dtype, or a modified input (:func:`shape_hint`,
  :func:`integer_hint`, :func:`read_only_hint`);
* a model of a common wrong answer (:class:`Mistake`, matched by
  :func:`matching_mistake`), or a rule on where the wrong values lie (only at
  0, only for negative inputs, nan: :func:`elementwise_hint`).

When the student's function raises, the first line gives the exception in
full (its class and its whole message), ``where:`` the student's own line it
came from (:func:`source_lib.grading.collector.student_line`), and the hint
names the usual cause (``^`` for ``**``, ``if x < 0`` or a loop over an array,
an integer array to a negative integer power...). A function that calls the
course library's own implementation of an exercise of its notebook fails with
the words grading uses (:data:`WITHHELD_NOTICE`, :data:`WITHHELD_HINT`): while
a check calls the student's function in JupyterLab, those implementations raise
as their stand-ins do in the grading kernel
(:func:`source_lib.grading.withholding.library_withheld`). A check that passes
says so in one line, :func:`pass_line`.

Warnings: the one rule
----------------------
A check judges the values a function returns, never the warnings it gives:
warnings are ignored and floating-point errors silenced while the student's
function runs, in JupyterLab and in the grader alike (the same code), so a
warning never costs a point and never fails a visible test. Where an overflow
or 0/0 makes a value wrong inside an exercise's domain (inf or nan where the
true value is finite), that wrong value fails the check, as any wrong value
does; ``1 / np.cosh(x)**2`` and ``1 / (1 + np.abs(x))**2``, which warn for huge
``|x|`` but return the right value (0), pass.

A failure is data first: a :class:`Failure` holds its kind (:data:`KINDS`),
problem, input, expected and returned values, hint and the name of the mistake
that hint explains, as the check found them. :meth:`Failure.render` turns it
into the text above, once, for the student; the judge
(:mod:`softsign_grader.judge`) records the fields themselves.

The hints for an exception are :mod:`source_lib.grading.hints`, the models of
mistakes :mod:`source_lib.grading.mistakes` and the rendering of values and fields
:mod:`source_lib.grading.formatting`; this module exports their names too.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from source_lib.grading.collector import Outcome
from source_lib.grading.formatting import (
    INDENT,
    MESSAGE_WIDTH,
    field,
    format_inputs,
    format_value,
    hidden_description,
    shorten,
    wrap,
)
from source_lib.grading.hints import (
    example,
    exception_diagnosis,
    hint_for_exception,
    loop_hint,
    overflow_hint,
    read_only_hint,
)
from source_lib.grading.mistakes import Mistake, elementwise_hint, matching_mistake, model_rtol

__all__ = [
    "INDENT",
    "KINDS",
    "MESSAGE_WIDTH",
    "NOT_TAUGHT",
    "PASS_LINE",
    "WITHHELD_HINT",
    "WITHHELD_MARKER",
    "WITHHELD_NOTICE",
    "Failure",
    "Mistake",
    "elementwise_hint",
    "example",
    "exception_diagnosis",
    "failure",
    "failure_message",
    "field",
    "format_inputs",
    "format_value",
    "hidden_cases",
    "hidden_description",
    "hint_for_exception",
    "in_hidden_group",
    "integer_hint",
    "internal_error",
    "internal_error_message",
    "loop_hint",
    "matching_mistake",
    "model_rtol",
    "modified_input",
    "modified_input_message",
    "outcome_failure",
    "outcome_problem",
    "overflow_hint",
    "pass_line",
    "read_only_hint",
    "shape_hint",
    "shorten",
    "withheld_name",
]

#: What can go wrong in a check (a :attr:`Failure.kind`), and how a report names it.
KINDS = {
    "wrong_value": "wrong value",
    "wrong_shape": "wrong shape",
    "wrong_type": "wrong type",
    "modified_input": "modified its input",
    "uncheckable": "could not be checked",
    "invalid_check": "the test cell calls its check wrongly",
    "not_implemented": "not implemented",
    "raised": "raised an exception",
    "missing": "not defined",
    "not_callable": "not a function",
    "exit": "stopped Python",
    "timeout": "did not finish in time",
    "withheld": "called a withheld reference",
}

#: Kinds of failure that are no misconception to teach: the code stopped, vanished or cheated.
NOT_TAUGHT = frozenset({"exit", "missing", "withheld"})

#: The one line a passing check prints in the student's notebook (:func:`pass_line`).
PASS_LINE = "{check} passed: {count} {inputs}."

#: What a withheld function of ``source_lib`` says when it is called.
WITHHELD_MARKER = "is withheld while your notebook is graded"

#: The message of a withheld function's stand-in (``name`` is the function's name): the
#: grading kernel's stub (:mod:`softsign_grader.edition`) and, while a check calls the
#: student's function in JupyterLab, the library's own function.
WITHHELD_NOTICE = (
    "source_lib.{name} " + WITHHELD_MARKER + ": the grade is for your own implementation"
)

#: The hint of a function that called the course library's implementation of an exercise.
WITHHELD_HINT = (
    "the grade is for your own code: while your notebook is graded, source_lib's "
    "implementations of its exercises are withheld, and a function that calls one "
    "scores 0. Compute the result yourself"
)

_WITHHELD_NAME = re.compile(r"source_lib\.([\w.]+) " + re.escape(WITHHELD_MARKER))


def pass_line(check: str, count: int) -> str:
    """The line a passing check prints: which check, and how many inputs it tried.

    Examples
    --------
    >>> pass_line("check_softsign", 41)
    'check_softsign passed: 41 inputs.'
    """
    return PASS_LINE.format(check=check, count=count, inputs="input" if count == 1 else "inputs")


def withheld_name(message: str) -> str | None:
    """The function named by a withheld function's message (:data:`WITHHELD_NOTICE`), or None.

    Examples
    --------
    >>> withheld_name(WITHHELD_NOTICE.format(name="softsign"))
    'softsign'
    >>> withheld_name("not implemented") is None
    True
    """
    found = _WITHHELD_NAME.search(message or "")
    return None if found is None else found.group(1)


#: True while a check runs its hidden group: messages then describe the
#: failing input instead of printing it, so hidden cases stay hidden.
_HIDDEN_GROUP: contextvars.ContextVar[bool] = contextvars.ContextVar("hidden", default=False)


@contextlib.contextmanager
def hidden_cases(hidden: bool) -> Iterator[None]:
    """Inside the block, messages show hidden cases (``hidden=True``) without their values."""
    token = _HIDDEN_GROUP.set(hidden)
    try:
        yield
    finally:
        _HIDDEN_GROUP.reset(token)


def in_hidden_group() -> bool:
    """Whether the running check is running a hidden group."""
    return _HIDDEN_GROUP.get()


@dataclass(frozen=True)
class Failure:
    """A failed check, as data: what went wrong, on what, and the hint that explains it.

    Attributes
    ----------
    kind : str
        What went wrong, one of :data:`KINDS`.
    function : str
        The graded function's name (the message's first word).
    problem : str
        The message's first line after the name, e.g. ``"wrong value"``.
    input, expected, got : str or None
        The rendered input, right value and returned value, where the message
        shows them (a hidden case shows only what kind of input it was).
    hint : str or None
        The advice the student reads, or None when the check could not name the mistake.
    mistake : str or None
        A stable name of the mistake the hint explains (``"wrong_shape"``,
        ``"scalar_only_function"``...), or None: rewording a hint keeps it.
    error : str or None
        The exception's class name, for ``kind == "raised"``.
    details : tuple of (label, text)
        Further lines shown to the student after the input (the first wrong
        element, an input before and after the call).
    """

    kind: str
    function: str
    problem: str
    input: str | None = None
    expected: str | None = None
    got: str | None = None
    hint: str | None = None
    mistake: str | None = None
    error: str | None = None
    details: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        """The message the student reads: ``NAME: PROBLEM``, then the fields, wrapped."""
        lines = [wrap(self.problem, f"{self.function}: ")]
        if self.input is not None:
            lines.append(field("input:", self.input))
        lines += [field(label, text) for label, text in self.details]
        if self.expected is not None:
            lines.append(field("expected:", self.expected))
        if self.got is not None:
            lines.append(field("got:", self.got))
        if self.hint:
            lines.append(field("hint:", self.hint))
        return "\n".join(lines)

    def with_hint(self, hint: str, mistake: str | None) -> Failure:
        """This failure with ``hint`` and ``mistake`` in place of its own."""
        return replace(self, hint=hint, mistake=mistake)

    def as_record(self) -> dict[str, str | None]:
        """The fields as plain data (without the student-only :attr:`details`)."""
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if item.name not in ("details", "function")
        }


def failure(
    name: str,
    problem: str,
    *,
    kind: str = "wrong_value",
    inputs: Mapping[str, Any] | None = None,
    expected: Any = None,
    got: Any = None,
    hint: str | None = None,
    mistake: str | None = None,
    error: str | None = None,
    show_values: bool = True,
    element: Mapping[str, Any] | None = None,
) -> Failure:
    """The :class:`Failure` of a check of ``name``, its values rendered for the student.

    In a hidden group the input is described, not shown, and neither value is.
    A hint without a ``mistake`` names a wrong-value pattern (``"value_pattern"``).

    Examples
    --------
    >>> failure("f", "wrong value", inputs={"x": 1.0}, expected=0.5, got=0.4).input
    'x = 1.0'
    """
    if hint and mistake is None:
        mistake = "value_pattern"
    shown = None if in_hidden_group() or not show_values else (expected, got)
    details: tuple[tuple[str, str], ...] = ()
    if in_hidden_group():
        described = ", ".join(
            f"{key} = {hidden_description(value)}" for key, value in (inputs or {}).items()
        )
        text = f"a hidden case ({described})" if inputs else None
    else:
        text = format_inputs(inputs) if inputs else None
        if element:
            details = (("first wrong element:", format_inputs(element)),)
    return Failure(
        kind,
        name,
        problem,
        input=text,
        expected=None if shown is None else format_value(shown[0]),
        got=None if shown is None else format_value(shown[1]),
        hint=hint or None,
        mistake=mistake if hint else None,
        error=error,
        details=details,
    )


def failure_message(name: str, problem: str, **options: Any) -> str:
    """The rendered message of :func:`failure` (same arguments).

    Examples
    --------
    >>> print(failure_message("f", "wrong value", inputs={"x": 1.0}, expected=0.5, got=0.4))
    f: wrong value
      input:    x = 1.0
      expected: 0.5
      got:      0.4
    """
    return failure(name, problem, **options).render()


def _outcome_diagnosis(outcome: Outcome, name: str, time_limit: float) -> tuple[str, str]:
    """The problem and hint for a call that did not return or raise (``outcome.kind``)."""
    if outcome.kind == "missing":
        return (
            "is not defined",
            f"run the cell that defines `{name}` (and the Setup cell), then this test",
        )
    if outcome.kind == "not_callable":
        return (
            f"expected a function, got {outcome.error}",
            f"did you assign to `{name}` after defining it? Re-run its cell.",
        )
    if outcome.kind == "not_implemented":
        return "not implemented yet", (
            f"replace `raise NotImplementedError()` in `{name}` with your code, "
            "run that cell, then run this test again"
        )
    if outcome.kind == "timeout":
        return (
            f"did not finish within {time_limit:g} seconds",
            "is there an endless loop? A vectorised NumPy expression needs no loop at all",
        )
    return (
        "called sys.exit() (or exit()/quit())",
        "a graded function must return its result, not stop Python",
    )


#: The failure kind and mistake of each outcome of a call that returned no value.
_OUTCOME_KINDS = {
    "missing": ("missing", "undefined_function"),
    "not_callable": ("not_callable", "function_reassigned"),
    "not_implemented": ("not_implemented", "not_implemented"),
    "timeout": ("timeout", "endless_loop"),
    "exit": ("exit", "exit"),
}


def outcome_failure(
    outcome: Outcome, name: str, time_limit: float, inputs: Mapping[str, Any] | None
) -> Failure:
    """The failure of a call of ``name`` on ``inputs`` that returned no value.

    An exception is given in full, with the student's line it came from
    (``where:``); a call that reached a withheld implementation of the course
    library is a ``"withheld"`` failure, worded as grading words it.
    """
    called = withheld_name(outcome.message) if outcome.kind == "not_implemented" else None
    if called is not None:
        return failure(
            name,
            f"calls source_lib's own {called}",
            kind="withheld",
            inputs=inputs,
            hint=WITHHELD_HINT,
            mistake="withheld_reference",
            show_values=False,
        )
    if outcome.kind in _OUTCOME_KINDS:
        kind, mistake = _OUTCOME_KINDS[outcome.kind]
        problem, hint = _outcome_diagnosis(outcome, name, time_limit)
        return failure(
            name, problem, kind=kind, inputs=inputs, hint=hint, mistake=mistake, show_values=False
        )
    message = " ".join(outcome.message.split())
    problem = f"raised {outcome.error}: {message}" if message else f"raised {outcome.error}"
    found = exception_diagnosis(outcome.error, message, name, outcome.where)
    raised = failure(
        name,
        problem,
        kind="raised",
        inputs=inputs,
        hint=None if found is None else found[1],
        mistake=None if found is None else found[0],
        error=outcome.error,
        show_values=False,
    )
    where: Sequence[tuple[str, str]] = (("where:", outcome.where),) if outcome.where else ()
    return replace(raised, details=(*raised.details, *where))


def outcome_problem(outcome: Outcome, name: str, time_limit: float) -> tuple[str, str | None]:
    """The problem and hint for a call of ``name`` that returned no value."""
    found = outcome_failure(outcome, name, time_limit, None)
    return found.problem, found.hint


def internal_error(name: str, error: Exception) -> Failure:
    """The failure when a check itself failed on what the function returned."""
    return failure(
        name,
        f"could not be checked ({type(error).__name__}: "
        f"{shorten(str(error), max(24, 60 - len(name)))})",
        kind="uncheckable",
        hint="make sure it returns floats of the input's shape",
        mistake="uncheckable_result",
        show_values=False,
    )


def internal_error_message(name: str, error: Exception) -> str:
    """The message when a check itself failed on what the function returned."""
    return internal_error(name, error).render()


# ---------------------------------------------------------------------------
# Hints for a wrong result
# ---------------------------------------------------------------------------


def shape_hint(expected_shape: tuple[int, ...]) -> str:
    """The hint for a result of the wrong shape."""
    if expected_shape == ():
        return "a scalar input needs a scalar (or 0-d) result"
    return (
        "return one value per input element, in an array of the input's "
        "shape: a loop or list comprehension over x loses the shape, one NumPy "
        "expression on the whole array keeps it"
    )


def integer_hint(name: str) -> str:
    """The hint for a right result of integers, where the exercise asks for floats."""
    if name == "softsign_inverse":
        return (
            "return floating-point numbers, also for integer input: convert first "
            "with `y = np.asarray(y, dtype=float)`"
        )
    return (
        "return floating-point numbers, also for integer input: np.sign, np.abs "
        "and np.where(..., 1, -1) keep integers as integers. Convert first with "
        "`x = np.asarray(x, dtype=float)`, or write 1.0 and -1.0"
    )


def modified_input(
    name: str, inputs: Mapping[str, Any], before: np.ndarray, after: np.ndarray
) -> Failure:
    """The failure of a function that modified its input array (the first of ``inputs``)."""
    argument = next(iter(inputs))
    problem = f"modified its input array {argument}"
    if in_hidden_group():
        return failure(
            name,
            problem,
            kind="modified_input",
            inputs=inputs,
            hint=read_only_hint(name, argument),
            mistake="modified_input",
            show_values=False,
        )
    return Failure(
        "modified_input",
        name,
        problem,
        hint=read_only_hint(name, argument),
        mistake="modified_input",
        details=(
            (f"{argument} before the call:", format_value(before)),
            (f"{argument} after the call: ", format_value(after)),
        ),
    )


def modified_input_message(
    name: str, inputs: Mapping[str, Any], before: np.ndarray, after: np.ndarray
) -> str:
    """The message for a function that modified its input array (the first of ``inputs``)."""
    return modified_input(name, inputs, before, after).render()
