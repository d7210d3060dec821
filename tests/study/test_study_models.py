"""The CNN and the LSTM: layers, names, shapes, and what initialize writes into them."""

import numpy as np
import pytest
import torch

import initlab
from initlab.study.models import build_model
from initlab.torch import initialize


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_cnn_on_images_is_a_named_conv2d_stack_with_a_dense_head():
    model = build_model("cnn", 64, 10, depth=2, width=8, input_shape=(8, 8))
    assert [(n, tuple(p.shape)) for n, p in model.named_parameters()] == [
        ("conv1.weight", (8, 1, 3, 3)), ("conv1.bias", (8,)),
        ("conv2.weight", (8, 8, 3, 3)), ("conv2.bias", (8,)),
        ("dense.weight", (8, 8 * 2 * 2)), ("dense.bias", (8,)),  # 8 -> 4 -> 2
        ("output.weight", (10, 8)), ("output.bias", (10,))]
    assert isinstance(model.conv1, torch.nn.Conv2d) and model.conv1.padding == (1, 1)
    assert isinstance(model.pool2, torch.nn.MaxPool2d)
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_cnn_on_signals_uses_conv1d_and_stops_pooling_at_width_one():
    model = build_model("cnn", 40, 10, depth=2, width=4, input_shape=(40,),
                        input_kind="signal")
    assert isinstance(model.conv2, torch.nn.Conv1d)
    assert model.dense.in_features == 4 * 10  # 40 -> 20 -> 10
    deep = build_model("cnn", 64, 10, depth=4, width=4, input_shape=(8, 8))
    assert [n for n, _ in deep.named_children() if n.startswith("pool")] == [
        "pool1", "pool2", "pool3"]  # 8 -> 4 -> 2 -> 1, then no more pooling
    assert deep(torch.zeros(2, 64)).shape == (2, 10)


def test_cnn_reads_channels_first_images():
    model = build_model("cnn", 3 * 4 * 4, 2, depth=1, width=5, input_shape=(3, 4, 4))
    assert model.conv1.in_channels == 3
    assert model(torch.zeros(2, 48)).shape == (2, 2)


def test_lstm_reads_rows_as_steps_and_its_last_state_feeds_the_head():
    model = build_model("lstm", 64, 10, depth=2, width=16, input_shape=(8, 8))
    assert [(n, tuple(p.shape)) for n, p in model.named_parameters()] == [
        ("lstm.weight_ih_l0", (64, 8)), ("lstm.weight_hh_l0", (64, 16)),
        ("lstm.bias_ih_l0", (64,)), ("lstm.bias_hh_l0", (64,)),
        ("lstm.weight_ih_l1", (64, 16)), ("lstm.weight_hh_l1", (64, 16)),
        ("lstm.bias_ih_l1", (64,)), ("lstm.bias_hh_l1", (64,)),
        ("dense.weight", (16, 16)), ("dense.bias", (16,)),
        ("output.weight", (10, 16)), ("output.bias", (10,))]
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    states, _ = model.lstm(x.reshape(3, 8, 8))  # step t is row t of the image
    expected = model.output(model.dense_act(model.dense(states[:, -1])))
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    signal = build_model("lstm", 40, 10, depth=1, width=4, input_shape=(40,),
                         input_kind="signal")
    assert (signal.steps, signal.features) == (40, 1)


@pytest.mark.parametrize("model_name", ["cnn", "lstm"])
def test_adding_a_layer_leaves_the_other_layers_initial_weights_alone(model_name):
    small = build_model(model_name, 64, 10, depth=2, width=8, input_shape=(8, 8))
    large = build_model(model_name, 64, 10, depth=3, width=8, input_shape=(8, 8))
    for model in (small, large):
        initialize(model, policy=initlab.get("glorot_uniform"), seed=5)
    before, after = _params(small), _params(large)
    shared = [n for n in before if n in after and before[n].shape == after[n].shape
              and not n.startswith(("dense", "output"))]
    assert len(shared) >= 4
    for name in shared:
        assert torch.equal(before[name], after[name]), name


