"""How the checks choose their inputs, visible and hidden.

Every check takes a ``group``, one of :data:`GROUPS`:

``"values"``
    Python and NumPy scalars: positive, negative, zero and -0.0, ints,
    float32 and float16 (and, for an exercise whose notebook promises a
    value there, Python and NumPy floats at the edge of the float range,
    such as 1e300).
``"arrays"``
    1-D, 2-D, 3-D, 0-d and empty arrays; float64, float32, float16 and int
    arrays; read-only and non-contiguous ones; for the exercises defined on
    the whole line, magnitudes from 1e-100 to 1e100 (:data:`WIDE`).
``"hidden_values"``, ``"hidden_arrays"``
    The groups the graders add in hidden tests, beside ``"values"`` and
    ``"arrays"``. They check nothing the visible ones do not: they hold the
    same kinds of input with other values, mostly random, so a student whose
    visible tests pass loses marks only for a function that is wrong on values
    the visible tests did not try.
``"hidden"``
    All of them.

Every group also draws a few inputs at random, fresh each time it runs, from
:func:`case_rng`: while the judge grades, its generator is seeded by the
judge (never by the kernel, which never sees the seed), so the judge's two
runs of a check, the plan and the verdict, see the same cases.

The cases of each exercise are chosen here, by one function each:
:func:`elementwise_cases` (the functions of one input ``x``, and
:func:`extreme_cases` at the edge of the float range),
:func:`derivative_cases` (``numerical_derivative(f, x, h)``) and
:func:`layer_cases` (``softsign_layer_backward(x, W, b, grad_output)``).
A case is chosen without looking at the student's results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from source_lib.grading.arithmetic import ndarray
from source_lib.grading.collector import strided
from source_lib.grading.replay import current_session

__all__ = [
    "GROUPS",
    "WIDE",
    "DerivativeCase",
    "Layer",
    "array_inputs",
    "case_rng",
    "copy_input",
    "derivative_cases",
    "elementwise_cases",
    "extreme_cases",
    "hidden_arrays",
    "hidden_scalars",
    "layer_cases",
    "random_scalars",
    "read_only",
    "runs",
    "strided",
    "visible_scalars",
]

#: The test groups every check accepts.
GROUPS = ("values", "arrays", "hidden_values", "hidden_arrays", "hidden")

#: Magnitudes of the visible arrays group's wide array (the hidden groups draw
#: theirs from 1e-100 to 1e100 at random).
WIDE = (1e-100, 1e-40, 1e-8, 1e8, 1e40, 1e100)


def runs(group: str, part: str) -> bool:
    """Whether ``group`` runs the cases of ``part`` (``"hidden"`` runs every part).

    Examples
    --------
    >>> runs("hidden", "arrays"), runs("values", "arrays")
    (True, False)
    """
    return group in (part, "hidden")


def case_rng() -> np.random.Generator:
    """The random generator of a check's cases.

    While the judge grades, it comes from the seed the judge drew for this
    check in this grading run (never sent to the kernel), so that planning and
    judging see the same cases. In JupyterLab it is freshly seeded.
    """
    session = current_session()
    return np.random.default_rng(None if session is None else session.seed)


def read_only(array: np.ndarray) -> np.ndarray:
    """A read-only copy of ``array``."""
    array = array.copy()
    array.flags.writeable = False
    return array


def copy_input(value: Any) -> Any:
    """What the student's function is given for a case: a copy of the same kind.

    A writeable array is copied (a non-contiguous one into a non-contiguous
    copy), so the case itself stays as it was; a read-only array and a scalar
    are given as they are.
    """
    if isinstance(value, ndarray):
        if not value.flags.writeable:
            return value
        if value.flags.c_contiguous or value.size == 0:
            return value.copy()
        return strided(value.copy())
    return value


# ---------------------------------------------------------------------------
# The building blocks: scalars and arrays of every kind
# ---------------------------------------------------------------------------


def array_inputs(values: Sequence[float], integers: np.ndarray, *, wide: bool) -> list[Any]:
    """The visible arrays: every kind of array the hidden arrays group holds, other values.

    1-D, 2-D, 3-D, 0-d (also -0.0) and empty arrays; float32, float16 and
    integer dtypes; a read-only and a non-contiguous array; and, for an
    exercise defined on the whole line, magnitudes from 1e-100 to 1e100.
    """
    column = np.array(values, dtype=np.float64)
    cases: list[Any] = [
        column,
        column[:6].reshape(2, 3),
        column[:8].reshape(2, 2, 2),
        np.array(column[0]),
        np.array(-0.0),
        np.array([], dtype=np.float64),
        np.empty((0, 3)),
        integers,
        column[::-1].astype(np.float32),
        column[1:5].astype(np.float16),
        read_only(column[::-1]),
        strided(column),
    ]
    if wide:
        magnitudes = np.array(WIDE)
        cases.append(np.concatenate([-magnitudes[::-1], magnitudes]))
    return cases


def visible_scalars(values: Sequence[Any]) -> list[Any]:
    """The visible values: the exercise's own, and NumPy float32/float16 scalars and -0.0."""
    return [*values, np.float32(-values[0]), np.float16(-values[1]), -0.0]


