"""What the Keras parity suite compares: catalog cases, shapes, and helpers.

Each catalog entry is compared with non-default arguments where it has any, so a
swapped or ignored argument shows up (``VarianceScaling`` takes the one mode and
distribution the named family members do not cover: ``fan_out``,
``untruncated_normal``).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import initlab

#: Keras's own test shapes: scalar, vector, Dense kernel, Conv2D kernel, Conv3D kernel.
SHAPES: list[tuple[int, ...]] = [(), (7,), (64, 128), (3, 3, 16, 32), (2, 3, 3, 8, 16)]

#: Constructor arguments of every catalog entry (the same on both sides).
CASES: dict[str, dict] = {
    "Zeros": {},
    "Ones": {},
    "Constant": {"value": 0.25},
    "RandomNormal": {"mean": 0.1, "stddev": 0.2},
    "RandomUniform": {"minval": -0.3, "maxval": 0.1},
    "TruncatedNormal": {"mean": -0.1, "stddev": 0.3},
    "VarianceScaling": {"scale": 0.5, "mode": "fan_out",
                        "distribution": "untruncated_normal"},
    "Orthogonal": {"gain": 1.5},
    "Identity": {"gain": 2.0},
    "LecunUniform": {},
    "LecunNormal": {},
    "GlorotUniform": {},
    "GlorotNormal": {},
    "HeUniform": {},
    "HeNormal": {},
}

#: Values both sides must reach at least ``MIN_VALUES`` of before a KS test, pooling
#: several draws (different seeds) for small shapes so the test has power.
MIN_VALUES = 2000

#: Keras's torch-backend truncated normal keeps the first of 4 normal draws inside
#: (-2, 2) and, if none is, the first anyway: P(escape) = P(|z| >= 2) ** 4.
KERAS_TORCH_ESCAPE = 0.04550026389635842**4  # 4.29e-6

#: Keras 3.15.1 reads a Variable with np.array(self) on a class whose __array__ lacks
#: NumPy 2's ``copy`` keyword, and NumPy 2 warns about it (a DeprecationWarning raised
#: inside Keras, not initlab). Tests that read Keras weights filter exactly that
#: message.
KERAS_NUMPY2_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def import_keras():
    """Keras 3.15.1 on the torch backend, or skip (the tests extra pins it)."""
    keras = pytest.importorskip("keras")
    return keras


def is_random(name: str) -> bool:
    return initlab.get(name).random


def accepts(name: str, shape: tuple[int, ...]) -> bool:
    """Whether the entry accepts ``shape`` (and Keras too, checked by the suite)."""
    if name == "Orthogonal":
        return len(shape) >= 2
    if name == "Identity":
        return len(shape) == 2
    return True


def initlab_init(name: str, seed: int | None = None) -> initlab.Initializer:
    kwargs = dict(CASES[name])
    if is_random(name):
        kwargs["seed"] = seed
    return getattr(initlab, name)(**kwargs)


def keras_init(name: str, seed: int | None = None):
    keras = import_keras()
    kwargs = dict(CASES[name])
    if is_random(name):
        kwargs["seed"] = seed
    return getattr(keras.initializers, name)(**kwargs)


def to_numpy(tensor) -> np.ndarray:
    """A Keras initializer's output (a torch tensor on the torch backend)."""
    keras = import_keras()
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def draws_needed(shape: tuple[int, ...], minimum: int = MIN_VALUES) -> int:
    return max(1, math.ceil(minimum / max(1, math.prod(shape))))


def base_seed(name: str, shape: tuple[int, ...]) -> int:
    """A fixed seed per (entry, shape). Entries of one family share their underlying
    uniform or normal stream on both sides when seeds are equal, which would make
    their KS tests one test repeated; a seed per cell keeps them independent."""
    return zlib.crc32(f"{name}|{shape}".encode()) % 1_000_000 * 1_000


def keras_sample(name: str, shape: tuple[int, ...], draws: int) -> np.ndarray:
    """``draws`` Keras draws of ``shape`` (seeds base, base + 1, ...), flattened."""
    base = base_seed(name, shape)
    return np.concatenate([
        to_numpy(keras_init(name, seed=base + s)(shape, dtype="float32")).reshape(-1)
        for s in range(draws)
    ]).astype(np.float64)


