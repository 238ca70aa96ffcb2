"""What a student reads in a test cell: one line for a pass, a short message for a failure.

The student's side of the tests (issue 21): a passing check says so in one line
(which check, how many inputs); a function that raised is reported with the
exception in full, the student's own line and a hint for the usual causes; a
function that calls the course library's own implementation fails the visible
test with the words grading uses; warnings never decide a check, in the
notebook or in the grader; and no failure message is longer than 12 lines.
Everything here runs in this process: the checks directly, as a notebook calls
them, and the judge with this process playing the kernel (as ``test_judge.py``).
"""

from __future__ import annotations

import linecache
import math
import re
import sys
import types
import warnings

import numpy as np
import pytest
from test_checks import WRONG
from test_judge import direct, judge

import source_lib
from softsign_grader.edition import kernel_edition
from softsign_grader.verdict import WITHHELD_MESSAGE, Verdict, diagnosis
from source_lib import activations, network
from source_lib.grading import collector, framework
from source_lib.grading.cases import GROUPS
from source_lib.grading.exercises import (
    check_abs_derivative,
    check_numerical_derivative,
    check_softsign,
    check_softsign_derivative,
    check_softsign_inverse,
    check_tanh_derivative,
)
from source_lib.grading.formatting import MESSAGE_WIDTH, format_value
from source_lib.grading.framework import CHECKS, CheckFailure
from source_lib.grading.hints import example
from source_lib.grading.messages import (
    PASS_LINE,
    WITHHELD_HINT,
    WITHHELD_MARKER,
    WITHHELD_NOTICE,
    pass_line,
)
from source_lib.grading.network_exercise import check_softsign_layer_backward
from source_lib.grading.replay import Planner, session
from source_lib.grading.withholding import library_withheld

#: The most lines a failure message may have.
MAX_LINES = 12


def _failure(check, func, group: str = "values") -> CheckFailure:
    with pytest.raises(CheckFailure) as caught:
        check(func, group)
    return caught.value


# --------------------------------------------------------------------------- a pass, in one line


class _Counted:
    """A right answer that counts the calls it receives."""

    def __init__(self, func) -> None:
        self.func = func
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.func(*args, **kwargs)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize(
    ("check", "func"),
    [
        (check_softsign, lambda x: x / (1 + np.abs(x))),
        (check_tanh_derivative, lambda x: (1 / np.cosh(x)) ** 2),
        (check_numerical_derivative, lambda f, x, h=1e-5: (f(x + h) - f(x - h)) / (2 * h)),
    ],
    ids=["softsign", "tanh_derivative", "numerical_derivative"],
)
def test_a_passing_check_says_so_in_one_line_with_the_real_number_of_inputs(
    check, func, group, capsys
):
    counted = _Counted(func)
    check(counted, group)
    out = capsys.readouterr().out
    assert counted.calls > 1
    assert out == f"{check.__name__} passed: {counted.calls} inputs.\n"
    assert out.rstrip("\n") == pass_line(check.__name__, counted.calls)


def test_the_pass_line_has_one_format():
    assert pass_line("check_softsign", 41) == "check_softsign passed: 41 inputs."
    assert pass_line("check_softsign", 1) == "check_softsign passed: 1 input."
    assert PASS_LINE.format(check="c", count=2, inputs="inputs") == pass_line("c", 2)


def test_the_judge_prints_no_pass_line_and_a_failing_check_none(capsys):
    assert judge(check_softsign, lambda x: x / (1 + np.abs(x)), "values") is None
    _failure(check_softsign, lambda x: x / (1 + x))
    assert capsys.readouterr().out == ""


def test_a_layer_check_counts_its_layers(capsys):
    def backward(x, W, b, grad_output):
        delta = grad_output / (1 + np.abs(x @ W + b)) ** 2
        return delta @ W.T, x.T @ delta, delta.sum(axis=0)

    counted = _Counted(backward)
    check_softsign_layer_backward(counted, "values")
    assert (
        capsys.readouterr().out
        == f"check_softsign_layer_backward passed: {counted.calls} inputs.\n"
    )


# --------------------------------------------------------------------------- a function that raises


def _xor_square(x):
    y = 1 + np.abs(x)
    return 1 / y ^ 2


