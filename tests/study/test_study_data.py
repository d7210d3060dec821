"""The digits split, the per-epoch data order, and the MLP."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from initlab import seeds
from initlab.study.datasets import epoch_order, load_dataset
from initlab.study.models import build_model


def test_digits_split_is_sklearns_stratified_80_20():
    data = load_dataset("digits", 0)
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.2, stratify=digits.target,
        random_state=0)
    assert (len(data.y_train), len(data.y_test)) == (1437, 360)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_test, y_test)
    np.testing.assert_array_equal(data.x_test, x_test.astype(np.float32))
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert (data.n_features, data.n_classes) == (64, 10)
    # Stratified: every class holds 20 % of its examples out, to within one.
    for label in range(10):
        total = np.sum(digits.target == label)
        assert abs(np.sum(data.y_test == label) - 0.2 * total) <= 1


def test_split_seed_changes_the_split_only_when_asked():
    assert load_dataset("digits", 0) is load_dataset("digits", 0)
    other = load_dataset("digits", 1)
    assert not np.array_equal(other.y_test, load_dataset("digits", 0).y_test)


def test_dataset_arrays_are_read_only():
    with pytest.raises(ValueError):
        load_dataset("digits", 0).x_train[0, 0] = 1.0


def test_unknown_dataset_lists_the_accepted_ones():
    with pytest.raises(ValueError, match="Unknown --dataset 'cifar'. Accepted: "
                       "digits, mnist1d, breast_cancer, wine, iris, or the path"):
        load_dataset("cifar")


def test_epoch_order_is_the_permutation_of_the_named_stream():
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        7, spawn_key=seeds.name_key("data/epoch/3")))).permutation(1437)
    np.testing.assert_array_equal(epoch_order(7, 3, 1437), expected)
    assert sorted(epoch_order(7, 3, 1437)) == list(range(1437))
    assert not np.array_equal(epoch_order(7, 3, 1437), epoch_order(7, 4, 1437))
    assert not np.array_equal(epoch_order(7, 3, 1437), epoch_order(8, 3, 1437))


@pytest.mark.parametrize("activation, module", [
    ("relu", torch.nn.ReLU), ("tanh", torch.nn.Tanh), ("sigmoid", torch.nn.Sigmoid),
    ("selu", torch.nn.SELU), ("gelu", torch.nn.GELU), ("linear", torch.nn.Identity),
])
def test_mlp_layers(activation, module):
    model = build_model("mlp", 64, 10, depth=3, width=32, activation=activation)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["hidden1.weight", "hidden1.bias", "hidden2.weight",
                     "hidden2.bias", "hidden3.weight", "hidden3.bias",
                     "output.weight", "output.bias"]
    assert isinstance(model.act1, module)
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())


def test_depth_zero_is_a_linear_classifier():
    model = build_model("mlp", 64, 10, depth=0)
    assert [name for name, _ in model.named_parameters()] == [
        "output.weight", "output.bias"]


def test_building_a_model_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    build_model("mlp", 64, 10)
    assert torch.equal(state, torch.get_rng_state())


def test_unknown_model_and_activation():
    with pytest.raises(ValueError, match="Unknown model 'resnet'. Accepted: mlp, cnn"):
        build_model("resnet", 64, 10)
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        build_model("mlp", 64, 10, activation="swish")


# ------------------------------------------------------------------- MNIST-1D


def _published_mnist1d():
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())


def test_mnist1d_is_the_packages_default_generation_split_80_20():
    data = load_dataset("mnist1d", 0)
    assert (data.x_train.shape, data.x_test.shape) == ((4000, 40), (1000, 40))
    assert (data.shape, data.kind, data.n_classes) == ((40,), "signal", 10)
    state = np.random.get_state()
    published = _published_mnist1d()  # seeds NumPy's global state: put it back
    np.random.set_state(state)
    pooled = np.concatenate([published["x"], published["x_test"]]).astype(np.float32)
    labels = np.concatenate([published["y"], published["y_test"]])
    ours = np.concatenate([data.x_train, data.x_test])
    # The same 5,000 signals (as a set of rows) with the same labels.
    order = np.lexsort(pooled.T[::-1])
    mine = np.lexsort(ours.T[::-1])
    np.testing.assert_array_equal(ours[mine], pooled[order])
    np.testing.assert_array_equal(
        np.concatenate([data.y_train, data.y_test])[mine], labels[order])
    for label in range(10):  # stratified
        assert abs(np.sum(data.y_test == label) - 0.2 * np.sum(labels == label)) <= 1


def test_mnist1d_restores_global_random_state_and_never_downloads(monkeypatch):
    import random

    import mnist1d.data

    from initlab.study import datasets

    def no_download(*args, **kwargs):
        raise AssertionError("the downloader was called")

    monkeypatch.setattr(mnist1d.data, "get_dataset", no_download)
    monkeypatch.setattr(mnist1d.data.requests, "get", no_download)
    monkeypatch.setattr(datasets, "_RAW", {})
    monkeypatch.setattr(datasets, "_CACHE", {})
    random.seed(1234)
    np.random.seed(4321)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    assert load_dataset("mnist1d", 3).x_train.shape == (4000, 40)
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


def test_mnist1d_silences_only_scipys_interp1d_deprecation(monkeypatch):
    import warnings

    import mnist1d.data

    from initlab.study import datasets

    def generator(args):
        warnings.warn("`interp1d` is deprecated in SciPy 1.x", DeprecationWarning,
                      stacklevel=2)
        warnings.warn("something else is deprecated", DeprecationWarning,
                      stacklevel=2)
        return {"x": np.zeros((40, 40)), "x_test": np.zeros((10, 40)),
                "y": np.arange(40) % 10, "y_test": np.arange(10)}

    monkeypatch.setattr(mnist1d.data, "make_dataset", generator)
    monkeypatch.setattr(datasets, "_RAW", {})
    monkeypatch.setattr(datasets, "_CACHE", {})
    with pytest.warns(DeprecationWarning) as caught:
        load_dataset("mnist1d", 0)
    assert [str(w.message) for w in caught] == ["something else is deprecated"]


# -------------------------------------------------------------------- tables


@pytest.mark.parametrize("name, n, features, classes", [
    ("breast_cancer", 569, 30, 2), ("wine", 178, 13, 3), ("iris", 150, 4, 3)])
def test_tables_are_standardized_with_training_statistics(name, n, features, classes):
    from sklearn import datasets as sk

    data = load_dataset(name, 0)
    bunch = getattr(sk, f"load_{name}")()
    assert len(data.y_train) + len(data.y_test) == n
    assert (data.shape, data.kind, data.n_classes) == ((features,), "table", classes)
    x_train, x_test, y_train, _ = train_test_split(
        bunch.data, bunch.target, test_size=0.2, stratify=bunch.target,
        random_state=0)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_allclose(data.x_train, (x_train - mean) / std, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(data.x_test, (x_test - mean) / std, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-4)


def test_digits_is_an_8x8_image():
    data = load_dataset("digits", 0)
    assert (data.shape, data.kind) == ((8, 8), "image")
