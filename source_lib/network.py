r"""A small, seeded NumPy multilayer perceptron for watching hidden layers saturate.

This module repeats, at a small scale, the saturation experiment of Glorot and
Bengio (2010): a network with five hidden layers and a softmax output is
trained with softsign, tanh or the logistic sigmoid in its hidden layers,
under the "standard" or the "normalized" (Glorot) initialisation, and the
distribution of every hidden layer's activations is recorded as training goes.
The data are scikit-learn's bundled handwritten digits (``load_digits``), so
nothing is downloaded.

The network (its activations, initialisations, forward pass and gradients) is
:mod:`source_lib.mlp`, whose names this module also exports; this module holds
the backward pass of one layer, the data and the training runs.

Everything is plain NumPy in float64 and every random draw comes from a
generator seeded by the caller, so a run repeats bit for bit on one machine.

Notes
-----
For an activation whose range is :math:`(-1, 1)` (softsign, tanh) a unit's
*saturation* is :math:`|a|`. The logistic sigmoid has range :math:`(0, 1)` and
saturates at both ends, so its saturation is measured as :math:`|2a - 1|`;
in both cases 0 is the centre of the range and 1 is full saturation. (The
paper plotted the 98th percentile and the standard deviation of the activation
values themselves; the 98th percentile of the saturation is this module's
adaptation of that measure, which counts both ends of the range.)

Saturation alone does not say how much gradient a unit passes back: the same
:math:`|a|` means different slopes for different activations (at
:math:`|a| = 0.9`, softsign' is 0.01 and tanh' is 0.19). So every record also
holds the slope :math:`f'(z)` itself, its share below a small threshold (units
that pass back almost nothing) and the size :math:`|z|` of the pre-activations.

References
----------
.. [1] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep
   feedforward neural networks", AISTATS 2010.
.. [2] J. Bergstra, G. Desjardins, P. Lamblin and Y. Bengio, "Quadratic
   polynomials learn better image features", Technical Report 1337,
   Université de Montréal, 2009.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from source_lib._types import FloatResult
from source_lib.activations import softsign, softsign_derivative_from_output
from source_lib.mlp import (
    HIDDEN_ACTIVATIONS,
    INITIALIZATIONS,
    FloatArray,
    _check_activation,
    forward,
    forward_with_pre_activations,
    gradients,
    initialize_parameters,
    logistic,
    normalized_init,
    saturation,
    standard_init,
)

# The network's private twins of the references stay reachable where they always were.
from source_lib.mlp import _softsign as _softsign
from source_lib.mlp import _softsign_derivative_from_output as _softsign_derivative_from_output
from source_lib.mlp import _tanh_derivative_from_output as _tanh_derivative_from_output

__all__ = [
    "HIDDEN_ACTIVATIONS",
    "INITIALIZATIONS",
    "DigitsData",
    "ExperimentConfig",
    "RunResult",
    "accuracy_summary",
    "forward",
    "forward_with_pre_activations",
    "gradients",
    "initialize_parameters",
    "layer_backward",
    "load_digits_arrays",
    "load_digits_data",
    "logistic",
    "normalized_init",
    "run_experiment",
    "saturation",
    "softsign_layer_backward",
    "standard_init",
    "stratified_split",
    "train",
]


# --------------------------------------------------------------------------- one layer


def layer_backward(
    x: FloatArray,
    weights: FloatArray,
    a: FloatArray,
    grad_output: FloatArray,
    derivative_from_output: Callable[[FloatArray], FloatResult],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Back-propagate through a dense layer a = f(x @ W + b), given its output ``a``.

    Parameters
    ----------
    x : ndarray, shape (n, d_in)
        The layer's input.
    weights : ndarray, shape (d_in, d_out)
        The weight matrix W.
    a : ndarray, shape (n, d_out)
        The layer's output f(x @ W + b).
    grad_output : ndarray, shape (n, d_out)
        dL/da, the gradient of the loss with respect to the output.
    derivative_from_output : callable
        f' written as a function of the output a (softsign: (1 - |a|)^2).

    Returns
    -------
    grad_x, grad_weights, grad_bias : ndarray
        dL/dx (n, d_in), dL/dW (d_in, d_out) and dL/db (d_out,).
    """
    grad_pre = grad_output * derivative_from_output(a)
    return grad_pre @ weights.T, x.T @ grad_pre, grad_pre.sum(axis=0)


