r"""Softsign and its relatives, compared by numbers measured from ``source_lib``'s registry.

The family: five odd functions with values between -1 and 1, all but one
with slope 1 at the origin, which approach their asymptotes in very different
ways. Four are strictly increasing and map the real line onto :math:`(-1, 1)`;
hard tanh is only non-decreasing (constant outside :math:`[-1, 1]`) and
reaches :math:`\pm 1`:

=====================  ==================================
registry name          formula
=====================  ==================================
``softsign``           :math:`x / (1 + |x|)`
``tanh``               :math:`\tanh x`
``algebraic_sigmoid``  :math:`x / \sqrt{1 + x^2}`
``arctan_sigmoid``     :math:`(2/\pi) \arctan x`
``hard_tanh``          :math:`\min(1, \max(-1, x))`
=====================  ==================================

Every property in the table is measured numerically from
``ACTIVATIONS[name]`` and ``DERIVATIVES[name]``, never typed in:

* :func:`slope_at_zero`: :math:`f'(0)` from the registered derivative;
* :func:`tail`: how :math:`1 - f(x)` vanishes for large :math:`x`, read off a
  log-log plot (a straight line means a power law :math:`x^{-p}`; a slope that
  keeps steepening means an exponential, whose rate is then fitted on a
  log-linear plot; a drop to exactly 0 means the function reaches 1);
* :func:`smoothness`: the first derivative that jumps (by one-sided finite
  differences whose disagreement does not shrink with the step); only f to
  f''' are tested, so a function in which none of them jumps is labelled
  ``"C^∞ (inferred)"``: the rest is inferred from its formula, not measured;
* :func:`reach`: where :math:`f` first reaches a level such as 0.99 (bisection);
* :func:`relative_costs`: the time to evaluate each function on an array of
  100 000 float64 numbers (the size notebook 04 times), relative to ``tanh``
  (a measurement: it varies from run to run, machine to machine and with the
  array size, through the cache, so it is kept apart from the deterministic
  table).

Beside the table, for the section on softsign in practice (defined in
:mod:`source_lib.practice`, exported here):

* :func:`algebraic_family` and :func:`algebraic_family_derivative`:
  :math:`x / (1 + |x|^p)^{1/p}`, softsign for :math:`p = 1`, the algebraic
  sigmoid for :math:`p = 2`, hard tanh in the limit :math:`p \to \infty`;
* :func:`round_to_bfloat16`: float32 rounded to the nearest bfloat16 (ties to
  even), which NumPy has no dtype for;
* :func:`gaussian_expectation` and :func:`variance_gain`: :math:`E[g(Z)]` for
  a standard normal :math:`Z`, and the initialisation gain that keeps the
  pre-activation variance at 1 (the variance recursion of Poole et al. [2]_).

References
----------
.. [1] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep
   feedforward neural networks", AISTATS 2010.
.. [2] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein and S. Ganguli,
   "Exponential expressivity in deep neural networks through transient chaos",
   NeurIPS 2016.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from source_lib._lookup import derivative_named, function_named
from source_lib._types import Activation
from source_lib.practice import (
    algebraic_family,
    algebraic_family_derivative,
    gaussian_expectation,
    round_to_bfloat16,
    variance_gain,
)

__all__ = [
    "FAMILY",
    "FORMULAS",
    "FamilyRow",
    "Smoothness",
    "Tail",
    "algebraic_family",
    "algebraic_family_derivative",
    "family_table",
    "format_table",
    "gaussian_expectation",
    "reach",
    "relative_costs",
    "round_to_bfloat16",
    "slope_at_zero",
    "smoothness",
    "tail",
    "variance_gain",
]

#: The functions compared, in the order of the table.
FAMILY: tuple[str, ...] = (
    "softsign",
    "tanh",
    "algebraic_sigmoid",
    "arctan_sigmoid",
    "hard_tanh",
)

#: How each function is written, for the table's first column.
FORMULAS: dict[str, str] = {
    "softsign": "x/(1+|x|)",
    "tanh": "tanh(x)",
    "algebraic_sigmoid": "x/sqrt(1+x^2)",
    "arctan_sigmoid": "(2/pi)*arctan(x)",
    "hard_tanh": "clip(x, -1, 1)",
}

_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_DERIVATIVE_NAMES = {0: "f", 1: "f'", 2: "f''", 3: "f'''"}


# --------------------------------------------------------------------------- f'(0)


def slope_at_zero(name: str) -> float:
    """Return f'(0) from the registered derivative.

    Examples
    --------
    >>> slope_at_zero("softsign"), slope_at_zero("arctan_sigmoid")
    (1.0, 0.6366197723675814)
    """
    return float(derivative_named(name)(np.float64(0.0)))


# --------------------------------------------------------------------------- tail


@dataclass(frozen=True)
class Tail:
    """How 1 - f(x) vanishes as x grows.

    Attributes
    ----------
    kind : {"power", "exponential", "finite"}
        ``"power"``: 1 - f(x) ~ C x^(-order); ``"exponential"``:
        1 - f(x) ~ C exp(-order x); ``"finite"``: f(x) = 1 for x >= order.
    order : float
        The power, the exponential rate, or the point where f reaches 1.
    """

    kind: str
    order: float

    def __str__(self) -> str:
        if self.kind == "power":
            return f"~ x^-{self.order:.2f}"
        if self.kind == "exponential":
            return f"~ exp(-{self.order:.2f} x)"
        return f"= 0 for x >= {self.order:.2f}"


def tail(
    name: str,
    *,
    x: NDArray[np.float64] | None = None,
    resolution: float = 1e-10,
    tolerance: float = 0.02,
) -> Tail:
    """Measure the order of the tail of ``f`` from 1 - f(x) on log axes.

    Parameters
    ----------
    name : str
        A registry name.
    x : ndarray, optional
        Increasing positive sample points; by default 100 per decade from 0.1 to 1e8.
    resolution : float
        Values of 1 - f(x) below this are too close to float64 rounding to be
        used in a fit (the default keeps a relative precision of about 1e-6).
    tolerance : float
        The tail is a power law when the local log-log slope varies by less
        than this fraction over the last decade of usable points.

    Returns
    -------
    Tail
        The kind of tail and its order, fitted numerically.

    Notes
    -----
    On log-log axes a power law :math:`1 - f(x) = C x^{-p}` is a straight line
    of slope :math:`-p`. An exponential :math:`C e^{-kx}` bends ever more
    steeply downwards; its rate :math:`k` is the slope of :math:`\\log(1 - f)`
    against :math:`x` (fitted by least squares on the upper half of the usable
    range). A function that reaches 1 drops from a clearly positive
    :math:`1 - f` to exactly 0 between two neighbouring samples.

    Examples
    --------
    >>> str(tail("softsign")), str(tail("algebraic_sigmoid")), str(tail("tanh"))
    ('~ x^-1.00', '~ x^-2.00', '~ exp(-2.00 x)')
    >>> str(tail("hard_tanh"))
    '= 0 for x >= 1.00'
    """
    f = function_named(name)
    x = np.geomspace(0.1, 1e8, 901) if x is None else np.asarray(x, dtype=np.float64)
    gap = 1.0 - np.asarray(f(x))
    zero = np.flatnonzero(gap <= 0.0)
    if zero.size and zero[0] > 0 and gap[zero[0] - 1] > 1e4 * resolution:
        # A sudden drop to exactly zero: the function reaches 1 in between.
        low, high = x[zero[0] - 1], x[zero[0]]
        for _ in range(200):
            middle = 0.5 * (low + high)
            if f(np.float64(middle)) >= 1.0:
                high = middle
            else:
                low = middle
        return Tail("finite", float(high))
    usable = gap > resolution
    if zero.size:
        usable[zero[0] :] = False
    xs, gaps = x[usable], gap[usable]
    log_x, log_gap = np.log(xs), np.log(gaps)
    local_slopes = np.diff(log_gap) / np.diff(log_x)
    last_decade = log_x[1:] >= log_x[-1] - math.log(10.0)
    slopes = local_slopes[last_decade]
    spread = float(slopes.max() - slopes.min())
    if spread <= tolerance * abs(float(slopes.mean())):
        return Tail("power", float(-slopes[-1]))
    upper = xs >= xs[-1] / 2
    rate = -np.polyfit(xs[upper], log_gap[upper], 1)[0]
    return Tail("exponential", float(rate))


# --------------------------------------------------------------------------- smoothness


@dataclass(frozen=True)
class Smoothness:
    """The smoothness class found numerically.

    Attributes
    ----------
    order : int or None
        k such that f is C^k but its (k+1)-th derivative jumps; ``None`` when no
        derivative up to ``checked`` jumps anywhere on the grid (then the class
        C^∞ is inferred from the formula, not measured).
    points : tuple of float
        Where the first jump was found.
    checked : int
        The highest derivative examined.
    """

    order: int | None
    points: tuple[float, ...]
    checked: int

    @property
    def label(self) -> str:
        """``"C⁰"``, ``"C¹"``, ... or ``"C^∞ (inferred)"`` when no jump was found.

        Only the derivatives up to ``checked`` are tested: finding no jump in
        them shows no more than that the ``checked``-th derivative is
        continuous on the grid; that the function is infinitely differentiable
        is inferred from its formula, hence the label.
        """
        if self.order is None:
            return "C^∞ (inferred)"
        if self.order < 0:
            return "discontinuous"
        return "C" + str(self.order).translate(_SUPERSCRIPTS)

    @property
    def evidence(self) -> str:
        """Which derivative jumps, and where."""
        if self.order is None:
            return f"no jump in f .. {_DERIVATIVE_NAMES.get(self.checked, self.checked)}"
        where = ", ".join(f"{p:g}" for p in self.points)
        return f"{_DERIVATIVE_NAMES.get(self.order + 1, self.order + 1)} jumps at x = {where}"

    def __str__(self) -> str:
        return self.label


def _one_sided(
    f: Activation, g: Activation, order: int, points: NDArray[np.float64], step: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One-sided estimates of the ``order``-th derivative of f just right and left of ``points``.

    Order 0 is f itself, order m >= 1 the (m - 1)-th forward (backward)
    difference of g = f' on the points c + h, ..., c + m h (c - h, ..., c - m h).
    """
    if order == 0:
        return np.asarray(f(points + step)), np.asarray(f(points - step))
    coefficients = [math.comb(order - 1, j) * (-1) ** (order - 1 - j) for j in range(order)]
    right = sum(c * g(points + (j + 1) * step) for j, c in enumerate(coefficients))
    left = sum(c * g(points - (order - j) * step) for j, c in enumerate(coefficients))
    scale = step ** (order - 1)
    return right / scale, left / scale


