"""The grader of notebook 05's exercise, ``softsign_layer_backward(x, W, b, grad_output)``.

The student's three gradients are compared with a *numerical* gradient:
central differences of the scalar loss

.. math::

    L(x, W, b) = \\sum_{n,j} g_{nj}\\, \\mathrm{softsign}\\big((xW + b)_{nj}\\big),

whose gradient is exactly what the backward pass must return when ``g`` is
the upstream gradient ``grad_output``.

Built like every check, on :mod:`source_lib.grading.framework` (safe calls,
the same check in JupyterLab and in the judge); its cases are chosen by
:func:`source_lib.grading.cases.layer_cases` (no input may be modified), and
its messages worded by :mod:`source_lib.grading.messages`. What is particular
to this exercise stays here: the numerical gradient, the models of common
mistakes in a backward pass, and the hints for shapes and undefined names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from source_lib.grading.arithmetic import absolute, array, asarray, close
from source_lib.grading.cases import Layer, case_rng, copy_input, layer_cases
from source_lib.grading.framework import (
    CheckFailure,
    as_result_array,
    call_student,
    check_function,
    check_unchanged,
    tolerances,
)
from source_lib.grading.messages import (
    Failure,
    Mistake,
    failure,
    matching_mistake,
)

__all__ = ["check_softsign_layer_backward", "numerical_layer_gradients"]

NAME = "softsign_layer_backward"
ARGUMENTS = ("x", "W", "b", "grad_output")
GRADIENTS = ("grad_x", "grad_W", "grad_b")


def _softsign(z: np.ndarray) -> np.ndarray:
    return z / (1.0 + absolute(z))


def numerical_layer_gradients(
    x: Any, W: Any, b: Any, grad_output: Any, h: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central-difference gradients of sum(grad_output * softsign(x @ W + b)).

    Each entry of ``x``, ``W`` and ``b`` in turn is moved by +h and -h; the
    gradient entry is the change of the loss divided by 2h. Computed in float64.

    Examples
    --------
    >>> grad_x, grad_W, grad_b = numerical_layer_gradients(
    ...     [[1.0, -2.0]], [[1.0], [1.0]], [0.0], [[1.0]]
    ... )
    >>> np.round(grad_x, 6).tolist(), np.round(grad_W, 6).tolist(), np.round(grad_b, 6).tolist()
    ([[0.25, 0.25]], [[0.25], [-0.5]], [0.25])
    """
    values = [array(v, dtype=np.float64, copy=True) for v in (x, W, b)]
    upstream = asarray(grad_output, dtype=np.float64)

    def loss() -> float:
        x_, W_, b_ = values
        return float((upstream * _softsign(x_ @ W_ + b_)).sum())

    gradients = []
    for value in values:
        grad = np.zeros_like(value)
        flat, grad_flat = value.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            step = h * max(1.0, abs(float(saved)))
            flat[i] = saved + step
            up = loss()
            flat[i] = saved - step
            down = loss()
            flat[i] = saved
            grad_flat[i] = (up - down) / (2 * step)
        gradients.append(grad)
    return gradients[0], gradients[1], gradients[2]


# --------------------------------------------------------------------------- common mistakes


