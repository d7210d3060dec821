"""compute_fans: named layouts, explicit (JAX) axes, Keras input/output axes, zero
sizes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from _core_reference import (
    CATALOG_NAMES,
    FAMILY,
    jax_fans,
    keras_fans,
    torch_fans,
    variance_scaling_dist,
)

import initlab
from initlab import compute_fans

SHAPES = [(), (7,), (3, 5), (5, 3), (3, 3, 16, 32), (2, 3, 4, 5, 6), (64, 1, 3, 3),
          (3, 3, 64, 1), (64, 16, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_keras_layout(shape):
    fans = compute_fans(shape)
    assert fans == keras_fans(shape)
    assert fans == compute_fans(shape, layout="keras")
    assert all(type(f) is int for f in fans)


@pytest.mark.parametrize("shape", SHAPES)
def test_torch_layout(shape):
    fans = compute_fans(shape, layout="torch")
    assert fans == torch_fans(shape)
    assert all(type(f) is int for f in fans)


@pytest.mark.parametrize(
    ("shape", "layout", "expected"),
    [
        ((), "keras", (1, 1)),
        ((), "torch", (1, 1)),
        ((64,), "keras", (64, 64)),
        ((64,), "torch", (64, 64)),
        ((128, 256), "keras", (128, 256)),
        ((256, 128), "torch", (128, 256)),
        ((3, 3, 64, 1), "keras", (576, 9)),  # C6: Keras depthwise kernel
        ((64, 1, 3, 3), "torch", (9, 576)),  # C6: PyTorch's generic helper
        ((4, 1, 3, 3), "torch", (9, 36)),
        ((64, 16, 3), "torch", (48, 192)),  # C7: Conv1d 64 -> 64, k 3, groups 4
        ((64, 8, 3, 3), "torch", (72, 576)),  # C7: Conv2d 64 -> 64, 3x3, groups 8
    ],
)
def test_fans_from_the_cases(shape, layout, expected):
    assert compute_fans(shape, layout) == expected


@pytest.mark.parametrize(
    ("shape", "axes"),
    [
        ((3, 4, 5), {"in_axis": 0, "out_axis": 2}),
        ((3, 4, 5), {"in_axis": -3, "out_axis": -1}),
        ((2, 3, 4), {"in_axis": (0, 1), "out_axis": 2}),
        ((8, 3, 4, 5), {"in_axis": -2, "out_axis": -1, "batch_axis": 0}),
        ((8, 3, 4, 5), {"in_axis": -2, "out_axis": -1, "batch_axis": (0,)}),
        ((5, 3, 4, 2), {"in_axis": 1, "out_axis": 0}),
        ((6, 4, 3, 3), {"in_axis": 1, "out_axis": 0, "batch_axis": ()}),
        # Flax Embed: in_axis -2 and out_axis 0 are the same axis of (num, features),
        # so JAX's fans are (features, features) (ANCHORS 3.5).
        ((10, 3), {"in_axis": -2, "out_axis": 0}),
        ((10, 3, 2), {"in_axis": 0, "out_axis": (0, 2)}),
    ],
)
def test_explicit_axes_follow_jax(shape, axes):
    expected = jax_fans(shape, axes.get("in_axis", -2), axes.get("out_axis", -1),
                        axes.get("batch_axis", ()))
    fans = compute_fans(shape, **axes)
    assert fans == pytest.approx(expected, rel=1e-12)
    assert all(type(f) is int for f in fans)


def test_flax_embed_fans():
    assert compute_fans((10, 3), in_axis=-2, out_axis=0) == (3, 3)


def test_explicit_axes_override_the_layout():
    # (out, in, k) read as torch by default; explicit axes give another reading.
    assert compute_fans((4, 6, 5), layout="torch", in_axis=0, out_axis=1) == (20, 30)
    assert compute_fans((4, 6, 5), layout="keras", in_axis=0, out_axis=1) == (20, 30)


def test_one_explicit_axis_takes_the_other_from_the_layout():
    # keras: out defaults to -1; torch: in defaults to 1.
    assert compute_fans((3, 4, 5), in_axis=0) == jax_fans((3, 4, 5), 0, -1)
    torch_fans_ = compute_fans((3, 4, 5), layout="torch", out_axis=2)
    assert torch_fans_ == jax_fans((3, 4, 5), 1, 2)


@pytest.mark.parametrize(
    "kwargs",
    [{"in_axis": 3}, {"out_axis": -4}, {"batch_axis": 5}, {"in_axis": 1.0},
     {"in_axis": "0"}],
)
def test_bad_axes_are_refused(kwargs):
    with pytest.raises((ValueError, TypeError), match=next(iter(kwargs))):
        compute_fans((3, 4, 5), **kwargs)


def test_bad_layout_is_refused():
    with pytest.raises(ValueError, match=r"layout.*'jax'.*keras, torch"):
        compute_fans((3, 4), layout="jax")


# ------------------------------------------------- VarianceScaling input/output axes


def test_variance_scaling_input_output_axes_are_products_as_in_keras_315():
    # Keras 3.15 compute_fans: with both lists, fan_in/fan_out are the products of
    # those dimensions alone (no receptive field).
    init = initlab.VarianceScaling(1.0, "fan_in", "uniform", seed=0,
                                   input_axes=[0, 1], output_axes=[2])
    shape = (4, 8, 16, 2)
    fan_in, fan_out = 32, 16
    assert init.statistics(shape)["fan_in"] == fan_in
    assert init.statistics(shape)["fan_out"] == fan_out
    values = init(shape).astype(np.float64)
    limit = math.sqrt(3.0 / fan_in)
    assert np.abs(values).max() <= np.float32(limit)
    assert np.abs(values).max() >= 0.99 * limit


def test_variance_scaling_overlapping_input_output_axes_are_products():
    # EinsumDense can name an axis as both input and output; Keras multiplies.
    init = initlab.VarianceScaling(1.0, "fan_out", "uniform", seed=0,
                                   input_axes=[0], output_axes=[0, 1])
    values = init((60, 50))
    limit = math.sqrt(3.0 / 3000)
    assert np.abs(values).max() <= np.float32(limit)
    assert np.abs(values).max() >= 0.99 * limit


def test_variance_scaling_only_one_axes_list_uses_the_layout():
    init = initlab.VarianceScaling(1.0, "fan_in", "uniform", seed=0, input_axes=[0])
    values = init((50, 20))  # keras fans (50, 20)
    assert np.abs(values).max() <= np.float32(math.sqrt(3.0 / 50))
    assert np.abs(values).max() >= 0.99 * math.sqrt(3.0 / 50)


@pytest.mark.parametrize("layout", ["keras", "torch"])
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_family_reads_fans_from_the_layout(name, layout):
    shape = (96, 32, 3)
    fans = keras_fans(shape) if layout == "keras" else torch_fans(shape)
    _, bounds = variance_scaling_dist(*FAMILY[name], *fans)
    values = getattr(initlab, name)(seed=0)(shape, layout=layout)
    assert np.abs(values).max() <= np.float32(bounds[1])
    # The bound binds to within 10 % with 9,216 draws (uniform: max within
    # 1 - 1e-3; truncated: P(all below 0.9 * bound) is negligible).
    assert np.abs(values).max() >= 0.9 * bounds[1]


# ------------------------------------------------------------------ zero sizes

ZERO_SHAPES = [(0,), (0, 4), (4, 0), (0, 0), (3, 3, 0, 8), (2, 0, 3)]


@pytest.mark.parametrize("shape", ZERO_SHAPES)
def test_zero_size_fans_do_not_divide_by_zero(shape):
    assert compute_fans(shape) == keras_fans(shape)
    assert compute_fans(shape, layout="torch") == torch_fans(shape)


def test_zero_size_explicit_axes():
    assert compute_fans((0, 4), in_axis=0, out_axis=1) == (0, 4)
    assert compute_fans((3, 0, 5), in_axis=1, out_axis=2) == (0, 15)
    # Flax Embed with no rows: JAX's fan_in = size / out_size = features.
    assert compute_fans((0, 3), in_axis=-2, out_axis=0) == (3, 3)
    assert compute_fans((0, 4, 5), in_axis=1, out_axis=2, batch_axis=0) == (4, 5)


def test_axes_named_twice_across_out_and_batch_are_refused():
    with pytest.raises(ValueError, match="more than once"):
        compute_fans((3, 4, 5), in_axis=1, out_axis=2, batch_axis=2)


def test_variance_scaling_axes_out_of_range_are_refused():
    init = initlab.VarianceScaling(input_axes=[0], output_axes=[3], seed=0)
    with pytest.raises(ValueError, match=r"output_axes.*\[3\].*rank 2"):
        init((4, 5))


def _accepts(class_name: str, shape) -> bool:
    if class_name == "Identity":
        return len(shape) == 2
    if class_name == "Orthogonal":
        return len(shape) >= 2
    return True


@pytest.mark.parametrize("layout", ["keras", "torch"])
@pytest.mark.parametrize(("class_name", "shape"),
                         [(c, s) for c in CATALOG_NAMES for s in ZERO_SHAPES
                          if _accepts(c, s)])
def test_zero_size_shapes_give_empty_arrays_without_warnings(class_name, shape, layout):
    init = getattr(initlab, class_name)()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = init(shape, layout=layout, name="empty")
    assert values.shape == shape
    assert values.dtype == np.float32
    assert values.size == 0


def test_c8_variance_scaling_fan_avg_on_zero_rows():
    values = initlab.VarianceScaling(mode="fan_avg")((0, 4))
    assert values.shape == (0, 4)


def test_c8_orthogonal_on_zero_rows():
    assert initlab.Orthogonal()((0, 1)).shape == (0, 1)
