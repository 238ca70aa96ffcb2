"""The check functions accept every right answer and explain every wrong one.

These tests call ``source_lib.grading.exercises`` directly, the way a notebook's test
cells do in JupyterLab, with right answers in many algebraic forms and the
common mistakes. One test runs a real Jupyter kernel to see what a student sees
when a check fails. The same checks run by the judge, outside the kernel, are
tested in ``test_judge.py``; the grading round trip through nbgrader is in
``test_grading.py`` and the attacks on it in ``test_adversarial.py``.
"""

from __future__ import annotations

import importlib
import math
import re
import sys
import time
import warnings

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import source_lib
import source_lib.grading.framework as framework
from source_lib.grading.cases import GROUPS
from source_lib.grading.exercises import (
    check_abs_derivative,
    check_numerical_derivative,
    check_softsign,
    check_softsign_derivative,
    check_softsign_inverse,
    check_tanh_derivative,
)
from source_lib.grading.formatting import MESSAGE_WIDTH
from source_lib.grading.framework import CheckFailure, call_student, check_function, compare
from source_lib.grading.network_exercise import check_softsign_layer_backward
from source_lib.grading.registry import EXERCISES
from source_lib.grading.replay import Planner, session

# --------------------------------------------------------------------------- right answers


def _softsign_where(x):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, x / (1 + x), x / (1 - x))


def _softsign_piecewise(x):
    x = np.asarray(x, dtype=float)
    return np.piecewise(x, [x < 0, x >= 0], [lambda v: v / (1 - v), lambda v: v / (1 + v)])


def _softsign_loop(x):
    array = np.asarray(x, dtype=float)
    out = np.empty_like(array)
    for index in np.ndindex(array.shape):
        out[index] = array[index] / (1 + abs(array[index]))
    return out if out.ndim else float(out)


def _abs_derivative_where(x):
    x = np.asarray(x, dtype=float)
    return np.where(x == 0, 0.0, x / np.abs(x))  # 0/0 in the discarded branch warns


def _numerical_loop(f, x, h=1e-5):
    array = np.asarray(x, dtype=float)
    out = np.empty_like(array)
    for index in np.ndindex(array.shape):
        out[index] = (f(array[index] + h) - f(array[index] - h)) / (2 * h)
    return out if out.ndim else out[()]


RIGHT = {
    check_softsign: [
        lambda x: x / (1 + np.abs(x)),
        _softsign_where,
        _softsign_piecewise,
        _softsign_loop,
        lambda x: np.sign(x) * (1 - 1 / (1 + np.abs(x))),
        lambda x: x / (1 + x * np.sign(x)),
        lambda x: np.divide(x, np.add(1.0, np.abs(x))),
    ],
    check_abs_derivative: [
        lambda x: np.sign(np.asarray(x, dtype=float)),
        _abs_derivative_where,
        lambda x: (np.asarray(x) > 0).astype(float) - (np.asarray(x) < 0),
        lambda x: np.where(np.asarray(x) > 0, 1.0, np.where(np.asarray(x) < 0, -1.0, 0.0)),
        lambda x: np.sign(x).astype(np.float32),
    ],
    check_softsign_derivative: [
        lambda x: 1 / (1 + np.abs(x)) ** 2,
        lambda x: (1 - np.abs(x / (1 + np.abs(x)))) ** 2,
        lambda x: np.where(
            np.asarray(x) >= 0, 1 / (1 + np.asarray(x)) ** 2, 1 / (1 - np.asarray(x)) ** 2
        ),
        lambda x: np.square(np.reciprocal(1.0 + np.abs(x))),
        lambda x: (1 / (1 + np.abs(x))) ** 2,
        lambda x: 1 / (1 + abs(x)) / (1 + abs(x)),  # Python's / gives 0.0 at 1e300, no error
    ],
    check_numerical_derivative: [
        lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / (2 * h),
        lambda f, x, h=1e-5: 0.5 * (f(x + h) - f(x - h)) / h,
        lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / h / 2,
        _numerical_loop,
    ],
    check_tanh_derivative: [
        lambda x: 1 - np.tanh(x) ** 2,
        lambda x: 1 / np.cosh(x) ** 2,  # overflows (RuntimeWarning) for |x| > 710
        lambda x: (1 - np.tanh(x)) * (1 + np.tanh(x)),
        lambda x: 4 / (np.exp(x) + np.exp(-x)) ** 2,
    ],
    check_softsign_inverse: [
        lambda y: y / (1 - np.abs(y)),
        lambda y: np.where(np.asarray(y) >= 0, y / (1 - np.asarray(y)), y / (1 + np.asarray(y))),
        lambda y: np.sign(y) * (1 / (1 - np.abs(y)) - 1),
    ],
}
RIGHT_CASES = [
    pytest.param(check, func, group, id=f"{check.__name__}-{index}-{group}")
    for check, funcs in RIGHT.items()
    for index, func in enumerate(funcs)
    for group in GROUPS
]