def softsign_layer_backward(
    x: FloatArray, W: FloatArray, b: FloatArray, grad_output: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Return the gradients of a softsign layer a = softsign(x @ W + b).

    The reference solution of notebook 05's exercise.

    Parameters
    ----------
    x : array_like, shape (n, d_in)
        A batch of inputs, one row per example.
    W : array_like, shape (d_in, d_out)
        Weights.
    b : array_like, shape (d_out,)
        Biases.
    grad_output : array_like, shape (n, d_out)
        dL/da, the gradient of a loss L with respect to the layer's output.

    Returns
    -------
    grad_x, grad_W, grad_b : ndarray
        dL/dx, dL/dW and dL/db, with the shapes of ``x``, ``W`` and ``b``.

    Notes
    -----
    With :math:`z = xW + b` and :math:`a = \mathrm{softsign}(z)`, the chain rule
    gives :math:`\delta = \partial L/\partial z = g \odot (1 - |a|)^2`, then
    :math:`\partial L/\partial x = \delta W^\top`,
    :math:`\partial L/\partial W = x^\top \delta` and
    :math:`\partial L/\partial b = \sum_n \delta_n`.

    Examples
    --------
    >>> x = np.array([[1.0, -2.0]])
    >>> W = np.array([[1.0], [1.0]])
    >>> grad_x, grad_W, grad_b = softsign_layer_backward(x, W, np.zeros(1), np.ones((1, 1)))
    >>> grad_x.tolist(), grad_W.tolist(), grad_b.tolist()
    ([[0.25, 0.25]], [[0.25], [-0.5]], [0.25])
    """
    x, W, b, grad_output = (np.asarray(v, dtype=np.float64) for v in (x, W, b, grad_output))
    a = np.asarray(softsign(x @ W + b))
    return layer_backward(x, W, a, grad_output, softsign_derivative_from_output)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DigitsData:
    """The digits split into training and test sets, standardised with training statistics."""

    x_train: FloatArray
    y_train: NDArray[np.int_]
    x_test: FloatArray
    y_test: NDArray[np.int_]


def load_digits_arrays() -> tuple[FloatArray, NDArray[np.int_]]:
    """Return scikit-learn's bundled 8x8 digits: pixels (1797, 64) and labels (1797,).

    The same numbers as ``sklearn.datasets.load_digits()``, read straight from
    the CSV file scikit-learn ships, which spares the second or so it takes to
    import scikit-learn; when that file is not where it is expected,
    ``load_digits`` itself is used.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",", ndmin=2)
            if table.shape == (1797, 65):
                return table[:, :-1], table[:, -1].astype(np.int_)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int_)


def stratified_split(
    labels: NDArray[np.int_], test_size: float, rng: np.random.Generator
) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
    """Split indices into training and test sets with each class in the same proportion.

    The test set gets ``ceil(test_size * n)`` indices, shared out between the
    classes in proportion to their sizes (largest remainders first); which
    examples of a class go to the test set is drawn with ``rng``.

    Examples
    --------
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> train, test = stratified_split(labels, 0.5, np.random.default_rng(0))
    >>> np.bincount(labels[test]).tolist(), len(train)
    ([2, 2], 4)
    """
    classes, counts = np.unique(labels, return_counts=True)
    n_test = math.ceil(test_size * len(labels))
    exact = counts * n_test / len(labels)
    per_class = np.floor(exact).astype(int)
    order = np.argsort(-(exact - per_class), kind="stable")
    per_class[order[: n_test - per_class.sum()]] += 1
    test = []
    for label, size in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == label)
        test.append(rng.permutation(members)[:size])
    test_index = np.sort(np.concatenate(test))
    train_index = np.setdiff1d(np.arange(len(labels)), test_index)
    return rng.permutation(train_index), rng.permutation(test_index)