def test_an_exception_is_given_in_full_with_the_students_line_and_a_hint():
    failure = _failure(check_softsign_derivative, _xor_square, "arrays").failure
    assert failure.kind == "raised"
    assert failure.error == "TypeError"
    assert failure.mistake == "xor_for_power"
    text = failure.render()
    joined = " ".join(text.split())
    # NumPy's whole message, not cut off
    assert (
        "raised TypeError: ufunc 'bitwise_xor' not supported for the input types, and the "
        "inputs could not be safely coerced to any supported types according to the "
        "casting rule ''safe''" in joined
    )
    line = _xor_square.__code__.co_firstlineno + 2
    assert f"where: test_student_messages.py, line {line}: `return 1 / y ^ 2`" in joined
    assert "`^` is bitwise XOR in Python, not a power" in joined
    assert len(text.splitlines()) <= MAX_LINES
    assert max(map(len, text.splitlines())) <= MESSAGE_WIDTH


@pytest.mark.parametrize(
    ("check", "func", "mistake", "words"),
    [
        (check_softsign, lambda x: x / (1 + x ^ 0), "xor_for_power", "bitwise XOR"),
        (
            check_softsign,
            lambda x: x / (1 + x) if x >= 0 else x / (1 - x),
            "array_truth_value",
            "`if x < 0:`",
        ),
        (
            check_softsign_derivative,
            lambda x: np.array([1 / (1 + abs(v)) ** 2 for v in x]),
            "python_loop",
            "a Python loop over the input",
        ),
        (
            check_softsign_derivative,
            lambda x: (1 + np.abs(x)) ** -2,
            "integer_power",
            "negative integer power",
        ),
    ],
    ids=["xor", "if-on-array", "loop-over-0d", "integer-power"],
)
def test_common_exceptions_get_their_hint(check, func, mistake, words):
    found = []
    for group in ("values", "arrays"):
        try:
            check(func, group)
        except CheckFailure as error:
            found.append(error.failure)
    assert any(f.kind == "raised" and f.mistake == mistake for f in found), found
    assert any(words in " ".join((f.hint or "").split()) for f in found)


def test_a_notebook_cell_is_named_as_ipython_names_it(monkeypatch):
    """``your cell In[7], line 2``: IPython's name for the cell, and the cell's own line."""
    filename = "/tmp/ipykernel_4242/3170712309.py"
    source = "def softsign(x):\n    return x ^ 2\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)

    class Compiler:
        def format_code_name(self, name):
            return ("Cell", "In[7]") if name == filename else None

    class Shell:
        compile = Compiler()

    monkeypatch.setattr(collector, "ipython_shell", lambda: Shell())
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    try:
        failure = _failure(check_softsign, namespace["softsign"]).failure
    finally:
        linecache.cache.pop(filename, None)
    assert failure.details == (("where:", "your cell In[7], line 2: `return x ^ 2`"),)


def test_an_old_ipython_cell_name_and_a_frame_without_source_still_give_a_line():
    namespace: dict = {}
    exec(compile("def f(x):\n    return x ^ 2\n", "<ipython-input-3-5f2a1c>", "exec"), namespace)
    where = _failure(check_softsign, namespace["f"]).failure.details
    assert where == (("where:", "your cell In[3], line 2"),)


def test_an_exception_raised_outside_the_students_code_names_no_line():
    import math

    failure = _failure(check_softsign, math.tanh, "arrays").failure  # a builtin: no frame
    assert failure.kind == "raised"
    assert failure.details == ()
    assert "where:" not in failure.render()


def test_the_judge_gives_the_same_message_for_an_exception():
    for group in ("values", "arrays"):
        message = judge(check_softsign_derivative, _xor_square, group)
        assert message is not None
        assert "where:" in message
        assert message == direct(check_softsign_derivative, _xor_square, group)


def test_an_exception_message_crosses_the_wire_whole():
    long = "a long message " * 30

    def raises():
        raise ValueError(long)

    outcome = collector.call(raises, (), {}, 1.0)
    back = collector.outcome_from_wire(collector.outcome_to_wire(outcome))
    assert back.message == long.strip()
    line = raises.__code__.co_firstlineno + 1
    assert back.where == f"test_student_messages.py, line {line}: `raise ValueError(long)`"


# --------------------------------------------------------------------------- warnings: one rule


