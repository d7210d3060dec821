"""Fans (the number of inputs and outputs of a unit) read from a weight shape."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

__all__ = ["LAYOUTS", "compute_fans", "normalize_shape"]

#: Named layouts: how a weight shape is read when no explicit axes are given.
#: keras: Dense (in, out), ConvND (*k, in, out).
#: torch: Linear (out, in), ConvNd (out, in/groups, *k).
LAYOUTS = ("keras", "torch")

Axes = int | Sequence[int] | None


def normalize_shape(shape: object, argument: str = "shape") -> tuple[int, ...]:
    """Return ``shape`` as a tuple of non-negative Python ints.

    Raises:
        TypeError: ``shape`` is text, or not a sequence of integers.
        ValueError: a dimension is negative.
    """
    if isinstance(shape, bool):
        raise TypeError(
            f"`{argument}` must be a tuple of integers. Received: {shape!r}."
        )
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    if isinstance(shape, (str, bytes)):
        raise TypeError(
            f"`{argument}` must be a tuple of integers, not text. Received: "
            f"{argument}={shape!r}; write it as a tuple, e.g. (512, 256)."
        )
    try:
        dims = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"`{argument}` must be a tuple of integers. Received: {argument}={shape!r}."
        ) from None
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(
                f"`{argument}` must contain only integers. "
                f"Received: {argument}={shape!r} "
                f"(dimension {dim!r} is a {type(dim).__name__})."
            )
        if dim < 0:
            raise ValueError(
                f"`{argument}` dimensions must be non-negative. "
                f"Received: {argument}={shape!r}."
            )
    return tuple(int(d) for d in dims)


def _axes(axes: Axes, rank: int, argument: str) -> tuple[int, ...]:
    if axes is None:
        return ()
    if isinstance(axes, numbers.Integral):
        axes = (axes,)
    try:
        items = tuple(axes)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"`{argument}` must be an int or a sequence of ints. "
            f"Received: {argument}={axes!r}."
        ) from None
    result = []
    for axis in items:
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(
                f"`{argument}` must be integers. Received: {argument}={axes!r}."
            )
        if not -rank <= axis < rank:
            raise ValueError(
                f"`{argument}`={axes!r} is out of range for a shape of rank {rank}; "
                f"accepted axes: {-rank} to {rank - 1}."
            )
        result.append(int(axis) % rank)
    return tuple(result)


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(
            f"Invalid `layout` argument: {layout!r}. Accepted: {', '.join(LAYOUTS)}."
        )


def compute_fans(
    shape: Sequence[int],
    layout: str = "keras",
    in_axis: Axes = None,
    out_axis: Axes = None,
    batch_axis: Axes = (),
) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight of ``shape``.

    With no explicit axes the layout decides:

    - ``"keras"``: rank 0 gives (1, 1), rank 1 ``(n,)`` gives (n, n), rank 2
      ``(in, out)``, rank N ``(*k, in, out)`` gives
      ``(in * prod(k), out * prod(k))``, as Keras 3's ``compute_fans``.
    - ``"torch"``: rank 0 and 1 as above, rank N ``(out, in, *k)`` gives
      ``(in * prod(k), out * prod(k))``, as PyTorch's fan helper.

    Explicit axes follow ``jax.nn.initializers``: with ``in``, ``out`` and ``batch``
    the products of those axes' dimensions and ``receptive = size / (in * out *
    batch)``, ``fan_in = in * receptive`` and ``fan_out = out * receptive``. With
    disjoint axes that is ``in`` (``out``) times every dimension named by none of
    them; an axis named both in and out (Flax's ``Embed``: ``in_axis=-2,
    out_axis=0`` on ``(num, features)``) counts in neither fan, so that gives
    ``(features, features)``. The value is computed without dividing, so zero-size
    shapes give 0 or the other dimensions' product, never a division by zero. An
    axis not given takes the layout's default (keras: in -2, out -1; torch: in 1,
    out 0).

    Args:
        shape: The weight shape.
        layout: ``"keras"`` or ``"torch"``. Defaults to ``"keras"``.
        in_axis: Axis or axes of input units. Defaults to None (from the layout).
        out_axis: Axis or axes of output units. Defaults to None (from the layout).
        batch_axis: Axes counted in neither fan. Defaults to ().

    Returns:
        ``(fan_in, fan_out)`` as Python ints.
    """
    _check_layout(layout)
    shape = normalize_shape(shape)
    rank = len(shape)
    # ``batch_axis=0`` names axis 0: test for "no axes", not for falsiness.
    batch = _axes(batch_axis, rank, "batch_axis")
    if in_axis is None and out_axis is None and not batch:
        if rank == 0:
            return 1, 1
        if rank == 1:
            return shape[0], shape[0]
        if layout == "keras":
            receptive = math.prod(shape[:-2])
            return shape[-2] * receptive, shape[-1] * receptive
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive

    if rank < 2:
        raise ValueError(
            f"Explicit fan axes need a shape of rank >= 2. Received: shape={shape}."
        )
    default_in, default_out = (-2, -1) if layout == "keras" else (1, 0)
    ins = _axes(default_in if in_axis is None else in_axis, rank, "in_axis")
    outs = _axes(default_out if out_axis is None else out_axis, rank, "out_axis")

    # JAX: fan_in = in * size / (in * out * batch) = size / (out * batch), i.e. the
    # product of shape[a] ** (1 - times a is named in out or batch); likewise fan_out.
    def fan(excluded: tuple[int, ...]) -> int:
        powers = [1 - excluded.count(axis) for axis in range(rank)]
        if min(powers) < 0:
            raise ValueError(
                "Fan axes name a dimension more than once across out/in and "
                f"batch axes (in_axis={in_axis!r}, out_axis={out_axis!r}, "
                f"batch_axis={batch_axis!r}) for shape={shape}; the fans would not "
                "be whole numbers."
            )
        kept = zip(shape, powers, strict=True)
        return math.prod(d for d, power in kept if power == 1)

    return int(fan(outs + batch)), int(fan(ins + batch))
