"""Independent reference values for the NumPy core tests.

Everything here is written from the formulas (Keras 3 / JAX source facts in
shared/ANCHORS.md and the cases file), never read back from initlab, so that a test
comparing initlab with these values can fail.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: std of a standard normal cut to [-2, 2], computed by scipy (not initlab).
TRUNC_STD = float(stats.truncnorm(-2, 2).std())

#: The 15 catalog classes, as Keras 3 names them.
CATALOG_NAMES = (
    "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "Orthogonal", "Identity", "LecunUniform", "LecunNormal",
    "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
)

#: (scale, mode, distribution) of the named VarianceScaling members (Keras 3).
FAMILY = {
    "GlorotUniform": (1.0, "fan_avg", "uniform"),
    "GlorotNormal": (1.0, "fan_avg", "truncated_normal"),
    "LecunUniform": (1.0, "fan_in", "uniform"),
    "LecunNormal": (1.0, "fan_in", "truncated_normal"),
    "HeUniform": (2.0, "fan_in", "uniform"),
    "HeNormal": (2.0, "fan_in", "truncated_normal"),
}

#: Every name Keras 3 (plus initlab's xavier_/kaiming_ aliases) accepts.
NAMES = {
    "Zeros": ["Zeros", "zeros", "zero"],
    "Ones": ["Ones", "ones", "one"],
    "Constant": ["Constant", "constant"],
    "RandomNormal": ["RandomNormal", "random_normal", "normal"],
    "RandomUniform": ["RandomUniform", "random_uniform", "uniform"],
    "TruncatedNormal": ["TruncatedNormal", "truncated_normal"],
    "VarianceScaling": ["VarianceScaling", "variance_scaling"],
    "Orthogonal": ["Orthogonal", "orthogonal", "OrthogonalInitializer"],
    "Identity": ["Identity", "identity", "IdentityInitializer"],
    "LecunUniform": ["LecunUniform", "lecun_uniform"],
    "LecunNormal": ["LecunNormal", "lecun_normal"],
    "GlorotUniform": ["GlorotUniform", "glorot_uniform", "xavier_uniform"],
    "GlorotNormal": ["GlorotNormal", "glorot_normal", "xavier_normal"],
    "HeUniform": ["HeUniform", "he_uniform", "kaiming_uniform"],
    "HeNormal": ["HeNormal", "he_normal", "kaiming_normal"],
}

SNAKE = {cls: names[1] for cls, names in NAMES.items()}

#: Keras 3.15 get_config keys per class (Identity: initlab adds "gain", a
#: documented deviation; Keras 3.15 omits it).
CONFIG_KEYS = {
    "Zeros": set(),
    "Ones": set(),
    "Constant": {"value"},
    "RandomNormal": {"seed", "mean", "stddev"},
    "RandomUniform": {"seed", "minval", "maxval"},
    "TruncatedNormal": {"seed", "mean", "stddev"},
    "VarianceScaling": {"seed", "scale", "mode", "distribution", "input_axes",
                        "output_axes"},
    "Orthogonal": {"seed", "gain"},
    "Identity": {"gain"},
    **{name: {"seed", "input_axes", "output_axes"} for name in FAMILY},
}

#: One non-default config per catalog class (seeded where random) and a shape
#: it accepts, used by config, golden and dtype tests.
CONFIGS = {
    "Zeros": ({}, (3, 4)),
    "Ones": ({}, (3, 4)),
    "Constant": ({"value": 0.3}, (3, 4)),
    "RandomNormal": ({"mean": 0.1, "stddev": 0.2, "seed": 3}, (17, 9)),
    "RandomUniform": ({"minval": -0.3, "maxval": 0.5, "seed": 3}, (17, 9)),
    "TruncatedNormal": ({"mean": -0.1, "stddev": 0.3, "seed": 3}, (17, 9)),
    "VarianceScaling": ({"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                         "seed": 3, "input_axes": None, "output_axes": None},
                        (3, 5, 7)),
    "Orthogonal": ({"gain": 1.5, "seed": 3}, (6, 4)),
    "Identity": ({"gain": 2.0}, (4, 6)),
    **{name: ({"seed": 3, "input_axes": None, "output_axes": None}, (3, 5, 7))
       for name in FAMILY},
}

RANDOM = ("RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
          "Orthogonal", *FAMILY)
ELEMENTWISE = tuple(n for n in RANDOM if n != "Orthogonal")
BOUNDED = ("RandomUniform", "TruncatedNormal", *FAMILY)


def keras_fans(shape) -> tuple[int, int]:
    """Keras 3 compute_fans: (..., in, out)."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    rf = math.prod(shape[:-2])
    return shape[-2] * rf, shape[-1] * rf


