"""The NumPy-core parts of shared/cases/initializer-cases.md, with their values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _core_reference import TRUNC_STD
from scipy import stats

import initlab

# ----------------------------------------------------------------------- C1
# Documented rule (INTERFACE.md): an int seed gives the stream of (seed, name), so
# the same object called twice with the same shape and name repeats exactly, and
# different names differ; an unseeded object draws fresh entropy at every call.


def test_c1_seeded_object_shared_by_two_layers_gives_each_its_own_values():
    init = initlab.get({"class_name": "glorot_uniform", "config": {"seed": 42}})
    w1 = init((8, 8), name="dense_1/kernel")
    w2 = init((8, 8), name="dense_2/kernel")
    assert np.abs(w1 - w2).max() > 0
    assert init((8, 8), name="dense_1/kernel").tobytes() == w1.tobytes()


def test_c1_unseeded_object_gives_fresh_values_at_every_call():
    init = initlab.get("glorot_uniform")
    w1 = init((8, 8), name="dense_1/kernel")
    w2 = init((8, 8), name="dense_2/kernel")
    assert np.abs(w1 - w2).max() > 0
    # The same name and shape again: still fresh (this departs from Keras on purpose).
    assert np.abs(init((8, 8), name="dense_1/kernel") - w1).max() > 0
    assert np.abs(init((8, 8)) - init((8, 8))).max() > 0


def test_c1_one_model_seed_applied_to_two_layers():
    init = initlab.GlorotUniform()
    w1 = init.sample((5, 5), name="0.weight", seed=0)
    w2 = init.sample((5, 5), name="1.weight", seed=0)
    assert np.abs(w1 - w2).max() > 0
    assert init.sample((5, 5), name="0.weight", seed=0).tobytes() == w1.tobytes()


# ----------------------------------------------------------------------- C2


def test_c2_same_seed_same_values_other_seed_differs():
    a = initlab.RandomUniform(-0.05, 0.05, seed=0)((2, 2), "float32")
    b = initlab.RandomUniform(-0.05, 0.05, seed=0)((2, 2), "float32")
    c = initlab.RandomUniform(-0.05, 0.05, seed=1)((2, 2), "float32")
    assert a.dtype == np.float32 and a.shape == (2, 2)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert np.all(np.abs(a) <= np.float32(0.05))


# ----------------------------------------------------------------------- C3


def test_c3_i_variance_scaling_truncated_std_is_corrected():
    values = initlab.VarianceScaling(1.0, "fan_in", "truncated_normal", seed=0)(
        (1000, 1000)).astype(np.float64)
    assert values.std() == pytest.approx(0.031623, rel=0.01)
    assert np.abs(values).max() <= 0.071901


def test_c3_ii_truncated_normal_stddev_is_before_truncation():
    values = initlab.TruncatedNormal(mean=0, stddev=0.05, seed=0)((1000, 1000))
    assert values.astype(np.float64).std() == pytest.approx(0.043981, rel=0.01)
    assert np.abs(values).max() <= np.float32(0.1)


def test_c3_iii_he_normal_on_a_keras_kernel():
    values = initlab.get("he_normal")((16, 1000)).astype(np.float64)
    assert values.std() == pytest.approx(0.353553, rel=0.03)
    assert np.abs(values).max() <= 0.803872


@pytest.mark.parametrize("spelling", ["normal", "Normal", "NORMAL", "Truncated_Normal"])
def test_c3_normal_in_any_case_means_truncated_normal(spelling):
    init = initlab.VarianceScaling(1.0, "fan_in", spelling, seed=0)
    assert init.distribution == "truncated_normal"
    assert init.get_config()["distribution"] == "truncated_normal"
    truncated = initlab.VarianceScaling(1.0, "fan_in", "truncated_normal", seed=0)
    assert init((300, 200)).tobytes() == truncated((300, 200)).tobytes()
    bound = 2 * math.sqrt(1 / 300) / TRUNC_STD
    assert np.abs(init((300, 200)).astype(np.float64)).max() <= bound


def test_c3_untruncated_normal_is_the_plain_normal():
    init = initlab.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=0)
    assert init.distribution == "untruncated_normal"
    values = init((1000, 1000)).astype(np.float64).ravel()
    sigma = math.sqrt(1 / 1000)
    assert stats.kstest(values, stats.norm(0, sigma).cdf).pvalue > 1e-3
    beyond = np.mean(np.abs(values) > 2 * sigma)
    p = 2 * stats.norm.sf(2)
    assert abs(beyond - p) <= 5 * math.sqrt(p * (1 - p) / values.size)


# ----------------------------------------------------------------------- C4


def test_c4_keras_truncated_normal_has_relative_bounds():
    values = initlab.TruncatedNormal(stddev=0.02, seed=0)((768, 768))
    assert not np.any(np.abs(values) > np.float32(0.04))
    assert values.astype(np.float64).std() == pytest.approx(0.017593, rel=0.01)


# ----------------------------------------------------------------------- C5


def test_c5_fused_recurrent_kernel_is_orthogonal_as_a_whole_only():
    kernel = initlab.Orthogonal(seed=0)((128, 512)).astype(np.float64)
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(128), atol=1e-5)
    gate = kernel[:, 128:256]
    assert np.abs(gate.T @ gate - np.eye(128)).max() > 0.1


# ----------------------------------------------------------------------- C9


@pytest.mark.parametrize(("name", "limit"), [("he_uniform", 0.306186),
                                             ("glorot_uniform", math.sqrt(6 / 128))])
def test_c9_bias_shape_fans(name, limit):
    init = initlab.get(name)
    assert initlab.compute_fans((64,)) == (64, 64)
    assert init.statistics((64,))["bounds"][1] == pytest.approx(limit, rel=1e-6)
    values = init((64,), name="bias")
    assert np.all(np.abs(values) <= np.float32(limit))


@pytest.mark.parametrize(("name", "limit"), [("he_uniform", math.sqrt(6.0)),
                                             ("glorot_uniform", math.sqrt(3.0))])
def test_c9_scalar_shape(name, limit):
    assert initlab.compute_fans(()) == (1, 1)
    values = initlab.get(name)((), name="scalar")
    assert values.shape == ()
    assert abs(float(values)) <= limit


# ----------------------------------------------------------------------- C12


def test_c12_keras_default_dense_128_256():
    kernel = initlab.GlorotUniform(seed=0)((128, 256), name="dense/kernel")
    bound = 0.125
    wide = kernel.astype(np.float64)
    assert np.abs(wide).max() <= bound
    assert np.abs(wide).max() >= 0.99 * bound
    assert wide.std() == pytest.approx(0.072169, rel=0.02)
    bias = initlab.Zeros()((256,))
    assert np.all(bias == 0.0)


# ----------------------------------------------------------------------- C14

SCALE_MSG = r"`scale`.*Received: scale={}"
MODE_SET = r"fan_in, fan_out, fan_avg"
DIST_SET = r"uniform, truncated_normal, untruncated_normal"


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"scale": 0.0}, r"Argument `scale` must be a positive finite float\. "
                         r"Received: scale=0\.0"),
        ({"scale": -1.0},
         r"Argument `scale` must be a positive.*Received: scale=-1\.0"),
        ({"scale": float("nan")}, r"`scale`.*positive finite.*scale=nan"),
        ({"scale": float("inf")}, r"`scale`.*positive finite.*scale=inf"),
        ({"scale": "1"}, r"`scale`.*positive finite.*scale='1'"),
        ({"mode": "fan_sum"}, rf"`mode`.*'fan_sum'.*{MODE_SET}"),
        ({"mode": "FAN_IN"}, rf"`mode`.*'FAN_IN'.*{MODE_SET}"),
        ({"mode": None}, rf"`mode`.*None.*{MODE_SET}"),
        ({"distribution": None}, rf"`distribution`.*None.*{DIST_SET}"),
        ({"distribution": 3}, rf"`distribution`.*3.*{DIST_SET}"),
        ({"distribution": "gaussian"}, rf"`distribution`.*'gaussian'.*{DIST_SET}"),
    ],
)
def test_c14_bad_variance_scaling_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        initlab.VarianceScaling(**kwargs)


def test_c14_normal_capitalized_is_accepted():
    init = initlab.VarianceScaling(distribution="Normal")
    assert init.distribution == "truncated_normal"


# ----------------------------------------------------------------------- C15


def test_c15_torch_kaiming_uniform_relu():
    # kaiming_uniform(fan_in, relu) = VarianceScaling(2, fan_in, uniform) on the
    # PyTorch layout (out, in) = (1000, 500).
    init = initlab.VarianceScaling(2.0, "fan_in", "uniform", seed=0)
    values = init((1000, 500), layout="torch").astype(np.float64)
    assert np.abs(values).max() <= 0.109545 + 1e-6
    assert np.abs(values).max() >= 0.99 * 0.109545
    assert values.var() == pytest.approx(0.004, rel=0.02)
    assert values.std() == pytest.approx(0.063246, rel=0.02)


def test_c15_keras_variance_scaling_uniform():
    values = initlab.VarianceScaling(1, "fan_in", "uniform", seed=0)((500, 1000))
    wide = values.astype(np.float64)
    assert np.abs(wide).max() <= 0.077460 + 1e-6
    assert np.abs(wide).max() >= 0.99 * 0.077460
    assert wide.var() == pytest.approx(0.002, rel=0.02)
