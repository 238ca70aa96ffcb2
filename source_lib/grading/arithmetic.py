"""The checks' arithmetic: NumPy's functions bound once, and when two results are close.

In JupyterLab a check runs in the student's kernel, beside the notebook's own
code. A notebook that rebinds ``np.abs`` or ``np.asarray`` (by mistake or
not) must not change what a check computes, so the checks reach NumPy only
through the functions bound here, when this module is first imported. They are
NumPy's own objects (``np.asarray``, ``np.absolute``...), checked to be NumPy's
built-in functions and ufuncs of those names; one that a notebook replaced
before this import is taken from where NumPy defines it instead
(:func:`_genuine`). During ``nbgrader autograde`` the checks run in the judge,
where no student code runs at all (see :mod:`softsign_grader.judge`).

:func:`close` is the one element-wise comparison behind every check: a result
matches, a mistake's model matches, an input is unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

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

#: Where NumPy defines the functions below (private modules, read only when a
#: public name was replaced before this module was imported).
_DEFINITIONS = {"array": "numpy._core.multiarray", "ufunc": "numpy._core.umath"}


def _is_numpy_function(value: Any, kind: str, name: str) -> bool:
    """Whether ``value`` is NumPy's own ``name``: its C function or its ufunc."""
    if kind == "ufunc":
        return type(value) is np.ufunc and value.__name__ == name
    return (
        type(value) is types.BuiltinFunctionType
        and value.__name__ == name
        and getattr(value, "__module__", None) == "numpy"
    )


def _genuine(kind: str, name: str) -> Any:
    """NumPy's function ``name`` (``kind`` ``"array"`` or ``"ufunc"``), whatever ``np.name`` holds.

    Parameters
    ----------
    kind : {"array", "ufunc"}
        An array constructor (``np.asarray``) or a ufunc (``np.absolute``).
    name : str
        The function's name in the ``numpy`` namespace.

    Returns
    -------
    callable
        ``np.<name>`` when it is still NumPy's own; otherwise the function where
        NumPy defines it (:data:`_DEFINITIONS`).

    Raises
    ------
    ImportError
        If ``np.<name>`` was replaced and NumPy no longer defines ``name`` where
        :data:`_DEFINITIONS` says (``tests/test_checks.py`` checks that it does).
    """
    public = getattr(np, name, None)
    if _is_numpy_function(public, kind, name):
        return public
    defined: Any = getattr(importlib.import_module(_DEFINITIONS[kind]), name)
    if not _is_numpy_function(defined, kind, name):
        raise ImportError(f"NumPy's {name} is not at {_DEFINITIONS[kind]}.{name}")
    return defined


asarray = _genuine("array", "asarray")
array = _genuine("array", "array")
absolute = _genuine("ufunc", "absolute")
isnan = _genuine("ufunc", "isnan")
subtract = _genuine("ufunc", "subtract")
equal = _genuine("ufunc", "equal")
signbit = _genuine("ufunc", "signbit")
tanh = _genuine("ufunc", "tanh")
sine = _genuine("ufunc", "sin")
ndarray = np.ndarray

_multiply = _genuine("ufunc", "multiply")
_add = _genuine("ufunc", "add")
_less_equal = _genuine("ufunc", "less_equal")
_logical_or = _genuine("ufunc", "logical_or")
_logical_and = _genuine("ufunc", "logical_and")
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