@pytest.mark.parametrize(("check", "func", "group"), RIGHT_CASES)
def test_right_answers_pass_in_any_form(check, func, group):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out of a check
        check(func, group)


def test_the_reference_library_passes_its_own_checks():
    """The checks and the reference agree (a check that failed the reference would be wrong).

    As the judge plans a check: the reference answers every call. (Given to a check as
    the student's function in the notebook, the reference fails: it is withheld then.)
    """
    for entry in EXERCISES:
        check = getattr(importlib.import_module(entry.check_module), entry.check)
        for group in GROUPS:
            with session(Planner(7, entry.name)):
                check(None, group)


# --------------------------------------------------------------------------- mistakes


def _mutating_inverse(y):
    y = np.asarray(y, dtype=float)
    sign = np.sign(y)
    y *= sign
    return sign * y / (1 - y)


def _loop_derivative(x):
    result = []
    for value in x:
        result.append(1 / (1 + abs(value)) ** 2)
    return np.array(result)


def _list_inverse(y):
    if np.ndim(y) == 0:
        return y / (1 - abs(y))
    return np.array([value / (1 - abs(value)) for value in y])


WRONG = [
    (check_softsign, lambda x: x / (1 + x), "right for x >= 0 but wrong for negative x"),
    (check_softsign, np.tanh, "you returned tanh(x)"),
    (check_softsign, lambda x: np.abs(x) / (1 + np.abs(x)), "the sign is lost"),
    (
        check_softsign,
        lambda x: np.where(np.asarray(x) == 0, np.nan, x / (1 + np.abs(x))),
        "got nan at x = 0",
    ),
    (check_softsign, lambda x: x / (1 + math.fabs(x)), "scalar-only function"),
    (check_abs_derivative, lambda x: x / np.abs(x), "got nan at x = 0"),
    (check_abs_derivative, lambda x: np.where(np.asarray(x) >= 0, 1.0, -1.0), "convention"),
    (
        check_abs_derivative,
        lambda x: 1.0 if x > 0 else (-1.0 if x < 0 else 0.0),
        "works on one number only",
    ),
    (check_softsign_derivative, lambda x: 1 / (1 + np.abs(x)), "is the square missing?"),
    (check_softsign_derivative, lambda x: 1 / (1 + x) ** 2, "wrong for negative x"),
    (check_softsign_derivative, lambda x: x / (1 + np.abs(x)), "you returned softsign(x)"),
    (check_tanh_derivative, lambda x: 1 - np.tanh(x), "is the square missing?"),
    (check_tanh_derivative, np.tanh, "you returned tanh(x) itself"),
    (check_tanh_derivative, lambda x: 1 - math.tanh(x) ** 2, "scalar-only function"),
    (check_softsign_inverse, lambda y: y / (1 - y), "wrong for negative y"),
    (check_softsign_inverse, _mutating_inverse, "modified its input array"),
    (check_softsign_inverse, lambda y: y / (1 + np.abs(y)), "you returned softsign(y)"),
    (check_numerical_derivative, lambda f, x, h=1e-5: (f(x + h) - f(x)) / h, "forward difference"),
    (
        check_numerical_derivative,
        lambda f, x, h=1e-5: (f(x + 1e-5) - f(x - 1e-5)) / 2e-5,
        "seems ignored",
    ),
    (
        check_numerical_derivative,
        lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / h,
        "divide their difference by 2h",
    ),
    # the hints of the sharper second reading
    (check_abs_derivative, np.sign, "returned integers (int64)"),
    (
        check_abs_derivative,
        lambda x: np.where(np.asarray(x) > 0, 1, np.where(np.asarray(x) < 0, -1, 0)),
        "also for integer input",
    ),
    (
        check_numerical_derivative,
        lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / 2 * h,
        "operator precedence: `/ 2 * h`",
    ),
    (
        check_numerical_derivative,
        lambda f, x, h=1e-5: (f(x - h) - f(x + h)) / (2 * h),
        "the sign is flipped",
    ),
    (
        check_numerical_derivative,
        lambda f, x, h=1e-5: (source_lib.softsign(x + h) - source_lib.softsign(x - h)) / (2 * h),
        "that is the derivative of softsign, whatever f is",
    ),
    (
        check_numerical_derivative,
        lambda f, x, h=1e-5: source_lib.softsign_derivative(x),
        "calls source_lib's own softsign_derivative",  # withheld in notebook 03, as graded
    ),
    (check_softsign_derivative, _loop_derivative, "a Python loop over the input"),
    (check_softsign_inverse, _list_inverse, "a loop or list comprehension over x"),
    (check_softsign_inverse, lambda y: np.abs(y) / (1 - np.abs(y)), "the sign is lost"),
    (check_softsign_inverse, lambda y: y / 1 - np.abs(y), "operator precedence: `/`"),
    (check_softsign, lambda x: x / 1 + np.abs(x), "operator precedence: `/`"),
    # Python's ** raises OverflowError for the Python float 1e300 (notebook 03 promises 0.0)
    (check_softsign_derivative, lambda x: 1 / (1 + abs(x)) ** 2, "overflows a Python float"),
]