def random_scalars(rng: np.random.Generator, low: float, high: float, count: int) -> list[float]:
    """Python floats drawn uniformly from [low, high], rounded to 6 significant digits."""
    return [float(f"{value:.6g}") for value in rng.uniform(low, high, size=count)]


def hidden_scalars(
    rng: np.random.Generator, *, low: float, high: float, scalars: Sequence[float]
) -> list[Any]:
    """Scalars of every kind: NumPy float32/float16/float64, -0.0, ints, random floats."""
    cases: list[Any] = [
        np.float32(scalars[0]),
        np.float16(scalars[1]),
        np.float64(rng.uniform(low, high)),
        -0.0,
    ]
    cases += random_scalars(rng, low, high, 6)
    if high >= 3:
        cases += [2, -3]
    return cases


def hidden_arrays(rng: np.random.Generator, *, low: float, high: float, wide: bool) -> list[Any]:
    """Random arrays: several shapes and dtypes, read-only, non-contiguous, many magnitudes.

    The magnitudes stop at 1e100, where every correct algebraic form is still
    exact to the comparison's tolerance (``np.sqrt(x * x)`` for ``|x|`` squares
    the input: 1e100 squared is 1e200, well inside float64's range).
    """
    uniform = rng.uniform(low, high, size=200)
    cases: list[Any] = [uniform, rng.uniform(low, high, size=(4, 5, 3))]
    if wide:
        magnitudes = 10.0 ** rng.uniform(-100, 100, size=200)
        cases.append(np.where(rng.random(200) < 0.5, -magnitudes, magnitudes))
    cases += [
        uniform.astype(np.float32),
        uniform[:50].astype(np.float16),
        read_only(uniform[:20]),
        strided(uniform[:30]),
        np.array(-0.0),
    ]
    if high >= 3:
        cases.append(np.arange(-3, 4))
    return cases


# ---------------------------------------------------------------------------
# The cases of each exercise
# ---------------------------------------------------------------------------


def extreme_cases(group: str, extremes: Sequence[Any]) -> list[Any]:
    """Scalars at the edge of the float range, for an exercise whose notebook promises a value.

    ``softsign_derivative(1e300)`` is 0.0, also for a Python float: the values
    group tries ``extremes``, the hidden values group the same kinds of scalar,
    1.7 times as large and of the other sign. A check tries them after its
    other inputs, so that a function wrong everywhere hears of that first.

    Examples
    --------
    >>> extreme_cases("hidden_values", (1e300,))
    [-1.7e+300]
    """
    cases: list[Any] = []
    if runs(group, "values"):
        cases += extremes
    if runs(group, "hidden_values"):
        cases += [-1.7 * value for value in extremes]
    return cases


def elementwise_cases(
    group: str,
    rng: np.random.Generator,
    *,
    values: Sequence[Any],
    arrays: Sequence[float],
    integers: np.ndarray,
    hidden_range: tuple[float, float],
    wide: bool,
) -> list[Any]:
    """The inputs ``x`` of an element-wise exercise (``softsign(x)``...) for ``group``.

    ``values`` and ``arrays`` are the exercise's own visible numbers,
    ``integers`` its integer array, ``hidden_range`` where its random inputs
    lie, and ``wide`` whether it is defined on the whole line (magnitudes up
    to 1e100).
    """
    low, high = hidden_range
    cases: list[Any] = []
    if runs(group, "values"):
        cases += [*visible_scalars(values), *random_scalars(rng, low, high, 2)]
    if runs(group, "hidden_values"):
        cases += hidden_scalars(rng, low=low, high=high, scalars=values)
    if runs(group, "arrays"):
        cases += array_inputs(arrays, integers, wide=wide)
        cases.append(rng.uniform(low, high, size=5))
    if runs(group, "hidden_arrays"):
        cases += hidden_arrays(rng, low=low, high=high, wide=wide)
    return cases


class DerivativeCase(NamedTuple):
    """One call of ``numerical_derivative(f, x, h)``."""

    function: str  #: the test function f, by its name in collector.TEST_FUNCTIONS
    x: Any
    h: float | None  #: None: the default step, not passed
    by_keyword: bool  #: pass h as ``h=...``


