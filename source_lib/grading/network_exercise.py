"""The grader of notebook 05's exercise, ``softsign_layer_backward(x, W, b, grad_output)``.

Built on the framework of :mod:`source_lib.grading.exercises` (safe calls, friendly
messages, and the same check in JupyterLab and in the judge). The student's
three gradients are compared with a *numerical* gradient: central differences of the scalar loss

.. math::

    L(x, W, b) = \\sum_{n,j} g_{nj}\\, \\mathrm{softsign}\\big((xW + b)_{nj}\\big),

whose gradient is exactly what the backward pass must return when ``g`` is
the upstream gradient ``grad_output``.

Groups (as for every check): ``"values"`` (small hand-made layers whose
pre-activations are positive, negative and exactly zero, and a random one),
``"arrays"`` (batches of one and of none, one unit, wide layers, integer
inputs; no input may be modified), ``"hidden_values"`` (random layers of many
sizes and scales, saturated units), ``"hidden_arrays"`` (float32, read-only
and non-contiguous inputs) and ``"hidden"`` (all of them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from source_lib.grading.exercises import (
    CheckFailure,
    Mistake,
    _absolute,
    _array,
    _as_result_array,
    _asarray,
    _check_unchanged,
    _close,
    _copy_input,
    _field,
    _message,
    _read_only,
    _strided,
    _tolerances,
    call_student,
    case_rng,
    check_function,
)

__all__ = ["check_softsign_layer_backward", "numerical_layer_gradients"]

NAME = "softsign_layer_backward"
ARGUMENTS = ("x", "W", "b", "grad_output")
GRADIENTS = ("grad_x", "grad_W", "grad_b")

Case = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _softsign(z: np.ndarray) -> np.ndarray:
    return z / (1.0 + _absolute(z))


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
    values = [_array(v, dtype=np.float64, copy=True) for v in (x, W, b)]
    upstream = _asarray(grad_output, dtype=np.float64)

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

    def backward(x: np.ndarray, W: np.ndarray, b: np.ndarray, g: np.ndarray):
        z = x @ W + b
        a = _softsign(z)
        delta = g * derivative(z, a)
        grad_b = delta.sum(axis=0) if reduce_b is None else reduce_b(delta)
        grad_x = delta @ W.T if transpose_x else delta @ W
        return grad_x, x.T @ delta, grad_b

    return backward


def _right(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (1.0 - _absolute(a)) ** 2


MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        _model(lambda z, a: np.ones_like(z)),
        "the derivative of softsign is missing: first multiply grad_output by "
        "softsign'(z) = (1 - |a|)**2, element-wise, to get delta = dL/dz",
    ),
    Mistake(
        _model(lambda z, a: 1.0 / (1.0 + _absolute(a)) ** 2),
        "softsign' was evaluated at the output a; it belongs at the pre-activation "
        "z = x @ W + b: 1 / (1 + |z|)**2, which equals (1 - |a|)**2",
    ),
    Mistake(
        _model(lambda z, a: (1.0 - _absolute(z)) ** 2),
        "(1 - |a|)**2 needs the output a = softsign(z), not z; "
        "from z the slope is 1 / (1 + |z|)**2",
    ),
    Mistake(
        _model(lambda z, a: 1.0 - _absolute(a)),
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


def _mistake_hint(case: Case, got: tuple[np.ndarray, ...], which: int) -> str | None:
    for mistake in MISTAKES:
        try:
            with np.errstate(all="ignore"):
                model = mistake.model(*(_asarray(v, dtype=np.float64) for v in case))
        except Exception:
            continue
        wrong = _asarray(got[which], dtype=np.float64)
        if model[which].shape == wrong.shape and bool(
            _close(wrong, model[which], 1e-5, 1e-9).all()
        ):
            return mistake.hint
    return None


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
    got = _as_result_array(have, name, inputs, want)
    matches = _close(got, want, rtol, atol)
    if bool(matches.all()):
        return
    mismatch = ~matches
    index = tuple(int(i) for i in np.argwhere(mismatch)[0])
    where = ", ".join(map(str, index))
    lines = _message(
        name,
        f"wrong values in {int(mismatch.sum())} of {mismatch.size} entries of {label}",
        inputs=inputs,
        expected=want[index],
        got=got[index],
        hint=hint(),
    ).splitlines()
    # Name the wrong entry of the gradient (not an entry of an input of the same shape),
    # just before the values it concerns (or the hint, when a hidden case shows none).
    at = next(
        (i for i, line in enumerate(lines) if line.startswith(("  expected:", "  hint:"))),
        len(lines),
    )
    lines.insert(at, _field("first wrong entry:", f"{label}[{where}]"))
    raise CheckFailure("\n".join(lines))


def _with_hint(text: str, hint: str) -> str:
    """A failure message with its hint (and the hint's wrapped lines) replaced by ``hint``."""
    lines: list[str] = []
    in_hint = False
    for line in text.splitlines():
        if line.startswith("  hint:"):
            in_hint = True
        elif not (in_hint and line.startswith(" " * 12)):
            in_hint = False
        if not in_hint:
            lines.append(line)
    return "\n".join([*lines, _field("hint:", hint)])


# --------------------------------------------------------------------------- cases


def _layer(rng: np.random.Generator, n: int, d_in: int, d_out: int, scale: float = 1.0) -> Case:
    return (
        rng.normal(size=(n, d_in)) * scale,
        rng.normal(size=(d_in, d_out)),
        rng.normal(size=d_out) * scale,
        rng.normal(size=(n, d_out)),
    )


def _values_cases() -> list[Case]:
    # Pre-activations z = x @ W + b = [[1.5, -0.75, 0.0]]: positive, negative and zero.
    single = (
        np.array([[1.0, -2.0]]),
        np.array([[0.5, 0.25, 1.0], [-0.25, 0.5, 0.5]]),
        np.array([0.5, 0.0, 0.0]),
        np.array([[1.0, 1.0, 1.0]]),
    )
    batch = (
        np.array([[0.5, -1.0], [2.0, 0.0], [-1.5, 0.5]]),
        np.array([[1.0, -0.5], [0.25, 2.0]]),
        np.array([-0.25, 0.5]),
        np.array([[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]),
    )
    saturated = (
        np.array([[10.0, -20.0]]),
        np.array([[3.0], [1.0]]),
        np.array([0.0]),
        np.array([[2.0]]),
    )
    return [single, batch, saturated]


def _array_cases() -> list[Case]:
    rng = np.random.default_rng(5)
    return [
        _layer(rng, 1, 4, 3),
        _layer(rng, 5, 7, 2),
        _layer(rng, 6, 1, 1),
        _layer(rng, 4, 3, 3),
        (np.zeros((0, 3)), rng.normal(size=(3, 2)), rng.normal(size=2), np.zeros((0, 2))),
        (
            np.array([[1, -2, 0], [3, 1, -1]]),
            np.array([[1, 0], [0, -1], [2, 1]]),
            np.array([0, 1]),
            np.array([[1, -1], [2, 0]]),
        ),
    ]


def _hidden_layers(rng: np.random.Generator) -> Iterator[Case]:
    for _ in range(6):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 9, size=3))
        yield _layer(rng, n, d_in, d_out, scale=float(rng.choice([0.01, 0.3, 1.0, 3.0])))
    yield _layer(rng, 3, 4, 5, scale=300.0)  # saturated units: tiny derivatives


