"""The element-wise exercises: their references, their cases and their models of mistakes.

Each exercise whose function takes one input ``x`` and returns one output of
the same shape (softsign, abs_derivative, softsign_derivative,
tanh_derivative, softsign_inverse) is one :class:`_Elementwise`: its visible
values, the range of its hidden ones, and its models of common mistakes with
their hints. :func:`_run_elementwise` runs one such exercise's cases against
a student's function; the checks themselves, which the test cells call, are
in :mod:`source_lib.grading.exercises`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from source_lib._types import Activation
from source_lib.grading.arithmetic import absolute, array, asarray, close, ndarray, tanh
from source_lib.grading.cases import case_rng, copy_input, elementwise_cases, extreme_cases
from source_lib.grading.framework import (
    CheckFailure,
    as_result_array,
    call_student,
    check_unchanged,
    compare,
    require_floats,
    tolerances,
)
from source_lib.grading.messages import Mistake, elementwise_hint, failure, model_rtol
from source_lib.grading.registry import EXERCISE

__all__: list[str] = []


@dataclass(frozen=True)
class _Elementwise:
    """An element-wise exercise: its reference, its cases and its hints."""

    name: str
    argname: str
    values: tuple[Any, ...]
    arrays: tuple[float, ...]
    hidden_range: tuple[float, float]
    wide: bool
    negative_hint: str
    integers: tuple[tuple[int, ...], ...] = ((-2, -1, 0), (1, 2, 3))
    mistakes: tuple[Mistake, ...] = ()
    zero_hint: str | None = None
    #: Scalars at the edge of the float range the notebook promises a value for.
    extremes: tuple[Any, ...] = ()

    def hint(
        self, x: Any, got: Any, expected: Any, mismatch: np.ndarray, rtol: Any = None
    ) -> str | None:
        """The hint for wrong values ``got`` at the ``mismatch`` of the inputs ``x``."""
        return elementwise_hint(
            self.mistakes,
            x,
            got,
            expected,
            mismatch,
            rtol,
            argname=self.argname,
            negative_hint=self.negative_hint,
            zero_hint=self.zero_hint,
        )

    def hint_at(self, x: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray], str | None]:
        """:meth:`hint` for the input ``x``, as :func:`compare` calls a hint."""
        return lambda mismatch, got, expected: self.hint(asarray(x), got, expected, mismatch)


def _reference(name: str) -> Callable[..., Any]:
    """Return source_lib's implementation of ``name`` (the judge's own, in the nbgrader process)."""
    return EXERCISE[name].reference_function()


def _run_elementwise(spec: _Elementwise, func: Activation, group: str) -> None:
    __tracebackhide__ = True
    reference = _reference(spec.name)
    cases = elementwise_cases(
        group,
        case_rng(),
        values=spec.values,
        arrays=spec.arrays,
        integers=np.array(spec.integers),
        hidden_range=spec.hidden_range,
        wide=spec.wide,
    )
    _run_cases(spec, func, reference, cases)
    # Then the edge of the float range: a function wrong everywhere is told that first.
    _run_cases(spec, func, reference, extreme_cases(group, spec.extremes))


def _run_cases(
    spec: _Elementwise, func: Activation, reference: Callable[..., Any], cases: list[Any]
) -> None:
    """Call ``func`` on each of ``cases`` and compare with the reference."""
    __tracebackhide__ = True
    # Scalars are checked together, so that a hint can use all of them (a mistake
    # that shows only for negative inputs, only at 0...).
    scalars: list[tuple[Any, np.ndarray, Any, Any]] = []
    for case in cases:
        given = copy_input(case)
        before = array(case, copy=True)
        inputs = {spec.argname: case}
        got = call_student(func, given, name=spec.name, inputs=inputs)
        check_unchanged(given, before, spec.name, inputs)
        expected = reference(copy_input(case))
        if asarray(expected).ndim == 0 and not isinstance(case, ndarray):
            # shape/type problems are reported at once; values are compared below
            got_array = as_result_array(got, spec.name, inputs, expected)
            if got_array.shape != ():
                compare(got, expected, name=spec.name, inputs=inputs)
            scalars.append((case, got_array, expected, got))
            continue
        rtol, atol = tolerances(asarray(case).dtype, 1e-7, 1e-12)
        compare(
            got,
            expected,
            name=spec.name,
            inputs=inputs,
            rtol=rtol,
            atol=atol,
            hint=spec.hint_at(case),
            require_float=True,
        )
    if scalars:
        _compare_scalars(spec, scalars)


def _compare_scalars(spec: _Elementwise, scalars: list[tuple[Any, np.ndarray, Any, Any]]) -> None:
    """Compare the scalar cases together: ``(x, result array, expected, result)`` each."""
    __tracebackhide__ = True
    x_all = asarray([float(x) for x, _, _, _ in scalars])
    got_all = asarray([float(got) for _, got, _, _ in scalars])
    expected_all = asarray([float(expected) for _, _, expected, _ in scalars])
    tolerance = [tolerances(asarray(x).dtype, 1e-7, 1e-12) for x, _, _, _ in scalars]
    matches = np.array(
        [
            bool(close(g, e, r, a))
            for g, e, (r, a) in zip(got_all, expected_all, tolerance, strict=True)
        ]
    )
    if bool(matches.all()):
        for x, got_array, expected, got in scalars:
            require_floats(got_array, got, spec.name, {spec.argname: x}, expected)
        return
    mismatch = ~matches
    x, _, expected, got = scalars[int(np.argmax(mismatch))]
    rtols = [model_rtol(asarray(value).dtype) for value, _, _, _ in scalars]
    raise CheckFailure(
        failure(
            spec.name,
            "wrong value",
            inputs={spec.argname: x},
            expected=expected,
            got=got,
            hint=spec.hint(x_all, got_all, expected_all, mismatch, rtols),
        )
    )


def _softsign_model(x: Any) -> np.ndarray:
    """softsign, as the checks' models of mistakes compute it (withheld in the sandbox)."""
    result: np.ndarray = x / (1 + absolute(x))
    return result


