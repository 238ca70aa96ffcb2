"""Input checks shared by the reference functions: real numbers in, a clear error otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_float_array", "broadcast_result", "check_out", "finish"]

_REAL = "must be a real number or an array of real numbers"

_KINDS = {
    "c": "complex numbers",
    "O": "Python objects",
    "U": "strings",
    "S": "bytes",
    "M": "dates",
    "m": "time differences",
    "V": "structured records",
}


def _describe(value: Any) -> str:
    """Say in a few words what ``value`` is, for an error message."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"an array of {_KINDS.get(value.dtype.kind, 'values')} (dtype {value.dtype})"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def as_float_array(value: Any, name: str = "x") -> tuple[np.ndarray, bool]:
    """Return ``value`` as a floating-point array, and whether it was a scalar.

    Parameters
    ----------
    value : array_like
        A Python number, a NumPy scalar, or array-like data of real numbers.
    name : str, optional
        The argument's name, used in the error message.

    Returns
    -------
    array : numpy.ndarray
        float16, float32 and float64 data keep their dtype; booleans and
        integers become float64. It may share memory with ``value``: callers
        must not write into it.
    scalar : bool
        True when ``value`` was a number rather than an array (a 0-d array
        counts as an array), so that the caller returns a scalar too.

    Raises
    ------
    TypeError
        If ``value`` is not real numeric data: a string, None, complex
        numbers, an object array, a ragged list. The message names the
        argument and says what it got.

    Examples
    --------
    >>> as_float_array(3)
    (array(3.), True)
    >>> as_float_array("3", name="y")
    Traceback (most recent call last):
        ...
    TypeError: y must be a real number or an array of real numbers, got str '3'
    """
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} {_REAL}, got {_describe(value)}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} {_REAL}, got {type(value).__name__} that NumPy cannot read as one ({error})"
        ) from None
    kind = array.dtype.kind
    if kind in "iub":
        array = array.astype(np.float64)
    elif kind != "f":
        if array.ndim == 0 or isinstance(value, np.ndarray):
            described = _describe(value)
        else:  # a list or tuple: say what NumPy found in it
            described = f"{type(value).__name__} of {_KINDS.get(kind, 'values')}"
        raise TypeError(f"{name} {_REAL}, got {described}")
    scalar = array.ndim == 0 and not isinstance(value, np.ndarray)
    return array, scalar


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> np.ndarray:
    """Check that ``out`` can receive a result of this shape and dtype, and return it.

    Raises
    ------
    TypeError
        If ``out`` is not a NumPy array, or has another dtype.
    ValueError
        If ``out`` has another shape or is read-only.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {_describe(out)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} to hold the result, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def finish(result: np.ndarray, scalar: bool) -> Any:
    """Return a NumPy scalar for scalar input, the array otherwise."""
    result = np.asarray(result)
    return result[()] if scalar else result


def broadcast_result(result: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """Return ``result`` with ``shape``, broadcasting a constant result such as ``0 * x + 1``.

    Raises
    ------
    ValueError
        If the function called ``name`` returned a shape that cannot be
        broadcast to the shape of its argument: it does not work element-wise.
    """
    if result.shape == shape:
        return result
    try:
        return np.broadcast_to(result, shape).copy()
    except ValueError:
        raise ValueError(
            f"{name} returned shape {result.shape} for x of shape {shape}: "
            f"{name} must work element-wise"
        ) from None
