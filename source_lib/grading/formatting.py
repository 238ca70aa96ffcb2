"""How values and fields read in a failure message: one line each, wrapped to a width.

A failure message (:class:`source_lib.grading.messages.Failure`) shows the
input, the expected value and the value returned, each in a field
(:func:`field`) wrapped to :data:`MESSAGE_WIDTH` and continued under
:data:`INDENT` (:func:`wrap`, which never breaks a word, a number or a
`code span`). A value is rendered by :func:`format_value` (floats always read as
floats; an array fits one line, its corners when it is large), the inputs by
:func:`format_inputs`, and a hidden input only by what it is
(:func:`hidden_description`), never by its values. :func:`shorten` puts any
text on one line of a given length.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np

from source_lib.grading.arithmetic import ndarray

__all__ = [
    "INDENT",
    "MESSAGE_WIDTH",
    "field",
    "format_inputs",
    "format_value",
    "hidden_description",
    "shorten",
    "wrap",
]

#: The width of a failure message: ``nbgrader validate`` and narrow notebook
#: columns cut longer lines off.
MESSAGE_WIDTH = 79

#: The indent of a field's continuation lines (under the text of ``"  hint:     "``).
INDENT = " " * 12

_CODE_SPAN = re.compile(r"`[^`]*`")
_KEEP = "\x00"  # a space that wrapping keeps


def format_value(value: Any) -> str:
    """Return a short, readable rendering of ``value`` for a failure message.

    Floats keep 10 significant digits and always read as floats (``-99.0``,
    never ``-99``); an array is one line (:func:`_format_array`).

    Examples
    --------
    >>> format_value(2 / 3)
    '0.6666666667'
    >>> format_value(-98.99999999999991), format_value(-99.0), format_value(1e300)
    ('-99.0', '-99.0', '1e+300')
    >>> format_value(np.float32(0.5))
    'np.float32(0.5)'
    >>> format_value(np.array([1.0, -2.0]))
    'array([1., -2.])'
    >>> format_value(np.arange(12.0).reshape(4, 3) / 7)
    'array([[0., ..., 0.285714], ..., [1.28571, ..., 1.57143]]) (shape (4, 3))'
    """
    if value is None:
        return "None"
    if isinstance(value, bool | str):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, np.generic):
        if value.dtype.kind not in "fiub":
            return repr(value)
        inner = format_value(value.item())
        return inner if value.dtype == np.float64 else f"np.{value.dtype.name}({inner})"
    if isinstance(value, float):
        exact = not math.isfinite(value) or value == int(value)
        return repr(value) if exact else _float_text(value, 10)
    if isinstance(value, ndarray):
        return _format_array(value)
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def _float_text(value: float, digits: int, point: str = ".0") -> str:
    """``value`` to ``digits`` significant digits, always with a point or an exponent.

    So a float never reads as an integer, also when its digits round to one:
    -98.99999999999991 is ``-99.0``, not ``-99``.

    Examples
    --------
    >>> _float_text(-98.99999999999991, 10), _float_text(1e300, 10), _float_text(2.0, 6, ".")
    ('-99.0', '1e+300', '2.')
    """
    text = f"{value:.{digits}g}"
    return text if any(mark in text for mark in ".ein") else f"{text}{point}"


def _format_element(value: Any) -> str:
    """One float of an array: 6 significant digits, always with a point or an exponent."""
    return _float_text(float(value), 6, ".")


#: Characters an array's rendering aims at, so that it fits one line of a message.
_ARRAY_WIDTH = 64


def _format_array(value: np.ndarray) -> str:
    """An array on one line: its elements (at most a few, 6 significant digits) and shape.

    Fewer elements are shown until the text fits :data:`_ARRAY_WIDTH` characters
    (a matrix shows its corners); the dtype is named when it is not float64, and
    the shape when the array is not 1-D.
    """
    if value.ndim == 0:
        with np.printoptions(precision=10):
            return repr(value)
    dtype = "" if value.dtype == np.float64 else f", dtype={value.dtype}"
    text = ""
    for threshold, edgeitems in ((8, 3), (6, 2), (0, 1)):
        body = np.array2string(
            value,
            threshold=threshold,
            edgeitems=edgeitems,
            separator=", ",
            max_line_width=10**6,
            formatter={"float_kind": _format_element},
        )
        text = f"array({' '.join(line.strip() for line in body.splitlines())}{dtype})"
        if len(text) <= _ARRAY_WIDTH:
            return text if value.ndim == 1 else f"{text} (shape {value.shape})"
    return _brief_array(value)


def _brief_array(value: np.ndarray) -> str:
    """An array by its shape (and dtype, when not float64): ``array of shape (4, 3)``."""
    dtype = "" if value.dtype == np.float64 else f"{value.dtype} "
    return f"{dtype}array of shape {value.shape}"


def format_inputs(inputs: Mapping[str, Any]) -> str:
    """``name = value, ...`` for a message's input field.

    When they would take more than two lines of a message, arrays of more than
    one dimension are given by their shape and range only (a layer's matrices).
    """
    text = ", ".join(f"{name} = {format_value(value)}" for name, value in inputs.items())
    if len(text) <= 2 * (MESSAGE_WIDTH - len(INDENT)):
        return text
    brief = {
        name: _brief_array(value) if isinstance(value, ndarray) and value.ndim > 1 else None
        for name, value in inputs.items()
    }
    return ", ".join(
        f"{name} = {brief[name] or format_value(value)}" for name, value in inputs.items()
    )


def hidden_description(value: Any) -> str:
    """What a hidden input is, without its values: ``a float32 array of shape (3,)``.

    Examples
    --------
    >>> hidden_description(np.zeros(3, dtype=np.float32))
    'a float32 array of shape (3,)'
    >>> hidden_description(2.5)
    'a Python float'
    """
    if callable(value):
        return format_value(value)
    if isinstance(value, ndarray):
        kind = f"read-only {value.dtype}" if not value.flags.writeable else str(value.dtype)
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{article} {kind} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"a NumPy {value.dtype} scalar"
    return f"a Python {type(value).__name__}"


def shorten(text: str, limit: int = 160) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``limit`` characters.

    Examples
    --------
    >>> shorten("a  long\\n message", 10)
    'a long...'
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def wrap(text: str, first: str) -> str:
    """``text`` after ``first``, wrapped to :data:`MESSAGE_WIDTH`, continued under :data:`INDENT`.

    Each line of ``text`` is wrapped on its own, never inside a word, a number
    or a `code span`.
    """
    lines = []
    for index, line in enumerate(text.splitlines() or [""]):
        line = _CODE_SPAN.sub(lambda span: span.group(0).replace(" ", _KEEP), line)
        initial = first if index == 0 else INDENT
        lines += textwrap.wrap(
            line,
            MESSAGE_WIDTH,
            initial_indent=initial,
            subsequent_indent=INDENT,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [initial.rstrip()]
    return "\n".join(lines).replace(_KEEP, " ")


def field(label: str, text: str) -> str:
    """``label`` and ``text``, wrapped to :data:`MESSAGE_WIDTH` under the text."""
    return wrap(text, f"  {label:<9} ")
