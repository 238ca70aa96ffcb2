"""Check functions behind every graded test cell, and the small framework they share.

Each exercise of the course has one check, called from the notebook's test
cells as ``check_NAME(NAME, group)``:

========================================  ==========================================
check                                     graded function (student's)
========================================  ==========================================
:func:`check_softsign`                    ``softsign(x)``
:func:`check_abs_derivative`              ``abs_derivative(x)``
:func:`check_softsign_derivative`         ``softsign_derivative(x)``
:func:`check_numerical_derivative`        ``numerical_derivative(f, x, h=1e-5)``
:func:`check_tanh_derivative`             ``tanh_derivative(x)``
:func:`check_softsign_inverse`            ``softsign_inverse(y)``
========================================  ==========================================

``group`` is one of :data:`GROUPS`: ``"values"`` (Python and NumPy scalars:
positive, negative, zero and -0.0, ints, float32 and float16), ``"arrays"``
(1-D, 2-D, 3-D, 0-d and empty arrays; float64, float32, float16 and int
arrays; read-only and non-contiguous ones; for the exercises defined on the
whole line, magnitudes from 1e-100 to 1e100; the input must not be modified),
and the groups the graders add in hidden tests: ``"hidden_values"`` beside
``"values"`` and ``"hidden_arrays"`` beside ``"arrays"``. The hidden groups
check nothing the visible ones do not: they hold the same kinds of input with
other values (mostly random), so a student whose visible tests pass loses
marks only for a function that is wrong on values the visible tests did not
try. A bug that shows only in arrays costs the arrays cell and not the values
cell. ``"hidden"`` runs all of them. Every group also draws a
few inputs at random, fresh each time it runs. A check returns ``None`` when
the function is right and raises :class:`CheckFailure` otherwise, with a short
message a student can act on: the input, the expected value, the value
returned, and a hint.

One check, two places
---------------------
In JupyterLab a check calls the student's function directly, in the
student's kernel. During ``nbgrader autograde`` the same check runs in the
nbgrader process instead, as the judge of :mod:`source_lib.grading.judge`:
the kernel only runs the student's function on the inputs the check chose
and returns the results as plain data, and the check compares them here with
its own reference (see :mod:`source_lib.grading.replay`). So the messages are
the same in both places, and nothing the student's code does in its kernel
(replacing these functions, NumPy or the reference) can change a verdict.

What a check guarantees
-----------------------
* Every correct vectorised form passes (``np.where`` branches, ``np.sign``
  tricks, ``np.sqrt(x * x)`` for ``|x|``, ``1 / np.cosh(x)**2``...): values
  are compared with a relative tolerance and a small absolute one, never with
  ``==``, on inputs where every correct form is exact enough. A result must
  hold floating-point numbers (of any precision), also for integer input, as
  the exercises ask, and have the input's shape.
* Student code runs with warnings ignored, floating-point errors silenced and
  ``stdout``/``stderr`` captured; the judge ignores everything the kernel
  prints, so output never costs marks.
* Each call may take :data:`CALL_TIME_LIMIT` seconds; a longer one fails
  with a message saying so.
* The student sees the message, not a traceback: frames inside ``source_lib``
  are hidden from IPython and failures are raised ``from None``.

Writing a new check
-------------------
A check for another exercise (for example in its own module) is built from the
public pieces here::

    from source_lib.grading.exercises import call_student, case_rng, check_function, compare

    @check_function("softsign_layer_backward")
    def check_softsign_layer_backward(func, group):
        for x, upstream in my_cases(group, case_rng()):
            got = call_student(func, x, upstream, name="softsign_layer_backward")
            compare(got, my_reference(x, upstream), name="softsign_layer_backward",
                    inputs={"x": x, "upstream": upstream}, hint=my_hint)

The rules that let the judge run it: reach the student's function only
through :func:`call_student` (whose ``name`` must be a function that
``source_lib`` exports, the reference), draw random inputs only from
:func:`case_rng`, and choose the cases without looking at the student's
results. :func:`check_function` validates the group, silences warnings,
hides the check's frames from tracebacks and registers the check in
:data:`CHECKS`, where the judge finds it by name. :func:`compare` raises the
standard input/expected/got/hint message.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy._core import multiarray as _multiarray
from numpy._core import umath as _umath

from source_lib.grading.collector import TEST_FUNCTIONS, no_kernel_exit
from source_lib.grading.collector import call as collector_call
from source_lib.grading.replay import current_session

__all__ = [
    "CALL_TIME_LIMIT",
    "CHECKS",
    "GROUPS",
    "CheckFailure",
    "Mistake",
    "call_student",
    "case_rng",
    "check_abs_derivative",
    "check_function",
    "check_numerical_derivative",
    "check_softsign",
    "check_softsign_derivative",
    "check_softsign_inverse",
    "check_tanh_derivative",
    "compare",
    "format_value",
]

#: The test groups every check accepts.
GROUPS = ("values", "arrays", "hidden_values", "hidden_arrays", "hidden")

#: Seconds one call of a student's function may take before it is stopped.
CALL_TIME_LIMIT = 3.0

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])

# NumPy's building blocks, bound once (the checks' arithmetic on results).
_asarray = _multiarray.asarray
_array = _multiarray.array
_absolute = _umath.absolute
_isnan = _umath.isnan
_subtract = _umath.subtract
_multiply = _umath.multiply
_add = _umath.add
_less_equal = _umath.less_equal
_equal = _umath.equal
_logical_or = _umath.logical_or
_logical_and = _umath.logical_and
_signbit = _umath.signbit
_tanh = _umath.tanh
_ndarray = np.ndarray
_errstate = np.errstate


def _is_library_code(code: Any) -> bool:
    return code.co_filename.startswith(_PACKAGE_DIR)


class CheckFailure(AssertionError):
    """A graded function gave a wrong answer; the message says what and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def _render_traceback_(self) -> list[str]:
        """Format the failure for IPython without the frames inside ``source_lib``.

        IPython (JupyterLab, nbgrader's kernel) calls this hook instead of
        printing the whole traceback: the student sees the test cell's line
        and the message.
        """
        traceback = self.__traceback__
        previous = None
        while traceback is not None and not _is_library_code(traceback.tb_frame.f_code):
            previous, traceback = traceback, traceback.tb_next
        if previous is not None:
            previous.tb_next = None
        shell = _ipython_shell()
        if shell is None or previous is None:
            return [f"{type(self).__name__}: {self}"]
        return shell.InteractiveTB.structured_traceback(
            type(self), self, self.__traceback__, tb_offset=None
        )