def load_digits_data(test_size: float = 0.25, seed: int = 0) -> DigitsData:
    """Load scikit-learn's 8x8 digits (1797 images, 10 classes) and split them, stratified.

    Each of the 64 pixel features is standardised with the training set's
    mean and standard deviation (a constant pixel keeps a scale of 1).

    Examples
    --------
    >>> data = load_digits_data()
    >>> data.x_train.shape, data.x_test.shape
    ((1347, 64), (450, 64))
    """
    pixels, labels = load_digits_arrays()
    train, test = stratified_split(labels, test_size, np.random.default_rng(seed))
    x_train, x_test = pixels[train], pixels[test]
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale == 0] = 1.0
    return DigitsData(
        (x_train - mean) / scale, labels[train], (x_test - mean) / scale, labels[test]
    )


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class ExperimentConfig:
    """Settings of one training run (the same for every activation and initialisation).

    Attributes
    ----------
    hidden_sizes : tuple of int
        Width of each hidden layer (five layers as in Glorot & Bengio).
    epochs : int
        Passes over the training set.
    batch_size : int
        Examples per stochastic gradient step.
    learning_rate : float
        Step size of plain minibatch SGD.
    records_per_epoch : int
        How many times per epoch the activations on the probe set are measured.
    percentile : float
        The percentile of the saturation distribution that is recorded (98).
    threshold : float
        A unit counts as saturated when its saturation exceeds this (0.9).
    flat_slope : float
        A unit counts as nearly dead (it passes back almost no gradient) when
        its slope f'(z) is below this (0.05).
    histogram_bins : int
        Number of bins of the final activation histograms.
    """

    hidden_sizes: tuple[int, ...] = (100, 100, 100, 100, 100)
    epochs: int = 30
    batch_size: int = 10
    learning_rate: float = 0.05
    records_per_epoch: int = 2
    percentile: float = 98.0
    threshold: float = 0.9
    flat_slope: float = 0.05
    histogram_bins: int = 50


@dataclass
class RunResult:
    """What one training run measured.

    Attributes
    ----------
    activation, init : str
        The hidden activation and the weight initialisation.
    seed : int
        Seed of the initial weights and of the order of the minibatches.
    record_epochs : ndarray, shape (n_records,)
        When the saturation was measured, in epochs (0 = at initialisation).
    percentile : ndarray, shape (n_records, n_hidden)
        The chosen percentile (98th) of the saturation of each hidden layer on the test set.
    share_saturated : ndarray, shape (n_records, n_hidden)
        The share of (unit, example) pairs of each hidden layer whose saturation
        exceeds the threshold.
    count_saturated : ndarray of int, shape (n_records, n_hidden)
        How many (unit, example) pairs of each hidden layer exceed the threshold.
    values_per_layer : ndarray of int, shape (n_hidden,)
        How many (unit, example) pairs each hidden layer has on the test set.
    mean_activation : ndarray, shape (n_records, n_hidden)
        The mean activation value of each hidden layer on the test set.
    mean_derivative : ndarray, shape (n_records, n_hidden)
        The mean slope f'(z) of each hidden layer on the test set: the factor by
        which the layer scales the gradient it passes back, on average.
    share_flat : ndarray, shape (n_records, n_hidden)
        The share of (unit, example) pairs of each hidden layer whose slope
        f'(z) is below ``config.flat_slope`` (nearly dead units).
    mean_abs_pre_activation : ndarray, shape (n_records, n_hidden)
        The mean of |z| over each hidden layer's pre-activations on the test set.
    histogram_edges : ndarray, shape (n_bins + 1,)
        Bin edges of the activation histograms (the activation's own range).
    histograms : ndarray, shape (n_hidden, n_bins)
        Density histogram of every hidden layer's activations on the test set after training.
    weight_grad_norms : ndarray, shape (n_hidden + 1,)
        Frobenius norm of dL/dW for every layer (output layer last) at initialisation,
        on the whole training set.
    backprop_grad_norms : ndarray, shape (n_hidden,)
        Frobenius norm of dL/dz for every hidden layer at initialisation (the
        back-propagated gradients), on the whole training set.
    train_loss : ndarray, shape (epochs,)
        Mean training loss over each epoch's minibatches.
    test_accuracy : float
        Share of test images classified correctly after training.
    """

    activation: str
    init: str
    seed: int
    record_epochs: FloatArray
    percentile: FloatArray
    share_saturated: FloatArray
    count_saturated: NDArray[np.int_]
    values_per_layer: NDArray[np.int_]
    mean_activation: FloatArray
    mean_derivative: FloatArray
    share_flat: FloatArray
    mean_abs_pre_activation: FloatArray
    histogram_edges: FloatArray
    histograms: FloatArray
    weight_grad_norms: FloatArray
    backprop_grad_norms: FloatArray
    train_loss: FloatArray
    test_accuracy: float
    config: ExperimentConfig = field(repr=False, default_factory=ExperimentConfig)