def smoothness(
    name: str,
    *,
    max_order: int = 3,
    grid: NDArray[np.float64] | None = None,
    step: float = 1e-3,
    tolerance: float = 1e-6,
) -> Smoothness:
    """Find the first derivative of ``f`` that jumps, by one-sided finite differences.

    Parameters
    ----------
    name : str
        A registry name.
    max_order : int
        The highest derivative examined (f, f', f'', f''' by default).
    grid : ndarray, optional
        Points tested for a jump; by default every multiple of 1/1000 in [-4, 4]
        (so the integers, where kinks of the family sit, are on it exactly).
    step : float
        The larger of the two finite-difference steps.
    tolerance : float
        Jumps smaller than this are ignored.

    Returns
    -------
    Smoothness
        The class C^k and where the (k+1)-th derivative jumps.

    Notes
    -----
    At each grid point c the k-th derivative is estimated just to the right
    (from samples at c + h, c + 2h, ...) and just to the left (c - h, c - 2h,
    ...), with the registered f' as the starting point. Where the derivative
    is continuous the two estimates differ by O(h); at a jump they differ by
    the jump. So a point counts as a jump when the difference does not
    shrink (stays above half its size) as h drops tenfold.

    Examples
    --------
    >>> [smoothness(n).label for n in ("hard_tanh", "softsign", "tanh")]
    ['C⁰', 'C¹', 'C^∞ (inferred)']
    >>> smoothness("softsign").evidence
    "f'' jumps at x = 0"
    """
    f, g = function_named(name), derivative_named(name)
    grid = np.arange(-4000, 4001) / 1000.0 if grid is None else np.asarray(grid, dtype=float)
    with np.errstate(all="ignore"):
        for order in range(max_order + 1):
            right, left = _one_sided(f, g, order, grid, step)
            coarse = np.abs(right - left)
            right, left = _one_sided(f, g, order, grid, step / 10)
            fine = np.abs(right - left)
            jumps = (fine > tolerance) & (fine > 0.5 * coarse)
            if jumps.any():
                points = tuple(float(p) for p in grid[jumps])
                return Smoothness(order - 1 if order else -1, points, max_order)
    return Smoothness(None, (), max_order)