def _ipython_shell() -> Any:
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython() if callable(get_ipython) else None


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """Return a short, readable rendering of ``value`` for a failure message.

    Floats keep 10 significant digits; arrays show their shape, dtype and at
    most a few elements.

    Examples
    --------
    >>> format_value(2 / 3)
    '0.6666666667'
    >>> format_value(np.float32(0.5))
    'np.float32(0.5)'
    >>> format_value(np.array([1.0, -2.0]))
    'array([ 1., -2.])'
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
        return f"{value:.10g}" if math.isfinite(value) and value != int(value) else repr(value)
    if isinstance(value, _ndarray):
        options = {"threshold": 8, "edgeitems": 3, "precision": 10, "suppress": False}
        with np.printoptions(**options):
            text = repr(value)
        if value.ndim == 0:
            return text
        if "shape=" in text or (value.ndim == 1 and value.size > 0):
            return text
        return f"{text} (shape {value.shape})"
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def _format_inputs(inputs: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} = {format_value(value)}" for name, value in inputs.items())


#: True while a check runs its hidden group: messages then describe the
#: failing input instead of printing it, so hidden cases stay hidden.
_HIDDEN_GROUP: contextvars.ContextVar[bool] = contextvars.ContextVar("hidden", default=False)


def _describe(value: Any) -> str:
    if callable(value):
        return format_value(value)
    if isinstance(value, _ndarray):
        kind = f"read-only {value.dtype}" if not value.flags.writeable else str(value.dtype)
        article = "an" if kind[0] in "aeiou" else "a"
        return f"{article} {kind} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"a NumPy {value.dtype} scalar"
    return f"a Python {type(value).__name__}"


#: The width of a failure message: ``nbgrader validate`` and narrow notebook
#: columns cut longer lines off.
MESSAGE_WIDTH = 79

_INDENT = " " * 12  # under the text of "  hint:     "
_CODE_SPAN = re.compile(r"`[^`]*`")
_KEEP = "\x00"  # a space that wrapping keeps


def _field(label: str, text: str) -> str:
    """``label`` and ``text``, wrapped to :data:`MESSAGE_WIDTH` under the text.

    Each line of ``text`` (an array's repr has several) is wrapped on its own,
    never inside a word, a number or a `code span`.
    """
    lines = []
    for index, line in enumerate(text.splitlines() or [""]):
        line = _CODE_SPAN.sub(lambda span: span.group(0).replace(" ", _KEEP), line)
        first = f"  {label:<9} " if index == 0 else _INDENT
        lines += textwrap.wrap(
            line,
            MESSAGE_WIDTH,
            initial_indent=first,
            subsequent_indent=_INDENT,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [first.rstrip()]
    return "\n".join(lines).replace(_KEEP, " ")


def _message(
    name: str,
    problem: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    expected: Any = None,
    got: Any = None,
    hint: str | None = None,
    show_values: bool = True,
    element: Mapping[str, Any] | None = None,
) -> str:
    lines = [f"{name}: {problem}"]
    if _HIDDEN_GROUP.get():
        if inputs:
            described = ", ".join(f"{key} = {_describe(value)}" for key, value in inputs.items())
            lines.append(_field("input:", f"a hidden case ({described})"))
    else:
        if inputs:
            lines.append(_field("input:", _format_inputs(inputs)))
        if element:
            lines.append(_field("first wrong element:", _format_inputs(element)))
        if show_values:
            lines.append(_field("expected:", format_value(expected)))
            lines.append(_field("got:", format_value(got)))
    if hint:
        lines.append(_field("hint:", hint))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Running student code
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Ignore warnings and floating-point errors (while a mistake's model is evaluated)."""
    with warnings.catch_warnings(), _errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


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

#: A right answer for each exercise, written as one NumPy expression (hints).
_EXAMPLES = {
    "softsign": "x / (1 + np.abs(x))",
    "abs_derivative": "np.sign(np.asarray(x, dtype=float))",
    "softsign_derivative": "1 / (1 + np.abs(x)) ** 2",
    "numerical_derivative": "(f(x + h) - f(x - h)) / (2 * h)",
    "tanh_derivative": "1 - np.tanh(x) ** 2",
    "softsign_inverse": "y / (1 - np.abs(y))",
}


def _example(name: str) -> str:
    return _EXAMPLES.get(name, "np.abs(x)")


def _loop_hint(name: str) -> str:
    return (
        "a Python loop over the input (`for v in x`, `range(len(x))`) fails for "
        "scalars and 0-d arrays and is slow: write one NumPy expression that "
        f"works on the whole array at once, e.g. `{_example(name)}`"
    )


def _read_only_hint(name: str) -> str:
    """The hint for a function that changed its argument, with that function's own example."""
    variable = "y" if name == "softsign_inverse" else "x"
    return (
        f"{name} changed its argument in place (`{variable} *= ...`, "
        f"`{variable}[...] = ...`): np.asarray({variable}) does not copy a float "
        "array, so the caller's array changes too. Compute a new array instead, "
        f"e.g. `{_example(name)}`"
    )


def _hint_for_exception(error: str, text: str, name: str = "") -> str | None:
    """A hint for an exception named ``error`` (its class name) with message ``text``."""
    if error == "TypeError" and any(part in text for part in _SCALAR_ONLY_MESSAGES):
        return _SCALAR_ONLY_HINT
    if "truth value of an array" in text:
        return _TRUTH_VALUE_HINT
    if error == "ValueError" and "read-only" in text:
        return _read_only_hint(name)
    if error in ("TypeError", "IndexError") and any(part in text for part in _LOOP_MESSAGES):
        return _loop_hint(name)
    if error in ("NameError", "UnboundLocalError"):
        return "a name is not defined: did you run every cell above, including the Setup cell?"
    if error == "ZeroDivisionError":
        return (
            "a Python number divided by zero (NumPy would give inf and a warning "
            "instead): start with `x = np.asarray(x, dtype=float)`, or avoid the division"
        )
    return None


def call_student(
    func: Callable[..., Any],
    *args: Any,
    name: str,
    inputs: Mapping[str, Any] | None = None,
    time_limit: float | None = None,
    **kwargs: Any,
) -> Any:
    """Call a student's function and return its result, or fail with a message.

    In JupyterLab the function is called here, with warnings ignored,
    floating-point errors silenced, anything printed discarded and a time
    limit. While the judge grades a notebook, the call is answered by the
    current grading session instead (see :mod:`source_lib.grading.replay`):
    the same call ran in the student's kernel, and only its outcome, as plain
    data, reached this process. Either way, anything unusual becomes a
    :class:`CheckFailure` with a message for the student.

    Parameters
    ----------
    func : callable
        The student's function (ignored while the judge replays a kernel's outcomes).
    *args, **kwargs
        The arguments to call it with.
    name : str
        The graded function's name, used in messages (and, while the judge
        plans a check, to find the reference that stands in for the student).
    inputs : mapping, optional
        Argument names and values shown in a failure message (default: the
        positional arguments as ``arg0``, ``arg1``...).
    time_limit : float, optional
        Seconds the call may take (default :data:`CALL_TIME_LIMIT`; enforced in
        the main thread on POSIX only; 0 disables it).

    Returns
    -------
    object
        Whatever ``func`` returned.

    Raises
    ------
    CheckFailure
        When ``func`` is missing, not implemented, raises an exception, exits
        or runs too long.

    Examples
    --------
    >>> call_student(lambda x: 2 * x, 3, name="double")
    6
    >>> call_student(lambda x: x.sort(), [2, 1], name="f")
    """
    __tracebackhide__ = True
    inputs = inputs if inputs is not None else {f"arg{i}": a for i, a in enumerate(args)}
    time_limit = CALL_TIME_LIMIT if time_limit is None else time_limit
    session = current_session()
    if session is not None:
        outcome = session.call(name, args, kwargs)
    else:
        with no_kernel_exit():
            outcome = collector_call(func, args, kwargs, time_limit)
    if outcome.kind == "value":
        return outcome.value
    hint: str | None = None
    if outcome.kind == "missing":
        problem = "is not defined"
        hint = f"run the cell that defines `{name}` (and the Setup cell), then this test"
    elif outcome.kind == "not_callable":
        problem = f"expected a function, got {outcome.error}"
        hint = f"did you assign to `{name}` after defining it? Re-run its cell."
    elif outcome.kind == "not_implemented":
        problem = "not implemented yet"
        hint = (
            f"replace `raise NotImplementedError()` in `{name}` with your code, "
            "run that cell, then run this test again"
        )
    elif outcome.kind == "timeout":
        problem = f"did not finish within {time_limit:g} seconds"
        hint = "is there an endless loop? A vectorised NumPy expression needs no loop at all"
    elif outcome.kind == "exit":
        problem = "called sys.exit() (or exit()/quit())"
        hint = "a graded function must return its result, not stop Python"
    else:
        # the first line stays within MESSAGE_WIDTH (it is not wrapped)
        room = MESSAGE_WIDTH - len(f"{name}: raised {outcome.error}: ")
        problem = f"raised {outcome.error}: {_shorten(outcome.message, max(room, 24))}"
        hint = _hint_for_exception(outcome.error, outcome.message, name)
    raise CheckFailure(_message(name, problem, inputs=inputs, hint=hint, show_values=False))


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------
# Comparing results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer: a model of what it returns and the hint that explains it.

    When a student's wrong values match ``model`` (on the inputs where they
    are wrong), the failure message carries ``hint``.
    """

    model: Callable[..., Any]
    hint: str


def _as_result_array(got: Any, name: str, inputs: Mapping[str, Any], expected: Any) -> np.ndarray:
    __tracebackhide__ = True
    if got is None:
        raise CheckFailure(
            _message(
                name,
                "returned None",
                inputs=inputs,
                expected=expected,
                got=got,
                hint="did you forget the `return` statement?",
            )
        )
    try:
        array = _asarray(got)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "iuf":
        kind = "complex numbers" if array is not None and array.dtype.kind == "c" else None
        raise CheckFailure(
            _message(
                name,
                f"returned {kind or type(got).__name__}, not real numbers",
                inputs=inputs,
                expected=expected,
                got=got,
                hint="return a float or a NumPy array of floats",
            )
        )
    return array


def _integer_hint(name: str) -> str:
    return (
        "return floating-point numbers, also for integer input: np.sign, np.abs "
        "and np.where(..., 1, -1) keep integers as integers. Convert first with "
        "`x = np.asarray(x, dtype=float)`, or write 1.0 and -1.0"
        if name != "softsign_inverse"
        else "return floating-point numbers, also for integer input: convert first "
        "with `y = np.asarray(y, dtype=float)`"
    )


def _require_float(
    got_array: np.ndarray, got: Any, name: str, inputs: Mapping[str, Any], expected: Any
) -> None:
    """Fail unless the (right) result holds floating-point numbers, as the exercises ask."""
    __tracebackhide__ = True
    if got_array.dtype.kind == "f":
        return
    raise CheckFailure(
        _message(
            name,
            f"returned integers ({got_array.dtype}), not floating-point numbers",
            inputs=inputs,
            expected=expected,
            got=got,
            hint=_integer_hint(name),
        )
    )


def _close(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    got = _asarray(got, dtype=np.float64)
    expected = _asarray(expected, dtype=np.float64)
    with _errstate(all="ignore"):
        difference = _absolute(_subtract(got, expected))
        tolerance = _add(atol, _multiply(rtol, _absolute(expected)))
        within = _less_equal(difference, tolerance)
        same = _equal(got, expected)  # equal infinities
        both_nan = _logical_and(_isnan(got), _isnan(expected))
    return _logical_or(_logical_or(within, same), both_nan)


def _tolerances(dtype: np.dtype | None, rtol: float, atol: float) -> tuple[float, float]:
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        eps = float(np.finfo(dtype).eps)
        return max(rtol, 8 * eps), max(atol, 4 * eps)
    return rtol, atol


def compare(
    got: Any,
    expected: Any,
    *,
    name: str,
    inputs: Mapping[str, Any],
    rtol: float = 1e-7,
    atol: float = 1e-12,
    hint: str | Callable[[np.ndarray, np.ndarray, np.ndarray], str | None] | None = None,
    problem: str | None = None,
    require_float: bool = False,
) -> None:
    """Raise :class:`CheckFailure` unless ``got`` matches ``expected`` element-wise.

    Element-wise, ``|got - expected| <= atol + rtol * |expected|``; equal
    infinities and nan against nan also match. ``got`` may have any real
    numeric dtype but must have the shape of ``expected``. NumPy's comparison
    helpers are not used, so replacing them changes nothing here.

    Parameters
    ----------
    got, expected
        The student's result and the right one.
    name : str
        The graded function's name.
    inputs : mapping
        Argument names and values, shown in the message.
    rtol, atol : float, optional
        Relative and absolute tolerance.
    hint : str or callable, optional
        A hint, or ``hint(mismatch, got, expected)`` returning one (or None),
        where ``mismatch`` is a boolean array of the wrong elements.
    problem : str, optional
        The first line of the message (default: "wrong value" / "wrong values").
    require_float : bool, optional
        Also fail a right result of an integer dtype (the course's exercises
        return floats, whatever the input's dtype).

    Raises
    ------
    CheckFailure
        With the input, the expected value, the value returned and the hint.

    Examples
    --------
    >>> compare(0.5000000001, 0.5, name="f", inputs={"x": 1.0})
    >>> compare(0.4, 0.5, name="f", inputs={"x": 1.0}, hint="halve it")
    Traceback (most recent call last):
    ...
    source_lib.grading.exercises.CheckFailure: f: wrong value
      input:    x = 1.0
      expected: 0.5
      got:      0.4
      hint:     halve it
    """
    __tracebackhide__ = True
    expected_array = _asarray(expected)
    got_array = _as_result_array(got, name, inputs, expected)
    if got_array.shape != expected_array.shape:
        shape_hint = (
            "a scalar input needs a scalar (or 0-d) result"
            if expected_array.shape == ()
            else "return one value per input element, in an array of the input's "
            "shape: a loop or list comprehension over x loses the shape, one NumPy "
            "expression on the whole array keeps it"
        )
        raise CheckFailure(
            _message(
                name,
                f"returned shape {got_array.shape}, expected shape {expected_array.shape}",
                inputs=inputs,
                expected=expected,
                got=got,
                hint=shape_hint,
            )
        )
    matches = _close(got_array, expected_array, rtol, atol)
    if bool(matches.all()):
        if require_float:
            _require_float(got_array, got, name, inputs, expected)
        return
    mismatch = ~matches
    text = hint(mismatch, got_array, expected_array) if callable(hint) else hint
    if expected_array.ndim == 0:
        raise CheckFailure(
            _message(
                name,
                problem or "wrong value",
                inputs=inputs,
                expected=expected,
                got=got,
                hint=text,
            )
        )
    index = tuple(int(i) for i in np.argwhere(mismatch)[0])
    count = int(mismatch.sum())
    where = ", ".join(map(str, index))
    elements = {
        f"{key}[{where}]": value[index]
        for key, value in inputs.items()
        if isinstance(value, _ndarray) and value.shape == expected_array.shape
    }
    raise CheckFailure(
        _message(
            name,
            problem or f"wrong values for {count} of {mismatch.size} elements",
            inputs=inputs,
            element=elements,
            expected=expected_array[index],
            got=got_array[index],
            hint=text,
        )
    )


# ---------------------------------------------------------------------------
# The check decorator
# ---------------------------------------------------------------------------


def check_function(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Turn ``check(func, group)`` into a check for ``name`` that fails with short messages.

    The wrapped check validates ``group`` (one of :data:`GROUPS`), runs its
    body with warnings and floating-point errors silenced, hides its frames
    from IPython tracebacks, re-raises a :class:`CheckFailure` without the
    internal traceback (``from None``), and turns an unexpected internal error
    into a short message. It is registered in :data:`CHECKS` by its own name,
    which is how the judge finds the check a test cell calls.

    Parameters
    ----------
    name : str
        Name of the graded function the check is for (used in messages).
    """

    def decorate(body: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(body)
        def check(func: Callable[..., Any], group: str = "values") -> None:
            __tracebackhide__ = True
            failure: CheckFailure | None = None
            try:
                if group not in GROUPS:
                    raise CheckFailure(
                        f"{check.__name__}: unknown group {group!r}; use one of {', '.join(GROUPS)}"
                    )
                token = _HIDDEN_GROUP.set(group.startswith("hidden"))
                try:
                    with warnings.catch_warnings(), _errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        body(func, group)
                finally:
                    _HIDDEN_GROUP.reset(token)
            except CheckFailure as error:
                failure = error
            except Exception as error:
                failure = CheckFailure(
                    _message(
                        name,
                        f"could not be checked ({type(error).__name__}: "
                        f"{_shorten(str(error), max(24, 60 - len(name)))})",
                        hint="make sure it returns floats of the input's shape",
                        show_values=False,
                    )
                )
            if failure is not None:
                raise failure.with_traceback(None) from None

        check.exercise = name  # type: ignore[attr-defined]
        # What the sandboxed kernel must not offer while this check grades.
        check.withholds = WITHHELD.get(name, (name,))  # type: ignore[attr-defined]
        CHECKS[body.__name__] = check
        return check

    return decorate


#: The functions of ``source_lib`` withheld in the grading sandbox while an
#: exercise is graded, beyond the reference itself: its private twins (the
#: block kernels behind the public functions, the network's own copies, this
#: module's models of the answer) and, for the backward pass, the network's
#: generic backward step and the check's own numerical gradients.
WITHHELD: dict[str, tuple[str, ...]] = {
    "softsign": ("softsign", "_softsign", "_softsign_block", "_softsign_model"),
    "softsign_derivative": ("softsign_derivative", "_softsign_derivative_block"),
    "softsign_layer_backward": (
        "softsign_layer_backward",
        "layer_backward",
        "numerical_layer_gradients",
    ),
}

#: Every check made with :func:`check_function`, by name (``"check_softsign"``...).
CHECKS: dict[str, Callable[..., None]] = {}


# ---------------------------------------------------------------------------
# Inputs of the element-wise exercises
# ---------------------------------------------------------------------------


def case_rng() -> np.random.Generator:
    """The random generator of a check's cases.

    While the judge grades, it comes from the seed the judge drew for this
    check in this grading run (never sent to the kernel), so that planning and
    judging see the same cases. In JupyterLab it is freshly seeded.
    """
    session = current_session()
    return np.random.default_rng(None if session is None else session.seed)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


def _strided(array: np.ndarray) -> np.ndarray:
    """Return a non-contiguous view holding ``array``'s values (same shape)."""
    base = np.zeros((*array.shape, 2), dtype=array.dtype)
    base[..., 0] = array
    return base[..., 0]


#: Magnitudes of the visible arrays group's wide array (the hidden groups draw
#: theirs from 1e-100 to 1e100 at random).
_WIDE = (1e-100, 1e-40, 1e-8, 1e8, 1e40, 1e100)


def _array_inputs(values: Sequence[float], integers: np.ndarray, *, wide: bool) -> list[Any]:
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
        _read_only(column[::-1]),
        _strided(column),
    ]
    if wide:
        magnitudes = np.array(_WIDE)
        cases.append(np.concatenate([-magnitudes[::-1], magnitudes]))
    return cases


def _visible_scalars(values: Sequence[Any]) -> list[Any]:
    """The visible values: the exercise's own, and NumPy float32/float16 scalars and -0.0."""
    return [*values, np.float32(-values[0]), np.float16(-values[1]), -0.0]


def _random_scalars(rng: np.random.Generator, low: float, high: float, count: int) -> list[float]:
    """Python floats drawn uniformly from [low, high], rounded to 6 significant digits."""
    return [float(f"{value:.6g}") for value in rng.uniform(low, high, size=count)]


def _hidden_scalars(
    rng: np.random.Generator, *, low: float, high: float, scalars: Sequence[float]
) -> list[Any]:
    """Scalars of every kind: NumPy float32/float16/float64, -0.0, ints, random floats."""
    cases: list[Any] = [
        np.float32(scalars[0]),
        np.float16(scalars[1]),
        np.float64(rng.uniform(low, high)),
        -0.0,
    ]
    cases += _random_scalars(rng, low, high, 6)
    if high >= 3:
        cases += [2, -3]
    return cases


def _hidden_arrays(rng: np.random.Generator, *, low: float, high: float, wide: bool) -> list[Any]:
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
        _read_only(uniform[:20]),
        _strided(uniform[:30]),
        np.array(-0.0),
    ]
    if high >= 3:
        cases.append(np.arange(-3, 4))
    return cases


