"""Random initializers: the basic distributions, VarianceScaling and its family,
Orthogonal."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from initlab.initializers._base import (
    RandomInitializer,
    Source,
    check_finite,
    draw,
    inner_bound,
    work_dtype,
)
from initlab.initializers._fans import compute_fans

__all__ = [
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TRUNCATED_STD",
    "TruncatedNormal",
    "VarianceScaling",
]

#: The standard deviation of a standard normal truncated to (-2, 2):
#: sqrt(1 - 4 * phi(2) / (Phi(2) - Phi(-2))). VarianceScaling divides by it so that
#: the post-truncation std is the one asked for (as Keras 3 and JAX do).
TRUNCATED_STD = 0.87962566103423978


# --------------------------------------------------------------------------- samplers


def _clip(values: np.ndarray, low: float, high: float, toward: float) -> None:
    """Clip in place to [low, high] rounded inward in the values' dtype."""
    work = values.dtype
    np.clip(
        values,
        inner_bound(low, work, toward),
        inner_bound(high, work, toward),
        out=values,
    )


def _uniform(low: float, high: float):
    def sample(gen: np.random.Generator, out: np.ndarray) -> None:
        gen.random(dtype=out.dtype, out=out)
        out *= high - low
        out += low
        _clip(out, low, high, (low + high) / 2)

    return sample


def _normal(mean: float, std: float):
    def sample(gen: np.random.Generator, out: np.ndarray) -> None:
        gen.standard_normal(dtype=out.dtype, out=out)
        out *= std
        out += mean

    return sample


def _truncated_normal(mean: float, std: float, lower: float = -2.0, upper: float = 2.0):
    """N(mean, std) restricted to [mean + lower * std, mean + upper * std].

    Values outside are redrawn (rejection), which is exact and fast when most of the
    mass lies inside, as for Keras's +-2 std (95.4 %). Below 5 % of the mass the
    inverse CDF of uniforms is used instead (float64 ``ndtri``), so a narrow or
    one-sided interval never loops for long.
    """
    from scipy.special import ndtr, ndtri

    low, high = mean + lower * std, mean + upper * std
    mass = float(ndtr(upper) - ndtr(lower))

    def by_rejection(gen: np.random.Generator, out: np.ndarray) -> None:
        gen.standard_normal(dtype=out.dtype, out=out)
        outside = np.flatnonzero((out < lower) | (out > upper))
        while outside.size:
            out[outside] = gen.standard_normal(outside.size, dtype=out.dtype)
            redrawn = out[outside]
            outside = outside[(redrawn < lower) | (redrawn > upper)]
        out *= std
        out += mean
        _clip(out, low, high, mean)

    def by_inverse_cdf(gen: np.random.Generator, out: np.ndarray) -> None:
        cdf_low, cdf_high = ndtr(lower), ndtr(upper)
        out[...] = (
            ndtri(cdf_low + gen.random(out.size) * (cdf_high - cdf_low)) * std + mean
        )
        _clip(out, low, high, mean)

    return by_rejection if mass >= 0.05 else by_inverse_cdf


def _stats(
    mean: float, std: float, bounds: tuple[float, float] | None
) -> dict[str, Any]:
    return {"expected_mean": mean, "expected_std": std, "bounds": bounds}


# ----------------------------------------------------------------- basic distributions


class _MeanStd(RandomInitializer):
    """Shared construction and config of the (mean, stddev) distributions."""

    def __init__(
        self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None
    ):
        super().__init__(seed)
        self.mean = check_finite(mean, "mean")
        self.stddev = check_finite(stddev, "stddev", non_negative=True)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class RandomNormal(_MeanStd):
    """Normal distribution N(mean, stddev**2).

    Args:
        mean: The mean. Defaults to 0.0.
        stddev: The standard deviation, >= 0. Defaults to 0.05.
        seed: An int gives the stream of (seed, name): the same shape and name repeat
            exactly. None draws fresh entropy at every call. Defaults to None.
    """

    formula = "w ~ N(mean, stddev^2)"

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        return draw(
            math.prod(shape), dtype, source, _normal(self.mean, self.stddev)
        ).reshape(shape)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        stats.update(_stats(self.mean, self.stddev, None))
        return stats