def torch_fans(shape) -> tuple[int, int]:
    """PyTorch _calculate_fan_in_and_fan_out: (out, in, *k); rank < 2 as Keras."""
    shape = tuple(shape)
    if len(shape) < 2:
        return keras_fans(shape)
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def jax_fans(shape, in_axis=-2, out_axis=-1, batch_axis=()) -> tuple[float, float]:
    """jax.nn.initializers._compute_fans, transcribed from its definition."""
    shape = tuple(shape)

    def size(axes):
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        return math.prod(shape[a] for a in axes)

    in_size, out_size, batch_size = size(in_axis), size(out_axis), size(batch_axis)
    receptive = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive, out_size * receptive


def variance_scaling_dist(scale, mode, distribution, fan_in, fan_out):
    """(scipy frozen distribution, bounds or None) of Keras VarianceScaling."""
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    s = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * s)
        return stats.uniform(-limit, 2 * limit), (-limit, limit)
    if distribution == "truncated_normal":
        sigma = math.sqrt(s) / TRUNC_STD
        return stats.truncnorm(-2, 2, loc=0.0, scale=sigma), (-2 * sigma, 2 * sigma)
    assert distribution == "untruncated_normal"
    return stats.norm(0.0, math.sqrt(s)), None


def reference(class_name: str, config: dict, shape, layout: str = "keras"):
    """(scipy frozen distribution or None, bounds or None, constant or None).

    For elementwise random entries the distribution every value is drawn from;
    for constant entries the value; Orthogonal and Identity are structured and are
    tested separately (returns (None, None, None)).
    """
    fans = keras_fans(shape) if layout == "keras" else torch_fans(shape)
    if class_name == "Zeros":
        return None, None, 0.0
    if class_name == "Ones":
        return None, None, 1.0
    if class_name == "Constant":
        return None, None, config.get("value", 0.0)
    if class_name == "RandomNormal":
        dist = stats.norm(config.get("mean", 0.0), config.get("stddev", 0.05))
        return dist, None, None
    if class_name == "RandomUniform":
        lo, hi = config.get("minval", -0.05), config.get("maxval", 0.05)
        return stats.uniform(lo, hi - lo), (lo, hi), None
    if class_name == "TruncatedNormal":
        mean, sd = config.get("mean", 0.0), config.get("stddev", 0.05)
        return (stats.truncnorm(-2, 2, loc=mean, scale=sd),
                (mean - 2 * sd, mean + 2 * sd), None)
    if class_name == "VarianceScaling":
        dist, bounds = variance_scaling_dist(
            config.get("scale", 1.0), config.get("mode", "fan_in"),
            {"normal": "truncated_normal"}.get(
                config.get("distribution", "truncated_normal").lower(),
                config.get("distribution", "truncated_normal").lower()),
            *fans)
        return dist, bounds, None
    if class_name in FAMILY:
        dist, bounds = variance_scaling_dist(*FAMILY[class_name], *fans)
        return dist, bounds, None
    return None, None, None


def std_tolerance(dist, n: int, k: float = 5.0) -> float:
    """k standard errors of the sample std of n iid draws from dist.

    SE(s) ~ sigma / 2 * sqrt((kurtosis - 1) / n) (kurtosis not excess), which is
    sigma / sqrt(2 n) for a normal.
    """
    sigma = float(dist.std())
    kurtosis = float(dist.stats(moments="k")) + 3.0
    return k * sigma / 2.0 * math.sqrt((kurtosis - 1.0) / n)


def mean_tolerance(dist, n: int, k: float = 5.0) -> float:
    return k * float(dist.std()) / math.sqrt(n)


def within_bounds(values: np.ndarray, bounds) -> bool:
    """Every value within [lo, hi], the bounds rounded to the values' dtype."""
    lo = np.asarray(bounds[0]).astype(values.dtype)
    hi = np.asarray(bounds[1]).astype(values.dtype)
    return bool(np.all(values >= lo) and np.all(values <= hi))
