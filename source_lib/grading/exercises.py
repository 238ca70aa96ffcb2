"""The course's exercises and their checks: what each graded function must do.

Each exercise of the course has one check, called from the notebook's test
cells as ``check_NAME(NAME, group)``:

========================================  ==========================================
check                                     graded function (student's)
========================================  ==========================================
:func:`check_softsign`                    ``softsign(x)``
:func:`check_abs_derivative`              ``abs_derivative(x)``
:func:`check_softsign_derivative`         ``softsign_derivative(x)``
:func:`check_numerical_derivative`        ``numerical_derivative(f, x, h=1e-5)``
:func:`check_tanh_derivative`             ``tanh_derivative(x)``
:func:`check_softsign_inverse`            ``softsign_inverse(y)``
========================================  ==========================================

(notebook 05's ``softsign_layer_backward`` has its own module,
:mod:`source_lib.grading.network_exercise`; every exercise's notebook,
reference and withheld functions are listed in
:mod:`source_lib.grading.registry`.) A check returns ``None`` when the
function is right and raises :class:`CheckFailure` otherwise, with a short
message a student can act on: the input, the expected value, the value
returned, and a hint.

This module holds what is particular to each exercise: its reference, its
visible values, the range of its hidden ones, and its models of common
mistakes with their hints (for the element-wise exercises, each one
:class:`~source_lib.grading.elementwise._Elementwise` of
:mod:`source_lib.grading.elementwise`). The rest has one module each, built
on in the same way by every check:

* :mod:`source_lib.grading.framework`: how the student's function is called
  and its result compared (:func:`call_student`, :func:`compare`,
  :func:`check_function`, :data:`CHECKS`);
* :mod:`source_lib.grading.cases`: how visible and hidden inputs are chosen
  (:data:`GROUPS`, :func:`case_rng`);
* :mod:`source_lib.grading.messages`: the words of a failure, and its hint
  (:func:`format_value`, :class:`Mistake`).

What a check guarantees
-----------------------
* Every correct vectorised form passes (``np.where`` branches, ``np.sign``
  tricks, ``np.sqrt(x * x)`` for ``|x|``, ``1 / np.cosh(x)**2``...): values
  are compared with a relative tolerance and a small absolute one, never with
  ``==``, on inputs where every correct form is exact enough. A result must
  hold floating-point numbers (of any precision), also for integer input, as
  the exercises ask, and have the input's shape.
* A bug that shows only in arrays costs the arrays cell and not the values
  cell; the hidden groups hold the same kinds of input as the visible ones,
  with other values.
* Student code runs with warnings ignored, floating-point errors silenced and
  ``stdout``/``stderr`` captured; the judge ignores everything the kernel
  prints, so output never costs marks.
* Warnings never cost points: a check judges values, never warnings, in
  JupyterLab and in the grader alike. Where an overflow or 0/0 turns a value
  that is finite inside the exercise's domain into inf or nan, that wrong
  value fails, as any wrong value does (the rule, with its examples, is in
  :mod:`source_lib.grading.messages`).
* A function that calls the course library's own implementation of an
  exercise of its notebook fails the visible test with the words grading
  uses: while the check calls it, those implementations raise as they do in
  the grading kernel (:func:`~source_lib.grading.framework.library_withheld`).
* A check that passes prints one line, e.g. ``check_softsign passed: 21
  inputs.`` (:func:`~source_lib.grading.messages.pass_line`).
* Each call may take :data:`CALL_TIME_LIMIT` seconds; a longer one fails
  with a message saying so.
* The student sees the message, not a traceback: frames inside ``source_lib``
  are hidden from IPython and failures are raised ``from None``. When the
  student's function raised, the message gives the exception in full and the
  student's own line (``where:``), with a hint for the usual causes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from source_lib._types import Activation
from source_lib.grading.arithmetic import (
    absolute,
    array,
    asarray,
    quiet,
    sine,
    subtract,
    tanh,
)
from source_lib.grading.cases import (
    GROUPS,
    DerivativeCase,
    case_rng,
    copy_input,
    derivative_cases,
)
from source_lib.grading.collector import TEST_FUNCTIONS
from source_lib.grading.elementwise import (
    _ABS_DERIVATIVE,
    _SOFTSIGN,
    _SOFTSIGN_DERIVATIVE,
    _SOFTSIGN_INVERSE,
    _TANH_DERIVATIVE,
    _reference,
    _run_elementwise,
    _softsign_model,
)
from source_lib.grading.formatting import format_value
from source_lib.grading.framework import (
    CALL_TIME_LIMIT,
    CHECKS,
    CheckFailure,
    call_student,
    check_function,
    check_unchanged,
    compare,
    tolerances,
)
from source_lib.grading.messages import (
    Mistake,
    matching_mistake,
)

__all__ = [
    "CALL_TIME_LIMIT",
    "CHECKS",
    "GROUPS",
    "CheckFailure",
    "Mistake",
    "call_student",
    "case_rng",
    "check_abs_derivative",
    "check_function",
    "check_numerical_derivative",
    "check_softsign",
    "check_softsign_derivative",
    "check_softsign_inverse",
    "check_tanh_derivative",
    "compare",
    "format_value",
]


# ---------------------------------------------------------------------------
# The element-wise exercises (one input x, one output of the same shape)
# ---------------------------------------------------------------------------


# What the sandbox withholds while each check grades (the reference and its doors) is
# listed in source_lib.grading.registry, with the exercise's notebook and reference.


@check_function("softsign")
def check_softsign(func: Activation, group: str = "values") -> None:
    """Check a student's ``softsign(x) = x / (1 + |x|)``.

    Parameters
    ----------
    func : callable
        The student's ``softsign``.
    group : {"values", "arrays", "hidden"}
        Which cases to run (see the module docstring).

    Raises
    ------
    CheckFailure
        With the input, the expected value, the value returned and a hint.

    Examples
    --------
    >>> check_softsign(lambda x: x / (1 + x), "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: softsign: wrong value
      input:    x = -3.0
      expected: -0.75
      got:      1.5
      hint:     right for x >= 0 but wrong for negative x: is the absolute value
                missing from the denominator?
    """
    __tracebackhide__ = True
    _run_elementwise(_SOFTSIGN, func, group)


@check_function("abs_derivative")
def check_abs_derivative(func: Activation, group: str = "values") -> None:
    """Check a student's ``abs_derivative(x)``: -1 for x < 0, +1 for x > 0, 0 at 0.

    Parameters
    ----------
    func : callable
        The student's ``abs_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_abs_derivative(np.abs, "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: abs_derivative: wrong value
    ...
    """
    __tracebackhide__ = True
    _run_elementwise(_ABS_DERIVATIVE, func, group)


@check_function("softsign_derivative")
def check_softsign_derivative(func: Activation, group: str = "values") -> None:
    """Check a student's ``softsign_derivative(x) = 1 / (1 + |x|)**2``.

    Parameters
    ----------
    func : callable
        The student's ``softsign_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_softsign_derivative(lambda x: 1 / (1 + x) ** 2, "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: softsign_derivative: wrong value...

    The course library's own implementation is withheld while the student's
    function runs, as grading withholds it:

    >>> from source_lib import activations
    >>> check_softsign_derivative(lambda x: activations.softsign_derivative(x), "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: softsign_derivative: calls source_lib's own
    softsign_derivative
      input:    x = 3.0
      hint:     the grade is for your own code: while your notebook is graded,
                source_lib's implementations of its exercises are withheld, and a
                function that calls one scores 0. Compute the result yourself
    """
    __tracebackhide__ = True
    _run_elementwise(_SOFTSIGN_DERIVATIVE, func, group)


@check_function("tanh_derivative")
def check_tanh_derivative(func: Activation, group: str = "values") -> None:
    """Check a student's ``tanh_derivative(x) = 1 - tanh(x)**2 = (1 / cosh(x))**2``.

    Values are compared with a relative tolerance and an absolute one of
    1e-12, so ``1 - np.tanh(x)**2`` passes, although it cancels for large
    ``|x|`` (0 from ``|x|`` about 19, where the true value is below 1e-16); the
    hints recommend ``(1 / np.cosh(x))**2``, accurate on the whole line.

    Parameters
    ----------
    func : callable
        The student's ``tanh_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_tanh_derivative(lambda x: 1 - np.tanh(x), "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: tanh_derivative: wrong value...
    """
    __tracebackhide__ = True
    _run_elementwise(_TANH_DERIVATIVE, func, group)


@check_function("softsign_inverse")
def check_softsign_inverse(func: Activation, group: str = "values") -> None:
    """Check a student's ``softsign_inverse(y) = y / (1 - |y|)`` for -1 < y < 1.

    Parameters
    ----------
    func : callable
        The student's ``softsign_inverse``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_softsign_inverse(lambda y: y / (1 - y), "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: softsign_inverse: wrong value...
    """
    __tracebackhide__ = True
    _run_elementwise(_SOFTSIGN_INVERSE, func, group)


# ---------------------------------------------------------------------------
# numerical_derivative(f, x, h=1e-5)
# ---------------------------------------------------------------------------


class _Recorder:
    """A test function ``f`` that remembers where the student evaluated it."""

    def __init__(self, label: str) -> None:
        self.function = TEST_FUNCTIONS[label]
        self.label = label
        #: The collector's name of the test function, so the kernel can rebuild it.
        self.wire_name = label
        self.points: list[np.ndarray] = []

    def __call__(self, x: Any) -> Any:
        self.points.append(array(x, dtype=np.float64, copy=True).ravel())
        return self.function(x)

    def __repr__(self) -> str:
        return self.label


def _evaluated_at(recorder: _Recorder, targets: np.ndarray) -> bool:
    if not recorder.points or targets.size == 0:
        return False
    seen = np.concatenate(recorder.points)
    if seen.size == 0:
        return False
    for target in targets.ravel()[:20]:
        scale = max(1.0, abs(float(target)))
        if not bool((absolute(subtract(seen, target)) <= 1e-12 * scale).any()):
            return False
    return True


_CENTRED = "`(f(x + h) - f(x - h)) / (2 * h)`"

#: Wrong ways to combine f(x + h) and f(x - h): each model is called with
#: ``plus`` and ``minus``, f(x + h) and f(x - h), and the step ``h``.
_COMBINATIONS = (
    Mistake(
        lambda plus, minus, h: (minus - plus) / (2 * h),
        "the sign is flipped: that is (f(x - h) - f(x + h)) / (2h); subtract "
        f"f(x - h) from f(x + h): {_CENTRED}",
    ),
    Mistake(
        lambda plus, minus, h: (plus - minus) / 2 * h,
        "operator precedence: `/ 2 * h` divides by 2 and then multiplies by h; "
        f"put 2 * h in parentheses: {_CENTRED}",
    ),
    Mistake(
        lambda plus, minus, h: (plus - minus) / h,
        f"f was evaluated at x + h and x - h: divide their difference by 2h, not by h: {_CENTRED}",
    ),
    Mistake(
        lambda plus, minus, h: plus - minus,
        f"f was evaluated at x + h and x - h: divide their difference by 2h: {_CENTRED}",
    ),
    Mistake(
        lambda plus, minus, h: (plus - minus) / 2,
        f"the difference is divided by 2 but not by h: {_CENTRED}",
    ),
)


def _centred(function: Activation) -> Callable[[Any, float], Any]:
    return lambda x, h: (function(x + h) - function(x - h)) / (2 * h)


#: What a numerical_derivative that ignores its ``f`` may return: (the fixed
#: function it differentiates, the test function it is right for, a model of ``(x, h)``).
_FIXED_DERIVATIVES: tuple[tuple[str, str, Callable[[Any, float], Any]], ...] = (
    ("softsign", "", _centred(_softsign_model)),
    ("softsign", "", lambda x, h: 1 / (1 + absolute(x)) ** 2),
    ("tanh", "np.tanh", _centred(tanh)),
    ("sin", "np.sin", _centred(sine)),
)


def _fixed_derivative_mistakes(recorder: _Recorder) -> list[Mistake]:
    """The derivatives of fixed functions that are wrong for the test function ``recorder``."""
    return [
        Mistake(
            model,
            f"that is the derivative of {label}, whatever f is: "
            "numerical_derivative must differentiate the f it is given, "
            "f(x + h) and f(x - h), not a fixed function",
        )
        for label, right_for, model in _FIXED_DERIVATIVES
        if right_for != recorder.label
    ]


def _difference_hint(recorder: _Recorder, x: Any, h: float, got: Any, mismatch: Any) -> str | None:
    """The hint for wrong values ``got``, from where the student evaluated ``f``."""
    x64 = asarray(x, dtype=np.float64)
    plus, minus = x64 + h, x64 - h
    if _evaluated_at(recorder, plus) and _evaluated_at(recorder, minus):
        with quiet():
            arguments = (recorder.function(plus), recorder.function(minus), h)
        hint = matching_mistake(
            _COMBINATIONS, arguments, got, rtol=1e-5, atol=1e-12, where=mismatch
        )
        return hint or (
            "f was evaluated at x + h and x - h, but not combined as "
            f"{_CENTRED}: check the signs, the parentheses and the 2h"
        )
    if _evaluated_at(recorder, plus) and _evaluated_at(recorder, x64):
        return (
            "that is a forward difference, (f(x + h) - f(x)) / h; a centred one "
            f"was asked for: {_CENTRED}"
        )
    if _evaluated_at(recorder, minus) and _evaluated_at(recorder, x64):
        return (
            "that is a backward difference, (f(x) - f(x - h)) / h; a centred one "
            f"was asked for: {_CENTRED}"
        )
    if recorder.points:
        return _step_hint(recorder, x64, h)
    hint = matching_mistake(
        _fixed_derivative_mistakes(recorder), (x64, h), got, rtol=1e-5, atol=1e-12, where=mismatch
    )
    return hint or (
        "f was never called: numerical_derivative must differentiate the f it is "
        "given: evaluate f(x + h) and f(x - h), not a fixed function"
    )


def _step_hint(recorder: _Recorder, x64: np.ndarray, h: float) -> str | None:
    """The hint for an f evaluated away from x +- h: is the given h ignored?"""
    seen = np.concatenate(recorder.points)
    steps = absolute(
        subtract(seen[: x64.size * 4], np.resize(x64.ravel(), seen[: x64.size * 4].size))
    )
    step = float(np.max(steps)) if steps.size else 0.0
    if step > 0 and not math.isclose(step, h, rel_tol=1e-6):
        return (
            f"the given h = {h:g} seems ignored (f was evaluated at distance "
            f"{step:.3g} from x): use the parameter h, not a fixed step"
        )
    return None


@check_function("numerical_derivative")
def check_numerical_derivative(func: Callable[..., Any], group: str = "values") -> None:
    """Check a student's ``numerical_derivative(f, x, h=1e-5)``: (f(x+h) - f(x-h)) / (2h).

    The student's function is called with test functions ``f`` (a cubic, whose
    centred difference differs from the true derivative by exactly h**2,
    and NumPy's sin, tanh and exp), with the step ``h`` given positionally,
    by keyword, or not at all (the default 1e-5). Results are compared with
    the reference central difference for the same ``f``, ``x`` and ``h``, so a
    forward difference or an ignored ``h`` fails.

    Parameters
    ----------
    func : callable
        The student's ``numerical_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> forward = lambda f, x, h=1e-5: (f(x + h) - f(x)) / h  # a forward difference
    >>> check_numerical_derivative(forward, "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: numerical_derivative: wrong value...
    """
    __tracebackhide__ = True
    reference = _reference("numerical_derivative")
    for case in derivative_cases(group, case_rng()):
        _check_derivative_case(func, reference, case)


def _check_derivative_case(
    func: Callable[..., Any], reference: Callable[..., Any], case: DerivativeCase
) -> None:
    __tracebackhide__ = True
    name = "numerical_derivative"
    recorder = _Recorder(case.function)
    x, h = case.x, case.h
    given = copy_input(x)
    before = array(x, copy=True)
    inputs: dict[str, Any] = {"f": recorder, "x": x}
    args: tuple[Any, ...] = (recorder, given)
    kwargs: dict[str, Any] = {}
    if h is not None:
        inputs["h"] = h
        if case.by_keyword:
            kwargs = {"h": h}
        else:
            args = (recorder, given, h)
    got = call_student(func, *args, name=name, inputs=inputs, **kwargs)
    check_unchanged(given, before, name, {"x": x})
    step = 1e-5 if h is None else h
    expected = reference(recorder.function, copy_input(x), step)
    rtol, atol = _derivative_tolerances(recorder.function, x, step)
    if h is None:
        inputs["h"] = "default (1e-5)"
    compare(
        got,
        expected,
        name=name,
        inputs=inputs,
        rtol=rtol,
        atol=atol,
        hint=lambda mismatch, g, e: _difference_hint(recorder, x, step, g, mismatch),
        require_float=True,
    )


def _derivative_tolerances(function: Activation, x: Any, step: float) -> tuple[float, float]:
    """The tolerances of a central difference: rounding in f(x + h) - f(x - h) grows as 1 / h."""
    dtype = asarray(x).dtype
    rtol, atol = tolerances(dtype, 1e-6, 1e-9)
    eps = float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)
    values = asarray(function(asarray(x, dtype=np.float64)))
    scale = max(1.0, float(absolute(values).max())) if values.size else 1.0
    return rtol, max(atol, 8 * eps * scale / step)