class TruncatedNormal(_MeanStd):
    """N(mean, stddev**2) with values more than two stddev from the mean redrawn.

    ``stddev`` is the parameter before truncation, so the values' std is
    ``0.8796 * stddev`` (as in Keras 3 and JAX; no correction). Bounds are relative:
    ``mean +- 2 * stddev``.

    Args:
        mean: The mean. Defaults to 0.0.
        stddev: The standard deviation before truncation, >= 0. Defaults to 0.05.
        seed: As in :class:`RandomNormal`. Defaults to None.
    """

    formula = "w ~ N(mean, stddev^2) truncated to mean +- 2 stddev"

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        return draw(
            math.prod(shape), dtype, source, _truncated_normal(self.mean, self.stddev)
        ).reshape(shape)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        bounds = (self.mean - 2 * self.stddev, self.mean + 2 * self.stddev)
        stats.update(_stats(self.mean, self.stddev * TRUNCATED_STD, bounds))
        return stats


class RandomUniform(RandomInitializer):
    """Uniform distribution on [minval, maxval).

    Args:
        minval: The lower bound. Defaults to -0.05.
        maxval: The upper bound, >= minval. Defaults to 0.05.
        seed: As in :class:`RandomNormal`. Defaults to None.
    """

    formula = "w ~ U(minval, maxval)"

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ):
        super().__init__(seed)
        self.minval = check_finite(minval, "minval")
        self.maxval = check_finite(maxval, "maxval")
        if self.minval > self.maxval:
            raise ValueError(
                "Argument `minval` must not exceed `maxval`. "
                f"Received: minval={self.minval}, maxval={self.maxval}."
            )

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        return draw(
            math.prod(shape), dtype, source, _uniform(self.minval, self.maxval)
        ).reshape(shape)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        std = (self.maxval - self.minval) / math.sqrt(12)
        stats.update(
            _stats((self.minval + self.maxval) / 2, std, (self.minval, self.maxval))
        )
        return stats

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


# -------------------------------------------------------------------- variance scaling

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")


def _check_axes(axes: object, argument: str) -> list[int] | None:
    if axes is None:
        return None
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        return [int(axes)]
    try:
        values = list(axes)  # type: ignore[call-overload]
    except TypeError:
        values = None
    if values is None or any(
        isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in values
    ):
        raise ValueError(
            f"Argument `{argument}` must be a list of integer axes or None. "
            f"Received: {argument}={axes!r}."
        )
    return [int(a) for a in values]


