r"""The family's tools for softsign in practice: other powers, bfloat16, Gaussian averages.

:mod:`source_lib.family` compares softsign with its relatives and exports these
too:

* :func:`algebraic_family` and :func:`algebraic_family_derivative`:
  :math:`x / (1 + |x|^p)^{1/p}`, softsign for :math:`p = 1`, the algebraic
  sigmoid for :math:`p = 2`, hard tanh in the limit :math:`p \to \infty`;
* :func:`round_to_bfloat16`: float32 rounded to the nearest bfloat16 (ties to
  even), which NumPy has no dtype for;
* :func:`gaussian_expectation` and :func:`variance_gain`: :math:`E[g(Z)]` for
  a standard normal :math:`Z`, and the initialisation gain that keeps the
  pre-activation variance at 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from source_lib._lookup import function_named

__all__ = [
    "algebraic_family",
    "algebraic_family_derivative",
    "gaussian_expectation",
    "round_to_bfloat16",
    "variance_gain",
]


# --------------------------------------------------------------------------- the algebraic family


def _check_power(p: float) -> float:
    p = float(p)
    if not (math.isfinite(p) and p > 0):
        raise ValueError(f"the power p must be positive and finite, got {p!r}")
    return p


def algebraic_family(x: ArrayLike, p: float) -> NDArray[np.float64]:
    r"""The algebraic sigmoid of order p: x over the p-th root of one plus \|x\|^p.

    Parameters
    ----------
    x : array_like
        Real input of any shape.
    p : float
        The order, positive: 1 gives softsign, 2 the algebraic sigmoid (the
        inverse square root unit with :math:`a = 1`); as p grows the function
        tends to hard tanh.

    Returns
    -------
    numpy.ndarray
        :math:`f_p(x) = x / (1 + |x|^p)^{1/p}` in float64, of the shape of x;
        :math:`\pm 1` at :math:`\pm\infty`, nan for nan.

    Notes
    -----
    Differentiating and using :math:`1 - |f_p|^p = 1 / (1 + |x|^p)`,

    .. math:: f_p'(x) = (1 + |x|^p)^{-(p+1)/p} = (1 - |f_p(x)|^p)^{(p+1)/p},

    the derivative written with the output. For :math:`p = 1` it is
    :math:`f' = (1 - |f|)^2`; Elliott [1]_ noted that his function, like the
    logistic one, satisfies a differential equation in its own output. The
    family's form for every p is derived here, not taken from a source.
    For :math:`|x| > 1` the function is computed as
    :math:`\operatorname{sign}(x) (1 + |x|^{-p})^{-1/p}`, which neither
    overflows nor loses the limit.

    Examples
    --------
    >>> algebraic_family([-3.0, 1.0, np.inf], 1)
    array([-0.75,  0.5 ,  1.  ])
    >>> x = np.array([0.5, 2.0])
    >>> bool(np.allclose(algebraic_family(x, 2), x / np.sqrt(1 + x**2)))
    True
    >>> float(algebraic_family(1e300, 3))
    1.0

    References
    ----------
    .. [1] D. L. Elliott, "A better activation function for artificial neural
       networks", Technical Report TR 93-8, Institute for Systems Research,
       University of Maryland, 1993.
    """
    p = _check_power(p)
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(x)
    inside = magnitude <= 1
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        near = x / (1 + magnitude**p) ** (1 / p)
        far = np.sign(x) * (1 + magnitude ** (-p)) ** (-1 / p)
    return np.where(inside | np.isnan(x), near, far)


def algebraic_family_derivative(x: ArrayLike, p: float) -> NDArray[np.float64]:
    r"""Derivative of :func:`algebraic_family`: (1 + \|x\|^p) to the power -(p + 1)/p.

    Examples
    --------
    >>> algebraic_family_derivative([0.0, 1.0, np.inf], 1)
    array([1.  , 0.25, 0.  ])
    >>> y = algebraic_family(0.7, 3)
    >>> bool(np.isclose(algebraic_family_derivative(0.7, 3), (1 - abs(y) ** 3) ** (4 / 3)))
    True
    """
    p = _check_power(p)
    x = np.asarray(x, dtype=np.float64)
    magnitude = np.abs(x)
    with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
        near = (1 + magnitude**p) ** (-(p + 1) / p)
        far = magnitude ** (-(p + 1)) * (1 + magnitude ** (-p)) ** (-(p + 1) / p)
    return np.where((magnitude <= 1) | np.isnan(x), near, far)


# --------------------------------------------------------------------------- bfloat16


def round_to_bfloat16(x: ArrayLike) -> NDArray[np.float32] | np.float32:
    r"""Round float32 values to the nearest bfloat16, ties to even; return them as float32.

    bfloat16 keeps float32's sign and 8 exponent bits and the top 7 of its 23
    fraction bits: it is the upper half of a float32's bit pattern. Rounding
    adds :math:`2^{15} - 1`, plus the lowest kept bit (so that a tie goes to
    the even neighbour), to the pattern and clears the lower 16 bits. Values
    beyond the largest bfloat16 become :math:`\pm\infty`; nan stays nan.

    Examples
    --------
    >>> round_to_bfloat16([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-7 + 2**-10])  # ties, and not
    array([1.       , 1.015625 , 1.0078125], dtype=float32)
    >>> round_to_bfloat16([-np.inf, np.nan, 3.4e38])
    array([-inf,  nan,  inf], dtype=float32)
    >>> round_to_bfloat16(np.float32(np.pi))
    np.float32(3.140625)
    """
    values = np.array(x, dtype=np.float32)  # a copy: the argument is not modified
    flat = values.reshape(-1)
    bits = flat.view(np.uint32).astype(np.uint64)
    lowest_kept = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lowest_kept) & 0xFFFF0000).astype(np.uint32)
    result = rounded.view(np.float32)
    nan = np.isnan(flat)
    result[nan] = flat[nan]
    result = result.reshape(values.shape)
    return result[()] if result.ndim == 0 else result


# --------------------------------------------------------------------------- Gaussian averages


_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = np.polynomial.legendre.leggauss(20)


def gaussian_expectation(
    g: Callable[[NDArray[np.float64]], ArrayLike], *, scale: float = 1.0, panels: int = 240
) -> float:
    r"""Return :math:`E[g(\sigma Z)]` for a standard normal Z, by Gauss-Legendre quadrature.

    The integral :math:`\int g(\sigma z) \varphi(z)\,dz` is taken over
    :math:`[-12, 12]` (the normal density beyond is below :math:`10^{-31}`),
    cut at 0 so that a kink of g there (softsign's :math:`f'`) falls between
    panels, in ``panels`` panels of 20 nodes each.

    Examples
    --------
    >>> round(gaussian_expectation(lambda z: z**2), 12)
    1.0
    >>> round(gaussian_expectation(np.abs, scale=2.0), 12) == round(2 * math.sqrt(2 / math.pi), 12)
    True
    """
    edges = np.linspace(-12.0, 12.0, 2 * (panels // 2) + 1)  # 0 is an edge
    middles = (edges[1:] + edges[:-1]) / 2
    halves = (edges[1:] - edges[:-1]) / 2
    z = (middles[:, None] + halves[:, None] * _LEGENDRE_NODES).ravel()
    weights = (halves[:, None] * _LEGENDRE_WEIGHTS).ravel()
    density = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    values = np.asarray(g(scale * z), dtype=np.float64)
    return float(np.sum(weights * density * values))


def variance_gain(f: str | Callable[[NDArray[np.float64]], ArrayLike]) -> float:
    r"""The initialisation gain g that makes pre-activation variance 1 a fixed point.

    With weights of variance :math:`g^2 / n_\text{in}` and pre-activations
    :math:`z \sim N(0, q)`, the next layer's pre-activations have variance
    :math:`g^2 E[f(\sqrt{q} Z)^2]`. The gain returned makes :math:`q = 1` a
    fixed point of that map: :math:`g = 1 / \sqrt{E[f(Z)^2]}`. The map is the
    wide-network recursion for the pre-activation variance of Poole et al. [1]_
    (with :math:`\sigma_w = g` and no biases), who study its fixed point;
    Schoenholz et al. [2]_ show that
    :math:`\chi_1 = g^2 E[f'(\sqrt{q} Z)^2]` at the fixed point is the factor by
    which the mean squared gradient changes per layer on the way back.

    References
    ----------
    .. [1] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein and S. Ganguli,
       "Exponential expressivity in deep neural networks through transient
       chaos", NeurIPS 2016.
    .. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli and J. Sohl-Dickstein,
       "Deep information propagation", ICLR 2017.

    Examples
    --------
    >>> round(variance_gain("softsign"), 4), round(variance_gain("tanh"), 4)
    (2.3375, 1.5925)
    >>> round(variance_gain(lambda z: z), 12)
    1.0
    """
    function = function_named(f) if isinstance(f, str) else f
    return 1.0 / math.sqrt(gaussian_expectation(lambda z: np.square(function(z))))