# ---------------------------------------------------------------------------
# The element-wise checks (one input x, one output of the same shape)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Elementwise:
    name: str
    argname: str
    reference: str
    values: tuple[Any, ...]
    arrays: tuple[float, ...]
    hidden_range: tuple[float, float]
    wide: bool
    negative_hint: str
    integers: tuple[tuple[int, ...], ...] = ((-2, -1, 0), (1, 2, 3))
    mistakes: tuple[Mistake, ...] = ()
    zero_hint: str | None = None


def _reference(name: str) -> Callable[..., Any]:
    """Return source_lib's implementation of ``name`` (the judge's own, in the nbgrader process)."""
    import source_lib.activations

    return getattr(source_lib.activations, name)


def _copy_input(value: Any) -> Any:
    if isinstance(value, _ndarray):
        if not value.flags.writeable:
            return value
        if value.flags.c_contiguous or value.size == 0:
            return value.copy()
        return _strided(value.copy())
    return value


def _model_rtol(dtype: np.dtype) -> float:
    """How closely a mistake's float64 model must match a result computed in ``dtype``."""
    if dtype.kind != "f" or dtype.itemsize >= 8:
        return 1e-6
    return 1e-4 if dtype.itemsize == 4 else 1e-2


def _hint_from_patterns(
    spec: _Elementwise,
    x: np.ndarray,
    got: np.ndarray,
    expected: np.ndarray,
    mismatch: np.ndarray,
    rtol: Any = None,
) -> str | None:
    """The hint of the first mistake whose model gives the wrong values, else a general one.

    ``rtol`` (a number, or one per element) is how closely the model must
    match: by default as closely as ``x``'s precision allows.
    """
    x64 = _asarray(x, dtype=np.float64)
    got64 = _asarray(got, dtype=np.float64)
    wrong_x = x64[mismatch]
    if rtol is None:
        rtol = _model_rtol(_asarray(x).dtype)
    rtol = np.broadcast_to(_asarray(rtol, dtype=np.float64), x64.shape)[mismatch]
    for mistake in spec.mistakes:
        with _quiet():
            try:
                model = _asarray(mistake.model(x64), dtype=np.float64)
            except Exception:
                continue
        if model.shape == got64.shape and bool(
            _close(got64[mismatch], model[mismatch], rtol, 1e-12).all()
        ):
            return mistake.hint
    zero = _equal(wrong_x, 0.0)
    if bool(zero.all()):
        if bool(_isnan(got64[mismatch]).all()):
            return (
                f"got nan at {spec.argname} = 0: a 0/0 somewhere? (e.g. {spec.argname} / "
                f"|{spec.argname}| is undefined at 0); handle 0 without dividing by it"
            )
        if spec.zero_hint:
            return spec.zero_hint
        return f"right everywhere except at {spec.argname} = 0: check that case"
    if bool((wrong_x < 0).all()):
        return spec.negative_hint
    if bool(_isnan(got64[mismatch]).any()) and not bool(
        _isnan(_asarray(expected, dtype=np.float64)[mismatch]).any()
    ):
        return "you returned nan where a number was expected: is there a 0/0 or inf/inf?"
    return None