def test_lstm_entry_reaches_recurrent_kernels_zero_biases_and_forget_bias_one():
    model = build_model("lstm", 64, 10, depth=1, width=16, input_shape=(8, 8))
    initialize(model, policy=initlab.get("he_normal"), seed=3)
    hidden = 16
    # weight_hh is drawn as the Keras (H, 4H) recurrent kernel with the entry itself.
    kernel = initlab.HeNormal(seed=3)((hidden, 4 * hidden), name="lstm.weight_hh_l0")
    np.testing.assert_array_equal(model.lstm.weight_hh_l0.detach().numpy(), kernel.T)
    kernel = initlab.HeNormal(seed=3)((8, 4 * hidden), name="lstm.weight_ih_l0")
    np.testing.assert_array_equal(model.lstm.weight_ih_l0.detach().numpy(), kernel.T)
    bias = model.lstm.bias_ih_l0.detach().numpy()
    forget = np.zeros(4 * hidden, dtype=np.float32)
    forget[hidden : 2 * hidden] = 1.0  # gates (i, f, g, o): the forget gate is 1
    np.testing.assert_array_equal(bias, forget)
    assert not model.lstm.bias_hh_l0.detach().any()
    assert not model.dense.bias.detach().any()
    assert not model.output.bias.detach().any()


def test_cnn_entry_reaches_every_kernel_with_its_fans():
    model = build_model("cnn", 64, 10, depth=2, width=8, input_shape=(8, 8))
    initialize(model, policy=initlab.get("he_uniform"), seed=1)
    # conv2: a (3, 3, 8, 8) Keras kernel, fan_in 3 * 3 * 8 = 72.
    kernel = initlab.HeUniform(seed=1)((3, 3, 8, 8), name="conv2.weight")
    np.testing.assert_array_equal(model.conv2.weight.detach().numpy(),
                                  kernel.transpose(3, 2, 0, 1))
    assert float(model.conv2.weight.detach().abs().max()) <= np.sqrt(6 / 72)
    assert not any(model.get_parameter(f"{n}.bias").any()
                   for n in ("conv1", "conv2", "dense", "output"))


@pytest.mark.parametrize("name", ["cnn", "lstm"])
def test_tables_and_shallow_models_are_refused(name):
    with pytest.raises(ValueError, match=f"The {name} model cannot read a table"):
        build_model(name, 30, 2, input_shape=(30,), input_kind="table")
    with pytest.raises(ValueError, match=f"--depth 0 with --model {name}"):
        build_model(name, 64, 10, depth=0, input_shape=(8, 8))
    with pytest.raises(ValueError, match="reads examples of shape"):
        build_model(name, 2 * 3 * 4 * 5, 2, input_shape=(2, 3, 4, 5))


@pytest.mark.parametrize("name", ["cnn", "lstm"])
def test_building_leaves_the_global_rng_alone(name):
    state = torch.get_rng_state()
    build_model(name, 64, 10, input_shape=(8, 8))
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("model_name", ["mlp", "cnn", "lstm"])
def test_the_lsuv_entry_is_keras_then_lsuv_on_training_inputs(model_name):
    from initlab.study.datasets import load_dataset
    from initlab.study.spec import StudySpec
    from initlab.study.train import initialize_model
    from initlab.torch import fingerprint, initialize_lsuv

    spec = StudySpec(model=model_name, inits=("lsuv", "keras"), seeds=1, seed=4)
    lsuv_run, keras_run = spec.runs()
    assert (lsuv_run.init.label, lsuv_run.init.config) == ("lsuv", "lsuv")
    data = load_dataset("digits", 0)
    model, print_ = initialize_model(lsuv_run, data)
    expected = build_model(model_name, 64, 10, input_shape=(8, 8),
                           **{k: getattr(spec, k) for k in ("depth", "width",
                                                           "activation")})
    initialize_lsuv(expected, torch.from_numpy(data.x_train.copy()), seed=4)
    assert print_ == fingerprint(expected)
    assert print_ != initialize_model(keras_run, data)[1]
