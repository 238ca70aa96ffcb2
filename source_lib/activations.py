r"""Activation functions and their derivatives, with careful numerics.

Every function takes a Python number, a NumPy scalar or an array of any
shape, returns a new result of the same shape (a NumPy scalar for scalar
input), keeps float16/float32/float64 and turns integers into float64, and
never modifies its argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from source_lib._validation import as_float_array, finish

__all__ = [
    "ACTIVATIONS",
    "DERIVATIVES",
    "abs_derivative",
    "algebraic_sigmoid",
    "algebraic_sigmoid_derivative",
    "arctan_sigmoid",
    "arctan_sigmoid_derivative",
    "hard_tanh",
    "hard_tanh_derivative",
    "numerical_derivative",
    "softsign",
    "softsign_derivative",
    "softsign_derivative_from_output",
    "softsign_inverse",
    "tanh",
    "tanh_derivative",
]

ArrayLike = Any

_BLOCK = 8192  # elements per block: a few blocks of float64 stay in L1/L2 cache


def softsign(x: ArrayLike) -> Any:
    r"""Softsign activation: x divided by one plus its absolute value.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        softsign(x), same shape as `x`, in (-1, 1) for finite input.

    Notes
    -----
    .. math:: \operatorname{softsign}(x) = \frac{x}{1 + |x|}

    The limits at :math:`\pm\infty` are returned exactly (the plain formula
    gives nan there); nan stays nan and -0.0 stays -0.0. Large arrays are
    processed in cache-sized blocks, which keeps the cost close to one read
    and one write of the data.

    Examples
    --------
    >>> softsign(1.0)
    np.float64(0.5)
    >>> softsign([-3.0, 0.0, 99.0])
    array([-0.75,  0.  ,  0.99])
    >>> softsign([-np.inf, np.inf])
    array([-1.,  1.])

    References
    ----------
    .. [1] J. Bergstra, G. Desjardins, P. Lamblin and Y. Bengio, "Quadratic
       polynomials learn better image features", Technical report 1337,
       Université de Montréal, 2009.
    .. [2] X. Glorot and Y. Bengio, "Understanding the difficulty of training
       deep feedforward neural networks", AISTATS 2010.
    """
    array, scalar = as_float_array(x, "x")
    out = np.empty_like(array)
    flat_in = array.reshape(-1)
    flat_out = out.reshape(-1)
    buffer = np.empty(min(_BLOCK, flat_in.size), dtype=array.dtype)
    with np.errstate(invalid="ignore"):
        for start in range(0, flat_in.size, _BLOCK):
            block = flat_in[start : start + _BLOCK]
            tmp = buffer[: block.size]
            np.abs(block, out=tmp)
            np.add(tmp, 1, out=tmp)
            target = flat_out[start : start + _BLOCK]
            np.divide(block, tmp, out=target)
    if np.isinf(array).any():
        infinite = np.isinf(array)
        out[infinite] = np.sign(array[infinite])
    return finish(out, scalar)


def softsign_derivative(x: ArrayLike) -> Any:
    r"""Derivative of softsign: one over the square of one plus \|x\|.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        softsign'(x), same shape as `x`, in (0, 1].

    Notes
    -----
    .. math:: \operatorname{softsign}'(x) = \frac{1}{(1 + |x|)^2}

    It is computed as :math:`(1 / (1 + |x|))^2`, which cannot overflow: it is
    tiny rather than inf for :math:`|x| = 10^{300}` and exactly 0 at
    :math:`\pm\infty`.

    Examples
    --------
    >>> softsign_derivative(0.0)
    np.float64(1.0)
    >>> softsign_derivative([-1.0, 1.0, np.inf])
    array([0.25, 0.25, 0.  ])

    References
    ----------
    .. [1] X. Glorot and Y. Bengio, "Understanding the difficulty of training
       deep feedforward neural networks", AISTATS 2010.
    """
    array, scalar = as_float_array(x, "x")
    out = np.empty_like(array)
    flat_in = array.reshape(-1)
    flat_out = out.reshape(-1)
    with np.errstate(under="ignore"):  # 1e-600 rounds to 0.0, as it should
        for start in range(0, flat_in.size, _BLOCK):
            target = flat_out[start : start + _BLOCK]
            np.abs(flat_in[start : start + _BLOCK], out=target)
            np.add(target, 1, out=target)
            np.reciprocal(target, out=target)
            np.multiply(target, target, out=target)
    return finish(out, scalar)


def softsign_derivative_from_output(y: ArrayLike) -> Any:
    r"""Derivative of softsign written in terms of its output y = softsign(x).

    Parameters
    ----------
    y : array_like
        Values of softsign, in [-1, 1].

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`(1 - |y|)^2`, equal to softsign'(x) where y = softsign(x).

    Notes
    -----
    Since :math:`1 - |\operatorname{softsign}(x)| = 1 / (1 + |x|)`,

    .. math:: \operatorname{softsign}'(x) = (1 - |y|)^2.

    Backpropagation can reuse the stored forward output, as with
    :math:`\tanh' = 1 - \tanh^2`.

    Examples
    --------
    >>> softsign_derivative_from_output(0.5)
    np.float64(0.25)
    """
    array, scalar = as_float_array(y, "y")
    out = np.abs(array, out=np.empty_like(array))
    np.subtract(1, out, out=out)
    np.multiply(out, out, out=out)
    return finish(out, scalar)


def abs_derivative(x: ArrayLike) -> Any:
    r"""Derivative of \|x\|: -1 for negative x, +1 for positive x, 0 at 0.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        -1.0, 0.0 or +1.0 element-wise (nan for nan).

    Notes
    -----
    .. math:: \frac{d|x|}{dx} = \frac{x}{|x|} = \operatorname{sign}(x), \quad x \ne 0.

    The derivative does not exist at 0 (the one-sided slopes are -1 and +1);
    this function returns 0 there, the convention of ``numpy.sign`` and of
    PyTorch's autograd. JAX returns +1.

    Examples
    --------
    >>> abs_derivative([-2.0, 0.0, 3.0])
    array([-1.,  0.,  1.])
    """
    array, scalar = as_float_array(x, "x")
    return finish(np.sign(array), scalar)


def numerical_derivative(f: Callable[[Any], Any], x: ArrayLike, h: float = 1e-5) -> Any:
    r"""Centered finite-difference estimate of f'(x), element-wise.

    Parameters
    ----------
    f : callable
        A vectorised function of one argument.
    x : array_like
        Points at which to estimate the derivative.
    h : float, optional
        The step, 1e-5 by default. Must be positive and finite.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`(f(x + h) - f(x - h)) / (2h)`, same shape as `x`.

    Notes
    -----
    The error is :math:`O(h^2)` from truncation plus about
    :math:`\varepsilon |f| / h` from rounding.

    Examples
    --------
    >>> round(float(numerical_derivative(np.sin, 0.0)), 8)
    1.0
    """
    if not callable(f):
        raise TypeError(f"f must be a function of one argument, got {type(f).__name__}")
    array, scalar = as_float_array(x, "x")
    try:
        step = float(h)
    except (TypeError, ValueError):
        raise TypeError(f"h must be a positive real number, got {type(h).__name__}") from None
    if not np.isfinite(step) or step <= 0:
        raise ValueError(f"h must be positive and finite, got {h!r}")
    result = (np.asarray(f(array + step)) - np.asarray(f(array - step))) / (2 * step)
    return finish(np.asarray(result, dtype=np.result_type(result, np.float64)), scalar)


def tanh(x: ArrayLike) -> Any:
    r"""Hyperbolic tangent, for the comparison with softsign.

    Examples
    --------
    >>> tanh(0.0)
    np.float64(0.0)
    """
    array, scalar = as_float_array(x, "x")
    return finish(np.tanh(array), scalar)


def tanh_derivative(x: ArrayLike) -> Any:
    r"""Derivative of tanh: one minus tanh(x) squared.

    Notes
    -----
    .. math:: \tanh'(x) = 1 - \tanh^2(x) = \operatorname{sech}^2(x)

    Written with tanh, it never overflows (``1 / cosh(x)**2`` overflows, with
    a warning, for :math:`|x| > 710`).

    Examples
    --------
    >>> tanh_derivative([0.0, np.inf])
    array([1., 0.])
    """
    array, scalar = as_float_array(x, "x")
    t = np.tanh(array)
    return finish(1 - t * t, scalar)


def softsign_inverse(y: ArrayLike) -> Any:
    r"""Inverse of softsign: the input x at which softsign(x) equals y.

    Parameters
    ----------
    y : array_like
        Values in [-1, 1].

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`y / (1 - |y|)`; :math:`\pm\infty` at :math:`y = \pm 1`.

    Raises
    ------
    ValueError
        If any value lies outside [-1, 1].

    Examples
    --------
    >>> softsign_inverse([0.5, -0.99])
    array([  1., -99.])
    >>> softsign_inverse(1.0)
    np.float64(inf)
    """
    array, scalar = as_float_array(y, "y")
    outside = np.abs(array) > 1
    if outside.any():
        bad = array[outside].reshape(-1)[0]
        raise ValueError(f"softsign_inverse is defined on [-1, 1]; got y = {float(bad)!r}")
    with np.errstate(divide="ignore"):
        out = np.divide(array, 1 - np.abs(array), out=np.empty_like(array))
    edge = np.abs(array) == 1
    if edge.any():
        out[edge] = np.copysign(np.inf, array[edge])
    return finish(out, scalar)


def algebraic_sigmoid(x: ArrayLike) -> Any:
    r"""Algebraic sigmoid: x divided by the square root of one plus x squared.

    Examples
    --------
    >>> algebraic_sigmoid([0.0, np.inf])
    array([0., 1.])
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.divide(array, np.sqrt(1 + array * array), out=np.empty_like(array))
        big = np.abs(array) > 1e150
        out[big] = np.sign(array[big])
    return finish(out, scalar)


