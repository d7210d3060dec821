"""Output dtypes: float16, bfloat16, float32, float64; integer fills; refusals."""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest
from _core_reference import BOUNDED, CONFIGS, RANDOM, reference, within_bounds

import initlab

FLOATS = ["float16", "bfloat16", "float32", "float64"]
BF16 = np.dtype(ml_dtypes.bfloat16)


def out_dtype(name: str) -> np.dtype:
    return BF16 if name == "bfloat16" else np.dtype(name)


def build(class_name: str, shape=None):
    config, default_shape = CONFIGS[class_name]
    return getattr(initlab, class_name)(**config), shape or default_shape


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("class_name", RANDOM + ("Identity",))
def test_float_outputs_have_the_dtype_shape_and_finite_values(class_name, dtype):
    init, shape = build(class_name)
    values = init(shape, dtype, name="w")
    assert values.dtype == out_dtype(dtype)
    assert values.shape == shape
    assert np.all(np.isfinite(values.astype(np.float64)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("class_name", RANDOM + ("Identity",))
def test_half_precision_is_the_float32_draw_cast(class_name, dtype):
    # Contract 1: sampled in float32 (float64 for float64 output) and cast.
    init, shape = build(class_name)
    half = init(shape, dtype, name="w")
    single = init(shape, "float32", name="w")
    assert half.tobytes() == single.astype(out_dtype(dtype)).tobytes()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("class_name", BOUNDED)
def test_bounds_hold_in_the_output_dtype(class_name, dtype):
    config, _ = CONFIGS[class_name]
    shape = (64, 1024)  # 65,536 values, so the extremes come close to the bounds
    init = getattr(initlab, class_name)(**config)
    values = init(shape, dtype, name="bounds")
    _, bounds, _ = reference(class_name, config, shape)
    assert within_bounds(values, bounds)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(("low", "high"), [(0.0, 0.1), (-0.3, 0.7), (-1e-3, 1e-3),
                                           (0.5, 0.5)])
def test_uniform_bounds_that_do_not_round_exactly(low, high, dtype):
    values = initlab.RandomUniform(low, high, seed=1)((100_000,), dtype)
    assert within_bounds(values, (low, high))
    if dtype in ("float32", "float64"):
        wide = values.astype(np.float64)
        assert wide.min() >= low and wide.max() <= high


@pytest.mark.parametrize("spelling", ["float16", np.float16, np.dtype("float16"), "f2",
                                      "bfloat16", ml_dtypes.bfloat16, BF16,
                                      "float64", float, "f8", None, "float32"])
def test_dtype_spellings(spelling):
    values = initlab.HeUniform(seed=0)((3, 4), spelling)
    expected = {None: np.dtype("float32"), float: np.dtype("float64")}.get(
        spelling, BF16 if "bfloat16" in str(spelling) else np.dtype(spelling))
    assert values.dtype == expected


@pytest.mark.parametrize(
    ("dtype", "named"),
    [("int32", "int32"), (np.int8, "int8"), ("uint8", "uint8"), (bool, "bool"),
     ("bool", "bool"), ("complex64", "complex64"), (np.complex128, "complex128"),
     ("object", "object"), ("U3", "<U3|str")],
)
@pytest.mark.parametrize("class_name", RANDOM + ("Identity",))
def test_non_float_dtypes_are_refused_by_random_entries(class_name, dtype, named):
    init, shape = build(class_name)
    pattern = rf"dtype=({named}).*float16, bfloat16, float32, float64"
    with pytest.raises(TypeError, match=pattern):
        init(shape, dtype)


@pytest.mark.parametrize("dtype", ["nope", "float17"])
def test_unknown_dtype_names_are_refused(dtype):
    with pytest.raises(TypeError, match=rf"Unknown dtype '{dtype}'"):
        initlab.Zeros()((2,), dtype)
    with pytest.raises(TypeError, match=rf"Unknown dtype '{dtype}'"):
        initlab.HeNormal()((2, 2), dtype)


def test_long_double_is_refused():
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(TypeError, match="float128|longdouble"):
        initlab.RandomNormal()((2,), np.longdouble)


# ------------------------------------------------------------- constant entries

INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("dtype", INTS)
def test_zeros_and_ones_fill_integer_dtypes(dtype):
    zeros = initlab.Zeros()((3, 4), dtype)
    ones = initlab.Ones()((3, 4), dtype)
    assert zeros.dtype == np.dtype(dtype) and ones.dtype == np.dtype(dtype)
    assert zeros.tolist() == [[0] * 4] * 3
    assert ones.tolist() == [[1] * 4] * 3


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(-3, "int8"), (-128, "int8"), (127, "int8"), (200, "uint8"), (255, "uint8"),
     (7.0, "int32"), (2**40, "int64"), (2**53 + 1, "int64"), (2**64 - 1, "uint64"),
     (-(2**63), "int64")],
)
def test_constant_fills_integer_dtypes_exactly(value, dtype):
    values = initlab.Constant(value)((2, 5), dtype)
    assert values.dtype == np.dtype(dtype)
    assert all(int(v) == int(value) for v in values.ravel().tolist())


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(0.5, "int32"), (300, "int8"), (-1, "uint8"), (2**63, "int64"), (256, "uint8"),
     (1e20, "int64")],
)
def test_constant_refuses_values_an_integer_dtype_cannot_hold(value, dtype):
    with pytest.raises(ValueError, match=rf"{re.escape(repr(value))}.*{dtype}"):
        initlab.Constant(value)((2,), dtype)


