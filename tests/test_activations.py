"""Unit tests for source_lib.activations: values, dtypes, shapes and edge cases."""

from __future__ import annotations

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

ELEMENTWISE = [
    softsign,
    softsign_derivative,
    softsign_derivative_from_output,
    abs_derivative,
    tanh_derivative,
    *ACTIVATIONS.values(),
    *DERIVATIVES.values(),
]


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
        assert hasattr(source_lib, name), name


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.0, 0.0), (1.0, 0.5), (-1.0, -0.5), (3.0, 0.75), (-3.0, -0.75), (99.0, 0.99)],
)
def test_softsign_values(x, expected):
    assert softsign(x) == pytest.approx(expected, rel=1e-15)


def test_softsign_limits_nan_and_signed_zero():
    assert softsign(np.inf) == 1.0
    assert softsign(-np.inf) == -1.0
    assert np.isnan(softsign(np.nan))
    negative_zero = softsign(-0.0)
    assert negative_zero == 0.0
    assert np.signbit(negative_zero)
    mixed = softsign(np.array([-np.inf, -1.0, np.nan, 1.0, np.inf]))
    np.testing.assert_array_equal(mixed, [-1.0, -0.5, np.nan, 0.5, 1.0])


@pytest.mark.parametrize("function", ELEMENTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_dtypes_are_kept(function, dtype):
    x = np.array([-0.5, 0.0, 0.5], dtype=dtype)
    assert function(x).dtype == dtype


@pytest.mark.parametrize("function", ELEMENTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [1, np.int32(2), True, np.array([1, 2, 3], dtype=np.int64)])
def test_integers_become_float64(function, value):
    assert np.asarray(function(value)).dtype == np.float64


@pytest.mark.parametrize("function", ELEMENTWISE, ids=lambda f: f.__name__)
def test_scalars_in_give_scalars_out(function):
    for value in (0.5, 2, np.float32(0.5), np.float64(-0.25)):
        result = function(value)
        assert np.ndim(result) == 0
        assert not isinstance(result, np.ndarray), type(result)


@pytest.mark.parametrize("function", ELEMENTWISE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 4), (3, 1, 2)])
def test_any_shape_gives_the_same_shape(function, shape):
    x = np.linspace(-0.9, 0.9, int(np.prod(shape))).reshape(shape)
    result = function(x)
    assert isinstance(result, np.ndarray)
    assert result.shape == shape


@pytest.mark.parametrize("function", ELEMENTWISE, ids=lambda f: f.__name__)
def test_argument_is_never_modified(function):
    x = np.linspace(-0.9, 0.9, 20_001)
    before = x.copy()
    function(x)
    np.testing.assert_array_equal(x, before)


def test_large_inputs_use_the_blocked_path_correctly():
    x = np.random.default_rng(1).standard_normal(100_003) * 50
    x[17] = np.inf
    x[50_000] = -np.inf
    x[99_999] = -0.0
    with np.errstate(invalid="ignore"):  # inf / inf in the plain formula
        expected = x / (1 + np.abs(x))
    expected[17], expected[50_000] = 1.0, -1.0
    np.testing.assert_array_equal(softsign(x), expected)
    assert np.signbit(softsign(x)[99_999])
    np.testing.assert_allclose(softsign_derivative(x), 1 / (1 + np.abs(x)) ** 2, rtol=1e-15)


def test_non_contiguous_input():
    x = np.arange(24.0).reshape(4, 6)[:, ::2] - 10
    np.testing.assert_allclose(softsign(x), x / (1 + np.abs(x)))
    np.testing.assert_allclose(softsign(x.T), (x / (1 + np.abs(x))).T)


def test_softsign_derivative_never_overflows_or_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            values = softsign_derivative(np.array([1e300, -1e300, 1e308, np.inf, -np.inf]))
    assert np.all(values >= 0)
    assert values[3] == 0.0
    assert values[4] == 0.0
    assert softsign_derivative(0.0) == 1.0
    assert softsign_derivative(1.0) == 0.25


def test_derivative_from_output_matches_derivative():
    x = np.linspace(-50, 50, 1001)
    np.testing.assert_allclose(
        softsign_derivative_from_output(softsign(x)), softsign_derivative(x), rtol=1e-12
    )