@pytest.mark.parametrize(
    ("check", "func"),
    [
        (check_tanh_derivative, lambda x: 1 / np.cosh(x) ** 2),  # warns from |x| > 355
        (check_softsign_derivative, lambda x: 1 / (1 + np.abs(x)) ** 2),  # warns beyond 1e154
    ],
    ids=["1/cosh**2", "1/(1+|x|)**2"],
)
def test_a_warning_never_fails_a_check_in_the_notebook_or_in_the_grader(check, func):
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        func(np.array([1e300]))  # it does warn where the course looks
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for group in GROUPS:
            check(func, group)
            assert judge(check, func, group) is None


def test_an_overflow_that_makes_a_value_wrong_fails_in_the_notebook_and_in_the_grader():
    def overflowing(x):  # 4 e^{2x} / (e^{2x} + 1)^2 is inf / inf = nan from x = 355 on
        e = np.exp(2 * np.asarray(x, dtype=float))
        return 4 * e / (e + 1) ** 2

    message = str(_failure(check_tanh_derivative, overflowing, "arrays"))
    assert "got:      nan" in message
    assert judge(check_tanh_derivative, overflowing, "arrays") == message


class _Recorded:
    """A right answer that remembers the inputs it was given."""

    def __init__(self, func) -> None:
        self.func = func
        self.inputs: list = []

    def __call__(self, x):
        self.inputs.append(x)
        return self.func(x)


@pytest.mark.parametrize("group", ["values", "hidden_values"])
def test_softsign_derivative_is_tried_at_1e300_as_notebook_03_promises(group):
    """Python floats and NumPy scalars at the edge of the float range; the reference gives 0.0."""
    recorded = _Recorded(lambda x: (1 / (1 + np.abs(x))) ** 2)
    check_softsign_derivative(recorded, group)
    huge = [x for x in recorded.inputs if np.ndim(x) == 0 and abs(float(x)) >= 1e300]
    assert {type(x) for x in huge} == {float, np.float64}
    assert {math.copysign(1.0, x) for x in huge} == {1.0, -1.0}
    for x in huge:
        assert activations.softsign_derivative(x) == 0.0


def _squares_a_python_float(x):
    return 1 / (1 + abs(x)) ** 2


@pytest.mark.parametrize("group", ["values", "hidden_values", "hidden"])
def test_a_python_float_that_overflows_in_a_power_fails_with_its_hint(group):
    with pytest.raises(OverflowError):
        _squares_a_python_float(1e300)
    failure = _failure(check_softsign_derivative, _squares_a_python_float, group).failure
    assert failure.kind == "raised"
    assert failure.error == "OverflowError"
    assert failure.mistake == "python_float_overflow"
    hint = " ".join((failure.hint or "").split())
    assert "`(1 + abs(x)) ** 2` (or `x ** 2`) overflows a Python float" in hint
    assert "np.abs works on Python floats too and gives inf, not an error" in hint
    assert "divide before you square: `(1 / (1 + np.abs(x))) ** 2`" in hint
    if group == "values":
        assert failure.input == "x = 1e+300"
    else:
        assert failure.input == "a hidden case (x = a Python float)"
    text = failure.render()
    assert len(text.splitlines()) <= MAX_LINES
    assert max(map(len, text.splitlines())) <= MESSAGE_WIDTH
    assert judge(check_softsign_derivative, _squares_a_python_float, group) == direct(
        check_softsign_derivative, _squares_a_python_float, group
    )


def test_a_function_wrong_everywhere_hears_of_that_before_the_edge_of_the_float_range():
    failure = _failure(check_softsign_derivative, lambda x: 1 / (1 + x) ** 2).failure
    assert failure.kind == "wrong_value"  # not the OverflowError it also raises at -1e300
    assert failure.input == "x = -3.0"
    assert "wrong for negative x" in (failure.hint or "")


@pytest.mark.parametrize(
    "func",
    [lambda x: 1 / (1 + np.abs(x)) ** 2, lambda x: (1 / (1 + np.abs(x))) ** 2],
    ids=["1/(1+np.abs(x))**2", "(1/(1+np.abs(x)))**2"],
)
def test_numpys_forms_pass_at_1e300_in_the_notebook_and_in_the_grader(func):
    with np.errstate(over="ignore"):
        assert func(1e300) == 0.0  # the first warns (the square is inf), the second does not
    for group in ("values", "hidden_values", "hidden"):
        check_softsign_derivative(func, group)
        assert judge(check_softsign_derivative, func, group) is None


