"""Hints for a call that raised: the usual causes of an exception in an exercise.

``^`` written for a power, a ``math`` function given an array, ``if x < 0``
on an array, a Python loop over a scalar, an integer array to a negative
integer power, a modified read-only input, a Python float overflowing in
``**``, a name not defined, a division by zero: :func:`exception_diagnosis`
names the mistake and gives its hint, with a right answer of the exercise
(:func:`example`) where one helps.

Each example is a form that is right on the exercise's whole domain without a
warning: ``(1 / (1 + np.abs(x))) ** 2`` rather than ``1 / (1 + np.abs(x)) ** 2``
(whose square overflows, with a warning, beyond about 1e154), and
``(1 / np.cosh(x)) ** 2`` for tanh's derivative rather than
``1 - np.tanh(x) ** 2``, which cancels: its relative error is 1e-8 at x = 10
and 100 % from about x = 19, where it returns 0.
:mod:`source_lib.grading.messages` exports these too.
"""

from __future__ import annotations

import re

__all__ = [
    "assigned_argument",
    "example",
    "exception_diagnosis",
    "hint_for_exception",
    "loop_hint",
    "overflow_hint",
    "read_only_hint",
]


_SCALAR_ONLY_MESSAGES = (
    "only length-1 arrays can be converted",
    "only 0-dimensional arrays can be converted",
    "only size-1 arrays can be converted",
    "must be real number, not",
    "only integer scalar arrays",
)
_SCALAR_ONLY_HINT = (
    "a scalar-only function (from the math module, or float()/int()) was given "
    "an array: use the NumPy version (np.abs, np.tanh, np.cosh...), which works "
    "element-wise"
)
_TRUTH_VALUE_HINT = (
    "`if x < 0:` (or `and`/`or`/max/min) works on one number only: "
    "use np.where, np.abs or np.sign, which work element-wise"
)

#: Parts of the messages Python and NumPy give when a loop meets a scalar or
#: a 0-d array (``for v in x``, ``range(len(x))``, ``x[i]``).
_LOOP_MESSAGES = (
    "object is not iterable",
    "iteration over a 0-d array",
    "len() of unsized object",
    "has no len()",
    "invalid index to scalar variable",
    "too many indices for array",
    "object is not subscriptable",
    "object does not support item assignment",
)

#: A right answer for each exercise, written as one NumPy expression (hints): right on
#: the exercise's whole domain, without a warning (see the module docstring).
_EXAMPLES = {
    "softsign": "x / (1 + np.abs(x))",
    "abs_derivative": "np.sign(np.asarray(x, dtype=float))",
    "softsign_derivative": "(1 / (1 + np.abs(x))) ** 2",
    "numerical_derivative": "(f(x + h) - f(x - h)) / (2 * h)",
    "tanh_derivative": "(1 / np.cosh(x)) ** 2",
    "softsign_inverse": "y / (1 - np.abs(y))",
}

#: Parts of the messages Python and NumPy give for ``^`` between floats: ``^`` is XOR.
_XOR_MESSAGES = ("for ^:", "for ^=:", "'bitwise_xor' not supported")

#: NumPy's message for an integer array raised to a negative integer power.
_INTEGER_POWER_MESSAGE = "Integers to negative integer powers are not allowed"


_XOR_HINT = "`^` is bitwise XOR in Python, not a power: write `**`, e.g. `x ** 2` for x squared"

_INTEGER_POWER_HINT = (
    "a NumPy integer (or integer array) raised to a negative integer power "
    "(`** -2`): NumPy keeps integers as integers, so it refuses. Convert first "
    "with `x = np.asarray(x, dtype=float)`, or divide: `1 / (...) ** 2`"
)


#: Python's message for a float ``**`` whose result is beyond the float range.
_POWER_OVERFLOW_MESSAGE = "Numerical result out of range"


def overflow_hint(name: str) -> str:
    """The hint for a Python float that overflowed in ``**`` (Python raises, NumPy gives inf)."""
    if name == "softsign_derivative":
        return (
            "`(1 + abs(x)) ** 2` (or `x ** 2`) overflows a Python float for |x| "
            "beyond about 1e154: Python's `**` raises where NumPy gives inf. Use "
            "NumPy (np.abs works on Python floats too and gives inf, not an error) "
            f"or divide before you square: `{example(name)}`"
        )
    return (
        "a power of a Python float overflowed: Python's `**` raises where NumPy "
        "gives inf. Use NumPy (np.abs works on Python floats too and returns a NumPy "
        f"float), e.g. `{example(name)}`"
    )


def example(name: str) -> str:
    """A right answer for exercise ``name``, as one NumPy expression."""
    return _EXAMPLES.get(name, "np.abs(x)")


def loop_hint(name: str) -> str:
    """The hint for a Python loop that met a scalar or a 0-d array."""
    return (
        "a Python loop over the input (`for v in x`, `range(len(x))`) fails for "
        "scalars and 0-d arrays and is slow: write one NumPy expression that "
        f"works on the whole array at once, e.g. `{example(name)}`"
    )


