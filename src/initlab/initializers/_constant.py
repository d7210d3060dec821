"""Deterministic initializers: Zeros, Ones, Constant, Identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab.initializers._base import Initializer, Source, check_finite

__all__ = ["Constant", "Identity", "Ones", "Zeros"]


class Constant(Initializer):
    """Every value equals ``value``.

    Args:
        value: A finite real scalar. Defaults to 0.0. In an integer dtype the value
            must be a whole number, so it is stored exactly.
    """

    formula = "w = value"
    accepts_integers = True

    def __init__(self, value: float = 0.0):
        self.value = value if isinstance(value, int) and not isinstance(value, bool) \
            else check_finite(value, "value")

    def _fill(self) -> float:
        return self.value

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        value = self._fill()
        if dtype.kind in "iu" and (float(value) != int(value) or not
                                   np.can_cast(np.min_scalar_type(int(value)), dtype)):
            raise ValueError(
                f"Constant value {value!r} cannot be stored exactly in {dtype.name}; "
                "use a floating dtype or a whole number within the dtype's range."
            )
        return np.full(shape, value, dtype=dtype)

    def statistics(self, shape: Any, layout: str = "keras",
                   fans: tuple[int, int] | None = None) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        value = float(self._fill())
        stats.update(expected_mean=value, expected_std=0.0, bounds=(value, value))
        return stats

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Zeros(Constant):
    """Every value is 0."""

    formula = "w = 0"

    def __init__(self):
        self.value = 0.0

    def _fill(self) -> float:
        return 0

    def get_config(self) -> dict[str, Any]:
        return {}


class Ones(Constant):
    """Every value is 1."""

    formula = "w = 1"

    def __init__(self):
        self.value = 1.0

    def _fill(self) -> float:
        return 1

    def get_config(self) -> dict[str, Any]:
        return {}


class Identity(Initializer):
    """``gain`` times the identity matrix; 2-D shapes only.

    A non-square shape gets a rectangular identity: ones on the main diagonal,
    ``min(rows, cols)`` of them.

    Args:
        gain: A finite multiplicative factor. Defaults to 1.0.

    Note: Keras 3.15's ``Identity.get_config`` omits ``gain``; initlab stores it,
    and Keras loads the stored form, since its ``from_config`` is ``cls(**config)``.
    """

    formula = "w = gain * I (2-D only)"

    def __init__(self, gain: float = 1.0):
        self.gain = check_finite(gain, "gain")

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        if len(shape) != 2:
            raise ValueError(
                "Identity needs a 2-D shape. Received: "
                f"shape={shape} of rank {len(shape)}; use DeltaOrthogonal or "
                "Orthogonal for convolution kernels."
            )
        eye = np.eye(*shape, dtype=np.float64) * self.gain
        return eye.astype(dtype)

    def statistics(self, shape: Any, layout: str = "keras",
                   fans: tuple[int, int] | None = None) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        if len(shape) == 2 and min(shape) > 0:
            rows, cols = shape
            p = min(rows, cols) / (rows * cols)
            mean = self.gain * p
            stats.update(expected_mean=mean,
                         expected_std=abs(self.gain) * float(np.sqrt(p * (1 - p))),
                         bounds=(min(0.0, self.gain), max(0.0, self.gain)))
        return stats

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}