#: The measurements of one record, in the order `_measure` returns them.
_RECORDED = (
    "percentile",
    "share_saturated",
    "count_saturated",
    "mean_activation",
    "mean_derivative",
    "share_flat",
    "mean_abs_pre_activation",
)


def _measure(
    activation: str,
    pre_activations: list[FloatArray],
    hidden: list[FloatArray],
    config: ExperimentConfig,
) -> tuple[FloatArray, ...]:
    derivative = HIDDEN_ACTIVATIONS[activation][1]
    values = [saturation(activation, a) for a in hidden]
    slopes = [derivative(a) for a in hidden]
    return (
        np.array([np.percentile(v, config.percentile) for v in values]),
        np.array([np.mean(v > config.threshold) for v in values]),
        np.array([np.count_nonzero(v > config.threshold) for v in values]),
        np.array([a.mean() for a in hidden]),
        np.array([s.mean() for s in slopes]),
        np.array([np.mean(s < config.flat_slope) for s in slopes]),
        np.array([np.abs(z).mean() for z in pre_activations]),
    )


def _probe(
    data: DigitsData, weights: list[FloatArray], biases: list[FloatArray], activation: str
) -> tuple[list[FloatArray], list[FloatArray]]:
    pre_activations, hidden, _ = forward_with_pre_activations(
        data.x_test, weights, biases, activation
    )
    return pre_activations, hidden


def train(
    activation: str,
    init: str,
    seed: int,
    data: DigitsData,
    config: ExperimentConfig | None = None,
) -> RunResult:
    """Train one network with minibatch SGD and record its layers' saturation.

    Parameters
    ----------
    activation : str
        ``"softsign"``, ``"tanh"`` or ``"logistic"``.
    init : str
        ``"standard"`` or ``"normalized"``.
    seed : int
        Seeds both the initial weights and the shuffling of the minibatches.
    data : DigitsData
        Training and test sets (the test set is also the probe set on which
        activations are measured, as the paper used 300 fixed test examples).
    config : ExperimentConfig, optional
        Sizes and optimisation settings; the defaults when omitted.

    Returns
    -------
    RunResult
        Everything measured; the same seed gives the same result.
    """
    _check_activation(activation)
    config = config or ExperimentConfig()
    # One BLAS thread: these matrices are small, so threads only add overhead and
    # contention, and a single thread keeps the arithmetic in a fixed order.
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(activation, init, seed, data, config)


def _train(
    activation: str, init: str, seed: int, data: DigitsData, config: ExperimentConfig
) -> RunResult:
    init_rng, order_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n_classes = int(max(data.y_train.max(), data.y_test.max())) + 1
    sizes = [data.x_train.shape[1], *config.hidden_sizes, n_classes]
    weights, biases = initialize_parameters(sizes, init, init_rng)

    _, grad_w, _, grad_pre = gradients(data.x_train, data.y_train, weights, biases, activation)
    weight_grad_norms = np.array([np.linalg.norm(g) for g in grad_w])
    backprop_grad_norms = np.array([np.linalg.norm(g) for g in grad_pre])

    n_train = data.x_train.shape[0]
    n_batches = -(-n_train // config.batch_size)
    record_at = set(
        np.linspace(0, n_batches, config.records_per_epoch + 1)[1:].round().astype(int).tolist()
    )
    record_epochs = [0.0]
    records = [_measure(activation, *_probe(data, weights, biases, activation), config)]
    train_loss = np.empty(config.epochs)
    for epoch in range(config.epochs):
        order = order_rng.permutation(n_train)
        losses = []
        for batch in range(n_batches):
            index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
            loss, grad_w, grad_b, _ = gradients(
                data.x_train[index], data.y_train[index], weights, biases, activation
            )
            losses.append(loss)
            for w, g in zip(weights, grad_w, strict=True):
                w -= config.learning_rate * g
            for b, g in zip(biases, grad_b, strict=True):
                b -= config.learning_rate * g
            if batch + 1 in record_at:
                records.append(
                    _measure(activation, *_probe(data, weights, biases, activation), config)
                )
                record_epochs.append(epoch + (batch + 1) / n_batches)
        train_loss[epoch] = np.mean(losses)

    hidden, probabilities = forward(data.x_test, weights, biases, activation)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == data.y_test))
    low = 0.0 if activation == "logistic" else -1.0
    edges = np.linspace(low, 1.0, config.histogram_bins + 1)
    histograms = np.array([np.histogram(a, bins=edges, density=True)[0] for a in hidden])
    recorded = {
        name: np.array(column)
        for name, column in zip(_RECORDED, zip(*records, strict=True), strict=True)
    }
    return RunResult(
        activation=activation,
        init=init,
        seed=seed,
        record_epochs=np.array(record_epochs),
        values_per_layer=np.array([a.size for a in hidden]),
        **recorded,
        histogram_edges=edges,
        histograms=histograms,
        weight_grad_norms=weight_grad_norms,
        backprop_grad_norms=backprop_grad_norms,
        train_loss=train_loss,
        test_accuracy=accuracy,
        config=config,
    )


