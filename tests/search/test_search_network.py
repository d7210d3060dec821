"""The flat-vector networks: gradients, batching, initial weights."""

import numpy as np
import pytest

import initlab
from initlab.search import Network


def _numeric_grad(net, theta, x, y, eps=1e-6):
    grad = np.zeros_like(theta)
    for i in range(theta.shape[1]):
        step = np.zeros(theta.shape[1])
        step[i] = eps
        up, down = net.loss(theta + step, x, y), net.loss(theta - step, x, y)
        grad[:, i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize(
    "net, n_classes",
    [
        (Network((2, 3, 1)), 2),
        (Network((4, 5, 3, 1), activation="sigmoid"), 2),
        (Network((4, 5, 3), output="softmax"), 3),
    ],
    ids=["tanh-sigmoid", "sigmoid-deep", "softmax"],
)
def test_gradient_matches_finite_differences(net, n_classes):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, net.sizes[0]))
    labels = rng.integers(0, n_classes, 7)
    y = labels.astype(float) if net.output == "sigmoid" else labels
    theta = rng.normal(size=(3, net.n_weights))
    loss, grad = net.loss_and_grad(theta, x, y)
    np.testing.assert_array_equal(loss, net.loss(theta, x, y))
    np.testing.assert_allclose(grad, _numeric_grad(net, theta, x, y), atol=1e-7)


def test_loss_and_gradient_match_torch():
    torch = pytest.importorskip("torch")
    net = Network((3, 4, 2), output="softmax")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    theta = rng.normal(size=(1, net.n_weights))
    loss, grad = net.loss_and_grad(theta, x, y)

    flat = torch.tensor(theta[0], requires_grad=True)
    k1, b1 = flat[:12].reshape(3, 4), flat[12:16]
    k2, b2 = flat[16:24].reshape(4, 2), flat[24:26]
    logits = torch.tanh(torch.tensor(x) @ k1 + b1) @ k2 + b2
    reference = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    reference.backward()
    assert loss[0] == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(grad[0], flat.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_a_row_gives_the_same_bits_alone_or_in_a_batch():
    net = Network((2, 8, 1))
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 2)), np.array([0.0, 1.0, 1.0, 0.0])
    theta = rng.normal(size=(10, net.n_weights))
    loss, grad = net.loss_and_grad(theta, x, y)
    alone_loss, alone_grad = net.loss_and_grad(theta[6:7], x, y)
    assert alone_loss[0] == loss[6]
    np.testing.assert_array_equal(alone_grad[0], grad[6])


def test_per_row_minibatches_equal_the_shared_batch():
    net = Network((2, 3, 1))
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(4, 2)), np.array([0.0, 1.0, 1.0, 0.0])
    theta = rng.normal(size=(2, net.n_weights))
    shared = net.loss_and_grad(theta, x, y)
    per_row = net.loss_and_grad(theta, np.stack([x, x]), np.stack([y, y]))
    np.testing.assert_array_equal(shared[0], per_row[0])
    np.testing.assert_array_equal(shared[1], per_row[1])


def test_initial_weights_come_from_the_named_streams():
    net = Network((2, 2, 1))
    init = initlab.get("glorot_uniform")
    theta = net.initial_weights(init, seed=5)
    assert [name for name, _ in net.parameters] == [
        "dense1.kernel",
        "dense1.bias",
        "dense2.kernel",
        "dense2.bias",
    ]
    kernel = init.sample((2, 2), "float64", name="dense1.kernel", seed=5)
    np.testing.assert_array_equal(theta[:4], kernel.ravel())
    np.testing.assert_array_equal(theta[4:6], 0.0)
    np.testing.assert_array_equal(theta[8:], 0.0)
    assert not np.array_equal(theta, net.initial_weights(init, seed=5, prefix="r1."))


def test_a_diverged_network_gives_a_result_not_a_warning():
    net = Network((2, 2, 1))
    theta = np.full((1, net.n_weights), np.inf)
    loss = net.loss(theta, np.ones((4, 2)), np.zeros(4))
    assert not np.isfinite(loss[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sizes": (2,)}, "at least two"),
        ({"sizes": (2, 2, 1), "activation": "relu"}, "Accepted: tanh, sigmoid"),
        ({"sizes": (2, 2, 1), "output": "linear"}, "Accepted: sigmoid, softmax"),
        ({"sizes": (2, 2, 3)}, "one unit"),
    ],
)
def test_bad_networks_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Network(**kwargs)