@pytest.mark.parametrize(
    ("check", "func", "hint"),
    [pytest.param(*case, id=f"{case[0].__name__}-{i}") for i, case in enumerate(WRONG)],
)
def test_common_mistakes_fail_with_their_hint(check, func, hint):
    failures = []
    for group in ("values", "arrays"):
        try:
            check(func, group)
        except CheckFailure as failure:
            failures.append(str(failure))
    assert failures, "a wrong answer passed"
    assert any(hint in text for text in failures), failures  # on one line of the message
    with pytest.raises(CheckFailure):
        check(func, "hidden")


def test_failure_message_is_short_and_complete():
    with pytest.raises(CheckFailure) as caught:
        check_softsign(lambda x: x / (1 + x), "values")
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "softsign: wrong value"
    assert max(map(len, lines)) <= MESSAGE_WIDTH
    fields = [line for line in lines[1:] if not line.startswith(" " * 12)]  # wrapped lines
    assert [line.split(":")[0].strip() for line in fields] == [
        "input",
        "expected",
        "got",
        "hint",
    ]
    assert "x = -3.0" in message
    assert "expected: -0.75" in message
    assert "got:      1.5" in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_failure_carries_its_fields_as_data_and_renders_them_once():
    with pytest.raises(CheckFailure) as caught:
        check_softsign(lambda x: x / (1 + x), "values")
    failure = caught.value.failure
    assert str(caught.value) == failure.render()
    assert (failure.kind, failure.function, failure.problem) == (
        "wrong_value",
        "softsign",
        "wrong value",
    )
    assert (failure.input, failure.expected, failure.got) == ("x = -3.0", "-0.75", "1.5")
    assert failure.mistake == "value_pattern"
    assert "absolute value" in (failure.hint or "")


@pytest.mark.parametrize(
    ("func", "kind", "mistake"),
    [
        (lambda x: None, "wrong_type", "missing_return"),
        (lambda x: np.zeros(3), "wrong_shape", "wrong_shape"),
        (lambda x: math.tanh(x), "raised", "scalar_only_function"),
        (lambda x: sys.exit(), "exit", "exit"),
    ],
)
def test_each_failure_is_classified_where_it_is_made(func, kind: str, mistake: str):
    with pytest.raises(CheckFailure) as caught:
        check_softsign(func, "arrays")
    assert (caught.value.failure.kind, caught.value.failure.mistake) == (kind, mistake)


def test_array_failures_name_the_first_wrong_element():
    with pytest.raises(CheckFailure, match=r"first wrong element: x\[0\] = -4.0"):
        check_softsign(lambda x: x / (1 + x), "arrays")


def test_hidden_cases_are_described_not_shown():
    def float64_only(x):
        array = np.asarray(x)
        if array.dtype == np.float32:
            return array * 0
        return array / (1 + np.abs(array))

    with pytest.raises(CheckFailure) as caught:
        check_softsign(float64_only, "hidden")
    message = str(caught.value)
    assert "a hidden case (x = a float32 array of shape" in message
    assert "expected" not in message
    assert "got" not in message


