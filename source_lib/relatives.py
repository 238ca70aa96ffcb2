r"""Softsign's smooth and piecewise-linear relatives, which the notebooks compare it with.

The algebraic sigmoid :math:`x / \sqrt{1 + x^2}`, the scaled arctangent
:math:`(2/\pi) \arctan x` and the hard tanh :math:`\max(-1, \min(1, x))`, with
their derivatives. They follow the rules of :mod:`source_lib.activations`
(which lists them in ``ACTIVATIONS`` and ``DERIVATIVES`` and exports them):
element-wise, the input's shape, float dtypes kept, exact limits, nothing
modified and no warnings.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from source_lib._types import FloatResult
from source_lib._validation import as_float_array, finish

__all__ = [
    "algebraic_sigmoid",
    "algebraic_sigmoid_derivative",
    "arctan_sigmoid",
    "arctan_sigmoid_derivative",
    "hard_tanh",
    "hard_tanh_derivative",
]


def algebraic_sigmoid(x: ArrayLike) -> FloatResult:
    r"""Algebraic sigmoid: x divided by the square root of one plus x squared.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`x / \sqrt{1 + x^2}`, in (-1, 1) for finite x; :math:`\pm 1` at
        :math:`\pm\infty`; same shape and dtype rules as :func:`softsign`.

    Notes
    -----
    .. math:: g(x) = \frac{x}{\sqrt{1 + x^2}}, \qquad g'(x) = (1 + x^2)^{-3/2}

    Another sigmoid with algebraic tails, between softsign and tanh:
    :math:`1 - g(x) \approx 1 / (2x^2)`. The denominator is computed as
    ``np.hypot(1, x)``, which does not overflow for :math:`|x| > 10^{154}`.

    Examples
    --------
    >>> algebraic_sigmoid([0.0, np.inf])
    array([0., 1.])
    >>> round(float(algebraic_sigmoid(1.0)), 6)
    0.707107
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(invalid="ignore"):  # inf / inf, replaced by the limit below
        result = np.hypot(1, array, out=np.empty_like(array))
        np.divide(array, result, out=result)
    np.copysign(1, array, out=result, where=np.isinf(array))
    return finish(result, scalar)


def algebraic_sigmoid_derivative(x: ArrayLike) -> FloatResult:
    r"""Derivative of the algebraic sigmoid: one plus x squared, to the power -3/2.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`(1 + x^2)^{-3/2}`, in (0, 1]; 0 at :math:`\pm\infty`; same shape
        and dtype rules as :func:`softsign`.

    Notes
    -----
    .. math:: g'(x) = \frac{1}{(1 + x^2)^{3/2}} = \left(\frac{1}{\sqrt{1 + x^2}}\right)^3

    The right-hand form, with ``np.hypot``, neither overflows nor warns.

    Examples
    --------
    >>> algebraic_sigmoid_derivative([0.0, np.inf])
    array([1., 0.])
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(under="ignore"):
        reciprocal = np.hypot(1, array, out=np.empty_like(array))
        np.reciprocal(reciprocal, out=reciprocal)
        result = np.multiply(reciprocal, reciprocal, out=np.empty_like(array))
        np.multiply(result, reciprocal, out=result)
    return finish(result, scalar)


def arctan_sigmoid(x: ArrayLike) -> FloatResult:
    r"""Scaled arctangent: two over pi times arctan(x), with limits -1 and +1.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`(2/\pi) \arctan x`, in (-1, 1) for finite x; same shape and
        dtype rules as :func:`softsign`.

    Notes
    -----
    .. math:: a(x) = \frac{2}{\pi} \arctan x, \qquad a'(x) = \frac{2}{\pi (1 + x^2)}

    Its slope at 0 is :math:`2/\pi \approx 0.64`, not 1, and its tails
    approach :math:`\pm 1` like :math:`1 - 2/(\pi |x|)`, as slowly as
    softsign's.

    Examples
    --------
    >>> arctan_sigmoid([1.0, np.inf])
    array([0.5, 1. ])
    """
    array, scalar = as_float_array(x, "x")
    result = np.arctan(array, out=np.empty_like(array))
    np.multiply(result, 2 / np.pi, out=result)
    return finish(result, scalar)


def arctan_sigmoid_derivative(x: ArrayLike) -> FloatResult:
    r"""Derivative of the scaled arctangent: two over pi times one over one plus x squared.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`2 / (\pi (1 + x^2))`, in (0, 2/π]; 0 at :math:`\pm\infty`; same
        shape and dtype rules as :func:`softsign`.

    Notes
    -----
    .. math:: a'(x) = \frac{2}{\pi} \left(\frac{1}{\sqrt{1 + x^2}}\right)^2

    computed with ``np.hypot``, which neither overflows nor warns.

    Examples
    --------
    >>> round(float(arctan_sigmoid_derivative(0.0)), 6)
    0.63662
    >>> arctan_sigmoid_derivative(np.inf)
    np.float64(0.0)
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(under="ignore"):
        result = np.hypot(1, array, out=np.empty_like(array))
        np.reciprocal(result, out=result)
        np.multiply(result, result, out=result)
        np.multiply(result, 2 / np.pi, out=result)
    return finish(result, scalar)


def hard_tanh(x: ArrayLike) -> FloatResult:
    r"""Hard tanh: x clipped to the interval [-1, 1].

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`\max(-1, \min(1, x))`; nan for nan; same shape and dtype rules
        as :func:`softsign`.

    Notes
    -----
    .. math:: \operatorname{hardtanh}(x) = \begin{cases} -1 & x < -1 \\ x & -1 \le x \le 1
              \\ 1 & x > 1 \end{cases}

    The piecewise-linear caricature of tanh: identity in the middle, exactly
    saturated outside, with kinks at :math:`\pm 1`.

    Examples
    --------
    >>> hard_tanh([-3.0, 0.5, 2.0])
    array([-1. ,  0.5,  1. ])
    """
    array, scalar = as_float_array(x, "x")
    return finish(np.clip(array, -1, 1), scalar)


def hard_tanh_derivative(x: ArrayLike) -> FloatResult:
    r"""Derivative of hard tanh: 1 strictly inside (-1, 1), 0 outside and at the kinks.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        1.0 where :math:`|x| < 1`, 0.0 where :math:`|x| \ge 1`, nan for nan;
        same shape and dtype rules as :func:`softsign`.

    Notes
    -----
    .. math:: \operatorname{hardtanh}'(x) = \begin{cases} 1 & |x| < 1 \\ 0 & |x| > 1 \end{cases}

    At the kinks :math:`x = \pm 1` the derivative does not exist; 0 is
    returned there, as PyTorch's ``Hardtanh`` does.

    Examples
    --------
    >>> hard_tanh_derivative([-2.0, 0.0, 1.0, np.nan])
    array([ 0.,  1.,  0., nan])
    """
    array, scalar = as_float_array(x, "x")
    result = np.less(np.abs(array), 1, out=np.empty(array.shape, dtype=bool)).astype(array.dtype)
    np.copyto(result, array, where=np.isnan(array))
    return finish(result, scalar)