def test_the_hints_examples_are_right_without_a_warning_where_the_course_looks():
    x = np.array([0.0, 1.0, 10.0, 15.0, 20.0, 300.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        derivative = eval(example("softsign_derivative"), {"np": np, "x": np.array([1e300])})
    assert derivative[0] == 0.0  # squares after dividing: no overflow at 1e300
    tanh_prime = eval(example("tanh_derivative"), {"np": np, "x": x})
    np.testing.assert_allclose(tanh_prime, activations.tanh_derivative(x), rtol=1e-14, atol=0)
    assert "1 - np.tanh" not in example("tanh_derivative")  # 1 - tanh**2 cancels from x ~ 19
    for group in GROUPS:
        check_softsign_derivative(lambda x: eval(example("softsign_derivative")), group)
        check_tanh_derivative(lambda x: eval(example("tanh_derivative")), group)


def test_no_tanh_hint_recommends_one_minus_tanh_squared_as_code():
    from source_lib.grading.elementwise import _TANH_DERIVATIVE

    hints = [m.hint for m in _TANH_DERIVATIVE.mistakes] + [_TANH_DERIVATIVE.negative_hint]
    assert not any("`1 - np.tanh" in hint for hint in hints)


# --------------------------------------------------------------------------- values as floats


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-98.99999999999991, "-99.0"),  # softsign_inverse(-0.99): rounds to an integer
        (-99.0, "-99.0"),
        (np.float64(-98.99999999999991), "-99.0"),
        (2.0000000000001, "2.0"),
        (1e300, "1e+300"),
        (-0.0, "-0.0"),
        (0.5, "0.5"),
    ],
)
def test_a_float_is_always_shown_as_a_float(value, text):
    assert format_value(value) == text


def test_notebook_04s_expected_values_read_alike():
    """``expected: -99.0`` beside ``expected: -1.0``, never ``-99``."""
    arrays = str(_failure(check_softsign_inverse, lambda y: y / (1 - y), "arrays"))
    values = str(_failure(check_softsign_inverse, lambda y: y / (1 - y), "values"))
    assert "expected: -99.0\n" in arrays
    assert "expected: -1.0\n" in values


# --------------------------------------------------------------------------- the library's own


def _calls_library_derivative(x):
    return activations.softsign_derivative(x)


_vectorized = np.vectorize(source_lib.tanh_derivative, otypes=[float])


@pytest.mark.parametrize(
    ("check", "func", "called"),
    [
        (check_softsign_derivative, _calls_library_derivative, "softsign_derivative"),
        (check_softsign, source_lib.softsign, "softsign"),
        (check_softsign, lambda x: source_lib.ACTIVATIONS["softsign"](x), "softsign"),
        (check_softsign_derivative, lambda x: source_lib.DERIVATIVES["softsign"](x), None),
        (check_tanh_derivative, _vectorized, "tanh_derivative"),
        (check_softsign_inverse, lambda y: source_lib.softsign_inverse(y), "softsign_inverse"),
        (check_abs_derivative, lambda x: source_lib.numerical_derivative(np.abs, x), None),
        (
            check_softsign_layer_backward,
            lambda x, W, b, g: network.softsign_layer_backward(x, W, b, g),
            "softsign_layer_backward",
        ),
    ],
    ids=["module", "itself", "ACTIVATIONS", "DERIVATIVES", "vectorize", "inverse", "door", "layer"],
)
def test_a_call_of_the_librarys_own_implementation_fails_the_visible_test(check, func, called):
    for group in ("values", "arrays", "hidden"):
        failure = _failure(check, func, group).failure
        assert failure.kind == "withheld"
        assert failure.mistake == "withheld_reference"
        assert failure.hint == WITHHELD_HINT
        if called:
            assert failure.problem == f"calls source_lib's own {called}"
    _assert_nothing_left_withheld()


def _assert_nothing_left_withheld():
    assert float(activations.softsign_derivative(1.0)) == 0.25
    assert float(source_lib.softsign(1.0)) == 0.5
    assert float(source_lib.DERIVATIVES["softsign"](1.0)) == 0.25
    assert float(source_lib.numerical_derivative(np.abs, 1.0)) == pytest.approx(1.0)
    for module in (activations, network):
        for value in vars(module).values():
            if callable(value) and hasattr(value, "__code__"):
                assert "withheld" not in value.__code__.co_filename, value


