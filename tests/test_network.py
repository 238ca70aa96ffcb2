"""The small MLP of notebook 05: gradients, initialisations, determinism, measurements."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from source_lib import softsign, softsign_derivative
from source_lib.grading.framework import CheckFailure
from source_lib.grading.network_exercise import (
    _check_case,
    check_softsign_layer_backward,
    numerical_layer_gradients,
)
from source_lib.network import (
    HIDDEN_ACTIVATIONS,
    ExperimentConfig,
    accuracy_summary,
    forward,
    forward_with_pre_activations,
    gradients,
    initialize_parameters,
    load_digits_arrays,
    load_digits_data,
    logistic,
    normalized_init,
    run_experiment,
    saturation,
    softsign_layer_backward,
    standard_init,
    stratified_split,
    train,
)
from source_lib.network import softsign_layer_backward as reference_backward

TINY = ExperimentConfig(hidden_sizes=(12, 12, 12), epochs=2, batch_size=50, learning_rate=0.1)


@pytest.fixture(scope="module")
def data():
    return load_digits_data()


def _numerical_gradient(loss, value, h=1e-6):
    """Central differences of a scalar function of an array, entry by entry."""
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        saved = value[index]
        value[index] = saved + h
        up = loss()
        value[index] = saved - h
        down = loss()
        value[index] = saved
        grad[index] = (up - down) / (2 * h)
    return grad


# --------------------------------------------------------------------------- activations


def test_logistic_is_the_logistic_sigmoid_without_overflow():
    x = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    with np.errstate(all="raise"):
        got = logistic(x)
    expected = np.array([0.0, 1 / (1 + np.exp(3.0)), 0.5, 1 / (1 + np.exp(-2.0)), 1.0])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", sorted(HIDDEN_ACTIVATIONS))
def test_derivative_from_output_matches_finite_differences(name):
    function, derivative = HIDDEN_ACTIVATIONS[name]
    z = np.linspace(-4, 4, 81)
    z = z[np.abs(z) > 1e-3]  # softsign's second derivative jumps at 0; stay off it
    numerical = (function(z + 1e-6) - function(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(derivative(function(z)), numerical, rtol=1e-6, atol=1e-10)


def test_the_networks_softsign_is_the_librarys_on_finite_floats():
    z = np.random.default_rng(2).normal(size=(50, 7)) * 10.0 ** np.arange(-3, 4)
    function, derivative = HIDDEN_ACTIVATIONS["softsign"]
    np.testing.assert_array_equal(function(z), softsign(z))
    np.testing.assert_allclose(derivative(function(z)), softsign_derivative(z), rtol=1e-12)


def test_saturation_maps_both_ranges_onto_zero_to_one():
    np.testing.assert_array_equal(saturation("softsign", np.array([-0.7, 0.0, 0.3])), [0.7, 0, 0.3])
    np.testing.assert_allclose(saturation("logistic", np.array([0.05, 0.5, 0.95])), [0.9, 0, 0.9])
    with pytest.raises(ValueError, match="unknown activation"):
        saturation("relu", np.zeros(2))


# --------------------------------------------------------------------------- initialisation


def test_standard_and_normalized_init_have_the_papers_ranges_and_variances():
    rng = np.random.default_rng(1)
    w = standard_init(400, 300, rng)
    assert np.abs(w).max() <= 1 / np.sqrt(400)
    assert w.var() == pytest.approx(1 / (3 * 400), rel=0.02)
    w = normalized_init(400, 300, rng)
    assert np.abs(w).max() <= np.sqrt(6 / 700)
    assert w.var() == pytest.approx(2 / 700, rel=0.02)


def test_initialize_parameters_is_seeded_and_validates_the_name():
    first = initialize_parameters([5, 4, 3], "normalized", np.random.default_rng(3))
    second = initialize_parameters([5, 4, 3], "normalized", np.random.default_rng(3))
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(not b.any() for b in first[1])
    with pytest.raises(ValueError, match="unknown init"):
        initialize_parameters([2, 2], "he", np.random.default_rng(0))


# --------------------------------------------------------------------------- gradients


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 4),
    d_in=st.integers(1, 4),
    d_out=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.1, 1.0, 5.0]),
)
def test_softsign_layer_backward_matches_a_numerical_gradient(n, d_in, d_out, seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d_in)) * scale
    w = rng.normal(size=(d_in, d_out))
    b = rng.normal(size=d_out)
    upstream = rng.normal(size=(n, d_out))
    copies = [v.copy() for v in (x, w, b, upstream)]

    def loss():
        z = x @ w + b
        return float(np.sum(upstream * z / (1 + np.abs(z))))

    grad_x, grad_w, grad_b = softsign_layer_backward(x, w, b, upstream)
    for value, original in zip((x, w, b, upstream), copies, strict=True):
        np.testing.assert_array_equal(value, original)
    for analytic, value in ((grad_x, x), (grad_w, w), (grad_b, b)):
        assert analytic.shape == value.shape
        np.testing.assert_allclose(analytic, _numerical_gradient(loss, value), atol=1e-7)


def test_softsign_layer_backward_on_an_empty_batch():
    grad_x, grad_w, grad_b = softsign_layer_backward(
        np.zeros((0, 3)), np.ones((3, 2)), np.zeros(2), np.zeros((0, 2))
    )
    assert grad_x.shape == (0, 3)
    np.testing.assert_array_equal(grad_w, np.zeros((3, 2)))
    np.testing.assert_array_equal(grad_b, np.zeros(2))


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_network_gradients_match_a_numerical_gradient(activation):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 5))
    labels = rng.integers(0, 3, size=6)
    weights, biases = initialize_parameters([5, 4, 4, 3], "normalized", rng)
    biases = [rng.normal(size=b.shape) * 0.1 for b in biases]
    _, grad_w, grad_b, grad_pre = gradients(x, labels, weights, biases, activation)
    assert [g.shape for g in grad_pre] == [(6, 4), (6, 4)]

    def loss():
        return gradients(x, labels, weights, biases, activation)[0]

    for analytic, value in zip(grad_w + grad_b, weights + biases, strict=True):
        np.testing.assert_allclose(analytic, _numerical_gradient(loss, value), atol=1e-8)


def test_forward_returns_every_hidden_layer_and_probabilities():
    rng = np.random.default_rng(0)
    weights, biases = initialize_parameters([3, 4, 5, 2], "standard", rng)
    hidden, probabilities = forward(rng.normal(size=(7, 3)) * 1e3, weights, biases, "tanh")
    assert [h.shape for h in hidden] == [(7, 4), (7, 5)]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert np.isfinite(probabilities).all()


# --------------------------------------------------------------------------- data and training


def test_digits_are_split_stratified_and_standardised(data):
    assert data.x_train.shape == (1347, 64)
    assert data.x_test.shape == (450, 64)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-12)
    test_counts = np.bincount(data.y_test)
    all_counts = test_counts + np.bincount(data.y_train)
    np.testing.assert_allclose(test_counts / all_counts, 0.25, atol=0.006)


def test_the_bundled_digits_are_read_as_load_digits_gives_them():
    from sklearn.datasets import load_digits

    pixels, labels = load_digits_arrays()
    digits = load_digits()
    np.testing.assert_array_equal(pixels, digits.data)
    np.testing.assert_array_equal(labels, digits.target)


@settings(max_examples=30, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=60),
    test_size=st.floats(0.05, 0.95),
    seed=st.integers(0, 1000),
)
def test_stratified_split_partitions_and_keeps_proportions(labels, test_size, seed):
    labels = np.array(labels)
    train, test = stratified_split(labels, test_size, np.random.default_rng(seed))
    assert len(test) == math.ceil(test_size * len(labels))
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    for label in np.unique(labels):
        share = np.sum(labels == label) * len(test) / len(labels)
        assert abs(np.sum(labels[test] == label) - share) < 1
    again = stratified_split(labels, test_size, np.random.default_rng(seed))
    np.testing.assert_array_equal(again[1], test)


def test_training_is_deterministic_per_seed(data):
    first = train("softsign", "standard", 3, data, TINY)
    again = train("softsign", "standard", 3, data, TINY)
    other = train("softsign", "standard", 4, data, TINY)
    for field in (
        "percentile",
        "share_saturated",
        "mean_activation",
        "mean_derivative",
        "histograms",
        "train_loss",
    ):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert first.test_accuracy == again.test_accuracy
    assert not np.array_equal(first.train_loss, other.train_loss)


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_a_run_records_what_the_notebook_plots(data, activation):
    config = ExperimentConfig(hidden_sizes=(10, 10), epochs=3, batch_size=64, records_per_epoch=2)
    result = train(activation, "normalized", 0, data, config)
    n_records = 1 + config.epochs * config.records_per_epoch
    np.testing.assert_allclose(result.record_epochs, np.linspace(0, 3, n_records))
    for field in (
        "percentile",
        "share_saturated",
        "count_saturated",
        "mean_activation",
        "mean_derivative",
        "share_flat",
        "mean_abs_pre_activation",
    ):
        assert getattr(result, field).shape == (n_records, 2)
    assert ((result.percentile >= 0) & (result.percentile <= 1)).all()
    for field in ("share_saturated", "share_flat"):
        assert ((getattr(result, field) >= 0) & (getattr(result, field) <= 1)).all()
    highest_slope = 0.25 if activation == "logistic" else 1.0
    assert ((result.mean_derivative > 0) & (result.mean_derivative <= highest_slope)).all()
    assert result.values_per_layer.tolist() == [len(data.y_test) * 10] * 2
    np.testing.assert_array_equal(
        result.count_saturated, np.round(result.share_saturated * result.values_per_layer)
    )
    widths = np.diff(result.histogram_edges)
    np.testing.assert_allclose(result.histograms @ widths, 1.0)
    low = 0.0 if activation == "logistic" else -1.0
    assert (result.histogram_edges[0], result.histogram_edges[-1]) == (low, 1.0)
    assert result.weight_grad_norms.shape == (3,)
    assert result.backprop_grad_norms.shape == (2,)
    assert result.train_loss.shape == (3,)


def test_measurements_match_a_direct_computation(data):
    config = ExperimentConfig(hidden_sizes=(16, 16), epochs=0)
    result = train("tanh", "standard", 5, data, config)
    init_rng = np.random.default_rng(np.random.SeedSequence(5).spawn(2)[0])
    weights, biases = initialize_parameters([64, 16, 16, 10], "standard", init_rng)
    hidden, probabilities = forward(data.x_test, weights, biases, "tanh")
    pre_activations, hidden_again, _ = forward_with_pre_activations(
        data.x_test, weights, biases, "tanh"
    )
    for layer, values in enumerate(hidden):
        np.testing.assert_array_equal(hidden_again[layer], values)
        np.testing.assert_allclose(np.tanh(pre_activations[layer]), values)
        slope = 1 / np.cosh(pre_activations[layer]) ** 2
        assert result.percentile[0, layer] == pytest.approx(np.percentile(np.abs(values), 98))
        assert result.share_saturated[0, layer] == pytest.approx(np.mean(np.abs(values) > 0.9))
        assert result.count_saturated[0, layer] == np.count_nonzero(np.abs(values) > 0.9)
        assert result.mean_derivative[0, layer] == pytest.approx(slope.mean())
        assert result.share_flat[0, layer] == pytest.approx(np.mean(slope < 0.05))
        assert result.mean_abs_pre_activation[0, layer] == pytest.approx(
            np.abs(pre_activations[layer]).mean()
        )
    assert result.test_accuracy == pytest.approx(np.mean(probabilities.argmax(1) == data.y_test))
    _, grad_w, _, grad_pre = gradients(data.x_train, data.y_train, weights, biases, "tanh")
    np.testing.assert_allclose(result.weight_grad_norms, [np.linalg.norm(g) for g in grad_w])
    np.testing.assert_allclose(result.backprop_grad_norms, [np.linalg.norm(g) for g in grad_pre])


def test_a_short_training_learns_the_digits(data):
    config = ExperimentConfig(hidden_sizes=(32, 32), epochs=4, batch_size=20, learning_rate=0.1)
    result = train("softsign", "normalized", 0, data, config)
    assert result.train_loss[-1] < result.train_loss[0]
    assert result.test_accuracy > 0.85


@pytest.mark.parametrize("activation", ["softsign", "tanh"])
def test_normalized_init_evens_out_backpropagated_gradients(data, activation):
    """Glorot & Bengio's point: with normalized init the layers' gradients stay comparable."""
    config = ExperimentConfig(hidden_sizes=(64,) * 5, epochs=0)
    spread = {}
    for init in ("standard", "normalized"):
        norms = train(activation, init, 0, data, config).backprop_grad_norms
        spread[init] = norms.max() / norms.min()
    assert spread["normalized"] < spread["standard"] / 2


def test_run_experiment_and_accuracy_summary(data):
    results = run_experiment(["tanh", "softsign"], ["standard"], [0, 1], data, TINY)
    assert [(r.activation, r.seed) for r in results] == [
        ("tanh", 0),
        ("tanh", 1),
        ("softsign", 0),
        ("softsign", 1),
    ]
    summary = accuracy_summary(results)
    accuracies = [r.test_accuracy for r in results[:2]]
    assert summary["tanh", "standard"] == {
        "mean": pytest.approx(np.mean(accuracies)),
        "std": pytest.approx(np.std(accuracies)),
        "min": min(accuracies),
        "max": max(accuracies),
        "runs": 2,
    }


def test_run_experiment_reports_each_network_as_it_finishes(data):
    seen = []
    results = run_experiment(
        ["tanh", "softsign"],
        iter(["standard", "normalized"]),
        iter([0, 1]),
        data,
        TINY,
        progress=lambda result, done, total: seen.append((result, done, total)),
    )
    assert len(results) == 8
    assert [done for _, done, _ in seen] == list(range(1, 9))
    assert {total for _, _, total in seen} == {8}
    assert all(result is results[done - 1] for result, done, _ in seen)


def test_unknown_activation_is_refused(data):
    with pytest.raises(ValueError, match="unknown activation"):
        train("relu", "standard", 0, data, TINY)


# --------------------------------------------------------------------------- the grader


def _unwrapped(failure):
    """A failure message with its line wrapping undone (messages wrap at 79 columns)."""
    return " ".join(str(failure).split())


def _backward_with(derivative, *, grad_b=lambda delta: delta.sum(axis=0)):
    def backward(x, W, b, grad_output):
        z = np.asarray(x, dtype=float) @ W + b
        delta = grad_output * derivative(z)
        return delta @ np.transpose(W), np.transpose(x) @ delta, grad_b(delta)

    return backward


def _from_output(x, W, b, grad_output):
    a = softsign(x @ W + b)
    delta = grad_output * (1 - np.abs(a)) ** 2
    return [delta @ W.T, x.T @ delta, delta.sum(axis=0)]


def _with_einsum(x, W, b, grad_output):
    from source_lib import softsign_derivative

    delta = grad_output * softsign_derivative(np.einsum("ni,ij->nj", x, W) + b)
    return (
        np.einsum("nj,ij->ni", delta, W),
        np.einsum("ni,nj->ij", x, delta),
        np.einsum("nj->j", delta),
    )


CORRECT = {
    "quotient rule": _backward_with(lambda z: 1 / (1 + np.abs(z)) ** 2),
    "output identity": _from_output,
    "source_lib derivative, einsum": _with_einsum,
}


@pytest.mark.parametrize("group", ["values", "arrays", "hidden"])
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_check_accepts_correct_backward_passes(name, group):
    check_softsign_layer_backward(CORRECT[name], group)


@pytest.mark.parametrize("run", range(5))
def test_check_accepts_correct_code_whatever_the_random_cases(run):
    """Every run draws fresh hidden cases (as the judge does in every grading run)."""
    for backward in CORRECT.values():
        check_softsign_layer_backward(backward, "hidden")


WRONG = [
    (_backward_with(np.ones_like), "derivative of softsign is missing"),
    (_backward_with(lambda z: 1 / (1 + np.abs(z))), "is the square missing"),
    (_backward_with(lambda z: 1 / (1 + z) ** 2), "wrong where z < 0"),
    (_backward_with(lambda z: 1 / (1 + np.abs(softsign(z))) ** 2), "evaluated at the output"),
    (_backward_with(lambda z: 1 - softsign(z) ** 2), "tanh's derivative"),
    (_backward_with(lambda z: (1 - np.abs(z)) ** 2), r"needs the output a = softsign\(z\), not z"),
    (
        _backward_with(lambda z: 1 / (1 + np.abs(z)) ** 2, grad_b=lambda d: d.mean(axis=0)),
        "SUM of delta",
    ),
    (lambda x, W, b, g: _from_output(x, W, b, g)[:2], "return grad_x, grad_W, grad_b"),
    (
        lambda x, W, b, g: (lambda gx, gw, gb: (gx, gw.T, gb))(*_from_output(x, W, b, g)),
        "grad_W has the shape of W",
    ),
]


@pytest.mark.parametrize(("func", "hint"), WRONG)
def test_check_rejects_common_mistakes_with_a_hint(func, hint):
    with pytest.raises(CheckFailure) as failure:
        check_softsign_layer_backward(func, "values")
    assert re.search(hint, _unwrapped(failure.value))


def test_check_names_the_wrong_gradient_entry_not_an_input_entry():
    def doubled_bias_gradient(x, W, b, grad_output):
        grad_x, grad_w, grad_b = _from_output(x, W, b, grad_output)
        return grad_x, grad_w, 2 * grad_b

    with pytest.raises(CheckFailure) as failure:
        check_softsign_layer_backward(doubled_bias_gradient, "values")
    message = _unwrapped(failure.value)
    assert "first wrong entry: grad_b[0]" in message
    assert "b[0] =" not in message
    assert "expected: 0.16" in message
    assert "got: 0.32" in message


def _uses_undefined(name):
    namespace = {"np": np}
    exec(
        f"def backward(x, W, b, grad_output):\n    {name}(x @ W + b)\n    return x, W, b\n",
        namespace,
    )
    return namespace["backward"]


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("softsign", "the Setup cell runs `from source_lib import softsign, softsign_derivative`"),
        ("softsign_derivative_from_output", "defined in the cell above the exercise"),
        ("tanh_derivative", "add `from source_lib import tanh_derivative`"),
        ("z", "`z` is used before it is computed"),
        ("my_helper", "`my_helper` is not defined: define it inside your function"),
    ],
)
def test_check_says_where_an_undefined_name_comes_from(name, hint):
    with pytest.raises(CheckFailure) as failure:
        check_softsign_layer_backward(_uses_undefined(name), "values")
    message = _unwrapped(failure.value)
    assert f"NameError: name '{name[:10]}" in message
    assert hint in message
    assert message.count("hint:") == 1


def test_check_explains_a_missing_transpose():
    def backward(x, W, b, grad_output):
        _, grad_w, grad_b = _from_output(x, W, b, grad_output)
        delta = grad_output * (1 - np.abs(softsign(x @ W + b))) ** 2
        return delta @ W, grad_w, grad_b

    with pytest.raises(CheckFailure, match=r"matmul(.|\n)*grad_x = delta @ W\.T"):
        check_softsign_layer_backward(backward, "values")
    square = (np.eye(2) + 0.5, np.array([[1.0, -2.0], [0.5, 1.0]]), np.zeros(2), np.ones((2, 2)))
    with pytest.raises(CheckFailure, match=r"grad_x = delta @ W\.T"):
        _check_case(backward, square)


def test_check_rejects_mutation_and_missing_code():
    def in_place(x, W, b, grad_output):
        grad_output *= (1 - np.abs(softsign(x @ W + b))) ** 2
        return grad_output @ W.T, x.T @ grad_output, grad_output.sum(axis=0)

    def unfinished(x, W, b, grad_output):
        raise NotImplementedError

    with pytest.raises(CheckFailure, match="modified its input array grad_output"):
        check_softsign_layer_backward(in_place, "arrays")
    with pytest.raises(CheckFailure, match="not implemented yet"):
        check_softsign_layer_backward(unfinished, "values")


def test_check_keeps_hidden_inputs_hidden():
    def wrong_for_float32(x, W, b, grad_output):
        result = _from_output(x, W, b, grad_output)
        return [r * (1.5 if x.dtype == np.float32 else 1.0) for r in result]

    with pytest.raises(CheckFailure) as failure:
        check_softsign_layer_backward(wrong_for_float32, "hidden")
    message = str(failure.value)
    assert "a hidden case" in message
    assert "float32 array of shape" in message
    assert "expected:" not in message


def test_numerical_layer_gradients_agree_with_the_reference():
    rng = np.random.default_rng(11)
    x, W, b, g = (
        rng.normal(size=(4, 3)),
        rng.normal(size=(3, 2)),
        rng.normal(size=2),
        rng.normal(size=(4, 2)),
    )
    for numerical, analytic in zip(
        numerical_layer_gradients(x, W, b, g), reference_backward(x, W, b, g), strict=True
    ):
        np.testing.assert_allclose(numerical, analytic, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(
    ("func", "hint"),
    [
        (_backward_with(lambda z: (1 - np.abs(z)) ** 2), "needs the output a = softsign(z)"),
        (_uses_undefined("softsign"), "the Setup cell runs `from source_lib import softsign,"),
    ],
)
def test_the_judge_gives_the_new_hints_as_the_check_does(func, hint):
    """Through the judge's wire (plan, kernel outcomes, replay) the message is the same."""
    from test_judge import direct, judge

    for group in ("values", "arrays", "hidden_values", "hidden_arrays"):
        message = judge(check_softsign_layer_backward, func, group)
        assert message == direct(check_softsign_layer_backward, func, group)
        assert hint in " ".join(message.split())