def test_floats_of_any_precision_are_accepted_but_shape_must_match():
    check_abs_derivative(lambda x: np.sign(np.asarray(x)).astype(np.float16), "arrays")
    with pytest.raises(CheckFailure, match=r"returned integers \(int8\)"):
        check_abs_derivative(lambda x: np.sign(np.asarray(x)).astype(np.int8), "arrays")
    with pytest.raises(CheckFailure, match="returned shape"):
        check_softsign(lambda x: np.atleast_1d(x / (1 + np.abs(x))), "values")
    with pytest.raises(CheckFailure, match="complex"):
        check_softsign(lambda x: x / (1 + np.abs(x)) + 0j, "values")
    with pytest.raises(CheckFailure, match="did you forget the `return`"):
        check_softsign(lambda x: None, "values")


# --------------------------------------------------------------------------- running student code


def test_not_implemented_gives_a_friendly_message():
    def softsign(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailure, match="not implemented yet") as caught:
        check_softsign(softsign, "values")
    assert "raise NotImplementedError()" in str(caught.value)


def test_warnings_and_printed_output_never_leak(capfd):
    def noisy(x):
        x = np.asarray(x, dtype=float)
        print("debugging output")
        print("more", file=sys.stderr)
        warnings.warn("a warning of the student's own", UserWarning, stacklevel=1)
        return np.where(x == 0, 0.0, 1.0 / (1.0 / x + np.sign(x)))  # divides by zero at 0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for group in GROUPS:
            check_softsign(noisy, group)
    captured = capfd.readouterr()
    # only the checks' own pass lines: nothing the student's function printed
    passes = r"(check_softsign passed: \d+ inputs\.\n)"
    assert re.fullmatch(f"{passes}{{{len(GROUPS)}}}", captured.out)
    assert captured.err == ""


def test_student_errors_are_reported_not_raised():
    def broken(x):
        return undefined_name * x  # noqa: F821

    with pytest.raises(CheckFailure, match="raised NameError") as caught:
        check_softsign(broken, "values")
    assert "did you run every cell above" in str(caught.value)


def test_endless_loops_are_stopped(monkeypatch):
    monkeypatch.setattr(framework, "CALL_TIME_LIMIT", 0.3)

    def endless(x):
        while True:
            pass

    start = time.perf_counter()
    with pytest.raises(CheckFailure, match=r"did not finish within 0\.3 seconds"):
        check_softsign(endless, "values")
    assert time.perf_counter() - start < 5


def test_sys_exit_is_a_failure_not_an_exit():
    with pytest.raises(CheckFailure, match=r"called sys.exit\(\)"):
        check_softsign(lambda x: sys.exit(), "values")


def test_unknown_group_and_non_function_are_explained():
    with pytest.raises(CheckFailure, match="unknown group 'visible'"):
        check_softsign(np.tanh, "visible")
    with pytest.raises(CheckFailure, match="expected a function"):
        check_softsign(0.5, "values")


# --------------------------------------------------------------------------- fair cells


def test_a_bug_in_arrays_costs_only_the_arrays_groups():
    """A scalar-only function passes the values groups and fails the arrays groups."""
    import math as scalar_math

    def scalar_only(x):
        return 1 - scalar_math.tanh(x) ** 2

    check_tanh_derivative(scalar_only, "values")
    check_tanh_derivative(scalar_only, "hidden_values")
    for group in ("arrays", "hidden_arrays"):
        with pytest.raises(CheckFailure, match="scalar-only function"):
            check_tanh_derivative(scalar_only, group)


def test_every_group_draws_fresh_inputs():
    """A lookup table of the fixed cases fails: each group adds random inputs."""
    seen = []

    def remember(x):
        seen.append(np.array(x, dtype=float, copy=True))
        return x / (1 + np.abs(x))

    check_softsign(remember, "values")
    first = [float(v) for v in seen]
    seen.clear()
    check_softsign(remember, "values")
    second = [float(v) for v in seen]
    assert len(first) == len(second)
    assert first != second, "the values group must not be the same fixed list every time"
    table = dict(zip(first, [x / (1 + abs(x)) for x in first], strict=True))
    with pytest.raises(CheckFailure):
        check_softsign(lambda x: table[float(x)], "values")


def test_sqrt_of_square_is_a_correct_absolute_value_on_every_hidden_input():
    for _ in range(5):
        check_softsign(lambda x: x / (1 + np.sqrt(np.asarray(x, dtype=float) ** 2)), "hidden")


# --------------------------------------------------------------------------- the framework


