"""Deterministic initializers: Zeros, Ones, Constant, Identity."""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab.initializers._base import Initializer, Source, check_finite

__all__ = ["Constant", "Identity", "Ones", "Zeros"]


def exact_fill(value: float, dtype: np.dtype, what: str) -> Any:
    """``value`` ready to fill an array of ``dtype``, or a ValueError naming it.

    Integer and bool dtypes take whole numbers within their range only, so they are
    stored exactly; floating dtypes round, but refuse a value that overflows to inf.
    """
    if dtype.kind in "biu":
        whole = isinstance(value, int) or float(value).is_integer()
        number = int(value) if whole else None
        if dtype.kind == "b":
            low, high = 0, 1
        else:
            info = np.iinfo(dtype)
            low, high = int(info.min), int(info.max)
        if number is None or not low <= number <= high:
            raise ValueError(
                f"{what} {value!r} cannot be stored exactly in {dtype.name}; use a "
                f"floating dtype or a whole number in [{low}, {high}]."
            )
        return number
    try:
        with np.errstate(over="ignore"):
            finite = bool(
                np.isfinite(np.asarray(value, dtype=np.float64).astype(dtype))
            )
    except OverflowError:  # a Python int beyond float64
        finite = False
    if not finite:
        raise ValueError(
            f"{what} {value!r} overflows {dtype.name}, whose largest finite value is "
            f"{_largest(dtype):g}."
        )
    return value


def _largest(dtype: np.dtype) -> float:
    import ml_dtypes  # its finfo knows bfloat16 too

    return float(ml_dtypes.finfo(dtype).max)


class Constant(Initializer):
    """Every value equals ``value``.

    Args:
        value: A finite real scalar. Defaults to 0.0. In an integer dtype the value
            must be a whole number, so it is stored exactly.
    """

    formula = "w = value"
    accepts_integers = True

    def __init__(self, value: float = 0.0):
        self.value = (
            value
            if isinstance(value, int) and not isinstance(value, bool)
            else check_finite(value, "value")
        )

    def _fill(self) -> float:
        return self.value

    def _generate(self, shape, dtype, source: Source, layout, fans=None):
        value = exact_fill(self._fill(), dtype, "Constant value")
        return np.full(shape, value, dtype=dtype)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
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
        exact_fill(self.gain, dtype, "Identity gain")
        eye = np.eye(*shape, dtype=np.float64) * self.gain
        return eye.astype(dtype)

    def statistics(
        self, shape: Any, layout: str = "keras", fans: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        stats = super().statistics(shape, layout, fans)
        if len(shape) == 2 and min(shape) > 0:
            rows, cols = shape
            p = min(rows, cols) / (rows * cols)
            mean = self.gain * p
            stats.update(
                expected_mean=mean,
                expected_std=abs(self.gain) * float(np.sqrt(p * (1 - p))),
                bounds=(min(0.0, self.gain), max(0.0, self.gain)),
            )
        return stats

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}
