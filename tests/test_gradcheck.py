"""Tests for source_lib.gradcheck: relative errors, gradient checks and their verdicts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from source_lib import (
    ACTIVATIONS,
    DERIVATIVES,
    gradient_check,
    relative_error,
    softsign,
    softsign_derivative,
)
from source_lib.gradcheck import THRESHOLDS, TINY, GradientCheck

# --------------------------------------------------------------------------- relative_error


def test_relative_error_is_symmetric_and_scale_free():
    assert relative_error(1.0, 1.1) == relative_error(1.1, 1.0)
    assert relative_error(1e-8, 1.1e-8) == pytest.approx(relative_error(1.0, 1.1), rel=1e-12)
    assert relative_error(1e200, 1.1e200) == pytest.approx(relative_error(1.0, 1.1), rel=1e-12)
    assert relative_error(2.0, 1.0) == 0.5
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(3.0, -3.0) == 2.0
    assert relative_error(-4.0, -4.0) == 0.0


def test_relative_error_is_element_wise_and_broadcasts():
    np.testing.assert_array_equal(relative_error([1.0, 2.0], [1.0, 1.0]), [0.0, 0.5])
    np.testing.assert_array_equal(relative_error([[1.0], [4.0]], 2.0), [[0.5], [0.5]])
    assert relative_error(np.zeros((3, 0)), 1.0).shape == (3, 0)


def test_relative_error_has_a_tiny_floor():
    assert TINY == 1e-12
    assert relative_error(0.0, 1e-20) == pytest.approx(1e-8)
    assert relative_error(0.0, 1e-20, tiny=1e-30) == 1.0
    assert relative_error(1e-13, 2e-13) == pytest.approx(0.1)


def test_relative_error_returns_float64_and_scalars_for_scalars():
    assert isinstance(relative_error(1.0, 2.0), np.float64)
    assert relative_error(np.float16(1), np.float16(2)).dtype == np.float64
    # In float16 the floor 1e-12 would underflow to 0 and two zeros would give nan.
    assert relative_error(np.float16(0), np.float16(0)) == 0.0
    zero_d = relative_error(np.array(1.0), 2.0)
    assert isinstance(zero_d, np.ndarray)
    assert zero_d.shape == ()


def test_relative_error_limits_at_infinity_and_nan_without_warnings():
    a = np.array([np.inf, np.inf, -np.inf, np.inf, 1.0, np.nan, np.nan, np.inf, 1e308, -1e308])
    b = np.array([np.inf, -np.inf, 5.0, 0.0, np.nan, 1.0, np.nan, np.nan, -1e308, 1e308])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        errors = relative_error(a, b)
    np.testing.assert_array_equal(
        errors, [0.0, 2.0, 1.0, 1.0, np.nan, np.nan, np.nan, np.nan, 2.0, 2.0]
    )


def test_relative_error_rejects_non_numeric_input_by_name():
    with pytest.raises(TypeError, match=r"^a must be a real number"):
        relative_error("1", 1.0)
    with pytest.raises(TypeError, match=r"^b must be a real number.*complex"):
        relative_error(1.0, 1j)


# --------------------------------------------------------------------------- gradient_check


def test_right_derivative_is_correct_and_wrong_one_is_wrong():
    x = np.linspace(-4, 4, 41) + 0.05
    good = gradient_check(softsign, softsign_derivative, x)
    assert good.verdict == "correct"
    assert good.passed
    assert good.max_error < THRESHOLDS["correct"]
    missing_square = gradient_check(softsign, lambda z: 1 / (1 + np.abs(z)), x)
    assert missing_square.verdict == "wrong"
    assert not missing_square.passed


def test_a_small_mistake_is_suspicious():
    x = np.linspace(0.5, 3, 6)
    slightly_off = gradient_check(softsign, lambda z: softsign_derivative(z) * 1.001, x)
    assert slightly_off.verdict == "suspicious"
    assert slightly_off.max_error == pytest.approx(1e-3, rel=1e-3)


def test_kink_gives_an_acceptable_verdict_only():
    # At 0 the centred difference is 1/(1 + h): a relative error h/(1 + h) from the slope 1.
    check = gradient_check(softsign, softsign_derivative, [0.0], h=1e-5)
    assert check.numerical[0] == pytest.approx(1 / (1 + 1e-5), rel=1e-12)
    assert check.max_error == pytest.approx(1e-5 / (1 + 1e-5), rel=1e-6)
    assert check.verdict == "acceptable"
    assert check.passed


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_registry_derivative_passes_away_from_kinks(name):
    x = np.array([-2.7, -1.4, -0.6, -0.2, 0.15, 0.7, 1.3, 2.2])
    check = gradient_check(ACTIVATIONS[name], DERIVATIVES[name], x)
    assert check.verdict == "correct", str(check)


def test_result_holds_points_derivatives_and_errors():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    check = gradient_check(softsign, softsign_derivative, x, h=1e-4)
    assert isinstance(check, GradientCheck)
    assert check.h == 1e-4
    np.testing.assert_array_equal(check.x, x)
    np.testing.assert_array_equal(check.analytic, softsign_derivative(x))
    np.testing.assert_array_equal(check.numerical, (softsign(x + 1e-4) - softsign(x - 1e-4)) / 2e-4)
    np.testing.assert_array_equal(check.errors, relative_error(check.analytic, check.numerical))
    assert check.max_error == check.errors.max()
    assert check.worst_x == x.flat[np.argmax(check.errors)]


def test_scalar_points_become_one_dimensional():
    check = gradient_check(softsign, softsign_derivative, 1)
    assert check.x.shape == (1,)
    assert check.x.dtype == np.float64


def test_empty_points_give_a_vacuous_pass():
    check = gradient_check(softsign, softsign_derivative, [])
    assert check.max_error == 0.0
    assert check.worst_x is None
    assert check.verdict == "correct"
    assert str(check) == "gradient check: no points"


def test_nan_errors_make_the_check_fail_and_point_at_the_culprit():
    check = gradient_check(
        softsign, lambda z: np.where(z > 1, np.nan, softsign_derivative(z)), [0.5, 2.0]
    )
    assert np.isnan(check.max_error)
    assert check.verdict == "wrong"
    assert check.worst_x == 2.0


def test_str_summarises_the_verdict():
    check = gradient_check(softsign, lambda z: 1 / (1 + np.abs(z)), [-2.0, 0.5, 3.0])
    assert str(check) == (
        "gradient check: wrong (largest relative error 7.5e-01 at x = 3, 3 points, h = 1e-05)"
    )


def test_a_constant_derivative_is_broadcast():
    check = gradient_check(lambda z: 2 * z, lambda z: 2.0, [1.0, 5.0])
    assert check.verdict == "correct"
    assert check.analytic.shape == (2,)


def test_a_derivative_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"df returned shape \(2,\) for x of shape \(3,\)"):
        gradient_check(softsign, lambda z: z[:2], [1.0, 2.0, 3.0])


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="df must be a function"):
        gradient_check(softsign, 0.25, [1.0])
    with pytest.raises(TypeError, match="f must be a function"):
        gradient_check("softsign", softsign_derivative, [1.0])
    with pytest.raises(ValueError, match="h must be positive"):
        gradient_check(softsign, softsign_derivative, [1.0], h=0)


def test_thresholds_are_ordered_and_named():
    assert list(THRESHOLDS) == ["correct", "acceptable", "suspicious"]
    bounds = list(THRESHOLDS.values())
    assert bounds == sorted(bounds)
    assert bounds == [1e-7, 1e-4, 1e-2]


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (0.0, "correct"),
        (1e-7, "correct"),
        (2e-7, "acceptable"),
        (1e-4, "acceptable"),
        (1e-3, "suspicious"),
        (1e-2, "suspicious"),
        (0.5, "wrong"),
    ],
)
def test_verdicts_follow_the_thresholds(error, verdict):
    one = np.array([1.0])
    check = GradientCheck(one, one, one, np.array([error]))
    assert check.verdict == verdict
    assert check.passed is (verdict in ("correct", "acceptable"))