def test_call_student_and_compare_for_a_new_check():
    assert call_student(lambda x, y: x + y, 2, 3, name="add") == 5
    compare(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), name="f", inputs={"x": 1})
    with pytest.raises(CheckFailure) as caught:
        compare(
            np.array([1.0, 5.0]),
            np.array([1.0, 2.0]),
            name="f",
            inputs={"x": np.array([0.0, 1.0])},
            hint=lambda mismatch, got, expected: f"{int(mismatch.sum())} wrong",
        )
    assert "first wrong element: x[1] = 1.0" in str(caught.value)
    assert "hint:     1 wrong" in str(caught.value)


def test_check_function_registers_a_new_check(monkeypatch):
    def check_double(func, group):
        got = call_student(func, 2.0, name="double")
        compare(got, 4.0, name="double", inputs={"x": 2.0}, hint="multiply by 2")

    monkeypatch.setattr(framework, "CHECKS", dict(framework.CHECKS))
    registered = check_function("double")(check_double)
    assert framework.CHECKS["check_double"] is registered
    registered(lambda x: 2 * x, "values")
    with pytest.raises(CheckFailure, match="multiply by 2"):
        registered(lambda x: x, "hidden")


# --------------------------------------------------------------------------- in a real kernel


@pytest.mark.slow
def test_a_student_sees_the_message_not_a_traceback():
    """Run failing test cells in a real IPython kernel, as JupyterLab does."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import numpy as np\n\ndef softsign(x):\n    return x / (1 + x)"),
        nbformat.v4.new_code_cell(
            '"""Check softsign."""\nfrom source_lib.grading.exercises import check_softsign\n\n'
            'check_softsign(softsign, "values")'
        ),
        nbformat.v4.new_code_cell(
            "def quitter(x):\n    exit()\n\ncheck_softsign(quitter, 'values')"
        ),
        nbformat.v4.new_code_cell("print('the kernel is alive')"),
    ]
    NotebookClient(notebook, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = notebook.cells[1].outputs
    assert [output.output_type for output in outputs] == ["error"]
    error = outputs[0]
    assert error.ename == "CheckFailure"
    assert "is the absolute value missing from the denominator?" in " ".join(error.evalue.split())
    shown = "\n".join(error.traceback)
    assert "exercises.py" not in shown
    assert "framework.py" not in shown
    assert "source_lib" in shown  # only the test cell's own import line
    assert "with_traceback" not in shown
    assert len(shown.splitlines()) < 20
    (exit_error,) = notebook.cells[2].outputs
    assert exit_error.ename == "CheckFailure"
    assert "called sys.exit() (or exit()/quit())" in exit_error.evalue
    assert notebook.cells[3].outputs[0].text == "the kernel is alive\n"


# ------------------------------------------------------------------------- hints for each exercise


def _in_place(expression):
    """A function that computes the right answer in its caller's own array."""

    def mutate(x):
        x = np.asarray(x, dtype=float)
        result = expression(x.copy())
        x *= 0
        x += result
        return x

    return mutate


IN_PLACE = {
    check_softsign: (_in_place(lambda x: x / (1 + np.abs(x))), "x / (1 + np.abs(x))"),
    check_abs_derivative: (_in_place(np.sign), "np.sign(np.asarray(x, dtype=float))"),
    check_softsign_derivative: (
        _in_place(lambda x: 1 / (1 + np.abs(x)) ** 2),
        "(1 / (1 + np.abs(x))) ** 2",
    ),
    check_tanh_derivative: (_in_place(lambda x: 1 - np.tanh(x) ** 2), "(1 / np.cosh(x)) ** 2"),
    check_softsign_inverse: (_in_place(lambda y: y / (1 - np.abs(y))), "y / (1 - np.abs(y))"),
}


@pytest.mark.parametrize("check", list(IN_PLACE), ids=lambda check: check.__name__)
def test_the_in_place_hint_is_written_for_each_function(check):
    func, example = IN_PLACE[check]
    name = check.__name__.removeprefix("check_")
    argument = "y" if name == "softsign_inverse" else "x"
    with pytest.raises(CheckFailure, match="modified its input array") as caught:
        check(func, "arrays")
    message = " ".join(str(caught.value).split())
    assert f"{name} changed its argument {argument} in place" in message
    assert f"e.g. `{example}`" in message
    assert "np.asarray(x) does not copy" not in message  # a cause the student may not have used
    if name != "softsign":
        assert "x / (1 + np.abs(x))" not in message


