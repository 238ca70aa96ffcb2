"""Unit tests for source_lib.activations: values, limits, dtypes, shapes, layouts and errors."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings

import numpy as np
import pytest

import source_lib
from source_lib import activations
from source_lib.activations import (
    ACTIVATIONS,
    DERIVATIVES,
    abs_derivative,
    numerical_derivative,
    softsign,
    softsign_derivative,
    softsign_derivative_from_output,
    softsign_inverse,
    tanh_derivative,
)

#: Elements of the large test arrays: more than fit in a typical L2 cache, and odd.
LARGE = 400_009

#: Every element-wise function of the module, with inputs valid for all of them.
ELEMENTWISE = [
    softsign,
    softsign_derivative,
    softsign_derivative_from_output,
    softsign_inverse,
    abs_derivative,
    tanh_derivative,
    *ACTIVATIONS.values(),
    *DERIVATIVES.values(),
]
#: Functions defined on the whole real line (softsign's inverse and the output form are not).
WHOLE_LINE = [
    f for f in ELEMENTWISE if f not in (softsign_inverse, softsign_derivative_from_output)
]
ids = lambda f: f.__name__  # noqa: E731


def plain_softsign(x: np.ndarray) -> np.ndarray:
    """The one-line formula, with the limits at +-inf patched in."""
    with np.errstate(invalid="ignore"):
        result = x / (1 + np.abs(x))
    result[np.isinf(x)] = np.sign(x[np.isinf(x)])
    return result


# --------------------------------------------------------------------------- the public API


def test_contract_names_are_exported_at_top_level():
    for name in (
        "softsign",
        "abs_derivative",
        "softsign_derivative",
        "numerical_derivative",
        "tanh_derivative",
        "softsign_inverse",
        "softsign_derivative_from_output",
        "ACTIVATIONS",
        "DERIVATIVES",
        "relative_error",
        "gradient_check",
    ):
        assert name in source_lib.__all__
        assert getattr(source_lib, name) is not None
    assert source_lib.softsign is activations.softsign


def test_importing_the_package_loads_numpy_and_the_reference_modules_only():
    # A fresh interpreter: which modules does `import source_lib` add?
    script = (
        "import sys; before = set(sys.modules); import source_lib; "
        "print(sorted(set(sys.modules) - before))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = ast.literal_eval(result.stdout)
    ours = {name for name in loaded if name.startswith("source_lib")}
    assert ours == {
        "source_lib",
        "source_lib._types",
        "source_lib._validation",
        "source_lib.activations",
        "source_lib.gradcheck",
        "source_lib.relatives",
    }
    packages = {name.split(".")[0] for name in loaded}
    assert "numpy" in packages
    for heavy in ("matplotlib", "nbgrader", "nbformat", "jupyter_client", "sklearn", "IPython"):
        assert heavy not in packages, heavy


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
def test_every_function_has_a_numpydoc_docstring_with_examples(function):
    doc = function.__doc__
    first_line = doc.strip().splitlines()[0]
    assert first_line.endswith(".")
    for section in ("Parameters\n", "Returns\n", "Notes\n", "Examples\n"):
        assert section in doc, section
    assert ".. math::" in doc


@pytest.mark.parametrize("function", [softsign, softsign_derivative], ids=ids)
def test_softsign_docstrings_cite_the_papers(function):
    assert "Bergstra" in function.__doc__
    assert "Glorot" in function.__doc__


def test_softsign_docstring_credits_elliott_and_bergstra_with_the_name():
    doc = softsign.__doc__
    assert "Elliott [1]_ proposed it in 1993" in doc
    assert "introduced" not in doc
    assert "named it softsign" in doc


def test_tanh_reaches_one_from_about_19_as_its_docstring_says():
    """The smallest float64 with np.tanh(x) == 1.0, found by bisection on the bit patterns."""
    low = int(np.float64(18.0).view(np.int64))
    high = int(np.float64(20.0).view(np.int64))
    while high - low > 1:
        middle = (low + high) // 2
        if np.tanh(np.int64(middle).view(np.float64)) == 1.0:
            high = middle
        else:
            low = middle
    first = float(np.int64(high).view(np.float64))
    # Faithful rounding may give 1.0 a little before the correctly rounded point.
    correctly_rounded = np.log(2.0**55 - 1) / 2
    assert 18.7 < first <= correctly_rounded
    assert round(first, 1) == 19.0
    assert "19.0" in activations.tanh.__doc__
    assert "19.1" not in activations.tanh.__doc__


# --------------------------------------------------------------------------- softsign values


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.0, 0.0), (1.0, 0.5), (-1.0, -0.5), (3.0, 0.75), (-3.0, -0.75), (99.0, 0.99), (0.25, 0.2)],
)
def test_softsign_values(x, expected):
    assert softsign(x) == pytest.approx(expected, rel=1e-15, abs=0)


def test_softsign_limits_nan_and_signed_zero():
    assert softsign(np.inf) == 1.0
    assert softsign(-np.inf) == -1.0
    assert np.isnan(softsign(np.nan))
    negative_zero = softsign(-0.0)
    assert negative_zero == 0.0
    assert np.signbit(negative_zero)
    assert not np.signbit(softsign(0.0))
    mixed = softsign(np.array([-np.inf, -1.0, np.nan, -0.0, 1.0, np.inf]))
    np.testing.assert_array_equal(mixed, [-1.0, -0.5, np.nan, -0.0, 0.5, 1.0])
    assert np.signbit(mixed[3])


def test_softsign_extremes_need_no_special_case_and_do_not_warn():
    values = np.array([1e-320, -5e-324, 1e300, -1e308, np.finfo(np.float64).max])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = softsign(values)
    # Tiny inputs come back unchanged (1 + |x| rounds to 1); huge ones give exactly +-1.
    np.testing.assert_array_equal(result, [1e-320, -5e-324, 1.0, -1.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_softsign_limits_hold_in_every_float_dtype(dtype):
    x = np.array([-np.inf, -np.finfo(dtype).max, -0.0, np.nan, np.finfo(dtype).max, np.inf], dtype)
    result = softsign(x)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, np.array([-1, -1, -0.0, np.nan, 1, 1], dtype))
    assert np.signbit(result[2])


def test_softsign_equals_the_plain_formula_bit_for_bit():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(LARGE) * np.exp(rng.uniform(-40, 40, LARGE))
    np.testing.assert_array_equal(softsign(x), x / (1 + np.abs(x)))


def test_large_arrays_with_special_values_anywhere():
    x = np.random.default_rng(1).standard_normal(LARGE) * 50
    special = {
        17: np.inf,
        LARGE // 3: -np.inf,
        LARGE // 3 + 1: np.inf,
        LARGE // 2: np.nan,
        LARGE - 1: -np.inf,
        99_999: -0.0,
    }
    for index, value in special.items():
        x[index] = value
    result = softsign(x)
    np.testing.assert_array_equal(result, plain_softsign(x))
    assert np.signbit(result[99_999])
    derivative = softsign_derivative(x)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(derivative, 1 / (1 + np.abs(x)) ** 2, rtol=1e-15)
    assert derivative[17] == 0.0
    assert np.isnan(derivative[LARGE // 2])


def test_nan_without_infinity_is_left_alone():
    x = np.array([np.nan, 2.0, -np.nan])
    np.testing.assert_array_equal(softsign(x), [np.nan, 2 / 3, np.nan])


# --------------------------------------------------------------------------- the derivative


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.0, 1.0), (1.0, 0.25), (-1.0, 0.25), (3.0, 0.0625), (-0.5, 4 / 9), (99.0, 1e-4)],
)
def test_softsign_derivative_values(x, expected):
    assert softsign_derivative(x) == pytest.approx(expected, rel=1e-15, abs=0)


def test_softsign_derivative_never_overflows_or_warns():
    huge = np.array([1e154, 1e155, 1e200, 1e300, -1e300, 1e308, np.inf, -np.inf])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        values = softsign_derivative(huge)
    assert values[0] == pytest.approx(1e-308, rel=1e-12)
    assert values[1] == pytest.approx(1e-310, rel=1e-9)  # subnormal, where (1 + |x|)^2 = inf
    np.testing.assert_array_equal(values[2:], 0.0)
    assert not np.any(np.signbit(values))


def test_softsign_derivative_keeps_precision_in_the_tails():
    x = np.logspace(0, 150, 151)
    np.testing.assert_allclose(softsign_derivative(x), (1 / (1 + x)) ** 2, rtol=1e-15)


def test_derivative_from_output_matches_derivative():
    x = np.linspace(-50, 50, 1001)
    np.testing.assert_allclose(
        softsign_derivative_from_output(softsign(x)), softsign_derivative(x), rtol=1e-13
    )
    assert softsign_derivative_from_output(1.0) == 0.0
    assert softsign_derivative_from_output(-0.0) == 1.0
    assert np.isnan(softsign_derivative_from_output(np.nan))


@pytest.mark.parametrize("bad", [1.5, -1.0000001, np.inf, [0.0, -2.0]])
def test_derivative_from_output_rejects_values_softsign_never_takes(bad):
    with pytest.raises(ValueError, match=r"\[-1, 1\]") as raised:
        softsign_derivative_from_output(bad)
    assert "softsign_derivative_from_output" in str(raised.value)


# --------------------------------------------------------------------------- |x| and tanh


def test_abs_derivative_convention_at_zero():
    np.testing.assert_array_equal(
        abs_derivative(np.array([-3.0, -1e-300, -0.0, 0.0, 5e-324, 2.0, np.inf, -np.inf])),
        [-1.0, -1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0],
    )
    assert np.isnan(abs_derivative(np.nan))
    assert abs_derivative(7) == 1.0


def test_tanh_derivative_values():
    x = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(tanh_derivative(x), 1 - np.tanh(x) ** 2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(tanh_derivative(x), 1 / np.cosh(x) ** 2, rtol=1e-14)
    assert tanh_derivative(0.0) == 1.0
    assert tanh_derivative(-0.0) == 1.0
    assert tanh_derivative(2.0) == tanh_derivative(-2.0)


def test_tanh_derivative_never_exceeds_one_and_never_increases_with_abs_x():
    # sech(x)^2 = 1 - x^2 + ... rounds to 1 near 0; it must not round above it.
    x = np.sort(np.concatenate([np.geomspace(1e-12, 1e-4, 2001), np.linspace(0, 40, 400_001)]))
    values = tanh_derivative(x)
    assert values.max() == 1.0
    assert np.all(np.diff(values) <= 0)


def test_tanh_derivative_is_accurate_and_quiet_in_the_tails():
    x = np.array([20.0, 100.0, 350.0])
    # 1 / cosh(x)**2 is exact enough here (cosh does not overflow below 710).
    np.testing.assert_allclose(tanh_derivative(x), 1 / np.cosh(x) ** 2, rtol=1e-13)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        values = tanh_derivative(np.array([800.0, -1e300, np.inf, -np.inf]))
    np.testing.assert_array_equal(values, 0.0)


# --------------------------------------------------------------------------- the inverse


def test_softsign_inverse_values_edges_and_domain():
    assert softsign_inverse(0.5) == 1.0
    assert softsign_inverse(-0.5) == -1.0
    assert softsign_inverse(-0.99) == pytest.approx(-99.0, rel=1e-12)
    assert softsign_inverse(1.0) == np.inf
    assert softsign_inverse(-1.0) == -np.inf
    assert np.isnan(softsign_inverse(np.nan))
    assert np.signbit(softsign_inverse(-0.0))


def test_softsign_inverse_does_not_warn_at_the_edges():
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        result = softsign_inverse(np.array([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(result, [-np.inf, 0.0, np.inf])


@pytest.mark.parametrize("bad", [1.0000001, -2.0, np.array([0.0, 3.0]), np.inf, -np.inf, 10])
def test_softsign_inverse_rejects_values_outside_the_range(bad):
    with pytest.raises(ValueError, match=r"defined on \[-1, 1\]") as raised:
        softsign_inverse(bad)
    assert "got y = " in str(raised.value)


def test_softsign_inverse_error_names_the_offending_value():
    with pytest.raises(ValueError, match=r"y = -3\.5"):
        softsign_inverse([0.5, -3.5, 7.0])


def test_softsign_inverse_round_trip_on_a_grid():
    x = np.linspace(-1e3, 1e3, 2001)
    np.testing.assert_allclose(softsign_inverse(softsign(x)), x, rtol=1e-9, atol=1e-12)
    assert softsign(softsign_inverse(np.float64(0.75))) == 0.75


# --------------------------------------------------------------------------- shared rules


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes_are_kept(function, dtype):
    x = np.array([-0.5, 0.0, 0.5], dtype=dtype)
    assert function(x).dtype == dtype
    assert function(dtype(0.25)).dtype == dtype


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
@pytest.mark.parametrize(
    "value", [1, -1, np.int32(0), True, np.uint8(1), np.array([1, 0, -1], dtype=np.int64)]
)
def test_integers_and_booleans_become_float64(function, value):
    result = function(value)
    assert np.asarray(result).dtype == np.float64
    np.testing.assert_array_equal(result, function(np.asarray(value, dtype=np.float64)))


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
def test_scalars_in_give_scalars_out(function):
    for value in (0.5, 1, np.float32(0.5), np.float64(-0.25), np.float16(0.0)):
        result = function(value)
        assert isinstance(result, np.floating), type(result)


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 4), (3, 1, 2)])
def test_arrays_of_any_shape_give_arrays_of_that_shape(function, shape):
    x = np.linspace(-0.9, 0.9, int(np.prod(shape))).reshape(shape)
    result = function(x)
    assert isinstance(result, np.ndarray)
    assert result.shape == shape
    if x.size:
        expected = [function(float(value)) for value in x.flat]
        np.testing.assert_allclose(result.reshape(-1), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
def test_lists_and_tuples_are_accepted(function):
    np.testing.assert_array_equal(function([0.5, -0.25]), function(np.array([0.5, -0.25])))
    np.testing.assert_array_equal(function((0.5,)), function(np.array([0.5])))


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
def test_argument_is_never_modified(function):
    x = np.linspace(-0.9, 0.9, LARGE)
    before = x.copy()
    result = function(x)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(result, x)


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
def test_read_only_input_is_fine(function):
    x = np.linspace(-0.9, 0.9, 11)
    x.flags.writeable = False
    np.testing.assert_array_equal(function(x), function(x.copy()))


@pytest.mark.parametrize("function", WHOLE_LINE, ids=ids)
@pytest.mark.parametrize(
    "layout",
    ["fortran", "transposed", "strided", "reversed", "broadcast"],
)
def test_every_memory_layout_gives_the_same_values(function, layout):
    base = np.random.default_rng(3).standard_normal((40, 30)) * 4
    x = {
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "strided": base[::3, 1::2],
        "reversed": base[::-1, ::-1],
        "broadcast": np.broadcast_to(base[0], (5, 30)),
    }[layout]
    expected = function(np.ascontiguousarray(x))
    result = function(x)
    assert result.shape == x.shape
    # Transcendental functions may take other SIMD paths for strided data: allow an ulp or two.
    np.testing.assert_allclose(result, expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("function", ELEMENTWISE, ids=ids)
@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("1.0", "str '1.0'"),
        (b"1", "bytes"),
        (None, "None"),
        (np.array([1.0, None], dtype=object), "Python objects"),
        ([1.0, None], "Python objects"),
        (1 + 2j, "complex"),
        (np.complex64(1), "complex"),
        (np.array([1j]), "complex"),
        ([1.0, "a"], "strings"),
        ([[1.0], [1.0, 2.0]], "cannot read"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "dates"),
    ],
)
def test_non_numeric_input_raises_a_type_error_naming_the_argument(function, bad, what):
    argument = "y" if function in (softsign_inverse, softsign_derivative_from_output) else "x"
    with pytest.raises(TypeError) as raised:
        function(bad)
    message = str(raised.value)
    assert message.startswith(f"{argument} must be a real number or an array of real numbers")
    assert what in message


# --------------------------------------------------------------------------- out=


@pytest.mark.parametrize("function", [softsign, softsign_derivative], ids=ids)
@pytest.mark.parametrize("size", [0, 1, 10, LARGE])
def test_out_receives_the_result_and_is_returned(function, size):
    x = np.linspace(-5, 5, size)
    out = np.full_like(x, 7.0)
    returned = function(x, out=out)
    assert returned is out
    np.testing.assert_array_equal(out, function(x))


@pytest.mark.parametrize("function", [softsign, softsign_derivative], ids=ids)
def test_out_may_be_the_input_itself(function):
    x = np.linspace(-5, 5, LARGE)
    x[3], x[-1] = np.inf, -np.inf
    expected = function(x)
    returned = function(x, out=x)
    assert returned is x
    np.testing.assert_array_equal(x, expected)


@pytest.mark.parametrize("function", [softsign, softsign_derivative], ids=ids)
def test_out_may_overlap_the_input_partly(function):
    buffer = np.linspace(-5, 5, 101)
    x, out = buffer[:100], buffer[1:]
    expected = function(x.copy())
    function(x, out=out)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("function", [softsign, softsign_derivative], ids=ids)
def test_out_may_be_non_contiguous(function):
    x = np.random.default_rng(5).standard_normal((6, 8))
    storage = np.zeros((8, 6))
    out = storage.T
    function(x, out=out)
    np.testing.assert_array_equal(out, function(x))
    zero_d = np.zeros(())
    assert function(0.5, out=zero_d) is zero_d
    assert zero_d == function(0.5)


@pytest.mark.parametrize("function", [softsign, softsign_derivative], ids=ids)
def test_a_wrong_out_is_refused_clearly(function):
    x = np.linspace(-1, 1, 4)
    with pytest.raises(ValueError, match=r"out must have shape \(4,\), got \(5,\)"):
        function(x, out=np.empty(5))
    with pytest.raises(TypeError, match=r"out must have dtype float64 .*got float32"):
        function(x, out=np.empty(4, dtype=np.float32))
    with pytest.raises(TypeError, match="out must be a NumPy array, got list"):
        function(x, out=[0.0] * 4)
    read_only = np.empty(4)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        function(x, out=read_only)


# --------------------------------------------------------------------------- numerical_derivative


def test_numerical_derivative_is_the_centred_difference_with_the_given_step():
    x = np.array([-2.0, 0.0, 0.5])
    for h in (1e-5, 1e-3, 0.1, 1):
        expected = (np.sin(x + h) - np.sin(x - h)) / (2 * h)
        np.testing.assert_array_equal(numerical_derivative(np.sin, x, h), expected)
    assert numerical_derivative(softsign, 0.0, h=0.1) == pytest.approx(1 / 1.1, rel=1e-14)
    cube = numerical_derivative(lambda z: z**3, 2.0, 0.1)
    assert cube == pytest.approx(3 * 2.0**2 + 0.1**2, rel=1e-12)  # exact: f'(x) + h^2


def test_numerical_derivative_default_step_is_1e_5():
    assert numerical_derivative(lambda z: z**3, 1.0) == pytest.approx(3 + 1e-10, rel=1e-9)
    np.testing.assert_array_equal(
        numerical_derivative(np.exp, [0.3]), numerical_derivative(np.exp, [0.3], 1e-5)
    )


def test_numerical_derivative_shapes_scalars_and_argument():
    assert isinstance(numerical_derivative(np.sin, 1.0), np.floating)
    assert numerical_derivative(np.sin, np.zeros((2, 0))).shape == (2, 0)
    zero_d = numerical_derivative(np.sin, np.array(1.0))
    assert isinstance(zero_d, np.ndarray)
    assert zero_d.shape == ()
    x = np.linspace(-1, 1, 7).reshape(7, 1)
    before = x.copy()
    assert numerical_derivative(np.tanh, x).shape == (7, 1)
    np.testing.assert_array_equal(x, before)
    assert numerical_derivative(np.sin, 2).dtype == np.float64


def test_numerical_derivative_broadcasts_a_constant_function():
    np.testing.assert_array_equal(numerical_derivative(lambda z: 3.0, [1.0, 2.0]), [0.0, 0.0])


def test_numerical_derivative_refuses_a_function_that_is_not_element_wise():
    with pytest.raises(ValueError, match=r"f returned shape \(2,\) for x of shape \(3,\)"):
        numerical_derivative(lambda z: z[:2], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("h", [0.0, -1e-5, np.inf, np.nan])
def test_numerical_derivative_rejects_bad_steps(h):
    with pytest.raises(ValueError, match="h must be positive and finite"):
        numerical_derivative(np.sin, 1.0, h)


@pytest.mark.parametrize("h", ["1e-5", None, 1j])
def test_numerical_derivative_rejects_non_numeric_steps(h):
    with pytest.raises(TypeError, match=r"^h must be"):
        numerical_derivative(np.sin, 1.0, h)


def test_numerical_derivative_rejects_an_array_step():
    with pytest.raises(TypeError, match="h must be a single positive number"):
        numerical_derivative(np.sin, 1.0, [1e-5, 1e-4])


def test_numerical_derivative_rejects_non_callables_and_bad_points():
    with pytest.raises(TypeError, match="f must be a function of one argument, got float"):
        numerical_derivative(3.0, 1.0)
    with pytest.raises(TypeError, match=r"^x must be a real number"):
        numerical_derivative(np.sin, "1.0")


# --------------------------------------------------------------------------- the registry


def test_registry_holds_the_family():
    assert set(ACTIVATIONS) == set(DERIVATIVES)
    assert set(ACTIVATIONS) >= {
        "softsign",
        "tanh",
        "algebraic_sigmoid",
        "arctan_sigmoid",
        "hard_tanh",
    }
    assert ACTIVATIONS["softsign"] is softsign
    assert DERIVATIVES["softsign"] is softsign_derivative
    assert DERIVATIVES["tanh"] is tanh_derivative


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_derivatives_match_finite_differences_away_from_kinks(name):
    # hard_tanh has kinks at +-1 and softsign's |x| one at 0: none of these points is near one.
    x = np.array([-30.0, -3.7, -1.3, -0.4, -0.05, 0.3, 0.8, 2.9, 12.0])
    f, df = ACTIVATIONS[name], DERIVATIVES[name]
    # Truncation error ~ h^2 |f'''| / 6 ~ 1e-13; rounding ~ eps |f| / h ~ 2e-10.
    np.testing.assert_allclose(df(x), numerical_derivative(f, x, 1e-6), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_activations_are_odd_bounded_increasing_and_zero_centred(name):
    f, df = ACTIVATIONS[name], DERIVATIVES[name]
    x = np.linspace(-30, 30, 601)
    np.testing.assert_array_equal(f(-x), -f(x))
    np.testing.assert_array_equal(df(-x), df(x))
    assert np.all(np.abs(f(x)) <= 1)
    assert np.all(np.diff(f(x)) >= 0)
    assert f(0.0) == 0.0
    assert np.signbit(f(-0.0))
    assert f(np.inf) == 1.0
    assert f(-np.inf) == -1.0
    assert df(np.inf) == 0.0
    assert np.isnan(f(np.nan))
    assert np.isnan(df(np.nan))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_functions_are_quiet_at_extremes(name):
    x = np.array([-np.inf, -1e308, -1e200, -1e-320, 0.0, 1e-320, 1e160, 1e308, np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = ACTIVATIONS[name](x)
        slopes = DERIVATIVES[name](x)
    assert np.all(np.isfinite(values))
    assert np.all(np.isfinite(slopes))
    assert np.all(slopes >= 0)


def test_reference_activations_match_their_formulas():
    x = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(activations.algebraic_sigmoid(x), x / np.sqrt(1 + x**2), rtol=1e-15)
    np.testing.assert_allclose(
        activations.algebraic_sigmoid_derivative(x), (1 + x**2) ** -1.5, rtol=1e-14
    )
    np.testing.assert_allclose(activations.arctan_sigmoid(x), 2 / np.pi * np.arctan(x), rtol=1e-15)
    np.testing.assert_allclose(
        activations.arctan_sigmoid_derivative(x), 2 / (np.pi * (1 + x**2)), rtol=1e-15
    )
    np.testing.assert_array_equal(activations.hard_tanh(x), np.clip(x, -1, 1))
    np.testing.assert_array_equal(activations.tanh(x), np.tanh(x))


def test_hard_tanh_derivative_convention_at_the_kinks():
    np.testing.assert_array_equal(
        activations.hard_tanh_derivative([-1.5, -1.0, -0.999, 0.0, 0.999, 1.0, 1.5]),
        [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0],
    )


def test_algebraic_sigmoid_is_exact_for_huge_inputs():
    # x / sqrt(1 + x^2) would overflow to x / inf = 0 for the first two.
    np.testing.assert_array_equal(
        activations.algebraic_sigmoid([1e155, -1e300, 1e8]), [1.0, -1.0, 1.0]
    )
