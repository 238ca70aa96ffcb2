r"""Softsign, its relatives and their derivatives, with careful numerics.

Every function here is element-wise and follows the same rules:

* it takes a Python number, a NumPy scalar or an array of any shape (0-d
  and empty included) and returns a result of the same shape: a NumPy
  scalar for scalar input, a new array for array input;
* float16, float32 and float64 keep their dtype; booleans and integers
  become float64; anything else (strings, None, complex numbers, object
  arrays) raises a ``TypeError`` that names the argument;
* the argument is never modified;
* limits are exact: :math:`\operatorname{softsign}(\pm\infty) = \pm 1`,
  derivatives are 0 at :math:`\pm\infty`, nan stays nan and -0.0 stays -0.0,
  and nothing overflows or warns for huge inputs.

``ACTIVATIONS`` and ``DERIVATIVES`` map the names ``"softsign"``,
``"tanh"``, ``"algebraic_sigmoid"``, ``"arctan_sigmoid"`` and
``"hard_tanh"`` to the functions and their derivatives, for the notebooks
that compare them. The relatives are defined in :mod:`source_lib.relatives`
and exported here.

References
----------
.. [1] D. L. Elliott, "A better activation function for artificial neural
   networks", Technical Report TR 93-8, Institute for Systems Research,
   University of Maryland, 1993.
.. [2] J. Bergstra, G. Desjardins, P. Lamblin and Y. Bengio, "Quadratic
   polynomials learn better image features", Technical report 1337,
   Département d'informatique et de recherche opérationnelle, Université de
   Montréal, 2009.
.. [3] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep
   feedforward neural networks", Proceedings of the 13th International
   Conference on Artificial Intelligence and Statistics (AISTATS), 2010.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from source_lib._types import Activation, FloatResult
from source_lib._validation import as_float_array, broadcast_result, check_out, finish
from source_lib.relatives import (
    algebraic_sigmoid,
    algebraic_sigmoid_derivative,
    arctan_sigmoid,
    arctan_sigmoid_derivative,
    hard_tanh,
    hard_tanh_derivative,
)

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


def softsign(x: ArrayLike, *, out: np.ndarray | None = None) -> FloatResult:
    r"""Softsign activation: x divided by one plus its absolute value.

    Parameters
    ----------
    x : array_like
        Real input of any shape (Python number, NumPy scalar or array).
    out : numpy.ndarray, optional
        An array of the same shape and floating dtype as the result, to
        write the result into (as NumPy's ``out=``). It may be ``x`` itself.

    Returns
    -------
    numpy.ndarray or numpy scalar
        softsign(x), in (-1, 1) for finite x: a NumPy scalar for scalar
        input, otherwise a new array of the same shape (``out`` if given).
        float16, float32 and float64 keep their dtype; integers give float64.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric data (str, None, complex, object arrays).

    See Also
    --------
    softsign_derivative, softsign_inverse

    Notes
    -----
    .. math:: \operatorname{softsign}(x) = \frac{x}{1 + |x|}

    Elliott [1]_ proposed it in 1993 because it needs far fewer operations than
    functions built on exponentials and satisfies a simple differential
    equation generalising the logistic one (it is still called the Elliott
    sigmoid); Bergstra et al. [2]_ used it as a hidden-unit nonlinearity and
    named it softsign; Glorot and Bengio [3]_
    found that, used in deep networks in place of tanh, its units' activations
    saturate less. They write that its "tails are quadratic polynomials rather
    than exponentials"; precisely, the gap to the asymptote,
    :math:`1 - |\operatorname{softsign}(x)| = 1 / (1 + |x|)`, is of first order
    in :math:`1/|x|` (tanh's closes exponentially, as :math:`2 / (e^{2|x|} + 1)`),
    and it is the derivative, :math:`1 / (1 + |x|)^2`, that decays quadratically.

    The limits :math:`\operatorname{softsign}(\pm\infty) = \pm 1` are
    returned (the plain formula gives :math:`\infty / \infty` = nan there);
    nan stays nan and -0.0 stays -0.0. Finite results equal the plain
    formula's bit for bit: it is computed as written, in three NumPy passes
    that write into one new array (or into ``out``).

    References
    ----------
    .. [1] D. L. Elliott, "A better activation function for artificial neural
       networks", Technical Report TR 93-8, Institute for Systems Research,
       University of Maryland, 1993.
    .. [2] J. Bergstra, G. Desjardins, P. Lamblin and Y. Bengio, "Quadratic
       polynomials learn better image features", Technical report 1337,
       Université de Montréal, 2009.
    .. [3] X. Glorot and Y. Bengio, "Understanding the difficulty of training
       deep feedforward neural networks", AISTATS 2010.

    Examples
    --------
    >>> softsign(1.0)
    np.float64(0.5)
    >>> softsign([-3.0, 0.0, 99.0])
    array([-0.75,  0.  ,  0.99])
    >>> softsign(np.array([-np.inf, -0.0, np.nan, np.inf]))
    array([-1., -0., nan,  1.])
    >>> softsign(np.array([2.0], dtype=np.float32))
    array([0.6666667], dtype=float32)
    """
    array, scalar = as_float_array(x, "x")
    if out is not None:
        check_out(out, array.shape, array.dtype)
        if np.may_share_memory(array, out):
            array = array.copy()  # out holds 1 + |x| while x is still to be read
    result = np.abs(array, out=np.empty_like(array) if out is None else out)
    np.add(result, 1, out=result)
    try:
        with np.errstate(invalid="raise"):
            np.divide(array, result, out=result)
    except FloatingPointError:
        # Only inf / inf is invalid here (nan / nan is quiet): x holds an infinity. The
        # division has written every element; give the infinite ones their limit, +-1.
        # Inputs without infinities pay nothing for this.
        np.copysign(1, array, out=result, where=np.isinf(array))
    return result if out is not None else finish(result, scalar)


def softsign_derivative(x: ArrayLike, *, out: np.ndarray | None = None) -> FloatResult:
    r"""Derivative of softsign: one over the square of one plus \|x\|.

    Parameters
    ----------
    x : array_like
        Real input of any shape.
    out : numpy.ndarray, optional
        An array of the same shape and floating dtype as the result, to
        write the result into. It may be ``x`` itself.

    Returns
    -------
    numpy.ndarray or numpy scalar
        softsign'(x), in (0, 1], same shape and dtype rules as
        :func:`softsign`; 0 at :math:`\pm\infty`.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric data.

    See Also
    --------
    softsign, softsign_derivative_from_output

    Notes
    -----
    By the quotient rule, with :math:`d|x|/dx = \operatorname{sign}(x)`,

    .. math::

        \operatorname{softsign}'(x)
        = \frac{(1 + |x|) - x \operatorname{sign}(x)}{(1 + |x|)^2}
        = \frac{1}{(1 + |x|)^2}.

    At 0 the two one-sided derivatives agree (both are 1), so softsign is
    differentiable there even though :math:`|x|` is not. The derivative decays
    like :math:`x^{-2}`, against :math:`4 e^{-2|x|}` for tanh: it is the
    larger of the two for :math:`|x| > 1.616` (where :math:`\cosh x = 1 + |x|`),
    the smaller for :math:`0 < |x| < 1.616`. Softsign units therefore saturate
    more gently [2]_, yet have the smaller slope where most pre-activations lie.

    It is computed as :math:`(1 / (1 + |x|))^2`: squaring first would
    overflow (with a warning) for :math:`|x| > 10^{154}`, whereas this form
    gives the correctly tiny (or 0) value for :math:`|x| = 10^{300}` and
    exactly 0 at :math:`\pm\infty`.

    References
    ----------
    .. [1] J. Bergstra, G. Desjardins, P. Lamblin and Y. Bengio, "Quadratic
       polynomials learn better image features", Technical report 1337,
       Université de Montréal, 2009.
    .. [2] X. Glorot and Y. Bengio, "Understanding the difficulty of training
       deep feedforward neural networks", AISTATS 2010.

    Examples
    --------
    >>> softsign_derivative(0.0)
    np.float64(1.0)
    >>> softsign_derivative([-1.0, 1.0, 3.0])
    array([0.25  , 0.25  , 0.0625])
    >>> softsign_derivative(np.array([1e300, -np.inf]))
    array([0., 0.])
    """
    array, scalar = as_float_array(x, "x")
    if out is not None:
        check_out(out, array.shape, array.dtype)
    # After this first step only |x| is read, so out may overlap x in any way.
    result = np.abs(array, out=np.empty_like(array) if out is None else out)
    np.add(result, 1, out=result)
    with np.errstate(under="ignore"):  # (1 / (1 + |x|))**2 below the smallest float is 0
        np.reciprocal(result, out=result)
        np.multiply(result, result, out=result)
    return result if out is not None else finish(result, scalar)


def _check_range(magnitude: np.ndarray, array: np.ndarray, function: str) -> None:
    """Raise ValueError if some |y| exceeds 1: no softsign output lies there."""
    outside = magnitude > 1
    if outside.any():
        bad = float(array[outside].flat[0])
        raise ValueError(
            f"{function} is defined on [-1, 1] (the range of softsign); got y = {bad!r}"
        )


def softsign_derivative_from_output(y: ArrayLike) -> FloatResult:
    r"""Derivative of softsign written with its output: one minus \|y\|, squared.

    Parameters
    ----------
    y : array_like
        Outputs of softsign, :math:`y = \operatorname{softsign}(x)`, in [-1, 1].

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`(1 - |y|)^2`, which equals :math:`\operatorname{softsign}'(x)`;
        same shape and dtype rules as :func:`softsign`.

    Raises
    ------
    ValueError
        If any value lies outside [-1, 1], where no output of softsign lies.
    TypeError
        If ``y`` is not real numeric data.

    See Also
    --------
    softsign_derivative

    Notes
    -----
    Since :math:`1 - |\operatorname{softsign}(x)| = 1 - |x| / (1 + |x|) = 1 / (1 + |x|)`,

    .. math:: \operatorname{softsign}'(x) = \frac{1}{(1 + |x|)^2} = (1 - |y|)^2.

    Backpropagation can therefore reuse the output stored during the forward
    pass instead of the input, as it does for :math:`\tanh' = 1 - \tanh^2`.
    The price is accuracy far out: y carries a rounding error of about
    :math:`\varepsilon |y|`, which is a relative error of about
    :math:`\varepsilon |x|` in :math:`1 - |y|` (about :math:`2 \cdot 10^{-9}` at
    :math:`|x| = 10^7`), and the result is 0 where y rounds to :math:`\pm 1`:
    for half of the floats :math:`|x|` in :math:`[2^{53}, 2^{54})` (there
    :math:`1 + |x|` is a tie, which rounds to even, back to :math:`|x|` for
    every second float) and for every float from :math:`2^{54}` on.
    :func:`softsign_derivative` has no such loss.

    References
    ----------
    .. [1] X. Glorot and Y. Bengio, "Understanding the difficulty of training
       deep feedforward neural networks", AISTATS 2010.

    Examples
    --------
    >>> softsign_derivative_from_output(0.5)
    np.float64(0.25)
    >>> x = np.array([-3.0, 0.0, 1.0])
    >>> softsign_derivative_from_output(softsign(x))
    array([0.0625, 1.    , 0.25  ])
    """
    array, scalar = as_float_array(y, "y")
    result = np.abs(array, out=np.empty_like(array))
    _check_range(result, array, "softsign_derivative_from_output")
    np.subtract(1, result, out=result)
    np.multiply(result, result, out=result)
    return finish(result, scalar)


def abs_derivative(x: ArrayLike) -> FloatResult:
    r"""Derivative of the absolute value: -1 for negative x, +1 for positive x, 0 at 0.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        -1.0, 0.0 or +1.0 element-wise (nan for nan); same shape and dtype
        rules as :func:`softsign`.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric data.

    Notes
    -----
    .. math::

        \frac{d|x|}{dx} = \operatorname{sign}(x) =
        \begin{cases} -1 & x < 0 \\ +1 & x > 0 \end{cases}

    The derivative does not exist at 0: the slope from the left is -1 and
    from the right +1. This function returns 0 there, the convention of
    ``numpy.sign`` and of PyTorch's and TensorFlow's automatic differentiation
    (a subgradient, the midpoint of [-1, 1]); JAX returns +1. Softsign's
    derivative does not depend on the choice, since
    :math:`x \operatorname{sign}(x) = |x|` for every choice.

    Examples
    --------
    >>> abs_derivative([-2.0, 0.0, 3.0])
    array([-1.,  0.,  1.])
    >>> abs_derivative(-0.5)
    np.float64(-1.0)
    """
    array, scalar = as_float_array(x, "x")
    return finish(np.sign(array), scalar)


def numerical_derivative(f: Activation, x: ArrayLike, h: float = 1e-5) -> FloatResult:
    r"""Centred finite-difference estimate of the derivative of f at x, element-wise.

    Parameters
    ----------
    f : callable
        A vectorised function of one argument (it receives an array like x).
    x : array_like
        Points at which to estimate the derivative, any shape.
    h : float, optional
        The step, 1e-5 by default; positive and finite. It is used as given.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`(f(x + h) - f(x - h)) / (2h)`, same shape as ``x``, float64
        (or wider, if f returns a wider float).

    Raises
    ------
    TypeError
        If ``f`` is not callable, or ``x`` or ``h`` is not real numeric data.
    ValueError
        If ``h`` is not positive and finite, or ``f`` returns a result whose
        shape does not fit ``x``.

    See Also
    --------
    source_lib.gradcheck.gradient_check : compares a derivative with this estimate.

    Notes
    -----
    .. math:: f'(x) \approx \frac{f(x + h) - f(x - h)}{2h}

    By Taylor's theorem the truncation error is
    :math:`h^2 f'''(\xi) / 6`, for some :math:`\xi` in :math:`(x - h, x + h)`;
    rounding in :math:`f(x \pm h)` adds about
    :math:`\varepsilon |f(x)| / h`, with :math:`\varepsilon \approx 2.2 \cdot
    10^{-16}` in float64. The default :math:`h = 10^{-5}` balances the two for
    smooth functions of moderate size. At a kink (:math:`|x|` at 0) the
    estimate is the average of the two one-sided slopes; a step that straddles
    a kink off-centre can be wrong by a constant, however small h is.

    x is evaluated in its own dtype: in float32 or float16, :math:`x \pm h`
    rounds, so the step actually taken is not exactly 2h.

    Examples
    --------
    >>> round(float(numerical_derivative(np.sin, 0.0)), 8)
    1.0
    >>> numerical_derivative(np.abs, [-1.0, 0.0, 2.0], h=0.5)
    array([-1.,  0.,  1.])
    """
    if not callable(f):
        raise TypeError(f"f must be a function of one argument, got {type(f).__name__}")
    array, scalar = as_float_array(x, "x")
    step_array, _ = as_float_array(h, "h")
    if step_array.ndim != 0:
        raise TypeError(f"h must be a single positive number, got an array of shape {np.shape(h)}")
    step = float(step_array)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"h must be positive and finite, got {h!r}")
    difference = np.subtract(f(array + step), f(array - step))
    result = np.divide(difference, 2 * step, dtype=np.result_type(difference, np.float64))
    return finish(broadcast_result(result, array.shape, "f"), scalar)


def tanh(x: ArrayLike) -> FloatResult:
    r"""Hyperbolic tangent, the activation softsign is compared with.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`\tanh x`, in (-1, 1) for moderate x; same shape and dtype rules
        as :func:`softsign`.

    Notes
    -----
    .. math:: \tanh x = \frac{e^x - e^{-x}}{e^x + e^{-x}}

    Computed by ``numpy.tanh``, which returns :math:`\pm 1` in float64 from
    :math:`|x| \approx 19.0` on (the smallest float64 with
    ``np.tanh(x) == 1.0`` is 18.9903... with common NumPy builds). It is
    faithfully rounded there, not correctly: a correctly rounded tanh would
    wait until :math:`1 - \tanh x = 2 / (e^{2x} + 1)` drops below half the
    spacing of the floats just below 1 (they are :math:`2^{-53}` apart), that is
    below :math:`2^{-54}`, at :math:`x = \ln(2^{55} - 1) / 2 \approx 19.06`.

    Examples
    --------
    >>> tanh(0.0)
    np.float64(0.0)
    >>> tanh([-np.inf, np.inf])
    array([-1.,  1.])
    >>> bool(tanh(18.5) < 1.0 == tanh(19.5))  # 1.0 from about 19 on
    True
    """
    array, scalar = as_float_array(x, "x")
    return finish(np.tanh(array), scalar)


def tanh_derivative(x: ArrayLike) -> FloatResult:
    r"""Derivative of tanh: one minus tanh(x) squared.

    Parameters
    ----------
    x : array_like
        Real input of any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`1 - \tanh^2 x`, in (0, 1]; 0 at :math:`\pm\infty`; same shape
        and dtype rules as :func:`softsign`.

    Raises
    ------
    TypeError
        If ``x`` is not real numeric data.

    Notes
    -----
    .. math::

        \tanh'(x) = 1 - \tanh^2 x = \operatorname{sech}^2 x = \left(\frac{1}{\cosh x}\right)^2

    The last form is the one computed. Every step of it is monotonic, so the
    result is never above 1 and never increases with :math:`|x|`, and it keeps
    full relative accuracy in the tails, where ``1 - np.tanh(x)**2`` is 0
    for :math:`|x|` above about 19 although the true value,
    :math:`\approx 4 e^{-2|x|}`, is not. ``cosh`` overflows for
    :math:`|x| > 710`; the result there, 0, is the true value rounded, and no
    warning is given (``1 / np.cosh(x)**2`` warns from :math:`|x| > 355` on).

    Examples
    --------
    >>> tanh_derivative([0.0, np.inf])
    array([1., 0.])
    >>> bool(np.isclose(tanh_derivative(1.0), 1 - np.tanh(1.0) ** 2, rtol=1e-15))
    True
    >>> float(tanh_derivative(20.0))  # 1 - np.tanh(20.0)**2 gives 0.0
    1.6993417021166...e-17
    """
    array, scalar = as_float_array(x, "x")
    with np.errstate(over="ignore", under="ignore"):  # cosh = inf: 1 / inf = 0, correctly
        result = np.cosh(array, out=np.empty_like(array))
        np.reciprocal(result, out=result)
        np.multiply(result, result, out=result)
    return finish(result, scalar)


def softsign_inverse(y: ArrayLike) -> FloatResult:
    r"""Inverse of softsign: the input x at which softsign(x) equals y.

    Parameters
    ----------
    y : array_like
        Values in [-1, 1], any shape.

    Returns
    -------
    numpy.ndarray or numpy scalar
        :math:`y / (1 - |y|)`, with :math:`\pm\infty` at :math:`y = \pm 1`
        (the limits); nan for nan; same shape and dtype rules as
        :func:`softsign`.

    Raises
    ------
    ValueError
        If any value lies outside [-1, 1] (softsign never reaches it).
    TypeError
        If ``y`` is not real numeric data.

    See Also
    --------
    softsign

    Notes
    -----
    Solving :math:`y = x / (1 + |x|)`: x and y have the same sign, so
    :math:`|y| (1 + |x|) = |x|`, :math:`|x| = |y| / (1 - |y|)`, and

    .. math:: \operatorname{softsign}^{-1}(y) = \frac{y}{1 - |y|}, \quad -1 < y < 1.

    Near :math:`\pm 1` the result is ill-conditioned: one rounding error in y
    (relative size :math:`\varepsilon`) moves x by about :math:`\varepsilon x^2`.

    Examples
    --------
    >>> softsign_inverse([0.5, -0.99])
    array([  1., -99.])
    >>> softsign_inverse(1.0)
    np.float64(inf)
    >>> softsign_inverse(1.5)
    Traceback (most recent call last):
        ...
    ValueError: softsign_inverse is defined on [-1, 1] (the range of softsign); got y = 1.5
    """
    array, scalar = as_float_array(y, "y")
    magnitude = np.abs(array, out=np.empty_like(array))
    _check_range(magnitude, array, "softsign_inverse")
    np.subtract(1, magnitude, out=magnitude)
    with np.errstate(divide="ignore"):  # +-1 / 0 is +-inf, the limit
        result = np.divide(array, magnitude, out=magnitude)
    return finish(result, scalar)


#: Activation functions by name, for the notebooks that compare them.
ACTIVATIONS: dict[str, Activation] = {
    "softsign": softsign,
    "tanh": tanh,
    "algebraic_sigmoid": algebraic_sigmoid,
    "arctan_sigmoid": arctan_sigmoid,
    "hard_tanh": hard_tanh,
}

#: Their derivatives, under the same names.
DERIVATIVES: dict[str, Activation] = {
    "softsign": softsign_derivative,
    "tanh": tanh_derivative,
    "algebraic_sigmoid": algebraic_sigmoid_derivative,
    "arctan_sigmoid": arctan_sigmoid_derivative,
    "hard_tanh": hard_tanh_derivative,
}
