"""Bad inputs across the NumPy API: each is refused with an error that names it."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from _core_reference import CATALOG_NAMES, CONFIGS, RANDOM

import initlab

NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------- constructor arguments


@pytest.mark.parametrize(
    ("class_name", "kwargs", "pattern"),
    [
        ("RandomNormal", {"stddev": -1.0}, r"`stddev`.*non-negative.*stddev=-1\.0"),
        ("TruncatedNormal", {"stddev": -0.1}, r"`stddev`.*non-negative.*stddev=-0\.1"),
        ("RandomUniform", {"minval": 1.0, "maxval": 0.0},
         r"`minval` must not exceed `maxval`.*minval=1\.0, maxval=0\.0"),
        ("RandomNormal", {"mean": NAN}, r"`mean`.*finite.*mean=nan"),
        ("RandomNormal", {"stddev": INF}, r"`stddev`.*finite.*stddev=inf"),
        ("TruncatedNormal", {"mean": -INF}, r"`mean`.*finite.*mean=-inf"),
        ("RandomUniform", {"maxval": NAN}, r"`maxval`.*finite.*maxval=nan"),
        ("RandomUniform", {"minval": -INF}, r"`minval`.*finite.*minval=-inf"),
        ("Orthogonal", {"gain": NAN}, r"`gain`.*finite.*gain=nan"),
        ("Identity", {"gain": INF}, r"`gain`.*finite.*gain=inf"),
        ("Constant", {"value": NAN}, r"`value`.*finite.*value=nan"),
        ("Constant", {"value": -INF}, r"`value`.*finite.*value=-inf"),
        ("VarianceScaling", {"scale": NAN}, r"`scale`.*finite.*scale=nan"),
        ("RandomNormal", {"stddev": "0.1"}, r"`stddev`.*real number.*stddev='0\.1'"),
        ("Constant", {"value": [1, 2]}, r"`value`.*real number.*value=\[1, 2\]"),
        ("Constant", {"value": True}, r"`value`.*real number.*value=True"),
        ("Orthogonal", {"gain": None}, r"`gain`.*real number.*gain=None"),
        ("VarianceScaling", {"input_axes": "0"}, r"`input_axes`.*input_axes='0'"),
        ("VarianceScaling", {"output_axes": [1.5]}, r"`output_axes`.*\[1\.5\]"),
    ],
)
def test_bad_constructor_arguments(class_name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(initlab, class_name)(**kwargs)


@pytest.mark.parametrize(("seed", "error", "pattern"), [
    ("0", TypeError, r"`seed`.*seed='0' of type str"),
    (1.5, TypeError, r"`seed`.*seed=1\.5 of type float"),
    (True, TypeError, r"`seed`.*seed=True of type bool"),
    ([0], TypeError, r"`seed`.*seed=\[0\]"),
    (-1, ValueError, r"`seed` must be a non-negative integer\. Received: seed=-1"),
])
@pytest.mark.parametrize("class_name", RANDOM)
def test_bad_seeds(class_name, seed, error, pattern):
    with pytest.raises(error, match=pattern):
        getattr(initlab, class_name)(seed=seed)


@pytest.mark.parametrize("seed", [np.int64(3), np.uint32(3), np.int8(3)])
def test_numpy_integer_seeds_are_ints(seed):
    init = initlab.GlorotNormal(seed=seed)
    assert init.get_config()["seed"] == 3 and type(init.get_config()["seed"]) is int
    assert init((4, 4)).tobytes() == initlab.GlorotNormal(seed=3)((4, 4)).tobytes()


def test_minval_equal_maxval_is_a_constant():
    values = initlab.RandomUniform(0.25, 0.25, seed=0)((10,))
    assert np.all(values == np.float32(0.25))


# ------------------------------------------------------------- shapes


@pytest.mark.parametrize("class_name", CATALOG_NAMES)
@pytest.mark.parametrize(("shape", "error", "pattern"), [
    ((-1, 3), ValueError, r"`shape` dimensions must be non-negative.*\(-1, 3\)"),
    ((3, -2), ValueError, r"non-negative.*\(3, -2\)"),
    ("3,4", TypeError, r"`shape` must be a tuple of integers, not text.*'3,4'"),
    (b"34", TypeError, r"not text"),
    ((2.0, 3), TypeError, r"only integers.*dimension 2\.0 is a float"),
    ((2, "3"), TypeError, r"only integers.*dimension '3' is a str"),
    (None, TypeError, r"`shape` must be a tuple of integers.*None"),
    (True, TypeError, r"`shape` must be a tuple of integers.*True"),
    ((2, True), TypeError, r"only integers"),
])
def test_bad_shapes(class_name, shape, error, pattern):
    init = getattr(initlab, class_name)()
    with pytest.raises(error, match=pattern):
        init(shape)


@pytest.mark.parametrize("shape", [(), (5,)])
def test_orthogonal_needs_rank_2(shape):
    pattern = rf"rank >= 2.*shape={re.escape(repr(shape))}.*rank {len(shape)}"
    with pytest.raises(ValueError, match=pattern):
        initlab.Orthogonal(seed=0)(shape)


@pytest.mark.parametrize("shape", [(), (3,), (2, 2, 2)])
def test_identity_needs_rank_2(shape):
    pattern = rf"2-D shape.*shape={re.escape(repr(shape))} of rank {len(shape)}"
    with pytest.raises(ValueError, match=pattern):
        initlab.Identity()(shape)


@pytest.mark.parametrize("class_name", CATALOG_NAMES)
def test_a_shape_too_big_for_memory_is_refused_before_allocating(class_name):
    init = getattr(initlab, class_name)()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"shape=\(10000000, 10000000\).*GiB"):
        init((10**7, 10**7))
    assert time.perf_counter() - start < 1.0


def test_numpy_integer_dimensions_are_accepted():
    values = initlab.Zeros()((np.int64(2), np.uint8(3)))
    assert values.shape == (2, 3) and all(type(d) is int for d in values.shape)
    assert initlab.Zeros()(4).shape == (4,)


# ------------------------------------------------------------- call arguments


@pytest.mark.parametrize("class_name", CATALOG_NAMES)
def test_bad_call_arguments(class_name):
    config, shape = CONFIGS[class_name]
    init = getattr(initlab, class_name)(**config)
    with pytest.raises(ValueError, match=r"`layout`.*'jax'.*keras, torch"):
        init(shape, layout="jax")
    with pytest.raises(TypeError, match=r"`name` must be a string.*name=3"):
        init(shape, name=3)
    with pytest.raises(TypeError, match=r"`rng` must be a numpy.random.Generator"):
        init(shape, rng=np.random.RandomState(0))


# ------------------------------------------------------------- configs and names


@pytest.mark.parametrize(("config", "error", "pattern"), [
    ({"class_name": "GlorotUniform", "config": {"scale": 2.0}}, ValueError,
     r"Unknown keys for GlorotUniform: \['scale'\]\. Accepted: input_axes, "
     r"output_axes, seed"),
    ({"class_name": "RandomNormal", "config": {"std": 1.0}}, ValueError,
     r"Unknown keys for RandomNormal: \['std'\]"),
    ({"class_name": "Zeros", "config": {"value": 0}}, ValueError,
     r"Unknown keys for Zeros: \['value'\]\. Accepted: \(none\)"),
    ({"class_name": "NoSuchInit", "config": {}}, ValueError,
     r"Unknown initializer: 'NoSuchInit'"),
    ({"class_name": "he_normal", "config": {}, "extra": 1}, ValueError,
     r"Unknown keys in initializer config: \['extra'\]"),
    ({"config": {}}, ValueError, r"needs a 'class_name' key"),
    ({"class_name": 3}, ValueError, r"'class_name' must be a string.*3"),
    ({"class_name": "he_normal", "config": [1]}, ValueError,
     r"'config' must be a dict"),
    ({"class_name": "he_normal", "config": {"seed": -3}}, ValueError, r"seed=-3"),
    ({"class_name": "he_normal", "config": {"seed": "x"}}, TypeError, r"seed='x'"),
    (3, TypeError, r"must be a dict with 'class_name' and 'config'"),
])
def test_bad_configs(config, error, pattern):
    with pytest.raises(error, match=pattern):
        initlab.deserialize(config)


def test_from_config_with_unknown_keys_fails():
    with pytest.raises(TypeError, match="scale"):
        initlab.GlorotUniform.from_config({"seed": 0, "scale": 2.0})


@pytest.mark.parametrize("identifier", [3, 1.5, [1], object(), lambda shape: shape])
def test_get_refuses_other_types(identifier):
    with pytest.raises(TypeError, match="Could not interpret initializer identifier"):
        initlab.get(identifier)


@pytest.mark.parametrize("name", ["", "nope", "Glorot Uniform", "he-normal"])
def test_unknown_names_are_value_errors_naming_them(name):
    with pytest.raises(ValueError, match=rf"Unknown initializer: '{name}'"):
        initlab.get(name)


def test_serialize_refuses_non_initializers():
    with pytest.raises(TypeError, match="serialize takes an initlab Initializer"):
        initlab.serialize("he_normal")