def test_abs_derivative_convention_at_zero():
    np.testing.assert_array_equal(
        abs_derivative(np.array([-3.0, -0.0, 0.0, 1e-300, 2.0])), [-1.0, 0.0, 0.0, 1.0, 1.0]
    )
    assert np.isnan(abs_derivative(np.nan))


def test_tanh_derivative_is_stable_in_the_tails():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = tanh_derivative(np.array([0.0, 1.0, 800.0, -np.inf]))
    assert values[0] == 1.0
    assert values[1] == pytest.approx(1 / np.cosh(1.0) ** 2, rel=1e-14)
    assert values[2] == 0.0
    assert values[3] == 0.0


def test_softsign_inverse_values_edges_and_domain():
    assert softsign_inverse(0.5) == 1.0
    assert softsign_inverse(-0.99) == pytest.approx(-99.0, rel=1e-12)
    assert softsign_inverse(1.0) == np.inf
    assert softsign_inverse(-1.0) == -np.inf
    assert np.isnan(softsign_inverse(np.nan))
    for bad in (1.0000001, -2.0, np.array([0.0, 3.0]), np.inf):
        with pytest.raises(ValueError, match=r"\[-1, 1\]"):
            softsign_inverse(bad)


def test_softsign_inverse_round_trip():
    x = np.linspace(-1e3, 1e3, 2001)
    np.testing.assert_allclose(softsign_inverse(softsign(x)), x, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("function", [*ELEMENTWISE, softsign_inverse], ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("1.0", "str"),
        (None, "None"),
        (np.array([1.0, None], dtype=object), "object"),
        (1 + 2j, "complex"),
        (np.array([1j]), "complex"),
        ([1.0, "a"], "string"),
    ],
)
def test_non_numeric_input_raises_a_clear_type_error(function, bad, what):
    with pytest.raises(TypeError, match=what) as raised:
        function(bad)
    assert "must be a real number" in str(raised.value)
    assert str(raised.value).split()[0] in ("x", "y")


def test_numerical_derivative_is_the_centered_difference_with_the_given_step():
    x = np.array([-2.0, 0.0, 0.5])
    for h in (1e-5, 1e-3, 0.1):
        expected = (np.sin(x + h) - np.sin(x - h)) / (2 * h)
        np.testing.assert_allclose(numerical_derivative(np.sin, x, h), expected, rtol=1e-15)
    assert numerical_derivative(softsign, 0.0, h=0.1) == pytest.approx(1 / 1.1, rel=1e-14)
    assert np.ndim(numerical_derivative(np.sin, 1.0)) == 0


@pytest.mark.parametrize("h", [0.0, -1e-5, np.inf, np.nan])
def test_numerical_derivative_rejects_bad_steps(h):
    with pytest.raises(ValueError, match="h must be positive"):
        numerical_derivative(np.sin, 1.0, h)


def test_numerical_derivative_rejects_non_callables():
    with pytest.raises(TypeError, match="f must be a function"):
        numerical_derivative(3.0, 1.0)


def test_registry_holds_the_family():
    assert set(ACTIVATIONS) == set(DERIVATIVES)
    assert {"softsign", "tanh", "algebraic_sigmoid", "arctan_sigmoid", "hard_tanh"} <= set(
        ACTIVATIONS
    )
    assert ACTIVATIONS["softsign"] is softsign
    assert DERIVATIVES["softsign"] is softsign_derivative


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_derivatives_match_finite_differences_away_from_kinks(name):
    x = np.array([-3.7, -1.3, -0.4, 0.3, 0.8, 2.9])
    f, df = ACTIVATIONS[name], DERIVATIVES[name]
    np.testing.assert_allclose(df(x), numerical_derivative(f, x, 1e-6), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_registry_activations_are_odd_bounded_and_zero_centred(name):
    f = ACTIVATIONS[name]
    x = np.linspace(-30, 30, 601)
    np.testing.assert_array_equal(f(-x), -f(x))
    assert np.all(np.abs(f(x)) <= 1)
    assert f(0.0) == 0.0
    assert f(np.inf) == 1.0
    assert f(-np.inf) == -1.0


def test_reference_activations_match_their_formulas():
    x = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(activations.algebraic_sigmoid(x), x / np.sqrt(1 + x**2))
    np.testing.assert_allclose(activations.arctan_sigmoid(x), 2 / np.pi * np.arctan(x))
    np.testing.assert_array_equal(activations.hard_tanh(x), np.clip(x, -1, 1))
    np.testing.assert_allclose(activations.tanh(x), np.tanh(x))