class VarianceScaling(RandomInitializer):
    """Values whose variance is ``scale / n``, n set by ``mode``.

    n is ``max(1, fan_in)``, ``max(1, fan_out)`` or ``max(1, (fan_in + fan_out) / 2)``
    for the modes ``fan_in``, ``fan_out`` and ``fan_avg``. With s = scale / n:

    - ``truncated_normal``: N(0, std**2) truncated at +-2 std, with
      std = sqrt(s) / 0.87962566103423978, so the values' std is sqrt(s);
    - ``untruncated_normal``: N(0, s);
    - ``uniform``: U(-limit, limit) with limit = sqrt(3 * s).

    ``distribution`` is read case-insensitively and ``"normal"`` means
    ``truncated_normal``, as in Keras 3.

    Fans come from the call's ``layout`` (see :func:`initlab.compute_fans`), unless
    ``input_axes`` and ``output_axes`` are both given: then, as in Keras 3.15,
    fan_in and fan_out are the products of those axes' dimensions alone.

    Args:
        scale: A positive finite scaling factor. Defaults to 1.0.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``. Defaults to ``"fan_in"``.
        distribution: ``"truncated_normal"``, ``"untruncated_normal"`` or
            ``"uniform"``. Defaults to ``"truncated_normal"``.
        seed: As in :class:`RandomNormal`. Defaults to None.
        input_axes: Axes of input units. Defaults to None.
        output_axes: Axes of output units. Defaults to None.

    Reference: He et al. 2015, https://arxiv.org/abs/1502.01852
    """

    formula = "var(w) = scale / n, n = fan_in | fan_out | fan_avg"

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        input_axes: list[int] | None = None,
        output_axes: list[int] | None = None,
    ):
        super().__init__(seed)
        if (
            isinstance(scale, bool)
            or not isinstance(scale, numbers.Real)
            or not math.isfinite(scale)
            or scale <= 0
        ):
            raise ValueError(
                "Argument `scale` must be a positive finite float. "
                f"Received: scale={scale!r}."
            )
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(
                f"Invalid `mode` argument: {mode!r}. Accepted: {', '.join(MODES)}."
            )
        if not isinstance(distribution, str) or (
            distribution.lower() not in DISTRIBUTIONS + ("normal",)
        ):
            raise ValueError(
                f"Invalid `distribution` argument: {distribution!r}. Accepted: "
                f"{', '.join(DISTRIBUTIONS)} (and 'normal', read as truncated_normal)."
            )
        distribution = distribution.lower()
        self.scale = float(scale)
        self.mode = mode
        self.distribution = (
            "truncated_normal" if distribution == "normal" else distribution
        )
        self.input_axes = _check_axes(input_axes, "input_axes")
        self.output_axes = _check_axes(output_axes, "output_axes")

    def fans(
        self,
        shape: tuple[int, ...],
        layout: str = "keras",
        override: tuple[int, int] | None = None,
    ) -> tuple[int, int]:
        """``(fan_in, fan_out)`` of ``shape`` as this initializer counts them."""
        if override is not None:
            return override
        if self.input_axes is not None and self.output_axes is not None:
            # Keras 3.15: the products of the named dimensions alone (an axis in
            # both lists counts in both).
            rank = len(shape)
            for argument, axes in (
                ("input_axes", self.input_axes),
                ("output_axes", self.output_axes),
            ):
                for axis in axes:
                    if not -rank <= axis < rank:
                        raise ValueError(
                            f"`{argument}`={axes!r} is out of range for shape={shape} "
                            f"of rank {rank}; accepted axes: {-rank} to {rank - 1}."
                        )
            return (
                math.prod(shape[a] for a in self.input_axes),
                math.prod(shape[a] for a in self.output_axes),
            )
        return compute_fans(shape, layout)

    def variance(
        self,
        shape: tuple[int, ...],
        layout: str = "keras",
        fans: tuple[int, int] | None = None,
    ) -> float:
        fan_in, fan_out = self.fans(shape, layout, fans)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        return self.scale / max(1.0, n[self.mode])

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        variance = self.variance(shape, layout, fans)
        if self.distribution == "truncated_normal":
            sampler = _truncated_normal(0.0, math.sqrt(variance) / TRUNCATED_STD)
        elif self.distribution == "untruncated_normal":
            sampler = _normal(0.0, math.sqrt(variance))
        else:
            limit = math.sqrt(3.0 * variance)
            sampler = _uniform(-limit, limit)
        return draw(math.prod(shape), dtype, source, sampler).reshape(shape)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        shape = tuple(shape)
        stats["fan_in"], stats["fan_out"] = self.fans(shape, layout, fans)
        std = math.sqrt(self.variance(shape, layout, fans))
        if self.distribution == "truncated_normal":
            limit = 2 * std / TRUNCATED_STD
            stats.update(_stats(0.0, std, (-limit, limit)))
        elif self.distribution == "uniform":
            limit = math.sqrt(3.0) * std
            stats.update(_stats(0.0, std, (-limit, limit)))
        else:
            stats.update(_stats(0.0, std, None))
        return stats

    def get_config(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _Family(VarianceScaling):
    """A named member of the VarianceScaling family: fixed scale, mode, distribution."""

    _settings: tuple[float, str, str]

    def __init__(
        self,
        seed: int | None = None,
        input_axes: list[int] | None = None,
        output_axes: list[int] | None = None,
    ):
        scale, mode, distribution = self._settings
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class GlorotUniform(_Family):
    """Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    VarianceScaling(1.0, "fan_avg", "uniform"). Glorot & Bengio 2010,
    https://proceedings.mlr.press/v9/glorot10a.html
    """

    formula = "U(-l, l), l = sqrt(6 / (fan_in + fan_out))"
    _settings = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Family):
    """Glorot (Xavier) normal, truncated: std = sqrt(2 / (fan_in + fan_out)).

    VarianceScaling(1.0, "fan_avg", "truncated_normal").
    """

    formula = "truncated N, std = sqrt(2 / (fan_in + fan_out))"
    _settings = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Family):
    """He (Kaiming) uniform: U(-limit, limit), limit = sqrt(6 / fan_in).

    VarianceScaling(2.0, "fan_in", "uniform"). He et al. 2015,
    https://arxiv.org/abs/1502.01852
    """

    formula = "U(-l, l), l = sqrt(6 / fan_in)"
    _settings = (2.0, "fan_in", "uniform")


