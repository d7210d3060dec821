"""Cases C4-C9 and C15 of shared/cases/initializer-cases.md, and DeltaOrthogonal."""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import initlab
from initlab.torch import initialize


def _np(t):
    return t.detach().to(torch.float64).numpy()


# C4 ---------------------------------------------------------------------------------


def test_c4_torch_truncated_normal_has_absolute_bounds_that_never_bind():
    init = initlab.TorchTruncatedNormal(std=0.02, a=-2.0, b=2.0, seed=0)
    with pytest.warns(initlab.UnboundTruncationWarning, match="never bind"):
        w = init((768, 768))
    beyond = np.mean(np.abs(w) > 0.04)  # 2 std: 4.55 % of a plain normal
    assert beyond == pytest.approx(0.0455, abs=0.002)


def test_c4_keras_truncated_normal_has_relative_bounds():
    w = initlab.TruncatedNormal(stddev=0.02, seed=0)((768, 768))
    assert np.abs(w).max() <= 0.04
    assert w.std() == pytest.approx(0.017593, rel=0.01)


def test_c4_binding_bounds_do_not_warn_and_hold():
    init = initlab.TorchTruncatedNormal(std=1.0, a=-1.0, b=0.5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = init((100_000,))
    assert w.min() >= -1.0 and w.max() <= 0.5
    stats = init.statistics((100_000,))
    assert w.mean() == pytest.approx(
        stats["expected_mean"], abs=5 * stats["expected_std"] / 316
    )


# C5 ---------------------------------------------------------------------------------


def test_c5_fused_recurrent_kernel_is_orthogonal_but_one_gate_block_is_not():
    kernel = initlab.Orthogonal(seed=0)((128, 512))  # Keras recurrent kernel (H, 4H)
    assert np.abs(kernel @ kernel.T - np.eye(128)).max() < 1e-5
    gate = kernel[:, :128]
    assert np.abs(gate.T @ gate - np.eye(128)).max() > 0.1


def test_c5_per_gate_option_makes_every_block_orthogonal():
    lstm = nn.LSTM(512, 128)
    initialize(lstm, "keras", seed=0, recurrent="per_gate")
    for block in np.split(_np(lstm.weight_hh_l0), 4):  # (H, H) each
        assert np.abs(block @ block.T - np.eye(128)).max() < 1e-5


# C6 ---------------------------------------------------------------------------------


def test_c6_framework_fan_helpers():
    assert initlab.compute_fans((64, 1, 3, 3), layout="torch") == (9, 576)
    assert initlab.compute_fans((4, 1, 3, 3), layout="torch") == (9, 36)
    assert initlab.compute_fans((3, 3, 64, 1)) == (576, 9)


def test_c6_depthwise_fans_keras_quirk_and_layer_aware():
    conv = nn.Conv2d(64, 64, 3, groups=64)
    keras_rows = initialize(conv, "keras", seed=0).rows
    assert (keras_rows[0].fan_in, keras_rows[0].fan_out) == (576, 9)
    layer_rows = initialize(conv, "keras", seed=0, fans="layer").rows
    assert (layer_rows[0].fan_in, layer_rows[0].fan_out) == (9, 9)
    small = initialize(nn.Conv2d(4, 4, 3, groups=4), "keras", fans="layer").rows
    assert (small[0].fan_in, small[0].fan_out) == (9, 9)


def test_c6_lecun_uniform_with_layer_fans_keeps_unit_variance():
    conv = nn.Conv2d(64, 64, 3, groups=64, bias=False)
    initialize(conv, "lecun_uniform", seed=0, fans="layer")
    x = torch.from_numpy(initlab.RandomNormal(stddev=1.0, seed=1)((16, 64, 24, 24)))
    with torch.no_grad():
        variance = conv(x).var().item()
    assert 0.8 <= variance <= 1.2


# C7 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conv, bound",
    [
        (nn.Conv1d(64, 64, 3, groups=4), 1 / math.sqrt(16 * 3)),
        (nn.Conv2d(64, 64, 3, groups=8), 1 / math.sqrt(72)),
    ],
)
def test_c7_grouped_convolution_torch_default_bound(conv, bound):
    rows = initialize(conv, "torch", seed=0).rows
    w = _np(conv.weight)
    assert 0.99 * bound <= np.abs(w).max() <= bound
    assert rows[0].fan_in == round(1 / bound**2)