# --------------------------------------------------------------------------- level


def reach(name: str, level: float = 0.99) -> float:
    """Return the smallest x >= 0 with f(x) >= ``level``, by bisection.

    Examples
    --------
    >>> round(reach("softsign"), 6), round(reach("hard_tanh"), 6)
    (99.0, 0.99)
    """
    f = function_named(name)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    low, high = 0.0, 1.0
    while f(np.float64(high)) < level:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if f(np.float64(middle)) >= level:
            high = middle
        else:
            low = middle
    return float(high)


# --------------------------------------------------------------------------- cost


def relative_costs(
    names: Sequence[str] = FAMILY,
    *,
    size: int = 100_000,
    repeats: int = 5,
    number: int = 20,
    baseline: str = "tanh",
    seed: int = 0,
    functions: Mapping[str, Activation] | None = None,
    dtype: type[np.floating] = np.float64,
) -> dict[str, float]:
    """Time each function on one large array, relative to ``baseline``.

    Each function is called ``number`` times in a row, ``repeats`` times over;
    the best of the repeats counts (the least disturbed by other programs).
    The default array is that of notebook 04's timing cell, 100 000 normal
    numbers of standard deviation 3; the default is the best of 5 repeats of
    20 calls (notebook 04 takes the best of 15).
    The result is a measurement: it changes a little from run to run, and
    with ``size`` the ratios change too, because whether the array and a
    formula's temporaries fit in the processor's cache changes what each
    extra pass over memory costs.
    ``functions`` maps further names to callables (for instance a plain
    formula beside the registered, overflow-safe implementation); names not
    in it are looked up in the registry. ``dtype`` is the array's float type.

    Returns
    -------
    dict
        name -> time / time of ``baseline`` (so ``baseline`` maps to 1.0).

    Examples
    --------
    >>> costs = relative_costs(["softsign", "tanh"], size=1000, repeats=2, number=1)
    >>> costs["tanh"], costs["softsign"] > 0
    (1.0, True)
    """
    x = (np.random.default_rng(seed).standard_normal(size) * 3.0).astype(dtype)
    extra = dict(functions or {})
    timings: dict[str, float] = {}
    for name in dict.fromkeys([*names, baseline]):
        f = extra[name] if name in extra else function_named(name)
        f(x)  # warm up
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                f(x)
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    return {name: timings[name] / timings[baseline] for name in names}


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class FamilyRow:
    """The deterministic, measured properties of one function of the family."""

    name: str
    formula: str
    slope_at_zero: float
    tail: Tail
    smoothness: Smoothness
    reach_99: float