def test_a_read_only_input_written_to_gets_the_in_place_hint():
    def writes(x):
        x = np.asarray(x)
        x[...] = 1 - np.tanh(x) ** 2
        return x

    read_only = np.linspace(-1.0, 1.0, 5)
    read_only.flags.writeable = False
    with pytest.raises(CheckFailure, match="raised ValueError") as caught:
        call_student(writes, read_only, name="tanh_derivative")
    message = " ".join(str(caught.value).split())
    assert "tanh_derivative changed its argument x in place" in message
    assert "e.g. `(1 / np.cosh(x)) ** 2`" in message


def _backward_writing_into(argument):
    """A right backward pass that also writes into one of its arguments."""

    def backward(x, W, b, grad_output):
        delta = grad_output / (1 + np.abs(x @ W + b)) ** 2
        gradients = delta @ W.T, x.T @ delta, delta.sum(axis=0)
        if argument == "grad_output":
            grad_output *= 2
        else:
            W[...] = 0
        return gradients

    return backward


_NEW_ARRAY = {"grad_output": "`delta = grad_output * ...`", "W": "`grad_W = x.T @ delta`"}


@pytest.mark.parametrize("argument", ["grad_output", "W"])
@pytest.mark.parametrize("group", ["values", "hidden_arrays"])  # changed; read-only: raises
def test_the_layers_in_place_hint_names_the_argument_and_fits_a_backward_pass(argument, group):
    with pytest.raises(CheckFailure) as caught:
        check_softsign_layer_backward(_backward_writing_into(argument), group)
    message = " ".join(str(caught.value).split())
    assert f"softsign_layer_backward changed its argument {argument} in place" in message
    assert f"{_NEW_ARRAY[argument]} creates a new array" in message
    assert f"`{argument} *= ...`" in message
    assert "np.abs(x)" not in message
    assert "np.asarray" not in message


@pytest.mark.parametrize(
    ("check", "func"),
    [
        pytest.param(check, func, id=f"{check.__name__}-{i}")
        for i, (check, func, _) in enumerate(WRONG)
    ],
)
def test_every_message_line_fits_nbgrader_validate(check, func):
    """No line of a failure message is longer than 79 characters (validate cuts them)."""
    messages = []
    for group in GROUPS:
        try:
            check(func, group)
        except CheckFailure as failure:
            messages.append(str(failure))
    assert messages
    for message in messages:
        assert max(map(len, message.splitlines())) <= MESSAGE_WIDTH, message


def test_a_loop_that_meets_a_0d_array_gets_the_loop_hint():
    def loop(x):
        return np.array([1 - np.tanh(value) ** 2 for value in x])

    with pytest.raises(CheckFailure, match="TypeError") as caught:
        check_tanh_derivative(loop, "values")
    message = " ".join(str(caught.value).split())
    assert "a Python loop over the input" in message
    assert "e.g. `(1 / np.cosh(x)) ** 2`" in message


# --------------------------------------------------------------------------- the checks' arithmetic

_ARITHMETIC = [
    ("array", "asarray", "asarray"),
    ("array", "array", "array"),
    ("ufunc", "absolute", "absolute"),
    ("ufunc", "isnan", "isnan"),
    ("ufunc", "subtract", "subtract"),
    ("ufunc", "equal", "equal"),
    ("ufunc", "signbit", "signbit"),
    ("ufunc", "tanh", "tanh"),
    ("ufunc", "sine", "sin"),
    ("ufunc", "_multiply", "multiply"),
    ("ufunc", "_add", "add"),
    ("ufunc", "_less_equal", "less_equal"),
    ("ufunc", "_logical_or", "logical_or"),
    ("ufunc", "_logical_and", "logical_and"),
]


@pytest.mark.parametrize(("kind", "bound", "name"), _ARITHMETIC)
def test_the_checks_arithmetic_is_numpys_own_and_numpy_still_defines_it_where_expected(
    kind, bound, name
):
    from source_lib.grading import arithmetic

    assert getattr(arithmetic, bound) is getattr(np, name)
    # The fallback for a replaced np.<name>: fails loudly when NumPy moves its definitions.
    defined = getattr(importlib.import_module(arithmetic._DEFINITIONS[kind]), name)
    assert defined is getattr(np, name)


def test_the_checks_arithmetic_ignores_numpy_functions_a_notebook_replaced(monkeypatch):
    from source_lib.grading import arithmetic

    absolute, asarray = np.absolute, np.asarray
    monkeypatch.setattr(np, "absolute", lambda x, *args, **kwargs: x * 0)
    monkeypatch.setattr(np, "asarray", np.negative)
    assert arithmetic._genuine("ufunc", "absolute") is absolute
    assert arithmetic._genuine("array", "asarray") is asarray