def test_c7_stated_bounds():
    assert 1 / math.sqrt(16 * 3) == pytest.approx(0.144338, abs=1e-6)
    assert 1 / math.sqrt(72) == pytest.approx(0.117851, abs=1e-6)


# C8 ---------------------------------------------------------------------------------


def test_c8_zero_size_tensors():
    with pytest.warns(UserWarning, match="zero-element"):
        layer = nn.Linear(0, 5)  # PyTorch's own constructor warns; initlab does not
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # documented: no warning for empty tensors
        initialize(layer, "torch", seed=0)
        empty = initlab.Orthogonal(seed=0)((0, 1))
        avg = initlab.VarianceScaling(mode="fan_avg", seed=0)((0, 4))
    assert torch.all(layer.bias == 0)
    assert empty.shape == (0, 1) and avg.shape == (0, 4)


# C9 ---------------------------------------------------------------------------------


def test_c9_one_and_zero_dimensional_shapes():
    assert initlab.compute_fans((64,)) == (64, 64)
    assert initlab.compute_fans(()) == (1, 1)
    he = initlab.HeUniform(seed=0)((64,))
    assert math.sqrt(6 / 64) == pytest.approx(0.306186, abs=1e-6)
    assert np.abs(he).max() <= 0.306186 + 1e-6
    assert initlab.GlorotUniform(seed=0)(()).shape == ()


def test_c9_torch_bias_rule_uses_the_weight_fan_in():
    layer = nn.Linear(3, 64)
    initialize(layer, "torch", seed=0)
    bias = _np(layer.bias)
    assert 0.95 * 0.577350 <= np.abs(bias).max() <= 1 / math.sqrt(3)


# C15 --------------------------------------------------------------------------------


def test_c15_uniform_bounds_are_sqrt3_times_std():
    he = initlab.VarianceScaling(2.0, "fan_in", "uniform", seed=0)
    w = he((1000, 500), layout="torch")  # PyTorch kaiming_uniform_(fan_in, relu)
    assert np.abs(w).max() <= 0.109545 + 1e-6
    assert w.var() == pytest.approx(0.004, rel=0.02)
    assert math.sqrt(0.004) == pytest.approx(0.063246, abs=1e-6)
    vs = initlab.VarianceScaling(1.0, "fan_in", "uniform", seed=0)((500, 1000))
    assert np.abs(vs).max() <= 0.077460 + 1e-6
    assert vs.var() == pytest.approx(0.002, rel=0.02)


# DeltaOrthogonal ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 16, 32), (3, 3, 16, 32), (3, 3, 3, 16, 16)])
def test_delta_orthogonal_centre_tap_is_orthogonal_and_rest_zero(shape):
    w = initlab.DeltaOrthogonal(gain=2.0, seed=0)(shape)
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    matrix = w[centre]
    assert np.abs(matrix @ matrix.T - 4.0 * np.eye(shape[-2])).max() < 1e-4
    rest = w.copy()
    rest[centre] = 0
    assert np.count_nonzero(rest) == 0


def test_delta_orthogonal_preserves_the_norm_of_a_conv_input():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=False)
    initialize(conv, {"Conv2d.weight": initlab.DeltaOrthogonal()}, seed=0)
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = conv(x)
    np.testing.assert_allclose(y.norm().item(), x.norm().item(), rtol=1e-5)


@pytest.mark.parametrize(
    "shape, match",
    [
        ((3, 3, 32, 16), "in=32, out=16"),
        ((16, 32), "rank 2"),
        ((1, 1, 1, 1, 1, 4, 4), "rank 7"),
    ],
)
def test_delta_orthogonal_shape_rule(shape, match):
    with pytest.raises(ValueError, match=match):
        initlab.DeltaOrthogonal(seed=0)(shape)