def family_table(names: Sequence[str] = FAMILY) -> list[FamilyRow]:
    """Measure f'(0), the tail, the smoothness class and where f reaches 0.99, per function.

    Examples
    --------
    >>> [row.smoothness.label for row in family_table()]
    ['C¹', 'C^∞ (inferred)', 'C^∞ (inferred)', 'C^∞ (inferred)', 'C⁰']
    """
    return [
        FamilyRow(
            name=name,
            formula=FORMULAS.get(name, name),
            slope_at_zero=slope_at_zero(name),
            tail=tail(name),
            smoothness=smoothness(name),
            reach_99=reach(name, 0.99),
        )
        for name in names
    ]


def format_table(rows: Sequence[FamilyRow], costs: dict[str, float] | None = None) -> str:
    """Lay the table out as fixed-width text, optionally with a cost column.

    Examples
    --------
    >>> print(format_table(family_table(["softsign"])))
    function  formula    f'(0)  1 - f(x), x large  class  first jump          f = 0.99 at x
    softsign  x/(1+|x|)  1.000  ~ x^-1.00          C¹     f'' jumps at x = 0          99.00
    """
    header = ["function", "formula", "f'(0)", "1 - f(x), x large", "class", "first jump"]
    header.append("f = 0.99 at x")
    if costs is not None:
        header.append("cost (tanh = 1)")
    table = []
    for row in rows:
        cells = [
            row.name,
            row.formula,
            f"{row.slope_at_zero:.3f}",
            str(row.tail),
            row.smoothness.label,
            row.smoothness.evidence,
            f"{row.reach_99:.2f}",
        ]
        if costs is not None:
            cells.append(f"{costs[row.name]:.2f}")
        table.append(cells)
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    numeric = {2, 6, 7}

    def layout(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in numeric and cells is not header else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join(layout(cells) for cells in [header, *table])
