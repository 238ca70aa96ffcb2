r"""Gradient checking in the manner of CS231n: centered differences and relative errors.

Thresholds for the maximum relative error between an analytic and a
numerical derivative (float64, centered difference, h around 1e-5):

* above 1e-2: the analytic derivative is almost certainly wrong;
* 1e-4 to 1e-2: suspicious, unless the points sit near a kink;
* 1e-7 to 1e-4: acceptable for functions with kinks (|x|, softsign at 0);
* below 1e-7: correct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from source_lib._validation import as_float_array, finish

__all__ = ["THRESHOLDS", "GradientCheck", "gradient_check", "relative_error"]

#: Upper bounds on the maximum relative error for each verdict, best first.
THRESHOLDS: dict[str, float] = {"correct": 1e-7, "acceptable": 1e-4, "suspicious": 1e-2}

#: Floor on the denominator, so that two zeros compare as equal.
TINY = 1e-12


def relative_error(a: Any, b: Any, tiny: float = TINY) -> Any:
    r"""Relative error between two values, element-wise.

    Notes
    -----
    .. math:: \frac{|a - b|}{\max(|a|, |b|, \text{tiny})}

    Symmetric in a and b, 0 for equal values, at most 2 for finite ones.

    Examples
    --------
    >>> round(float(relative_error(1.0, 1.001)), 9)
    0.000999001
    >>> relative_error([0.0, 2.0], [0.0, 1.0])
    array([0. , 0.5])
    """
    first, scalar_a = as_float_array(a, "a")
    second, scalar_b = as_float_array(b, "b")
    denominator = np.maximum(np.maximum(np.abs(first), np.abs(second)), tiny)
    return finish(np.abs(first - second) / denominator, scalar_a and scalar_b)


@dataclass(frozen=True)
class GradientCheck:
    """The result of :func:`gradient_check`."""

    x: np.ndarray
    analytic: np.ndarray
    numerical: np.ndarray
    errors: np.ndarray

    @property
    def max_error(self) -> float:
        """The largest relative error over all points."""
        return float(np.max(self.errors)) if self.errors.size else 0.0

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


def gradient_check(
    f: Callable[[Any], Any], df: Callable[[Any], Any], x: Any, h: float = 1e-5
) -> GradientCheck:
    r"""Compare an analytic derivative with a centered difference at the points x.

    Parameters
    ----------
    f, df : callable
        The function and its claimed derivative, both vectorised.
    x : array_like
        Points to check at.
    h : float, optional
        The finite-difference step.

    Returns
    -------
    GradientCheck
        Points, both derivatives, relative errors, the maximum and a verdict.

    Examples
    --------
    >>> from source_lib.activations import softsign, softsign_derivative
    >>> check = gradient_check(softsign, softsign_derivative, [-2.0, 0.5, 3.0])
    >>> check.verdict
    'correct'
    """
    points, _ = as_float_array(x, "x")
    points = np.atleast_1d(points).astype(np.float64)
    analytic = np.asarray(df(points), dtype=np.float64)
    numerical = (np.asarray(f(points + h)) - np.asarray(f(points - h))) / (2 * h)
    errors = np.asarray(relative_error(analytic, numerical), dtype=np.float64)
    return GradientCheck(points, analytic, np.asarray(numerical), errors)