def _run_elementwise(spec: _Elementwise, func: Callable[..., Any], group: str) -> None:
    __tracebackhide__ = True
    reference = _reference(spec.reference)
    low, high = spec.hidden_range
    rng = case_rng()
    cases: list[Any] = []
    if group in ("values", "hidden"):
        cases += [*_visible_scalars(spec.values), *_random_scalars(rng, low, high, 2)]
    if group in ("hidden_values", "hidden"):
        cases += _hidden_scalars(rng, low=low, high=high, scalars=spec.values)
    if group in ("arrays", "hidden"):
        cases += _array_inputs(spec.arrays, np.array(spec.integers), wide=spec.wide)
        cases.append(rng.uniform(low, high, size=5))
    if group in ("hidden_arrays", "hidden"):
        cases += _hidden_arrays(rng, low=low, high=high, wide=spec.wide)
    # Scalars are checked together, so that a hint can use all of them (a mistake
    # that shows only for negative inputs, only at 0...).
    scalar_x, scalar_got, scalar_expected, scalar_labels = [], [], [], []
    for case in cases:
        given = _copy_input(case)
        before = _array(case, copy=True)
        inputs = {spec.argname: case}
        got = call_student(func, given, name=spec.name, inputs=inputs)
        _check_unchanged(given, before, spec.name, inputs)
        expected = reference(_copy_input(case))
        if _asarray(expected).ndim == 0 and not isinstance(case, _ndarray):
            # shape/type problems are reported at once; values are compared below
            got_array = _as_result_array(got, spec.name, inputs, expected)
            if got_array.shape != ():
                compare(got, expected, name=spec.name, inputs=inputs)
            scalar_x.append(case)
            scalar_got.append(got_array)
            scalar_expected.append(expected)
            scalar_labels.append(got)
            continue
        dtype = _asarray(case).dtype
        rtol, atol = _tolerances(dtype, 1e-7, 1e-12)
        compare(
            got,
            expected,
            name=spec.name,
            inputs=inputs,
            rtol=rtol,
            atol=atol,
            hint=lambda mismatch, g, e, x=case: _hint_from_patterns(
                spec, _asarray(x), g, e, mismatch
            ),
            require_float=True,
        )
    if not scalar_x:
        return
    x_all = _asarray([float(value) for value in scalar_x])
    got_all = _asarray([float(value) for value in scalar_got])
    expected_all = _asarray([float(value) for value in scalar_expected])
    tolerance = [_tolerances(_asarray(value).dtype, 1e-7, 1e-12) for value in scalar_x]
    matches = np.array(
        [
            bool(_close(g, e, r, a))
            for g, e, (r, a) in zip(got_all, expected_all, tolerance, strict=True)
        ]
    )
    if bool(matches.all()):
        for case, got_array, expected, got in zip(
            scalar_x, scalar_got, scalar_expected, scalar_labels, strict=True
        ):
            _require_float(got_array, got, spec.name, {spec.argname: case}, expected)
        return
    mismatch = ~matches
    first = int(np.argmax(mismatch))
    rtols = [_model_rtol(_asarray(value).dtype) for value in scalar_x]
    hint = _hint_from_patterns(spec, x_all, got_all, expected_all, mismatch, rtols)
    raise CheckFailure(
        _message(
            spec.name,
            "wrong value",
            inputs={spec.argname: scalar_x[first]},
            expected=scalar_expected[first],
            got=scalar_labels[first],
            hint=hint,
        )
    )


