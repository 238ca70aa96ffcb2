r"""Gradient checking in the manner of CS231n: centred differences and relative errors.

A derivative written by hand, :math:`f'_a`, is compared with the centred
difference :math:`f'_n = (f(x + h) - f(x - h)) / (2h)` through the relative
error

.. math:: e = \frac{|f'_a - f'_n|}{\max(|f'_a|, |f'_n|, \text{tiny})},

which does not depend on the scale of f and is 0 when both are 0. The
largest error over the points checked gives the verdict (``THRESHOLDS``,
for float64 and h around 1e-5):

==========  ======================  ===============================================
verdict     largest relative error  meaning
==========  ======================  ===============================================
correct     at most 1e-7            the derivative is right
acceptable  at most 1e-4            right if f has kinks near the points (|x| at 0)
suspicious  at most 1e-2            probably wrong; look at the worst point
wrong       above 1e-2 (or nan)     wrong
==========  ======================  ===============================================

The thresholds are those of the CS231n notes on gradient checking
(https://cs231n.github.io/neural-networks-3/#gradcheck).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from source_lib._types import Activation
from source_lib._validation import as_float_array, broadcast_result, finish
from source_lib.activations import numerical_derivative

__all__ = ["THRESHOLDS", "TINY", "GradientCheck", "gradient_check", "relative_error"]

#: Largest relative error allowed for each verdict, best verdict first; above the last: "wrong".
THRESHOLDS: dict[str, float] = {"correct": 1e-7, "acceptable": 1e-4, "suspicious": 1e-2}

#: Floor on the denominator of the relative error, so that two zeros compare as equal.
TINY = 1e-12


def relative_error(a: ArrayLike, b: ArrayLike, tiny: float = TINY) -> Any:
    r"""Relative error between a and b: their distance over the larger magnitude, element-wise.

    Parameters
    ----------
    a, b : array_like
        Real values, broadcast against each other.
    tiny : float, optional
        Floor on the denominator (1e-12 by default), so that two values
        smaller than it in magnitude are not judged by rounding noise.

    Returns
    -------
    numpy.ndarray or numpy scalar
        The relative errors, float64: a scalar if both a and b are scalars,
        otherwise an array of their broadcast shape.

    Raises
    ------
    TypeError
        If a or b is not real numeric data.

    Notes
    -----
    .. math:: e(a, b) = \frac{|a - b|}{\max(|a|, |b|, \text{tiny})}

    It is symmetric, unchanged when a and b are scaled together (above
    tiny), 0 for equal values and at most 2 (for values of opposite sign).
    Infinities give the limits: 0 for equal infinities, 2 for opposite ones,
    1 against a finite value. nan gives nan. Values too large for
    :math:`|a - b|` to be represented are rescaled first.

    Examples
    --------
    >>> round(float(relative_error(1.0, 1.001)), 9)
    0.000999001
    >>> relative_error([0.0, 2.0, 3.0], [0.0, 1.0, -3.0])
    array([0. , 0.5, 2. ])
    >>> relative_error(0.0, 1e-15)  # below tiny: the floor decides
    np.float64(0.001)
    """
    first, scalar_a = as_float_array(a, "a")
    second, scalar_b = as_float_array(b, "b")
    dtype = np.result_type(first, second, np.float64)
    first, second = first.astype(dtype, copy=False), second.astype(dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):  # the cases fixed below
        scale = np.maximum(np.maximum(np.abs(first), np.abs(second)), tiny)
        result = np.asarray(np.abs(first - second) / scale)
        unusual = ~np.isfinite(result)
        if unusual.any():
            first, second = np.broadcast_arrays(first, second)
            scale = np.broadcast_to(scale, result.shape)
            rescaled = np.abs(first / scale - second / scale)  # |a - b| overflowed
            limit = np.where(first == second, 0.0, np.where(np.isinf(first + second), 1.0, 2.0))
            fixed = np.where(np.isinf(first) | np.isinf(second), limit, rescaled)
            fixed[np.isnan(first) | np.isnan(second)] = np.nan
            result = np.where(unusual, fixed, result)
    return finish(result, scalar_a and scalar_b)


@dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`gradient_check`: both derivatives at every point, and a verdict.

    Attributes
    ----------
    x : numpy.ndarray
        The points checked (float64, at least one dimension).
    analytic : numpy.ndarray
        The derivative under test, ``df(x)``.
    numerical : numpy.ndarray
        The centred difference ``(f(x + h) - f(x - h)) / (2h)``.
    errors : numpy.ndarray
        ``relative_error(analytic, numerical)`` at every point.
    h : float
        The step used.
    """

    x: np.ndarray
    analytic: np.ndarray
    numerical: np.ndarray
    errors: np.ndarray
    h: float = 1e-5

    @property
    def max_error(self) -> float:
        """The largest relative error over all points (0 for no points, nan if one is nan)."""
        if self.errors.size == 0:
            return 0.0
        return float(np.max(self.errors))

    @property
    def worst_x(self) -> float | None:
        """The point with the largest relative error (None for no points)."""
        if self.errors.size == 0:
            return None
        errors = np.where(np.isnan(self.errors), np.inf, self.errors)
        return float(self.x.flat[int(np.argmax(errors))])

    @property
    def verdict(self) -> str:
        """'correct', 'acceptable', 'suspicious' or 'wrong', by :data:`THRESHOLDS`."""
        for name, bound in THRESHOLDS.items():
            if self.max_error <= bound:
                return name
        return "wrong"

    @property
    def passed(self) -> bool:
        """True when the verdict is 'correct' or 'acceptable'."""
        return self.verdict in ("correct", "acceptable")

    def __str__(self) -> str:
        """One line: the verdict, the largest error and where it occurs."""
        if self.errors.size == 0:
            return "gradient check: no points"
        return (
            f"gradient check: {self.verdict} (largest relative error {self.max_error:.1e} "
            f"at x = {self.worst_x:g}, {self.x.size} points, h = {self.h:g})"
        )


