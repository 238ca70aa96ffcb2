"""How a student's function is called and its result compared: the checks' framework.

Every check of the course is built from four pieces:

* :func:`check_function` turns ``check(func, group)`` into a check: it
  validates the group, silences warnings, hides the check's frames from
  tracebacks and registers it in :data:`CHECKS`, where the judge finds it by
  name;
* :func:`call_student` is the only way a check reaches the student's
  function: each call may take :data:`CALL_TIME_LIMIT` seconds, warnings are
  ignored, floating-point errors silenced and anything printed discarded, and
  the course library's implementations of the notebook's exercises are
  withheld as grading withholds them (:func:`library_withheld`, from
  :mod:`source_lib.grading.withholding`, which says what grading withholds);
* :func:`compare` fails unless a result matches the reference element-wise,
  with a relative tolerance and a small absolute one (:func:`tolerances`
  widens them for float32 and float16 inputs), never with ``==``; a result
  must have the reference's shape and hold real numbers;
* :class:`CheckFailure` carries the failure as data
  (:class:`source_lib.grading.messages.Failure`) and the message a student
  reads, rendered from it once; IPython shows it without the frames inside
  ``source_lib``;
* a check that passes prints one line in the notebook, which check and how
  many inputs it tried (:func:`source_lib.grading.messages.pass_line`).

One check, two places
---------------------
In JupyterLab a check calls the student's function directly, in the
student's kernel. During ``nbgrader autograde`` the same check runs in the
nbgrader process instead, as the judge of :mod:`softsign_grader.judge`:
the kernel only runs the student's function on the inputs the check chose
and returns the results as plain data, and the check compares them here with
its own reference (see :mod:`source_lib.grading.replay`). So the messages are
the same in both places, and nothing the student's code does in its kernel
(replacing these functions, NumPy or the reference) can change a verdict.

Writing a new check
-------------------
A check for another exercise (for example in its own module, as
:mod:`source_lib.grading.network_exercise`) is built from these pieces::

    from source_lib.grading.cases import case_rng
    from source_lib.grading.framework import call_student, check_function, compare

    @check_function("softsign_layer_backward")
    def check_softsign_layer_backward(func, group):
        for x, upstream in my_cases(group, case_rng()):
            got = call_student(func, x, upstream, name="softsign_layer_backward")
            compare(got, my_reference(x, upstream), name="softsign_layer_backward",
                    inputs={"x": x, "upstream": upstream}, hint=my_hint)

The rules that let the judge run it: reach the student's function only
through :func:`call_student` (whose ``name`` must be a function that
``source_lib`` exports, the reference), draw random inputs only from
:func:`source_lib.grading.cases.case_rng`, and choose the cases without
looking at the student's results. A graded exercise also has its entry in
:data:`source_lib.grading.registry.EXERCISES` (its notebook, reference and
doors), and a test cell imports its checks from a module the registry names
(:data:`source_lib.grading.registry.CHECK_MODULES`, which the judge knows).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import numpy as np

from source_lib.grading.arithmetic import asarray, close, ndarray, quiet, signbit
from source_lib.grading.cases import GROUPS
from source_lib.grading.collector import call as collector_call
from source_lib.grading.collector import ipython_shell, no_kernel_exit
from source_lib.grading.messages import (
    Failure,
    failure,
    hidden_cases,
    integer_hint,
    internal_error,
    modified_input,
    outcome_failure,
    pass_line,
    shape_hint,
)
from source_lib.grading.replay import current_session
from source_lib.grading.withholding import ACCEPTED_DOORS, check_withholds, library_withheld

__all__ = [
    "ACCEPTED_DOORS",
    "CALL_TIME_LIMIT",
    "CHECKS",
    "Check",
    "CheckFailure",
    "as_result_array",
    "call_student",
    "check_function",
    "check_unchanged",
    "compare",
    "library_withheld",
    "require_floats",
    "tolerances",
]

#: Seconds one call of a student's function may take before it is stopped.
CALL_TIME_LIMIT = 3.0

#: The ``source_lib`` package folder: frames of code inside it are hidden from students.
_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])

#: What :func:`check_function` decorates: ``check(func, group="values")``.
_Body = TypeVar("_Body", bound=Callable[[Any, str], None])


def _is_library_code(code: Any) -> bool:
    return str(code.co_filename).startswith(_PACKAGE_DIR)


class CheckFailure(AssertionError):
    """A graded function gave a wrong answer; the message says what and why.

    Parameters
    ----------
    failure : Failure
        What went wrong, as data (:attr:`failure`); the message is its rendering.
    """

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.render())
        self.failure = failure

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
        shell = ipython_shell()
        if shell is None or previous is None:
            return [f"{type(self).__name__}: {self}"]
        lines: list[str] = shell.InteractiveTB.structured_traceback(
            type(self), self, self.__traceback__, tb_offset=None
        )
        return lines


# ---------------------------------------------------------------------------
# Calling the student's function
# ---------------------------------------------------------------------------

#: How many calls of the student's function the running check has made.
_CALLS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "softsign_check_calls", default=None
)


def call_student(
    func: Callable[..., Any] | None,
    *args: Any,
    name: str,
    inputs: Mapping[str, Any] | None = None,
    time_limit: float | None = None,
    **kwargs: Any,
) -> Any:
    """Call a student's function and return its result, or fail with a message.

    In JupyterLab the function is called here, with warnings ignored,
    floating-point errors silenced, anything printed discarded and a time
    limit, and with the course library's implementations of the notebook's
    exercises withheld (:func:`library_withheld`). While the judge grades a
    notebook, the call is answered by the current grading session instead
    (see :mod:`source_lib.grading.replay`): the same call ran in the student's
    kernel, and only its outcome, as plain data, reached this process. Either
    way, anything unusual becomes a :class:`CheckFailure` with a message for
    the student
    (:func:`source_lib.grading.messages.outcome_problem`).

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
    calls = _CALLS.get()
    if calls is not None:
        calls[0] += 1
    session = current_session()
    if session is not None:
        outcome = session.call(name, args, kwargs)
    else:
        with no_kernel_exit(), library_withheld(name):
            outcome = collector_call(func, args, kwargs, time_limit)
    if outcome.kind == "value":
        return outcome.value
    raise CheckFailure(outcome_failure(outcome, name, time_limit, inputs))