def _model(
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    transpose_x: bool = True,
    reduce_b: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A backward pass with a given (possibly wrong) derivative factor delta = g * d(z, a)."""

    def backward(
        x: np.ndarray, W: np.ndarray, b: np.ndarray, g: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = x @ W + b
        a = _softsign(z)
        delta = g * derivative(z, a)
        grad_b = delta.sum(axis=0) if reduce_b is None else reduce_b(delta)
        grad_x = delta @ W.T if transpose_x else delta @ W
        return grad_x, x.T @ delta, grad_b

    return backward


def _right(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (1.0 - absolute(a)) ** 2


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        _model(lambda z, a: np.ones_like(z)),
        "the derivative of softsign is missing: first multiply grad_output by "
        "softsign'(z) = (1 - |a|)**2, element-wise, to get delta = dL/dz",
    ),
    Mistake(
        _model(lambda z, a: 1.0 / (1.0 + absolute(a)) ** 2),
        "softsign' was evaluated at the output a; it belongs at the pre-activation "
        "z = x @ W + b: 1 / (1 + |z|)**2, which equals (1 - |a|)**2",
    ),
    Mistake(
        _model(lambda z, a: (1.0 - absolute(z)) ** 2),
        "(1 - |a|)**2 needs the output a = softsign(z), not z; "
        "from z the slope is 1 / (1 + |z|)**2",
    ),
    Mistake(
        _model(lambda z, a: 1.0 - absolute(a)),
        "is the square missing? softsign'(z) = (1 - |a|)**2 = 1 / (1 + |z|)**2",
    ),
    Mistake(
        _model(lambda z, a: 1.0 / (1.0 + z) ** 2),
        "right where z >= 0, wrong where z < 0: softsign'(z) = 1 / (1 + |z|)**2 "
        "needs the absolute value",
    ),
    Mistake(
        _model(lambda z, a: 1.0 - a * a),
        "that is tanh's derivative written with the output (1 - a**2); softsign's is (1 - |a|)**2",
    ),
    Mistake(
        _model(lambda z, a: a),
        "delta = grad_output * softsign'(z), not grad_output * softsign(z)",
    ),
    Mistake(
        _model(_right, reduce_b=lambda delta: delta.mean(axis=0)),
        "grad_b is the SUM of delta over the batch (axis 0), not the mean: "
        "the loss here is a sum over examples",
    ),
    Mistake(
        _model(_right, transpose_x=False),
        "grad_x = delta @ W.T (W transposed), so that it has the shape of x",
    ),
)


def _mistake_hint(case: Layer, got: tuple[Any, ...], which: int) -> str | None:
    arguments = tuple(asarray(v, dtype=np.float64) for v in case)
    return matching_mistake(MISTAKES, arguments, got[which], rtol=1e-5, atol=1e-9, part=which)


_MATMUL_HINT = (
    "the shapes do not fit: x is (n, d_in), W is (d_in, d_out) and delta = dL/dz is "
    "(n, d_out), so grad_x = delta @ W.T and grad_W = x.T @ delta"
)

_SHAPE_HINTS = {
    "grad_x": "grad_x has the shape of x, (n, d_in): delta @ W.T",
    "grad_W": "grad_W has the shape of W, (d_in, d_out): x.T @ delta",
    "grad_b": "grad_b has the shape of b, (d_out,): delta.sum(axis=0) adds up the batch",
}


#: What the Setup cell of notebook 05 imports from source_lib for the student's use.
SETUP_IMPORTS = ("softsign", "softsign_derivative")

#: Other activations of source_lib a student may use in the backward pass.
_LIBRARY_ACTIVATIONS = (
    "softsign_derivative_from_output",
    "abs_derivative",
    "tanh_derivative",
)

#: Names a backward pass computes for itself: when one is undefined, a line is missing.
_LOCAL_NAMES = ("z", "a", "delta", "grad_x", "grad_W", "grad_b")


def _name_error_hint(text: str) -> str | None:
    """A hint for ``NameError: name 'NAME' is not defined`` in a backward pass, or None."""
    found = re.search(r"name '(\w+)('?)", text)
    if found is None:
        return None
    name = found.group(1)
    if not found.group(2):  # the message was cut inside the name: complete a known one
        known = {*SETUP_IMPORTS, *_LIBRARY_ACTIVATIONS, *_LOCAL_NAMES}
        matching = [candidate for candidate in known if candidate.startswith(name)]
        if len(name) < 3 or len(matching) != 1:
            return None
        name = matching[0]
    if name in SETUP_IMPORTS:
        return (
            f"`{name}` comes from the course library: the Setup cell runs "
            f"`from source_lib import {', '.join(SETUP_IMPORTS)}`. Run the Setup cell, "
            "then your cell and this test"
        )
    if name == "softsign_derivative_from_output":
        return (
            "`softsign_derivative_from_output` is defined in the cell above the exercise "
            "(The derivative, from the output): run that cell, then yours and this test"
        )
    if name in _LIBRARY_ACTIVATIONS:
        return f"add `from source_lib import {name}` at the top of your cell and run it again"
    if name in _LOCAL_NAMES:
        return f"`{name}` is used before it is computed: compute it inside your function first"
    return (
        f"`{name}` is not defined: define it inside your function, or run the cell "
        "that defines it (and the Setup cell)"
    )


def _compare_gradient(
    have: Any,
    want: np.ndarray,
    label: str,
    inputs: dict[str, Any],
    rtol: float,
    atol: float,
    hint: Callable[[], str | None],
) -> None:
    """Fail unless one returned gradient matches, naming the first wrong entry of the gradient."""
    __tracebackhide__ = True
    name = f"{NAME} ({label})"
    shape = np.shape(have) if isinstance(have, np.ndarray | list | tuple) else ()
    if have is not None and shape != want.shape:
        raise CheckFailure(
            failure(
                name,
                f"returned shape {shape}, expected shape {want.shape}",
                kind="wrong_shape",
                inputs=inputs,
                hint=_SHAPE_HINTS[label],
                mistake="wrong_shape",
                show_values=False,
            )
        )
    got = as_result_array(have, name, inputs, want)
    matches = close(got, want, rtol, atol)
    if bool(matches.all()):
        return
    mismatch = ~matches
    index = tuple(int(i) for i in np.argwhere(mismatch)[0])
    where = ", ".join(map(str, index))
    wrong = failure(
        name,
        f"wrong values in {int(mismatch.sum())} of {mismatch.size} entries of {label}",
        inputs=inputs,
        expected=want[index],
        got=got[index],
        hint=hint(),
    )
    # Name the wrong entry of the gradient (not an entry of an input of the same shape),
    # just before the values it concerns (or the hint, when a hidden case shows none).
    entry = ("first wrong entry:", f"{label}[{where}]")
    raise CheckFailure(replace(wrong, details=(*wrong.details, entry)))


# --------------------------------------------------------------------------- the check


def _failure_hint(raised: Failure) -> tuple[str, str] | None:
    """A sharper mistake and hint for a backward pass that raised: mismatched shapes, a name."""
    if raised.kind != "raised":
        return None
    if "matmul" in raised.problem and raised.hint is None:
        return "matmul_shapes", _MATMUL_HINT
    hint = _name_error_hint(raised.problem) if raised.error == "NameError" else None
    return None if hint is None else ("undefined_name", hint)


def _call_backward(func: Callable[..., Any], case: Layer, inputs: dict[str, Any]) -> Any:
    """The student's three gradients for ``case``; fail if the call or its inputs went wrong."""
    __tracebackhide__ = True
    given = tuple(copy_input(v) for v in case)
    before = [array(v, copy=True) for v in case]
    try:
        got = call_student(func, *given, name=NAME, inputs=inputs)
    except CheckFailure as error:
        sharper = _failure_hint(error.failure)
        if sharper is None:
            raise
        mistake, hint = sharper
        raise CheckFailure(error.failure.with_hint(hint, mistake)) from None
    for name, value, copy in zip(ARGUMENTS, given, before, strict=True):
        check_unchanged(value, copy, NAME, {name: value})
    if not isinstance(got, tuple | list) or len(got) != 3:
        raise CheckFailure(
            failure(
                NAME,
                f"returned {type(got).__name__}"
                + (f" of length {len(got)}" if isinstance(got, tuple | list) else ""),
                kind="wrong_type",
                inputs=inputs,
                hint="return the three gradients as a tuple: return grad_x, grad_W, grad_b",
                mistake="gradient_tuple",
                show_values=False,
            )
        )
    return got


def _check_case(func: Callable[..., Any], case: Layer) -> None:
    __tracebackhide__ = True
    inputs = dict(zip(ARGUMENTS, case, strict=True))
    got = _call_backward(func, case, inputs)
    expected = numerical_layer_gradients(*case)
    dtype = np.result_type(*(asarray(v).dtype for v in case))
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else tolerances(dtype, 1e-5, 1e-8)
    for which, (label, want, have) in enumerate(zip(GRADIENTS, expected, got, strict=True)):
        scale = float(absolute(want).max()) if want.size else 0.0
        _compare_gradient(
            have,
            want,
            label,
            inputs,
            rtol,
            atol * max(1.0, scale),
            functools.partial(_mistake_hint, case, tuple(got), which),
        )


@check_function(NAME, withholds=("layer_backward", "numerical_layer_gradients"))
def check_softsign_layer_backward(func: Callable[..., Any], group: str = "values") -> None:
    """Check a student's ``softsign_layer_backward(x, W, b, grad_output)``.

    The function must return ``(grad_x, grad_W, grad_b)`` for the layer
    a = softsign(x @ W + b), given grad_output = dL/da; each is compared with
    a central-difference gradient of sum(grad_output * a).

    Parameters
    ----------
    func : callable
        The student's ``softsign_layer_backward``.
    group : {"values", "arrays", "hidden_values", "hidden_arrays", "hidden"}
        Which cases to run (see the module docstring).

    Raises
    ------
    CheckFailure
        With the input, the expected and returned values, and a hint.

    Examples
    --------
    A backward pass written with the course library's softsign derivative passes:

    >>> from source_lib import softsign_derivative
    >>> def backward(x, W, b, grad_output):
    ...     delta = grad_output * softsign_derivative(x @ W + b)
    ...     return delta @ W.T, x.T @ delta, delta.sum(axis=0)
    >>> check_softsign_layer_backward(backward, "arrays")
    check_softsign_layer_backward passed: 6 inputs.

    Gradients of the right shapes but the wrong values fail, naming the first wrong entry:

    >>> def zeros(x, W, b, grad_output):
    ...     return np.zeros_like(x), np.zeros_like(W), np.zeros_like(b)
    >>> check_softsign_layer_backward(zeros, "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.framework.CheckFailure: softsign_layer_backward (grad_x): wrong values ...
    ...
      first wrong entry: grad_x[0, 0]
    ...
    """
    __tracebackhide__ = True
    for case in layer_cases(group, case_rng()):
        _check_case(func, case)
