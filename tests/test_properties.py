"""Property-based tests (hypothesis) for the mathematical laws of softsign."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from source_lib import (
    relative_error,
    softsign,
    softsign_derivative,
    softsign_derivative_from_output,
    softsign_inverse,
)

SETTINGS = settings(max_examples=200, deadline=None)

finite = st.floats(allow_nan=False, allow_infinity=False)
moderate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    elements={"allow_nan": False, "allow_infinity": False},
)


@SETTINGS
@given(finite)
def test_odd_symmetry(x):
    assert softsign(-x) == -softsign(x)


@SETTINGS
@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
def test_bounded_strictly_inside_minus_one_one(x):
    # Below 2**53 the float result of 1 + |x| is never |x| itself, so |softsign| < 1 exactly.
    assert abs(softsign(x)) < 1


@SETTINGS
@given(finite)
def test_bounded_by_one_for_every_finite_float(x):
    assert abs(softsign(x)) <= 1


@SETTINGS
@given(moderate, moderate)
def test_strictly_increasing(a, b):
    if a == b:
        return
    low, high = min(a, b), max(a, b)
    if high - low < 1e-9 * max(1.0, abs(high)):
        # Too close for float64 to resolve a strict step in softsign far out.
        assert softsign(low) <= softsign(high)
    else:
        assert softsign(low) < softsign(high)


@SETTINGS
@given(st.floats(min_value=-1e3, max_value=1e3).filter(lambda x: abs(x) > 1e-3))
def test_derivative_matches_a_centered_difference(x):
    h = 1e-6 * max(1.0, abs(x))
    numerical = (softsign(x + h) - softsign(x - h)) / (2 * h)
    # Truncation error is about h^2 |f'''| and rounding about eps / h; both are far below 1e-5.
    assert relative_error(softsign_derivative(x), numerical) < 1e-5


@SETTINGS
@given(finite)
def test_derivative_equals_one_minus_abs_softsign_squared(x):
    expected = softsign_derivative_from_output(softsign(x))
    assert relative_error(softsign_derivative(x), expected) < 1e-12 or abs(x) > 1e7


@SETTINGS
@given(st.floats(min_value=-1e8, max_value=1e8, allow_nan=False))
def test_inverse_round_trip(x):
    recovered = softsign_inverse(softsign(x))
    # 1 - |y| loses about |x| ulps of relative precision as y approaches +-1.
    assert abs(recovered - x) <= 1e-15 * (1 + abs(x)) ** 2 + 1e-300


@SETTINGS
@given(st.floats(min_value=-0.999999, max_value=0.999999))
def test_softsign_of_inverse_round_trip(y):
    assert abs(softsign(softsign_inverse(y)) - y) <= 4e-16 / (1 - abs(y))


@SETTINGS
@given(arrays)
def test_arrays_keep_shape_dtype_and_argument(x):
    before = x.copy()
    result = softsign(x)
    assert result.shape == x.shape
    assert result.dtype == x.dtype
    np.testing.assert_array_equal(x, before)
    with np.errstate(all="ignore"):
        expected = (x / (1 + np.abs(x))).astype(x.dtype)
    np.testing.assert_allclose(result, expected, rtol=2 * np.finfo(x.dtype).eps, atol=0)