def check_unchanged(given: Any, before: np.ndarray, name: str, inputs: Mapping[str, Any]) -> None:
    """Fail unless the array ``given`` to the student still holds its values ``before`` the call.

    Values and signs (-0.0) must be the same; ``inputs`` names the argument
    (its first key) for the message.
    """
    __tracebackhide__ = True
    if not isinstance(given, ndarray):
        return
    if (
        given.shape == before.shape
        and bool(close(given, before, 0.0, 0.0).all())
        and bool((signbit(given) == signbit(before)).all())
    ):
        return
    raise CheckFailure(modified_input(name, inputs, before, given))


# ---------------------------------------------------------------------------
# Comparing results
# ---------------------------------------------------------------------------


def tolerances(dtype: np.dtype[Any] | None, rtol: float, atol: float) -> tuple[float, float]:
    """``rtol`` and ``atol``, widened for a float32 or float16 input to what its precision allows.

    Examples
    --------
    >>> tolerances(np.dtype(np.float64), 1e-7, 1e-12)
    (1e-07, 1e-12)
    >>> [float(f"{t:.3g}") for t in tolerances(np.dtype(np.float16), 1e-7, 1e-12)]
    [0.00781, 0.00391]
    """
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        eps = float(np.finfo(dtype).eps)
        return max(rtol, 8 * eps), max(atol, 4 * eps)
    return rtol, atol


def as_result_array(got: Any, name: str, inputs: Mapping[str, Any], expected: Any) -> np.ndarray:
    """``got`` as an array of real numbers; fail for None, complex numbers or non-numbers."""
    __tracebackhide__ = True
    if got is None:
        raise CheckFailure(
            failure(
                name,
                "returned None",
                kind="wrong_type",
                inputs=inputs,
                expected=expected,
                got=got,
                hint="did you forget the `return` statement?",
                mistake="missing_return",
            )
        )
    try:
        result = asarray(got)
    except Exception:
        result = None
    if result is None or result.dtype.kind not in "iuf":
        kind = "complex numbers" if result is not None and result.dtype.kind == "c" else None
        raise CheckFailure(
            failure(
                name,
                f"returned {kind or type(got).__name__}, not real numbers",
                kind="wrong_type",
                inputs=inputs,
                expected=expected,
                got=got,
                hint="return a float or a NumPy array of floats",
                mistake="not_real_numbers",
            )
        )
    return result


def require_floats(
    got_array: np.ndarray, got: Any, name: str, inputs: Mapping[str, Any], expected: Any
) -> None:
    """Fail unless the (right) result holds floating-point numbers, as the exercises ask."""
    __tracebackhide__ = True
    if got_array.dtype.kind == "f":
        return
    raise CheckFailure(
        failure(
            name,
            f"returned integers ({got_array.dtype}), not floating-point numbers",
            kind="wrong_type",
            inputs=inputs,
            expected=expected,
            got=got,
            hint=integer_hint(name),
            mistake="integer_result",
        )
    )


#: A hint, or ``hint(mismatch, got, expected)`` returning one (or None).
Hint = str | Callable[[np.ndarray, np.ndarray, np.ndarray], str | None] | None


