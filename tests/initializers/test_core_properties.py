"""Property tests (hypothesis): small shapes, modest example counts."""

from __future__ import annotations

import ml_dtypes
import numpy as np
from _core_reference import reference, within_bounds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import initlab

FLOATS = ["float16", "bfloat16", "float32", "float64"]
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)
positive = st.floats(0.0, 2.0, allow_nan=False, allow_infinity=False)


@st.composite
def configs(draw):
    """(class name, config) with parameters in ranges no dtype overflows."""
    name = draw(st.sampled_from([
        "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
        "VarianceScaling", "Orthogonal", "Identity", "LecunUniform", "LecunNormal",
        "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal"]))
    seed = draw(st.integers(0, 2**63))
    if name in ("Zeros", "Ones"):
        return name, {}
    if name == "Constant":
        return name, {"value": draw(st.floats(-100, 100, allow_nan=False))}
    if name == "Identity":
        return name, {"gain": draw(finite)}
    if name == "Orthogonal":
        return name, {"gain": draw(finite), "seed": seed}
    if name in ("RandomNormal", "TruncatedNormal"):
        return name, {"mean": draw(finite), "stddev": draw(positive), "seed": seed}
    if name == "RandomUniform":
        low, high = sorted([draw(finite), draw(finite)])
        return name, {"minval": low, "maxval": high, "seed": seed}
    if name == "VarianceScaling":
        return name, {
            "scale": draw(st.floats(0.01, 10.0)),
            "mode": draw(st.sampled_from(["fan_in", "fan_out", "fan_avg"])),
            "distribution": draw(st.sampled_from(
                ["uniform", "truncated_normal", "untruncated_normal", "normal"])),
            "seed": seed,
        }
    return name, {"seed": seed}


@st.composite
def cases(draw):
    name, config = draw(configs())
    if name == "Identity":
        rank = 2
    elif name == "Orthogonal":
        rank = draw(st.integers(2, 3))
    else:
        rank = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(FLOATS))
    layout = draw(st.sampled_from(["keras", "torch"]))
    param = draw(st.text(max_size=12))
    return name, config, shape, dtype, layout, param


def out_dtype(name: str) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


@SETTINGS
@given(cases())
def test_shape_dtype_finiteness_and_bounds(case):
    name, config, shape, dtype, layout, param = case
    init = getattr(initlab, name)(**config)
    values = init(shape, dtype, name=param, layout=layout)
    assert values.shape == shape
    assert values.dtype == out_dtype(dtype)
    wide = values.astype(np.float64)
    assert np.all(np.isfinite(wide))
    _, bounds, constant = reference(name, config, shape, layout)
    if bounds is not None:
        assert within_bounds(values, bounds)
    if constant is not None:
        assert np.all(values == np.asarray(constant).astype(values.dtype))
    if name == "Orthogonal":
        # Entries of a matrix with orthonormal rows or columns are at most 1.
        assert np.all(np.abs(wide) <= abs(config["gain"]) * (1 + 1e-5))
    if name == "Identity":
        gain = np.asarray(config["gain"]).astype(values.dtype)
        eye = np.eye(*shape, dtype=bool)
        assert np.all(values[eye] == gain) and np.all(values[~eye] == 0)


@SETTINGS
@given(cases())
def test_determinism_and_config_round_trip(case):
    name, config, shape, dtype, layout, param = case
    init = getattr(initlab, name)(**config)
    first = init(shape, dtype, name=param, layout=layout)
    assert init(shape, dtype, name=param, layout=layout).tobytes() == first.tobytes()
    clone = initlab.deserialize(initlab.serialize(init))
    assert clone.get_config() == init.get_config()
    assert type(clone).from_config(clone.get_config()).get_config() == init.get_config()
    assert clone(shape, dtype, name=param, layout=layout).tobytes() == first.tobytes()


@SETTINGS
@given(st.lists(st.integers(0, 5), max_size=4), st.sampled_from(["keras", "torch"]))
def test_fans_are_non_negative_ints_matching_the_layout(shape, layout):
    fan_in, fan_out = initlab.compute_fans(tuple(shape), layout)
    assert type(fan_in) is int and type(fan_out) is int
    if len(shape) >= 2:
        size = int(np.prod(shape))
        # fan_in * fan_out = size * receptive field, in both layouts.
        receptive = int(np.prod(shape[:-2] if layout == "keras" else shape[2:]))
        assert fan_in * fan_out == size * receptive
