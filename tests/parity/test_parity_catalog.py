"""Every catalog entry against Keras 3.15.1 itself: fans, constants, samples, bounds.

Keras runs on its torch backend (tests/conftest.py sets KERAS_BACKEND=torch). For
every entry and every shape of ``SHAPES`` that the entry accepts:

- the fans are Keras's ``compute_fans``;
- the constants initlab states (``statistics()``: fans, mean, std, bounds, gain) are
  those computed from the Keras object's own attributes and formula;
- initlab's and Keras's samples cannot be told apart by a two-sample
  Kolmogorov-Smirnov test (fixed seeds, p > 1e-3; small shapes pool several draws);
  deterministic entries give equal values instead;
- truncated and uniform samples respect the same hard bounds and reach them: initlab
  strictly, Keras up to its torch backend's known escapes (about 4.3e-6 of truncated
  values) and one float32 rounding step;
- the shapes one side refuses (Orthogonal below rank 2, Identity off rank 2), the
  other refuses too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _parity_cases import (
    CASES,
    KERAS_NUMPY2_WARNING,
    KERAS_TORCH_ESCAPE,
    SHAPES,
    accepts,
    draws_needed,
    import_keras,
    initlab_init,
    initlab_sample,
    is_random,
    keras_constants,
    keras_init,
    keras_sample,
    to_numpy,
    truncated_std,
)
from scipy import stats

import initlab

keras = import_keras()
from keras.src.initializers.random_initializers import (  # noqa: E402
    compute_fans as keras_compute_fans,
)

pytestmark = KERAS_NUMPY2_WARNING

NAMES = list(CASES)
CELLS = [(name, shape) for name in NAMES for shape in SHAPES]
ACCEPTED = [(name, shape) for name, shape in CELLS if accepts(name, shape)]


def _id(name, shape):
    return f"{name}-{'x'.join(map(str, shape)) or 'scalar'}"


def test_keras_is_the_pinned_version_on_the_torch_backend():
    assert keras.__version__ == "3.15.1"
    assert keras.backend.backend() == "torch"


def test_cases_cover_exactly_the_catalog():
    assert NAMES == [cls.__name__ for cls in initlab.CATALOG]


def test_truncated_std_constant_is_the_truncated_normal_std():
    assert initlab.TRUNCATED_STD == pytest.approx(truncated_std(), rel=1e-14)


# ------------------------------------------------------------------------ fans


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_fans_are_keras_fans(shape):
    assert initlab.compute_fans(shape) == keras_compute_fans(shape)


@pytest.mark.parametrize(("shape", "input_axes", "output_axes"), [
    ((32, 4, 8), [0], [1, 2]),        # EinsumDense query kernel of MultiHeadAttention
    ((4, 8, 32), [0, 1], [2]),        # its output kernel
    ((3, 3, 16, 32), [0, 1, 2], [3]),
    ((64, 128), [1], [0]),            # axes swapped
])
def test_variance_scaling_axes_are_keras_315_axes(shape, input_axes, output_axes):
    ours = initlab.VarianceScaling(input_axes=input_axes, output_axes=output_axes)
    assert ours.fans(shape) == keras_compute_fans(shape, input_axes, output_axes)
    theirs = keras.initializers.VarianceScaling(input_axes=input_axes,
                                                output_axes=output_axes)
    assert ours.statistics(shape)["expected_std"] == pytest.approx(
        keras_constants(theirs, shape)["expected_std"], rel=1e-12)


# ------------------------------------------------------------------- refusals


@pytest.mark.parametrize(("name", "shape"), CELLS, ids=[_id(*c) for c in CELLS])
def test_both_refuse_the_same_shapes(name, shape, parity_report):
    def refuses(call) -> bool:
        try:
            call()
        except ValueError:
            return True
        return False

    ours = refuses(lambda: initlab_init(name, seed=1)(shape))
    theirs = refuses(lambda: keras_init(name, seed=1)(shape))
    assert ours == theirs == (not accepts(name, shape))
    if ours:
        parity_report.add(name, shape, "refused",
                          note="ValueError on both sides (rank)")


# ------------------------------------------------------------------ constants


@pytest.mark.parametrize(("name", "shape"), ACCEPTED, ids=[_id(*c) for c in ACCEPTED])
def test_constants_are_keras_constants(name, shape):
    theirs = keras_constants(keras_init(name, seed=1), shape)
    ours = initlab_init(name, seed=1).statistics(shape)
    assert (ours["fan_in"], ours["fan_out"]) == (theirs["fan_in"], theirs["fan_out"])
    if theirs["bounds"] is None:
        assert ours["bounds"] is None
    else:
        assert ours["bounds"] == pytest.approx(theirs["bounds"], rel=1e-12, abs=1e-15)
    if "gain" in theirs:  # Orthogonal, Identity: gain read back, std from Keras's draw
        assert initlab_init(name).gain == theirs["gain"]
        values = to_numpy(keras_init(name, seed=1)(shape)).astype(np.float64)
        if name == "Orthogonal":
            # Orthonormal rows/columns: the mean square is gain^2 / max(rows, cols).
            assert ours["expected_std"] == pytest.approx(
                math.sqrt(np.mean(values**2)), rel=1e-5)
        else:
            assert ours["expected_mean"] == pytest.approx(values.mean(), rel=1e-6)
            assert ours["expected_std"] == pytest.approx(values.std(), rel=1e-6)
    else:
        assert ours["expected_mean"] == pytest.approx(theirs["expected_mean"],
                                                      abs=1e-15)
        assert ours["expected_std"] == pytest.approx(theirs["expected_std"], rel=1e-12,
                                                     abs=1e-15)


# ------------------------------------------------------------ samples, bounds


def _check_bounds(name, shape, ours, theirs, bounds):
    low, high = bounds
    # initlab: strictly inside the bounds computed in float64.
    assert ours.min() >= low and ours.max() <= high, (ours.min(), ours.max(), bounds)
    # Keras: one float32 rounding step of slack, and, for its torch-backend truncated
    # normal, the escapes Poisson(n * 4.3e-6) allows at the 1e-6 level.
    slack = max(np.spacing(np.float32(abs(low))), np.spacing(np.float32(abs(high))))
    outside = int(np.sum((theirs < low - slack) | (theirs > high + slack)))
    truncated = name == "TruncatedNormal" or \
        getattr(initlab_init(name), "distribution", None) == "truncated_normal"
    allowed = int(stats.poisson.ppf(1 - 1e-6, theirs.size * KERAS_TORCH_ESCAPE)) \
        if truncated else 0
    assert outside <= allowed, (outside, allowed)
    # The same bounds, reached by both: within 5 % of the width of each end
    # (uniform: P(miss) = 0.95^n; truncated at +-2 std: the last 5 % of the width is
    # the last 0.2 std, holding 1.4 % of the mass).
    if name != "Orthogonal":  # |w| <= gain is a bound orthogonal matrices rarely near
        margin = 0.05 * (high - low)
        for values in (ours, theirs):
            assert values.min() < low + margin and values.max() > high - margin


@pytest.mark.parametrize(("name", "shape"), ACCEPTED, ids=[_id(*c) for c in ACCEPTED])
def test_samples_match_keras(name, shape, parity_report):
    if not is_random(name):
        ours = initlab_init(name)(shape, "float32")
        theirs = to_numpy(keras_init(name)(shape, dtype="float32"))
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
        parity_report.add(name, shape, "exact", n_initlab=ours.size,
                          n_keras=theirs.size,
                          note="deterministic: values equal exactly")
        return
    draws = draws_needed(shape)
    ours = initlab_sample(name, shape, draws)
    theirs = keras_sample(name, shape, draws)
    assert ours.size == theirs.size == draws * math.prod(shape)
    result = stats.ks_2samp(ours, theirs)
    note = f"{draws} draws pooled" if draws > 1 else ""
    parity_report.add(name, shape, "KS", n_initlab=ours.size, n_keras=theirs.size,
                      statistic=float(result.statistic), pvalue=float(result.pvalue),
                      note=note)
    assert result.pvalue > 1e-3, (result.statistic, result.pvalue)
    bounds = initlab_init(name).statistics(shape)["bounds"]
    if bounds is not None:
        _check_bounds(name, shape, ours, theirs, bounds)