def gradient_check(f: Activation, df: Activation, x: ArrayLike, h: float = 1e-5) -> GradientCheck:
    r"""Compare a derivative with the centred difference of its function at the points x.

    Parameters
    ----------
    f : callable
        The function, vectorised: it takes and returns float64 arrays.
    df : callable
        Its claimed derivative, vectorised.
    x : array_like
        Points to check at (converted to float64).
    h : float, optional
        The finite-difference step, 1e-5 by default.

    Returns
    -------
    GradientCheck
        The points, both derivatives, the relative errors, and from them
        ``max_error``, ``worst_x``, ``verdict`` and ``passed``.

    Raises
    ------
    TypeError
        If f or df is not callable, or x or h is not real numeric data.
    ValueError
        If h is not positive and finite, or df returns a result whose shape
        does not fit x.

    See Also
    --------
    source_lib.activations.numerical_derivative, relative_error

    Notes
    -----
    The verdict uses the thresholds in :data:`THRESHOLDS` (module notes). At
    0, where :math:`|x|` has a kink (softsign itself has none, its derivative
    has one), the centred difference of softsign is :math:`1 / (1 + h)`, a relative error of about
    h: "acceptable", not "correct".

    Examples
    --------
    >>> from source_lib.activations import softsign, softsign_derivative
    >>> check = gradient_check(softsign, softsign_derivative, [-2.0, 0.5, 3.0])
    >>> check.verdict
    'correct'
    >>> check = gradient_check(softsign, lambda x: 1 / (1 + np.abs(x)), [-2.0, 0.5, 3.0])
    >>> print(check)
    gradient check: wrong (largest relative error 7.5e-01 at x = 3, 3 points, h = 1e-05)
    """
    if not callable(df):
        raise TypeError(f"df must be a function of one argument, got {type(df).__name__}")
    points, _ = as_float_array(x, "x")
    points = np.atleast_1d(points).astype(np.float64)
    numerical = np.asarray(numerical_derivative(f, points, h), dtype=np.float64)
    analytic = np.asarray(df(points), dtype=np.float64)
    analytic = broadcast_result(analytic, points.shape, "df")
    errors = np.asarray(relative_error(analytic, numerical), dtype=np.float64)
    return GradientCheck(points, analytic, numerical, errors, float(h))