def algebraic_sigmoid_derivative(x: ArrayLike) -> Any:
    r"""Derivative of the algebraic sigmoid: (1 + x^2)^(-3/2).

    Examples
    --------
    >>> algebraic_sigmoid_derivative(0.0)
    np.float64(1.0)
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(over="ignore"):
        out = (1 + array * array) ** -1.5
    return finish(out, scalar)


def arctan_sigmoid(x: ArrayLike) -> Any:
    r"""Scaled arctangent, (2/pi) arctan(x), with limits -1 and +1.

    Examples
    --------
    >>> arctan_sigmoid(1.0)
    np.float64(0.5)
    """
    array, scalar = as_float_array(x, "x")
    return finish(2 / np.pi * np.arctan(array), scalar)


def arctan_sigmoid_derivative(x: ArrayLike) -> Any:
    r"""Derivative of (2/pi) arctan(x): 2 / (pi (1 + x^2)).

    Examples
    --------
    >>> round(float(arctan_sigmoid_derivative(0.0)), 6)
    0.63662
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(over="ignore"):
        out = 2 / (np.pi * (1 + array * array))
    return finish(out, scalar)


def hard_tanh(x: ArrayLike) -> Any:
    r"""Hard tanh: x clipped to [-1, 1].

    Examples
    --------
    >>> hard_tanh([-3.0, 0.5, 2.0])
    array([-1. ,  0.5,  1. ])
    """
    array, scalar = as_float_array(x, "x")
    return finish(np.clip(array, -1, 1), scalar)


def hard_tanh_derivative(x: ArrayLike) -> Any:
    r"""Derivative of hard tanh: 1 inside (-1, 1), 0 outside (0 at the kinks +-1).

    Examples
    --------
    >>> hard_tanh_derivative([-2.0, 0.0, 1.0])
    array([0., 1., 0.])
    """
    array, scalar = as_float_array(x, "x")
    out = np.less(np.abs(array), 1, out=np.empty(array.shape, bool)).astype(array.dtype)
    out[np.isnan(array)] = np.nan
    return finish(out, scalar)


#: Activation functions by name, for the comparison notebooks.
ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "softsign": softsign,
    "tanh": tanh,
    "algebraic_sigmoid": algebraic_sigmoid,
    "arctan_sigmoid": arctan_sigmoid,
    "hard_tanh": hard_tanh,
}

#: Their derivatives, under the same names.
DERIVATIVES: dict[str, Callable[[Any], Any]] = {
    "softsign": softsign_derivative,
    "tanh": tanh_derivative,
    "algebraic_sigmoid": algebraic_sigmoid_derivative,
    "arctan_sigmoid": arctan_sigmoid_derivative,
    "hard_tanh": hard_tanh_derivative,
}
