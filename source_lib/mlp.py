r"""The multilayer perceptron of the saturation experiment: activations, layers, passes.

:mod:`source_lib.network` trains this network; this module holds the network
itself: the hidden-layer activations (:data:`HIDDEN_ACTIVATIONS`) and how
saturated their outputs are (:func:`saturation`), the two initialisations of
Glorot and Bengio (2010) (:data:`INITIALIZATIONS`), and the whole network's
forward pass and gradients (:func:`forward`, :func:`gradients`). One layer's
backward pass, which notebook 05 asks for, is in :mod:`source_lib.network`.
Everything is plain NumPy in float64.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "INITIALIZATIONS",
    "FloatArray",
    "forward",
    "forward_with_pre_activations",
    "gradients",
    "initialize_parameters",
    "logistic",
    "normalized_init",
    "saturation",
    "standard_init",
]

FloatArray = NDArray[np.float64]


# --------------------------------------------------------------------------- activations


def logistic(x: FloatArray) -> FloatArray:
    """Return the logistic sigmoid 1 / (1 + exp(-x)), element-wise, without overflow.

    Computed as (1 + tanh(x / 2)) / 2, which is the same function and never
    overflows for large negative inputs.

    Examples
    --------
    >>> logistic(np.array([-1e4, 0.0, 1e4])).tolist()
    [0.0, 0.5, 1.0]
    """
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def _softsign(z: FloatArray) -> FloatArray:
    # The plain formula: pre-activations are finite float64 arrays here, so the
    # input checks and the special cases of source_lib's softsign (infinities,
    # other dtypes, scalars) are not needed, and skipping them makes training
    # markedly faster on the small batches used.
    return z / (1.0 + np.abs(z))


def _softsign_derivative_from_output(a: FloatArray) -> FloatArray:
    return (1.0 - np.abs(a)) ** 2


def _tanh(x: FloatArray) -> FloatArray:
    return np.tanh(x)


def _tanh_derivative_from_output(a: FloatArray) -> FloatArray:
    return 1.0 - a * a


def _logistic_derivative_from_output(a: FloatArray) -> FloatArray:
    return a * (1.0 - a)


#: Hidden-layer activations: name -> (function, derivative written with the output a = f(z)).
HIDDEN_ACTIVATIONS: dict[str, tuple[Callable[[FloatArray], FloatArray], ...]] = {
    "softsign": (_softsign, _softsign_derivative_from_output),
    "tanh": (_tanh, _tanh_derivative_from_output),
    "logistic": (logistic, _logistic_derivative_from_output),
}


def saturation(activation: str, a: FloatArray) -> FloatArray:
    """Return how close each activation value is to the ends of its range, from 0 to 1.

    Parameters
    ----------
    activation : str
        A key of `HIDDEN_ACTIVATIONS`.
    a : ndarray
        Activation values (outputs of the hidden units).

    Returns
    -------
    ndarray
        ``|a|`` for softsign and tanh (range -1 to 1); ``|2a - 1|`` for the
        logistic sigmoid (range 0 to 1), so that 1 means saturated at either end.

    Examples
    --------
    >>> saturation("tanh", np.array([-0.95, 0.2])).tolist()
    [0.95, 0.2]
    >>> saturation("logistic", np.array([0.0, 0.5, 1.0])).tolist()
    [1.0, 0.0, 1.0]
    """
    _check_activation(activation)
    a = np.asarray(a, dtype=np.float64)
    if activation == "logistic":
        return np.abs(2.0 * a - 1.0)
    return np.abs(a)


def _check_activation(activation: str) -> None:
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {sorted(HIDDEN_ACTIVATIONS)}"
        )


# --------------------------------------------------------------------------- initialisation


def standard_init(fan_in: int, fan_out: int, rng: np.random.Generator) -> FloatArray:
    r"""Draw a weight matrix with the "standard" initialisation of Glorot & Bengio (2010).

    :math:`W_{ij} \sim U[-1/\sqrt{n}, 1/\sqrt{n}]` with :math:`n` the fan-in
    (their equation 1).

    Examples
    --------
    >>> w = standard_init(100, 3, np.random.default_rng(0))
    >>> w.shape, bool(np.abs(w).max() <= 0.1)
    ((100, 3), True)
    """
    limit = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


def normalized_init(fan_in: int, fan_out: int, rng: np.random.Generator) -> FloatArray:
    r"""Draw a weight matrix with the "normalized" (Glorot) initialisation.

    :math:`W_{ij} \sim U[-\sqrt{6}/\sqrt{n_j + n_{j+1}}, \sqrt{6}/\sqrt{n_j + n_{j+1}}]`
    (their equation 16). Glorot and Bengio derive it for units in their linear
    regime, as a compromise between two conditions that cannot both hold when
    neighbouring layers differ in width: the same variance of the activations
    in every layer (:math:`n_j \operatorname{Var} W = 1`) and the same variance
    of the back-propagated gradients (:math:`n_{j+1} \operatorname{Var} W = 1`);
    it takes :math:`\operatorname{Var} W = 2/(n_j + n_{j+1})`.

    Examples
    --------
    >>> w = normalized_init(4, 2, np.random.default_rng(0))
    >>> bool(np.abs(w).max() <= 1.0)
    True
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out))


