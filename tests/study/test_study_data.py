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
    with pytest.raises(ValueError, match="Unknown dataset 'cifar'. Accepted: digits"):
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
    with pytest.raises(ValueError, match="Unknown model 'cnn'. Accepted: mlp"):
        build_model("cnn", 64, 10)
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        build_model("mlp", 64, 10, activation="swish")
