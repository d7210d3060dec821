"""Layer by layer: a PyTorch module initialized with ``policy="keras"`` starts where
the same Keras 3.15.1 layer does.

For each Keras layer (built after ``keras.utils.set_random_seed(0)``) and its PyTorch
equivalent (``initlab.torch.initialize(module, policy="keras", seed=0)``), every
parameter is mapped into the Keras layout (docs/torch.md) and compared:

- random weights: the sample std of the Keras weight and of the torch parameter
  differ by at most 5 standard errors of the difference (each standard error from
  the sample's own fourth moment), and each is within 5 standard errors of the std
  of Keras's formula; both lie within the hard bound of Keras's formula and reach
  its last 5 % (uniform, n >= 288: P(miss) <= 0.95^288 = 4e-7);
- orthogonal recurrent kernels: the same, and both have orthonormal rows;
- constant parameters (biases, the LSTM unit forget bias, normalization): equal.

Depthwise and transposed convolutions are also checked for their fans: the keras
policy reproduces Keras's quirk, ``fans="layer"`` counts real connections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from _parity_cases import (
    KERAS_NUMPY2_WARNING,
    import_keras,
    keras_constants,
    std_standard_error,
)
from torch import nn

from initlab.torch import initialize

keras = import_keras()
from keras import layers  # noqa: E402

pytestmark = KERAS_NUMPY2_WARNING

SIGMAS = 5.0  # tolerance of every statistical comparison, in standard errors


@dataclass
class Param:
    name: str
    keras: np.ndarray  # the Keras weight
    torch: np.ndarray  # the torch parameter, mapped into the Keras layout
    kind: str  # "random", "orthogonal" or "exact"
    kinit: object = None  # the Keras initializer whose formula gives std and bounds


def K(variable) -> np.ndarray:
    return np.asarray(variable.numpy(), dtype=np.float64)


def T(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float64).numpy()


def _gates_to_keras(array: np.ndarray, axis: int) -> np.ndarray:
    """PyTorch's GRU gate blocks (r, z, n) in Keras's order (z, r, h)."""
    r, z, n = np.split(array, 3, axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def _conv_weight(weight: torch.Tensor) -> np.ndarray:
    """(out, in, kh, kw) -> Keras's (kh, kw, in, out); for a transposed convolution
    PyTorch's (in, out, kh, kw) -> Keras's (kh, kw, out, in)."""
    return T(weight).transpose(2, 3, 1, 0)


# ---------------------------------------------------------------------- layers


def dense():
    layer = layers.Dense(128)
    layer.build((None, 64))
    module = nn.Linear(64, 128)
    initialize(module, "keras", seed=0)
    return [Param("kernel", K(layer.kernel), T(module.weight).T, "random",
                  layer.kernel_initializer),
            Param("bias", K(layer.bias), T(module.bias), "exact")]


def conv2d():
    layer = layers.Conv2D(32, 3)
    layer.build((None, 8, 8, 16))
    module = nn.Conv2d(16, 32, 3)
    initialize(module, "keras", seed=0)
    return [Param("kernel", K(layer.kernel), _conv_weight(module.weight), "random",
                  layer.kernel_initializer),
            Param("bias", K(layer.bias), T(module.bias), "exact")]


def conv2d_transpose():
    layer = layers.Conv2DTranspose(32, 3)
    layer.build((None, 8, 8, 16))
    module = nn.ConvTranspose2d(16, 32, 3)
    initialize(module, "keras", seed=0)
    return [Param("kernel", K(layer.kernel), _conv_weight(module.weight), "random",
                  layer.kernel_initializer),
            Param("bias", K(layer.bias), T(module.bias), "exact")]


def depthwise_conv2d():
    layer = layers.DepthwiseConv2D(3, depth_multiplier=2)
    layer.build((None, 8, 8, 16))
    module = nn.Conv2d(16, 32, 3, groups=16)
    initialize(module, "keras", seed=0)
    # (in * multiplier, 1, kh, kw), channel c's outputs at c * multiplier + m
    # -> Keras's (kh, kw, in, multiplier).
    weight = T(module.weight).reshape(16, 2, 3, 3).transpose(2, 3, 0, 1)
    return [Param("depthwise_kernel", K(layer.kernel), weight, "random",
                  layer.depthwise_initializer),
            Param("bias", K(layer.bias), T(module.bias), "exact")]


def lstm():
    layer = layers.LSTM(32)
    layer.build((None, 10, 16))
    module = nn.LSTM(16, 32, batch_first=True)
    initialize(module, "keras", seed=0)
    cell = layer.cell  # gates (i, f, c, o) on both sides
    return [Param("kernel", K(cell.kernel), T(module.weight_ih_l0).T, "random",
                  cell.kernel_initializer),
            Param("recurrent_kernel", K(cell.recurrent_kernel),
                  T(module.weight_hh_l0).T, "orthogonal", cell.recurrent_initializer),
            Param("bias (unit forget bias)", K(cell.bias),
                  T(module.bias_ih_l0) + T(module.bias_hh_l0), "exact")]


def gru():
    layer = layers.GRU(32)  # reset_after=True, as PyTorch's GRU
    layer.build((None, 10, 16))
    module = nn.GRU(16, 32, batch_first=True)
    initialize(module, "keras", seed=0)
    cell = layer.cell
    bias = np.stack([T(module.bias_ih_l0), T(module.bias_hh_l0)])
    return [Param("kernel", K(cell.kernel),
                  _gates_to_keras(T(module.weight_ih_l0).T, 1), "random",
                  cell.kernel_initializer),
            Param("recurrent_kernel", K(cell.recurrent_kernel),
                  _gates_to_keras(T(module.weight_hh_l0).T, 1), "orthogonal",
                  cell.recurrent_initializer),
            Param("bias", K(cell.bias), _gates_to_keras(bias, 1), "exact")]


def embedding():
    layer = layers.Embedding(100, 16)
    layer.build((None,))
    module = nn.Embedding(100, 16)
    initialize(module, "keras", seed=0)
    return [Param("embeddings", K(layer.embeddings), T(module.weight), "random",
                  layer.embeddings_initializer)]


def batch_normalization():
    layer = layers.BatchNormalization()
    layer.build((None, 8, 8, 16))
    module = nn.BatchNorm2d(16)
    initialize(module, "keras", seed=0)
    return [Param("gamma", K(layer.gamma), T(module.weight), "exact"),
            Param("beta", K(layer.beta), T(module.bias), "exact"),
            Param("moving_mean", K(layer.moving_mean), T(module.running_mean), "exact"),
            Param("moving_variance", K(layer.moving_variance), T(module.running_var),
                  "exact")]


def multi_head_attention():
    embed, heads = 32, 4
    layer = layers.MultiHeadAttention(num_heads=heads, key_dim=embed // heads)
    layer.build((None, 10, embed), (None, 10, embed))
    module = nn.MultiheadAttention(embed, heads, batch_first=True)
    initialize(module, "keras", seed=0)
    in_proj = np.split(T(module.in_proj_weight), 3)  # q, k, v, each (E, E)
    in_bias = np.split(T(module.in_proj_bias), 3)
    # Keras 3.15 builds each EinsumDense kernel with VarianceScaling axes from its
    # equation: q/k/v (E, heads, head_dim) read in [0] out [1, 2]; the output kernel
    # (heads, head_dim, E) in [0, 1] out [2]. So all four have fans (E, E).
    qkv_init = keras.initializers.GlorotUniform(input_axes=[0], output_axes=[1, 2])
    out_init = keras.initializers.GlorotUniform(input_axes=[0, 1], output_axes=[2])
    params = []
    projections = (layer._query_dense, layer._key_dense, layer._value_dense)
    for dense_layer, weight, bias, label in zip(projections, in_proj, in_bias, "qkv",
                                                strict=True):
        params.append(Param(f"{label} kernel", K(dense_layer.kernel),
                            weight.T.reshape(embed, heads, embed // heads), "random",
                            qkv_init))
        params.append(Param(f"{label} bias", K(dense_layer.bias),
                            bias.reshape(heads, embed // heads), "exact"))
    out = layer._output_dense
    out_weight = T(module.out_proj.weight).T.reshape(heads, embed // heads, embed)
    params.append(Param("output kernel", K(out.kernel), out_weight, "random", out_init))
    params.append(Param("output bias", K(out.bias), T(module.out_proj.bias), "exact"))
    return params


LAYERS = {
    "Dense/Linear": dense,
    "Conv2D/Conv2d": conv2d,
    "Conv2DTranspose/ConvTranspose2d": conv2d_transpose,
    "DepthwiseConv2D/Conv2d(groups=in)": depthwise_conv2d,
    "LSTM/LSTM": lstm,
    "GRU/GRU": gru,
    "Embedding/Embedding": embedding,
    "BatchNormalization/BatchNorm2d": batch_normalization,
    "MultiHeadAttention/MultiheadAttention": multi_head_attention,
}


# ---------------------------------------------------------------------- checks


def assert_same_std(ours: np.ndarray, theirs: np.ndarray, expected: float, label: str):
    se_ours, se_theirs = std_standard_error(ours), std_standard_error(theirs)
    diff = abs(ours.std() - theirs.std())
    assert diff <= SIGMAS * math.hypot(se_ours, se_theirs), (label, ours.std(),
                                                             theirs.std())
    assert abs(ours.std() - expected) <= SIGMAS * se_ours, (label, ours.std(), expected)
    assert abs(theirs.std() - expected) <= SIGMAS * se_theirs, (label, theirs.std(),
                                                                expected)


def assert_same_bound(ours: np.ndarray, theirs: np.ndarray, bound: float, label: str,
                      reached: bool = True):
    keras_slack = float(np.spacing(np.float32(bound)))  # Keras rounds in float32
    assert np.abs(ours).max() <= bound, (label, np.abs(ours).max(), bound)
    assert np.abs(theirs).max() <= bound + keras_slack, (label, np.abs(theirs).max())
    if reached:
        for values in (ours, theirs):
            assert np.abs(values).max() >= 0.95 * bound, (label, np.abs(values).max())


@pytest.fixture
def seeded_keras():
    keras.utils.set_random_seed(0)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_torch_parameters_start_where_keras_weights_do(layer, seeded_keras):
    params = LAYERS[layer]()
    assert params
    for p in params:
        label = f"{layer} {p.name}"
        assert p.torch.shape == p.keras.shape, (label, p.torch.shape, p.keras.shape)
        if p.kind == "exact":
            np.testing.assert_array_equal(p.torch, p.keras, err_msg=label)
            continue
        constants = keras_constants(p.kinit, p.keras.shape)
        if p.kind == "orthogonal":
            rows = p.keras.reshape(-1, p.keras.shape[-1])
            for matrix in (rows, p.torch.reshape(rows.shape)):
                small = min(matrix.shape)
                gram = matrix @ matrix.T if matrix.shape[0] == small \
                    else matrix.T @ matrix
                np.testing.assert_allclose(gram, constants["gain"] ** 2 * np.eye(small),
                                           atol=1e-5, err_msg=label)
            expected = abs(constants["gain"]) / math.sqrt(max(rows.shape))
            assert_same_std(p.torch, p.keras, expected, label)
            assert_same_bound(p.torch, p.keras, abs(constants["gain"]), label,
                              reached=False)
            continue
        assert_same_std(p.torch, p.keras, constants["expected_std"], label)
        assert constants["bounds"] is not None, label
        assert_same_bound(p.torch, p.keras, constants["bounds"][1], label)


# ------------------------------------------------------- depthwise and transposed


def _row(report, name):
    (row,) = [r for r in report.rows if r.name == name]
    return row


def _fans(report, name="weight"):
    row = _row(report, name)
    return row.fan_in, row.fan_out


def test_depthwise_keras_quirk_and_layer_fans(seeded_keras):
    keras_layer = layers.DepthwiseConv2D(3, depth_multiplier=2)
    keras_layer.build((None, 8, 8, 16))
    theirs = K(keras_layer.kernel)  # (3, 3, 16, 2)
    # Keras's quirk: fan_in = in * prod(k) = 144 although each output sees 9 inputs.
    quirk = keras_constants(keras_layer.depthwise_initializer, theirs.shape)
    assert (quirk["fan_in"], quirk["fan_out"]) == (144, 18)

    compatible, layer = nn.Conv2d(16, 32, 3, groups=16), nn.Conv2d(16, 32, 3, groups=16)
    report_c = initialize(compatible, "keras", seed=0)
    report_l = initialize(layer, "keras", seed=0, fans="layer")
    assert _fans(report_c) == (144, 18)
    assert _fans(report_l) == (9, 18)

    ours_c, ours_l = T(compatible.weight), T(layer.weight)
    assert_same_std(ours_c, theirs, quirk["expected_std"], "depthwise compatible")
    assert_same_bound(ours_c, theirs, quirk["bounds"][1], "depthwise compatible")
    # Real connections: glorot_uniform with fans (9, 18), limit sqrt(6 / 27).
    limit = math.sqrt(6 / 27)
    assert np.abs(ours_l).max() <= limit and np.abs(ours_l).max() >= 0.95 * limit
    std_error = std_standard_error(ours_l)
    assert abs(ours_l.std() - limit / math.sqrt(3)) <= SIGMAS * std_error
    assert np.abs(ours_l).max() > 2 * quirk["bounds"][1]  # visibly not Keras's kernel


def test_transposed_keras_fans_and_layer_fans(seeded_keras):
    # he_uniform depends on fan_in alone, so the two fan counts give different stds.
    keras_layer = layers.Conv2DTranspose(32, 3, kernel_initializer="he_uniform")
    keras_layer.build((None, 8, 8, 16))
    theirs = K(keras_layer.kernel)  # (3, 3, filters=32, in=16)
    keras_fans = keras_constants(keras_layer.kernel_initializer, theirs.shape)
    # Keras (and PyTorch's helper) read the stored layout: fan_in counts the 32
    # output channels, 32 * 9 = 288; each output really sees 16 * 9 = 144 inputs.
    assert (keras_fans["fan_in"], keras_fans["fan_out"]) == (288, 144)

    policy = {"ConvTranspose2d.weight": "he_uniform"}
    compatible, layer = nn.ConvTranspose2d(16, 32, 3), nn.ConvTranspose2d(16, 32, 3)
    report_c = initialize(compatible, policy, seed=0)
    report_l = initialize(layer, policy, seed=0, fans="layer")
    assert _fans(report_c) == (288, 144)
    assert _fans(report_l) == (144, 288)

    ours_c, ours_l = _conv_weight(compatible.weight), _conv_weight(layer.weight)
    assert_same_std(ours_c, theirs, keras_fans["expected_std"], "transposed compatible")
    assert_same_bound(ours_c, theirs, keras_fans["bounds"][1], "transposed compatible")
    limit = math.sqrt(6 / 144)
    assert np.abs(ours_l).max() <= limit and np.abs(ours_l).max() >= 0.95 * limit
    assert abs(ours_l.std() - math.sqrt(2 / 144)) <= SIGMAS * std_standard_error(ours_l)

    # The default glorot_uniform is symmetric in the fans: both counts give Keras's
    # distribution, and the report shows which fans were used.
    default_l = nn.ConvTranspose2d(16, 32, 3)
    row = _row(initialize(default_l, "keras", seed=0, fans="layer"), "weight")
    assert (row.fan_in, row.fan_out) == (144, 288)
    assert row.expected_std == pytest.approx(math.sqrt(2 / (144 + 288)))