def derivative_cases(group: str, rng: np.random.Generator) -> list[DerivativeCase]:
    """The cases of ``numerical_derivative(f, x, h)`` for ``group``.

    The test functions are a cubic (whose centred difference differs from the
    true derivative by exactly h**2) and NumPy's sin, tanh and exp; ``h`` is
    given positionally, by keyword, or not at all.
    """
    case = DerivativeCase
    cases: list[DerivativeCase] = []
    if runs(group, "values"):
        cases += [
            case("x**3", 1.0, 0.1, False),
            case("x**3", -2.0, 0.1, True),
            case("x**3", 0.0, 0.5, False),
            case("x**3", 3, 1e-3, True),
            case("x**3", 2.0, None, False),
            case("np.sin", np.float64(0.5), None, False),
            case("np.tanh", -0.75, 1e-3, True),
            case("np.exp", np.float32(-0.5), 1e-2, False),
            case("x**3", random_scalars(rng, -4.0, 4.0, 1)[0], 0.01, False),
        ]
    if runs(group, "hidden_values"):
        cases += [
            case("np.tanh", random_scalars(rng, -4.0, 4.0, 1)[0], 1e-4, True),
            case("np.exp", np.float64(rng.uniform(-2.0, 2.0)), 1e-3, False),
            case("x**3", -1, 0.5, True),
            case("np.sin", np.float32(0.75), 1e-2, False),
            case(
                "x**3",
                random_scalars(rng, -4.0, 4.0, 1)[0],
                float(rng.uniform(0.01, 0.5)),
                True,
            ),
        ]
    if runs(group, "arrays"):
        grid = np.linspace(-3.0, 3.0, 7)
        cases += [
            case("x**3", grid, 0.1, False),
            case("x**3", grid.reshape(7, 1) * np.ones((1, 2)), 0.25, True),
            case("np.sin", grid, None, False),
            case("x**3", np.array(1.5), 0.01, False),
            case("x**3", np.array([]), 0.1, False),
            case("np.tanh", read_only(grid / 2), 1e-3, False),
            case("np.exp", (grid / 3).astype(np.float32), 1e-2, True),
            case("x**3", strided(grid[::-1]), 0.05, False),
            case("np.sin", rng.uniform(-4.0, 4.0, size=5), 1e-3, True),
        ]
    if runs(group, "hidden_arrays"):
        random_x = rng.uniform(-4.0, 4.0, size=100)
        cases += [
            case("np.tanh", random_x, 1e-4, True),
            case("np.exp", random_x[:30], 1e-3, False),
            case("x**3", random_x.reshape(10, 10), float(rng.uniform(0.01, 0.5)), True),
            case("x**3", read_only(random_x[:10]), 0.05, False),
            case("np.sin", random_x.astype(np.float32), 1e-2, False),
            case("x**3", strided(random_x[:12]), 0.1, False),
        ]
    return cases


#: A layer's inputs: ``(x, W, b, grad_output)``.
Layer = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _random_layer(
    rng: np.random.Generator, n: int, d_in: int, d_out: int, scale: float = 1.0
) -> Layer:
    return (
        rng.normal(size=(n, d_in)) * scale,
        rng.normal(size=(d_in, d_out)),
        rng.normal(size=d_out) * scale,
        rng.normal(size=(n, d_out)),
    )


def _value_layers() -> list[Layer]:
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


def _array_layers() -> list[Layer]:
    rng = np.random.default_rng(5)
    return [
        _random_layer(rng, 1, 4, 3),
        _random_layer(rng, 5, 7, 2),
        _random_layer(rng, 6, 1, 1),
        _random_layer(rng, 4, 3, 3),
        (np.zeros((0, 3)), rng.normal(size=(3, 2)), rng.normal(size=2), np.zeros((0, 2))),
        (
            np.array([[1, -2, 0], [3, 1, -1]]),
            np.array([[1, 0], [0, -1], [2, 1]]),
            np.array([0, 1]),
            np.array([[1, -1], [2, 0]]),
        ),
    ]


def _hidden_layers(rng: np.random.Generator) -> Iterator[Layer]:
    for _ in range(6):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 9, size=3))
        yield _random_layer(rng, n, d_in, d_out, scale=float(rng.choice([0.01, 0.3, 1.0, 3.0])))
    yield _random_layer(rng, 3, 4, 5, scale=300.0)  # saturated units: tiny derivatives


def _hidden_layer_kinds(rng: np.random.Generator) -> Iterator[Layer]:
    x, W, b, g = _random_layer(rng, 4, 3, 2)
    yield read_only(x), read_only(W), read_only(b), read_only(g)
    x, W, b, g = _random_layer(rng, 3, 3, 4)
    yield strided(x), strided(W), strided(b), strided(g)
    x, W, b, g = _random_layer(rng, 5, 4, 3)
    yield x.astype(np.float32), W.astype(np.float32), b.astype(np.float32), g.astype(np.float32)


def layer_cases(group: str, rng: np.random.Generator) -> list[Layer]:
    """The layers ``(x, W, b, grad_output)`` of ``softsign_layer_backward`` for ``group``.

    ``"values"``: small hand-made layers whose pre-activations are positive,
    negative and exactly zero, and a random one; ``"arrays"``: batches of one
    and of none, one unit, wide layers, integer inputs; ``"hidden_values"``:
    random layers of many sizes and scales, saturated units;
    ``"hidden_arrays"``: float32, read-only and non-contiguous inputs.
    """
    cases: list[Layer] = []
    if runs(group, "values"):
        cases += [*_value_layers(), _random_layer(rng, 2, 3, 2)]
    if runs(group, "hidden_values"):
        cases += list(_hidden_layers(rng))
    if runs(group, "arrays"):
        cases += _array_layers()
    if runs(group, "hidden_arrays"):
        cases += list(_hidden_layer_kinds(rng))
    return cases
