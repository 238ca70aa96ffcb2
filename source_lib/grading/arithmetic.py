"""The checks' arithmetic: NumPy's functions bound once, and when two results are close.

In JupyterLab a check runs in the student's kernel, beside the notebook's own
code. A notebook that rebinds ``np.abs`` or ``np.asarray`` (by mistake or
not) must not change what a check computes, so the checks reach NumPy only
through the functions bound here, when this module is first imported. During
``nbgrader autograde`` the checks run in the judge, where no student code runs
at all (see :mod:`softsign_grader.judge`).

:func:`close` is the one element-wise comparison behind every check: a result
matches, a mistake's model matches, an input is unchanged.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import umath as _umath

__all__ = [
    "absolute",
    "array",
    "asarray",
    "close",
    "equal",
    "isnan",
    "ndarray",
    "quiet",
    "signbit",
    "sine",
    "subtract",
    "tanh",
]

asarray = _multiarray.asarray
array = _multiarray.array
absolute = _umath.absolute
isnan = _umath.isnan
subtract = _umath.subtract
equal = _umath.equal
signbit = _umath.signbit
tanh = _umath.tanh
sine = _umath.sin
ndarray = np.ndarray

_multiply = _umath.multiply
_add = _umath.add
_less_equal = _umath.less_equal
_logical_or = _umath.logical_or
_logical_and = _umath.logical_and
_errstate = np.errstate


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Ignore warnings and floating-point errors inside the block.

    Examples
    --------
    >>> with quiet():
    ...     float(np.float64(1.0) / 0.0)
    inf
    """
    with warnings.catch_warnings(), _errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def close(got: Any, expected: Any, rtol: Any, atol: float) -> np.ndarray:
    """Element-wise ``|got - expected| <= atol + rtol * |expected|``, in float64.

    Equal infinities match, and so does nan against nan. ``rtol`` may be one
    number or one per element.

    Examples
    --------
    >>> close([1.0, np.inf, np.nan, 2.0], [1.0 + 1e-9, np.inf, np.nan, 3.0], 1e-7, 0.0)
    array([ True,  True,  True, False])
    """
    got = asarray(got, dtype=np.float64)
    expected = asarray(expected, dtype=np.float64)
    with _errstate(all="ignore"):
        difference = absolute(subtract(got, expected))
        tolerance = _add(atol, _multiply(rtol, absolute(expected)))
        within = _less_equal(difference, tolerance)
        same = equal(got, expected)  # equal infinities
        both_nan = _logical_and(isnan(got), isnan(expected))
    result: np.ndarray = _logical_or(_logical_or(within, same), both_nan)
    return result