def initlab_sample(name: str, shape: tuple[int, ...], draws: int) -> np.ndarray:
    """``draws`` initlab draws of ``shape`` (seeds base, base + 1, ...), flattened.
    Equal seeds on both sides share nothing: the generators differ."""
    base = base_seed(name, shape)
    return np.concatenate([
        initlab_init(name, seed=base + s)(shape, "float32", name="parity").reshape(-1)
        for s in range(draws)
    ]).astype(np.float64)


def truncated_std() -> float:
    """The std of a standard normal cut to (-2, 2), from scipy, not from either side."""
    from scipy.stats import truncnorm

    return float(truncnorm(-2.0, 2.0).std())


def keras_constants(kinit, shape: tuple[int, ...]) -> dict:
    """fan_in, fan_out, expected mean and std, and bounds computed from the Keras
    object's own attributes and Keras's own ``compute_fans`` (Keras 3.15 formulas)."""
    from keras.src.initializers import constant_initializers as kc
    from keras.src.initializers import random_initializers as kr

    if isinstance(kinit, kr.VarianceScaling):
        fan_in, fan_out = kr.compute_fans(shape, kinit.input_axes, kinit.output_axes)
    else:
        fan_in, fan_out = kr.compute_fans(shape)
    out = {"fan_in": fan_in, "fan_out": fan_out}
    if isinstance(kinit, kr.VarianceScaling):
        n = {"fan_in": fan_in, "fan_out": fan_out,
             "fan_avg": (fan_in + fan_out) / 2}[kinit.mode]
        s = kinit.scale / max(1.0, n)
        std = math.sqrt(s)
        if kinit.distribution == "truncated_normal":
            limit = 2 * math.sqrt(s) / 0.87962566103423978  # Keras's literal
            bounds = (-limit, limit)
        elif kinit.distribution == "uniform":
            limit = math.sqrt(3.0 * s)
            bounds = (-limit, limit)
        else:
            bounds = None
        out.update(expected_mean=0.0, expected_std=std, bounds=bounds)
    elif isinstance(kinit, kr.TruncatedNormal):
        mean, stddev = kinit.mean, kinit.stddev
        out.update(expected_mean=mean, expected_std=stddev * truncated_std(),
                   bounds=(mean - 2 * stddev, mean + 2 * stddev))
    elif isinstance(kinit, kr.RandomNormal):
        out.update(expected_mean=kinit.mean, expected_std=kinit.stddev, bounds=None)
    elif isinstance(kinit, kr.RandomUniform):
        out.update(expected_mean=(kinit.minval + kinit.maxval) / 2,
                   expected_std=(kinit.maxval - kinit.minval) / math.sqrt(12),
                   bounds=(kinit.minval, kinit.maxval))
    elif isinstance(kinit, kr.Orthogonal):
        out.update(gain=kinit.gain, bounds=(-abs(kinit.gain), abs(kinit.gain)))
    elif isinstance(kinit, kc.Identity):
        out.update(gain=kinit.gain, bounds=(min(0.0, kinit.gain), max(0.0, kinit.gain)))
    elif isinstance(kinit, (kc.Zeros, kc.Ones, kc.Constant)):
        value = {kc.Zeros: 0.0, kc.Ones: 1.0}.get(type(kinit))
        value = float(kinit.value) if value is None else value
        out.update(expected_mean=value, expected_std=0.0, bounds=(value, value))
    else:  # pragma: no cover - a new catalog entry needs its formula here
        raise AssertionError(f"no Keras formula for {type(kinit).__name__}")
    return out


def std_standard_error(values: np.ndarray) -> float:
    """Standard error of the sample std, from the sample's fourth moment:
    Var(s^2) ~ (m4 - s^4) / n and s.e.(s) ~ s.e.(s^2) / (2 s). For dependent values
    (an orthogonal matrix, whose std is nearly fixed) this overstates the error."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    centred = values - values.mean()
    m2 = float(np.mean(centred**2))
    m4 = float(np.mean(centred**4))
    if m2 == 0:
        return 0.0
    return math.sqrt(max(m4 - m2**2, 0.0) / values.size) / (2 * math.sqrt(m2))