class HeNormal(_Family):
    """He (Kaiming) normal, truncated: std = sqrt(2 / fan_in).

    VarianceScaling(2.0, "fan_in", "truncated_normal").
    """

    formula = "truncated N, std = sqrt(2 / fan_in)"
    _settings = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Family):
    """LeCun uniform: U(-limit, limit), limit = sqrt(3 / fan_in).

    VarianceScaling(1.0, "fan_in", "uniform"). LeCun et al. 1998, "Efficient
    BackProp".
    """

    formula = "U(-l, l), l = sqrt(3 / fan_in)"
    _settings = (1.0, "fan_in", "uniform")


class LecunNormal(_Family):
    """LeCun normal, truncated: std = sqrt(1 / fan_in).

    VarianceScaling(1.0, "fan_in", "truncated_normal"). Klambauer et al. 2017 (SELU),
    https://arxiv.org/abs/1706.02515
    """

    formula = "truncated N, std = sqrt(1 / fan_in)"
    _settings = (1.0, "fan_in", "truncated_normal")


# -------------------------------------------------------------------------- orthogonal


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times ``gain``; rank >= 2.

    The shape is flattened to a matrix: with the keras layout rows =
    prod(shape[:-1]) and cols = shape[-1] (Keras, JAX); with the torch layout rows =
    shape[0] and cols = prod(shape[1:]) (PyTorch). A normal matrix of shape
    (max, min) is drawn, Q of its QR decomposition is multiplied by sign(diag(R))
    (so it is uniformly distributed, Mezzadri 2007) and transposed when rows < cols:
    rows are orthonormal when rows <= cols, columns otherwise. The decomposition runs
    in float32 (float64 for float64 output), so half precision works.

    Args:
        gain: A finite multiplicative factor. Defaults to 1.0.
        seed: As in :class:`RandomNormal`. Defaults to None.

    Reference: Saxe et al. 2014, https://arxiv.org/abs/1312.6120
    """

    formula = "w = gain * Q, Q from QR of a normal matrix (rank >= 2)"

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = check_finite(gain, "gain")

    @staticmethod
    def matrix_shape(shape: tuple[int, ...], layout: str = "keras") -> tuple[int, int]:
        if len(shape) < 2:
            raise ValueError(
                "Orthogonal needs a shape of rank >= 2. Received: "
                f"shape={shape} of rank {len(shape)}."
            )
        if layout == "keras":
            return math.prod(shape[:-1]), shape[-1]
        return shape[0], math.prod(shape[1:])

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        rows, cols = self.matrix_shape(shape, layout)
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype=dtype)
        work = work_dtype(dtype)
        big, small = max(rows, cols), min(rows, cols)
        normal = draw(big * small, work, source, _normal(0.0, 1.0)).reshape(big, small)
        q, r = np.linalg.qr(normal)
        q *= np.sign(np.diagonal(r))
        if rows < cols:
            q = q.T
        q *= self.gain
        return np.ascontiguousarray(q).reshape(shape).astype(dtype, copy=False)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        rows, cols = self.matrix_shape(tuple(shape), layout)
        if rows and cols:
            # Each orthonormal row (or column) of length m has squared norm 1.
            stats.update(
                _stats(
                    0.0,
                    abs(self.gain) / math.sqrt(max(rows, cols)),
                    (-abs(self.gain), abs(self.gain)),
                )
            )
        return stats

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "gain": self.gain}
