"""Every catalog entry against its formula: moments, hard bounds, KS tests.

Tolerances: the sample mean within 5 standard errors (sigma / sqrt(n)), the sample
std within 5 standard errors (sigma / 2 * sqrt((kurtosis - 1) / n), which is
sigma / sqrt(2 n) for a normal); KS tests at fixed seeds with p > 1e-3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _core_reference import (
    CATALOG_NAMES,
    TRUNC_STD,
    mean_tolerance,
    reference,
    std_tolerance,
    within_bounds,
)
from scipy import stats

import initlab

N_SHAPE_KERAS = (16, 64, 256)  # 262,144 values; keras fans (1024, 4096)
N_SHAPE_TORCH = (256, 64, 4, 4)  # 262,144 values; torch fans (1024, 4096)

SPECS = [
    ("RandomNormal", {"mean": 0.1, "stddev": 0.2}, (512, 512), "keras"),
    ("RandomNormal", {}, (512, 512), "keras"),
    ("RandomUniform", {"minval": -0.3, "maxval": 0.5}, (512, 512), "keras"),
    ("RandomUniform", {}, (512, 512), "keras"),
    ("TruncatedNormal", {"mean": -0.1, "stddev": 0.3}, (512, 512), "keras"),
    ("TruncatedNormal", {}, (512, 512), "keras"),
    ("VarianceScaling", {}, N_SHAPE_KERAS, "keras"),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
     N_SHAPE_KERAS, "keras"),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg",
                         "distribution": "untruncated_normal"}, N_SHAPE_TORCH, "torch"),
    ("VarianceScaling", {"scale": 3.0, "mode": "fan_out",
                         "distribution": "truncated_normal"}, N_SHAPE_TORCH, "torch"),
    ("LecunUniform", {}, N_SHAPE_KERAS, "keras"),
    ("LecunNormal", {}, N_SHAPE_KERAS, "keras"),
    ("GlorotUniform", {}, N_SHAPE_KERAS, "keras"),
    ("GlorotNormal", {}, N_SHAPE_TORCH, "torch"),
    ("HeUniform", {}, N_SHAPE_TORCH, "torch"),
    ("HeNormal", {}, N_SHAPE_KERAS, "keras"),
]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in cfg.items()) or 'default'}-{layout}"
       for c, cfg, _, layout in SPECS]


@pytest.fixture(scope="module")
def drawn():
    cache = {}

    def get(class_name, config, shape, layout, seed=0):
        key = (class_name, tuple(sorted(config.items())), shape, layout, seed)
        if key not in cache:
            init = getattr(initlab, class_name)(**config, seed=seed)
            cache[key] = init(shape, layout=layout, name="stats")
        return cache[key]

    return get


def test_catalog_is_the_15_keras_classes():
    assert [cls.__name__ for cls in initlab.CATALOG] == list(CATALOG_NAMES)


def test_truncated_std_constant_matches_scipy():
    assert initlab.TRUNCATED_STD == pytest.approx(TRUNC_STD, rel=1e-15)
    assert TRUNC_STD == pytest.approx(0.8796256610342398, rel=1e-15)


@pytest.mark.parametrize(("class_name", "config", "shape", "layout"), SPECS, ids=IDS)
def test_mean_and_std_match_the_formula(drawn, class_name, config, shape, layout):
    values = drawn(class_name, config, shape, layout).astype(np.float64)
    dist, _, _ = reference(class_name, config, shape, layout)
    n = values.size
    assert abs(values.mean() - dist.mean()) <= mean_tolerance(dist, n)
    assert abs(values.std() - dist.std()) <= std_tolerance(dist, n)


@pytest.mark.parametrize(("class_name", "config", "shape", "layout"), SPECS, ids=IDS)
def test_ks_against_scipy(drawn, class_name, config, shape, layout):
    values = drawn(class_name, config, shape, layout).astype(np.float64).ravel()
    dist, _, _ = reference(class_name, config, shape, layout)
    assert stats.kstest(values, dist.cdf).pvalue > 1e-3


@pytest.mark.parametrize(("class_name", "config", "shape", "layout"), SPECS, ids=IDS)
def test_hard_bounds_hold_and_bind(drawn, class_name, config, shape, layout):
    values = drawn(class_name, config, shape, layout)
    _, bounds, _ = reference(class_name, config, shape, layout)
    if bounds is None:
        # Untruncated normals: about 4.55 % of the values lie beyond 2 sigma.
        dist, _, _ = reference(class_name, config, shape, layout)
        beyond = np.mean(np.abs(values - dist.mean()) > 2 * dist.std())
        p = 2 * stats.norm.sf(2)
        assert abs(beyond - p) <= 5 * math.sqrt(p * (1 - p) / values.size)
        return
    lo, hi = bounds
    # Compared in the output dtype, and exactly (float32 values as real numbers).
    assert within_bounds(values, bounds)
    wide = values.astype(np.float64)
    assert wide.min() >= lo and wide.max() <= hi
    # The bound is where the distribution stops: the extremes come within 1 % of
    # the (pre-truncation) std (truncated: about 150 values expected in that band
    # of the 262,144) or 1e-4 of the width (uniform: P(miss) = exp(-26)).
    dist, _, _ = reference(class_name, config, shape, layout)
    width = 0.01 * (hi - lo) / 4 if dist.dist.name == "truncnorm" else 1e-4 * (hi - lo)
    assert wide.max() >= hi - width and wide.min() <= lo + width


# ------------------------------------------------------------------ constants


@pytest.mark.parametrize(("class_name", "config", "value"),
                         [("Zeros", {}, 0.0), ("Ones", {}, 1.0),
                          ("Constant", {"value": 0.3}, 0.3),
                          ("Constant", {"value": -7}, -7.0),
                          ("Constant", {}, 0.0)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constant_entries_are_exact(class_name, config, value, dtype):
    values = getattr(initlab, class_name)(**config)((5, 7), dtype)
    assert values.dtype == np.dtype(dtype)
    assert np.all(values == np.asarray(value, dtype=dtype))


# ------------------------------------------------------------------ identity


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 6)])
@pytest.mark.parametrize("gain", [1.0, 2.0, -0.5])
def test_identity_is_gain_times_a_rectangular_eye(shape, gain):
    values = initlab.Identity(gain=gain)(shape)
    expected = np.zeros(shape, dtype=np.float32)
    for i in range(min(shape)):
        expected[i, i] = gain
    np.testing.assert_array_equal(values, expected)


# ------------------------------------------------------------------ orthogonal

ORTHO = [
    # (shape, layout, matrix shape as the layout flattens it)
    ((8, 4, 16), "keras", (32, 16)),
    ((16, 48), "keras", (16, 48)),
    ((48, 16), "keras", (48, 16)),
    ((4, 3, 5), "torch", (4, 15)),
    ((30, 2, 3), "torch", (30, 6)),
    ((3, 3, 8, 8), "keras", (72, 8)),
    ((8, 8, 3, 3), "torch", (8, 72)),
]


@pytest.mark.parametrize("gain", [1.0, 1.5, -2.0])
@pytest.mark.parametrize(("shape", "layout", "matrix"), ORTHO)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_orthogonal_is_semi_orthogonal_in_the_layouts_flattening(
        shape, layout, matrix, gain, dtype):
    values = initlab.Orthogonal(gain=gain, seed=0)(shape, dtype, layout=layout)
    assert values.shape == shape and values.dtype == np.dtype(dtype)
    m = values.astype(np.float64).reshape(matrix)
    rows, cols = matrix
    gram = m @ m.T if rows <= cols else m.T @ m
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)),
                               atol=tol * gain**2)
    # Root mean square of the entries: gain^2 * min / (rows * cols) = gain^2 / max.
    rms = math.sqrt(np.mean(m**2))
    assert rms == pytest.approx(abs(gain) / math.sqrt(max(rows, cols)), rel=1e-5)


def test_orthogonal_is_haar_distributed():
    # For Haar-random Q in O(3), Q[0, 0] is a coordinate of a uniform point on the
    # sphere S^2, so it is uniform on [-1, 1] (Archimedes). Without the sign
    # correction of Mezzadri 2007 the QR factor is not Haar and this fails.
    init = initlab.Orthogonal(seed=0)
    corner = np.array([init((3, 3), "float64", name=f"q{i}")[0, 0]
                       for i in range(1500)])
    assert stats.kstest(corner, stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_orthogonal_statistics_values():
    values = initlab.Orthogonal(seed=1)((64, 256)).astype(np.float64)
    # The sum S of all entries is the sum of the 64 row sums r_i = q_i . 1. Flipping
    # a row's sign keeps the law, so E[r_i r_j] = 0 (i != j) and
    # Var(S) = E sum r_i^2 = E |P 1|^2 = 64 (P projects on the 64-dim row space of
    # R^256). The mean of the 16,384 entries has SE 8 / 16,384; allow 5 SE.
    assert abs(values.mean()) <= 5 * 8 / values.size
    assert np.abs(values).max() <= 1.0
