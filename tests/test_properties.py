"""Property-based tests (hypothesis) for the mathematical laws of softsign and its helpers.

Each law is stated for floating-point numbers as they are: where rounding can
bend a law of the real numbers, the test says by how much, from the error
analysis of the formula (u is the unit roundoff, 2**-53 in float64), rather
than skipping the inputs where it bends.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from source_lib import (
    abs_derivative,
    numerical_derivative,
    relative_error,
    softsign,
    softsign_derivative,
    softsign_derivative_from_output,
    softsign_inverse,
    tanh_derivative,
)
from source_lib.grading.formatting import format_value

#: Twice the examples of the active profile: 200 in the full run, 50 in the fast lane
#: (conftest.FAST_LANE_EXAMPLES), which the full run backs up.
SETTINGS = settings(max_examples=2 * settings.default.max_examples, deadline=None)

U = 2.0**-53  # unit roundoff of float64
FLOAT_DTYPES = [np.float16, np.float32, np.float64]

every_float = st.floats(allow_nan=True, allow_infinity=True)
finite = st.floats(allow_nan=False, allow_infinity=False)
#: Finite inputs small enough that 1 + |x| is not |x| itself in float64.
below_2_52 = st.floats(min_value=-(2.0**52), max_value=2.0**52)
#: Inputs for which a relative error of 2u in softsign(x) moves the inverse linearly.
below_2_48 = st.floats(min_value=-(2.0**48), max_value=2.0**48)
float_arrays = st.sampled_from(FLOAT_DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        dtype=dtype,
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6),
        elements=hnp.from_dtype(np.dtype(dtype), allow_nan=True, allow_infinity=True),
    )
)


def exact_softsign(x: float) -> Fraction:
    """softsign(x) in exact rational arithmetic."""
    q = Fraction(x)
    return q / (1 + abs(q))


def same_float(a: float, b: float) -> bool:
    """Equal as floats, with nan equal to nan and -0.0 different from 0.0."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return bool(a == b and np.signbit(a) == np.signbit(b))


# --------------------------------------------------------------------------- softsign


@SETTINGS
@given(every_float)
def test_odd_symmetry_holds_exactly_for_every_float(x):
    assert same_float(softsign(-x), -softsign(x))


@SETTINGS
@given(finite)
def test_softsign_is_within_two_roundings_of_the_exact_value(x):
    # fl(x / fl(1 + |x|)) = x / ((1 + |x|)(1 + d1)) * (1 + d2) with |d1|, |d2| <= u.
    exact = exact_softsign(x)
    error = abs(Fraction(float(softsign(x))) - exact)
    assert error <= Fraction(2 * U * (1 + U)) * abs(exact)


@SETTINGS
@given(finite)
def test_bounded_by_one_and_below_one_unless_one_plus_abs_x_rounds_to_abs_x(x):
    y = float(softsign(x))
    assert abs(y) <= 1
    # |softsign(x)| < 1 for every real x; in float64 it reaches 1 only once 1 + |x| == |x|
    # (|x| >= 2**53), the same moment x / (1 + |x|) has no float between it and 1.
    assert (abs(y) < 1) == (1 + abs(x) != abs(x))


@SETTINGS
@given(below_2_52)
def test_strictly_inside_minus_one_one_below_2_52(x):
    assert -1 < softsign(x) < 1


def assert_increasing_beyond_rounding(a: float, b: float) -> None:
    """For a < b: softsign(a) < softsign(b), wherever the exact step exceeds the rounding."""
    low, high = float(softsign(a)), float(softsign(b))
    exact_low, exact_high = exact_softsign(a), exact_softsign(b)
    assert exact_low < exact_high  # the law for real numbers
    slack = Fraction(2 * U * (1 + U)) * (abs(exact_low) + abs(exact_high))
    if exact_high - exact_low > slack:
        assert low < high
    else:  # adjacent floats: rounding may swap them, but never by more than the slack
        assert Fraction(low) - Fraction(high) <= slack


@SETTINGS
@given(finite, finite)
def test_strictly_increasing_for_any_two_floats(a, b):
    assume(a != b)
    assert_increasing_beyond_rounding(min(a, b), max(a, b))


