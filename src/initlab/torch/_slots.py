"""How each PyTorch parameter maps onto the Keras weight it corresponds to.

A *slot* describes one parameter: its role (kernel, recurrent kernel, bias, ...),
the Keras-layout arrays to draw (one or several *parts*) and how to assemble them
into the PyTorch tensor. Drawing in the Keras layout means that a ported model
starts where the Keras one did: a Linear weight is the transpose of the Keras Dense
kernel drawn from the same stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from initlab.initializers import VarianceScaling

# Roles a parameter can play.
KERNEL = "kernel"
RECURRENT = "recurrent_kernel"
BIAS = "bias"
EMBEDDING = "embedding"
NORM_WEIGHT = "norm_weight"
NORM_BIAS = "norm_bias"
UNKNOWN = "unknown"


@dataclass
class Part:
    """One array drawn in the Keras layout.

    Attributes:
        suffix: Appended to the qualified name to name this part's stream
            ("" for a single-part parameter).
        shape: The Keras-layout shape to draw.
        compatible_fans: The fans the frameworks' own code uses.
        layer_fans: The connections a unit really has.
    """

    suffix: str
    shape: tuple[int, ...]
    compatible_fans: tuple[int, int] | None = None
    layer_fans: tuple[int, int] | None = None


@dataclass
class Slot:
    """One parameter of a module: its role, parts and assembly."""

    role: str
    family: str  # parameter name without layer/direction suffixes: weight_ih, bias
    parts: list[Part]
    assemble: Callable[[list[np.ndarray]], np.ndarray]
    # PyTorch-default bound for uniform init (1/sqrt(fan_in) or 1/sqrt(H)).
    torch_bound: float | None = None
    # What PyTorch's own reset_parameters does, where it is not a uniform bound.
    torch_init: object | None = None
    torch_fans: tuple[int, int] | None = None
    # Gates of a recurrent bias, to place Keras's unit forget bias (LSTM only).
    forget_slice: slice | None = None
    notes: list[str] = field(default_factory=list)
    # One part whose Keras layout equals the torch layout: it can be drawn straight
    # into the parameter's memory.
    same_layout: bool = False
    # One 2-D part whose Keras layout is PyTorch's transposed.
    transposed: bool = False


def _single(
    role: str,
    family: str,
    shape: tuple[int, ...],
    to_torch: Callable[[np.ndarray], np.ndarray] | None = None,
    fans: tuple[int, int] | None = None,
    layer_fans: tuple[int, int] | None = None,
    torch_bound: float | None = None,
) -> Slot:
    if to_torch is None:  # the Keras layout is PyTorch's: draw in place
        slot = Slot(
            role,
            family,
            [Part("", shape, fans, layer_fans)],
            lambda arrays: arrays[0],
            torch_bound,
        )
        slot.same_layout = True
        return slot
    slot = Slot(
        role,
        family,
        [Part("", shape, fans, layer_fans)],
        lambda arrays: to_torch(arrays[0]),
        torch_bound,
    )
    # A plain 2-D transpose: drawn straight into the parameter's transposed view.
    slot.transposed = to_torch is np.transpose and len(shape) == 2
    return slot


def _bound(fan_in: int) -> float | None:
    return 1 / math.sqrt(fan_in) if fan_in > 0 else None


# ------------------------------------------------------------------ linear and conv


def _linear(module: nn.Linear, pname: str, param: torch.Tensor) -> Slot | None:
    out_features, in_features = module.weight.shape
    if pname == "weight":
        return _single(
            KERNEL,
            "weight",
            (in_features, out_features),
            np.transpose,
            torch_bound=_bound(in_features),
        )
    if pname == "bias":
        return _single(
            BIAS, "bias", tuple(param.shape), torch_bound=_bound(in_features)
        )
    return None


def _conv(
    module: nn.modules.conv._ConvNd, pname: str, param: torch.Tensor
) -> Slot | None:
    weight_shape = tuple(module.weight.shape)
    first, second, *kernel = weight_shape
    receptive = math.prod(kernel)
    groups = module.groups
    # PyTorch stores (out, in/groups, *k), and (in, out/groups, *k) when transposed.
    # Keras stores (*k, in/groups, out) and (*k, out, in) for transposed convs; fans
    # read from those layouts agree with PyTorch's own helper in both cases.
    keras_shape = (*kernel, second, first)
    rank = len(weight_shape)
    to_torch = lambda a: np.transpose(a, (rank - 1, rank - 2, *range(rank - 2)))  # noqa: E731
    compatible = (second * receptive, first * receptive)
    if module.transposed:
        in_channels, out_channels = first, second * groups
        layer = ((in_channels // groups) * receptive, second * receptive)
    else:
        in_channels, out_channels = second * groups, first
        layer = (second * receptive, (first // groups) * receptive)
    depthwise = not module.transposed and groups > 1 and groups == in_channels
    if depthwise:
        # Keras DepthwiseConv counts every input channel in fan_in: in * prod(k).
        multiplier = out_channels // in_channels
        compatible = (in_channels * receptive, multiplier * receptive)
    if pname == "weight":
        slot = _single(
            KERNEL,
            "weight",
            keras_shape,
            to_torch,
            compatible,
            layer,
            torch_bound=_bound(second * receptive),
        )
        slot.torch_fans = (second * receptive, first * receptive)
        return slot
    if pname == "bias":
        return _single(
            BIAS, "bias", tuple(param.shape), torch_bound=_bound(second * receptive)
        )
    return None


# ------------------------------------------------------------------------ recurrent

_RNN_PARAM = re.compile(
    r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l\d+(_reverse)?$"
)
# Keras stores GRU gates as (z, r, h); PyTorch as (r, z, n). LSTM agrees: (i, f, g, o).
_GRU_FROM_KERAS = [1, 0, 2]


def _gates(module: nn.RNNBase) -> int:
    return {"LSTM": 4, "GRU": 3}.get(module.mode, 1)


def _reorder(blocks: list[int] | None, axis: int) -> Callable[[np.ndarray], np.ndarray]:
    def reorder(array: np.ndarray) -> np.ndarray:
        if blocks is None:
            return array
        pieces = np.split(array, len(blocks), axis=axis)
        return np.concatenate([pieces[i] for i in blocks], axis=axis)

    return reorder


def _rnn(
    module: nn.RNNBase, pname: str, param: torch.Tensor, recurrent: str
) -> Slot | None:
    match = _RNN_PARAM.match(pname)
    if match is None:
        return None
    family = match.group(1)
    hidden = module.hidden_size
    gates = _gates(module)
    blocks = _GRU_FROM_KERAS if module.mode == "GRU" else None
    bound = 1 / math.sqrt(hidden)
    shape = tuple(param.shape)
    if family in ("weight_ih", "weight_hr"):
        # (gates * H, in): the Keras kernel is (in, gates * H).
        reorder = _reorder(blocks, axis=1)
        # weight_hr (an LSTM projection, which Keras lacks) is treated as a kernel.
        return _single(
            KERNEL,
            family,
            (shape[1], shape[0]),
            np.transpose if blocks is None else lambda a: np.transpose(reorder(a)),
            torch_bound=bound,
        )
    if family == "weight_hh":
        rows = shape[1]  # H (or proj_size)
        reorder = _reorder(blocks, axis=1)
        if recurrent == "per_gate":
            parts = [Part(f"#gate{g}", (rows, hidden)) for g in range(gates)]
            assemble = lambda arrays: np.transpose(reorder(np.concatenate(arrays, 1)))  # noqa: E731
            return Slot(RECURRENT, family, parts, assemble, bound)
        return _single(
            RECURRENT,
            family,
            (rows, gates * hidden),
            np.transpose if blocks is None else lambda a: np.transpose(reorder(a)),
            torch_bound=bound,
        )
    # Biases: Keras's LSTM adds 1 to the forget gate (i, f, c, o); PyTorch sums two
    # biases, so the 1 goes into bias_ih and bias_hh stays 0 there.
    slot = _single(BIAS, family, shape, _reorder(blocks, axis=0), torch_bound=bound)
    if module.mode == "LSTM" and family == "bias_ih":
        slot.forget_slice = slice(hidden, 2 * hidden)
    return slot


# ------------------------------------------------------------------- other modules


def _embedding(module: nn.Embedding, pname: str, param: torch.Tensor) -> Slot | None:
    if pname != "weight":
        return None
    return _single(EMBEDDING, "weight", tuple(param.shape))


def _norm(module: nn.Module, pname: str, param: torch.Tensor) -> Slot | None:
    if pname == "weight":
        return _single(NORM_WEIGHT, "weight", tuple(param.shape))
    if pname == "bias":
        return _single(NORM_BIAS, "bias", tuple(param.shape))
    return None


def _attention(
    module: nn.MultiheadAttention, pname: str, param: torch.Tensor
) -> Slot | None:
    embed = module.embed_dim
    xavier = VarianceScaling(1.0, "fan_avg", "uniform")
    if pname == "in_proj_weight":
        # Keras builds query, key and value as separate (E, E) kernels. PyTorch's
        # xavier_uniform_ sees the packed (3E, E) matrix, so its fan_out is 3E.
        parts = [Part(f"#{p}", (embed, embed)) for p in ("q", "k", "v")]
        assemble = lambda arrays: np.concatenate([a.T for a in arrays], axis=0)  # noqa: E731
        slot = Slot(
            KERNEL,
            "in_proj_weight",
            parts,
            assemble,
            torch_init=xavier,
            torch_fans=(embed, 3 * embed),
        )
        slot.notes.append("q, k, v drawn as separate (E, E) kernels")
        return slot
    if pname in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
        rows, cols = param.shape
        slot = _single(KERNEL, pname, (cols, rows), np.transpose)
        slot.torch_init = xavier
        return slot
    if pname == "in_proj_bias":
        return _single(BIAS, pname, tuple(param.shape))
    if pname in ("bias_k", "bias_v"):
        slot = _single(BIAS, pname, tuple(param.shape))
        slot.torch_init = VarianceScaling(1.0, "fan_avg", "untruncated_normal")
        slot.torch_fans = (embed, embed)
        return slot
    return None


_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def slot_for(
    module: nn.Module, pname: str, param: torch.Tensor, recurrent: str = "fused"
) -> Slot:
    """The slot of ``module``'s direct parameter ``pname``; role UNKNOWN if none."""
    slot: Slot | None = None
    if isinstance(module, nn.Linear):
        slot = _linear(module, pname, param)
    elif isinstance(module, nn.modules.conv._ConvNd):
        slot = _conv(module, pname, param)
    elif isinstance(module, nn.RNNBase):
        slot = _rnn(module, pname, param, recurrent)
    elif isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        slot = _embedding(module, pname, param)
    elif isinstance(module, _NORMS):
        slot = _norm(module, pname, param)
    elif isinstance(module, nn.MultiheadAttention):
        slot = _attention(module, pname, param)
    if slot is None:
        slot = _single(UNKNOWN, pname, tuple(param.shape))
    return slot