#: The arguments of each exercise a function may change in place, in order.
_ARGUMENTS = {
    "softsign_inverse": ("y",),
    "numerical_derivative": ("x",),
    "softsign_layer_backward": ("x", "W", "b", "grad_output"),
}

#: For an exercise of several arguments, a line that makes a new array from each.
_NEW_ARRAYS = {
    "softsign_layer_backward": {
        "x": "z = x @ W + b",
        "W": "grad_W = x.T @ delta",
        "b": "grad_b = delta.sum(axis=0)",
        "grad_output": "delta = grad_output * ...",
    },
}


def read_only_hint(name: str, argument: str | None = None) -> str:
    """The hint for a function that changed its argument ``argument`` in place.

    It names the argument (when the check knows it; else the exercise's
    arguments) and gives an example that fits the exercise: a right answer of
    an element-wise exercise, a new array of the layer's backward pass.

    Examples
    --------
    >>> "`delta = grad_output * ...` creates a new array" in read_only_hint(
    ...     "softsign_layer_backward", "grad_output"
    ... )
    True
    """
    arguments = _ARGUMENTS.get(name, ("x",))
    new_arrays = _NEW_ARRAYS.get(name)
    if new_arrays is not None:
        if argument not in arguments:
            listed = ", ".join(arguments)
            return (
                f"{name} changed one of its arguments ({listed}) in place: "
                f"`{new_arrays['grad_output']}` creates a new array, while "
                "`grad_output *= ...` (or `grad_output[...] = ...`) changes the caller's"
            )
        return (
            f"{name} changed its argument {argument} in place: `{new_arrays[argument]}` "
            f"creates a new array, while `{argument} *= ...` (or `{argument}[...] = ...`) "
            "changes the caller's"
        )
    variable = argument if argument in arguments else arguments[0]
    return (
        f"{name} changed its argument {variable} in place: `{variable} *= ...` or "
        f"`{variable}[...] = ...` writes into the caller's array. Compute a new "
        f"array instead, e.g. `{example(name)}`"
    )


#: An assignment into an array at the start of a source line: ``g *= ...``, ``g[...] = ...``.
_ASSIGNED = re.compile(r"`(\w+)\s*(?:\[[^\]]*\])?\s*(?:[-+*/@%&|^]|//|\*\*)?=(?!=)")


def assigned_argument(name: str, where: str) -> str | None:
    """The argument of exercise ``name`` that the student's line ``where`` assigns into, or None.

    Examples
    --------
    >>> assigned_argument("softsign_layer_backward", "line 3: `grad_output *= d`")
    'grad_output'
    >>> assigned_argument("softsign", "line 2: `y = x * 2`") is None
    True
    """
    found = _ASSIGNED.search(where)
    if found is None or found.group(1) not in _ARGUMENTS.get(name, ("x",)):
        return None
    return found.group(1)


def exception_diagnosis(
    error: str, text: str, name: str = "", where: str = ""
) -> tuple[str, str] | None:
    """The mistake and hint for an exception named ``error`` with message ``text``, or None.

    ``where`` is the student's line the exception came from (it names the
    argument a function wrote into).

    Examples
    --------
    >>> exception_diagnosis("TypeError", "unsupported operand type(s) for ^: 'float' and 'int'")[0]
    'xor_for_power'
    """
    if error == "TypeError" and any(part in text for part in _XOR_MESSAGES):
        return "xor_for_power", _XOR_HINT
    if error == "ValueError" and _INTEGER_POWER_MESSAGE in text:
        return "integer_power", _INTEGER_POWER_HINT
    if error == "TypeError" and any(part in text for part in _SCALAR_ONLY_MESSAGES):
        return "scalar_only_function", _SCALAR_ONLY_HINT
    if "truth value of an array" in text:
        return "array_truth_value", _TRUTH_VALUE_HINT
    if error == "ValueError" and "read-only" in text:
        return "modified_input", read_only_hint(name, assigned_argument(name, where))
    if error in ("TypeError", "IndexError") and any(part in text for part in _LOOP_MESSAGES):
        return "python_loop", loop_hint(name)
    if error == "OverflowError" and _POWER_OVERFLOW_MESSAGE in text:
        return "python_float_overflow", overflow_hint(name)
    if error in ("NameError", "UnboundLocalError"):
        return (
            "undefined_name",
            "a name is not defined: did you run every cell above, including the Setup cell?",
        )
    if error == "ZeroDivisionError":
        return "zero_division", (
            "a Python number divided by zero (NumPy would give inf and a warning "
            "instead): start with `x = np.asarray(x, dtype=float)`, or avoid the division"
        )
    return None


def hint_for_exception(error: str, text: str, name: str = "") -> str | None:
    """A hint for an exception named ``error`` (its class name) with message ``text``."""
    found = exception_diagnosis(error, text, name)
    return None if found is None else found[1]