def test_zeros_and_ones_fill_bool():
    assert initlab.Zeros()((3,), bool).tolist() == [False] * 3
    assert initlab.Ones()((3,), "bool").tolist() == [True] * 3
    assert initlab.Constant(1)((2,), bool).tolist() == [True, True]


def test_constant_refuses_inexact_bool():
    with pytest.raises(ValueError, match=r"0\.5.*bool"):
        initlab.Constant(0.5)((2,), bool)


@pytest.mark.parametrize("dtype", ["complex64", "U3", "object", "datetime64[s]"])
@pytest.mark.parametrize("class_name", ["Zeros", "Ones", "Constant"])
def test_constant_entries_refuse_non_numeric_dtypes(class_name, dtype):
    named = re.escape(np.dtype(dtype).name)
    with pytest.raises(TypeError, match=rf"dtype={named}.*float16, bfloat16, float32, "
                                        r"float64, an integer dtype or bool"):
        getattr(initlab, class_name)()((2,), dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_constant_float_values_round_to_the_dtype(dtype):
    values = initlab.Constant(0.1)((4,), dtype)
    assert values.dtype == out_dtype(dtype)
    assert np.all(values == np.asarray(0.1).astype(out_dtype(dtype)))


@pytest.mark.parametrize(("value", "dtype"), [(1e6, "float16"), (-7e4, "float16"),
                                              (1e39, "float32"), (1e39, "bfloat16")])
def test_constant_overflowing_the_dtype_is_refused(value, dtype):
    pattern = rf"{re.escape(repr(value))} overflows {dtype}"
    with pytest.raises(ValueError, match=pattern):
        initlab.Constant(value)((2,), dtype)


def test_constant_huge_python_int_into_a_float_dtype_is_refused():
    with pytest.raises(ValueError, match="overflows float64"):
        initlab.Constant(10**400)((2,), "float64")


def test_identity_gain_overflowing_the_dtype_is_refused():
    with pytest.raises(ValueError, match=r"gain.*1000000\.0.*float16"):
        initlab.Identity(gain=1e6)((2, 2), "float16")


# ------------------------------------------------------------- orthogonal halves


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_orthogonal_in_half_precision(dtype):
    values = initlab.Orthogonal(seed=0)((64, 32), dtype)
    assert values.dtype == out_dtype(dtype)
    m = values.astype(np.float64)
    eps = float(np.finfo(np.float16).eps) if dtype == "float16" else 2.0**-7
    # Rounding moves each entry by at most eps/2 relative: E with |e_ij| <= eps/2
    # |q_ij|. (Q + E)^T (Q + E) - I = Q^T E + E^T Q + E^T E, and by Cauchy-Schwarz
    # on unit columns each of the first two is <= eps/2 per entry: <= eps in all,
    # plus float32 QR error (~1e-6).
    np.testing.assert_allclose(m.T @ m, np.eye(32), atol=1.1 * eps + 1e-5)