def test_grading_says_it_with_the_same_words():
    """The kernel's stub raises WITHHELD_NOTICE; the judge's message is the visible test's."""

    def stub(name):
        def withheld(*args, **kwargs):
            raise NotImplementedError(WITHHELD_NOTICE.format(name=name))

        return withheld

    kernel_derivative = stub("softsign_derivative")
    for group in ("values", "arrays", "hidden"):
        visible = str(_failure(check_softsign_derivative, _calls_library_derivative, group))
        graded = judge(check_softsign_derivative, lambda x: kernel_derivative(x), group)
        assert graded == visible


def test_the_kernel_edition_and_the_judge_use_the_same_words():
    edition = kernel_edition(("softsign",))
    text = (edition / "_withheld.py").read_text(encoding="utf-8")
    assert repr(WITHHELD_NOTICE) in text
    assert WITHHELD_MESSAGE == WITHHELD_MARKER
    assert WITHHELD_MARKER in WITHHELD_NOTICE


def test_the_diagnosis_of_a_library_call_is_the_withheld_fail():
    failure = _failure(check_softsign, source_lib.softsign)
    record = diagnosis(Verdict.failed(failure, None), [])
    assert record["verdict"] == "fail"
    assert (record["kind"], record["mistake"], record["hint"]) == (
        "withheld",
        "withheld_reference",
        WITHHELD_HINT,
    )
    assert record["problem"] == "calls source_lib's own softsign"


def test_an_honest_layer_may_use_the_librarys_other_functions(capsys):
    """Notebook 05's layer may use softsign and its derivative: only 05's own are withheld."""

    def backward(x, W, b, grad_output):
        z = x @ W + b
        a = activations.softsign(z)
        delta = grad_output * activations.softsign_derivative_from_output(a)
        assert np.allclose(delta, grad_output * source_lib.softsign_derivative(z))
        return delta @ W.T, x.T @ delta, delta.sum(axis=0)

    for group in GROUPS:
        check_softsign_layer_backward(backward, group)


def test_nothing_stays_withheld_after_a_call_that_raised_or_ran_out_of_time(monkeypatch):
    monkeypatch.setattr(framework, "CALL_TIME_LIMIT", 0.2)

    def raises(x):
        activations.softsign_derivative(x)  # raises NotImplementedError while withheld

    def endless(x):
        while True:
            pass

    for func in (raises, endless):
        _failure(check_softsign_derivative, func)
        _assert_nothing_left_withheld()
    with pytest.raises(KeyboardInterrupt), library_withheld("softsign_derivative"):
        raise KeyboardInterrupt
    _assert_nothing_left_withheld()


def test_a_rebound_library_function_is_withheld_too(monkeypatch):
    """The search for what to withhold is cached; rebinding a global (as a reload does)
    must not leave the new function out."""
    with library_withheld("softsign_derivative"):  # the search, now cached
        pass

    def softsign_derivative(x):  # a fresh library function, as after a reload
        return 1 / (1 + np.abs(x)) ** 2

    monkeypatch.setattr(activations, "softsign_derivative", softsign_derivative)
    with (
        library_withheld("softsign_derivative"),
        pytest.raises(NotImplementedError, match="withheld"),
    ):
        activations.softsign_derivative(np.array([0.5]))
    assert activations.softsign_derivative(np.array([1.0])) == pytest.approx([0.25])


def test_a_library_module_imported_or_replaced_later_is_searched_too(monkeypatch):
    """The module list is cached too: a source_lib module that appears in sys.modules after
    a search (an import, or a module object put in another's place) is searched next time,
    and a None entry (an import blocked on purpose) is no module and breaks nothing."""
    with library_withheld("softsign_derivative"):  # the search, now cached
        pass

    def softsign_derivative(x):
        return 1 / (1 + np.abs(x)) ** 2

    for name in ("source_lib.not_yet_imported", "source_lib.activations"):
        module = types.ModuleType(name)
        module.softsign_derivative = softsign_derivative
        monkeypatch.setitem(sys.modules, name, module)
        with (
            library_withheld("softsign_derivative"),
            pytest.raises(NotImplementedError, match="withheld"),
        ):
            module.softsign_derivative(np.array([0.5]))
        assert softsign_derivative(np.array([1.0])) == pytest.approx([0.25])
    monkeypatch.setitem(sys.modules, "source_lib.blocked", None)
    with library_withheld("softsign_derivative"):
        pass