def _check_unchanged(given: Any, before: np.ndarray, name: str, inputs: Mapping[str, Any]) -> None:
    __tracebackhide__ = True
    if not isinstance(given, _ndarray):
        return
    same_shape = given.shape == before.shape
    if (
        same_shape
        and bool(_close(given, before, 0.0, 0.0).all())
        and bool((_signbit(given) == _signbit(before)).all())
    ):
        return
    argument = next(iter(inputs))
    if _HIDDEN_GROUP.get():
        message = _message(
            name,
            f"modified its input array {argument}",
            inputs=inputs,
            hint=_read_only_hint(name),
            show_values=False,
        )
    else:
        message = "\n".join(
            [
                f"{name}: modified its input array {argument}",
                _field(f"{argument} before the call:", format_value(before)),
                _field(f"{argument} after the call: ", format_value(given)),
                _field("hint:", _read_only_hint(name)),
            ]
        )
    raise CheckFailure(message)


def _softsign_model(x: np.ndarray) -> np.ndarray:
    return x / (1 + _absolute(x))


_SOFTSIGN = _Elementwise(
    name="softsign",
    argname="x",
    reference="softsign",
    values=(3.0, 0.5, 2, np.float64(1.0), -3.0, -0.5, np.float64(-1.0), -2, 0.0),
    arrays=(-4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 100.0),
    hidden_range=(-50.0, 50.0),
    wide=True,
    negative_hint=(
        "right for x >= 0 but wrong for negative x: "
        "is the absolute value missing from the denominator?"
    ),
    mistakes=(
        Mistake(
            lambda x: x / (1 + x),
            "right for x >= 0 but wrong for negative x: "
            "is the absolute value missing from the denominator?",
        ),
        Mistake(
            _tanh,
            "you returned tanh(x); softsign is x / (1 + |x|), which approaches ±1 more slowly",
        ),
        Mistake(
            lambda x: _absolute(x) / (1 + _absolute(x)),
            "the sign is lost: softsign is negative for negative x (only the denominator uses |x|)",
        ),
        Mistake(
            lambda x: 1 / (1 + _absolute(x)),
            "the numerator x is missing: softsign(x) = x / (1 + |x|)",
        ),
        Mistake(
            lambda x: x / (1 + _absolute(x)) ** 2,
            "that is x / (1 + |x|)**2; softsign has no square: x / (1 + |x|)",
        ),
    ),
)

