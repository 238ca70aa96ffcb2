"""Tests for source_lib.gradcheck: relative errors and verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from source_lib import gradient_check, relative_error, softsign, softsign_derivative
from source_lib.gradcheck import THRESHOLDS


def test_relative_error_is_symmetric_and_scale_free():
    assert relative_error(1.0, 1.1) == relative_error(1.1, 1.0)
    assert relative_error(1e-8, 1.1e-8) == pytest.approx(relative_error(1.0, 1.1))
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(3.0, -3.0) == 2.0
    np.testing.assert_allclose(relative_error([1.0, 2.0], [1.0, 1.0]), [0.0, 0.5])


def test_relative_error_has_a_tiny_floor():
    assert relative_error(0.0, 1e-20) == pytest.approx(1e-8)


def test_right_derivative_is_correct_and_wrong_one_is_wrong():
    x = np.linspace(-4, 4, 41) + 0.05
    good = gradient_check(softsign, softsign_derivative, x)
    assert good.verdict == "correct"
    assert good.passed
    assert good.max_error < THRESHOLDS["correct"]
    missing_square = gradient_check(softsign, lambda z: 1 / (1 + np.abs(z)), x)
    assert missing_square.verdict == "wrong"
    assert not missing_square.passed


def test_kink_gives_an_acceptable_verdict_only():
    # At 0 the centered difference is 1/(1 + h), exactly h away from the true slope 1.
    check = gradient_check(softsign, softsign_derivative, [0.0], h=1e-5)
    assert check.numerical[0] == pytest.approx(1 / (1 + 1e-5), rel=1e-12)
    assert check.verdict == "acceptable"


def test_thresholds_are_ordered():
    bounds = list(THRESHOLDS.values())
    assert bounds == sorted(bounds)