_SOFTSIGN = _Elementwise(
    name="softsign",
    argname="x",
    values=(3.0, 0.5, 2, np.float64(1.0), -3.0, -0.5, np.float64(-1.0), -2, 0.0),
    arrays=(-4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 100.0),
    hidden_range=(-50.0, 50.0),
    wide=True,
    negative_hint=(
        "right for x >= 0 but wrong for negative x: "
        "is the absolute value missing from the denominator?"
    ),
    mistakes=(
        Mistake(
            lambda x: x / 1 + absolute(x),
            "operator precedence: `/` comes before `+`, so `x / 1 + np.abs(x)` is "
            "x + |x|; put the denominator in parentheses: `x / (1 + np.abs(x))`",
        ),
        Mistake(
            lambda x: x / (1 + x),
            "right for x >= 0 but wrong for negative x: "
            "is the absolute value missing from the denominator?",
        ),
        Mistake(
            tanh,
            "you returned tanh(x); softsign is x / (1 + |x|), which approaches ±1 more slowly",
        ),
        Mistake(
            lambda x: absolute(x) / (1 + absolute(x)),
            "the sign is lost: softsign is negative for negative x (only the denominator uses |x|)",
        ),
        Mistake(
            lambda x: 1 / (1 + absolute(x)),
            "the numerator x is missing: softsign(x) = x / (1 + |x|)",
        ),
        Mistake(
            lambda x: x / (1 + absolute(x)) ** 2,
            "that is x / (1 + |x|)**2; softsign has no square: x / (1 + |x|)",
        ),
    ),
)

_ABS_DERIVATIVE = _Elementwise(
    name="abs_derivative",
    argname="x",
    values=(2.5, 1, np.float64(1e-3), -2.5, -1, np.float64(-1e-3), 0.0, 0),
    arrays=(-4.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, 4.0, 100.0),
    hidden_range=(-10.0, 10.0),
    wide=True,
    negative_hint="right for x >= 0 but wrong for negative x: d|x|/dx is -1 for every x < 0",
    zero_hint=(
        "right except at x = 0: |x| has a kink there; this course uses the convention "
        "d|x|/dx = 0 at x = 0 (like np.sign)"
    ),
    mistakes=(
        Mistake(
            lambda x: absolute(x),
            "you returned |x| itself; its derivative is -1 for x < 0, +1 for x > 0, 0 at x = 0",
        ),
        Mistake(
            lambda x: x / (1 + absolute(x)),
            "you returned softsign(x); the derivative of |x| is its sign: -1, 0 or +1",
        ),
    ),
)