_ABS_DERIVATIVE = _Elementwise(
    name="abs_derivative",
    argname="x",
    reference="abs_derivative",
    values=(2.5, 1, np.float64(1e-3), -2.5, -1, np.float64(-1e-3), 0.0, 0),
    arrays=(-4.0, -1.0, -1e-9, 0.0, 1e-9, 1.0, 4.0, 100.0),
    hidden_range=(-10.0, 10.0),
    wide=True,
    negative_hint="right for x >= 0 but wrong for negative x: d|x|/dx is -1 for every x < 0",
    zero_hint=(
        "right except at x = 0: |x| has a kink there; this course uses the convention "
        "d|x|/dx = 0 at x = 0 (like np.sign)"
    ),
    mistakes=(
        Mistake(
            lambda x: _absolute(x),
            "you returned |x| itself; its derivative is -1 for x < 0, +1 for x > 0, 0 at x = 0",
        ),
        Mistake(
            lambda x: x / (1 + _absolute(x)),
            "you returned softsign(x); the derivative of |x| is its sign: -1, 0 or +1",
        ),
    ),
)

_SOFTSIGN_DERIVATIVE = _Elementwise(
    name="softsign_derivative",
    argname="x",
    reference="softsign_derivative",
    values=(3.0, 0.5, 2, np.float64(1.0), -3.0, -0.5, np.float64(-1.0), -2, 0.0),
    arrays=(-4.0, -1.0, -0.25, 0.0, 0.25, 1.0, 4.0, 100.0),
    hidden_range=(-50.0, 50.0),
    wide=True,
    negative_hint=(
        "right for x >= 0 but wrong for negative x: "
        "is the absolute value missing from the denominator, 1 / (1 + |x|)**2?"
    ),
    mistakes=(
        Mistake(
            lambda x: 1 / (1 + _absolute(x)),
            "is the square missing? By the quotient rule softsign'(x) = 1 / (1 + |x|)**2",
        ),
        Mistake(
            lambda x: 1 / (1 + x) ** 2,
            "right for x >= 0 but wrong for negative x: "
            "is the absolute value missing from the denominator, 1 / (1 + |x|)**2?",
        ),
        Mistake(
            _softsign_model,
            "you returned softsign(x) itself, not its derivative 1 / (1 + |x|)**2",
        ),
        Mistake(
            lambda x: 1 - _tanh(x) ** 2,
            "that is tanh's derivative, 1 - tanh(x)**2; softsign's is 1 / (1 + |x|)**2",
        ),
        Mistake(
            lambda x: (1 + _absolute(x) - x) / (1 + _absolute(x)) ** 2,
            "the quotient rule needs d|x|/dx = sign(x): x * sign(x) = |x| cancels, "
            "leaving 1 / (1 + |x|)**2",
        ),
    ),
)

_TANH_DERIVATIVE = _Elementwise(
    name="tanh_derivative",
    argname="x",
    reference="tanh_derivative",
    values=(0.5, 2.0, 1, np.float64(0.1), -0.5, -2.0, -1, 0.0),
    arrays=(-20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 400.0),
    hidden_range=(-30.0, 30.0),
    wide=True,
    negative_hint="right for x >= 0 but wrong for negative x: tanh' is even, 1 - tanh(x)**2",
    mistakes=(
        Mistake(
            lambda x: 1 - _tanh(x),
            "is the square missing? tanh'(x) = 1 - tanh(x)**2",
        ),
        Mistake(_tanh, "you returned tanh(x) itself, not its derivative 1 - tanh(x)**2"),
        Mistake(
            lambda x: 1 / (1 + _absolute(x)) ** 2,
            "that is softsign's derivative; tanh's is 1 - tanh(x)**2",
        ),
        Mistake(
            lambda x: 1 / np.cosh(x),
            "is the square missing? tanh'(x) = 1 / cosh(x)**2 = 1 - tanh(x)**2",
        ),
    ),
)

_SOFTSIGN_INVERSE = _Elementwise(
    name="softsign_inverse",
    argname="y",
    reference="softsign_inverse",
    values=(0.5, 0.9, np.float64(0.25), -0.5, -0.9, np.float64(-0.25), 0.0),
    arrays=(-0.99, -0.5, -0.1, 0.0, 0.1, 0.5, 0.99, 0.999),
    hidden_range=(-0.999999, 0.999999),
    wide=False,
    integers=((0, 0), (0, 0)),
    negative_hint=(
        "right for y >= 0 but wrong for negative y: "
        "is the absolute value missing from the denominator, y / (1 - |y|)?"
    ),
    mistakes=(
        Mistake(
            lambda y: y / (1 - y),
            "right for y >= 0 but wrong for negative y: "
            "is the absolute value missing from the denominator, y / (1 - |y|)?",
        ),
        Mistake(
            lambda y: _absolute(y) / (1 - _absolute(y)),
            "the sign is lost: softsign_inverse is negative for negative y; only the "
            "denominator uses |y|: y / (1 - |y|)",
        ),
        Mistake(
            _softsign_model,
            "you returned softsign(y); the inverse solves y = x / (1 + |x|) for x: y / (1 - |y|)",
        ),
        Mistake(
            lambda y: 1 / (1 - _absolute(y)),
            "the numerator y is missing: softsign_inverse(y) = y / (1 - |y|)",
        ),
        Mistake(
            lambda y: np.arctanh(y),
            "that is tanh's inverse (arctanh); softsign's is y / (1 - |y|)",
        ),
    ),
)


