"""The activation-family table: every entry is measured from the registry and is right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from source_lib import family
from source_lib.activations import ACTIVATIONS, DERIVATIVES
from source_lib.family import (
    FAMILY,
    family_table,
    format_table,
    reach,
    relative_costs,
    slope_at_zero,
    smoothness,
    tail,
)


def test_the_family_is_in_the_registry():
    assert set(FAMILY) <= set(ACTIVATIONS)
    assert set(FAMILY) <= set(DERIVATIVES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("softsign", 1.0),
        ("tanh", 1.0),
        ("algebraic_sigmoid", 1.0),
        ("arctan_sigmoid", 2 / math.pi),
        ("hard_tanh", 1.0),
    ],
)
def test_slope_at_zero(name, expected):
    assert slope_at_zero(name) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "kind", "order"),
    [
        ("softsign", "power", 1.0),
        ("algebraic_sigmoid", "power", 2.0),
        ("arctan_sigmoid", "power", 1.0),
        ("tanh", "exponential", 2.0),
        ("hard_tanh", "finite", 1.0),
    ],
)
def test_tail_order(name, kind, order):
    measured = tail(name)
    assert measured.kind == kind
    assert measured.order == pytest.approx(order, abs=0.01)


@pytest.mark.parametrize(
    ("name", "label", "points"),
    [
        ("softsign", "C¹", (0.0,)),
        ("hard_tanh", "C⁰", (-1.0, 1.0)),
        ("tanh", "C^∞ (inferred)", ()),
        ("algebraic_sigmoid", "C^∞ (inferred)", ()),
        ("arctan_sigmoid", "C^∞ (inferred)", ()),
    ],
)
def test_smoothness_class(name, label, points):
    found = smoothness(name)
    assert found.label == label
    assert found.points == points


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("softsign", 99.0),
        ("tanh", math.atanh(0.99)),
        ("algebraic_sigmoid", 0.99 / math.sqrt(1 - 0.99**2)),
        ("arctan_sigmoid", math.tan(0.99 * math.pi / 2)),
        ("hard_tanh", 0.99),
    ],
)
def test_reach(name, expected):
    x = reach(name, 0.99)
    assert x == pytest.approx(expected, rel=1e-9)
    assert ACTIVATIONS[name](np.float64(x)) >= 0.99


def test_reach_refuses_levels_outside_the_range():
    with pytest.raises(ValueError, match="strictly between"):
        reach("softsign", 1.0)


def test_methods_work_on_functions_they_were_not_written_for(monkeypatch):
    """The measurements read the registry: a new entry gets measured, not looked up."""
    monkeypatch.setitem(
        ACTIVATIONS, "cubic_tail", lambda x: np.sign(x) * (1 - 1 / (1 + x**2) ** 1.5)
    )
    monkeypatch.setitem(DERIVATIVES, "cubic_tail", lambda x: 3 * np.abs(x) / (1 + x**2) ** 2.5)
    # f = x + x^2 |x| / 10 near zero, written with its derivative: f''' jumps at 0 (class C²).
    monkeypatch.setitem(ACTIVATIONS, "kinked", lambda x: x + x**2 * np.abs(x) / 10)
    monkeypatch.setitem(DERIVATIVES, "kinked", lambda x: 1 + 0.3 * x * np.abs(x))
    monkeypatch.setitem(ACTIVATIONS, "step", lambda x: np.where(x > 0.5, 1.0, 0.0))
    monkeypatch.setitem(DERIVATIVES, "step", lambda x: np.zeros_like(x))
    measured = tail("cubic_tail")
    assert (measured.kind, round(measured.order, 2)) == ("power", 3.0)
    assert smoothness("kinked").label == "C²"
    assert smoothness("kinked").points == (0.0,)
    assert smoothness("kinked").evidence == "f''' jumps at x = 0"
    assert smoothness("step").label == "discontinuous"
    assert smoothness("step").points == (0.5,)


def test_the_table_is_computed_from_the_registry(monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "softsign", lambda x: 2 * x / (1 + np.abs(2 * x)))
    monkeypatch.setitem(DERIVATIVES, "softsign", lambda x: 2 / (1 + np.abs(2 * x)) ** 2)
    (row,) = family_table(["softsign"])
    assert row.slope_at_zero == pytest.approx(2.0)
    assert row.reach_99 == pytest.approx(49.5)


def test_family_table_rows_in_order():
    rows = family_table()
    assert [row.name for row in rows] == list(FAMILY)
    assert [str(row.tail) for row in rows] == [
        "~ x^-1.00",
        "~ exp(-2.00 x)",
        "~ x^-2.00",
        "~ x^-1.00",
        "= 0 for x >= 1.00",
    ]


def test_relative_costs_are_positive_and_relative_to_the_baseline():
    costs = relative_costs(size=2000, repeats=2, number=1)
    assert list(costs) == list(FAMILY)
    assert costs["tanh"] == 1.0
    assert all(math.isfinite(c) and c > 0 for c in costs.values())
    costs = relative_costs(["hard_tanh"], size=100, repeats=1, number=1, baseline="softsign")
    assert list(costs) == ["hard_tanh"]


def test_format_table_has_one_line_per_function_and_an_optional_cost_column():
    rows = family_table()
    plain = format_table(rows).splitlines()
    assert len(plain) == 1 + len(FAMILY)
    assert plain[0].split()[:2] == ["function", "formula"]
    assert "cost" not in plain[0]
    costs = dict.fromkeys(FAMILY, 1.5)
    with_costs = format_table(rows, costs).splitlines()
    assert "cost (tanh = 1)" in with_costs[0]
    assert all(line.endswith("1.50") for line in with_costs[1:])
    assert family.FORMULAS["softsign"] in with_costs[1]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown activation"):
        slope_at_zero("relu")


# --------------------------------------------------------------------------- softsign in practice


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, 8.0])
def test_algebraic_family_derivative_equals_its_output_form(p):
    # f_p' = (1 - |f_p|^p)^((p+1)/p), which is Elliott's f' = (1 - |f|)^2 for p = 1.
    # Far out 1 - |y|^p cancels (relative error about eps |x|^p), so the
    # equation is checked where that stays small; the derivative itself is exact.
    x = np.concatenate([-np.geomspace(1e-6, 10, 200), [0.0], np.geomspace(1e-6, 10, 200)])
    y = family.algebraic_family(x, p)
    from_output = (1 - np.abs(y) ** p) ** ((p + 1) / p)
    np.testing.assert_allclose(family.algebraic_family_derivative(x, p), from_output, rtol=1e-6)
    np.testing.assert_array_equal(family.algebraic_family(-x, p), -y)
    assert np.all(np.abs(y) < 1)
    assert np.all(np.diff(y[np.argsort(x)]) > 0)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_algebraic_family_derivative_matches_finite_differences(p):
    x = np.linspace(-5, 5, 41) + 0.01  # away from 0, where f'' may jump
    estimate = (family.algebraic_family(x + 1e-6, p) - family.algebraic_family(x - 1e-6, p)) / 2e-6
    np.testing.assert_allclose(family.algebraic_family_derivative(x, p), estimate, rtol=1e-6)


def test_algebraic_family_contains_softsign_and_the_algebraic_sigmoid_and_tends_to_hard_tanh():
    x = np.array([-np.inf, -1e300, -7.0, -1.0, -0.3, 0.0, 0.2, 1.0, 4.0, 1e300, np.inf])
    np.testing.assert_allclose(
        family.algebraic_family(x, 1), ACTIVATIONS["softsign"](x), rtol=1e-15
    )
    np.testing.assert_allclose(
        family.algebraic_family(x, 2), ACTIVATIONS["algebraic_sigmoid"](x), rtol=1e-15
    )
    np.testing.assert_allclose(
        family.algebraic_family_derivative(x, 1), DERIVATIVES["softsign"](x), rtol=1e-15
    )
    np.testing.assert_allclose(
        family.algebraic_family(x, 200), ACTIVATIONS["hard_tanh"](x), atol=4e-3
    )
    assert np.isnan(family.algebraic_family(np.nan, 2))
    with pytest.raises(ValueError, match="positive"):
        family.algebraic_family(1.0, 0.0)


def _bfloat16_by_exact_arithmetic(value: float) -> float:
    """The nearest bfloat16 (8 significant bits) to a finite float, ties to even, in Python."""
    if value == 0:
        return value
    mantissa, exponent = math.frexp(abs(value))  # value = mantissa * 2**exponent, 0.5 <= m < 1
    scaled = mantissa * 2**8
    rounded = round(scaled)  # Python's round: ties to even
    return math.copysign(rounded * 2.0 ** (exponent - 8), value)


def test_round_to_bfloat16_is_round_to_nearest_even():
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [
            rng.standard_normal(2000).astype(np.float32) * np.float32(100),
            # exact ties: 9 significant bits with the last one set
            (rng.integers(256, 512, 500) * 2 + 1).astype(np.float32) * np.float32(2**-9),
            np.array([1.0, -1.0, 0.0, -0.0, 2**-126], dtype=np.float32),
        ]
    )
    rounded = family.round_to_bfloat16(values)
    assert rounded.dtype == np.float32
    expected = np.array([_bfloat16_by_exact_arithmetic(float(v)) for v in values], np.float32)
    np.testing.assert_array_equal(rounded, expected)
    # results are bfloat16 numbers: the lower 16 bits are clear
    assert not np.any(rounded.view(np.uint32) & 0xFFFF)
    np.testing.assert_array_equal(family.round_to_bfloat16(rounded), rounded)


def test_round_to_bfloat16_special_values_and_argument_left_alone():
    values = np.array([np.inf, -np.inf, np.nan, 3.4e38, -3.4e38], dtype=np.float32)
    before = values.copy()
    rounded = family.round_to_bfloat16(values)
    np.testing.assert_array_equal(rounded, [np.inf, -np.inf, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(values, before)


def test_gaussian_expectation_of_known_moments_and_the_slopes():
    assert family.gaussian_expectation(lambda z: z**4) == pytest.approx(3.0, rel=1e-12)
    assert family.gaussian_expectation(np.cos, scale=2.0) == pytest.approx(math.exp(-2), rel=1e-12)
    # E[softsign'(Z)] and E[tanh'(Z)], against a very fine trapezoid rule
    z = np.linspace(-12, 12, 2_400_001)
    density = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    for name, value in (("softsign", 0.41276), ("tanh", 0.60571)):
        quadrature = family.gaussian_expectation(DERIVATIVES[name])
        assert quadrature == pytest.approx(
            np.trapezoid(DERIVATIVES[name](z) * density, z), rel=1e-9
        )
        assert quadrature == pytest.approx(value, abs=1e-5)


def test_variance_gain_makes_unit_variance_a_fixed_point():
    for name in ("softsign", "tanh"):
        gain = family.variance_gain(name)
        f = ACTIVATIONS[name]
        assert gain**2 * family.gaussian_expectation(lambda z, f=f: f(z) ** 2) == pytest.approx(1)
    assert family.variance_gain("softsign") == pytest.approx(2.3375, abs=1e-4)


def test_round_to_bfloat16_keeps_the_shape():
    assert family.round_to_bfloat16(np.float32(1 + 2**-8)) == np.float32(1.0)
    assert isinstance(family.round_to_bfloat16(2.0), np.float32)
    assert family.round_to_bfloat16(np.ones((2, 3))).shape == (2, 3)
    assert family.round_to_bfloat16([]).shape == (0,)
