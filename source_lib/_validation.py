"""Turn user input into a floating-point array, or say clearly why not."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_float_array", "finish"]


def as_float_array(value: Any, name: str = "x") -> tuple[np.ndarray, bool]:
    """Return ``value`` as a floating-point array and whether it was a scalar.

    float16, float32 and float64 keep their dtype; integers, booleans and
    Python numbers become float64. The result may share memory with
    ``value``: callers must not write into it.

    Raises
    ------
    TypeError
        If ``value`` is not real-valued numeric data (a string, ``None``, an
        object array, a complex number...). The message names the argument.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(
            f"{name} must be a real number or an array of real numbers, "
            f"got {type(value).__name__} {value!r}"
        )
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a real number or an array of real numbers, "
            f"got {type(value).__name__}: {error}"
        ) from None
    kind = array.dtype.kind
    if kind == "f":
        pass
    elif kind in "iub":
        array = array.astype(np.float64)
    else:
        what = {"c": "complex", "O": "object", "U": "string", "S": "bytes"}.get(
            kind, str(array.dtype)
        )
        raise TypeError(
            f"{name} must be a real number or an array of real numbers, "
            f"got {what} data (dtype {array.dtype})"
        )
    return array, array.ndim == 0 and not isinstance(value, np.ndarray)


def finish(result: np.ndarray, scalar: bool) -> Any:
    """Return a NumPy scalar for scalar input, the array otherwise."""
    if scalar:
        return np.asarray(result)[()]
    return np.asarray(result)