@SETTINGS
@given(finite, st.integers(min_value=1, max_value=64))
def test_strictly_increasing_down_to_a_few_ulps(a, ulps):
    b = a
    for _ in range(ulps):
        b = math.nextafter(b, math.inf)
    assume(math.isfinite(b))
    assert_increasing_beyond_rounding(a, b)


@SETTINGS
@given(float_arrays)
def test_arrays_keep_shape_and_dtype_equal_the_formula_and_are_not_modified(x):
    before = x.copy()
    result = softsign(x)
    assert result.shape == x.shape
    assert result.dtype == x.dtype
    np.testing.assert_array_equal(x, before)
    with np.errstate(invalid="ignore"):
        expected = np.array(x / (1 + np.abs(x)))
    expected[np.isinf(x)] = np.sign(x[np.isinf(x)])
    # Bit for bit, signed zeros included: the same operations in the same dtype.
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(np.signbit(result), np.signbit(expected))


# --------------------------------------------------------------------------- the derivative


@SETTINGS
@given(
    st.floats(min_value=-1e4, max_value=1e4).filter(lambda x: abs(x) >= 1e-3),
    st.sampled_from([1e-7, 1e-6, 1e-5]),
)
def test_derivative_equals_a_centred_difference(x, relative_step):
    h = relative_step * (1 + abs(x))  # keeps x - h and x + h on the same side of the kink
    numerical = float(numerical_derivative(softsign, x, h))
    analytic = float(softsign_derivative(x))
    # Truncation: h^2 |f'''(xi)| / 6 with f'''(xi) = 6 / (1 + |xi|)^4, |xi| >= |x| - h,
    # relative to f' = 1 / (1 + |x|)^2. Rounding: two softsign values, each off by
    # <= 2u |f| <= 2u, over 2h; and x +- h each off by <= u |x +- h|, which changes the
    # step 2h actually taken.
    scale = 1 + abs(x)
    truncation = h**2 * scale**2 / (scale - h) ** 4
    rounding = 4 * U / (2 * h) * scale**2 + 2 * U * (abs(x) + h) / (2 * h)
    assert relative_error(analytic, numerical) <= 1.01 * (truncation + rounding)
    assert relative_error(analytic, numerical) < 1e-4  # what the bound amounts to here


@SETTINGS
@given(finite)
def test_derivative_equals_one_minus_abs_softsign_squared(x):
    direct = float(softsign_derivative(x))
    via_output = float(softsign_derivative_from_output(softsign(x)))
    # y = softsign(x) is off by <= 2u |y|, so 1 - |y| (exactly 1 / (1 + |x|) for the exact y)
    # is off by <= 2u |y| (1 + |x|) <= 2u |x| relatively, doubled by squaring. Then 1 - |y|
    # and the square round (2u), and the direct form rounds four times (5u, squared).
    # Past |x| ~ 2e15 the bound exceeds 1: y has lost its distance to 1 altogether.
    tolerance = 4 * U * (1 + U) * abs(x) + 8 * U
    assert relative_error(direct, via_output, tiny=1e-300) <= tolerance


@SETTINGS
@given(every_float)
def test_derivative_is_even_and_in_zero_one(x):
    value = softsign_derivative(x)
    assert same_float(value, softsign_derivative(-x))
    if not np.isnan(x):
        assert 0 <= value <= 1
    if abs(x) < 1e150:  # beyond about 1e162 the true value is below the smallest float
        assert value > 0


@SETTINGS
@given(finite, finite)
def test_derivative_never_increases_with_abs_x(a, b):
    # Every step of (1 / (1 + |x|))**2 is monotonic, so this holds exactly, not just roughly.
    near, far = sorted((a, b), key=abs)
    assert softsign_derivative(near) >= softsign_derivative(far)


# --------------------------------------------------------------------------- the inverse


@SETTINGS
@given(below_2_48)
def test_inverse_undoes_softsign(x):
    recovered = float(softsign_inverse(softsign(x)))
    # softsign(x) is off by <= 2u relatively; the inverse's condition number there is
    # 1 + |x|, and the inverse itself rounds twice.
    assert abs(recovered - x) <= (2 * (1 + abs(x)) + 3) * U * (1 + U) * abs(x)