@check_function("softsign")
def check_softsign(func: Callable[[Any], Any], group: str = "values") -> None:
    """Check a student's ``softsign(x) = x / (1 + |x|)``.

    Parameters
    ----------
    func : callable
        The student's ``softsign``.
    group : {"values", "arrays", "hidden"}
        Which cases to run (see the module docstring).

    Raises
    ------
    CheckFailure
        With the input, the expected value, the value returned and a hint.

    Examples
    --------
    >>> check_softsign(lambda x: x / (1 + np.abs(x)), "arrays")
    >>> check_softsign(lambda x: x / (1 + x), "values")
    Traceback (most recent call last):
    ...
    source_lib.grading.exercises.CheckFailure: softsign: wrong value
      input:    x = -3.0
      expected: -0.75
      got:      1.5
      hint:     right for x >= 0 but wrong for negative x: is the absolute value
                missing from the denominator?
    """
    __tracebackhide__ = True
    _run_elementwise(_SOFTSIGN, func, group)


@check_function("abs_derivative")
def check_abs_derivative(func: Callable[[Any], Any], group: str = "values") -> None:
    """Check a student's ``abs_derivative(x)``: -1 for x < 0, +1 for x > 0, 0 at 0.

    Parameters
    ----------
    func : callable
        The student's ``abs_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_abs_derivative(lambda x: np.sign(np.asarray(x, dtype=float)), "hidden")
    """
    __tracebackhide__ = True
    _run_elementwise(_ABS_DERIVATIVE, func, group)


@check_function("softsign_derivative")
def check_softsign_derivative(func: Callable[[Any], Any], group: str = "values") -> None:
    """Check a student's ``softsign_derivative(x) = 1 / (1 + |x|)**2``.

    Parameters
    ----------
    func : callable
        The student's ``softsign_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_softsign_derivative(lambda x: (1 - np.abs(x / (1 + np.abs(x)))) ** 2, "values")
    """
    __tracebackhide__ = True
    _run_elementwise(_SOFTSIGN_DERIVATIVE, func, group)


@check_function("tanh_derivative")
def check_tanh_derivative(func: Callable[[Any], Any], group: str = "values") -> None:
    """Check a student's ``tanh_derivative(x) = 1 - tanh(x)**2``.

    Parameters
    ----------
    func : callable
        The student's ``tanh_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_tanh_derivative(lambda x: 1 / np.cosh(x) ** 2, "hidden")
    """
    __tracebackhide__ = True
    _run_elementwise(_TANH_DERIVATIVE, func, group)


@check_function("softsign_inverse")
def check_softsign_inverse(func: Callable[[Any], Any], group: str = "values") -> None:
    """Check a student's ``softsign_inverse(y) = y / (1 - |y|)`` for -1 < y < 1.

    Parameters
    ----------
    func : callable
        The student's ``softsign_inverse``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_softsign_inverse(lambda y: y / (1 - np.abs(y)), "values")
    """
    __tracebackhide__ = True
    _run_elementwise(_SOFTSIGN_INVERSE, func, group)


# ---------------------------------------------------------------------------
# numerical_derivative(f, x, h=1e-5)
# ---------------------------------------------------------------------------


class _Recorder:
    """A test function ``f`` that remembers where the student evaluated it."""

    def __init__(self, label: str) -> None:
        self.function = TEST_FUNCTIONS[label]
        self.label = label
        #: The collector's name of the test function, so the kernel can rebuild it.
        self.wire_name = label
        self.points: list[np.ndarray] = []

    def __call__(self, x: Any) -> Any:
        self.points.append(_array(x, dtype=np.float64, copy=True).ravel())
        return self.function(x)

    def __repr__(self) -> str:
        return self.label


def _evaluated_at(recorder: _Recorder, targets: np.ndarray) -> bool:
    if not recorder.points or targets.size == 0:
        return False
    seen = np.concatenate(recorder.points)
    if seen.size == 0:
        return False
    for target in targets.ravel()[:20]:
        scale = max(1.0, abs(float(target)))
        if not bool((_absolute(_subtract(seen, target)) <= 1e-12 * scale).any()):
            return False
    return True


_CENTRED = "`(f(x + h) - f(x - h)) / (2 * h)`"

#: Wrong ways to combine f(x + h) and f(x - h), as (model, hint); ``plus`` and
#: ``minus`` are f(x + h) and f(x - h), ``h`` the step.
_COMBINATIONS: tuple[tuple[Callable[[Any, Any, float], Any], str], ...] = (
    (
        lambda plus, minus, h: (minus - plus) / (2 * h),
        "the sign is flipped: that is (f(x - h) - f(x + h)) / (2h); subtract "
        f"f(x - h) from f(x + h): {_CENTRED}",
    ),
    (
        lambda plus, minus, h: (plus - minus) / 2 * h,
        "operator precedence: `/ 2 * h` divides by 2 and then multiplies by h; "
        f"put 2 * h in parentheses: {_CENTRED}",
    ),
    (
        lambda plus, minus, h: (plus - minus) / h,
        f"f was evaluated at x + h and x - h: divide their difference by 2h, not by h: {_CENTRED}",
    ),
    (
        lambda plus, minus, h: plus - minus,
        f"f was evaluated at x + h and x - h: divide their difference by 2h: {_CENTRED}",
    ),
    (
        lambda plus, minus, h: (plus - minus) / 2,
        f"the difference is divided by 2 but not by h: {_CENTRED}",
    ),
)


def _centred(function: Callable[[Any], Any]) -> Callable[[Any, float], Any]:
    return lambda x, h: (function(x + h) - function(x - h)) / (2 * h)


#: What a numerical_derivative that ignores its ``f`` may return: (the fixed
#: function it differentiates, the test function it is right for, a model).
_FIXED_DERIVATIVES: tuple[tuple[str, str, Callable[[Any, float], Any]], ...] = (
    ("softsign", "", _centred(_softsign_model)),
    ("softsign", "", lambda x, h: 1 / (1 + _absolute(x)) ** 2),
    ("tanh", "np.tanh", _centred(_tanh)),
    ("sin", "np.sin", _centred(_umath.sin)),
)


def _matches(got: Any, model: Any, mismatch: np.ndarray) -> bool:
    got64 = _asarray(got, dtype=np.float64)
    model64 = _asarray(model, dtype=np.float64)
    if model64.shape != got64.shape:
        return False
    return bool(_close(got64[mismatch], model64[mismatch], 1e-5, 1e-12).all())


