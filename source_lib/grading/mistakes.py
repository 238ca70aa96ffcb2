"""Models of common wrong answers, and the hint of the one a wrong result matches.

A :class:`Mistake` is a model of what a common wrong answer returns and the
hint that explains it; :func:`matching_mistake` finds the first whose model
gives a student's wrong values, and :func:`elementwise_hint` adds rules on
where the wrong values of an element-wise exercise lie (only at 0, only for
negative inputs, nan). :mod:`source_lib.grading.messages` exports these too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from source_lib.grading.arithmetic import asarray, close, equal, isnan, quiet

__all__ = [
    "Mistake",
    "elementwise_hint",
    "matching_mistake",
    "model_rtol",
]


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer: a model of what it returns and the hint that explains it.

    When a student's wrong values match ``model`` (on the inputs where they
    are wrong), the failure message carries ``hint``.
    """

    model: Callable[..., Any]
    hint: str


def model_rtol(dtype: np.dtype[Any]) -> float:
    """How closely a mistake's float64 model must match a result computed in ``dtype``."""
    if dtype.kind != "f" or dtype.itemsize >= 8:
        return 1e-6
    return 1e-4 if dtype.itemsize == 4 else 1e-2


def matching_mistake(
    mistakes: Sequence[Mistake],
    arguments: Sequence[Any],
    got: Any,
    *,
    rtol: Any,
    atol: float,
    part: int | None = None,
    where: np.ndarray | None = None,
) -> str | None:
    """The hint of the first mistake whose model returns ``got``, or None.

    Each model is called with ``arguments``; ``part`` picks one item of what
    it returns (one gradient of three), ``where`` the elements compared (the
    wrong ones; ``rtol`` is then one number or one per compared element).
    """
    got64 = asarray(got, dtype=np.float64)
    for mistake in mistakes:
        with quiet():
            try:
                model = mistake.model(*arguments)
                model = asarray(model if part is None else model[part], dtype=np.float64)
            except Exception:
                continue
        if model.shape != got64.shape:
            continue
        if where is None:
            matches = close(got64, model, rtol, atol)
        else:
            matches = close(got64[where], model[where], rtol, atol)
        if bool(matches.all()):
            return mistake.hint
    return None


def elementwise_hint(
    mistakes: Sequence[Mistake],
    x: Any,
    got: Any,
    expected: Any,
    mismatch: np.ndarray,
    rtol: Any = None,
    *,
    argname: str,
    negative_hint: str,
    zero_hint: str | None = None,
) -> str | None:
    """The hint for wrong values of an element-wise exercise, or None.

    The hint of the first mistake whose model gives the wrong values; else a
    rule on where they lie: nan at 0 or wrong only at 0 (``zero_hint``), wrong
    only for negative inputs (``negative_hint``), nan where a number was due.
    ``rtol`` (a number, or one per element) is how closely a model must
    match: by default as closely as ``x``'s precision allows.
    """
    x64 = asarray(x, dtype=np.float64)
    got64 = asarray(got, dtype=np.float64)
    if rtol is None:
        rtol = model_rtol(asarray(x).dtype)
    rtol = np.broadcast_to(asarray(rtol, dtype=np.float64), x64.shape)[mismatch]
    hint = matching_mistake(mistakes, (x64,), got64, rtol=rtol, atol=1e-12, where=mismatch)
    if hint is not None:
        return hint
    wrong_x = x64[mismatch]
    if bool(equal(wrong_x, 0.0).all()):
        if bool(isnan(got64[mismatch]).all()):
            return (
                f"got nan at {argname} = 0: a 0/0 somewhere? (e.g. {argname} / "
                f"|{argname}| is undefined at 0); handle 0 without dividing by it"
            )
        if zero_hint:
            return zero_hint
        return f"right everywhere except at {argname} = 0: check that case"
    if bool((wrong_x < 0).all()):
        return negative_hint
    if bool(isnan(got64[mismatch]).any()) and not bool(
        isnan(asarray(expected, dtype=np.float64)[mismatch]).any()
    ):
        return "you returned nan where a number was expected: is there a 0/0 or inf/inf?"
    return None