def test_the_planner_is_not_affected_by_the_withholding():
    """The judge plans with the reference itself: nothing is withheld in its process."""
    for check in CHECKS.values():
        if check.exercise in source_lib.grading.registry.EXERCISE:
            with session(Planner(3, "f")):
                check(None, "values")


# --------------------------------------------------------------------------- messages that read


def _mean_bias(x, W, b, grad_output):
    delta = grad_output / (1 + np.abs(x @ W + b)) ** 2
    return delta @ W.T, x.T @ delta, delta.mean(axis=0)


def _wrong_sign_layer(x, W, b, grad_output):
    delta = grad_output / (1 + np.abs(x @ W + b)) ** 2
    return -(delta @ W.T), x.T @ delta, delta.sum(axis=0)


def _flat_layer(x, W, b, grad_output):
    delta = grad_output / (1 + np.abs(x @ W + b)) ** 2
    return (delta @ W.T).ravel(), x.T @ delta, delta.sum(axis=0)


def _raising_layer(x, W, b, grad_output):
    delta = grad_output / (1 + np.abs(x @ W + b)) ** 2
    return delta @ W, x.T @ delta, delta.sum(axis=0)


def _modifying(x):
    x = np.asarray(x)
    if x.flags.writeable and x.dtype.kind == "f":
        x *= 2
    return x / (1 + np.abs(x))


TYPICAL = [
    *[(check, func) for check, func, _ in WRONG],
    (check_softsign, lambda x: x / (1 + x)),  # wrong formula
    (check_softsign, lambda x: -x / (1 + np.abs(x))),  # wrong sign
    (check_softsign, lambda x: np.atleast_1d(x / (1 + np.abs(x)))),  # wrong shape
    (check_softsign, lambda x: np.zeros((3, 3))),
    (check_softsign, lambda x: x ^ 2),  # raises
    (check_abs_derivative, lambda x: np.sign(x)),  # returns int
    (check_softsign, _modifying),  # modifies its argument
    (check_softsign, lambda x: None),
    (check_softsign, lambda x: "0.5"),
    (check_softsign_derivative, _calls_library_derivative),
    (check_softsign_layer_backward, _mean_bias),  # notebook 05: mean instead of sum
    (check_softsign_layer_backward, _wrong_sign_layer),
    (check_softsign_layer_backward, _flat_layer),
    (check_softsign_layer_backward, _raising_layer),
    (check_softsign_layer_backward, lambda x, W, b, g: (x, W)),
]


@pytest.mark.parametrize(
    ("check", "func"), TYPICAL, ids=lambda value: getattr(value, "__name__", "")
)
def test_no_failure_message_is_longer_than_12_lines(check, func):
    seen = 0
    for group in GROUPS:
        try:
            check(func, group)
        except CheckFailure as error:
            seen += 1
            lines = error.failure.render().splitlines()
            assert len(lines) <= MAX_LINES, "\n".join(lines)
            assert max(map(len, lines)) <= MESSAGE_WIDTH, "\n".join(lines)
    assert seen, "a wrong answer passed every group"


def test_notebook_05s_mean_instead_of_sum_is_named_in_a_few_lines():
    failure = _failure(check_softsign_layer_backward, _mean_bias).failure
    text = failure.render()
    assert "the SUM of delta over the batch" in " ".join(text.split())
    assert len(text.splitlines()) <= MAX_LINES
    assert re.search(r"x = array(\(\[\[.*\]\]\) \(shape| of shape) \(\d+, \d+\)", text)


@pytest.mark.parametrize(
    "value",
    [
        np.random.default_rng(0).normal(size=(8, 7)),
        np.random.default_rng(1).normal(size=(4, 5, 3)),
        np.geomspace(1e-100, 1e100, 200),
        np.arange(12).reshape(3, 4),
        np.linspace(-1, 1, 9).astype(np.float32),
    ],
    ids=["matrix", "3-d", "wide", "int", "float32"],
)
def test_an_array_is_printed_on_one_short_line(value):
    text = format_value(value)
    assert "\n" not in text
    assert len(text) <= 90, text
    assert text.startswith("array")