def _hidden_array_kinds(rng: np.random.Generator) -> Iterator[Case]:
    x, W, b, g = _layer(rng, 4, 3, 2)
    yield _read_only(x), _read_only(W), _read_only(b), _read_only(g)
    x, W, b, g = _layer(rng, 3, 3, 4)
    yield _strided(x), _strided(W), _strided(b), _strided(g)
    x, W, b, g = _layer(rng, 5, 4, 3)
    yield x.astype(np.float32), W.astype(np.float32), b.astype(np.float32), g.astype(np.float32)


# --------------------------------------------------------------------------- the check


def _check_case(func: Callable[..., Any], case: Case) -> None:
    __tracebackhide__ = True
    given = tuple(_copy_input(v) for v in case)
    before = [_array(v, copy=True) for v in case]
    inputs = dict(zip(ARGUMENTS, case, strict=True))
    try:
        got = call_student(func, *given, name=NAME, inputs=inputs)
    except CheckFailure as failure:
        text = str(failure)
        if "matmul" in text and "hint:" not in text:
            raise CheckFailure(_with_hint(text, _MATMUL_HINT)) from None
        name_hint = _name_error_hint(" ".join(text.split())) if "NameError" in text else None
        if name_hint is not None:
            raise CheckFailure(_with_hint(text, name_hint)) from None
        raise
    for name, value, copy in zip(ARGUMENTS, given, before, strict=True):
        _check_unchanged(value, copy, NAME, {name: value})
    if not isinstance(got, tuple | list) or len(got) != 3:
        raise CheckFailure(
            _message(
                NAME,
                f"returned {type(got).__name__}"
                + (f" of length {len(got)}" if isinstance(got, tuple | list) else ""),
                inputs=inputs,
                hint="return the three gradients as a tuple: return grad_x, grad_W, grad_b",
                show_values=False,
            )
        )
    expected = numerical_layer_gradients(*case)
    dtype = np.result_type(*(_asarray(v).dtype for v in case))
    rtol, atol = (1e-4, 1e-5) if dtype == np.float32 else _tolerances(dtype, 1e-5, 1e-8)
    for which, (label, want, have) in enumerate(zip(GRADIENTS, expected, got, strict=True)):
        shape = np.shape(have) if isinstance(have, np.ndarray | list | tuple) else ()
        if have is not None and shape != want.shape:
            raise CheckFailure(
                _message(
                    f"{NAME} ({label})",
                    f"returned shape {shape}, expected shape {want.shape}",
                    inputs=inputs,
                    hint=_SHAPE_HINTS[label],
                    show_values=False,
                )
            )
        scale = float(_absolute(want).max()) if want.size else 0.0
        _compare_gradient(
            have,
            want,
            label,
            inputs,
            rtol,
            atol * max(1.0, scale),
            lambda w=which: _mistake_hint(case, tuple(got), w),
        )


@check_function(NAME)
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
    >>> def backward(x, W, b, grad_output):
    ...     a = (x @ W + b) / (1 + np.abs(x @ W + b))
    ...     delta = grad_output * (1 - np.abs(a)) ** 2
    ...     return delta @ W.T, x.T @ delta, delta.sum(axis=0)
    >>> check_softsign_layer_backward(backward, "arrays")
    """
    __tracebackhide__ = True
    rng = case_rng()
    cases: list[Case] = []
    if group in ("values", "hidden"):
        cases += [*_values_cases(), _layer(rng, 2, 3, 2)]
    if group in ("hidden_values", "hidden"):
        cases += list(_hidden_layers(rng))
    if group in ("arrays", "hidden"):
        cases += _array_cases()
    if group in ("hidden_arrays", "hidden"):
        cases += list(_hidden_array_kinds(rng))
    for case in cases:
        _check_case(func, case)