def compare(
    got: Any,
    expected: Any,
    *,
    name: str,
    inputs: Mapping[str, Any],
    rtol: float = 1e-7,
    atol: float = 1e-12,
    hint: Hint = None,
    problem: str | None = None,
    require_float: bool = False,
) -> None:
    """Raise :class:`CheckFailure` unless ``got`` matches ``expected`` element-wise.

    Element-wise, ``|got - expected| <= atol + rtol * |expected|``; equal
    infinities and nan against nan also match
    (:func:`source_lib.grading.arithmetic.close`). ``got`` may have any real
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
    source_lib.grading.framework.CheckFailure: f: wrong value
      input:    x = 1.0
      expected: 0.5
      got:      0.4
      hint:     halve it
    """
    __tracebackhide__ = True
    expected_array = asarray(expected)
    got_array = as_result_array(got, name, inputs, expected)
    if got_array.shape != expected_array.shape:
        raise CheckFailure(
            failure(
                name,
                f"returned shape {got_array.shape}, expected shape {expected_array.shape}",
                kind="wrong_shape",
                inputs=inputs,
                expected=expected,
                got=got,
                hint=shape_hint(expected_array.shape),
                mistake="wrong_shape",
            )
        )
    matches = close(got_array, expected_array, rtol, atol)
    if bool(matches.all()):
        if require_float:
            require_floats(got_array, got, name, inputs, expected)
        return
    mismatch = ~matches
    text = hint(mismatch, got_array, expected_array) if callable(hint) else hint
    if expected_array.ndim == 0:
        raise CheckFailure(
            failure(
                name, problem or "wrong value", inputs=inputs, expected=expected, got=got, hint=text
            )
        )
    raise CheckFailure(
        _wrong_elements(name, problem, inputs, got_array, expected_array, mismatch, text)
    )


def _wrong_elements(
    name: str,
    problem: str | None,
    inputs: Mapping[str, Any],
    got: np.ndarray,
    expected: np.ndarray,
    mismatch: np.ndarray,
    hint: str | None,
) -> Failure:
    """The failure for wrong elements of an array: how many, and the first one."""
    index = tuple(int(i) for i in np.argwhere(mismatch)[0])
    where = ", ".join(map(str, index))
    elements = {
        f"{key}[{where}]": value[index]
        for key, value in inputs.items()
        if isinstance(value, ndarray) and value.shape == expected.shape
    }
    return failure(
        name,
        problem or f"wrong values for {int(mismatch.sum())} of {mismatch.size} elements",
        inputs=inputs,
        element=elements,
        expected=expected[index],
        got=got[index],
        hint=hint,
    )


# ---------------------------------------------------------------------------
# The check decorator
# ---------------------------------------------------------------------------


class Check(Protocol):
    """A check made by :func:`check_function`, as the judge sees it in :data:`CHECKS`."""

    #: The graded function's name.
    exercise: str
    #: What the sandboxed kernel must not offer while this check grades.
    withholds: tuple[str, ...]
    __name__: str

    def __call__(self, func: Any, group: str = ...) -> None: ...


#: Every check made with :func:`check_function`, by name (``"check_softsign"``...).
CHECKS: dict[str, Check] = {}


def check_function(name: str, *, withholds: Sequence[str] = ()) -> Callable[[_Body], _Body]:
    """Turn ``check(func, group)`` into a check for ``name`` that fails with short messages.

    The wrapped check validates ``group`` (one of
    :data:`source_lib.grading.cases.GROUPS`), runs its body with warnings and
    floating-point errors silenced, hides its frames from IPython tracebacks,
    re-raises a :class:`CheckFailure` without the internal traceback (``from
    None``), and turns an unexpected internal error into a short message.
    When it passes in the notebook (not while the judge grades), it prints one
    line: which check, and how many inputs it tried
    (:func:`source_lib.grading.messages.pass_line`). It is registered in
    :data:`CHECKS` by its own name, which is how the judge finds the check a
    test cell calls. The check keeps the body's signature
    and docstring.

    What the grading sandbox withholds while the check grades comes from the
    exercise's entry in :mod:`source_lib.grading.registry` (the reference
    ``name`` and its doors); a check for a function the registry does not list
    withholds ``name`` and ``withholds``.

    Parameters
    ----------
    name : str
        Name of the graded function the check is for (used in messages).
    withholds : sequence of str, optional
        For a registered exercise, names the registry's entry must list (a
        reminder at the check, never a second list); otherwise the functions
        of ``source_lib`` withheld beyond ``name`` itself.

    Raises
    ------
    ValueError
        When a registered exercise's check is not named as the registry says,
        or ``withholds`` names a function its entry does not list.
    """

    def decorate(body: _Body) -> _Body:
        @functools.wraps(body)
        def check(func: Any, group: str = "values") -> None:
            __tracebackhide__ = True
            failure: CheckFailure | None = None
            calls = [0]
            token = _CALLS.set(calls)
            try:
                if group not in GROUPS:
                    raise CheckFailure(
                        Failure(
                            "invalid_check",
                            check.__name__,
                            f"unknown group {group!r}; use one of {', '.join(GROUPS)}",
                        )
                    )
                with hidden_cases(group.startswith("hidden")), quiet():
                    body(func, group)
            except CheckFailure as error:
                failure = error
            except Exception as error:
                failure = CheckFailure(internal_error(name, error))
            finally:
                _CALLS.reset(token)
            if failure is not None:
                raise failure.with_traceback(None) from None
            if current_session() is None:
                print(pass_line(check.__name__, calls[0]))

        made = cast("Check", check)
        made.exercise = name
        made.withholds = check_withholds(name, body.__name__, withholds)
        CHECKS[body.__name__] = made
        return cast("_Body", check)

    return decorate