def _difference_hint(
    recorder: _Recorder, x: Any, h: float, got: Any = None, mismatch: Any = None
) -> str | None:
    x64 = _asarray(x, dtype=np.float64)
    plus, minus = x64 + h, x64 - h
    if got is not None and mismatch is None:
        mismatch = np.ones(_asarray(got).shape, dtype=bool)
    if _evaluated_at(recorder, plus) and _evaluated_at(recorder, minus):
        if got is not None:
            with _quiet():
                f_plus, f_minus = recorder.function(plus), recorder.function(minus)
                for model, hint in _COMBINATIONS:
                    if _matches(got, model(f_plus, f_minus, h), mismatch):
                        return hint
        return (
            "f was evaluated at x + h and x - h, but not combined as "
            f"{_CENTRED}: check the signs, the parentheses and the 2h"
        )
    if _evaluated_at(recorder, plus) and _evaluated_at(recorder, x64):
        return (
            "that is a forward difference, (f(x + h) - f(x)) / h; a centred one "
            f"was asked for: {_CENTRED}"
        )
    if _evaluated_at(recorder, minus) and _evaluated_at(recorder, x64):
        return (
            "that is a backward difference, (f(x) - f(x - h)) / h; a centred one "
            f"was asked for: {_CENTRED}"
        )
    if recorder.points:
        seen = np.concatenate(recorder.points)
        steps = _absolute(
            _subtract(seen[: x64.size * 4], np.resize(x64.ravel(), seen[: x64.size * 4].size))
        )
        step = float(np.max(steps)) if steps.size else 0.0
        if step > 0 and not math.isclose(step, h, rel_tol=1e-6):
            return (
                f"the given h = {h:g} seems ignored (f was evaluated at distance "
                f"{step:.3g} from x): use the parameter h, not a fixed step"
            )
        return None
    if got is not None:
        with _quiet():
            for label, right_for, model in _FIXED_DERIVATIVES:
                if right_for != recorder.label and _matches(got, model(x64, h), mismatch):
                    return (
                        f"that is the derivative of {label}, whatever f is: "
                        "numerical_derivative must differentiate the f it is given, "
                        "f(x + h) and f(x - h), not a fixed function"
                    )
    return (
        "f was never called: numerical_derivative must differentiate the f it is "
        "given: evaluate f(x + h) and f(x - h), not a fixed function"
    )


@check_function("numerical_derivative")
def check_numerical_derivative(func: Callable[..., Any], group: str = "values") -> None:
    """Check a student's ``numerical_derivative(f, x, h=1e-5)``: (f(x+h) - f(x-h)) / (2h).

    The student's function is called with test functions ``f`` (a cubic, whose
    centred difference differs from the true derivative by exactly h**2,
    and NumPy's sin, tanh and exp), with the step ``h`` given positionally,
    by keyword, or not at all (the default 1e-5). Results are compared with
    the reference central difference for the same ``f``, ``x`` and ``h``, so a
    forward difference or an ignored ``h`` fails.

    Parameters
    ----------
    func : callable
        The student's ``numerical_derivative``.
    group : {"values", "arrays", "hidden"}
        Which cases to run.

    Examples
    --------
    >>> check_numerical_derivative(lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / (2 * h), "arrays")
    """
    __tracebackhide__ = True
    name = "numerical_derivative"
    reference = _reference(name)
    cases: list[tuple[str, Any, float | None, bool]] = []
    # (test function f, x, h (None: the default), pass h by keyword)
    rng = case_rng()
    if group in ("values", "hidden"):
        cases += [
            ("x**3", 1.0, 0.1, False),
            ("x**3", -2.0, 0.1, True),
            ("x**3", 0.0, 0.5, False),
            ("x**3", 3, 1e-3, True),
            ("x**3", 2.0, None, False),
            ("np.sin", np.float64(0.5), None, False),
            ("np.tanh", -0.75, 1e-3, True),
            ("np.exp", np.float32(-0.5), 1e-2, False),
            ("x**3", *_random_scalars(rng, -4.0, 4.0, 1), 0.01, False),
        ]
    if group in ("hidden_values", "hidden"):
        cases += [
            ("np.tanh", *_random_scalars(rng, -4.0, 4.0, 1), 1e-4, True),
            ("np.exp", np.float64(rng.uniform(-2.0, 2.0)), 1e-3, False),
            ("x**3", -1, 0.5, True),
            ("np.sin", np.float32(0.75), 1e-2, False),
            ("x**3", *_random_scalars(rng, -4.0, 4.0, 1), float(rng.uniform(0.01, 0.5)), True),
        ]
    if group in ("arrays", "hidden"):
        grid = np.linspace(-3.0, 3.0, 7)
        cases += [
            ("x**3", grid, 0.1, False),
            ("x**3", grid.reshape(7, 1) * np.ones((1, 2)), 0.25, True),
            ("np.sin", grid, None, False),
            ("x**3", np.array(1.5), 0.01, False),
            ("x**3", np.array([]), 0.1, False),
            ("np.tanh", _read_only(grid / 2), 1e-3, False),
            ("np.exp", (grid / 3).astype(np.float32), 1e-2, True),
            ("x**3", _strided(grid[::-1]), 0.05, False),
            ("np.sin", rng.uniform(-4.0, 4.0, size=5), 1e-3, True),
        ]
    if group in ("hidden_arrays", "hidden"):
        random_x = rng.uniform(-4.0, 4.0, size=100)
        cases += [
            ("np.tanh", random_x, 1e-4, True),
            ("np.exp", random_x[:30], 1e-3, False),
            ("x**3", random_x.reshape(10, 10), float(rng.uniform(0.01, 0.5)), True),
            ("x**3", _read_only(random_x[:10]), 0.05, False),
            ("np.sin", random_x.astype(np.float32), 1e-2, False),
            ("x**3", _strided(random_x[:12]), 0.1, False),
        ]
    for label, x, h, by_keyword in cases:
        recorder = _Recorder(label)
        function = recorder.function
        given = _copy_input(x)
        before = _array(x, copy=True)
        inputs: dict[str, Any] = {"f": recorder, "x": x}
        if h is None:
            args: tuple[Any, ...] = (recorder, given)
            kwargs: dict[str, Any] = {}
        elif by_keyword:
            inputs["h"] = h
            args, kwargs = (recorder, given), {"h": h}
        else:
            inputs["h"] = h
            args, kwargs = (recorder, given, h), {}
        got = call_student(func, *args, name=name, inputs=inputs, **kwargs)
        _check_unchanged(given, before, name, {"x": x})
        step = 1e-5 if h is None else h
        expected = reference(function, _copy_input(x), step)
        dtype = _asarray(x).dtype
        rtol, atol = _tolerances(dtype, 1e-6, 1e-9)
        # Rounding in f(x + h) - f(x - h) is amplified by 1 / h; allow for it.
        eps = float(np.finfo(dtype if dtype.kind == "f" else np.float64).eps)
        values = _asarray(function(_asarray(x, dtype=np.float64)))
        scale = max(1.0, float(_absolute(values).max())) if values.size else 1.0
        atol = max(atol, 8 * eps * scale / step)
        if h is None:
            inputs["h"] = "default (1e-5)"
        compare(
            got,
            expected,
            name=name,
            inputs=inputs,
            rtol=rtol,
            atol=atol,
            hint=lambda mismatch, g, e, r=recorder, x=x, s=step: _difference_hint(
                r, x, s, g, mismatch
            ),
            require_float=True,
        )