_SOFTSIGN_DERIVATIVE = _Elementwise(
    name="softsign_derivative",
    argname="x",
    values=(3.0, 0.5, 2, np.float64(1.0), -3.0, -0.5, np.float64(-1.0), -2, 0.0),
    arrays=(-4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 100.0),
    hidden_range=(-50.0, 50.0),
    wide=True,
    # Notebook 03 promises softsign_derivative(1e300) == 0.0: Python floats too, where
    # `(1 + abs(x)) ** 2` raises OverflowError (NumPy's square gives inf, hence 0).
    extremes=(1e300, -1e300, np.float64(-1e300)),
    negative_hint=(
        "right for x >= 0 but wrong for negative x: "
        "is the absolute value missing from the denominator, 1 / (1 + |x|)**2?"
    ),
    mistakes=(
        Mistake(
            lambda x: 1 / (1 + absolute(x)),
            "is the square missing? By the quotient rule softsign'(x) = 1 / (1 + |x|)**2",
        ),
        Mistake(
            lambda x: 1 / (1 + x) ** 2,
            "right for x >= 0 but wrong for negative x: "
            "is the absolute value missing from the denominator, 1 / (1 + |x|)**2?",
        ),
        Mistake(
            _softsign_model,
            "you returned softsign(x) itself, not its derivative 1 / (1 + |x|)**2",
        ),
        Mistake(
            lambda x: 1 - tanh(x) ** 2,
            "that is tanh's derivative, 1 - tanh(x)**2; softsign's is 1 / (1 + |x|)**2",
        ),
        Mistake(
            lambda x: (1 + absolute(x) - x) / (1 + absolute(x)) ** 2,
            "the quotient rule needs d|x|/dx = sign(x): x * sign(x) = |x| cancels, "
            "leaving 1 / (1 + |x|)**2",
        ),
    ),
)

_TANH_DERIVATIVE = _Elementwise(
    name="tanh_derivative",
    argname="x",
    values=(0.5, 2.0, 1, np.float64(0.1), -0.5, -2.0, -1, 0.0),
    arrays=(-20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 400.0),
    hidden_range=(-30.0, 30.0),
    wide=True,
    negative_hint=("right for x >= 0 but wrong for negative x: tanh' is even, (1 / cosh(x))**2"),
    mistakes=(
        Mistake(
            lambda x: 1 - tanh(x),
            "is the square missing? tanh'(x) = 1 - tanh(x)**2, best computed as "
            "`(1 / np.cosh(x)) ** 2` (1 - tanh(x)**2 cancels to 0 for |x| > 19)",
        ),
        Mistake(
            tanh,
            "you returned tanh(x) itself, not its derivative (1 / cosh(x))**2 = 1 - tanh(x)**2",
        ),
        Mistake(
            lambda x: 1 / (1 + absolute(x)) ** 2,
            "that is softsign's derivative; tanh's is (1 / cosh(x))**2 = 1 - tanh(x)**2",
        ),
        Mistake(
            lambda x: 1 / np.cosh(x),
            "is the square missing? tanh'(x) = (1 / cosh(x))**2",
        ),
    ),
)

_SOFTSIGN_INVERSE = _Elementwise(
    name="softsign_inverse",
    argname="y",
    values=(0.5, 0.9, np.float64(0.25), -0.5, -0.9, np.float64(-0.25), 0.0),
    arrays=(-0.99, -0.5, -0.1, 0.0, 0.1, 0.5, 0.99, 0.999),
    hidden_range=(-0.999999, 0.999999),
    wide=False,
    integers=((0, 0), (0, 0)),
    negative_hint=(
        "right for y >= 0 but wrong for negative y: "
        "is the absolute value missing from the denominator, y / (1 - |y|)?"
    ),
    mistakes=(
        Mistake(
            lambda y: y / 1 - absolute(y),
            "operator precedence: `/` comes before `-`, so `y / 1 - np.abs(y)` is "
            "y - |y|; put the denominator in parentheses: `y / (1 - np.abs(y))`",
        ),
        Mistake(
            lambda y: y / (1 - y),
            "right for y >= 0 but wrong for negative y: "
            "is the absolute value missing from the denominator, y / (1 - |y|)?",
        ),
        Mistake(
            lambda y: absolute(y) / (1 - absolute(y)),
            "the sign is lost: softsign_inverse is negative for negative y; only the "
            "denominator uses |y|: y / (1 - |y|)",
        ),
        Mistake(
            _softsign_model,
            "you returned softsign(y); the inverse solves y = x / (1 + |x|) for x: y / (1 - |y|)",
        ),
        Mistake(
            lambda y: 1 / (1 - absolute(y)),
            "the numerator y is missing: softsign_inverse(y) = y / (1 - |y|)",
        ),
        Mistake(
            lambda y: np.arctanh(y),
            "that is tanh's inverse (arctanh); softsign's is y / (1 - |y|)",
        ),
    ),
)
