"""Beyond Keras's catalog: DeltaOrthogonal and PyTorch's truncated normal."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from initlab.initializers._base import RandomInitializer, Source, check_finite, draw
from initlab.initializers._random import Orthogonal, _stats, _truncated_normal

__all__ = ["DeltaOrthogonal", "TorchTruncatedNormal", "UnboundTruncationWarning"]


class UnboundTruncationWarning(UserWarning):
    """Truncation bounds so far from the mean that they never cut anything."""


class DeltaOrthogonal(RandomInitializer):
    """An orthogonal matrix at a convolution kernel's centre tap, zeros elsewhere.

    For 3-, 4- and 5-D kernels. With the keras layout ``(*k, in, out)`` the
    ``(in, out)`` matrix has orthonormal rows and sits at index ``(k - 1) // 2`` of
    every spatial dimension; with the torch layout ``(out, in, *k)`` its transpose
    does. The kernel then preserves the norm of its input at initialization
    (dynamical isometry in deep plain CNNs). Needs ``out >= in``.

    Args:
        gain: A finite multiplicative factor. Defaults to 1.0.
        seed: As in :class:`RandomNormal`. Defaults to None.

    Reference: Xiao et al. 2018, https://arxiv.org/abs/1806.05393
    """

    formula = "w[centre] = gain * Q (in x out, orthonormal rows), 0 elsewhere; 3-5-D"

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        super().__init__(seed)
        self.gain = check_finite(gain, "gain")

    @staticmethod
    def channels(shape: tuple[int, ...], layout: str) -> tuple[int, int]:
        if len(shape) not in (3, 4, 5):
            raise ValueError(
                "DeltaOrthogonal needs a 3-, 4- or 5-D convolution kernel. Received: "
                f"shape={shape} of rank {len(shape)}."
            )
        n_in, n_out = (
            (shape[-2], shape[-1]) if layout == "keras" else (shape[1], shape[0])
        )
        if n_out < n_in:
            raise ValueError(
                "DeltaOrthogonal needs at least as many output channels as input "
                f"channels. Received: shape={shape} ({layout} layout) with in={n_in}, "
                f"out={n_out}."
            )
        return n_in, n_out

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        n_in, n_out = self.channels(shape, layout)
        out = np.zeros(shape, dtype=dtype)
        if n_in == 0 or 0 in shape:
            return out
        matrix = Orthogonal(self.gain)._generate((n_in, n_out), dtype, source, "keras")
        if layout == "keras":
            centre = tuple((k - 1) // 2 for k in shape[:-2])
            out[centre] = matrix
        else:
            centre = tuple((k - 1) // 2 for k in shape[2:])
            out[(slice(None), slice(None), *centre)] = matrix.T
        return out

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        shape = tuple(shape)
        n_in, n_out = self.channels(shape, layout)
        if math.prod(shape):
            # n_in orthonormal rows of squared norm gain^2 among prod(shape) values.
            mean_square = self.gain**2 * n_in / math.prod(shape)
            stats.update(
                _stats(0.0, math.sqrt(mean_square), (-abs(self.gain), abs(self.gain)))
            )
        return stats

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "gain": self.gain}


class TorchTruncatedNormal(RandomInitializer):
    """PyTorch's ``trunc_normal_``: N(mean, std**2) cut to the *absolute* interval
    [a, b].

    Unlike Keras's :class:`TruncatedNormal`, whose bounds are ``mean +- 2 stddev``,
    the bounds here are values: with the defaults a=-2, b=2 and std=0.02 they lie
    100 std away and never bind. Such a call warns (``UnboundTruncationWarning``)
    when a bound is more than 10 std from the mean.

    Args:
        mean: The mean. Defaults to 0.0.
        std: The standard deviation before truncation, >= 0. Defaults to 1.0.
        a: The lower bound, a value. Defaults to -2.0.
        b: The upper bound, a value, > a. Defaults to 2.0.
        seed: As in :class:`RandomNormal`. Defaults to None.
    """

    formula = "w ~ N(mean, std^2) truncated to the absolute interval [a, b]"

    def __init__(
        self,
        mean: float = 0.0,
        std: float = 1.0,
        a: float = -2.0,
        b: float = 2.0,
        seed: int | None = None,
    ):
        super().__init__(seed)
        self.mean = check_finite(mean, "mean")
        self.std = check_finite(std, "std", non_negative=True)
        self.a = check_finite(a, "a")
        self.b = check_finite(b, "b")
        if self.a >= self.b:
            raise ValueError(
                f"Argument `a` must be below `b`. Received: a={self.a}, b={self.b}."
            )
        if not self.a <= self.mean <= self.b:
            raise ValueError(
                f"Argument `mean` must lie in [a, b]. Received: mean={self.mean}, "
                f"a={self.a}, b={self.b}."
            )

    def _reach(self) -> tuple[float, float]:
        """The bounds in units of std from the mean."""
        if self.std == 0:
            return math.inf, math.inf
        return (self.mean - self.a) / self.std, (self.b - self.mean) / self.std

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        low, high = self._reach()
        if min(low, high) > 10:
            warnings.warn(
                f"TorchTruncatedNormal bounds [a, b] = [{self.a}, {self.b}] lie "
                f"{min(low, high):.0f} std from the mean (std={self.std}): they never "
                "bind, so this is a plain normal. For bounds in std units use "
                "initlab.TruncatedNormal (Keras semantics).",
                UnboundTruncationWarning,
                stacklevel=4,
            )
        sampler = _truncated_normal(
            self.mean, self.std, lower=-min(low, 1e6), upper=min(high, 1e6)
        )
        return draw(math.prod(shape), dtype, source, sampler).reshape(shape)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        from scipy.stats import truncnorm

        stats = super().statistics(shape, layout, fans)
        low, high = self._reach()
        if self.std == 0:
            stats.update(_stats(self.mean, 0.0, (self.a, self.b)))
        else:
            dist = truncnorm(-low, high, loc=self.mean, scale=self.std)
            stats.update(
                _stats(float(dist.mean()), float(dist.std()), (self.a, self.b))
            )
        return stats

    def get_config(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "mean": self.mean,
            "std": self.std,
            "a": self.a,
            "b": self.b,
        }