#: Weight initialisations by name. Biases always start at 0.
INITIALIZATIONS: dict[str, Callable[[int, int, np.random.Generator], FloatArray]] = {
    "standard": standard_init,
    "normalized": normalized_init,
}


def initialize_parameters(
    layer_sizes: Sequence[int], init: str, rng: np.random.Generator
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Return weights and zero biases for consecutive layers of the given sizes.

    Examples
    --------
    >>> weights, biases = initialize_parameters([4, 3, 2], "standard", np.random.default_rng(0))
    >>> [w.shape for w in weights], [b.shape for b in biases]
    ([(4, 3), (3, 2)], [(3,), (2,)])
    """
    if init not in INITIALIZATIONS:
        raise ValueError(f"unknown init {init!r}; choose one of {sorted(INITIALIZATIONS)}")
    draw = INITIALIZATIONS[init]
    weights = [draw(n_in, n_out, rng) for n_in, n_out in itertools.pairwise(layer_sizes)]
    biases = [np.zeros(n_out) for n_out in layer_sizes[1:]]
    return weights, biases


# --------------------------------------------------------------------------- whole network


def forward(
    x: FloatArray, weights: Sequence[FloatArray], biases: Sequence[FloatArray], activation: str
) -> tuple[list[FloatArray], FloatArray]:
    """Run the network: hidden layers with ``activation``, then a softmax output.

    Returns
    -------
    hidden : list of ndarray
        The output of every hidden layer, first to last.
    probabilities : ndarray, shape (n, n_classes)
        The softmax output.
    """
    _, hidden, probabilities = forward_with_pre_activations(x, weights, biases, activation)
    return hidden, probabilities


def forward_with_pre_activations(
    x: FloatArray, weights: Sequence[FloatArray], biases: Sequence[FloatArray], activation: str
) -> tuple[list[FloatArray], list[FloatArray], FloatArray]:
    """Run the network like `forward`, and also return every hidden layer's pre-activations.

    Returns
    -------
    pre_activations : list of ndarray
        z = x @ W + b of every hidden layer, first to last.
    hidden : list of ndarray
        The output f(z) of every hidden layer, first to last.
    probabilities : ndarray, shape (n, n_classes)
        The softmax output.

    Examples
    --------
    >>> weights, biases = initialize_parameters([2, 3, 2], "standard", np.random.default_rng(0))
    >>> pre, hidden, probabilities = forward_with_pre_activations(
    ...     np.ones((4, 2)), weights, biases, "softsign"
    ... )
    >>> bool(np.allclose(hidden[0], pre[0] / (1 + np.abs(pre[0])))), probabilities.shape
    (True, (4, 2))
    """
    _check_activation(activation)
    function = HIDDEN_ACTIVATIONS[activation][0]
    pre_activations = []
    hidden = []
    a = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        z = a @ w + b
        a = function(z)
        pre_activations.append(z)
        hidden.append(a)
    logits = a @ weights[-1] + biases[-1]
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return pre_activations, hidden, exp / exp.sum(axis=1, keepdims=True)


def gradients(
    x: FloatArray,
    labels: NDArray[np.int_],
    weights: Sequence[FloatArray],
    biases: Sequence[FloatArray],
    activation: str,
) -> tuple[float, list[FloatArray], list[FloatArray], list[FloatArray]]:
    """Return the mean cross-entropy loss and its gradients.

    Returns
    -------
    loss : float
        Mean cross-entropy over the batch.
    grad_weights, grad_biases : list of ndarray
        dL/dW and dL/db for every layer (hidden layers first, output last).
    grad_pre_activations : list of ndarray
        dL/dz for every hidden layer (the back-propagated gradients of
        Glorot & Bengio, their figure 7), first to last.
    """
    hidden, probabilities = forward(x, weights, biases, activation)
    derivative = HIDDEN_ACTIVATIONS[activation][1]
    n = x.shape[0]
    rows = np.arange(n)
    loss = float(-np.log(np.maximum(probabilities[rows, labels], 1e-300)).mean())
    grad_logits = probabilities.copy()
    grad_logits[rows, labels] -= 1.0
    grad_logits /= n
    inputs = [x, *hidden]
    grad_weights = [inputs[-1].T @ grad_logits]
    grad_biases = [grad_logits.sum(axis=0)]
    grad_a = grad_logits @ weights[-1].T
    grad_pre_activations = []
    for layer in range(len(hidden) - 1, -1, -1):
        grad_pre = grad_a * derivative(hidden[layer])
        grad_pre_activations.append(grad_pre)
        grad_weights.append(inputs[layer].T @ grad_pre)
        grad_biases.append(grad_pre.sum(axis=0))
        grad_a = grad_pre @ weights[layer].T
    return loss, grad_weights[::-1], grad_biases[::-1], grad_pre_activations[::-1]