def run_experiment(
    activations: Iterable[str],
    inits: Iterable[str],
    seeds: Iterable[int],
    data: DigitsData | None = None,
    config: ExperimentConfig | None = None,
    progress: Callable[[RunResult, int, int], object] | None = None,
) -> list[RunResult]:
    """Train one network for every (activation, init, seed) combination, in that order.

    Parameters
    ----------
    activations, inits, seeds : iterable
        The hidden activations, initialisations and seeds to combine.
    data : DigitsData, optional
        Training and test sets; :func:`load_digits_data` when omitted.
    config : ExperimentConfig, optional
        Sizes and optimisation settings, the same for every run.
    progress : callable, optional
        Called as ``progress(result, done, total)`` as each network finishes,
        with its :class:`RunResult`, how many networks are trained so far and
        how many there are in all, so that a long experiment can show how far
        it has got. It is given no timings, so what it prints repeats exactly.

    Returns
    -------
    list of RunResult
        One per combination, activations outermost and seeds innermost.

    Examples
    --------
    >>> small = ExperimentConfig(hidden_sizes=(8, 8), epochs=1, batch_size=100)
    >>> results = run_experiment(["softsign"], ["standard", "normalized"], [0], config=small)
    >>> [(r.activation, r.init, r.seed) for r in results]
    [('softsign', 'standard', 0), ('softsign', 'normalized', 0)]
    >>> _ = run_experiment(
    ...     ["tanh"], ["standard"], [0, 1], config=small,
    ...     progress=lambda r, done, total: print(f"tanh seed {r.seed}: {done}/{total}"),
    ... )
    tanh seed 0: 1/2
    tanh seed 1: 2/2
    """
    data = data or load_digits_data()
    inits, seeds = list(inits), list(seeds)
    combinations = [
        (activation, init, seed) for activation in activations for init in inits for seed in seeds
    ]
    results = []
    for activation, init, seed in combinations:
        results.append(train(activation, init, seed, data, config))
        if progress is not None:
            progress(results[-1], len(results), len(combinations))
    return results


def accuracy_summary(results: Iterable[RunResult]) -> dict[tuple[str, str], dict[str, float]]:
    """Group runs by (activation, init) and summarise their test accuracy over seeds.

    Returns
    -------
    dict
        (activation, init) -> {"mean", "std", "min", "max", "runs"}; ``std`` is
        the population standard deviation over seeds (0 for a single seed).

    Examples
    --------
    >>> small = ExperimentConfig(hidden_sizes=(8,), epochs=1, batch_size=100)
    >>> results = run_experiment(["tanh"], ["normalized"], [0, 1], config=small)
    >>> summary = accuracy_summary(results)
    >>> list(summary), summary["tanh", "normalized"]["runs"]
    ([('tanh', 'normalized')], 2)
    """
    groups: dict[tuple[str, str], list[float]] = {}
    for result in results:
        groups.setdefault((result.activation, result.init), []).append(result.test_accuracy)
    return {
        key: {
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "min": float(np.min(values)),
            "max": float(np.max(values)),
            "runs": len(values),
        }
        for key, values in groups.items()
    }