@SETTINGS
@given(st.floats(min_value=-1.0, max_value=1.0))
def test_softsign_undoes_the_inverse(y):
    recovered = float(softsign(softsign_inverse(y)))
    # The inverse is off by <= 2u relatively and softsign shrinks relative errors by
    # 1 / (1 + |x|) <= 1 before adding its own two roundings; +-1 maps to +-inf and back.
    assert abs(recovered - y) <= 4 * U * (1 + U) * abs(y)


@SETTINGS
@given(st.floats(min_value=-1.0, max_value=1.0), st.floats(min_value=-1.0, max_value=1.0))
def test_inverse_is_odd_and_increasing(y, z):
    assert same_float(softsign_inverse(-y), -softsign_inverse(y))
    if y < z:
        assert softsign_inverse(y) <= softsign_inverse(z)


@SETTINGS
@given(st.floats(allow_nan=False).filter(lambda y: abs(y) > 1))
def test_inverse_refuses_everything_outside_minus_one_one(y):
    with pytest.raises(ValueError, match=r"defined on \[-1, 1\]"):
        softsign_inverse(y)


# --------------------------------------------------------------------------- other helpers


@SETTINGS
@given(finite)
def test_abs_derivative_times_x_is_abs_x(x):
    slope = abs_derivative(x)
    assert slope in (-1.0, 0.0, 1.0)
    assert slope * x == abs(x)
    assert (slope == 0) == (x == 0)


@SETTINGS
@given(finite, finite)
def test_tanh_derivative_is_even_bounded_and_decreasing_in_abs_x(a, b):
    assert tanh_derivative(a) == tanh_derivative(-a)
    assert 0 <= tanh_derivative(a) <= 1
    near, far = sorted((a, b), key=abs)
    assert tanh_derivative(near) >= tanh_derivative(far)
    # Close to 1 - tanh^2 in absolute terms (the subtraction loses relative accuracy).
    assert abs(tanh_derivative(a) - (1 - np.tanh(a) ** 2)) <= 16 * U


@SETTINGS
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2), elements=finite),
    st.floats(min_value=1e-12, max_value=1e3),
)
def test_numerical_derivative_is_the_formula_with_the_given_step(x, h):
    with np.errstate(all="ignore"):
        expected = (np.tanh(x + h) - np.tanh(x - h)) / (2 * h)
        got = numerical_derivative(np.tanh, x, h)
    assert got.shape == x.shape
    np.testing.assert_array_equal(got, expected)


@SETTINGS
@given(finite, finite)
def test_relative_error_is_symmetric_bounded_and_zero_only_for_equal_values(a, b):
    error = relative_error(a, b)
    assert error == relative_error(b, a)
    assert 0 <= error <= 2
    assert (error == 0) == (a == b)


@SETTINGS
@given(
    st.floats(min_value=1e-6, max_value=1e6),
    st.one_of(st.just(0.0), st.floats(1e-200, 1e6), st.floats(-1e6, -1e-200)),
    st.integers(min_value=-15, max_value=100),
)
def test_relative_error_is_unchanged_by_a_common_power_of_two(a, b, k):
    # Scaling both values by 2**k is exact here (no overflow, no subnormals, and the larger
    # magnitude stays above tiny), so the relative error must not change at all.
    scale = 2.0**k
    assert relative_error(a * scale, b * scale) == relative_error(a, b)


# --------------------------------------------------------------------------- the checks' messages


@SETTINGS
@given(every_float)
@example(-98.99999999999991)  # softsign_inverse(-0.99): its 10 digits round to an integer
def test_a_message_shows_every_float_as_a_float_within_its_ten_digits(x):
    for value in (x, np.float64(x)):
        text = format_value(value)
        assert any(mark in text for mark in ".ein"), text  # never reads as an integer
        shown = float(text)
        assert same_float(shown, x) or math.isclose(shown, x, rel_tol=5e-10), text


@SETTINGS
@given(st.floats(min_value=1e300, max_value=1.7976931348623157e308), st.sampled_from([1, -1]))
def test_the_derivative_is_zero_at_the_edge_of_the_float_range_as_the_checks_expect(x, sign):
    # the checks of notebook 03 try 1e300 (Python and NumPy floats) and expect exactly 0.0
    for value in (sign * x, np.float64(sign * x)):
        assert softsign_derivative(value) == 0.0
